"""A test-only library whose gradient of layer 1's weights is FACTOR times too large (1.001 unless
NN_ROSETTA_TEST_FACTOR says) from step FROM on (1-based: the first step it is wrong;
NN_ROSETTA_TEST_FROM sets it): `compare.py explain` must name that step, the quantity
"weight gradient" and layer 1. The model remembers which step of the run it is at (the schedule's
`start`, and one more after every step)."""

from __future__ import annotations

import os
import sys

from implementations.numpy.lesson import (  # noqa: F401 (the lesson's functions this fake keeps)
    configure,
    forward,
    in_seed_layout,
    layer_outputs,
    load_data,
    loss,
    make_optimizer,
    set_weights,
    weights_of,
)
from implementations.numpy.lesson import gradients as exact_gradients
from tests.fakes.base import device_unavailable, lesson_prepare, probe_machine, versions  # noqa: F401

NAME = "explain_gradient"
INSTALL = "(test only)"
MODES = ("eager",)
FROM = int(os.environ.get("NN_ROSETTA_TEST_FROM", "7"))  # the first wrong step, 1-based
FACTOR = float(os.environ.get("NN_ROSETTA_TEST_FACTOR", "1.001"))  # how wrong


class Model(list):
    """NumPy's list of matrices, and the step of the run it is at (0-based)."""

    step = 0


def build_model(problem, device):
    model = Model(w.copy() for w in problem.weights)
    model.step = problem.schedule.start
    return model


def gradients(model, spec, x, t):
    grads = exact_gradients(model, spec, x, t)
    if model.step + 1 >= FROM:
        grads[1][1:] *= FACTOR
    return grads


def train_step(model, optimizer, spec, x, t):
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= optimizer * g
    model.step += 1
    return model, optimizer


def prepare(problem, mode, device):
    return lesson_prepare(sys.modules[__name__], problem)
