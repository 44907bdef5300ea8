"""compare.py end to end, in-process: the JSON shape for every task, failures kept local,
nothing half-written, interrupts, determinism and the figures."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import shared_runs
from conftest import (
    BESIDE,
    LOADED,
    MISSING,
    ON_EVERY_LIBRARY_IN_FLOAT64,
    ON_EVERY_LIBRARY_ON_XOR,
    library_mode_params,
    problem_for,
    run_compare,
)

from shared.commands import cli
from shared.contract.tasks import TASKS
from shared.harness import registry
from shared.reports.rows import SCHEMA

RUN_KEYS = {"framework", "mode", "device", "status", "reason", "steps_run", "predictions", "final_loss", "max_abs_diff", "timing"}
TIMING_KEYS = {"first_call_s", "step_us_median", "step_us_min", "step_us_max", "steps_timed", "repeats"}


def live_children() -> list[int]:
    """This process's children that are still running (zombies, already ended, do not count;
    nor does multiprocessing's resource tracker, one per process, which ends with it)."""
    me, alive = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = (Path("/proc") / entry / "status").read_text()
                if b"resource_tracker" in (Path("/proc") / entry / "cmdline").read_bytes():
                    continue
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields.get("PPid", "").strip() == str(me) and not fields.get("State", "").startswith("Z"):
                alive.append(int(entry))
    return alive


def check_shape(report: dict, n_eval: int, n_out: int) -> None:
    assert {"task", "config", "environment", "reference", "runs", "parity"} <= set(report)
    assert {"arch", "lr", "steps", "batch_size", "seed", "dtype"} <= set(report["config"])
    env = report["environment"]
    assert {"python", "platform", "cpu", "threads", "versions", "gpu"} <= set(env)
    assert env["versions"]["numpy"] == np.__version__
    assert report["reference"] == "numpy"
    assert set(report["parity"]) >= {"ok", "worst", "tolerance"} and isinstance(report["parity"]["ok"], bool)
    first = report["runs"][0]
    assert (first["framework"], first["device"], first["max_abs_diff"]) == ("numpy", "cpu", None)
    assert report["schema"] == SCHEMA
    for run in report["runs"]:
        assert set(run) >= RUN_KEYS, RUN_KEYS - set(run)
        assert run["target"] == run["framework"] + (f":{run['keras_backend']}" if run.get("keras_backend") else "")
        assert run["status"] in ("ok", "skipped", "failed")
        if run["status"] != "ok":
            assert isinstance(run["reason"], str) and run["reason"]
            continue
        assert np.array(run["predictions"]).shape == (n_eval, n_out)
        assert isinstance(run["final_loss"], float)
        assert set(run["timing"]) >= TIMING_KEYS and run["timing"]["step_us_min"] <= run["timing"]["step_us_median"]
        assert run["timing"]["steps_timed"] == run["steps_run"] > 0
        if run is not first:
            assert 0 <= run["max_abs_diff"] <= report["parity"]["tolerance"]


@pytest.mark.parametrize("task", [pytest.param(t, marks=ON_EVERY_LIBRARY_ON_XOR) if t == "xor" else t for t in TASKS])
def test_json_shape_for_every_task(task, tmp_path, request):
    """Every library on XOR; the reference and two others on the other tasks (what differs by task
    is the data, and a worker per library costs seconds)."""
    if task == "xor":
        code, report = shared_runs.read(request, "every_library_on_xor")
    else:
        code, report = run_compare(tmp_path, "--task", task, "--steps", "20", "--repeat", "2", "--mode", "eager",
                                   "--device", "cpu", "--frameworks", f"numpy,torch,{BESIDE}")
    assert code == 0
    problem = problem_for(task, steps=20)
    check_shape(report, problem.x_eval.shape[0], problem.spec.n_outputs)
    expected = registry.FRAMEWORKS if task == "xor" else ("numpy", "torch", BESIDE)
    assert list(dict.fromkeys(r["framework"] for r in report["runs"])) == [n for n in expected if n not in MISSING]
    assert report["runs"][0]["timing"]["repeats"] == 2


