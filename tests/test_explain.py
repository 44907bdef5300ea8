"""`compare.py explain`: test-only libraries with one fault each are found at the right step,
quantity and layer; every real library in parity is said to be so (first_step null) on every
task in both dtypes; Keras on torch in float64 is found at its first step, in its first layer's
product, float32's precision in a float64 result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MISSING, problem_for
from test_parity import SCHEDULES, schedule_problem

from shared.contract.interface import DTYPES
from shared.contract.tasks import TASKS
from shared.harness import registry
from shared.studies.explain import Explainer, Trajectory, explain

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("fake, task, expected", [
    ("explain_gradient", "xor", (7, "weight gradient", 1)),  # wrong from its step FROM (7) on
    ("explain_float32", "xor", (1, "pre-activation", 0)),
    ("explain_lr", "xor", (1, "updated weights", 0)),
    ("explain_sum", "linear", (1, "loss", None)),  # a batch of 200: the sum is 200 means
])
def test_a_library_with_one_fault_is_found_at_its_step_quantity_and_layer(fake_library, fake, task, expected):
    fake_library(fake)
    problem = problem_for(task, "float64", steps=20)
    found = explain(fake, problem, "eager")
    assert found.status == "ok", found.reason
    assert (found.first_step, found.quantity, found.layer) == expected, found
    assert found.max_rel_diff > found.tolerance and found.dtypes == {fake: "float64", "numpy": "float64"}
    assert found.windows_run <= 3 + 20 .bit_length()  # the whole run, bisection and the step alone: not every step
    assert (found.computed_in == "float32") is (fake == "explain_float32")
    layers = len(problem.weights)
    assert [q["quantity"] for q in found.quantities][:2 * layers + 1] == ["pre-activation", "activation"] * layers + ["loss"]
    first_out = next(q for q in found.quantities if q["max_rel_diff"] > found.tolerance)
    assert (first_out["quantity"], first_out["layer"]) == expected[1:]


def test_the_bisection_finds_a_late_first_step_in_a_long_run(fake_library, monkeypatch):
    fake_library("explain_gradient")
    monkeypatch.setenv("NN_ROSETTA_TEST_FROM", "1234")  # read by the fake in its worker
    problem = problem_for("xor", "float64", steps=2000)
    found = explain("explain_gradient", problem, "eager")
    assert (found.first_step, found.quantity, found.layer) == (1234, "weight gradient", 1)
    assert found.windows_run <= 3 + 2000 .bit_length()


def test_a_fault_larger_than_float32s_rounding_is_not_read_as_float32(fake_library, monkeypatch):
    """A gradient 1e-5 too large (some 80 float32 ulps) is a fault, not float32 arithmetic."""
    fake_library("explain_gradient")
    monkeypatch.setenv("NN_ROSETTA_TEST_FACTOR", "1.00001")
    found = explain("explain_gradient", problem_for("xor", "float64", steps=20), "eager")
    assert (found.first_step, found.quantity, found.layer) == (7, "weight gradient", 1)
    assert found.computed_in is None


def test_rounding_that_accumulates_over_a_long_run_names_no_step(fake_library):
    fake_library("explain_drift")
    found = explain("explain_drift", problem_for("xor", "float64", steps=20_000), "eager")
    assert found.status == "ok" and found.first_step is None and found.quantity is None, found
    assert found.whole_run_diff > 1e-9 and "rounding accumulated" in found.verdict


def test_a_fault_in_the_compiled_program_alone_is_said_to_be_there(fake_library):
    fake_library("explain_compiled")
    problem = problem_for("xor", "float64", steps=20)
    found = explain("explain_compiled", problem, "compiled")
    assert found.first_step == 1 and found.quantity is None and "compiled program" in found.verdict, found
    assert explain("explain_compiled", problem, "eager").verdict == "in parity"


def test_a_numpy_run_that_diverges_is_said_to_and_no_library_is_blamed():
    found = explain("mlx", problem_for("linear", "float64", steps=200, lr=50.0), "eager")
    assert found.status == "failed" and "NumPy's own run diverges at step" in found.reason and found.first_step is None


def test_numpy_trajectory_at_checkpoints_and_in_between():
    problem = problem_for("xor", "float64", steps=300)
    trajectory = Trajectory(problem)
    from implementations.numpy import lesson

    model = [w.copy() for w in problem.weights]
    for s in range(137):
        model, _ = lesson.train_step(model, problem.schedule.lr, problem.spec, problem.x_train[problem.schedule.indices[s]],
                                     problem.t_train[problem.schedule.indices[s]])
    assert all((a == b).all() for a, b in zip(trajectory.before(137), model))
    assert len(trajectory.kept) <= 66  # checkpoints, not every step


TARGETS = [t for t in (*(n for n in registry.FRAMEWORKS if n != "numpy" and not registry.LIBRARIES[n].backends),
                       *registry.backend_targets())]


@pytest.mark.timeout(900)  # every library and task in both dtypes: about 3 minutes on the 2-core machine
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", TARGETS)
def test_every_library_in_parity_is_said_to_be_so_on_every_task(target, dtype):
    if registry.missing(target) or registry.split(target)[0] in MISSING:
        pytest.skip(registry.missing(target) or MISSING[registry.split(target)[0]])
    if registry.dtype_skip(target, dtype):
        pytest.skip("not in parity by design (its DTYPE_SKIPS); the next test explains it")
    with Explainer(target, dtype) as explainer:
        for task in TASKS:
            found = explainer.explain(schedule_problem(task, dtype), "eager")
            assert found.status == "ok" and found.verdict == "in parity" and found.first_step is None, (task, found)
            assert found.whole_run_diff <= found.tolerance and found.windows_run == 1  # within one step's tolerance even
    assert len(SCHEDULES) == len(TASKS)


@pytest.mark.skipif("keras:torch" in MISSING or registry.missing("keras:torch") is not None, reason="needs Keras and torch")
def test_keras_on_torch_in_float64_is_explained_from_the_command_line(tmp_path):
    path = tmp_path / "explained.json"
    done = subprocess.run([sys.executable, "compare.py", "explain", "--frameworks", "keras:torch", "--dtype", "float64",
                           "--steps", "40", "--json", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    found = json.loads(path.read_text())
    assert (found["library"], found["first_step"], found["quantity"], found["layer"]) == ("keras:torch", 1, "pre-activation", 0)
    assert found["dtypes"] == {"keras:torch": "float64", "numpy": "float64"} and found["computed_in"] == "float32"
    assert 1e-10 < found["max_rel_diff"] < 1e-5 and {"quantities", "tolerance", "tolerance_reason"} <= set(found)
    assert "leaves NumPy at step 1 of 40: the pre-activation of layer 0" in " ".join(done.stdout.split())
    assert "float32" in done.stdout


@pytest.mark.parametrize("argv, words", [
    (["--frameworks", "torch,jax"], ["one library at a time"]),
    (["--frameworks", "keras"], ["unknown library 'keras'", "keras:jax"]),  # one backend at a time
    (["--frameworks", "numpy"], ["unknown library 'numpy'"]),
    ([], ["--frameworks"]),
    (["--frameworks", "jax", "--mode", "fast"], ["--mode"]),
])
def test_bad_explain_input_is_one_line_and_exit_2(argv, words):
    done = subprocess.run([sys.executable, "compare.py", "explain", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and all(w in lines[0] for w in words), done.stderr
