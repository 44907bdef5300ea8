"""A test-only library that adds 9e-13 to every weight after each step: no single step leaves the
single-step tolerance (1e-12 in float64), but after 20,000 steps the weights end 6e-9 from NumPy's,
out of the run tolerance: `compare.py explain` must say that rounding accumulated, naming no step."""

from __future__ import annotations

import sys

from implementations.numpy.lesson import (  # noqa: F401 (the lesson's functions this fake keeps)
    build_model,
    configure,
    gradients,
    in_seed_layout,
    layer_outputs,
    load_data,
    loss,
    make_optimizer,
    set_weights,
    weights_of,
)
from tests.fakes.base import device_unavailable, lesson_prepare, probe_machine, versions  # noqa: F401

NAME = "explain_drift"
INSTALL = "(test only)"
MODES = ("eager",)


def train_step(model, optimizer, spec, x, t):
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= optimizer * g
        w += 9e-13
    return model, optimizer


def prepare(problem, mode, device):
    return lesson_prepare(sys.modules[__name__], problem)
