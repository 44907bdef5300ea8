"""Keras 3 on each of its backends, each in a worker of its own (Keras fixes its backend when
imported). float32 holds parity on every backend; float64 on TensorFlow and JAX. Keras 3.15.1
maps float64 to float32 in its type promotion on every backend but TensorFlow
(BIT64_TO_BIT32_DTYPE, keras/src/backend/common/dtypes.py): on JAX that reaches `ops.tanh` and
`ops.mean`, which the Keras file avoids; on torch it reaches `ops.matmul` inside `Dense` and
`ops.divide_no_nan` inside `compile`'s loss, which it cannot, so torch is skipped in float64.
The ops are pinned here in fresh processes: once Keras keeps float64 there, these tests fail
and the skip reason is stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ON_EVERY_LIBRARY_IN_FLOAT64, ON_EVERY_LIBRARY_ON_XOR, SHARED_RUN_STEPS, run_compare

from shared.contract.tolerances import tolerance
from shared.harness import registry

SHORT = ["--steps", str(SHARED_RUN_STEPS), "--repeat", "1", "--device", "cpu"]
INSTALLED = [t for t in registry.LIBRARIES["keras"].targets if registry.missing(t) is None]
TORCH_ON_CUDA = "Keras' torch backend puts models on the GPU"  # its CPU row is skipped by design there


def keras_rows(report: dict, mode: str | None = None) -> dict[str, dict]:
    """Keras' rows by backend, but its GPU rows (in `mode` only, where the run has several; a
    backend skipped as a whole has one row, for every device and mode)."""
    return {r["keras_backend"]: r for r in report["runs"]
            if r["framework"] == "keras" and r["device"] != "gpu" and mode in (None, r["mode"])}


@ON_EVERY_LIBRARY_ON_XOR
def test_float32_every_backend_in_parity(every_library_on_xor):
    """Read from the shared float32 run of every library on XOR (as long as SHORT)."""
    code, report = every_library_on_xor
    assert report["config"]["dtype"] == "float32" and report["config"]["steps"] == SHARED_RUN_STEPS
    for mode in ("compiled", "eager"):
        rows = keras_rows(report, mode)
        assert sorted(rows) == sorted(registry.split(t)[1] for t in INSTALLED) and len(rows) >= 2
        for backend, run in rows.items():
            if run["status"] == "skipped" and backend == "torch" and TORCH_ON_CUDA in run["reason"]:
                continue
            assert run["status"] == "ok" and run["parity_ok"], run
            assert run["max_abs_diff"] <= tolerance("float32")
            assert run["import_s"] > 0 and run["peak_rss_bytes"] > 0
    assert code == 0


@ON_EVERY_LIBRARY_IN_FLOAT64
def test_float64_default_runs_tensorflow_and_jax_and_skips_torch(every_library_in_float64):
    """Read from the shared float64 run of every library (eager, CPU, as long as SHORT)."""
    code, report = every_library_in_float64
    assert code == 0 and report["config"]["dtype"] == "float64" and report["config"]["steps"] == SHARED_RUN_STEPS
    rows = keras_rows(report)
    for backend in ("tensorflow", "jax"):
        if f"keras:{backend}" in INSTALLED:
            run = rows[backend]
            assert run["status"] == "ok" and run["parity_ok"] and run["max_abs_diff"] <= tolerance("float64"), run
    if "keras:torch" in INSTALLED:
        reason = rows["torch"]["reason"]
        assert rows["torch"]["status"] == "skipped" and reason == registry.dtype_skip("keras:torch", "float64")
        assert "ops.matmul" in reason and "ops.divide_no_nan" in reason and "name keras:torch to run it anyway" in reason


@pytest.mark.skipif("keras:torch" not in INSTALLED, reason="Keras' torch backend needs torch installed")
def test_float64_named_torch_backend_runs_and_fails_honestly(tmp_path):
    """float64 tensors, float32's precision: parity breaks by the size float32 rounding gives."""
    code, report = run_compare(tmp_path, "--frameworks", "numpy,keras:torch", "--mode", "eager", *SHORT)
    run = keras_rows(report)["torch"]
    if run["status"] == "skipped" and TORCH_ON_CUDA in run["reason"]:
        pytest.skip(run["reason"])
    assert code == 1 and run["status"] == "ok" and run["parity_ok"] is False and run["dtype"] == "float64"
    assert 1e-9 < run["max_abs_diff"] < 1e-6, run["max_abs_diff"]


