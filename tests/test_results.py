"""The committed results are never stale unseen: every report under results/ carries its stamp
(commit, times, machine, load average), leaves out no registered library or engine without a row
saying why, and every figure carries the stamp of the report it draws (a figure older than its
report fails). Each check is also shown failing on a broken case. Regenerate them all with
`python results/regenerate.py` (docs/results.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from PIL import Image

from shared.harness import registry
from shared.reports.plots import figure_source

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
# Every report under results/, and the kind of rows it has.
REPORTS = {"cpu_xor.json": "compare", "cpu_digits.json": "compare", "every_task_cpu.json": "tasks",
           "every_task_cpu_threads1.json": "tasks", "scale_cpu.json": "scale", "parallel_cpu.json": "parallel",
           "inductor_loop_cpu.json": "benchmark"}
# Every figure under results/, and the report it draws (a screenshot: the report its page or screen shows).
FIGURES = {"xor_decision_regions.png": "cpu_xor.json", "xor_loss_curves.png": "cpu_xor.json",
           "xor_step_time.png": "cpu_xor.json", "terminal_100.png": "cpu_xor.json", "side_by_side.png": "cpu_xor.json",
           "digits_confusion.png": "cpu_digits.json", "digits_loss_curves.png": "cpu_digits.json",
           "digits_misclassified.png": "cpu_digits.json", "digits_step_time.png": "cpu_digits.json",
           "every_task.png": "every_task_cpu.json", "scale_step_time.png": "scale_cpu.json",
           "parallel_step_time.png": "parallel_cpu.json", "side_by_side_parallel.png": "parallel_cpu.json"}


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def stamp_problems(report: dict) -> list[str]:
    """What is missing from a report's stamp."""
    stamp = report.get("stamp")
    if not isinstance(stamp, dict):
        return ["no stamp"]
    problems = [f"stamp without {key}" for key in ("commit", "started", "finished", "machine") if not stamp.get(key)]
    load_average = stamp.get("load_average") or {}
    problems += [f"stamp without the load average at its {when}" for when in ("start", "end") if not load_average.get(when)]
    return problems


def targets() -> set[str]:
    """Every registered library's targets, as a compare report names them ("keras (jax)")."""
    return {f"{name} ({backend})" if backend else name
            for name in registry.listed() for name, backend in map(registry.split, registry.LIBRARIES[name].targets)}


def coverage_problems(report: dict, kind: str) -> list[str]:
    """A registered library (or engine) that a report leaves out, or one whose row does not say why it did not run."""
    if kind == "benchmark":
        return []
    rows = {"compare": report.get("runs"), "tasks": report.get("cells"), "scale": report.get("rows"),
            "parallel": report.get("rows")}[kind] or []

    def name(row: dict) -> str:
        if kind == "parallel":
            return row["engine"]
        if kind == "tasks":
            return row["library"]
        if kind == "compare":
            return f"{row['framework']} ({row['keras_backend']})" if row.get("keras_backend") else row["framework"]
        return row["framework"]

    expected = set(registry.listed_engines()) if kind == "parallel" else set(registry.listed()) if kind == "scale" else targets()
    found = {name(row) for row in rows}
    problems = [f"no row for {missing}" for missing in sorted(expected - found)]
    problems += [f"{name(row)}: {row['status']} without a reason" for row in rows if row.get("status") != "ok" and not row.get("reason")]
    return problems


def figure_problems(path: Path, report: dict) -> list[str]:
    """A figure that does not carry its report's stamp was drawn from another (an older) report."""
    with Image.open(path) as image:
        source = image.text.get("Source") if hasattr(image, "text") else None
    if source is None:
        return [f"{path.name}: carries no stamp"]
    return [] if source == figure_source(report) else [f"{path.name}: drawn from {source!r}, not the report's {figure_source(report)!r}"]


def test_every_file_under_results_is_a_known_report_or_figure():
    found = {p.name for p in RESULTS.iterdir() if p.suffix in (".json", ".png")}
    assert found == set(REPORTS) | set(FIGURES)
    assert {p.name for p in RESULTS.glob("*.md")} == {name.replace(".json", ".md") for name in REPORTS if name != "inductor_loop_cpu.json"}


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_report_is_stamped_and_leaves_no_library_out(name):
    report = load(name)
    assert stamp_problems(report) == []
    assert coverage_problems(report, REPORTS[name]) == []


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_carries_the_stamp_of_its_report(name):
    assert figure_problems(RESULTS / name, load(FIGURES[name])) == []


def rendered(name: str) -> str:
    """The Markdown that report `name` renders to with today's code, its rows typed again from the JSON."""
    from shared.reports import report as compare_report
    from shared.reports.rows import ParallelRow, RunRow, ScaleRow, from_json_rows
    from shared.studies import every_task, parallel_report, scale

    report, kind = load(name), REPORTS[name]
    if kind == "tasks":
        return every_task.markdown(report | {"cells": [every_task.Cell(**c) for c in report["cells"]]})
    key, row, markdown = {"compare": ("runs", RunRow, compare_report.markdown), "scale": ("rows", ScaleRow, scale.markdown),
                          "parallel": ("rows", ParallelRow, parallel_report.markdown)}[kind]
    return markdown(from_json_rows(report, key, row))


@pytest.mark.parametrize("name", sorted(name for name, kind in REPORTS.items() if kind != "benchmark"))
def test_every_markdown_report_is_what_its_json_renders_to(name):
    """No table edited by hand, and none left in an older format: a change to how a table reads
    comes with its reports rendered again (from the same JSON: no new measurement)."""
    assert (RESULTS / name.replace(".json", ".md")).read_text() == rendered(name)


def test_the_gpu_reports_say_they_were_not_regenerated():
    """results/gpu/ needs a GPU machine: each report there carries a stamp saying when and on what
    it was measured and that it is not from the current code."""
    for path in (RESULTS / "gpu").glob("*.json"):
        stamp = json.loads(path.read_text()).get("stamp") or {}
        assert stamp.get("machine") and stamp.get("finished") and stamp.get("not_regenerated"), path.name


def test_the_checks_fail_on_broken_cases(tmp_path):
    report = load("cpu_xor.json")
    no_stamp = {k: v for k, v in report.items() if k != "stamp"}
    assert stamp_problems(no_stamp) == ["no stamp"]
    busy = copy.deepcopy(report)
    busy["stamp"]["load_average"]["end"] = None
    assert stamp_problems(busy) == ["stamp without the load average at its end"]
    missing = copy.deepcopy(report)
    missing["runs"] = [r for r in missing["runs"] if r["framework"] != "mlx"]
    assert coverage_problems(missing, "compare") == ["no row for mlx"]
    silent = copy.deepcopy(report)
    skipped = next(r for r in silent["runs"] if r["status"] == "skipped")
    skipped["reason"] = None
    assert coverage_problems(silent, "compare") == [f"{skipped['framework']} ({skipped['keras_backend']}): skipped without a reason"]
    engines = load("parallel_cpu.json")
    engines["rows"] = [r for r in engines["rows"] if r["engine"] != "jax"]
    assert coverage_problems(engines, "parallel") == ["no row for jax"]
    newer = copy.deepcopy(report)
    newer["stamp"]["finished"] = "2099-01-01T00:00:00+00:00"  # the report was made again after the figure
    assert figure_problems(RESULTS / "xor_loss_curves.png", newer)
    plain = tmp_path / "plain.png"
    with Image.open(RESULTS / "xor_loss_curves.png") as image:
        image.save(plain)  # no text chunk: an unstamped figure
    assert figure_problems(plain, report) == ["plain.png: carries no stamp"]
