"""A data-parallel engine (MLX's) that never splits the batch: every rank trains on every row
of each global batch and the averaged gradients are the single-process ones. Its numbers equal
NumPy's; only the rows each process says it trained on show it did not parallelise."""

from implementations.mlx import parallel as mlx_parallel
from implementations.mlx.parallel import *  # noqa: F403 (the real engine, but for the split)


def unsplit_batches(problem, group):
    return problem.schedule.indices


mlx_parallel.split_batches = unsplit_batches  # what mlx_parallel.prepare calls in this worker process
