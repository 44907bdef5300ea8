"""`compare.py scale --quick`: rows for every installed library on the CPU, with the fields the
study reports, parity with NumPy at every size, and the figure."""

from __future__ import annotations

import json

import pytest
from conftest import LOADED
from matplotlib.image import imread

from shared import scale

FIELDS = {"framework", "mode", "device", "sweep", "width", "batch", "steps", "step_us_median", "samples_per_s",
          "flops_per_step", "gflops_per_s", "peak_memory_bytes", "status", "timing", "method"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    code = scale.main(["--quick", "--device", "cpu", "--json", str(folder / "s.json"), "--markdown", str(folder / "s.md"),
                       "--plots", str(folder)])
    return code, json.loads((folder / "s.json").read_text()), folder


def test_rows_for_every_library_with_the_fields(quick_report):
    code, report, _ = quick_report
    assert code == 0
    cells = scale.points(scale.SWEEPS["quick"])
    for name in LOADED:
        rows = [r for r in report["rows"] if r["framework"] == name and r["device"] == "cpu"]
        assert len(rows) == len(cells)
        for r in rows:
            assert r["status"] == "ok", r
            assert set(r) >= FIELDS, FIELDS - set(r)
            assert r["step_us_median"] > 0 and r["samples_per_s"] > 0 and r["gflops_per_s"] > 0
            assert r["flops_per_step"] == scale.flops_per_step((scale.N_FEATURES, r["width"], r["width"], 1), r["batch"])
            assert r["peak_memory_bytes"] is None  # no library reports peak memory on the CPU
            if name != "numpy":
                assert r["parity_ok"] and r["max_abs_diff"] <= 1e-4


def test_crossovers_growth_and_figure(quick_report):
    _, report, folder = quick_report
    assert {c["framework"] for c in report["crossovers"]} == set(LOADED)
    assert all(c["gpu_measured"] is False for c in report["crossovers"])  # CPU only here
    assert report["growth"] and all(g["flop_exponent"] > 0 for g in report["growth"])
    image = imread(folder / "scale_step_time.png")
    assert image.shape[1] > 800 and image.std() > 0.05
    assert "## Crossovers" in (folder / "s.md").read_text()


def test_flop_count():
    assert scale.flops_per_step((8, 4, 4, 1), 2) == 6 * 2 * (8 * 4 + 4 * 4 + 4 * 1)
