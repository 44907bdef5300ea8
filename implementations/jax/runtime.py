"""JAX, for the harness: its name and install line, the variables it reads when imported, threads
(through the CPUs it may use), the GPU and its memory."""

from __future__ import annotations

import os

import jax

NAME = "jax"
TITLE = "JAX"
POSITION = 4
REQUIRES = "jax"
INSTALL = "pip install jax==0.10.2 jaxlib==0.10.2 optax==0.2.8"
MODES = ("eager", "compiled")
# Modes of milliseconds per tiny step (2-core CPU): without --steps the default run trains this prefix.
STEP_CAPS = {"eager": 200}
# Read once, when JAX is imported, so the harness sets them in its process first: x64 is
# process-wide, on for float64 runs only (unset otherwise); no persistent compilation cache, so
# that a first call is cold (None: unset).
IMPORT_ENV = {"JAX_ENABLE_X64": {"float64": "1"}, "JAX_ENABLE_COMPILATION_CACHE": "false", "JAX_COMPILATION_CACHE_DIR": None}
RECORDED_ENV = ("XLA_FLAGS",)  # the user's XLA options (its thread pools among them), kept with every result


def versions() -> dict[str, str]:
    return {"jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else jax.__version__,
            "jax_backend": jax.default_backend(), **({"jax_threads": _threads[0]} if _threads else {})}


_threads: list[str] = []  # what set_threads told XLA, for versions (XLA has no call that reads it back)


def set_threads(n: int) -> None:
    """XLA's CPU client (jax 0.10.2) takes no thread count, and `--xla_cpu_multi_thread_eigen=false`
    measured no change (a 1500² matmul kept both cores busy), but XLA sizes its thread pools to the
    CPUs the process may run on, read when its client starts (the first device query, after
    import). So the worker is pinned to `n` CPUs (measured on 2 cores, 20 jitted 1500² matmuls:
    pinned to one, 13 threads and CPU/wall 1.00; unpinned, 17 threads and 1.95), and the report
    reads the pinning back."""
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:n])
    _threads[:] = [f"{len(os.sched_getaffinity(0))} (CPU affinity: XLA's pools follow the CPUs it may use)"]


def device_unavailable(device: str) -> str | None:
    if device == "cpu":
        return None
    try:
        jax.devices("gpu")
    except RuntimeError:
        return f"JAX {jax.__version__} sees no GPU (install jax[cuda13] on a CUDA machine)"
    return None


def gpu_name() -> str | None:
    return next((d.device_kind for d in jax.devices() if d.platform == "gpu"), None)


def reset_gpu_peak() -> bool:
    """JAX cannot: `memory_stats()["peak_bytes_in_use"]` only grows."""
    return False


def gpu_peak_bytes() -> int | None:
    try:
        stats = jax.devices("gpu")[0].memory_stats()
    except RuntimeError:  # no GPU backend
        return None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def probe_machine(device: str) -> None:
    """Nothing to probe: XLA compiles in process, with nothing to check first."""
