"""A test-only library: the NumPy reference's numbers, but its weights handed back in the other
float dtype while it reports the dtype it was asked for."""

from __future__ import annotations

import numpy as np

from tests.fakes.base import MODES, device_unavailable, moved, nothing, prepare_with, probe_machine, versions  # noqa: F401

NAME = "wrong_dtype"
INSTALL = "(test only)"


def _change(out) -> None:
    out.weights = [w.astype("float32" if w.dtype == np.float64 else "float64") for w in out.weights]


def prepare(problem, mode: str, device: str):
    return prepare_with(nothing, problem, mode, _change)
