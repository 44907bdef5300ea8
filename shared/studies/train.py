"""Train one library from Python on your own initial weights, data and sample order, and get its
weights, predictions and losses back as NumPy arrays: the harness's own run, without building
its objects by hand.

    from shared.studies.train import train_library

    if __name__ == "__main__":  # each library trains in a spawned process, which imports this script again
        trained = train_library("torch", x, t, weights, order, lr=0.1)
        trained.weights      # one (fan_in + 1, fan_out) array per layer, row 0 the bias (the seed's layout)
        trained.predictions  # the output layer's activation on x_eval (default: x)
        trained.losses       # the training-set loss before the first step and after every `record_every` steps

`weights` are in the seed's layout (their shapes give the architecture), `order` is every
step's sample rows, shape (steps, batch) (a 1-D array: one row a step), and the library trains
in a worker process of its own, as `compare.py` runs it (its process-wide switches set for this
dtype alone). Bad input raises ValueError with the one line `compare.py` would print.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.contract.errors import UsageError, one_line
from shared.contract.interface import ModelSpec, Problem, Schedule, TrainOutput
from shared.harness import registry
from shared.harness.worker import DEFAULT_TIMEOUT_S, Worker, WorkerJob


@dataclass
class Trained:
    weights: list[np.ndarray]
    predictions: np.ndarray
    losses: np.ndarray
    record_steps: list[int]  # the steps after which each loss was taken (0: before the first)
    dtype: str


@dataclass(frozen=True)
class TrainRequest:
    """One run in the library's worker: its prepared runner, called once."""

    mode: str
    problem: Problem
    device: str = "cpu"

    def perform(self, module, debug: bool, phase) -> tuple[str, object]:
        try:
            if self.mode == "compiled":
                module.probe_machine(self.device)
            return "ok", module.prepare(self.problem, self.mode, self.device)()
        except Exception as exc:
            return "failed", one_line(exc)


def problem_from_arrays(x, t, weights, order, lr: float, hidden_activation: str, output_activation: str, loss: str,
                        dtype: str, x_eval=None, record_every: int | None = None) -> Problem:
    """A `Problem` from plain arrays, every shape checked (UsageError naming the first problem)."""
    x, t = np.asarray(x, dtype=dtype), np.asarray(t, dtype=dtype)
    if x.ndim != 2 or t.ndim != 2 or len(x) != len(t):
        raise UsageError(f"x and t must be 2-D with one row per sample; got shapes {x.shape} and {t.shape}")
    weights = [np.asarray(w, dtype=dtype) for w in weights]
    if not weights or any(w.ndim != 2 for w in weights):
        raise UsageError("weights: one 2-D (fan_in + 1, fan_out) array per layer, row 0 the bias")
    sizes = (weights[0].shape[0] - 1, *(w.shape[1] for w in weights))
    for i, (w, fan_in, fan_out) in enumerate(zip(weights, sizes, sizes[1:])):
        if w.shape != (fan_in + 1, fan_out):
            raise UsageError(f"weights[{i}] has shape {w.shape}, expected {(fan_in + 1, fan_out)} after weights[{i - 1}]")
    if sizes[0] != x.shape[1] or sizes[-1] != t.shape[1]:
        raise UsageError(f"weights make a {list(sizes)} network; x has {x.shape[1]} features and t {t.shape[1]} outputs")
    if not (np.isfinite(lr) and lr > 0):
        raise UsageError(f"lr {lr}: a positive finite learning rate")
    order = np.asarray(order)
    order = order[:, None] if order.ndim == 1 else order
    if order.ndim != 2 or order.size == 0 or order.dtype.kind not in "iu" or order.min() < 0 or order.max() >= len(x):
        raise UsageError(f"order: integer rows 0 to {len(x) - 1}, shape (steps, batch); got {order.dtype} {order.shape}")
    spec = ModelSpec(sizes, hidden_activation, output_activation, loss, dtype)
    steps = order.shape[0]
    schedule = Schedule(float(lr), order.astype(np.int64), record_every or max(1, steps // 100))
    x_eval = x if x_eval is None else np.asarray(x_eval, dtype=dtype)
    return Problem("custom", spec, tuple(weights), x, t, x_eval, schedule)


def train_library(library: str, x, t, weights, order, lr: float, *, hidden_activation: str = "tanh",
                  output_activation: str = "identity", loss: str = "half_sse", dtype: str = "float64",
                  mode: str = "eager", x_eval=None, record_every: int | None = None,
                  timeout: float = DEFAULT_TIMEOUT_S) -> Trained:
    """Train `library` ("torch", "keras:jax", ...) from `weights` on (x, t) in `order`; see the module docstring."""
    try:
        problem = problem_from_arrays(x, t, weights, order, lr, hidden_activation, output_activation, loss, dtype, x_eval,
                                      record_every)
        targets = [target for name in registry.listed() for target in registry.LIBRARIES[name].targets]
        if library not in targets and registry.split(library)[0] not in registry.LIBRARIES:
            raise UsageError(f"unknown library {library!r}; expected one of {', '.join(targets)}")
        if library in registry.LIBRARIES and registry.LIBRARIES[library].backends:
            raise UsageError(f"{library} runs on several backends; name one: {', '.join(registry.LIBRARIES[library].targets)}")
        missing = registry.missing(library)
        if missing:
            raise UsageError(missing)
    except UsageError as bad:
        raise ValueError(str(bad)) from None
    module = registry.LIBRARIES[registry.split(library)[0]].module
    with Worker(WorkerJob(library, module, dtype), timeout) as worker:
        kind, facts = worker.receive(f"while importing {library}")
        if kind == "import_failed":
            raise RuntimeError(f"{library}: {facts}")
        if mode not in facts["modes"]:
            raise ValueError(f"{library} has no {mode} mode")
        status, out = worker.run(TrainRequest(mode, problem))
    if status != "ok":
        raise RuntimeError(f"{library}: {out}")
    assert isinstance(out, TrainOutput)
    return Trained([np.asarray(w) for w in out.weights], np.asarray(out.predictions), np.asarray(out.loss_history),
                   problem.schedule.record_steps(), out.dtype)
