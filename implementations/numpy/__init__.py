"""NumPy as the harness loads it: the lesson (lesson.py) and what only the harness needs (runtime.py)."""
# ruff: noqa: I001 (the runtime first: a library's start-up settings come before its lesson)

from implementations.numpy.runtime import *  # noqa: F403
from implementations.numpy.lesson import *  # noqa: F403