@ON_EVERY_LIBRARY_ON_XOR
def test_all_modes_and_devices_reported(every_library_on_xor):
    code, report = every_library_on_xor
    assert code == 0
    check_shape(report, 4, 1)
    seen = {(r["framework"], r["mode"], r["device"]) for r in report["runs"]}
    for name in LOADED:
        for mode in LOADED[name].MODES:
            assert (name, mode, "cpu") in seen and (name, mode, "gpu") in seen
    for run in report["runs"]:
        if run["device"] == "gpu" and LOADED[run["framework"]].device_unavailable("gpu"):
            assert run["status"] == "skipped" and run["reason"]


def test_default_device_adds_the_gpu_only_when_a_library_sees_one(tmp_path):
    code, report = run_compare(tmp_path, "--frameworks", "numpy,jax", "--steps", "10", "--repeat", "1", "--mode", "compiled")
    assert code == 0
    sees_gpu = LOADED["jax"].device_unavailable("gpu") is None
    assert report["config"]["devices"] == (["cpu", "gpu"] if sees_gpu else ["cpu"])
    assert {r["device"] for r in report["runs"]} == set(report["config"]["devices"])


@pytest.mark.parametrize("name", [n for n in registry.FRAMEWORKS if n in LOADED])
def test_a_library_names_its_gpu_and_counts_its_memory_only_where_it_sees_one(name):
    """The contract's gpu_name, reset_gpu_peak and gpu_peak_bytes, asked in this process."""
    module = LOADED[name]
    sees_gpu = module.device_unavailable("gpu") is None
    gpu = module.gpu_name()
    assert (gpu is not None) == sees_gpu and (gpu is None or (isinstance(gpu, str) and gpu))
    assert isinstance(module.reset_gpu_peak(), bool)
    peak = module.gpu_peak_bytes()
    assert peak is None if not sees_gpu else (isinstance(peak, int) and peak >= 0)


def test_default_step_cap_runs_a_prefix_checked_at_the_same_step(tmp_path):
    code, report = run_compare(tmp_path, "--frameworks", "numpy,jax", "--mode", "eager", "--device", "cpu", "--repeat", "1")
    assert code == 0
    jax_run = report["runs"][1]
    assert jax_run["steps_run"] == 200 < report["config"]["steps"] and "first 200" in jax_run["note"]
    assert jax_run["max_abs_diff"] < 1e-12
    code, report = run_compare(tmp_path, "--frameworks", "numpy,jax", "--mode", "eager", "--device", "cpu",
                               "--repeat", "1", "--steps", "250")
    assert code == 0
    assert report["runs"][1]["steps_run"] == 250  # an explicit --steps always runs in full


def test_missing_library_with_all_is_skipped_with_install_command(tmp_path, monkeypatch):
    """Every library but NumPy and one other missing (a worker per installed library costs
    seconds): each is a skipped row with its install command, and the other still runs."""
    real = registry.installed
    monkeypatch.setattr(registry, "installed", lambda name: name in ("numpy", BESIDE) and real(name))
    code, report = run_compare(tmp_path, "--frameworks", "all", "--steps", "10", "--repeat", "1", "--mode", "eager",
                               "--device", "cpu")
    assert code == 0
    assert list(dict.fromkeys(r["framework"] for r in report["runs"])) == list(registry.FRAMEWORKS)  # none dropped
    tf_rows = [r for r in report["runs"] if r["framework"] == "tensorflow"]
    assert len(tf_rows) == 1 and tf_rows[0]["status"] == "skipped"
    assert "pip install tensorflow" in tf_rows[0]["reason"]
    for row in report["runs"]:
        if row["framework"] not in ("numpy", BESIDE):
            name = row["framework"]
            assert row["status"] == "skipped" and registry.LIBRARIES[name].install in row["reason"], row
    assert any(r["framework"] == BESIDE and r["status"] == "ok" for r in report["runs"])


