"""Peak memory of a measurement: the process's resident memory from the operating system, and a
GPU's from the library that allocates on it.

Host: Linux keeps the high-water mark of a process's resident set (VmHWM in
/proc/self/status) and resets it when "5" is written to /proc/self/clear_refs (Linux 4.0+), so
a peak can be read per measurement. Elsewhere only the lifetime peak (getrusage) is known; the
result says which.
Device: PyTorch and TensorFlow can reset their peak counters; JAX cannot (its
`memory_stats()["peak_bytes_in_use"]` only grows), so a JAX measurement reports a peak only
when it set a new one, and says so otherwise.
"""

from __future__ import annotations

import re
import resource
import sys
from collections.abc import Callable


def reset_host_peak() -> bool:
    """Start a new high-water mark of resident memory; False where the OS cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def host_peak_rss() -> int:
    """The process's peak resident memory in bytes since the last reset (or since it started)."""
    try:
        with open("/proc/self/status") as handle:
            found = re.search(r"VmHWM:\s+(\d+) kB", handle.read())
        if found:
            return int(found.group(1)) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _jax_peak() -> int | None:
    import jax

    return int(jax.devices("gpu")[0].memory_stats().get("peak_bytes_in_use"))


def _torch_peak() -> int:
    import torch

    return int(torch.cuda.max_memory_allocated())


def _torch_reset() -> None:
    import torch

    torch.cuda.reset_peak_memory_stats()


def _tf_peak() -> int:
    import tensorflow as tf

    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def _tf_reset() -> None:
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("GPU:0")


# library: (read the peak, reset it or None where the library cannot)
DEVICE_COUNTERS: dict[str, tuple[Callable[[], int | None], Callable[[], None] | None]] = {
    "torch": (_torch_peak, _torch_reset), "tensorflow": (_tf_peak, _tf_reset), "jax": (_jax_peak, None)}


class DevicePeak:
    """The peak device memory of one measurement, where the library reports one."""

    def __init__(self, library: str, device: str, counters: dict | None = None):
        counters = DEVICE_COUNTERS if counters is None else counters
        self.read, self.reset = counters.get(library, (None, None)) if device == "gpu" else (None, None)
        self.library = library
        self.before: int | None = None

    def _safe_read(self) -> int | None:
        try:
            return self.read() if self.read else None
        except Exception:
            return None

    def start(self) -> None:
        if self.reset:
            try:
                self.reset()
            except Exception:
                self.read = None
        else:
            self.before = self._safe_read()

    def result(self) -> tuple[int | None, str | None]:
        """(peak bytes or None, a note when there is no number)."""
        peak = self._safe_read()
        if peak is None or self.reset or self.before is None or peak > self.before:
            return peak, None
        return None, (f"{self.library} cannot reset its peak-memory counter; this measurement stayed below "
                      f"an earlier one's peak of {self.before / 2**20:.1f} MiB")
