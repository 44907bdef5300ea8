"""Tiny, for the harness: a made-up library added the way docs/contributing.md says ("Adding a
library"), to show that the registry, the tables, the side-by-side page and the layout checks
find it from its folder alone. It computes with NumPy (the test needs no extra package)."""

from __future__ import annotations

import os

import numpy as np

NAME = "tiny"
TITLE = "Tiny"
POSITION = 9
REQUIRES = "numpy"
INSTALL = "pip install numpy"
MODES = ("eager",)
ABSENT = {"compile_training": "Tiny has no compiler."}
# What it would read when imported, and its on-disk compilation cache, declared as JAX's and
# PyTorch's runtimes declare theirs: the harness sets them in its worker first (versions() says so).
IMPORT_ENV = {"TINY_X64": {"float64": "1"}, "TINY_CACHE": "off", "TINY_CACHE_FOLDER": None}
CACHE_ENV = {"TINY_CACHE_DIR": "tiny"}


def versions() -> dict[str, str]:
    seen = {name: os.environ.get(name) for name in ("TINY_X64", "TINY_CACHE", "TINY_CACHE_FOLDER", "TINY_CACHE_DIR")}
    return {"tiny": "0.1 (NumPy " + np.__version__ + ")", "tiny_environment": repr(seen)}


def set_threads(n: int) -> None:
    """NumPy's BLAS threads are set by the harness before import (NumPy's THREAD_ENV)."""


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "Tiny runs on the CPU only"


def gpu_name() -> str | None:
    return None


def reset_gpu_peak() -> bool:
    return False


def gpu_peak_bytes() -> int | None:
    return None


def probe_machine(device: str) -> None:
    """Nothing to probe."""
