"""Data-parallel training on each library's own distributed engine, seen from the harness.

Every engine runs as H "host" processes (`python -m shared.studies.parallel_host`), started here as
separate hosts of a cluster would be, coordinating over 127.0.0.1 on ports taken free just
before the start. Inside a host the engine drives its N/H workers its own way
(implementations/<library>/parallel.py): PyTorch and MLX start one process per worker, JAX, TensorFlow and
Keras one device per worker. Each global batch of the schedule is split into N equal, contiguous
parts, one per worker, and the engine's collective averages the gradients; the result must
equal the single-process NumPy run on the same global batches.

Every host has its own process group and dies with the harness (PDEATHSIG); every wait here is
bounded by the run's timeout, and a host that fails ends the others at once (they would wait
for it in their next collective).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from shared.contract.errors import UsageError
from shared.harness import registry
from shared.harness.processes import become_subreaper, end_group, marked_env, members, new_mark

KILL_GRACE_S = 5.0
PORT_TRIES = 3  # runs on fresh ports when another process took one before the hosts bound it
EXIT_GRACE_S = 10.0  # how long hosts that have written their results may take to exit
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class Layout:
    """Where the workers are: N workers over H hosts, N/H on each, and this process's place."""

    workers: int
    hosts: int
    addresses: tuple[str, ...]  # "127.0.0.1:port" per host; the first is the coordinator
    timeout_s: float
    host: int = 0
    local_rank: int = 0  # PyTorch, MLX: this process's worker on its host; the others drive all of theirs
    # "127.0.0.1:port" per worker, for an engine whose every worker listens (its LISTENS = "worker": MLX's
    # ring); then each host's address is its first worker's. Empty for the others.
    worker_addresses: tuple[str, ...] = ()
    # The launcher that started this process with its place in the run (torchrun, mlx.launch,
    # TF_CONFIG, coordinator: shared/studies/launchers.py), or None where the harness started it
    # and the engine sets what the launcher would have.
    launcher: str | None = None

    @property
    def local_workers(self) -> int:
        return self.workers // self.hosts

    @property
    def rank(self) -> int:
        """The global index of this process's (first) worker."""
        return self.host * self.local_workers + self.local_rank

    @property
    def coordinator(self) -> str:
        return self.addresses[0]

    @property
    def ports(self) -> list[int]:
        """Every port handed out for the run, each once."""
        return sorted({int(a.rsplit(":", 1)[1]) for a in (*self.addresses, *self.worker_addresses)})


