"""compare.py parallel: every engine equals the single-process NumPy run on the same global
batches, as one host and as several; bad layouts are refused before anything starts; every
host process ends, on success, failure, timeout and Ctrl-C. Short schedules throughout."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import shared_runs
from conftest import problem_for

from shared.commands import parallel as command
from shared.contract.tolerances import tolerance
from shared.harness import registry
from shared.studies import parallel, parallel_report
from shared.studies.parallel_report import Study, _parts_problem

ROOT = Path(__file__).resolve().parent.parent
ENGINES = list(registry.SHIPPED_ENGINES)
needs_all = pytest.mark.skipif(any(registry.engine_missing(e) for e in ENGINES),
                               reason="; ".join(filter(None, map(registry.engine_missing, ENGINES))))
needs_jax = pytest.mark.skipif(registry.engine_missing("jax") is not None, reason=registry.engine_missing("jax") or "")


def started_for(parent: int) -> list[int]:
    """Live processes started for the harness with this pid (hosts and PyTorch's workers carry
    NN_ROSETTA_PARENT in their environment)."""
    mark = f"NN_ROSETTA_PARENT={parent}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if mark in environ.split(b"\0") and state != "Z":
            found.append(int(entry))
    return found


def listener_on(port: int) -> socket.socket:
    """A listener on `port`, as another process's would be: a host's bind of it fails."""
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def run_cli(*argv: str, timeout: float = 400) -> tuple[subprocess.Popen, dict | None]:
    proc = subprocess.Popen([sys.executable, "compare.py", "parallel", *argv, "--json", "-"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, proc.stderr_text = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc, json.loads(out) if out.strip() else None


def assert_all_ok(report: dict, layouts: set[tuple[int, int]]) -> None:
    rows = report["rows"]
    assert {(r["engine"], r["workers"], r["hosts"]) for r in rows} == {(e, n, h) for e in ENGINES for n, h in layouts}
    for r in rows:
        assert r["status"] == "ok", (r["engine"], r["workers"], r["reason"])
        assert r["parity_ok"] and r["diff"]["scaled"] <= tolerance(report["config"]["dtype"]), r
        assert r["dtype"] == report["config"]["dtype"]
        assert r["replicas_ok"]
        assert r["timing"]["step_us_median"] > 0 and r["timing"]["startup_s"] > 0


# ---------------------------------------------------------------- the acceptance runs


@needs_all
@pytest.mark.timeout(600)  # every engine's one- and two-worker runs: 45 s on the 2-core machine
def test_every_engine_on_two_workers_equals_numpy_in_float64(tmp_path):
    proc, report = run_cli("--workers", "2", "--steps", "30", "--repeat", "1", "--markdown", str(tmp_path / "p.md"),
                           "--plots", str(tmp_path / "figures"))
    assert proc.returncode == 0, proc.stderr_text[-2000:]
    assert_all_ok(report, {(1, 1), (2, 1)})
    assert report["ok"] and report["config"]["task"] == "digits"
    evidence = {r["engine"]: r["evidence"] for r in report["rows"] if r["workers"] == 2}
    assert evidence["jax"]["all_reduce_ops"] >= 1 and evidence["keras"]["batch_split_over"] == 2
    assert evidence["mlx"]["batch_parts"] == [[0, 16], [16, 32]]  # each rank says which rows of each batch of 32 it trained on
    assert [r["processes_compared"] for r in report["rows"] if r["engine"] == "torch"] == [1, 2]  # every DDP worker
    text = (tmp_path / "p.md").read_text()
    assert report["verdict"] in text and "| keras | 2 | 1 | ok |" in text
    two = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if " | 2 | 1 | ok | " in line}
    assert "each process fed its own rows" in two["torch"] and "each replica fed its own rows" in two["tensorflow"]
    # what differs between layouts stays in the rows; the environment says how the engine chose it (PER_LAYOUT)
    assert report["environment"]["threads"]["torch_threads"] == "max(1, cores // workers) per worker process"
    assert not {"jax_devices", "jax_processes"} & set(report["environment"]["versions"])
    assert (tmp_path / "figures" / "parallel_step_time.png").read_bytes().startswith(b"\x89PNG")
    assert started_for(proc.pid) == []


@pytest.fixture(scope="session")
def every_engine_as_two_hosts(tmp_path_factory):
    """`compare.py parallel --workers 2 --hosts 2 --dtype float32`, in this process, while another
    process's listener takes the first port offered to each engine's two-host run (so that run
    fails once and runs again on fresh ports): read by the two-host acceptance test and the
    port-taken tests. Returns the exit status, the report, each engine's offers of ports and the
    processes of ours still alive when each engine's two-host run had returned."""
    offers: dict[str, list[list[int]]] = {}
    left: dict[str, list[int]] = {}
    held: list[socket.socket] = []
    taking: list[str] = []  # the engine whose two-host run is under way, while it is
    real_free_ports, real_run_engine = parallel.free_ports, parallel_report.run_engine

    def offer(count: int) -> list[int]:
        ports = real_free_ports(count)
        if taking:
            if not offers[taking[0]]:
                held.append(listener_on(ports[0]))
            offers[taking[0]].append(ports)
        return ports

    def run_engine(engine, workers, hosts, *args, **kw):
        if hosts == 1:
            return real_run_engine(engine, workers, hosts, *args, **kw)
        offers[engine], taking[:] = [], [engine]
        try:
            return real_run_engine(engine, workers, hosts, *args, **kw)
        finally:
            taking.clear()
            left[engine] = started_for(os.getpid())

    path = tmp_path_factory.mktemp("two_hosts") / "p.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "free_ports", offer)
        patch.setattr(parallel_report, "run_engine", run_engine)
        try:
            code = command.main(["--workers", "2", "--hosts", "2", "--steps", "30", "--repeat", "1", "--dtype", "float32",
                                 "--timeout", "120", "--json", str(path)])
        finally:
            for s in held:
                s.close()
    return code, (json.loads(path.read_text()) if path.exists() else None), offers, left


