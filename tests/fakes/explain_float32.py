"""A test-only library whose first layer's product is computed in float32 (and cast back to the
run's dtype): `compare.py explain` must name step 1, the pre-activation of layer 0, and float32's
precision behind a float64 result."""

from __future__ import annotations

import sys

import numpy as np

from implementations.numpy import lesson as numpy_lesson
from implementations.numpy.lesson import (  # noqa: F401 (the lesson's functions this fake keeps)
    ACTIVATIONS,
    build_model,
    configure,
    in_seed_layout,
    load_data,
    make_optimizer,
    set_weights,
    weights_of,
)
from tests.fakes.base import device_unavailable, lesson_prepare, probe_machine, versions  # noqa: F401

NAME = "explain_float32"
INSTALL = "(test only)"
MODES = ("eager",)


def _rounded(model):
    """The first layer's weights as float32 holds them: what its float32 product multiplies."""
    return [w.astype(np.float32).astype(w.dtype) if i == 0 else w for i, w in enumerate(model)]


def layer_outputs(model, spec, x):
    found = numpy_lesson.layer_outputs(_rounded(model), spec, x)
    w = model[0]
    z = (x.astype(np.float32) @ w[1:].astype(np.float32) + w[0].astype(np.float32)).astype(x.dtype)
    return [(z, ACTIVATIONS[spec.activations()[0]][0](z)), *found[1:]]


def loss(model, spec, x, t):
    return numpy_lesson.loss(_rounded(model), spec, x, t)


def gradients(model, spec, x, t):
    return numpy_lesson.gradients(_rounded(model), spec, x, t)


def train_step(model, optimizer, spec, x, t):
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= optimizer * g
    return model, optimizer


def prepare(problem, mode, device):
    return lesson_prepare(sys.modules[__name__], problem)
