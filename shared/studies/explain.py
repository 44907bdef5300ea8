"""Where a library parts from NumPy: the first step, and in it the first quantity, the layer and
the dtype (`compare.py explain`).

The library trains in a worker of its own, as in `compare.py`. NumPy's trajectory (its weights
before every step) is computed here, kept at checkpoints and recomputed between them; a NumPy run
that diverges has no trajectory to compare with, and says so. First the whole schedule: the
library from the initial weights, its final weights against NumPy's, judged as `compare.py`
judges them (the run tolerance, shared/contract/tolerances.py): within it the library is in
parity and there is nothing to explain. Otherwise bisection at the single-step tolerance: the
library runs the first half of the suspect stretch from NumPy's weights at its start; if that half
ends out of tolerance a step in it leaves, else the search goes on in the second half, from NumPy's
weights at the half. About log₂(steps) short runs find the first step whose result leaves the
tolerance (the first where a fault, once begun, stays), and that step alone is run once more. At it
both libraries start from NumPy's weights just before it and are compared quantity by quantity in
the order a step computes them (shared/harness/one_step.py, the lesson's own functions): each
layer's pre-activation and activation, the loss, each layer's weight and bias gradients, the
updated weights. The first quantity out of tolerance is named with its layer, its relative
difference and the dtype each library produced; where a float64 result is off by no more than
float32's rounding, that is said too. Where no quantity is out: in compiled mode the difference is
in the compiled program's step (the lesson's functions agree), and where the step alone is not out
either, rounding accumulated over the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from shared.contract.errors import one_line
from shared.contract.interface import Problem
from shared.contract.tolerances import STEP_TOLERANCES, TOLERANCES, scaled_diff
from shared.harness import registry
from shared.harness.one_step import Step, differences, one_step, quantities
from shared.harness.worker import DEFAULT_TIMEOUT_S, Worker, WorkerDiedError, WorkerJob

CHECKPOINTS = 64  # NumPy's weights are kept this many times over a schedule, and recomputed in between
# A float64 result off NumPy by no more than float32's rounding (every element within this many
# float32 ulps of the quantity's largest value), where everything it was computed from still agrees
# (the first quantity out of tolerance, of the forward pass or the gradients), is read as computed
# in float32 on the way. An updated weight off by as little is not: a learning rate off by a part
# in a million moves it by as much. A fault larger than float32's rounding is not read so either.
FLOAT32_ULPS = 16


@dataclass(frozen=True)
class WindowRequest:
    """Train a window of the run (a `Problem.window`) in the library's worker; its final weights."""

    mode: str
    problem: Problem
    device: str = "cpu"

    def perform(self, module, debug: bool, phase) -> tuple[str, object]:
        try:
            if self.mode == "compiled":
                module.probe_machine(self.device)
            out = module.prepare(self.problem, self.mode, self.device)()
            return "ok", [np.asarray(w) for w in out.weights]
        except Exception as exc:
            return "failed", one_line(exc)


@dataclass(frozen=True)
class StepRequest:
    """One step taken apart in the library's worker (shared/harness/one_step.py)."""

    problem: Problem
    step: int
    weights: list[np.ndarray]
    mode: str = "one step"
    device: str = "cpu"

    def perform(self, module, debug: bool, phase) -> tuple[str, object]:
        try:
            return "ok", one_step(module, self.problem, self.step, self.weights, self.device)
        except Exception as exc:
            return "failed", one_line(exc)


