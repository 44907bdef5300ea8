"""`compare.py parallel --launched`: every engine started by its library's own launcher, with
independently started processes on 127.0.0.1, ends bit for bit where the harness's run of the
same layout ends, and in parity with NumPy; bad launches fail in one line, within --timeout,
with no process left behind. Short schedules throughout."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import problem_for

from shared.contract.errors import UsageError
from shared.contract.interface import TrainOutput
from shared.harness import registry
from shared.studies import parallel
from shared.studies.launched import fingerprint
from shared.studies.launchers import Launch, read_layout
from shared.studies.parallel import free_ports

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MARK = "NN_ROSETTA_LAUNCH_TEST"
STEPS = ["--steps", "30", "--repeat", "1"]
ENGINES = ["torch", "mlx", "tensorflow", "jax", "keras"]


def needs(engine: str):
    return pytest.mark.skipif(registry.engine_missing(engine) is not None, reason=registry.engine_missing(engine) or "")


def engine_params(*engines: str):
    return [pytest.param(e, marks=needs(e)) for e in engines]


def left_behind(mark: str) -> list[int]:
    """Live processes (not zombies) whose environment carries this test's mark."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def none_left(mark: str, within_s: float = 5.0) -> list[int]:
    """left_behind(mark) once it is empty, or as it is after `within_s`: a watchdog process ends
    when it sees its parent go, which takes a moment after the parent's exit, more under load."""
    deadline = time.monotonic() + within_s
    while (found := left_behind(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def by_hand(engine: str, rank: int, world: int, ports: list[int], folder: Path) -> tuple[dict, list[str]]:
    """The environment and flags a process gets from its launcher, written out as that launcher
    would (one process per node): torchrun's variables, mlx.launch's rank and hostfile,
    TF_CONFIG, or JAX's coordinator flags."""
    if engine == "torch":
        return {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
                "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(ports[0])}, []
    if engine == "mlx":
        hostfile = folder / "hostfile.json"
        hostfile.write_text(json.dumps([[f"127.0.0.1:{p}"] for p in ports[:world]]))
        return {"MLX_RANK": str(rank), "MLX_HOSTFILE": str(hostfile)}, []
    if engine == "tensorflow":
        return {"TF_CONFIG": json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports[:world]]},
                                         "task": {"type": "worker", "index": rank}})}, []
    return {}, ["--coordinator", f"127.0.0.1:{ports[0]}", "--num-processes", str(world), "--process-id", str(rank)]


