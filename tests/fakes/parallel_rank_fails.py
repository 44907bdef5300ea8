"""PyTorch's data-parallel engine with a worker other than its host's first failing in
training: the row must show that worker's error, not its peers' broken connection."""

from implementations.torch import parallel as torch_parallel
from implementations.torch.parallel import *  # noqa: F403 (the real engine, but for `split_batches`)

real_split = torch_parallel.split_batches  # kept before the swap below: calling it by name would call failing_split


def failing_split(problem, engine):
    import torch.distributed as dist

    if dist.get_rank(engine) == 1:
        raise ValueError("test engine: worker 1 has no rows")
    return real_split(problem, engine)


torch_parallel.split_batches = failing_split
