"""A data-parallel engine (MLX's) that sums the ranks' gradients instead of averaging them:
`mx.distributed.all_sum` without the division `nn.average_gradients` makes. Exact on one
worker, N times too large on N."""

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

from implementations import mlx_backend
from implementations.parallel import mlx_parallel
from implementations.parallel.mlx_parallel import *  # noqa: F403 (the real engine, but for the step)


def summed_step(model, optimizer, spec, x, t):
    value, grads = nn.value_and_grad(model, mlx_backend.loss)(model, spec, x, t)
    optimizer.update(model, tree_map(mx.distributed.all_sum, grads))
    return value


mlx_parallel.averaged_step = summed_step  # what mlx_parallel.train calls in this worker process
