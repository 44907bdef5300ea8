"""One process of a data-parallel run started by its library's own launcher:
`compare.py parallel --launched` under torchrun, mlx.launch, TF_CONFIG or a JAX coordinator.

Every process reads its place in the run from its launcher (shared/studies/launchers.py) and
trains its part through the same engine file, in the same steps, as a host the harness starts
(shared/studies/parallel_host.py): so a launched run and the harness's run of the same layout
compute the same thing, bit for bit. Rank 0 then checks its result against the
single-process NumPy run and writes the report and the row; every other rank exits 0 after
one line that gives its weights' fingerprint (the same on every rank when the replicas agree).

Nothing here waits unbounded: the engines' own rendezvous and collectives get `--timeout`, and
a watchdog ends the process at `--timeout` from its start whatever it is blocked in (a peer
that never arrives, a ring that never closes, a collective whose peer died), with one line
that says what it was waiting for. A failure is one line too, prefixed with the rank.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import select
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable

import numpy as np

from shared.contract.errors import one_line
from shared.harness import registry
from shared.studies.parallel import Layout, Outcome, apply_engine_environment, host_job

# Errors that mean this rank's address was already bound by another process.
BIND_ERRORS = ("address already in use", "eaddrinuse", "couldn't bind", "failed to bind", "bind failed")


def fingerprint(output) -> str:
    """The first 16 hex digits of the SHA-256 of the trained weights and the predictions, as
    stored (dtype and bytes): equal only where the runs are equal bit for bit."""
    digest = hashlib.sha256()
    for array in (*output.weights, output.predictions):
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes())
    return digest.hexdigest()[:16]


class Watchdog:
    """Ends the process at its deadline, whatever it is blocked in, after one line that says what
    it was waiting for. A forked child process keeps the time: some engines block in C while
    holding the GIL (MLX's ring waiting for a peer, TensorFlow's cluster start), where neither a
    thread nor a signal handler of this process would ever run. The child learns each new phase
    through a pipe, SIGKILLs this process at the deadline (the exit status then says so: -9, or
    137 in a shell), and exits by itself as soon as this process has exited (the pipe closes):
    it watches the exit too, where a library's exit handlers can wait for a peer."""

    def __init__(self, who: str, timeout_s: float, started: float):
        read, self._write = os.pipe()
        deadline, parent = started + timeout_s, os.getpid()
        self.child = os.fork()
        if self.child == 0:  # the watchdog: plain os calls only (a forked child of a threaded process)
            try:
                os.close(self._write)
                _watch(read, deadline, parent, f"compare.py parallel: {who}: not finished after {timeout_s:g} s "
                                                "(--timeout) while {phase}; stopped\n")
            finally:
                os._exit(0)
        os.close(read)
        self.phase = "starting"

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, text: str) -> None:
        self._phase = text
        with contextlib.suppress(OSError):  # a watchdog killed from outside: the run goes on unwatched
            os.write(self._write, text.replace("\n", " ").encode() + b"\n")


