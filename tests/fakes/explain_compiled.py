"""A test-only library whose compiled program steps with a learning rate off by one part in a
million, while its lesson's functions are NumPy's, exact: `compare.py explain --mode compiled`
must name step 1 and say that the difference is in the compiled program, not in any quantity."""

from __future__ import annotations

import sys
from dataclasses import replace

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
    train_step,
    weights_of,
)
from tests.fakes.base import device_unavailable, lesson_prepare, probe_machine, versions  # noqa: F401

NAME = "explain_compiled"
INSTALL = "(test only)"
MODES = ("eager", "compiled")


def prepare(problem, mode, device):
    if mode == "compiled":
        problem = replace(problem, schedule=replace(problem.schedule, lr=problem.schedule.lr * (1 + 1e-6)))
    return lesson_prepare(sys.modules[__name__], problem)
