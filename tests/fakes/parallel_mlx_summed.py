"""A data-parallel engine (MLX's) that sums the ranks' gradients instead of averaging them:
`mx.distributed.all_sum` without the division `nn.average_gradients` makes. Exact on one
worker, N times too large on N."""

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

from implementations.mlx import lesson as mlx_lesson
from implementations.mlx import parallel as mlx_parallel
from implementations.mlx.parallel import *  # noqa: F403 (the real engine, but for the step)


def summed_step(model, optimizer, spec, x, t):
    value, grads = nn.value_and_grad(model, mlx_lesson.loss)(model, spec, x, t)
    optimizer.update(model, tree_map(mx.distributed.all_sum, grads))
    return value


mlx_parallel.averaged_step = summed_step  # what mlx_parallel.train calls in this worker process
