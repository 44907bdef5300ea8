"""Keras 3 on each of its backends, each in a worker of its own (Keras fixes its backend when
imported). float32 holds parity on every backend; float64 holds only on TensorFlow, because
Keras maps 64-bit results of its ops to 32 bits on every other backend
(keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE), whatever JAX's x64 switch says."""

from __future__ import annotations

import pytest
from test_harness import run_compare

from shared.contract.tolerances import tolerance
from shared.harness import registry

SHORT = ["--steps", "60", "--repeat", "1", "--device", "cpu"]
INSTALLED = [t for t in registry.KERAS_TARGETS if registry.missing(t) is None]
TORCH_ON_CUDA = "Keras' torch backend puts models on the GPU"  # its CPU row is skipped by design there


def keras_rows(report: dict) -> dict[str, dict]:
    return {r["keras_backend"]: r for r in report["runs"] if r["framework"] == "keras"}


def test_float32_every_backend_in_parity(tmp_path):
    code, report = run_compare(tmp_path, "--frameworks", "numpy,keras", "--dtype", "float32", "--mode", "compiled", *SHORT)
    rows = keras_rows(report)
    assert sorted(rows) == sorted(registry.split(t)[1] for t in INSTALLED) and len(rows) >= 2
    for backend, run in rows.items():
        if run["status"] == "skipped" and backend == "torch" and TORCH_ON_CUDA in run["reason"]:
            continue
        assert run["status"] == "ok" and run["parity_ok"], run
        assert run["max_abs_diff"] <= tolerance("float32")
        assert run["import_s"] > 0 and run["peak_rss_bytes"] > 0
    assert code == 0


def test_float64_default_skips_the_float32_only_backends(tmp_path):
    code, report = run_compare(tmp_path, "--frameworks", "numpy,keras", "--mode", "eager", *SHORT)
    assert code == 0
    rows = keras_rows(report)
    assert rows["tensorflow"]["status"] == "ok" and rows["tensorflow"]["parity_ok"]
    for target in registry.KERAS_FLOAT32_ONLY:
        backend = registry.split(target)[1]
        if target in INSTALLED:
            assert rows[backend]["status"] == "skipped" and f"name {target} to run it anyway" in rows[backend]["reason"]


@pytest.mark.skipif("keras:jax" not in INSTALLED, reason="Keras' JAX backend needs jax installed")
def test_float64_named_jax_backend_runs_and_fails_honestly(tmp_path):
    code, report = run_compare(tmp_path, "--frameworks", "numpy,keras:jax", "--mode", "eager", *SHORT)
    assert code == 1
    run = keras_rows(report)["jax"]
    assert run["status"] == "ok" and run["parity_ok"] is False
    assert run["diff"]["dtype_problem"] == "computed in float32, asked for float64"
