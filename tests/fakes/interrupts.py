"""A test-only library whose runs press Ctrl-C for the user: SIGINT to the harness, then wait."""

from __future__ import annotations

import os
import signal
import time

from tests.fakes import FOREVER_S
from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "interrupts"
INSTALL = "(test only)"


# Where the moment of the press is written (time.monotonic(), one clock for every process on
# Linux), for a test to time the harness's stop from it rather than from its own start.
PRESSED_AT = "NN_ROSETTA_TEST_PRESSED_AT"


def _misbehave(problem, mode: str) -> None:
    if os.environ.get(PRESSED_AT):
        with open(os.environ[PRESSED_AT], "w") as f:
            f.write(repr(time.monotonic()))
    os.kill(os.getppid(), signal.SIGINT)
    time.sleep(FOREVER_S)


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