def test_one_library_failing_keeps_the_others(tmp_path, fake_library):
    fake_library("raises")
    code, report = run_compare(tmp_path, "--frameworks", f"numpy,raises,{BESIDE}", "--steps", "20", "--repeat", "1", "--device", "cpu")
    assert code == 1
    failed = [r for r in report["runs"] if r["framework"] == "raises"]
    assert [r["mode"] for r in failed] == ["eager", "compiled"]
    assert all(r["status"] == "failed" and r["reason"] == "RuntimeError: simulated crash" for r in failed)
    others = [r for r in report["runs"] if r["framework"] == BESIDE]
    assert len(others) == 2 and all(r["status"] == "ok" and r["max_abs_diff"] < 1e-9 for r in others)


def test_a_library_whose_loss_turns_nan_fails_saying_where(tmp_path, fake_library):
    fake_library("nan_loss")
    code, report = run_compare(tmp_path, "--frameworks", "numpy,nan_loss", "--steps", "100", "--record-every", "10",
                               "--repeat", "1", "--device", "cpu", "--mode", "compiled")
    assert code == 1
    assert report["runs"][1]["status"] == "failed"
    assert report["runs"][1]["reason"] == "loss became nan between steps 20 and 30"


def test_real_divergence_is_a_failure_not_a_crash(tmp_path):
    code, report = run_compare(tmp_path, "--task", "linear", "--lr", "50", "--steps", "200", "--frameworks", "numpy,torch",
                               "--mode", "eager", "--device", "cpu", "--repeat", "1")
    assert code == 1
    assert all(r["status"] == "failed" and "loss became" in r["reason"] for r in report["runs"] if r["device"] == "cpu")


def test_interrupt_exits_130_and_writes_nothing(tmp_path, capsys, fake_library, ctrl_c, monkeypatch):
    """Ctrl-C while a worker runs: the harness stops it, prints what finished, writes no file."""
    from tests.fakes.interrupts import PRESSED_AT

    fake_library("interrupts")
    md, pressed = tmp_path / "r.md", tmp_path.parent / f"{tmp_path.name}-pressed"
    monkeypatch.setenv(PRESSED_AT, str(pressed))
    code = cli.main(["--frameworks", "numpy,interrupts", "--steps", "10", "--device", "cpu", "--json", str(tmp_path / "r.json"),
                     "--markdown", str(md), "--plots", str(tmp_path / "plots")])
    assert code == 130
    # Timed from the press, not from the test's start (imports and the NumPy run are not the
    # stop's): the running worker is killed at once, not given the 10 s grace of a normal stop.
    assert time.monotonic() - float(pressed.read_text()) < 5
    assert os.listdir(tmp_path) == [] or os.listdir(tmp_path) == ["plots"] and os.listdir(tmp_path / "plots") == []
    err = capsys.readouterr().err
    assert "numpy" in err and "interrupted" in err  # what finished is still printed
    assert live_children() == []


