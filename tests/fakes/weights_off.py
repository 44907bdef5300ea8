"""A test-only library: the NumPy reference with its final weights (only them) moved by ten tolerances."""

from __future__ import annotations

from tests.fakes.base import MODES, device_unavailable, moved, nothing, prepare_with, probe_machine, versions  # noqa: F401

NAME = "weights_off"
INSTALL = "(test only)"


def _change(out) -> None:
    out.weights = [moved(w) for w in out.weights]


def prepare(problem, mode: str, device: str):
    return prepare_with(nothing, problem, mode, _change)
