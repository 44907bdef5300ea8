"""A data-parallel engine (JAX's) whose host 1 writes its result and then never exits: the
results stand, the host is stopped after the grace period, and the row says so."""

import time

from implementations.jax.parallel import *  # noqa: F403 (the real engine, but for `launch`)
from tests.fakes import FOREVER_S


def launch(serve, folder, layout):
    serve(0, folder, layout)
    if layout.host == 1:
        time.sleep(FOREVER_S)