class Trajectory:
    """NumPy's weights before every step of a problem, kept at checkpoints and recomputed from the
    nearest one before (NumPy's step is cheap; a long schedule's every weight would not be)."""

    def __init__(self, problem: Problem):
        from implementations.numpy import lesson

        self.lesson, self.problem = lesson, problem
        self.every = max(1, math.ceil(problem.schedule.steps / CHECKPOINTS))
        self.kept: dict[int, list[np.ndarray]] = {0: [np.array(w) for w in problem.weights]}
        self.diverged_at: int | None = None  # the first step after which NumPy's weights are not finite
        weights = self.kept[0]
        for step in range(problem.schedule.steps):
            weights = self._step(weights, step)
            if not all(np.isfinite(w).all() for w in weights):
                self.diverged_at = step + 1
                return
            if (step + 1) % self.every == 0 or step + 1 == problem.schedule.steps:
                self.kept[step + 1] = weights

    def _step(self, weights: list[np.ndarray], step: int) -> list[np.ndarray]:
        rows = self.problem.schedule.indices[step]
        model = [np.array(w) for w in weights]
        with np.errstate(over="ignore", invalid="ignore"):
            model, _ = self.lesson.train_step(model, self.problem.schedule.lr, self.problem.spec,
                                              self.problem.x_train[rows], self.problem.t_train[rows])
        return model

    def before(self, step: int) -> list[np.ndarray]:
        """NumPy's weights after `step` steps, i.e. just before step `step` (0-based)."""
        start = step - step % self.every
        weights = self.kept[start]
        for s in range(start, step):
            weights = self._step(weights, s)
        return weights


@dataclass
class Explanation:
    """What `compare.py explain` found for one library."""

    library: str
    mode: str
    dtype: str
    tolerance: float
    first_step: int | None = None  # 1-based: the first step whose result leaves the tolerance; None in parity
    quantity: str | None = None
    layer: int | None = None
    max_rel_diff: float | None = None
    dtypes: dict[str, str] = field(default_factory=dict)  # the library's and NumPy's dtype of that quantity
    computed_in: str | None = None  # "float32" where a float64 result holds float32's precision
    whole_run_diff: float | None = None
    verdict: str | None = None  # "in parity", "first step found", or why no quantity of a step is out
    windows_run: int = 0
    quantities: list[dict] = field(default_factory=list)
    status: str = "ok"  # "failed": the library could not run (reason says why)
    reason: str | None = None

    def as_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _max_diff(found: list[np.ndarray], reference: list[np.ndarray]) -> float:
    return max(scaled_diff(a, b) for a, b in zip(found, reference))


