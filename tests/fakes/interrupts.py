"""A test-only library whose runs press Ctrl-C for the user: SIGINT to the harness, then wait."""

from __future__ import annotations

import os
import signal
import time

from tests.fakes import FOREVER_S
from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "interrupts"
INSTALL = "(test only)"


def _misbehave(problem, mode: str) -> None:
    os.kill(os.getppid(), signal.SIGINT)
    time.sleep(FOREVER_S)


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
