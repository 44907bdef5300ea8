"""Data-parallel training on each library's own distributed engine, seen from the harness.

Every engine runs as H "host" processes (`python -m shared.parallel_host`), started here as
separate hosts of a cluster would be, coordinating over 127.0.0.1 on ports taken free just
before the start. Inside a host the engine drives its N/H workers its own way
(implementations/parallel/): PyTorch starts one process per worker, JAX, TensorFlow and Keras
one device per worker. Each global batch of the schedule is split into N equal, contiguous
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

from shared.errors import UsageError

ENGINES = ("torch", "jax", "tensorflow", "keras")
MODULES = {name: f"implementations.parallel.{name}_parallel" for name in ENGINES}
PACKAGES = {"torch": ("torch",), "jax": ("jax",), "tensorflow": ("tensorflow",), "keras": ("keras", "jax")}
INSTALL = {"torch": "pip install torch==2.13.0", "jax": "pip install jax", "tensorflow": "pip install tensorflow==2.21.0",
           "keras": "pip install keras jax"}
ENGINE_NAMES = {"torch": "PyTorch DistributedDataParallel (gloo)", "jax": "JAX jit over a NamedSharding mesh",
                "tensorflow": "TensorFlow MirroredStrategy (one host), MultiWorkerMirroredStrategy (several hosts)",
                "keras": "Keras DataParallel (JAX backend)"}
EXTRA: list[str] = []  # engines registered at run time (the tests' deliberately broken ones)
KILL_GRACE_S = 5.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Layout:
    """Where the workers are: N workers over H hosts, N/H on each, and this process's place."""

    workers: int
    hosts: int
    addresses: tuple[str, ...]  # "127.0.0.1:port" per host; the first is the coordinator
    timeout_s: float
    host: int = 0
    local_rank: int = 0  # PyTorch: this process's worker on its host; the others drive all of theirs

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


@dataclass(frozen=True)
class HostJob:
    """What every host process of one run reads from the run's folder."""

    engine: str
    module: str
    layout: Layout
    problem: object  # shared.interface.Problem (not imported here: the harness stays light)
    repeat: int
    launched_at: float  # time.time() just before the first host was started
    debug: bool = False


@dataclass
class HostResult:
    """What one host process writes back (host 0's output is the one compared)."""

    status: str  # "ok", "failed" or "skipped"
    reason: str | None = None
    output: object = None  # shared.interface.TrainOutput
    first_call_s: float | None = None
    step_s: list[float] = field(default_factory=list)
    joined_at: float | None = None  # time.time() when the rendezvous was done
    info: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)


def check_layout(workers: int, hosts: int, batch: int, per_sample_task: bool) -> None:
    """Bad layouts are usage errors, found before anything starts."""
    if workers < 1:
        raise UsageError(f"--workers {workers}: needs at least one worker")
    if hosts < 1:
        raise UsageError(f"--hosts {hosts}: needs at least one host")
    if workers % hosts:
        raise UsageError(f"--hosts {hosts} does not divide --workers {workers}: every host runs the same number of workers")
    if workers > 1 and batch == 1:
        what = "per-sample SGD (batch 1, the XOR task's default)" if per_sample_task else "a batch of 1"
        raise UsageError(f"--workers {workers}: {what} cannot be split across workers; give --batch-size "
                         f"a multiple of {workers}, or choose another --task")
    if batch % workers:
        fits = [n for n in range(1, batch + 1) if batch % n == 0]
        raise UsageError(f"--workers {workers} does not divide the global batch of {batch} samples; "
                         f"worker counts that do: {', '.join(map(str, fits))} (or change --batch-size)")


def register(name: str, module: str, packages: tuple[str, ...] = ("numpy",), engine_name: str = "a test engine") -> None:
    """Add an engine that is not shipped (the tests' engines that hang or fail on purpose)."""
    if name not in MODULES:
        EXTRA.append(name)
    MODULES[name], PACKAGES[name], ENGINE_NAMES[name] = module, packages, engine_name
    INSTALL[name] = "pip install " + " ".join(packages)


def known() -> tuple[str, ...]:
    return (*ENGINES, *EXTRA)


