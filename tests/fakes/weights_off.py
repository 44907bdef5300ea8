"""A test-only library: the NumPy reference with its final weights (only them) moved by ten tolerances."""

from __future__ import annotations

import numpy as np

from implementations import numpy_backend
from shared.interface import Problem, Runner, TrainOutput
from shared.tolerances import tolerance

NAME = "weights_off"
INSTALL = "(test only)"
MODES = ("eager",)


def versions() -> dict[str, str]:
    return {}


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "test library: CPU only"


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    run = numpy_backend.prepare(problem, "eager", "cpu")

    def perturbed() -> TrainOutput:
        out = run()
        out.weights = [w + np.asarray(10 * tolerance(problem.spec.dtype), dtype=w.dtype) for w in out.weights]
        return out

    return perturbed
