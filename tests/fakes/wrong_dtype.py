"""A test-only library: the NumPy reference's numbers, but its weights handed back in the other
float dtype while it reports the dtype it was asked for."""

from __future__ import annotations

from implementations import numpy_backend
from shared.interface import Problem, Runner, TrainOutput

NAME = "wrong_dtype"
INSTALL = "(test only)"
MODES = ("eager",)


def versions() -> dict[str, str]:
    return {}


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "test library: CPU only"


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    run = numpy_backend.prepare(problem, "eager", "cpu")
    other = "float32" if problem.spec.dtype == "float64" else "float64"

    def mixed() -> TrainOutput:
        out = run()
        out.weights = [w.astype(other) for w in out.weights]
        return out

    return mixed
