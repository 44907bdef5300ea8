"""Peak memory of a measurement: the process's resident memory from the operating system, and a
GPU's from the library that allocates on it.

Host: Linux keeps the high-water mark of a process's resident set (VmHWM in
/proc/self/status) and resets it when "5" is written to /proc/self/clear_refs (Linux 4.0+), so
a peak can be read per measurement. Elsewhere only the lifetime peak (getrusage) is known; the
result says which.
GPU: the library's own counter, read through its implementation file (the contract's
`reset_gpu_peak` and `gpu_peak_bytes`). Where a library cannot reset it (JAX: its
`memory_stats()["peak_bytes_in_use"]` only grows), a measurement reports a peak only when it
set a new one, and says so otherwise.
"""

from __future__ import annotations

import re
import resource
import sys


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


class DevicePeak:
    """The peak GPU memory of one measurement, where the library reports one."""

    def __init__(self, module, device: str, library: str):
        """`module`: the implementation, whose `reset_gpu_peak` and `gpu_peak_bytes` are the
        library's own counters (read only on the GPU); `library` names it in the note."""
        self.module = module if device == "gpu" else None
        self.library = library
        self.was_reset = False
        self.before: int | None = None

    def _safe_read(self) -> int | None:
        try:
            return self.module.gpu_peak_bytes() if self.module else None
        except Exception:
            return None

    def start(self) -> None:
        if not self.module:
            return
        try:
            self.was_reset = bool(self.module.reset_gpu_peak())
        except Exception:  # a counter that fails to reset is not read: its peak could be an earlier run's
            self.module = None
            return
        if not self.was_reset:
            self.before = self._safe_read()

    def result(self) -> tuple[int | None, str | None]:
        """(peak bytes or None, a note when there is no number)."""
        peak = self._safe_read()
        if peak is None or self.was_reset or self.before is None or peak > self.before:
            return peak, None
        return None, (f"{self.library} cannot reset its peak-memory counter; this measurement stayed below "
                      f"an earlier one's peak of {self.before / 2**20:.1f} MiB")
