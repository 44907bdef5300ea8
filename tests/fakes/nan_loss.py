"""A test-only library whose recorded training loss turns NaN from the fourth record on."""

from __future__ import annotations

import numpy as np

from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "nan_loss"
INSTALL = "(test only)"


def _poison(out) -> None:
    out.loss_history = np.array(out.loss_history)
    out.loss_history[3:] = np.nan


def prepare(problem, mode: str, device: str):
    return prepare_with(lambda *_: None, problem, mode, _poison)
