"""PyTorch as the harness loads it: the lesson (lesson.py) and what only the harness needs (runtime.py).
Its data-parallel engine (parallel.py) is loaded on its own, by the data-parallel study."""
# ruff: noqa: I001 (the runtime first: a library's start-up settings come before its lesson)

from implementations.torch.runtime import *  # noqa: F403
from implementations.torch.lesson import *  # noqa: F403