@needs_all
@shared_runs.on("every_engine_as_two_hosts")
def test_every_engine_as_two_hosts_equals_numpy_in_float32(every_engine_as_two_hosts):
    code, report, _, _ = every_engine_as_two_hosts
    assert code == 0
    assert_all_ok(report, {(1, 1), (2, 2)})
    assert started_for(os.getpid()) == []


@pytest.mark.skipif(registry.engine_missing("keras") is not None or not registry.installed("tensorflow"),
                    reason="needs Keras' engine and TensorFlow installed beside it")
def test_keras_seeds_its_hosts_without_importing_tensorflow():
    """`keras.distribution.initialize` ends in `keras.utils.set_random_seed`, which imports
    TensorFlow wherever it is installed; the engine's `join` keeps it out of a JAX host
    (`tensorflow_hidden`) and the seed the processes agreed on still seeds NumPy. In a fresh
    process (in this one TensorFlow is already imported), as host 0 of two without the
    rendezvous itself (`jax.distributed.initialize` does nothing here), so `join` then fails on
    seeing one process's device where the layout has two."""
    script = textwrap.dedent("""
        import sys
        import jax
        import numpy as np
        from keras.src.utils import rng_utils  # where initialize keeps the seed it agreed on
        from implementations.keras import parallel as keras_parallel
        from shared.studies import parallel
        jax.distributed.initialize = lambda **_: None
        layout = parallel.new_layout("keras", 2, 2, 60)
        try:
            keras_parallel.join(layout)
        except RuntimeError as e:
            print("join:", e, file=sys.stderr)
        seed = rng_utils.get_random_seed()
        drawn = np.random.rand()
        np.random.seed(seed)
        print("tensorflow" in sys.modules, seed is not None, drawn == np.random.rand(), sys.modules.get("tensorflow", 0) is None)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=parallel.host_env("keras", "float32", "test"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Keras sees 1 devices, expected 2" in out.stderr  # join went past initialize
    assert out.stdout.split() == ["False", "True", "True", "False"]  # not imported, seeded, nothing left hidden


# ---------------------------------------------------------------- bad input: exit 2, one line, nothing started


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers 0: needs at least one worker"),
    (["--workers", "3"], "give --batch-size a multiple of 3 (e.g. 30 or 33), or use a worker count that divides 32: "
                         "1, 2, 4, 8, 16, 32"),
    (["--batch-size", "100000", "--workers", "3"], "larger than the 1437 training samples"),
    (["--workers", "2,3"], "--workers 3 does not divide the global batch of 32"),
    (["--workers", "4", "--hosts", "3"], "--hosts 3 does not divide --workers 4"),
    (["--workers", "2,4", "--hosts", "1,4"], "--hosts 4 does not divide --workers 2"),
    (["--task", "xor", "--workers", "2"], "per-sample SGD (batch 1, the XOR task's default) cannot be split"),
    (["--task", "xor", "--batch-size", "4", "--workers", "3"], "a multiple of 3 (e.g. 3), or use a worker count that "
                                                                "divides 4: 1, 2, 4"),
    (["--workers", "1", "--hosts", "2"], "leave 1 out of --workers"),
    (["--workers", "two"], "expected a worker count"),
    (["--frameworks", "mxnet"], "unknown engine 'mxnet'"),
    (["--steps", "0"], "--steps"),
    (["--timeout", "0"], "--timeout"),
])
def test_bad_input_is_one_line_and_exit_2_before_anything_starts(argv, message, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("an engine was started")

    monkeypatch.setattr("shared.studies.parallel_report.run_engine", must_not_run)
    assert command.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("compare.py parallel: error:") and message in err, err


def test_a_missing_library_is_a_skipped_row_with_its_install_command(monkeypatch):
    monkeypatch.setitem(registry.LIBRARIES, "torch", dataclasses.replace(registry.LIBRARIES["torch"],
                                                                         requires="no_such_package_here"))
    problem = problem_for("digits", steps=5)
    config = {"dtype": "float64", "hosts": [1], "workers": [2], "engines": ["torch"], "repeat": 1, "timeout_s": 60,
              "task": "digits"}
    report = Study(problem, config).run()
    assert [(r.workers, r.status) for r in report["rows"]] == [(1, "skipped"), (2, "skipped")]
    assert "pip install torch" in report["rows"][0].reason and report["ok"]


# ---------------------------------------------------------------- engines that fail, hang or lie


@pytest.fixture
def engine(monkeypatch):
    """Register a test engine from tests/fakes/ for one test, a variant of the shipped engine `like`."""
    def add(name: str, like: str = "jax") -> str:
        monkeypatch.setattr(registry, "ENGINES", dict(registry.ENGINES))  # the test's engine goes after the test
        registry.register_engine(name, f"tests.fakes.parallel_{name}", like)
        return name
    return add


def config_for(name: str, workers: int = 2, hosts: int = 1, timeout_s: float = 60) -> dict:
    return {"dtype": "float64", "hosts": [hosts], "workers": [workers], "engines": [name], "repeat": 1,
            "timeout_s": timeout_s, "task": "digits"}


needs_mlx = pytest.mark.skipif(registry.engine_missing("mlx") is not None, reason=registry.engine_missing("mlx") or "")


@pytest.mark.parametrize("fake", [pytest.param(("summed", "jax"), marks=needs_jax, id="jax"),
                                  pytest.param(("mlx_summed", "mlx"), marks=needs_mlx, id="mlx")])
def test_summed_gradients_break_parity_on_two_workers_only(engine, fake):
    """The parity check sees the classic mistake: on one worker the sum is the mean."""
    name = engine(*fake)
    report = Study(problem_for("digits", steps=20), config_for(name)).run()
    one, two = report["rows"]
    assert one.status == two.status == "ok"
    assert one.parity_ok and not two.parity_ok and two.diff["scaled"] > 1e3 * tolerance("float64")
    assert not report["ok"] and report["verdict"].startswith("FAILED")


@needs_jax
def test_a_program_that_never_split_the_batch_fails_though_its_numbers_match(engine):
    """Every device computing the whole batch equals NumPy too: the compiled program gives it away."""
    name = engine("unsplit")
    report = Study(problem_for("digits", steps=10), config_for(name)).run()
    one, two = report["rows"]
    assert one.status == "ok" and two.parity_ok
    assert two.status == "failed" and "no all-reduce in the compiled program" in two.reason


@needs_mlx
def test_processes_that_all_trained_on_the_whole_batch_fail_though_their_numbers_match(engine):
    """An engine with one process per worker says which rows of each batch it trained on: the
    parts must make up the batch, one per worker (every rank on every row averages equal gradients)."""
    name = engine("mlx_unsplit", "mlx")
    report = Study(problem_for("digits", steps=10), config_for(name)).run()
    one, two = report["rows"]
    assert one.status == "ok" and two.parity_ok
    assert two.status == "failed" and two.reason == ("the processes trained on rows 0–31, 0–31 of each batch of "
                                                           "32, not 2 parts of 16, one each")


@needs_mlx
def test_every_host_and_worker_process_imports_its_engine_with_its_jobs_packages_hidden(engine):
    """The host's own import (`main`) and each worker process's (`serve`, two on one host here):
    this engine's import fails wherever scikit-learn, which its job hides, can be found."""
    import importlib.util

    assert importlib.util.find_spec("sklearn") is not None  # installed here: what makes the check mean anything
    name = engine("peeks", "mlx")
    assert "sklearn" in parallel.host_job(name, None, None, 1, 0.0).hide
    outcome = parallel.run_engine(name, 2, 1, problem_for("digits", steps=5), 1, timeout_s=120)
    assert outcome.status == "ok", outcome.reason
    assert started_for(os.getpid()) == []


def test_the_parts_of_each_batch_must_be_one_per_worker():
    assert _parts_problem(None, 2, 32) is None  # the engine does not say
    assert _parts_problem([[16, 32], [0, 16]], 2, 32) is None
    assert _parts_problem([[0, 16], [0, 16]], 2, 32).startswith("the processes trained on rows 0–15, 0–15 of each")
    assert _parts_problem([[0, 16], None], 2, 32) == "a process trained on rows that are not one contiguous part of each batch"


def test_an_engine_whose_workers_listen_gets_a_port_per_worker(engine):
    layout = parallel.new_layout(engine("mlx_summed", "mlx"), 4, 2, 60)
    assert len(set(layout.worker_addresses)) == 4 and layout.addresses == layout.worker_addresses[::2]
    assert len(layout.ports) == 4
    plain = parallel.new_layout(engine("fails"), 4, 2, 60)
    assert len(plain.addresses) == 2 and plain.worker_addresses == () and len(plain.ports) == 2


@needs_jax
def test_a_host_that_ends_without_a_word_is_named(engine):
    name = engine("crashes")
    outcome = parallel.run_engine(name, 2, 2, problem_for("digits", steps=5), 1, timeout_s=120)
    assert outcome.status == "failed"
    assert outcome.reason == "host 1 exited with status 3: test engine: host 1 going down"
    assert started_for(os.getpid()) == []


@needs_jax
def test_hosts_that_wrote_their_results_but_do_not_exit_are_stopped_and_the_results_stand(engine, monkeypatch):
    # The rule, not its 10 s (the suite's time is shared); 5 s leaves host 0, which exits, time to go under load.
    monkeypatch.setattr(parallel, "EXIT_GRACE_S", 5.0)
    name = engine("lingers")
    outcome = parallel.run_engine(name, 2, 2, problem_for("digits", steps=5), 1, timeout_s=120)
    assert outcome.status == "ok" and outcome.note == "host 1 did not exit after its result; stopped"
    assert started_for(os.getpid()) == []


@pytest.mark.skipif(registry.engine_missing("torch") is not None, reason=registry.engine_missing("torch") or "")
def test_a_pytorch_worker_that_fails_is_named_with_its_own_error(engine, capfd):
    name = engine("rank_fails", like="torch")
    outcome = parallel.run_engine(name, 2, 1, problem_for("digits", steps=5), 1, timeout_s=120, debug=True)
    assert outcome.status == "failed"
    assert outcome.reason == "worker 1: ValueError: test engine: worker 1 has no rows"
    assert "----- host 0 -----" in capfd.readouterr().err  # --debug shows the hosts' own output
    assert started_for(os.getpid()) == []


@needs_jax
def test_a_host_that_fails_stops_its_peers_at_once(engine):
    name = engine("fails")
    start = time.monotonic()
    outcome = parallel.run_engine(name, 2, 2, problem_for("digits", steps=5), 1, timeout_s=120)
    assert outcome.status == "failed"
    assert outcome.reason == "host 1: RuntimeError: test engine: host 1 refuses to join"
    assert time.monotonic() - start < 60  # not the 120 s its peer would wait for it
    assert started_for(os.getpid()) == []


@needs_jax
def test_a_host_that_hangs_is_stopped_at_the_timeout(engine):
    name = engine("hangs")
    start = time.monotonic()
    outcome = parallel.run_engine(name, 2, 2, problem_for("digits", steps=5), 1, timeout_s=10)
    assert outcome.status == "failed" and outcome.reason.startswith("not finished after 10 s (--timeout); hosts stopped; "
                                                                    "still running: host 0: no output; host 1: no output")
    assert time.monotonic() - start < 30
    assert started_for(os.getpid()) == []


@needs_jax
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_every_host(signum, code, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as at a terminal, even if started from a
        sys.path.insert(0, {str(ROOT)!r})                           # shell's background job (SIGINT ignored there)
        from shared.harness import registry
        from shared.commands import parallel as command
        registry.register_engine("hangs", "tests.fakes.parallel_hangs", "jax")
        sys.exit(command.main(["--frameworks", "hangs", "--workers", "2", "--hosts", "2", "--steps", "5",
                               "--timeout", "300"]))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while len(started_for(proc.pid)) < 2:  # the two-host run has started (after the one-worker baseline)
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "too slow"
            time.sleep(0.2)
        time.sleep(1)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "interrupted; every host process stopped" in err
    assert started_for(proc.pid) == []


@pytest.fixture
def taken_ports(monkeypatch):
    """The first port of every offer taken by a listener between the offer and the hosts' bind.
    Returns the list of offers."""
    offered, held = [], []
    real = parallel.free_ports

    def offer(count: int) -> list[int]:
        ports = real(count)
        held.append(listener_on(ports[0]))
        offered.append(ports)
        return ports

    monkeypatch.setattr(parallel, "free_ports", offer)
    yield offered
    for s in held:
        s.close()


@pytest.mark.parametrize("name", ENGINES)
@shared_runs.on("every_engine_as_two_hosts")
def test_a_port_taken_before_the_hosts_bind_it_is_tried_again_on_fresh_ones(name, request):
    """Each engine's two-host row of the shared float32 run, whose first try lost a port."""
    if registry.engine_missing(name):
        pytest.skip(registry.engine_missing(name))
    _, report, offers, left = shared_runs.read(request, "every_engine_as_two_hosts")
    offered = offers[name]
    assert len(offered) == 2 and offered[1][0] != offered[0][0]
    (row,) = [r for r in report["rows"] if (r["engine"], r["workers"], r["hosts"]) == (name, 2, 2)]
    assert row["status"] == "ok", row["reason"]
    assert row["note"] == f"port {offered[0][0]} taken by another process before the hosts bound it; ran again on fresh ports"
    assert left[name] == []  # the failed try's hosts and the second try's, all gone when the run returned


@needs_jax
def test_ports_taken_on_every_try_fail_the_row_saying_so(taken_ports):
    offered = taken_ports
    outcome = parallel.run_engine("jax", 2, 2, problem_for("digits", steps=5), 1, timeout_s=120)
    assert outcome.status == "failed" and len(offered) == parallel.PORT_TRIES
    ports = ", ".join(str(o[0]) for o in offered)
    assert outcome.reason.endswith(f"(ports {ports} taken by another process before the hosts bound them; tried "
                                   f"{parallel.PORT_TRIES} times)"), outcome.reason
    assert started_for(os.getpid()) == []


def test_each_host_starts_as_its_targets_worker_would_plus_its_engines_own(monkeypatch):
    """A host's environment: its target's BACKEND_ENV and IMPORT_ENV (Keras' engine: JAX's x64 for
    float64, removed for float32 whatever the user set) and its engine's HOST_ENV."""
    monkeypatch.setenv("JAX_ENABLE_X64", "1")  # the user's
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    for name, engine in registry.ENGINES.items():
        for dtype in ("float32", "float64"):
            env = parallel.host_env(name, dtype, "mark")
            for variable, value in (registry.import_environment(engine.target, dtype) | engine.host_env).items():
                assert env.get(variable) == value, (name, dtype, variable)
    assert parallel.host_env("keras", "float64", "m")["KERAS_BACKEND"] == "jax"
    assert parallel.host_env("keras", "float64", "m")["JAX_ENABLE_X64"] == "1"
    assert "JAX_ENABLE_X64" not in parallel.host_env("keras", "float32", "m")
    assert parallel.host_env("tensorflow", "float32", "m")["TF_CPP_MIN_LOG_LEVEL"] == "2"


def test_free_ports_differ_and_are_free():
    ports = parallel.free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_is_taken_only_while_someone_listens_on_it():
    """Not by a socket of ours left in TIME_WAIT (a listener without SO_REUSEADDR, closed first)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    assert parallel.port_taken(port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection goes to TIME_WAIT
    server.close()
    client.close()
    assert not parallel.port_taken(port)
