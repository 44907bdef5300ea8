"""Which libraries exist and how to load them: lazily, one at a time, never breaking the others.

Libraries load in the order of `FRAMEWORKS`: PyTorch before TensorFlow and Keras, since
importing TensorFlow first has crashed processes that later import PyTorch.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from types import ModuleType

FRAMEWORKS = ("numpy", "torch", "tensorflow", "keras", "jax")

# The package each implementation needs, and the command that installs it.
REQUIRES = {"numpy": "numpy", "torch": "torch", "tensorflow": "tensorflow", "keras": "keras", "jax": "jax"}
INSTALL = {
    "numpy": "pip install numpy",
    "torch": "pip install torch==2.13.0",
    "tensorflow": "pip install tensorflow==2.21.0",
    "keras": "pip install keras tensorflow==2.21.0",
    "jax": "pip install jax",
}


MODULES = {name: f"implementations.{name}_backend" for name in FRAMEWORKS}
EXTRA: list[str] = []  # libraries registered at run time (the tests' deliberately broken ones)


def register(name: str, module: str, requires: str = "numpy") -> None:
    """Add a library that is not shipped: its implementation module and the package it needs.
    The tests use this for libraries that crash, hang or lie on purpose."""
    if name not in MODULES:
        EXTRA.append(name)
    MODULES[name] = module
    REQUIRES[name] = requires
    INSTALL[name] = f"pip install {requires}"


def known() -> tuple[str, ...]:
    return (*FRAMEWORKS, *EXTRA)


class MissingLibraryError(Exception):
    """The library behind an implementation is not installed; the message says how to install it."""


def installed(name: str) -> bool:
    return importlib.util.find_spec(REQUIRES[name]) is not None


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what C++ libraries print straight to file descriptor 2 while they load
    (TensorFlow's start-up log ignores Python's and its own log settings)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load(name: str) -> ModuleType:
    """Import `implementations/<name>_backend.py`; MissingLibraryError if its library is absent."""
    if name not in MODULES:
        raise KeyError(name)
    if not installed(name):
        raise MissingLibraryError(f"{REQUIRES[name]} is not installed; install it with: {INSTALL[name]}")
    if name in ("tensorflow", "keras") and installed("torch"):
        importlib.import_module("torch")  # PyTorch first, always
    with quiet_native_stderr():
        module = importlib.import_module(MODULES[name])
        module.device_unavailable("gpu")  # device discovery logs natively (e.g. XLA's failed cuInit): do it here
    return module


def ordered(names: list[str]) -> list[str]:
    return [name for name in known() if name in names]
