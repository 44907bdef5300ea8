"""`compare.py scale --quick`: rows for every installed library on the CPU, with the fields the
study reports, parity with NumPy at every size, and the figure."""

from __future__ import annotations

import json

import pytest
import shared_runs
from conftest import LOADED
from matplotlib.image import imread

from shared.commands import cli
from shared.harness import registry, runner
from shared.studies import scale

FIELDS = {"framework", "mode", "device", "sweep", "width", "batch", "steps", "step_us_median", "samples_per_s",
          "flops_per_step", "gflops_per_s", "peak_memory_bytes", "peak_rss_bytes", "status", "timing", "method"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    code = cli.main(["scale", "--quick", "--device", "cpu", "--json", str(folder / "s.json"), "--markdown", str(folder / "s.md"),
                       "--plots", str(folder)])
    return code, json.loads((folder / "s.json").read_text()), folder


@shared_runs.on("quick_report")  # the two tests of the one quick run share a test process (test.sh's loadgroup)
def test_rows_for_every_library_with_the_fields(quick_report):
    code, report, _ = quick_report
    assert code == 0
    cells = scale.points(scale.SWEEPS["quick"])
    for name in registry.expand(list(LOADED)):  # Keras on each of its backends, as in compare
        rows = [r for r in report["rows"] if r["target"] == name and r["device"] == "cpu"]
        assert len(rows) == len(cells)
        for r in rows:
            assert r["status"] == "ok", r
            assert set(r) >= FIELDS, FIELDS - set(r)
            assert r["step_us_median"] > 0 and r["samples_per_s"] > 0 and r["gflops_per_s"] > 0
            assert r["flops_per_step"] == scale.flops_per_step((scale.N_FEATURES, r["width"], r["width"], 1), r["batch"])
            # From the OS, per size, of the library's own worker (NumPy's is ~40 MiB): more than an
            # interpreter with NumPy, less than the machine.
            assert 25 * 2**20 < r["peak_rss_bytes"] < 64 * 2**30 and r["peak_rss_scope"] == "this size"
            if name != "numpy":
                assert r["parity_ok"] and r["max_abs_diff"] <= 1e-4


@shared_runs.on("quick_report")
def test_crossovers_growth_and_figure(quick_report):
    _, report, folder = quick_report
    assert {c["framework"] for c in report["crossovers"]} == {runner.library_name(t) for t in registry.expand(list(LOADED))}
    assert all(c["gpu_measured"] is False for c in report["crossovers"])  # CPU only here
    assert report["growth"] and all(g["flop_exponent"] > 0 for g in report["growth"])
    image = imread(folder / "scale_step_time.png")
    assert image.shape[1] > 800 and image.std() > 0.05
    assert "## Crossovers" in (folder / "s.md").read_text()


def test_flop_count():
    assert scale.flops_per_step((8, 4, 4, 1), 2) == 6 * 2 * (8 * 4 + 4 * 4 + 4 * 1)


def test_device_peak_is_per_measurement_or_says_why_not():
    """A library that can reset its counter reports each measurement's own peak; one that
    cannot (JAX) reports a peak only when the measurement set a new one, never an earlier one's."""
    from types import SimpleNamespace

    from shared.harness.memory import DevicePeak

    state = {"peak": 0}
    resettable = SimpleNamespace(reset_gpu_peak=lambda: state.update(peak=0) or True, gpu_peak_bytes=lambda: state["peak"])
    growing_only = SimpleNamespace(reset_gpu_peak=lambda: False, gpu_peak_bytes=lambda: state["peak"])
    for module in (resettable, growing_only):
        state["peak"] = 0
        first = DevicePeak(module, "gpu", "lib")
        first.start()
        state["peak"] = 500
        assert first.result() == (500, None)
        second = DevicePeak(module, "gpu", "lib")
        second.start()
        state["peak"] = max(state["peak"], 200)  # a smaller measurement
        peak, note = second.result()
        if module is resettable:
            assert (peak, note) == (200, None)
        else:
            assert peak is None and note.startswith("lib cannot reset")
    idle = DevicePeak(resettable, "gpu", "lib")
    idle.start()
    assert idle.result() == (0, None)  # reset, then nothing allocated: a peak of 0 is this measurement's own
    assert DevicePeak(resettable, "cpu", "lib").result() == (None, None)
    failing = SimpleNamespace(reset_gpu_peak=lambda: 1 / 0, gpu_peak_bytes=lambda: 500)
    broken = DevicePeak(failing, "gpu", "lib")
    broken.start()
    assert broken.result() == (None, None)  # a counter that could not be reset is not read


def test_host_peak_follows_an_allocation():
    from shared.harness.memory import host_peak_rss, reset_host_peak

    assert reset_host_peak()
    before = host_peak_rss()
    block = bytearray(200 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert host_peak_rss() >= before + 190 * 2**20
    del block
    reset_host_peak()
    assert host_peak_rss() < before + 100 * 2**20


def test_scale_parity_includes_the_loss_history(fake_library):
    fake_library("loss_off")
    rows = scale.run_sweep({**scale.SWEEPS["quick"], "widths": [2], "batches": []}, ["numpy", "loss_off"], ["cpu"], "float32")
    fake = [r for r in rows if r.framework == "loss_off"]
    assert fake and all(r.status == "ok" and r.parity_ok is False for r in fake)


def test_a_size_that_crashes_its_worker_costs_that_size_only(fake_library):
    """Each library measures its sizes in a worker process of its own: a segfault at one size is
    that size's failed row (in-process it would have ended the study), and the sizes after it are
    measured in a fresh worker."""
    fake_library("wide_segfaults")
    sweep = {**scale.SWEEPS["quick"], "widths": [2, 16, 1], "batches": []}  # 1: a new size (a repeated one is not re-measured)
    rows = scale.run_sweep(sweep, ["numpy", "wide_segfaults"], ["cpu"], "float32")
    fake = [(r.width, r.status) for r in rows if r.framework == "wide_segfaults"]
    assert fake == [(2, "ok"), (16, "failed"), (1, "ok")]
    crashed = next(r for r in rows if r.framework == "wide_segfaults" and r.status == "failed")
    assert "SIGSEGV" in crashed.reason
    assert all(r.parity_ok for r in rows if r.framework == "wide_segfaults" and r.status == "ok")


def test_a_size_in_both_sweeps_is_measured_once_and_reported_in_each(monkeypatch):
    """The quick sweeps meet at one size: it is timed once per library, and both sweeps' rows
    carry that one measurement (the quick run's test checks every row's parity with NumPy)."""
    from shared.harness.worker import Worker

    real, asked = Worker.run, []

    def counting(self, request, *args, **kwargs):
        asked.append((self.job.target, request.width, request.batch))
        return real(self, request, *args, **kwargs)

    monkeypatch.setattr(Worker, "run", counting)
    sweep = scale.SWEEPS["quick"]
    assert sweep["batch_width"] in sweep["widths"] and sweep["width_batch"] in sweep["batches"]  # a size in common
    rows = scale.run_sweep(sweep, ["numpy"], ["cpu"], "float32")
    shared = (sweep["batch_width"], sweep["width_batch"])
    assert len(rows) == len(scale.points(sweep)) == len(asked) + 1 and len(set(asked)) == len(asked)
    both = [r for r in rows if (r.width, r.batch) == shared]
    assert [r.sweep for r in both] == ["width", "batch"] and all(r.status == "ok" for r in both)
    assert both[0].step_us_median == both[1].step_us_median and both[0].timing == both[1].timing


def test_threads_reach_every_worker_of_the_study(tmp_path):
    """--threads N in `scale` as in compare: each library's worker sets it, and the report records
    what the library read back."""
    path = tmp_path / "s.json"
    assert cli.main(["scale", "--quick", "--frameworks", "numpy", "--device", "cpu", "--threads", "1",
                     "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["config"]["threads"] == 1
    threads = report["environment"]["threads"]
    assert threads["numpy_blas_threads"].endswith(":1"), threads  # compare's --threads test covers every library


def test_a_worker_gone_after_its_answer_costs_no_size(fake_library, monkeypatch):
    """A worker that ended after answering (WorkerGoneError at the next request) loses nothing:
    its last size stands and the next is measured in a fresh worker, as compare does."""
    from shared.harness.worker import Worker, WorkerGoneError

    real, calls = Worker.run, []

    def gone_once(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise WorkerGoneError("worker exited with status 0 without answering")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Worker, "run", gone_once)
    sweep = {**scale.SWEEPS["quick"], "widths": [2, 4, 8], "batches": []}
    rows = scale.run_sweep(sweep, ["numpy"], ["cpu"], "float32")
    assert [(r.width, r.status) for r in rows] == [(2, "ok"), (4, "ok"), (8, "ok")] and len(calls) == 4


def test_a_slow_size_stops_the_larger_sizes_of_its_own_sweep_only(monkeypatch):
    """The budget stops the sizes after a slow one in the same sweep; the other sweep starts
    small again and is measured."""
    monkeypatch.setattr(scale, "CELL_BUDGET_S", -1.0)  # every size is "too slow"
    sweep = {**scale.SWEEPS["quick"], "widths": [2, 4], "batches": [1, 2]}
    rows = scale.run_sweep(sweep, ["numpy"], ["cpu"], "float32")
    assert [(r.sweep, r.status) for r in rows] == [("width", "ok"), ("width", "skipped"), ("batch", "ok"), ("batch", "skipped")]
    assert rows[1].reason.startswith("stopped: the previous size took")


def test_rates_read_without_exponents():
    """samples/s and GFLOP/s span eight decades: 3 significant digits with k, M or G, never 1.87e+06."""
    from shared.reports.report import compact

    cases = {1867661.17: "1.87M", 3450.0: "3.45k", 623.2: "623", 999.6: "1k", 999_999: "1M", 1.2e9: "1.2G", 87.3: "87.3",
             0.24653: "0.247", 0.0000412: "0.0000412", 40.0: "40"}
    assert {x: compact(x) for x in cases} == cases
