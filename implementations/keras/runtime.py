"""Keras 3, for the harness: its name and install line, its backends (each a target of its own),
the dtype it cannot run on one of them, and what it leaves to its backend (threads, the GPU and
its memory, answered by that library's own runtime). The package imports this module before the
lesson: on JAX, x64 must be on before Keras is imported."""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("KERAS_BACKEND") == "jax":
    import jax  # Keras fixes its JAX dtypes when imported: x64 must be on before (see the lesson's configure)

    jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402

NAME = "keras"
TITLE = "Keras"
POSITION = 3
REQUIRES = "keras"
INSTALL = "pip install keras==3.15.1 tensorflow==2.21.0"
MODES = ("eager", "compiled")
# Modes of milliseconds per tiny step (2-core CPU): without --steps the default run trains this prefix.
STEP_CAPS = {"eager": 300, "compiled on torch": 2_000}
LOAD_AFTER = ("torch",)  # importing TensorFlow before PyTorch has crashed processes that load both
# Keras 3 runs on any of these, fixed when it is imported (from BACKEND_ENV): each backend is a
# target of its own ("keras:jax"), run in its own worker; "keras" means all three.
BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_ENV = "KERAS_BACKEND"
# "dtype on backend" → why a default run skips it (a run that names the backend still runs it).
# Measured on Keras 3.15.1 (tests/test_keras_backends.py pins it, so it fails once Keras changes).
DTYPE_SKIPS = {"float64 on torch": "Keras 3.15.1's torch backend computes two float64 ops in float32: ops.matmul, "
                                   "the product inside every Dense, and ops.divide_no_nan, the batch mean of every "
                                   "compiled loss (a float64 XOR run ends 4.8e-08 off NumPy after 300 steps)"}


def versions() -> dict[str, str]:
    backend = keras.backend.backend()
    threads = {f"keras_{k}": v for k, v in _backend_runtime().versions().items() if "thread" in k} if _threads_set else {}
    return {"keras": keras.__version__, "keras_backend": backend, backend: importlib.import_module(backend).__version__,
            **threads}


_threads_set: list[int] = []


def _backend_runtime():
    """The backend's own runtime, which answers for what Keras leaves to its backend: threads, the
    GPU and its memory."""
    return importlib.import_module(f"implementations.{keras.backend.backend()}.runtime")


def set_threads(n: int) -> None:
    """Keras has no threads of its own: its backend's, set as that library's runtime sets them."""
    _backend_runtime().set_threads(n)
    _threads_set.append(n)


def device_unavailable(device: str) -> str | None:
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if device == "cpu" and torch.cuda.is_available():
            return "Keras' torch backend puts models on the GPU when there is one, and keras.device() breaks its gradients"
    if device == "cpu":
        return None
    if backend == "tensorflow":
        import tensorflow as tf

        found = bool(tf.config.list_physical_devices("GPU"))
    elif backend == "jax":
        import jax

        found = any(d.platform == "gpu" for d in jax.devices())
    else:
        import torch

        found = torch.cuda.is_available()
    return None if found else f"Keras on its {backend} backend sees no GPU"


def gpu_name() -> str | None:
    return _backend_runtime().gpu_name()


def reset_gpu_peak() -> bool:
    return _backend_runtime().reset_gpu_peak()


def gpu_peak_bytes() -> int | None:
    return _backend_runtime().gpu_peak_bytes()


def probe_machine(device: str) -> None:
    """Nothing to probe: Keras compiles in process on TensorFlow (a tf.function; Keras keeps XLA
    off there while op determinism is on) and on JAX (XLA), and not at all on torch
    (`jit_compile="auto"` resolves to off there)."""
