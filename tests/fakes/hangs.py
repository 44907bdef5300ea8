"""A test-only library whose eager run starts a helper process and then never answers; its
compiled run is fine. The helper's pid goes to the file named by NN_ROSETTA_TEST_PIDFILE, so a
test can check that the harness stopped it too."""

from __future__ import annotations

import os
import subprocess
import time

from tests.fakes import FOREVER_S
from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "hangs"
INSTALL = "(test only)"


def _misbehave(problem, mode: str) -> None:
    if mode == "eager":
        helper = subprocess.Popen(["sleep", str(FOREVER_S)])
        with open(os.environ["NN_ROSETTA_TEST_PIDFILE"], "w") as handle:
            handle.write(f"{os.getpid()} {helper.pid}")
        time.sleep(FOREVER_S)


def prepare(problem, mode: str, device: str):
    return prepare_with(_misbehave, problem, mode)
