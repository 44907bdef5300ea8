"""A test-only library: the NumPy reference with its predictions moved by ten tolerances."""

from __future__ import annotations

from tests.fakes.base import MODES, device_unavailable, moved, nothing, prepare_with, probe_machine, versions  # noqa: F401

NAME = "off_by_more"
INSTALL = "(test only)"


def _change(out) -> None:
    out.predictions = moved(out.predictions)


def prepare(problem, mode: str, device: str):
    return prepare_with(nothing, problem, mode, _change)
