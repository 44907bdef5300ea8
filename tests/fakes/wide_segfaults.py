"""A test-only library that dies of a segmentation fault on any network wider than 2 hidden
units, in every mode: the scaling study must lose that size only, and measure the rest in a
fresh worker."""

from __future__ import annotations

import os
import signal

from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "wide_segfaults"
INSTALL = "(test only)"


def _misbehave(problem, mode: str) -> None:
    if problem.spec.sizes[1] > 2:
        os.kill(os.getpid(), signal.SIGSEGV)


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
