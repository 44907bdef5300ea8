"""A test-only library whose eager run dies of a segmentation fault; its compiled run is fine."""

from __future__ import annotations

import os
import signal  # noqa: F401 (used by some of these fakes' one line)

from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "segfaults"
INSTALL = "(test only)"


def _misbehave(problem, mode: str) -> None:
    if mode == "eager":
        os.kill(os.getpid(), signal.SIGSEGV)


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
