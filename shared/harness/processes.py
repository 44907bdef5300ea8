"""The processes the harness starts, and how it makes sure they are all gone.

A library worker (shared/harness/worker.py) and a data-parallel host (shared/studies/parallel.py) each lead a
process group of their own, and everything they start carries a mark in its environment
(`NN_ROSETTA_RUN`, one value per group) that survives a library moving a helper to a group of
its own. `end_group` kills every process in the group or with the mark, waits (bounded) until
none is left, and reaps those that came to the harness: it is a child subreaper, so a worker's
or host's children that outlive it become the harness's own children rather than init's, and
"gone" means exited *and* reaped, not "killed a moment ago".
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
import uuid
from collections.abc import Iterable

RUN_MARK = "NN_ROSETTA_RUN"  # one value per process group the harness leads
PARENT_MARK = "NN_ROSETTA_PARENT"  # the harness's pid, for die_with_parent and the tests
END_GRACE_S = 10.0
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36


def _prctl(option: int, value: int) -> bool:
    with contextlib.suppress(Exception):
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value) == 0
    return False


def become_subreaper() -> bool:
    """Linux: orphans among this process's descendants are re-parented here, not to init, so
    the harness can reap them. True when the kernel agreed."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int | None) -> None:
    """Linux: have the kernel SIGKILL this process (a worker, a data-parallel host or one of its
    PyTorch workers) if its parent is killed (a signal a Python handler would only see after the
    current C++ call, possibly a whole compiled schedule). Helper processes that PyTorch's
    compiler starts watch their own parent."""
    with contextlib.suppress(Exception):
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if parent is not None and os.getppid() != parent:  # the parent died before the line above
            os.killpg(0, signal.SIGKILL)


def new_mark() -> str:
    """A fresh value for RUN_MARK: what one group's processes, and all they start, carry."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


def marked_env(mark: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with the marks of one group added."""
    env = dict(os.environ if env is None else env)
    env[RUN_MARK], env[PARENT_MARK] = mark, str(os.getpid())
    return env


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(state, parent, process group) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _has_mark(pid: str, mark: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return mark in f.read().split(b"\0")
    except OSError:
        return False


def members(group: int, mark: str | None) -> list[tuple[int, str, int]]:
    """(pid, state, parent) of every process still in `group` or carrying `mark`, zombies included
    (a zombie's environment cannot be read: a marked process shows as a zombie only while it stays
    in the group)."""
    me = os.getpid()
    wanted = f"{RUN_MARK}={mark}".encode() if mark else None
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        stat = _stat(entry)
        if stat and (stat[2] == group or (wanted and _has_mark(entry, wanted))):
            found.append((int(entry), stat[0], stat[1]))
    return found


def end_group(group: int, mark: str | None, keep: Iterable[int] = (), seen: Iterable[int] = (),
              grace_s: float = END_GRACE_S) -> list[int]:
    """SIGKILL every process in process group `group` or carrying `mark`, and wait until each has
    exited and, where it is this process's child, been reaped.
    `keep`: processes the caller started and reaps itself (its Popen or multiprocessing object
    keeps their exit status): the group's leader always, and every other host of a run that
    shares the mark. `seen`: processes found earlier (`members`), so that one which left the
    group and has exited since, its environment no longer readable, is still reaped.
    Returns the pids still running after `grace_s` (none, unless the kernel is stuck); when it
    returns none, the processes in `keep` have exited too."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    me = os.getpid()
    keep = {group, *keep}
    deadline = time.monotonic() + grace_s
    seen = set(seen)  # a marked process outside the group is known only while alive: remember it
    while True:
        found = {pid: (state, parent) for pid, state, parent in members(group, mark)}
        for pid in seen - found.keys():
            stat = _stat(str(pid))
            if stat:
                found[pid] = stat[:2]
        seen |= found.keys()
        left = []
        for pid, (state, parent) in found.items():
            if state == "Z":
                if parent == me and pid not in keep:  # ours (a subreaper's orphan): reaped now
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
                continue  # exited; another process's zombie is its parent's to reap
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            left.append(pid)
        if not left:  # every one exited, and ours were reaped above
            return []
        if time.monotonic() > deadline:
            return left
        time.sleep(0.01)
