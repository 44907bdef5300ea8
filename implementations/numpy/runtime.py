"""NumPy, for the harness: its name and install line, its BLAS's threads, and no GPU."""

from __future__ import annotations

import numpy as np

NAME = "numpy"
TITLE = "NumPy"
POSITION = 0  # the reference: first in every table
REQUIRES = "numpy"
INSTALL = "pip install numpy==2.4.6"
MODES = ("eager",)
ABSENT = {"compile_training": "NumPy has no compiler: its eager loop is its only loop."}
# --threads N: set in the worker before NumPy is imported, since its BLAS sizes its pool when loaded.
THREAD_ENV = {"OMP_NUM_THREADS": "{n}", "OPENBLAS_NUM_THREADS": "{n}", "MKL_NUM_THREADS": "{n}"}


def versions() -> dict[str, str]:
    return {"numpy": np.__version__, **_blas_threads()}


def _blas_threads() -> dict[str, str]:
    """What the BLAS under NumPy uses, asked from the BLAS itself (threadpoolctl), where installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    pools = [f"{p.get('internal_api')}:{p['num_threads']}" for p in threadpool_info() if p.get("user_api") == "blas"]
    return {"numpy_blas_threads": ", ".join(pools)} if pools else {}


_limits = []  # threadpoolctl's limiter, kept for the worker's life (the limit holds while it exists)


def set_threads(n: int) -> None:
    """The BLAS read THREAD_ENV when loaded; threadpoolctl also limits a BLAS that ignored it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limits.append(threadpool_limits(limits=n, user_api="blas"))


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "NumPy runs on the CPU only"


def gpu_name() -> str | None:
    return None


def reset_gpu_peak() -> bool:
    return False


def gpu_peak_bytes() -> int | None:
    return None


def probe_machine(device: str) -> None:
    """Nothing to probe: NumPy compiles nothing."""
