"""The machine and software a result was measured on, recorded with every result."""

from __future__ import annotations

import os
import platform
import sys
from types import ModuleType

from shared.harness import registry


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name(module: ModuleType) -> str | None:
    """The GPU a loaded implementation reports (its `gpu_name`), else None: a library that cannot
    say still ran."""
    try:
        return module.gpu_name()
    except Exception:
        return None


def versions_of(module: ModuleType) -> dict[str, str]:
    try:
        return dict(module.versions())
    except Exception as exc:  # a library that cannot say its version still ran
        return {module.NAME: f"unknown ({exc.__class__.__name__})"}


def describe(versions: dict[str, str] | None = None, gpu: str | None = None) -> dict:
    """The machine, and the libraries' versions and threads as their workers reported them."""
    versions = versions or {}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": {name: os.environ[name] for name in registry.recorded_variables() if name in os.environ}
                   | {k: v for k, v in versions.items() if "thread" in k},
        "versions": {k: v for k, v in versions.items() if "thread" not in k},
        "gpu": gpu,
        "executable": sys.executable,
    }
