"""One training step taken apart, through a lesson's own functions: from given weights on one
batch, each layer's pre-activation and activation, the loss, the gradients and the weights after
the step, all in NumPy and the seed's layout, so that shared code can compare any two libraries
quantity by quantity (the lesson tests, `compare.py explain`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from shared.contract.interface import Problem
from shared.contract.tolerances import scaled_diff


@dataclass
class Step:
    """What one library computed in one step. layers[i] = (z, a) of layer i, input side first."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    loss: np.ndarray
    gradients: list[np.ndarray]  # seed layout, one (fan_in + 1, fan_out) matrix per layer
    weights: list[np.ndarray]  # after the step, seed layout


def batch_problem(problem: Problem, step: int, weights: list[np.ndarray] | None = None) -> Problem:
    """Step `step` of the problem as a problem of its own, from `weights` (default: the problem's
    initial weights): its training set that step's batch, its one step taking all of it."""
    rows = problem.schedule.indices[step]
    window = problem.window(step, 1, problem.weights if weights is None else weights)
    schedule = replace(window.schedule, indices=np.arange(len(rows), dtype=np.int64)[None, :])
    return replace(window, x_train=problem.x_train[rows], t_train=problem.t_train[rows], schedule=schedule)


def one_step(lesson, problem: Problem, step: int = 0, weights: list[np.ndarray] | None = None,
             device: str = "cpu") -> Step:
    """`lesson` (a library as loaded) takes step `step` of `problem` from `weights`."""
    batch = batch_problem(problem, step, weights)
    lesson.configure(problem.spec.dtype)
    model = lesson.build_model(batch, device)
    x, t, _ = lesson.load_data(batch, device)
    layers = lesson.layer_outputs(model, problem.spec, x)
    value = lesson.loss(model, problem.spec, x, t)
    value = np.asarray(value.detach() if hasattr(value, "detach") else value)  # PyTorch's loss still needs its graph
    gradients = lesson.in_seed_layout(lesson.gradients(model, problem.spec, x, t))
    model, _ = lesson.train_step(model, lesson.make_optimizer(model, problem.schedule.lr), problem.spec, x, t)
    return Step([(np.asarray(z), np.asarray(a)) for z, a in layers], value, gradients, lesson.weights_of(model))


def quantities(step: Step) -> list[tuple[str, int | None, np.ndarray]]:
    """Every compared quantity in the order a step computes them: (name, layer or None, value)."""
    found: list[tuple[str, int | None, np.ndarray]] = []
    for i, (z, a) in enumerate(step.layers):
        found += [("pre-activation", i, z), ("activation", i, a)]
    found.append(("loss", None, step.loss))
    for i, g in enumerate(step.gradients):
        found += [("weight gradient", i, g[1:]), ("bias gradient", i, g[0])]
    for i, w in enumerate(step.weights):
        found += [("updated weights", i, w[1:]), ("updated bias", i, w[0])]
    return found


def differences(found: Step, reference: Step) -> list[tuple[str, int | None, float, str, str]]:
    """(name, layer, max |a − ref| / max(1, |ref|), found dtype, reference dtype) for every quantity."""
    return [(name, layer, scaled_diff(a, b), str(np.asarray(a).dtype), str(np.asarray(b).dtype))
            for (name, layer, a), (_, _, b) in zip(quantities(found), quantities(reference))]