def new_layout(engine: str, workers: int, hosts: int, timeout_s: float) -> Layout:
    """N workers over H hosts, on ports taken free now: one per host, or one per worker where the
    engine's every worker listens for its peers (its file's LISTENS = "worker")."""
    per_worker = registry.ENGINES[engine].listens == "worker"
    addresses = tuple(f"127.0.0.1:{p}" for p in free_ports(workers if per_worker else hosts))
    if per_worker:
        return Layout(workers, hosts, addresses[::workers // hosts], timeout_s, worker_addresses=addresses)
    return Layout(workers, hosts, addresses, timeout_s)


@dataclass(frozen=True)
class HostJob:
    """What every host process of one run reads from the run's folder."""

    engine: str
    module: str
    layout: Layout
    problem: object  # shared.contract.interface.Problem (not imported here: the harness stays light)
    repeat: int
    launched_at: float  # time.time() just before the first host was started
    debug: bool = False
    hide: tuple[str, ...] = ()  # kept out while a process imports the engine (registry.foreign_packages of its target)


@dataclass
class HostResult:
    """What one host process writes back (host 0's output is the one compared)."""

    status: str  # "ok", "failed" or "skipped"
    reason: str | None = None
    output: object = None  # shared.contract.interface.TrainOutput
    first_call_s: float | None = None
    step_s: list[float] = field(default_factory=list)
    joined_at: float | None = None  # time.time() when the rendezvous was done
    info: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    host: int = 0
    local_rank: int | None = 0  # the worker process on its host that wrote it (None: the host itself)
    at: float = field(default_factory=time.time)  # when it was written: the earliest failure is the cause


def check_layout(workers: int, hosts: int, batch: int, samples: int, per_sample_task: bool) -> None:
    """Bad layouts are usage errors, found before anything starts. `samples`: the training set's size."""
    if workers < 1:
        raise UsageError(f"--workers {workers}: needs at least one worker")
    if hosts < 1:
        raise UsageError(f"--hosts {hosts}: needs at least one host")
    if workers % hosts:
        extra = " (one worker always runs, on one host, as the baseline: leave 1 out of --workers)" if workers == 1 else ""
        raise UsageError(f"--hosts {hosts} does not divide --workers {workers}: every host runs the same number of "
                         f"workers{extra}")
    if workers > 1 and batch == 1:
        what = "per-sample SGD (batch 1, the XOR task's default)" if per_sample_task else "a batch of 1"
        raise UsageError(f"--workers {workers}: {what} cannot be split across workers; give --batch-size "
                         f"a multiple of {workers}, or choose another --task")
    if batch % workers:
        below, above = batch // workers * workers, (batch // workers + 1) * workers
        sizes = " or ".join(str(b) for b in (below, above) if 0 < b <= samples)
        fits = [n for n in range(1, batch + 1) if batch % n == 0]
        raise UsageError(f"--workers {workers} does not divide the global batch of {batch} samples: give --batch-size "
                         f"a multiple of {workers}" + (f" (e.g. {sizes})" if sizes else "") +
                         f", or use a worker count that divides {batch}: {', '.join(map(str, fits))}")


def usable_cpus() -> int:
    """The cores this process may run on (a container or taskset can allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_ports(count: int) -> list[int]:
    """Ports the kernel has just handed out as free (held open together so that they differ).
    They are free again from the moment this returns until a host binds one, seconds later:
    `run_engine` runs again on fresh ports when another process took one in between."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_taken(port: int) -> bool:
    """Whether a process is listening on `port` now, on any address (JAX's coordinator binds
    [::]), read from the kernel's socket tables. Called once the run's hosts are gone, so the
    listener is another process's. A socket of our own hosts left in TIME_WAIT is not listening
    and does not count (a bind test would count it whenever the engine's listener lacks
    SO_REUSEADDR)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    return True
    return False


def host_env(engine: str, dtype: str, mark: str) -> dict[str, str]:
    """The environment a host starts with: what its library reads once, when imported, and the
    run's mark (shared/harness/processes.py), inherited by everything the host starts."""
    env = marked_env(mark)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    apply_engine_environment(env, engine, dtype)
    return env


def apply_engine_environment(env, engine: str, dtype: str) -> None:
    """What an engine's library reads once, when imported, set in `env` (a host's, or a launched
    process's own os.environ before its import): as a worker of its library sets them (a Keras
    engine: its backend's too), then the engine's own HOST_ENV."""
    registry.apply_environment(env, registry.import_environment(registry.ENGINES[engine].target, dtype))
    env.update(registry.ENGINES[engine].host_env)


def host_job(engine: str, layout: Layout, problem, repeat: int, launched_at: float, debug: bool = False) -> HostJob:
    """The job of a run's hosts: the engine's module, and what stays hidden while it is imported
    (the other libraries, as in a worker: registry.foreign_packages of the engine's target, less
    what the engine's own file imports)."""
    found = registry.ENGINES[engine]
    hide = registry.foreign_packages(found.target, found.imports)
    return HostJob(engine, found.module, layout, problem, repeat, launched_at, debug, hide)


class HostGroup:
    """The H host processes of one run. A context manager: when the block ends, however it
    ends, every host and everything it started (its process group) is gone, and so is the
    run's folder."""

    def __init__(self, engine: str, layout: Layout, problem, repeat: int, debug: bool = False):
        self.folder = tempfile.mkdtemp(prefix="nn-rosetta-parallel-")
        self.layout, self.processes = layout, []
        self.logs: list = []
        self.exited: list[int] = []  # hosts, in the order they were seen to end
        self.hung: list[int] = []  # hosts stopped after writing their result
        self.timed_out: list[int] = []  # hosts still running at the timeout
        self.mark = new_mark()
        become_subreaper()  # the hosts' workers that outlive their host come back here to be reaped
        try:
            self.launched_at = time.time()
            job = host_job(engine, layout, problem, repeat, self.launched_at, debug)
            with open(os.path.join(self.folder, "job.pickle"), "wb") as f:
                pickle.dump(job, f)
            env = host_env(engine, problem.spec.dtype, self.mark)
            for host in range(layout.hosts):
                log = open(os.path.join(self.folder, f"host-{host}.log"), "w+b")  # noqa: SIM115 (closed in close)
                self.logs.append(log)
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "shared.studies.parallel_host", self.folder, str(host)], cwd=ROOT, env=env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> HostGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait(self) -> None:
        """Wait for every host, at most the layout's timeout. A host that exits with an error
        ends the others at once (they would wait for it in their next collective); hosts that
        have all written their results but do not exit are stopped after a grace period."""
        deadline = time.monotonic() + self.layout.timeout_s
        written_since = None
        while True:
            for host, p in enumerate(self.processes):
                if p.poll() is not None and host not in self.exited:
                    self.exited.append(host)  # in the order they ended: the first to fail is the cause
            if len(self.exited) == len(self.processes):
                break
            if any(self.processes[h].returncode for h in self.exited):
                time.sleep(0.5)  # let the failing host's own reason reach its result file
                break
            if all(os.path.exists(self._path(h, 0)) for h in range(self.layout.hosts)):
                written_since = written_since or time.monotonic()
                if time.monotonic() - written_since > EXIT_GRACE_S:
                    self.hung = [h for h in range(self.layout.hosts) if h not in self.exited]
                    break
            if time.monotonic() > deadline:
                self.timed_out = [h for h in range(self.layout.hosts) if h not in self.exited]
                break
            time.sleep(0.05)
        self.stop()

    def _path(self, host: int, rank: int | None) -> str:
        return os.path.join(self.folder, f"result-{host}-{'host' if rank is None else rank}.pickle")

    def results(self) -> list[HostResult]:
        """Every result written: each worker process's, and a host's own when its launch failed."""
        found = []
        for name in sorted(os.listdir(self.folder)):
            if name.startswith("result-") and name.endswith(".pickle"):
                with open(os.path.join(self.folder, name), "rb") as f:
                    found.append(pickle.load(f))
        return found

    def logs_text(self) -> str:
        """Every host's output, for --debug."""
        parts = []
        for host in range(self.layout.hosts):
            with contextlib.suppress(OSError), open(os.path.join(self.folder, f"host-{host}.log"), "rb") as f:
                parts.append(f"----- host {host} -----\n" + f.read().decode(errors="replace"))
        return "\n".join(parts)

    def exit_reason(self, host: int) -> str:
        """How a host that wrote no result ended: its exit status and the last line it printed."""
        code = self.processes[host].returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"host {host} killed by {signal.Signals(-code).name}"
        last = self.log_tail(host)
        return f"host {host} exited with status {code}" + (f": {last}" if last else "")

    def log_tail(self, host: int) -> str:
        path = os.path.join(self.folder, f"host-{host}.log")
        with contextlib.suppress(OSError), open(path, "rb") as f:
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
            return lines[-1][:300] if lines else ""
        return ""

    def stop(self) -> None:
        """SIGKILL every host's process group and what carries the run's mark, wait until all of
        it has exited (reaping the harness's orphans), then reap the hosts through their Popen
        objects, which keep their exit status: nothing of the run outlives this call."""
        hosts = [p.pid for p in self.processes]
        seen = [pid for host in hosts for pid, _, _ in members(host, self.mark)]  # before any of them can exit
        for p in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in self.processes:
            end_group(p.pid, self.mark, keep=hosts, seen=seen)  # returns once the hosts too have exited
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(KILL_GRACE_S)

    def close(self) -> None:
        """Stop the hosts, then remove the run's folder (kept with NN_ROSETTA_KEEP_PARALLEL_LOGS=1)."""
        self.stop()
        for log in self.logs:
            with contextlib.suppress(OSError):
                log.close()
        if not os.environ.get("NN_ROSETTA_KEEP_PARALLEL_LOGS"):
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Outcome:
    """One run of one engine and layout, as the harness saw it."""

    status: str
    reason: str | None
    layout: Layout
    launched_at: float
    chief: HostResult | None = None  # host 0's first worker: the result compared with the reference
    replicas: list[HostResult] = field(default_factory=list)  # every other worker process's result
    note: str | None = None


def _where(result: HostResult, layout: Layout) -> str:
    """"host 1: ", "worker 3: " or nothing, for a reason that comes from one process."""
    if result.local_rank:
        return f"worker {result.host * layout.local_workers + result.local_rank}: "
    return f"host {result.host}: " if layout.hosts > 1 else ""


def run_engine(engine: str, workers: int, hosts: int, problem, repeat: int, timeout_s: float,
               debug: bool = False) -> Outcome:
    """One run of one engine on N workers over H hosts, every process gone when it returns. A run
    that failed while another process held one of its ports runs again on fresh ones."""
    taken: list[int] = []
    for _ in range(PORT_TRIES):
        layout = new_layout(engine, workers, hosts, timeout_s)
        ports = layout.ports
        with HostGroup(engine, layout, problem, repeat, debug) as group:
            group.wait()
            outcome = _outcome(group, layout)
            if debug and outcome.status == "failed":
                print(group.logs_text(), file=sys.stderr)
        # The hosts are gone: a port still held now is another process's, and explains the failure.
        lost = [p for p in ports if outcome.status == "failed" and port_taken(p)]
        if not lost:
            break
        taken += lost
    if taken:
        said = f"port{'s' if len(taken) > 1 else ''} {', '.join(map(str, taken))} taken by another process before " \
               f"the hosts bound {'them' if len(taken) > 1 else 'it'}"
        if outcome.status == "failed":
            outcome.reason = f"{outcome.reason} ({said}; tried {PORT_TRIES} times)"
        else:
            outcome.note = "; ".join(filter(None, [outcome.note, f"{said}; ran again on fresh ports"]))
    return outcome


def _outcome(group: HostGroup, layout: Layout) -> Outcome:
    results = group.results()
    chiefs = {r.host: r for r in results if r.local_rank == 0}
    outcome = Outcome("ok", None, layout, group.launched_at, chiefs.get(0),
                      [r for r in results if r.local_rank is not None and r is not chiefs.get(0)])
    failures = sorted((r for r in results if r.status == "failed"), key=lambda r: r.at)
    first_exit = next((h for h in group.exited if group.processes[h].returncode), None)
    if failures:  # the earliest error is the cause; the others followed from it
        outcome.status, outcome.reason = "failed", _where(failures[0], layout) + (failures[0].reason or "")
    elif first_exit is not None:  # ended without saying why (a crash, os._exit)
        outcome.status, outcome.reason = "failed", group.exit_reason(first_exit)
    elif group.timed_out:
        last = "; ".join(f"host {h}: {group.log_tail(h) or 'no output'}" for h in group.timed_out)
        outcome.status = "failed"
        outcome.reason = f"not finished after {layout.timeout_s:g} s (--timeout); hosts stopped; still running: {last}"
    elif any(h not in chiefs for h in range(layout.hosts)):
        missing = min(h for h in range(layout.hosts) if h not in chiefs)
        outcome.status, outcome.reason = "failed", group.exit_reason(missing)
    elif any(r.status == "skipped" for r in chiefs.values()):
        outcome.status, outcome.reason = "skipped", next(r.reason for r in chiefs.values() if r.status == "skipped")
    if group.hung and outcome.status == "ok":
        outcome.note = f"host {', '.join(map(str, group.hung))} did not exit after its result; stopped"
    return outcome
