"""A data-parallel engine (JAX's) whose host 1 never joins: the harness's timeout must stop every host."""

import time

from implementations.jax import parallel as jax_parallel
from implementations.jax.parallel import *  # noqa: F403 (the real engine, but for `join`)
from tests.fakes import FOREVER_S


def join(layout):
    if layout.host == 1:
        time.sleep(FOREVER_S)
    return jax_parallel.join(layout)