def sigint_ignored(pid: int) -> bool:
    """Whether the kernel says process `pid` ignores SIGINT (the SigIgn mask in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False


def test_started_with_sigint_ignored_the_harness_keeps_ignoring_it(tmp_path):
    """`nohup compare.py &` asks for Ctrl-C to be ignored, and it is: SIGINT sent again and again
    while it runs changes nothing (the run finishes and writes its report)."""
    report = tmp_path / "r.json"
    proc = subprocess.Popen(["bash", "-c", 'trap "" INT; exec "$@"', "-", sys.executable, "compare.py", "--frameworks", "numpy",
                             "--steps", "3000", "--repeat", "2", "--device", "cpu", "--json", str(report)],
                            cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        sent, deadline = 0, time.monotonic() + 90
        # Until Python runs with SIGINT ignored. Not "until argv[0] is no longer bash": while a
        # process execs, /proc/PID/cmdline reads empty, and a SIGINT sent then killed bash before
        # its trap (CI saw the -2).
        while not (b"compare.py" in Path(f"/proc/{proc.pid}/cmdline").read_bytes() and sigint_ignored(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "the harness never started with SIGINT ignored"
            time.sleep(0.01)
        while proc.poll() is None and time.monotonic() < deadline:
            proc.send_signal(signal.SIGINT)
            sent += 1
            time.sleep(0.2)
        err = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 0 and sent > 3, err
    assert json.loads(report.read_text())["ok"]


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from shared.reports import files

    target = tmp_path / "out.json"
    monkeypatch.setattr(files.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        files.write_atomically(str(target), "x" * 1000)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("library,mode", library_mode_params())
def test_two_identical_runs_are_bit_identical(library, mode):
    """Determinism on the CPU: fresh preparation, same inputs, the very same bits."""
    problem = problem_for("sine", "float32", steps=60, record_every=20)
    first = LOADED[library].prepare(problem, mode, "cpu")()
    second = LOADED[library].prepare(problem, mode, "cpu")()
    assert np.array_equal(first.predictions, second.predictions)
    assert all(np.array_equal(a, b) for a, b in zip(first.weights, second.weights))
    assert np.array_equal(first.loss_history, second.loss_history)


def test_a_figure_that_fails_costs_only_itself(tmp_path, monkeypatch, capsys):
    """--plots with a figure that raises: the reports are still written, one line says why, exit 1."""
    import json

    from shared.reports import plots

    def broken(*args):
        raise RuntimeError("no room for the legend")

    monkeypatch.setattr(plots, "write_plots", broken)
    code = cli.main(["--frameworks", "numpy", "--steps", "20", "--repeat", "1", "--device", "cpu", "--json",
                     str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md"), "--plots", str(tmp_path / "figures")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] and "plots" not in report and (tmp_path / "r.md").read_text()
    assert err[-1] == ("compare.py: the figures could not be drawn (RuntimeError: no room for the legend); "
                       "the reports were written")


def test_markdown_and_every_figure(tmp_path):
    from matplotlib.image import imread

    for task in ("xor", "linear", "sine"):
        args = ["--task", task, "--frameworks", f"numpy,{BESIDE}", "--steps", "300", "--repeat", "1", "--device", "cpu",
                "--mode", "compiled",  # every figure is drawn from the runs there are; eager runs would add only time
                "--plots", str(tmp_path / "plots"), "--markdown", str(tmp_path / f"{task}.md")]
        assert cli.main(args) == 0
    names = sorted(os.listdir(tmp_path / "plots"))
    assert names == ["linear_fit.png", "linear_loss_curves.png", "linear_step_time.png", "sine_fit.png", "sine_loss_curves.png",
                     "sine_step_time.png", "xor_decision_regions.png", "xor_loss_curves.png", "xor_step_time.png"]
    for name in names:
        image = imread(tmp_path / "plots" / name)
        assert image.shape[0] > 200 and image.shape[1] > 400 and image.std() > 0.05  # a real picture, not blank
    md = (tmp_path / "xor.md").read_text()
    assert "| library | mode | device |" in md and "## Environment" in md and "OK:" in md


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fake", ["off_by_more", "weights_off", "loss_off"])  # predictions, weights, loss history
def test_a_run_outside_the_tolerance_breaks_parity(tmp_path, capsys, fake_library, dtype, fake):
    fake_library(fake)
    code, report = run_compare(tmp_path, "--frameworks", f"numpy,{fake}", "--steps", "20", "--repeat", "1",
                               "--device", "cpu", "--dtype", dtype, "--mode", "eager")
    assert code == 1
    run = report["runs"][1]
    assert run["status"] == "ok" and run["parity_ok"] is False and report["parity"]["ok"] is False
    assert run["diff"]["scaled"] > report["parity"]["tolerance"]
    out = capsys.readouterr().out
    assert f"PARITY BROKEN against NumPy: {fake} eager cpu: outside tolerance" in out


def test_a_run_in_the_wrong_dtype_breaks_parity_whatever_its_values(tmp_path, capsys, fake_library):
    fake_library("wrong_dtype")
    code, report = run_compare(tmp_path, "--frameworks", "numpy,wrong_dtype", "--steps", "20", "--repeat", "1",
                               "--device", "cpu")
    assert code == 1
    run = report["runs"][1]
    assert run["parity_ok"] is False and run["diff"]["dtype_problem"] == "weights[0] returned in float32, asked for float64"
    printed = " ".join(capsys.readouterr().out.split())  # the verdict wraps at the console's width, whatever it is
    assert "PARITY BROKEN against NumPy: wrong_dtype eager cpu: weights[0] returned in float32" in printed


def test_reports_honour_the_umask_and_keep_an_existing_files_mode(tmp_path):
    from shared.reports import files

    old = os.umask(0o027)
    try:
        files.write_atomically(str(tmp_path / "new.json"), "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640  # 0666 less the umask, not mkstemp's 0600
    existing = tmp_path / "old.json"
    existing.write_text("old")
    existing.chmod(0o604)
    files.write_atomically(str(existing), "new")
    assert existing.read_text() == "new" and existing.stat().st_mode & 0o777 == 0o604
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        files.write_atomically(str(pipe), "x")


def test_sigterm_stops_like_ctrl_c_with_exit_143(tmp_path, capsys, fake_library):
    fake_library("terminates")
    code = cli.main(["--frameworks", "numpy,terminates", "--steps", "10", "--device", "cpu", "--json", str(tmp_path / "r.json")])
    assert code == 143
    assert not (tmp_path / "r.json").exists() and live_children() == []


def test_a_malformed_result_is_one_failed_row(tmp_path, fake_library):
    fake_library("bad_shape")
    code, report = run_compare(tmp_path, "--frameworks", "numpy,bad_shape", "--steps", "20", "--repeat", "1", "--device", "cpu",
                               "--mode", "eager")
    assert code == 1
    assert report["runs"][1]["status"] == "failed"
    assert report["runs"][1]["reason"] == "returned loss history of shape (0,), expected (21,)"


def test_a_symbolic_link_to_a_report_keeps_pointing_at_it(tmp_path):
    from shared.reports import files

    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    files.write_atomically(str(link), "new")
    assert link.is_symlink() and target.read_text() == "new"


@ON_EVERY_LIBRARY_IN_FLOAT64
def test_threads_are_set_in_every_library_and_read_back_from_it(every_library_in_float64):
    """--threads 1: each library's worker sets its own counts and the report records what the
    library then says it uses (MLX, which has no setting, says so)."""
    ran = [n for n in ("numpy", "torch", "tensorflow", "keras:tensorflow", "keras:jax", "jax", "mlx")
           if registry.missing(n) is None]  # keras:torch is skipped in float64 (see test_keras_backends.py)
    code, report = every_library_in_float64
    assert code == 0 and report["config"]["threads"] == 1
    check_shape(report, 4, 1)  # float64, eager, end to end: every run within float64's tolerance
    threads = report["environment"]["threads"]
    expected = {"numpy": ["numpy_blas_threads"], "torch": ["torch_threads", "torch_interop_threads"],
                "tensorflow": ["tf_intra_op_threads", "tf_inter_op_threads"], "jax": ["jax_threads"],
                "keras:tensorflow": ["keras_tf_intra_op_threads", "keras_tf_inter_op_threads"],
                "keras:jax": ["keras_jax_threads"],
                "mlx": ["mlx_threads"]}
    for name in ran:
        for key in expected[name]:
            if key == "numpy_blas_threads" and importlib.util.find_spec("threadpoolctl") is None:
                continue
            assert key in threads, (key, threads)
            value = threads[key]
            assert value == "1" or value.endswith(":1") or value.startswith("1 (") or "(1 asked" in value, (key, value)
