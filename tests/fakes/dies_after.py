"""A test-only library whose worker answers its eager run, then exits a moment later, before the
next request: that run stands, and the next one needs a new worker."""

from __future__ import annotations

import os
import threading

from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "dies_after"
INSTALL = "(test only)"


def _misbehave(problem, mode: str) -> None:
    if mode == "eager":
        threading.Timer(0.5, os._exit, [0]).start()


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