# Each op on float64 operands, in a fresh process per backend: its result dtype, and how far
# its value is from NumPy's float64 (relative). floatx float64, as the Keras file sets it.
PROBE = """
import json, os, sys
if os.environ["KERAS_BACKEND"] == "jax":
    import jax
    jax.config.update("jax_enable_x64", True)
import keras, numpy as np
from keras import ops
keras.config.set_floatx("float64")
a, b = np.random.RandomState(0).normal(size=(64, 3)), np.random.RandomState(1).normal(size=(3, 5))
A, B = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
cases = {"matmul": (ops.matmul(A, B), a @ b), "tanh": (ops.tanh(A), np.tanh(a)),
         "mean": (ops.mean(A, axis=-1), a.mean(-1)), "divide_no_nan": (ops.divide_no_nan(A, 3.0), a / 3.0),
         "sum": (ops.sum(A, axis=-1), a.sum(-1)), "add": (ops.add(A, A), a + a)}
out = {}
for name, (y, ref) in cases.items():
    y = ops.convert_to_numpy(y)
    out[name] = [str(y.dtype), float(np.max(np.abs(y.astype(np.float64) - ref) / np.maximum(1, np.abs(ref))))]
print(json.dumps({"keras": keras.__version__, "ops": out}))
"""


def probe(backend: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


FLOAT32_ROUNDING = (1e-9, 1e-6)  # a float64 value computed in float32 is this far off, relatively


@pytest.mark.skipif("keras:torch" not in INSTALLED, reason="Keras' torch backend needs torch installed")
def test_the_torch_skip_reason_is_what_keras_does():
    """On torch, ops.matmul and ops.divide_no_nan return float32 for float64 operands; ops.mean
    returns float64 holding float32's value. If a Keras release keeps float64, this fails: run
    keras:torch in float64 and drop or rewrite DTYPE_SKIPS."""
    found = probe("torch")
    ops = found["ops"]
    assert found["keras"] in registry.LIBRARIES["keras"].dtype_skips["float64 on torch"]
    for name in ("matmul", "divide_no_nan"):
        assert ops[name][0] == "float32" and FLOAT32_ROUNDING[0] < ops[name][1] < FLOAT32_ROUNDING[1], (name, ops[name])
    assert ops["mean"][0] == "float64" and FLOAT32_ROUNDING[0] < ops["mean"][1] < FLOAT32_ROUNDING[1], ops["mean"]
    for name in ("tanh", "sum", "add"):
        assert ops[name] == ["float64", pytest.approx(0, abs=1e-15)], (name, ops[name])


@pytest.mark.skipif("keras:jax" not in INSTALLED, reason="Keras' JAX backend needs jax installed")
def test_the_jax_workarounds_are_still_needed():
    """On JAX, ops.tanh returns float32 for float64 and ops.mean float32's value (why the Keras
    file uses JAX's tanh and sums over counts there); matmul, divide_no_nan, sum stay float64."""
    ops = probe("jax")["ops"]
    assert ops["tanh"][0] == "float32" and FLOAT32_ROUNDING[0] < ops["tanh"][1] < FLOAT32_ROUNDING[1], ops["tanh"]
    assert ops["mean"][0] == "float64" and FLOAT32_ROUNDING[0] < ops["mean"][1] < FLOAT32_ROUNDING[1], ops["mean"]
    for name in ("matmul", "divide_no_nan", "sum", "add"):
        assert ops[name] == ["float64", pytest.approx(0, abs=1e-15)], (name, ops[name])


ONE_STEP = """
import json, sys
sys.path[:0] = ["tests", "."]
from implementations import keras as lesson
from conftest import problem_for
from shared.contract.tasks import TASKS
from shared.contract.tolerances import step_tolerance
from shared.harness.one_step import differences, one_step
from implementations.numpy import lesson as numpy_lesson
out = {}
for dtype in ("float32", "float64"):
    for task in TASKS:
        problem = problem_for(task, dtype, steps=3)
        compared = differences(one_step(lesson, problem), one_step(numpy_lesson, problem))
        first = next((row for row in compared if row[2] > step_tolerance(dtype)), None)
        out[f"{task} {dtype}"] = [first and first[:3], sorted({row[3] for row in compared})]
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_one_step_on_each_backend_matches_numpy_but_torch_in_float64(backend):
    """tests/test_lessons.py's comparison, for Keras on JAX and torch (each fixed when Keras is
    imported: a fresh process each). In float64 on torch the first quantity out of tolerance is
    the first layer's pre-activation, off by float32's rounding (Keras' ops.matmul there returns
    float32, which the bias's float64 add hides from the result's dtype), as DTYPE_SKIPS says."""
    if f"keras:{backend}" not in INSTALLED:
        pytest.skip(f"Keras' {backend} backend needs {backend} installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", ONE_STEP], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for case, (first, dtypes) in found.items():
        dtype = case.split()[1]
        if backend == "torch" and dtype == "float64":  # some results even come back float32 (softmax's loss)
            assert first[:2] == ["pre-activation", 0] and FLOAT32_ROUNDING[0] < first[2] < FLOAT32_ROUNDING[1], (case, first)
        else:
            assert first is None and dtypes == [dtype], (case, first, dtypes)