def missing(engine: str) -> str | None:
    import importlib.util

    for package in PACKAGES[engine]:
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed; install it with: {INSTALL[engine]}"
    return None


def free_ports(count: int) -> list[int]:
    """Ports the kernel has just handed out as free (held open together so that they differ)."""
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


def host_env(engine: str, dtype: str) -> dict[str, str]:
    """The environment a host starts with: what its library reads once, when imported."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env["NN_ROSETTA_PARENT"] = str(os.getpid())
    if engine == "keras":
        env["KERAS_BACKEND"] = "jax"
    if dtype == "float64":
        env["JAX_ENABLE_X64"] = "1"
    else:
        env.pop("JAX_ENABLE_X64", None)
    return env


class HostGroup:
    """The H host processes of one run. A context manager: when the block ends, however it
    ends, every host and everything it started (its process group) is gone, and so is the
    run's folder."""

    def __init__(self, engine: str, layout: Layout, problem, repeat: int, debug: bool = False):
        self.folder = tempfile.mkdtemp(prefix="nn-rosetta-parallel-")
        self.engine, self.layout, self.processes = engine, layout, []
        self.logs: list = []
        try:
            self.launched_at = time.time()
            job = HostJob(engine, MODULES[engine], layout, problem, repeat, self.launched_at, debug)
            with open(os.path.join(self.folder, "job.pickle"), "wb") as f:
                pickle.dump(job, f)
            env = host_env(engine, problem.spec.dtype)
            for host in range(layout.hosts):
                log = open(os.path.join(self.folder, f"host-{host}.log"), "w+b")  # noqa: SIM115 (closed in kill)
                self.logs.append(log)
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "shared.parallel_host", self.folder, str(host)], cwd=ROOT, env=env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> HostGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait(self) -> list[HostResult | None]:
        """Wait for every host, at most the layout's timeout; a host that fails ends the
        others at once. Returns each host's result (None where it wrote none)."""
        deadline = time.monotonic() + self.layout.timeout_s
        while True:
            codes = [p.poll() for p in self.processes]
            if all(c is not None for c in codes):
                break
            if any(c not in (None, 0) for c in codes):
                time.sleep(0.5)  # let the failing host's peers write their own reason first
                break
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"not finished after {self.layout.timeout_s:g} s (--timeout); hosts stopped")
            time.sleep(0.05)
        self.stop()
        return [self._result(host) for host in range(self.layout.hosts)]

    def _result(self, host: int) -> HostResult | None:
        path = os.path.join(self.folder, f"result-{host}.pickle")
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return pickle.load(f)

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
        """SIGKILL every host's process group and reap the hosts."""
        for p in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in self.processes:
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
    results: list[HostResult | None] = field(default_factory=list)  # one per host, None where none was written

    @property
    def chief(self) -> HostResult | None:
        """Host 0's result: the one compared with the reference."""
        return self.results[0] if self.results else None


def run_engine(engine: str, workers: int, hosts: int, problem, repeat: int, timeout_s: float,
               debug: bool = False) -> Outcome:
    """One run of one engine on N workers over H hosts, every process gone when it returns."""
    ports = free_ports(hosts)
    layout = Layout(workers, hosts, tuple(f"127.0.0.1:{p}" for p in ports), timeout_s)
    with HostGroup(engine, layout, problem, repeat, debug) as group:
        try:
            results = group.wait()
        except TimeoutError as exc:
            return Outcome("failed", str(exc), layout, group.launched_at)
        reasons = [group.exit_reason(host) for host in range(hosts)]
    outcome = Outcome("ok", None, layout, group.launched_at, results)
    # The first host to say why it stopped explains the run; hosts stopped because of it wrote nothing.
    for status in ("failed", "skipped"):
        for host, result in enumerate(results):
            if result is not None and result.status == status:
                where = f"host {host}: " if hosts > 1 and status == "failed" else ""
                outcome.status, outcome.reason = status, where + (result.reason or "")
                return outcome
    for host, result in enumerate(results):
        if result is None:
            outcome.status, outcome.reason = "failed", reasons[host]
            return outcome
    return outcome
