"""The machine and software a result was measured on, recorded with every result."""

from __future__ import annotations

import os
import platform
import sys
from types import ModuleType

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS", "KERAS_BACKEND")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name(modules: dict[str, ModuleType]) -> str | None:
    """The first CUDA GPU any loaded library reports, else None."""
    if "torch" in modules:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    if "jax" in modules:
        import jax

        for device in jax.devices():
            if device.platform == "gpu":
                return device.device_kind
    if "tensorflow" in modules:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return None


def describe(modules: dict[str, ModuleType]) -> dict:
    versions: dict[str, str] = {}
    for module in modules.values():
        try:
            versions.update(module.versions())
        except Exception as exc:  # a library that cannot say its version still ran
            versions[module.NAME] = f"unknown ({exc.__class__.__name__})"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}
                   | {k: v for k, v in versions.items() if "thread" in k},
        "versions": {k: v for k, v in versions.items() if "thread" not in k},
        "gpu": gpu_name(modules),
        "executable": sys.executable,
    }
