"""A test-only library that says, in its versions, which of the other libraries' packages its
import could find (a worker hides them meanwhile: registry.foreign_packages) and which it can
find once imported (all of them again). `find_spec` looks without importing anything."""

from __future__ import annotations

import importlib.util

from tests.fakes.base import MODES, device_unavailable, prepare_with, probe_machine  # noqa: F401

NAME = "peeks"
INSTALL = "(test only)"
WATCHED = ("sklearn", "matplotlib", "jax", "tensorflow", "torch")


def _findable() -> dict[str, bool]:
    return {name: importlib.util.find_spec(name) is not None for name in WATCHED}


AT_IMPORT = _findable()


def versions() -> dict[str, str]:
    return {"peeks_seen": repr({"at_import": AT_IMPORT, "after": _findable()})}


def prepare(problem, mode: str, device: str):
    return prepare_with(lambda *_: None, problem, mode)
