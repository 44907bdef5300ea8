"""The machine and software a result was measured on, recorded with every result."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
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


ROOT = Path(__file__).resolve().parents[2]
_started: dict = {}  # when this command started, and the machine's load then (command_started)


def command_started() -> None:
    """Note the time and the load average as a command starts: its report's stamp gives both."""
    _started.update(date=_now(), load=_load())


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def commit() -> str | None:
    """The commit the code was run from, with "+changes" where files other than results/ differ
    from it (a regeneration writes results/ itself); None outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", ".", ":(exclude)results"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if changed else "")


def stamp() -> dict:
    """Where, when and on which code a report was made, and whether the machine was busy: the
    load average (1, 5 and 15 minutes) as the command started and as it ended. Every JSON report
    carries one (tests/test_results.py checks the committed ones)."""
    started = _started or {"date": _now(), "load": _load()}
    return {"commit": commit(), "started": started["date"], "finished": _now(), "machine": f"{cpu_name()}, "
            f"{os.cpu_count()} logical cores, {platform.system()} {platform.machine()}",
            "load_average": {"start": started["load"], "end": _load()}, "seconds": round(time.time() - _epoch(started["date"]))}


def _epoch(date: str) -> float:
    return datetime.datetime.fromisoformat(date).timestamp()
