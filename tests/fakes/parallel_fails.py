"""A data-parallel engine (JAX's) whose host 1 fails at the rendezvous: its peers must be stopped at once."""

from implementations.jax import parallel as jax_parallel
from implementations.jax.parallel import *  # noqa: F403 (the real engine, but for `join`)


def join(layout):
    if layout.host == 1:
        raise RuntimeError("test engine: host 1 refuses to join")
    return jax_parallel.join(layout)