def _watch(read: int, deadline: float, parent: int, message: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the watched process's; its exit ends the watch
    phase, pending = "starting", b""
    while (left := deadline - time.monotonic()) > 0:
        if select.select([read], [], [], left)[0]:
            data = os.read(read, 4096)
            if not data:  # the process exited or cancelled: nothing to watch
                return
            *lines, pending = (pending + data).split(b"\n")
            phase = lines[-1].decode(errors="replace") if lines else phase
    os.write(2, message.format(phase=phase).encode())
    os.kill(parent, signal.SIGKILL)


_CLAIMED: list = []  # the claimed rank's locked file, open until the process exits


def claim_rank(layout: Layout, library: str) -> None:
    """Hold this rank of this rendezvous on this machine until the process exits (an flock on a
    file named after the user, the rendezvous and the rank), or raise: two processes on one
    machine given the same rank would otherwise each wait for a peer that never comes (a second
    rank 0 of JAX, TensorFlow or MLX starts without an error). Processes on different machines
    cannot collide here; their rendezvous is what notices a rank missing. A run of one worker
    has nobody to collide with, and a lock file that cannot be opened means no check."""
    if layout.workers == 1:
        return
    key = hashlib.sha256(f"{library}|{layout.coordinator}|{layout.rank}".encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"nn-rosetta-{os.getuid()}-rank-{key}.lock")
    try:
        handle = open(path, "a+")  # noqa: SIM115 (held open, and locked, until the process exits)
    except OSError:
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RuntimeError(f"rank {layout.rank} of this rendezvous ({layout.coordinator}) is already held by process "
                           f"{holder} on this machine: two processes were given one rank") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    _CLAIMED.append(handle)


def run(engine: str, problem, layout: Layout, config: dict, args, started: float, started_wall: float,
        write: Callable[[dict], int]) -> int:
    """This process's part of the run; rank 0 hands its report to `write` (the command's, which
    writes the files and the table and returns the exit status). Returns the exit status."""
    from shared.studies.parallel_host import _import, train

    launcher = layout.launcher
    who = f"rank {layout.rank} of {layout.workers} ({launcher})"
    watchdog = Watchdog(who, layout.timeout_s, started)
    found = registry.ENGINES[engine]
    apply_engine_environment(os.environ, engine, problem.spec.dtype)  # as a harness-started host's, before the import
    job = host_job(engine, layout, problem, config["repeat"], started_wall, args.debug)
    watchdog.phase = f"importing {engine}'s engine"
    waiting = f"waiting for the {layout.workers - 1} other rank{'s' * (layout.workers > 2)} to join at " \
              f"{layout.coordinator}" if layout.workers > 1 else "training"

    def joined() -> None:
        nonlocal rendezvous_done
        rendezvous_done = True
        watchdog.phase = "training (a peer stopped answering in a collective)"
        print(f"{who}: joined", file=sys.stderr, flush=True)

    rendezvous_done = imported = False
    try:
        claim_rank(layout, registry.split(found.target)[0])
        module = _import(job)
        imported = True
        watchdog.phase = waiting
        reason = module.unsupported(layout, problem.spec.dtype)
        result = None if reason else train(module, job, layout, joined)
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        said = one_line(exc)
        if not rendezvous_done and any(e in said.lower() for e in BIND_ERRORS):
            said += "; another process holds this rank's port"
        where = "while training: " if rendezvous_done else "while joining: " if imported and layout.workers > 1 else ""
        print(f"compare.py parallel: {who}: {where}{said}", file=sys.stderr, flush=True)
        return 1
    if layout.rank != 0:
        if result is None:
            print(f"{who}: skipped: {reason}", file=sys.stderr)
            return 0
        print(f"{who}: trained {problem.schedule.steps} steps, weights and predictions sha256 "
              f"{fingerprint(result.output)}; rank 0 checks its own against NumPy and writes the report")
        return 0
    watchdog.phase = "checking against NumPy and writing the report"
    return write(report(engine, problem, layout, config, result, reason, started_wall))


def report(engine: str, problem, layout: Layout, config: dict, result, reason: str | None,
           started_wall: float) -> dict:
    """Rank 0's row, beside the single-process NumPy run, in the report `compare.py parallel` writes."""
    from implementations.numpy import lesson as numpy_lesson
    from shared.studies.parallel_report import Study, _blank_row

    study = Study(problem, config)
    if result is None:
        study.report["rows"].append(_blank_row(engine, layout.workers, layout.hosts, "skipped", reason))
    else:
        study.reference = numpy_lesson.prepare(problem, "eager", "cpu")()
        study.report["rows"].append(study._row(engine, Outcome("ok", None, layout, started_wall, result), None))
        study.report["launched"] = {"launcher": layout.launcher, "ranks": layout.workers, "hosts": layout.hosts,
                                    "fingerprint": fingerprint(result.output)}
    return study.finish()
