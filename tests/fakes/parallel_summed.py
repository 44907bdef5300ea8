"""A data-parallel engine (JAX's) that sums the workers' gradients instead of averaging them,
the mistake a hand-written all-reduce makes: exact on one worker, N times too large on N."""

from implementations import jax_backend
from implementations.parallel import jax_parallel
from implementations.parallel.jax_parallel import *  # noqa: F403 (the real engine, but for `train_step`)


def summed_step(params, spec, x, t, lr, mesh):
    return jax_backend.train_step(params, spec, x, t, lr * mesh.size)


jax_parallel.train_step = summed_step  # what jax_parallel.train calls in this host process
