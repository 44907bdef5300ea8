"""Tiny as the harness loads it: the lesson (lesson.py) and what only the harness needs (runtime.py)."""
# ruff: noqa: I001 (the runtime first: a library's start-up settings come before its lesson)

from tests.added.tiny.runtime import *  # noqa: F403
from tests.added.tiny.lesson import *  # noqa: F403
