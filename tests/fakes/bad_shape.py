"""A test-only library that hands back an empty loss history."""

from __future__ import annotations

import numpy as np

from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine, versions  # noqa: F401

NAME = "bad_shape"
INSTALL = "(test only)"


def _empty(out) -> None:
    out.loss_history = np.array([], dtype=out.loss_history.dtype)


def prepare(problem, mode: str, device: str):
    return prepare_with(lambda *_: None, problem, mode, _empty)