class Explainer:
    """One library's worker, for as many problems of one dtype as asked (`explain`). Use as a
    context manager: the worker is gone when the block ends, however it ends."""

    def __init__(self, target: str, dtype: str, timeout: float = DEFAULT_TIMEOUT_S, debug: bool = False):
        self.target, self.dtype = target, dtype
        module = registry.LIBRARIES[registry.split(target)[0]].module
        self.worker = Worker(WorkerJob(target, module, dtype, debug), timeout)
        self.facts: dict | None = None
        self.broken: str | None = None

    def __enter__(self) -> Explainer:
        try:
            kind, facts = self.worker.receive(f"while importing {self.target}")
            if kind == "import_failed":
                self.broken = facts
            else:
                self.facts = facts
        except WorkerDiedError as died:
            self.broken = str(died)
        return self

    def __exit__(self, *exc) -> None:
        self.worker.__exit__(*exc)

    def explain(self, problem: Problem, mode: str, on_phase=lambda _: None) -> Explanation:
        """Find where the library leaves NumPy on `problem` (trained in `mode`), as the module docstring says."""
        tolerance = STEP_TOLERANCES[self.dtype].value
        result = Explanation(self.target, mode, self.dtype, tolerance)
        if self.broken:
            return _failed(result, self.broken)
        if mode not in self.facts["modes"]:
            return _failed(result, f"{self.target} has no {mode} mode")
        on_phase("NumPy's trajectory")
        reference = Trajectory(problem)
        if reference.diverged_at is not None:
            return _failed(result, f"NumPy's own run diverges at step {reference.diverged_at} (lower --lr): "
                                   "there is no trajectory to compare with")
        steps = problem.schedule.steps

        def window_diff(first: int, count: int) -> float:
            on_phase(f"steps {first + 1}–{first + count}")
            status, weights = self.worker.run(WindowRequest(mode, problem.window(first, count, reference.before(first))))
            result.windows_run += 1
            if status != "ok":
                raise _LibraryError(weights)
            return _max_diff(weights, reference.before(first + count))

        try:
            result.whole_run_diff = _finite(window_diff(0, steps))
            if result.whole_run_diff is not None and result.whole_run_diff <= TOLERANCES[self.dtype].value:
                result.verdict = "in parity"  # compare.py's verdict on the same weights: nothing to explain
                return result
            # Bisection: [low, high) is the stretch searched. A half that ends out of the single-step
            # tolerance, started from NumPy's weights, holds a step that leaves it; else the step is in
            # the other half. The one step found is checked on its own below.
            low, high = 0, steps
            while high - low > 1:
                middle = (low + high) // 2
                if not window_diff(low, middle - low) <= tolerance:
                    high = middle
                else:
                    low = middle
            step_out = not window_diff(low, 1) <= tolerance
            on_phase(f"step {low + 1}, quantity by quantity")
            status, found = self.worker.run(StepRequest(problem, low, reference.before(low)))
            if status != "ok":
                raise _LibraryError(found)
        except _LibraryError as failed:
            return _failed(result, str(failed))
        except WorkerDiedError as died:
            self.broken = str(died)
            return _failed(result, str(died))
        from implementations.numpy import lesson as numpy_lesson

        with np.errstate(over="ignore", invalid="ignore"):
            expected: Step = one_step(numpy_lesson, problem, low, reference.before(low))
        if not all(np.array_equal(a, b) for a, b in zip(expected.weights, reference.before(low + 1))):
            raise RuntimeError(f"NumPy's step {low + 1} taken apart does not end where its trajectory does")
        mine, theirs = quantities(found), quantities(expected)
        if [q[:2] for q in mine] != [q[:2] for q in theirs]:
            return _failed(result, f"its step has the quantities {[q[:2] for q in mine]}, NumPy's {[q[:2] for q in theirs]}")
        compared = differences(found, expected)
        result.quantities = [{"quantity": name, "layer": layer, "max_rel_diff": _finite(diff), "dtype": dtype_found,
                              "numpy_dtype": dtype_numpy} for name, layer, diff, dtype_found, dtype_numpy in compared]
        first = next((i for i, row in enumerate(compared) if not row[2] <= tolerance), None)
        if first is None:
            if step_out:
                result.first_step = low + 1
                result.verdict = (f"the lesson's functions agree at this step: the difference is in the {mode} program's step"
                                  if mode == "compiled" else "no single quantity of this step is out of tolerance")
            else:
                result.verdict = ("no single step leaves the single-step tolerance: rounding accumulated over the run "
                                  "(its weights end out of the run tolerance)")
            return result
        name, layer, diff, dtype_found, dtype_numpy = compared[first]
        result.first_step, result.verdict = low + 1, "first step found"
        result.quantity, result.layer, result.max_rel_diff = name, layer, _finite(diff)
        result.dtypes = {self.target: dtype_found, "numpy": dtype_numpy}
        if self.dtype == "float64" and (dtype_found == "float32" or (not name.startswith("updated")
                                                                     and float32_rounding(mine[first][2], theirs[first][2]))):
            result.computed_in = "float32"
        return result


def float32_rounding(found: np.ndarray, expected: np.ndarray) -> bool:
    """Whether a float64 result is off its expected value by no more than float32's rounding does:
    every element within a few float32 ulps of the largest (2⁻²⁴ relative each, 16 of them)."""
    found, expected = np.asarray(found, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    return bool(scale > 0 and np.all(np.abs(found - expected) <= FLOAT32_ULPS * np.finfo(np.float32).eps * scale))


def explain(target: str, problem: Problem, mode: str, timeout: float = DEFAULT_TIMEOUT_S, debug: bool = False,
            on_phase=lambda _: None) -> Explanation:
    """One library on one problem, in a worker of its own."""
    with Explainer(target, problem.spec.dtype, timeout, debug) as explainer:
        return explainer.explain(problem, mode, on_phase)


class _LibraryError(Exception):
    """The library's own run or step failed in its worker; the message is its one line."""


def _failed(result: Explanation, reason: str) -> Explanation:
    result.status, result.reason = "failed", reason
    return result


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
