"""A test-only library whose loss is the batch's sum, not its mean (and whose gradients follow
it): `compare.py explain` must name step 1 and the loss, the first quantity that differs."""

from __future__ import annotations

import sys

from implementations.numpy import lesson as numpy_lesson
from implementations.numpy.lesson import (  # noqa: F401 (the lesson's functions this fake keeps)
    build_model,
    configure,
    in_seed_layout,
    layer_outputs,
    load_data,
    make_optimizer,
    set_weights,
    weights_of,
)
from tests.fakes.base import device_unavailable, lesson_prepare, probe_machine, versions  # noqa: F401

NAME = "explain_sum"
INSTALL = "(test only)"
MODES = ("eager",)


def loss(model, spec, x, t):
    return numpy_lesson.loss(model, spec, x, t) * len(x)


def gradients(model, spec, x, t):
    return [g * len(x) for g in numpy_lesson.gradients(model, spec, x, t)]


def train_step(model, optimizer, spec, x, t):
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= optimizer * g
    return model, optimizer


def prepare(problem, mode, device):
    return lesson_prepare(sys.modules[__name__], problem)
