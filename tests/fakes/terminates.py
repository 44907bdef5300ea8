"""A test-only library whose runs stop the harness as a CI cancel would: SIGTERM to it, then wait."""

from __future__ import annotations

import os
import signal
import time

from tests.fakes import FOREVER_S
from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "terminates"
INSTALL = "(test only)"


def _misbehave(problem, mode: str) -> None:
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(FOREVER_S)


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
