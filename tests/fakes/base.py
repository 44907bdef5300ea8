"""The implementation contract around the NumPy reference, with a hook that misbehaves."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from implementations.numpy import lesson as numpy_lesson
from shared.contract.interface import Problem, Runner, TrainOutput
from shared.contract.tolerances import tolerance

MODES = ("eager", "compiled")  # both: a misbehaving eager run must not take the compiled one with it


def versions() -> dict[str, str]:
    return {}


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "test library: CPU only"


def probe_machine(device: str) -> None:
    """Nothing to probe."""


def prepare_with(misbehave: Callable[[Problem, str], None], problem: Problem, mode: str,
                 change: Callable[[TrainOutput], None] | None = None) -> Runner:
    """Prepare NumPy's run; `misbehave(problem, mode)` runs first, `change` edits each result."""
    misbehave(problem, mode)
    run = numpy_lesson.prepare(problem, "eager", "cpu")

    def changed() -> TrainOutput:
        out = run()
        if change:
            change(out)
        return out

    return changed


def moved(array: np.ndarray) -> np.ndarray:
    """The array moved by ten tolerances of its own dtype: far outside parity, same dtype."""
    return array + np.asarray(10 * tolerance(str(array.dtype)), dtype=array.dtype)


def nothing(problem: Problem, mode: str) -> None:
    """No misbehaviour before the run (the change is in the result)."""


def lesson_prepare(lesson, problem: Problem) -> Runner:
    """A runner made of a fake lesson's own functions (NumPy's, but for the one it breaks): the
    schedule step by step through its `train_step`, so that its fault shows in a whole run as in
    one step taken apart (`compare.py explain`)."""
    def run() -> TrainOutput:
        model = lesson.build_model(problem, "cpu")
        optimizer = lesson.make_optimizer(model, problem.schedule.lr)
        x, t, indices = lesson.load_data(problem, "cpu")
        history = [lesson.loss(model, problem.spec, x, t)]
        step = 0
        for chunk in problem.schedule.chunks():
            for rows in indices[step:step + chunk]:
                model, optimizer = lesson.train_step(model, optimizer, problem.spec, x[rows], t[rows])
            step += chunk
            history.append(lesson.loss(model, problem.spec, x, t))
        predictions = numpy_lesson.predict(model, problem.spec, problem.x_eval)
        return TrainOutput(lesson.weights_of(model), predictions, np.array(history), str(predictions.dtype))

    return run
