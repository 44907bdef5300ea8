"""A test-only library whose learning rate is off by one part in a million: `compare.py explain`
must name step 1 and the updated weights of layer 0 (everything before the update agrees)."""

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
    set_weights,
    train_step,
    weights_of,
)
from tests.fakes.base import device_unavailable, lesson_prepare, probe_machine, versions  # noqa: F401

NAME = "explain_lr"
INSTALL = "(test only)"
MODES = ("eager",)


def make_optimizer(model, lr):
    return lr * (1 + 1e-6)


def prepare(problem, mode, device):
    return lesson_prepare(sys.modules[__name__], problem)
