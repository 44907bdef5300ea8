"""Which libraries exist and how to load them: lazily, one at a time, never breaking the others.

The harness loads each library in a worker process of its own (shared/worker.py). A process
that loads several (the test suite) loads them in the order of `FRAMEWORKS`: PyTorch before
TensorFlow and Keras, since importing TensorFlow first has crashed processes that later import
PyTorch.
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


# Keras 3 runs on any of these; each backend is a row of its own ("keras:jax"), run in its own
# worker process since Keras fixes its backend when imported.
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
KERAS_TARGETS = tuple(f"keras:{b}" for b in KERAS_BACKENDS)


# Keras 3 maps 64-bit results of its ops to 32 bits on every backend but TensorFlow
# (BIT64_TO_BIT32_DTYPE in keras/src/backend/common/dtypes.py, Keras 3.15).
KERAS_FLOAT32_ONLY = ("keras:jax", "keras:torch")


def keras_float64_reason(target: str) -> str:
    backend = split(target)[1]
    return (f"Keras 3 computes float64 models in float32 on its {backend} backend (only TensorFlow keeps 64 bits); "
            f"name {target} to run it anyway")


def split(target: str) -> tuple[str, str | None]:
    """"keras:jax" → ("keras", "jax"); "torch" → ("torch", None)."""
    name, _, backend = target.partition(":")
    return name, backend or None


def expand(targets: list[str]) -> list[str]:
    """"keras" means Keras on each of its backends; everything else is itself."""
    out: list[str] = []
    for target in targets:
        for t in (KERAS_TARGETS if target == "keras" else (target,)):
            if t not in out:
                out.append(t)
    return out


def missing(target: str) -> str | None:
    """Why a target cannot run here (a package to install), or None."""
    name, backend = split(target)
    for package in (name, backend) if backend else (name,):
        if not installed(package):
            return f"{REQUIRES[package]} is not installed; install it with: {INSTALL[package]}"
    return None


def import_implementation(module_path: str) -> ModuleType:
    """Import an implementation module as `load` does, for a worker that was told its path."""
    with quiet_native_stderr():
        module = importlib.import_module(module_path)
        module.device_unavailable("gpu")  # device discovery logs natively (e.g. XLA's failed cuInit): do it here
    return module


class MissingLibraryError(Exception):
    """The library behind an implementation is not installed; the message says how to install it."""


def installed(name: str) -> bool:
    return importlib.util.find_spec(REQUIRES.get(name, name)) is not None


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
        importlib.import_module("torch")  # PyTorch first, always, when one process loads both
    return import_implementation(MODULES[name])


def ordered_targets(targets: list[str]) -> list[str]:
    """Targets in the registry's order, Keras' backends in KERAS_BACKENDS order."""
    order = [t for name in known() for t in (KERAS_TARGETS if name == "keras" else (name,))]
    return [t for t in order if t in targets]


def ordered(names: list[str]) -> list[str]:
    return [name for name in known() if name in names]