class Processes:
    """Processes started for one test, each in a session of its own and with the test's mark;
    every one of them (and all they started) killed when the test ends."""

    def __init__(self):
        self.mark, self.started = uuid.uuid4().hex, []

    def start(self, command: list[str], env: dict | None = None) -> subprocess.Popen:
        full = os.environ | {MARK: self.mark, "PYTHONUNBUFFERED": "1"} | (env or {})
        proc = subprocess.Popen(command, cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.started.append(proc)
        return proc

    def compare(self, engine: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        return self.start([sys.executable, "compare.py", "parallel", "--launched", "--frameworks", engine, *args], env)

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        for pid in left_behind(self.mark):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def processes():
    started = Processes()
    yield started
    started.close()


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    proc.out, proc.err = out, err
    return out, err


def said(err: str) -> list[str]:
    """What the process said on stderr, without the libraries' own start-up logging (TensorFlow's
    and XLA's absl lines, gloo's connection notes, torchrun's warnings)."""
    noise = re.compile(r"^([IWE]\d{4} |WARNING: All log messages|\[Gloo\]|\*{5})")
    return [line for line in err.splitlines() if line.strip() and not noise.match(line)]


README = ROOT / "README.md"
BLOCK_ENGINES = {"PyTorch": "torch", "MLX": "mlx", "TensorFlow": "tensorflow", "JAX": "jax"}


def readme_commands() -> dict[str, tuple[list[str], str | None]]:
    """The README's commands for two machines, per engine: the command lines of its block
    (continuations joined) and, for MLX, the hostfile its comment shows."""
    found = {}
    for block in re.findall(r"```bash\n(# (?:PyTorch|MLX|TensorFlow|JAX)\b.*?)```", README.read_text(), re.S):
        engine = BLOCK_ENGINES[re.match(r"# (\w+)", block).group(1)]
        lines = block.replace("\\\n", " ").splitlines()
        hostfile = next((line[2:] for line in lines if line.startswith("# [")), None)
        found[engine] = ([" ".join(line.split()) for line in lines if line.strip() and not line.startswith("#")], hostfile)
    return found


def consecutive_free_ports() -> int:
    """A free port P with P + 1 free too (mlx.launch gives rank r the port P + r)."""
    for _ in range(50):
        (port,) = free_ports(1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


# Each README block on one machine: both machines' addresses become 127.0.0.1 on free ports.
LAUNCHES = {  # name → (engine, the README block it runs, the harness layout (workers, hosts) it must equal)
    "torch": ("torch", "torch", (2, 2)),
    "torch-standalone": ("torch", None, (2, 1)),  # torchrun --standalone --nproc-per-node 2
    "mlx": ("mlx", "mlx", (2, 1)),  # both ranks on one IP: one host of two workers
    "tensorflow": ("tensorflow", "tensorflow", (2, 2)),
    "jax": ("jax", "jax", (2, 2)),
    "keras": ("keras", "jax", (2, 2)),  # the JAX block with --frameworks keras, as the README says
}


def launch(processes: Processes, name: str, folder: Path, extra: list[str]) -> list[subprocess.Popen]:
    """A two-process run as the README starts it, on 127.0.0.1 (or torchrun --standalone)."""
    engine, block, _ = LAUNCHES[name]
    if block is None:
        return [processes.start([str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "compare.py",
                                 "parallel", "--launched", "--frameworks", "torch", *STEPS, *extra])]
    (command,), hostfile = readme_commands()[block]
    first = consecutive_free_ports()
    here = {"10.0.0.1:2222": f"127.0.0.1:{first}", "10.0.0.2:2222": f"127.0.0.1:{first + 1}",
            "10.0.0.1:1234": f"127.0.0.1:{first}", "10.0.0.1": "127.0.0.1", "10.0.0.2": "127.0.0.1",
            "29500": str(first), "32323": str(first), ".venv/bin/": f"{BIN}/", "hosts.json": str(folder / "hosts.json"),
            "--frameworks jax": f"--frameworks {engine}"}

    def local(text: str) -> str:
        for there, replaced in here.items():
            text = text.replace(there, replaced)
        return text

    if hostfile:
        (folder / "hosts.json").write_text(local(hostfile))
    line = " ".join([local(command), *STEPS, *extra])
    if engine == "mlx":  # once, on the first machine: it starts both ranks
        return [processes.start(["bash", "-c", line])]
    return [processes.start(["bash", "-c", line], {"R": str(m), "I": str(m)}) for m in range(2)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(e)) for n, (e, _, _) in LAUNCHES.items()])
def test_every_engine_under_its_own_launcher_ends_where_the_harness_run_ends(name, processes, tmp_path):
    engine, _, (workers, hosts) = LAUNCHES[name]
    report = tmp_path / "report.json"
    started = launch(processes, name, tmp_path, ["--json", str(report)])
    outputs = [finish(p, 200) for p in started]
    for proc in started:
        assert proc.returncode == 0, said(proc.err)[-5:]
    text = "\n".join(out + err for out, err in outputs)
    others = re.findall(r"rank 1 of 2 \(([^)]+)\): trained 30 steps, weights and predictions sha256 ([0-9a-f]{16})", text)
    written = json.loads(report.read_text())
    row = written["rows"][0]
    assert written["ok"] and row["status"] == "ok" and row["parity_ok"], row
    assert (row["engine"], row["workers"], row["hosts"]) == (engine, workers, hosts)
    assert row["replicas_ok"] is None and row["processes_compared"] == 1  # the other ranks print, rank 0 compares itself
    assert others == [(written["launched"]["launcher"], written["launched"]["fingerprint"])]
    harness = parallel.run_engine(engine, workers, hosts, problem_for("digits", steps=30), 1, timeout_s=120)
    assert harness.status == "ok", harness.reason
    assert fingerprint(harness.chief.output) == written["launched"]["fingerprint"]  # bit for bit
    assert none_left(processes.mark) == []


@pytest.mark.quick
def test_the_readme_has_a_block_for_every_engine_and_each_block_its_machines():
    blocks = readme_commands()
    assert set(blocks) == {"torch", "mlx", "tensorflow", "jax"}
    for engine, (commands, hostfile) in blocks.items():
        assert len(commands) == 1 and f"compare.py parallel --launched --frameworks {engine}" in commands[0], commands
        assert "10.0.0.1" in commands[0] + (hostfile or "") and (hostfile is None) == (engine != "mlx")
    assert json.loads(blocks["mlx"][1]) == [{"ssh": "10.0.0.1", "ips": ["10.0.0.1"]}, {"ssh": "10.0.0.2", "ips": ["10.0.0.2"]}]


def launched(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """One process with the given launcher environment (every other launcher's variable removed)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                                              "MASTER_ADDR", "MASTER_PORT", "MLX_RANK", "MLX_HOSTFILE",
                                                              "TF_CONFIG", "JAX_COORDINATOR_ADDRESS")}
    return subprocess.run([sys.executable, "compare.py", "parallel", "--launched", *argv], cwd=ROOT,
                          env=clean | (env or {}), capture_output=True, text=True, timeout=60)


TORCHRUN = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "29500"}
TF_TWO = {"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": "worker", "index": 0}}
JAX_TWO = ["--coordinator", "127.0.0.1:1234", "--num-processes", "2"]
BAD_LAUNCHES = [
    (["--frameworks", "torch"], {k: v for k, v in TORCHRUN.items() if k != "RANK"},
     "--launched: RANK is not set: start each process with torchrun (torchrun --nnodes"),
    (["--frameworks", "torch"], TORCHRUN | {"RANK": "2"}, "--launched: RANK=2 is out of range 0 to 1 (WORLD_SIZE=2)"),
    (["--frameworks", "torch"], TORCHRUN | {"WORLD_SIZE": "0"}, "--launched: WORLD_SIZE=0 must be at least 1"),
    (["--frameworks", "torch"], TORCHRUN | {"RANK": "one"}, "--launched: RANK='one' is not an integer"),
    (["--frameworks", "torch"], TORCHRUN | {"WORLD_SIZE": "3", "LOCAL_WORLD_SIZE": "3"},
     "3 workers (torchrun) do not divide the global batch of 32 samples: give --batch-size a multiple of 3, or start "
     "a number of workers that divides 32"),
    (["--frameworks", "mlx"], {"MLX_RANK": "2", "MLX_HOSTFILE": "HOSTFILE"},
     "--launched: MLX_RANK=2 is out of range 0 to 1 (the hostfile's 2 ranks)"),
    (["--frameworks", "mlx"], {"MLX_RANK": "0"}, "--launched: MLX_HOSTFILE is not set: start each process with mlx.launch"),
    (["--frameworks", "tensorflow"], {"TF_CONFIG": json.dumps(TF_TWO | {"task": {"type": "worker", "index": 2}})},
     "--launched: TF_CONFIG's task.index=2 is out of range 0 to 1 (its 2 workers)"),
    (["--frameworks", "tensorflow"], {"TF_CONFIG": json.dumps({"cluster": {"worker": ["127.0.0.1:2222"] * 2},
                                                                "task": {"type": "worker", "index": 1}})},
     "--launched: TF_CONFIG's cluster.worker names one address twice"),
    (["--frameworks", "jax", *JAX_TWO, "--process-id", "2"], {},
     "--launched: --process-id=2 is out of range 0 to 1 (--num-processes 2)"),
    (["--frameworks", "keras", *JAX_TWO], {}, "--launched: keras needs --process-id"),
    (["--frameworks", "jax", *JAX_TWO, "--process-id", "0", "--batch-size", "3"], {},
     "2 workers (coordinator) do not divide the global batch of 3 samples"),
    (["--frameworks", "torch", "--hosts", "2"], TORCHRUN, "--hosts goes without --launched"),
    (["--frameworks", "torch,jax"], TORCHRUN, "--launched runs one engine"),
]


@pytest.mark.quick
@pytest.mark.parametrize("argv, env, message", BAD_LAUNCHES, ids=[m[:40] for *_, m in BAD_LAUNCHES])
def test_a_launch_that_does_not_fit_is_refused_in_one_line_before_anything_starts(argv, env, message, tmp_path):
    if env.get("MLX_HOSTFILE") == "HOSTFILE":
        hostfile = tmp_path / "hostfile.json"
        hostfile.write_text(json.dumps([["127.0.0.1:5000"], ["127.0.0.1:5001"]]))
        env = env | {"MLX_HOSTFILE": str(hostfile)}
    done = launched(*argv, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.quick
def test_jax_flags_without_launched_are_refused():
    done = subprocess.run([sys.executable, "compare.py", "parallel", "--process-id", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--process-id goes with --launched" in done.stderr


TIMEOUT_S = 8

# For a wait that must reach the rendezvous before --timeout ends it: the deadline counts from
# the process's start, and importing TensorFlow beside another test can take 5 s or more here.
JOIN_TIMEOUT_S = 14


DIES_TIMEOUT_S = 25  # start-up, rendezvous and compilation fit well within it; JAX's collectives wait until it


@pytest.mark.timeout(180)
@pytest.mark.parametrize("engine", engine_params(*ENGINES))
def test_a_peer_that_dies_mid_run_ends_the_others_within_the_timeout(engine, processes, tmp_path):
    ports = free_ports(2)
    started = []
    for rank in range(2):
        env, flags = by_hand(engine, rank, 2, ports, tmp_path)
        started.append(processes.compare(engine, [*flags, "--steps", "100000", "--repeat", "1", "--timeout",
                                              str(DIES_TIMEOUT_S)], env))
    survivor, victim = started
    deadline = time.monotonic() + 60
    while "joined" not in (line := victim.stderr.readline()):  # the rendezvous is done: training has begun
        assert line and time.monotonic() < deadline, "rank 1 never joined"
    time.sleep(1.0)
    os.killpg(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    _, err = finish(survivor, 90)
    last = said(err)[-1]
    assert survivor.returncode != 0
    assert time.monotonic() - killed < DIES_TIMEOUT_S
    assert last.startswith("compare.py parallel: rank 0 of 2 ("), said(err)
    assert "while training" in last, last  # the engine's error, or the watchdog's
    assert none_left(processes.mark) == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("engine", engine_params(*ENGINES))
def test_a_rank_given_twice_fails_at_once_and_the_missing_peer_at_the_timeout(engine, processes, tmp_path):
    """Two processes given rank 0 of 2 on one machine: the later one says so and exits at once;
    the other waits for the rank 1 that nobody was given, until --timeout, and says so."""
    env, flags = by_hand(engine, 0, 2, free_ports(2), tmp_path)
    start = time.monotonic()
    first = processes.compare(engine, [*flags, *STEPS, "--timeout", str(JOIN_TIMEOUT_S)], env)
    second = processes.compare(engine, [*flags, *STEPS, "--timeout", str(JOIN_TIMEOUT_S)], env)
    errors = {p.pid: said(finish(p, 90)[1]) for p in (first, second)}
    took = time.monotonic() - start
    assert first.returncode != 0 and second.returncode != 0
    for lines in errors.values():
        assert len([line for line in lines if line.startswith("compare.py parallel: rank 0 of 2 (")]) == 1, lines
    twice, alone = sorted(errors.values(), key=lambda lines: "already held" not in lines[-1])
    assert "rank 0 of this rendezvous" in twice[-1] and "two processes were given one rank" in twice[-1], twice
    assert (f"not finished after {JOIN_TIMEOUT_S} s (--timeout) while waiting for the 1 other rank to join" in alone[-1]
            or "imed out" in alone[-1]), alone  # the watchdog, or the engine's own rendezvous timeout
    assert took < JOIN_TIMEOUT_S + 6, took  # the deadline counts from each process's start: its imports count too
    assert none_left(processes.mark) == []


@pytest.mark.timeout(120)
@needs("torch")
def test_a_torchrun_node_whose_peer_node_never_comes_ends_at_torchruns_rendezvous_timeout(processes, tmp_path):
    """torchrun's agents meet before any compare.py starts: the README's --rdzv-conf timeout bounds that wait."""
    (command,), _ = readme_commands()["torch"]
    assert "--rdzv-conf timeout=600" in command
    command = command.replace("timeout=600", f"timeout={TIMEOUT_S}").replace("10.0.0.1", "127.0.0.1")
    command = command.replace("29500", str(free_ports(1)[0])).replace(".venv/bin/", f"{BIN}/")
    start = time.monotonic()
    alone = processes.start(["bash", "-c", f"{command} {' '.join(STEPS)}"], {"R": "0"})
    finish(alone, 90)
    assert alone.returncode != 0 and time.monotonic() - start < TIMEOUT_S + 15
    assert "compare.py parallel: rank" not in alone.err  # no worker was started
    assert none_left(processes.mark) == []


def test_the_fingerprint_changes_with_one_ulp_and_with_the_dtype():
    weights = [np.linspace(-1, 1, 12).reshape(3, 4), np.zeros((1, 4))]
    output = TrainOutput(weights, np.ones((5, 4)), np.ones(3), "float64", {})
    same = TrainOutput([w.copy() for w in weights], np.ones((5, 4)), np.ones(3), "float64", {})
    assert fingerprint(output) == fingerprint(same)
    nudged = [weights[0].copy(), weights[1]]
    nudged[0][1, 2] = np.nextafter(nudged[0][1, 2], 2.0)
    assert fingerprint(TrainOutput(nudged, output.predictions, output.loss_history, "float64", {})) != fingerprint(output)
    as_float32 = [w.astype(np.float32) for w in weights]
    assert fingerprint(TrainOutput(as_float32, output.predictions, output.loss_history, "float32", {})) != fingerprint(output)
    moved = TrainOutput(weights, np.nextafter(output.predictions, 2.0), output.loss_history, "float64", {})
    assert fingerprint(moved) != fingerprint(output)


LAUNCH = Launch(timeout_s=60)


@pytest.mark.quick
def test_torchruns_variables_with_several_nodes_of_several_processes():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1",
           "MASTER_PORT": "29500"}
    layout = read_layout("torch", env, LAUNCH)
    assert (layout.workers, layout.hosts, layout.host, layout.local_rank, layout.rank) == (4, 2, 1, 1, 3)
    assert layout.coordinator == "10.0.0.1:29500" and layout.launcher == "torchrun"
    with pytest.raises(UsageError, match="do not fit together"):
        read_layout("torch", env | {"LOCAL_RANK": "0"}, LAUNCH)  # rank 3 is the second process of its node
    with pytest.raises(UsageError, match="do not fit together"):
        read_layout("torch", env | {"WORLD_SIZE": "3", "RANK": "1"}, LAUNCH)  # nodes of unequal size
    with pytest.raises(UsageError, match="--workers 2, but torchrun started 4 workers"):
        read_layout("torch", env, Launch(60, workers=2))


@pytest.mark.quick
def test_mlx_hostfiles_with_several_ranks_per_ip(tmp_path):
    def layout_of(ranks: list[str], rank: int):
        path = tmp_path / "hosts.json"
        path.write_text(json.dumps([[a] for a in ranks]))
        return read_layout("mlx", {"MLX_RANK": str(rank), "MLX_HOSTFILE": str(path)}, LAUNCH)

    in_turn = ["10.0.0.1:5000", "10.0.0.1:5001", "10.0.0.2:5000", "10.0.0.2:5001"]
    layout = layout_of(in_turn, 2)
    assert (layout.workers, layout.hosts, layout.host, layout.local_rank, layout.rank) == (4, 2, 1, 0, 2)
    assert layout.worker_addresses == tuple(in_turn) and layout.addresses == ("10.0.0.1:5000", "10.0.0.2:5000")
    interleaved = layout_of([in_turn[0], in_turn[2], in_turn[1], in_turn[3]], 3)
    assert (interleaved.workers, interleaved.hosts, interleaved.rank) == (4, 4, 3)  # each rank a host of its own
    (tmp_path / "empty.json").write_text("\n")  # mlx.launch's hostfile for one rank
    one = read_layout("mlx", {"MLX_RANK": "0", "MLX_HOSTFILE": str(tmp_path / "empty.json")}, LAUNCH)
    assert (one.workers, one.hosts) == (1, 1)
    with pytest.raises(UsageError, match="is not JSON"):
        (tmp_path / "bad.json").write_text("[[")
        read_layout("mlx", {"MLX_RANK": "0", "MLX_HOSTFILE": str(tmp_path / "bad.json")}, LAUNCH)


@pytest.mark.quick
@pytest.mark.parametrize("config, message", [
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": True}}, "is not an integer"),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": "1"}}, "is not an integer"),
    ({"cluster": {"worker": ["a:1"], "chief": ["c:1"]}, "task": {"type": "worker", "index": 0}}, "has chief tasks"),
    ({"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}, "must be a list"),
    ({"cluster": {"worker": ["a:1"]}}, "is not {"),
])
def test_tf_configs_this_engine_cannot_run_are_named(config, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        read_layout("tensorflow", {"TF_CONFIG": json.dumps(config)}, LAUNCH)
    fine = {"cluster": {"worker": ["a:1", "b:1", "c:1"]}, "task": {"type": "worker", "index": 2}}
    layout = read_layout("tensorflow", {"TF_CONFIG": json.dumps(fine)}, LAUNCH)
    assert (layout.workers, layout.hosts, layout.host, layout.rank) == (3, 3, 2, 2)


@pytest.mark.quick
def test_jax_processes_may_drive_several_devices_each():
    layout = read_layout("keras:jax", {}, Launch(60, workers=4, coordinator="10.0.0.1:1234", num_processes=2,
                                                 process_id=1))
    assert (layout.workers, layout.hosts, layout.host, layout.local_workers, layout.rank) == (4, 2, 1, 2, 2)
    with pytest.raises(UsageError, match="not a multiple of --num-processes 2"):
        read_layout("jax", {}, Launch(60, workers=3, coordinator="10.0.0.1:1234", num_processes=2, process_id=0))
    assert read_layout("jax", {"JAX_COORDINATOR_ADDRESS": "h:9"}, Launch(60, num_processes=1, process_id=0)).coordinator == "h:9"


def test_the_launchers_are_installed():
    """torchrun and mlx.launch come with the pinned packages, beside the interpreter."""
    for name, engine in (("torchrun", "torch"), ("mlx.launch", "mlx")):
        if registry.engine_missing(engine) is None:
            assert (BIN / name).exists() or shutil.which(name), name
