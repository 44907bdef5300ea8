"""Every library in its own worker process: a worker that crashes, exits, is killed or hangs
becomes one failed row saying what happened, the library's other runs go on in a fresh
worker, the other libraries are untouched, and no process is left behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import BESIDE, LOADED, problem_for, run_compare
from test_harness import live_children

STEPS = ["--steps", "20", "--repeat", "1", "--device", "cpu"]


@pytest.mark.parametrize("name,reason", [
    ("segfaults", "worker killed by SIGSEGV while running eager on cpu"),
    ("exits", "worker exited with status 3 without answering while running eager on cpu"),
    ("killed", "worker killed by SIGKILL (as the kernel's out-of-memory killer does) while running eager on cpu"),
])
def test_a_dying_worker_costs_one_row(tmp_path, fake_library, name, reason):
    fake_library(name)
    code, report = run_compare(tmp_path, "--frameworks", f"numpy,{name},{BESIDE}", *STEPS)
    assert code == 1
    rows = {(r["framework"], r["mode"]): r for r in report["runs"]}
    assert rows[(name, "eager")]["status"] == "failed" and rows[(name, "eager")]["reason"] == reason
    assert rows[(name, "compiled")]["status"] == "ok" and rows[(name, "compiled")]["parity_ok"]  # a fresh worker ran it
    assert rows[(BESIDE, "eager")]["status"] == rows[(BESIDE, "compiled")]["status"] == "ok"
    assert live_children() == []


def test_a_silent_worker_is_stopped_with_its_helpers(tmp_path, fake_library, monkeypatch):
    fake_library("hangs")
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("NN_ROSETTA_TEST_PIDFILE", str(pidfile))
    start = time.monotonic()
    code, report = run_compare(tmp_path, "--frameworks", "numpy,hangs", "--timeout", "4", *STEPS)
    assert code == 1
    rows = {r["mode"]: r for r in report["runs"] if r["framework"] == "hangs"}
    assert rows["eager"]["reason"] == "no answer in 4 s while running eager on cpu (--timeout); worker stopped"
    assert rows["compiled"]["status"] == "ok"
    assert time.monotonic() - start < 60
    worker, helper = (int(p) for p in pidfile.read_text().split())
    for pid in (worker, helper):  # the worker and the helper it started are gone (or only await reaping)
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z"
    assert live_children() == []


def test_a_worker_ending_after_its_answer_keeps_that_run(tmp_path, fake_library):
    fake_library("dies_after")
    code, report = run_compare(tmp_path, "--frameworks", "numpy,dies_after", *STEPS)
    assert code == 0
    assert [(r["mode"], r["status"]) for r in report["runs"] if r["framework"] == "dies_after"] == [("eager", "ok"),
                                                                                                   ("compiled", "ok")]
    assert live_children() == []


def test_a_worker_dying_while_importing_fails_all_its_rows(tmp_path, fake_library):
    fake_library("import_crash")
    code, report = run_compare(tmp_path, "--frameworks", "numpy,import_crash", *STEPS)
    assert code == 1
    rows = [r for r in report["runs"] if r["framework"] == "import_crash"]
    assert [r["mode"] for r in rows] == ["eager", "compiled"]  # every row it owed, once: no second try
    assert all(r["reason"] == "worker killed by SIGSEGV while importing import_crash" for r in rows)


def test_a_worker_imports_its_library_with_the_other_libraries_hidden(tmp_path, fake_library, monkeypatch):
    """registry.foreign_packages: while a worker imports its library, the other shipped libraries,
    scikit-learn and matplotlib cannot be found (TensorFlow would import Keras, JAX and scikit-learn); once
    it is imported they can again."""
    import ast
    import importlib.util

    from shared.harness import registry

    fake_library("peeks")
    hidden = registry.foreign_packages("peeks")
    assert {"sklearn", "matplotlib", "jax", "tensorflow", "torch", "keras", "mlx"} <= set(hidden) and "numpy" not in hidden
    assert "jax" not in registry.foreign_packages("keras:jax") and "keras" not in registry.foreign_packages("keras:jax")
    (tmp_path / "flaxish").mkdir()
    (tmp_path / "flaxish" / "runtime.py").write_text('import jax\n\nNAME = "flaxish"\nREQUIRES = "flax"\n')
    monkeypatch.setattr(registry, "LIBRARIES", dict(registry.LIBRARIES))
    registry.add_folder(tmp_path / "flaxish", "flaxish")  # a library built on JAX keeps it
    assert "jax" not in registry.foreign_packages("flaxish") and {"torch", "sklearn"} <= set(registry.foreign_packages("flaxish"))
    code, report = run_compare(tmp_path, "--frameworks", "numpy,peeks", *STEPS)
    assert code == 0
    seen = ast.literal_eval(report["environment"]["versions"]["peeks_seen"])
    installed = {name: importlib.util.find_spec(name) is not None for name in seen["after"]}
    assert installed["sklearn"]  # a pinned dependency: what this test needs to mean anything
    assert seen == {"at_import": dict.fromkeys(installed, False), "after": installed}


def test_a_host_imports_its_engine_with_the_packages_of_its_job_hidden(tmp_path, monkeypatch):
    """A data-parallel host (and each worker process it starts) imports its engine as a worker
    imports its library: what the harness put in the job's `hide` cannot be found meanwhile."""
    import importlib.util
    import sys
    from dataclasses import replace

    from shared.harness import registry
    from shared.studies.parallel import HostJob, host_job
    from shared.studies.parallel_host import _import

    for engine in registry.SHIPPED_ENGINES:  # what the harness puts in each engine's job
        hide = host_job(engine, None, None, 1, 0.0).hide
        assert set(hide) <= set(registry.foreign_packages(registry.ENGINES[engine].target)) and "sklearn" in hide
    assert "jax" in host_job("torch", None, None, 1, 0.0).hide and "keras" in host_job("mlx", None, None, 1, 0.0).hide
    assert {"keras", "jax", "sklearn"} <= set(host_job("tensorflow", None, None, 1, 0.0).hide)
    # what an engine's file imports (read from it when it is found) stays visible to its hosts
    assert {"keras", "jax"} <= set(registry.ENGINES["keras"].imports) and "mlx" in registry.ENGINES["mlx"].imports
    assert "sklearn" not in registry.foreign_packages("mlx", ("sklearn",))
    monkeypatch.setitem(registry.ENGINES, "importer", replace(registry.ENGINES["mlx"], name="importer", imports=("sklearn",)))
    assert "sklearn" not in host_job("importer", None, None, 1, 0.0).hide

    assert "tabnanny" not in sys.modules  # a standard module nothing here imports: it can be hidden
    (tmp_path / "peeking_engine.py").write_text("import importlib.util\nSEEN = importlib.util.find_spec('tabnanny') is not None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = _import(HostJob("peeking", "peeking_engine", None, None, 1, 0.0, hide=("tabnanny",)))
    assert module.SEEN is False
    assert importlib.util.find_spec("tabnanny") is not None and "tabnanny" not in sys.modules  # found again, not imported


def test_rows_carry_import_time_and_peak_memory(tmp_path):
    code, report = run_compare(tmp_path, "--frameworks", "numpy,jax", "--mode", "compiled", *STEPS)
    assert code == 0
    for run in report["runs"]:
        assert 0 < run["import_s"] < 120
        assert 10 * 2**20 < run["peak_rss_bytes"] < 64 * 2**30 and run["peak_rss_scope"] == "this run"
    numpy_run, jax_run = report["runs"]
    assert jax_run["peak_rss_bytes"] > numpy_run["peak_rss_bytes"]  # JAX and XLA weigh more than NumPy alone


def test_each_run_points_its_librarys_caches_at_folders_of_its_own(monkeypatch, tmp_path):
    """CACHE_ENV: every run of a worker (and its import) gets fresh folders, so that nothing an
    earlier run compiled is found and each first call is cold."""
    import os

    from shared.harness.worker import WorkerJob, _fresh_caches

    monkeypatch.setenv("TINY_CACHE_DIR", "/the/users")  # restored after the test
    job = WorkerJob("tiny", "tests.added.tiny", "float64", cache_dir=str(tmp_path), cache_env={"TINY_CACHE_DIR": "tiny"})
    seen = []
    for run in ("import", 0, 1):
        _fresh_caches(job, run)
        seen.append(os.environ["TINY_CACHE_DIR"])
    assert seen == [str(tmp_path / f"run-{run}" / "tiny") for run in ("import", 0, 1)]
    assert not any(Path(folder).exists() for folder in seen)  # empty: the library makes them when it compiles


PROBE_OUTSIDE = """
import os
from pathlib import Path
from torch._inductor.cpu_vec_isa import valid_vec_isa_list
from implementations import torch as torch_library
from shared.contract.tasks import TASKS, build_problem, default_sizes, load_dataset

folder = os.environ["TORCHINDUCTOR_CACHE_DIR"]
task = TASKS["xor"]
data = load_dataset(task)
torch_library.probe_machine("cpu")  # as the worker does before a compiled run's `prepare`
torch_library.prepare(build_problem(task, data, default_sizes(task, data), steps=2), "compiled", "cpu")  # torch.compile is lazy
files = [p for p in Path(folder).rglob("*") if p.is_file()]  # Dynamo makes the folder when imported, and leaves it empty
print(valid_vec_isa_list.cache_info().currsize, os.environ["TORCHINDUCTOR_CACHE_DIR"] == folder, len(files))
"""


@pytest.mark.skipif("torch" not in LOADED, reason="PyTorch is not installed")
def test_pytorchs_machine_probes_are_made_before_the_first_call_and_outside_the_runs_folder(tmp_path):
    """Inductor checks once which vector instruction sets g++ can build (six C++ builds, ~11 s):
    a machine's fact, kept in Inductor's default folder, not the program's compile. In a fresh
    process with a run's empty cache folder (as in a worker), the runtime's `probe_machine` makes
    the checks (so the timed first call does not) and leaves the run's folder empty and its
    variable as it was."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "run-0" / "inductor")}
    done = subprocess.run([sys.executable, "-c", PROBE_OUTSIDE], cwd=Path(__file__).parents[1], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "True", "0"], done.stdout  # probed; the run's variable and folder untouched


@pytest.mark.skipif("torch" not in LOADED, reason="PyTorch is not installed")
def test_pytorchs_machine_probes_leave_an_unset_cache_variable_unset(monkeypatch):
    """In a process the harness did not start (the tests' own), the variable is unset: it stays so."""
    import os

    from implementations.torch import runtime

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    runtime._probe_cpu.__wrapped__()  # past its once-per-process cache
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ


def test_a_compiled_run_probes_the_machine_before_it_prepares_and_an_eager_run_does_not():
    """The worker calls the runtime's `probe_machine` before the lesson's `prepare` of a compiled
    run: nothing the library checks once per machine lands in the timed first call."""
    from shared.harness.worker import RunRequest, _measure

    calls = []

    class Library:
        NAME = "recorder"

        @staticmethod
        def versions():
            return {}

        @staticmethod
        def probe_machine(device):
            calls.append(("probe", device))

        @staticmethod
        def prepare(problem, mode, device):
            calls.append(("prepare", mode))
            raise RuntimeError("stop here")

    problem = problem_for("xor", steps=2)
    for mode in ("compiled", "eager"):
        assert _measure(Library, RunRequest(mode, "cpu", problem, 1), debug=False).status == "failed"
    assert calls == [("probe", "cpu"), ("prepare", "compiled"), ("prepare", "eager")]
