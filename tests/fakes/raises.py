"""A test-only library whose runs raise an exception with a two-line message."""

from __future__ import annotations

from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "raises"
INSTALL = "(test only)"


def _misbehave(problem, mode: str) -> None:
    raise RuntimeError("simulated crash\nsecond line")


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
