"""A test-only library: the NumPy reference with its recorded losses (only them) moved by ten tolerances."""

from __future__ import annotations

from tests.fakes.base import MODES, device_unavailable, moved, nothing, prepare_with, probe_machine, versions  # noqa: F401

NAME = "loss_off"
INSTALL = "(test only)"


def _change(out) -> None:
    out.loss_history = moved(out.loss_history)


def prepare(problem, mode: str, device: str):
    return prepare_with(nothing, problem, mode, _change)
