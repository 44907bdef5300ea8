"""Keras 3 on its other backends (a fresh process each, since KERAS_BACKEND is read at import).
float32 holds parity on JAX and torch; float64 cannot, because Keras maps 64-bit results of
its ops to 32 bits on every backend but TensorFlow (keras/src/backend/common/dtypes.py,
BIT64_TO_BIT32_DTYPE), whatever JAX's x64 switch says."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run_keras(backend: str, dtype: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "compare.py", "--frameworks", "numpy,keras", "--mode", "eager", "--device", "cpu",
                             "--steps", "60", "--repeat", "1", "--dtype", dtype, "--json", "-"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == (0 if dtype == "float32" else 1), result.stderr
    report = json.loads(result.stdout)
    keras_run = next(r for r in report["runs"] if r["framework"] == "keras" and r["device"] == "cpu")
    assert keras_run["keras_backend"] == backend
    return keras_run


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_float32_parity_on_other_backends(backend):
    run = run_keras(backend, "float32")
    assert run["status"] == "ok" and run["parity_ok"], run
    assert run["max_abs_diff"] <= 1e-4


def test_float64_on_jax_backend_is_silently_float32():
    run = run_keras("jax", "float64")
    assert run["status"] == "ok" and run["parity_ok"] is False
    assert run["diff"]["dtype_problem"] == "computed in float32, asked for float64"
