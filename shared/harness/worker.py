"""Each library in a worker process of its own: spawned (not forked, so it inherits no library
state), one at a time, so that timed runs never overlap.

Why: the libraries' process-wide switches (JAX's x64, Keras' backend and floatx) are then set
once per worker for its one dtype and backend, and a library that segfaults, is killed for
memory, exits or hangs costs its own rows, not the report.

Protocol, over a `multiprocessing` pipe: the parent starts a worker for one target ("torch",
"keras:jax", ...); the worker imports it and answers ("loaded", facts about the library) or
("import_failed", reason); then for each run the parent sends a request (a `RunRequest`, or
a study's own, such as the scaling study's `SizeRequest`: anything with a `perform` method) and
the worker answers ("run", what `perform` returned); `None` tells it to exit. A worker that dies or does not answer in
time is killed with its whole process group (PyTorch's compiler starts helper processes) and
becomes a `WorkerDiedError` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

from shared.contract.errors import one_line
from shared.harness.processes import RUN_MARK, become_subreaper, die_with_parent, end_group, members, new_mark

if TYPE_CHECKING:  # not imported at run time: a fresh worker imports nothing heavy before its library
    from shared.contract.interface import Problem
    from shared.harness.timing import Timed

DEFAULT_TIMEOUT_S = 900.0  # per answer: the longest run of the default XOR takes ~13 s on a 2-core CPU
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class WorkerJob:
    """What a worker needs before it imports anything."""

    target: str  # "torch", "keras:jax", a test-only library...
    module: str  # the implementation module to import
    dtype: str  # one dtype per worker: JAX's x64 is switched on only for float64
    debug: bool = False
    cache_dir: str | None = None  # a fresh, empty folder for compilation caches (made and removed by `Worker`)
    mark: str | None = None  # carried by every process the worker starts (shared/harness/processes.py)
    threads: int | None = None  # --threads: the library's own counts (its set_threads), else its defaults
    # Filled in by `Worker` from the target's files, in the harness (a spawned worker's registry
    # knows only the shipped libraries): --threads' variables (THREAD_ENV), the variables read at
    # import (None: unset), the cache folders.
    environment: dict[str, str] = field(default_factory=dict)
    import_env: dict[str, str | None] = field(default_factory=dict)
    cache_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    """One training run with its repeats, timed in the worker (compare.py's runs)."""

    mode: str  # "eager", "compiled", or "book" (NumPy only: the seed's own program)
    device: str
    problem: Problem
    repeat: int
    seed: int = 0  # the book's program draws its own weights from this seed

    def perform(self, module, debug: bool, phase: Callable[[str], None]) -> RunResult:
        """Run in the worker, with the library imported: the result goes back to the harness."""
        return _measure(module, self, debug, phase)


@dataclass
class RunResult:
    status: str  # "ok", "failed" or "skipped"
    reason: str | None = None
    timed: Timed | None = None
    peak_rss_bytes: int | None = None
    peak_rss_scope: str | None = None
    peak_device_bytes: int | None = None
    peak_device_note: str | None = None
    info: dict = field(default_factory=dict)


class WorkerDiedError(Exception):
    """The worker ended without answering, or did not answer in time; str() says how."""


class WorkerGoneError(Exception):
    """The worker ended after its last answer, before the next request: start another."""


def exit_reason(exitcode: int | None) -> str:
    """How a worker ended, in words."""
    if exitcode is None:
        return "worker ended without an exit status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (as the kernel's out-of-memory killer does)" if name == "SIGKILL" else ""
        return f"worker killed by {name}{hint}"
    return f"worker exited with status {exitcode} without answering"


# ---------------------------------------------------------------- inside the worker


def _prepare_process(job: WorkerJob) -> None:
    from shared.harness import registry

    os.setpgrp()  # its own process group: killed as a whole, and Ctrl-C reaches only the harness
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    die_with_parent(parent.pid if parent else None)
    if job.mark:  # inherited by every process the library starts, even one that leaves the group
        os.environ[RUN_MARK] = job.mark
    os.dup2(2, 1)  # libraries' prints must never reach the harness's stdout (--json -)
    os.environ.update(job.environment)  # before any import: a BLAS reads its thread count when loaded
    # What the library reads once, when imported: Keras' backend, JAX's x64 for float64 runs, and
    # its persistent compilation cache off (its file's IMPORT_ENV; registry.import_environment).
    registry.apply_environment(os.environ, job.import_env)
    # Cold first calls: nothing compiled by an earlier run can be found. PyTorch's Inductor and
    # Triton keep their caches on disk between processes (a warm cache skips a program's C++
    # build, see README); here every run starts from an empty folder (_fresh_caches).
    _fresh_caches(job, "import")  # for anything compiled while importing


def _load(job: WorkerJob):
    from shared.harness import registry
    from shared.harness.environment import gpu_name, versions_of
    from shared.harness.native_stderr import quiet_native_stderr

    start = time.perf_counter()
    module = registry.import_implementation(job.module, job.threads, job.target)
    import_s = time.perf_counter() - start
    versions = versions_of(module)
    unavailable = {}
    for device in ("cpu", "gpu"):
        try:
            with quiet_native_stderr():
                unavailable[device] = module.device_unavailable(device)
        except Exception as exc:
            unavailable[device] = f"cannot query devices: {one_line(exc)}"
    backend = versions.get("keras_backend")
    facts = {"import_s": import_s, "versions": versions, "modes": tuple(module.MODES), "unavailable": unavailable,
             "gpu": gpu_name(module), "keras_backend": backend}
    return module, facts


def _fresh_caches(job: WorkerJob, run: int | str) -> None:
    """An empty compilation-cache folder for each run: nothing compiled by an earlier run (in an
    earlier process, or for another mode or device in this one) can be found on disk. The
    variables are the library's CACHE_ENV (PyTorch's Inductor and Triton read theirs each time
    they look for their cache)."""
    if job.cache_dir:
        os.environ.update({variable: os.path.join(job.cache_dir, f"run-{run}", name) for variable, name in job.cache_env.items()})


def _measure(module, request: RunRequest, debug: bool, phase: Callable[[str], None] = lambda _: None) -> RunResult:
    from shared.harness.memory import DevicePeak, host_peak_rss, reset_host_peak
    from shared.harness.timing import time_runner

    library = module.versions().get("keras_backend") or module.NAME
    device_peak = DevicePeak(module, request.device, library)
    device_peak.start()
    per_run = reset_host_peak()
    try:
        phase("preparing")
        if request.mode == "book":
            from implementations.book import book_runner

            runner = book_runner(request.problem.spec.sizes, request.seed)
        else:
            if request.mode == "compiled":  # the library's one-time machine checks, before anything is timed
                module.probe_machine(request.device)
            runner = module.prepare(request.problem, request.mode, request.device)
        timed = time_runner(runner, request.problem.schedule.steps, request.repeat, phase)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        return RunResult("failed", one_line(exc))
    peak, note = device_peak.result()
    return RunResult("ok", timed=timed, peak_rss_bytes=host_peak_rss(),
                     peak_rss_scope="this run" if per_run else "worker lifetime",
                     peak_device_bytes=peak, peak_device_note=note, info=dict(timed.first.info))


def worker_main(conn: Connection, job: WorkerJob) -> None:
    """The worker process's entry point."""
    _prepare_process(job)
    try:
        module, facts = _load(job)
    except Exception as exc:
        if job.debug:
            traceback.print_exc()
        conn.send(("import_failed", f"import failed: {one_line(exc)}"))
        return
    conn.send(("loaded", facts))
    for run in itertools.count():
        request = conn.recv()
        if request is None:
            return
        _fresh_caches(job, run)
        conn.send(("run", request.perform(module, job.debug, lambda phase: conn.send(("phase", phase)))))


# ---------------------------------------------------------------- in the harness


class Worker:
    """One worker process, seen from the harness. Use as a context manager: it is always gone
    (with its process group) when the block ends, however it ends."""

    def __init__(self, job: WorkerJob, timeout: float = DEFAULT_TIMEOUT_S):
        """Start the worker, with a fresh folder for its compilation caches (removed when it goes)."""
        from shared.harness import registry

        self.job = replace(job, cache_dir=tempfile.mkdtemp(prefix="nn-rosetta-cache-"), mark=new_mark(),
                           environment=registry.thread_environment(job.target, job.threads),
                           import_env=registry.import_environment(job.target, job.dtype),
                           cache_env=registry.cache_folders(job.target))
        self.timeout = timeout
        become_subreaper()  # the worker's helpers that outlive it come back here to be reaped
        try:
            context = multiprocessing.get_context("spawn")
            self.conn, child = context.Pipe()
            self.process = context.Process(target=worker_main, args=(child, self.job), name=f"nn-rosetta {job.target}")
            self.process.start()
            child.close()
        except BaseException:
            shutil.rmtree(self.job.cache_dir, ignore_errors=True)
            raise

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:  # an interrupt or an error here: no grace period, the worker may be mid-run
            self.kill()

    def receive(self, what: str, on_phase: Callable[[str], None] = lambda _: None) -> tuple:
        """The worker's next answer; WorkerDiedError if it ends or does not answer within the
        timeout. Progress messages on the way ("phase", "first call") go to `on_phase` and do not
        extend the timeout: it bounds the whole answer."""
        deadline = time.monotonic() + self.timeout
        while True:
            ready = wait([self.conn, self.process.sentinel], timeout=max(deadline - time.monotonic(), 0))
            if self.conn not in ready:
                break
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            if message[0] != "phase":
                return message
            on_phase(message[1])
        if not ready:
            self.kill()
            raise WorkerDiedError(f"no answer in {self.timeout:g} s {what} (--timeout); worker stopped")
        self.process.join(STOP_GRACE_S)
        code = self.process.exitcode
        self.kill()
        raise WorkerDiedError(f"{exit_reason(code)} {what}")

    def run(self, request, on_phase: Callable[[str], None] = lambda _: None):
        """One request (its `perform` runs in the worker), and what that returned. WorkerGoneError
        if the worker had already ended (after answering the last request: that run stands, the
        next one needs a new worker), WorkerDiedError if it ends now."""
        if not self.process.is_alive():
            self.kill()
            raise WorkerGoneError(exit_reason(self.process.exitcode))
        try:
            self.conn.send(request)
        except OSError:
            self.process.join(STOP_GRACE_S)
            self.kill()
            raise WorkerGoneError(exit_reason(self.process.exitcode)) from None
        kind, result = self.receive(f"while running {request.mode} on {request.device}", on_phase)
        return result

    def kill(self, seen: list[int] | tuple[int, ...] = ()) -> None:
        """SIGKILL the worker's whole process group, wait until every process it started has
        exited and been reaped (shared/harness/processes.py), then reap the worker itself. `seen`: what
        it had started, found while it was alive (see `close`)."""
        pid = self.process.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            if self.process.exitcode is None:  # not reaped yet: the pid is still the worker's
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            end_group(pid, self.job.mark, seen=seen)  # returns once the worker too has exited: it only awaits its reaping
        self.process.join(STOP_GRACE_S)
        if self.job.cache_dir:
            shutil.rmtree(self.job.cache_dir, ignore_errors=True)

    def close(self) -> None:
        """Ask the worker to exit; kill it (and its group) if it does not, or on any error."""
        seen: list[int] = []
        if self.process.is_alive():
            # What it started, found now: a helper in a session of its own that exits with the
            # worker can no longer be recognised afterwards, yet is ours to reap.
            seen = [pid for pid, _, _ in members(self.process.pid, self.job.mark)]
            with contextlib.suppress(Exception):
                self.conn.send(None)
                self.process.join(STOP_GRACE_S)
        self.kill(seen)  # helpers the worker started (its process group) go too
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.close()

