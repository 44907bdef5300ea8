"""The terminal tables at 80, 100 and 120 columns: every line fits, no number, header word or
library name is split, every note is one footnote under the table, and --wide shows every
column. Built from real reports (results/*.json) with the kinds of rows a run can have added,
so nothing trains here; one test runs compare.py in a real 100-column terminal (tmux)."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from shared.harness.runner import run_row
from shared.reports import report, termtable
from shared.reports.live import LiveLine, duration
from shared.reports.rows import ParallelRow, RunRow, ScaleRow, from_json_rows
from shared.studies import parallel_report, scale
from tests.fakes import FOREVER_S

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
WIDTHS = (80, 100, 120)
MARKS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


# ---------------------------------------------------------------- the reports


def default_xor() -> dict:
    """The committed default run (`python compare.py`): slow-mode cuts and Keras float64 skips."""
    return from_json_rows(load("cpu_xor.json"), "runs", RunRow)


def every_note() -> dict:
    """The default run plus every other kind of row: a failed run, a missing library, a library
    without a GPU (two skipped modes merged), a run out of parity, repeats that differ."""
    r = default_xor()
    runs = r["runs"]
    runs.insert(3, run_row("torch", "compiled", "cpu", "failed", "worker killed by SIGSEGV while running compiled on cpu",
                           import_s=1.02))
    runs += [run_row("jax", mode, "gpu", "skipped", "jax sees no GPU: no CUDA-enabled jaxlib is installed")
             for mode in ("eager", "compiled")]
    runs.append(run_row("tensorflow", "all", "all", "skipped",
                        "tensorflow is not installed; install it with: pip install tensorflow==2.21.0"))
    odd = copy.deepcopy(next(x for x in runs if x.framework == "jax" and x.mode == "compiled"))
    odd.update(framework="keras", keras_backend="jax", parity_ok=False,
               diff={"dtype_ok": False, "dtype_problem": "computed in float32, asked for float64", "scaled": None})
    runs.append(odd)
    next(x for x in runs if x.framework == "torch" and x.mode == "eager").repeatable = False
    r["parity"]["ok"] = r["ok"] = False
    return r


def scale_report() -> dict:
    r = from_json_rows(load("scale_cpu.json"), "rows", ScaleRow)
    rows = r["rows"]
    rows.insert(0, ScaleRow("tensorflow", "all", "skipped",
                            "tensorflow is not installed; install it with: pip install tensorflow==2.21.0"))
    template = {k: getattr(rows[1], k) for k in ("framework", "mode", "device", "sweep", "width", "batch", "steps")}
    stopped = "stopped: the previous size took 61 s (budget 60 s per size)"
    rows += [ScaleRow(**(template | {"framework": "torch", "width": w, "status": "skipped", "reason": stopped}))
             for w in (8192, 16384)]
    rows.append(ScaleRow(**(template | {"framework": "jax", "width": 8192, "status": "failed",
                                        "reason": "XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory allocating 268435456 bytes"})))
    return r


def parallel_report_() -> dict:
    r = parallel_json()
    bad = copy.deepcopy(r["rows"][1])
    bad.update(status="failed", reason="worker 1: ValueError: simulated failure", timing=None, diff=None)
    r["rows"].insert(2, bad)
    return r


def parallel_json() -> dict:
    return from_json_rows(load("parallel_cpu.json"), "rows", ParallelRow)


def compare_rows(r: dict) -> list[termtable.Row]:
    return [termtable.Row(row[:-1], row[-1]) for row in report.table_rows(r)]


def parallel_rows(r: dict) -> list[termtable.Row]:
    return [termtable.Row(row[:-1], row[-1]) for row in parallel_report.table_rows(r)]


# What each report prints, and its tables: (columns, rows) as the checks below read them.
KINDS = {
    "default-xor": (default_xor, lambda r, c, w: report.print_table(r, c, w),
                    lambda r: [(report.TERMINAL_COLUMNS, compare_rows(r))]),
    "every-note": (every_note, lambda r, c, w: report.print_table(r, c, w),
                   lambda r: [(report.TERMINAL_COLUMNS, compare_rows(r))]),
    "scale": (scale_report, lambda r, c, w: scale.print_tables(r, c, w),
              lambda r: [(scale.TERMINAL_COLUMNS, [termtable.Row(x[:-1], x[-1]) for x in scale.table_rows(r)]),
                         (scale.CROSSOVER_COLUMNS, [termtable.Row(x) for x in scale.crossover_rows(r)]),
                         (scale.GROWTH_COLUMNS, [termtable.Row(x) for x in scale.growth_rows(r)])]),
    "parallel": (parallel_report_, lambda r, c, w: parallel_report.print_table(r, c, w),
                 lambda r: [(parallel_report.TERMINAL_COLUMNS, parallel_rows(r))]),
}


def render(kind: str, width: int, wide: bool = False) -> tuple[str, dict]:
    make, draw, _ = KINDS[kind]
    r = make()
    out = io.StringIO()
    draw(r, Console(file=out, width=width, color_system=None), wide)
    return out.getvalue(), r


# ---------------------------------------------------------------- the checks


def footnotes(text: str) -> dict[str, str]:
    """Mark → note, as printed under a table (continuation lines indented)."""
    notes: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        found = re.match(rf"^([{MARKS}]+) (\S.*)$", line)
        if found:
            current = found.group(1)
            notes[current] = found.group(2)
        elif current and line.startswith(" ") and line.strip():
            notes[current] += " " + line.strip()
        else:
            current = None
    return notes


def problems(text: str, width: int | None, columns, rows: list[termtable.Row], shown: list[str]) -> list[str]:
    """What is wrong with a printed table: lines too wide; a row whose unbreakable cells (library
    names, statuses, numbers) are not all whole on one line, in order; a header word split; a
    note that is not exactly one footnote, or a row without its mark."""
    found = []
    lines = text.splitlines()
    if width is not None:
        found += [f"line wider than {width}: {line!r}" for line in lines if cell_len(line) > width]
    notes = footnotes(text)
    mark_of = {note: sign for sign, note in notes.items()}
    for note in dict.fromkeys(" ".join(row.note.split()) for row in rows if row.note):
        if note not in mark_of:
            found.append(f"note not under the table: {note!r}")
        elif list(notes.values()).count(note) != 1:
            found.append(f"note under the table more than once: {note!r}")
    names = [c.name for c in columns]
    for row in rows:
        cells = []
        for column, cell in zip(columns, row.cells):
            if column.name not in shown or column.wraps:
                continue
            sign = mark_of.get(" ".join(row.note.split()), "") if column.name == "status" and row.note else ""
            cells.append(cell + sign)
        pattern = re.compile(r"(?<!\S)" + r"\s(?:.*?\s)?".join(map(re.escape, cells)) + r"(?!\S)")
        if not any(pattern.search(line) for line in lines if cells[0] in line):
            found.append(f"row not whole on one line: {cells}")
    # The header: the lines above each rule (the old rich table's too), box lines as spaces.
    rules = [i for i, line in enumerate(lines) if re.search(r"[─━]{3}", line)]
    header = re.sub(r"[│┃]", " ", "\n".join(line for i in rules for line in lines[max(i - 4, 0):i]))
    for name in shown:
        if name in names:
            for word in name.split():
                if not re.search(rf"(?<!\S){re.escape(word)}(?!\S)", header):
                    found.append(f"header word split: {word!r} of {name!r}")
    return found


def shown_columns(columns, rows, width: int, wide: bool = False) -> list[str]:
    return [c.name for c in termtable.fit(columns, rows, width, wide).shown]


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_table_fits_and_nothing_is_split(kind, width):
    text, r = render(kind, width)
    for columns, rows in KINDS[kind][2](r):
        shown = shown_columns(columns, rows, width)
        assert {c.name for c in columns if c.keep == 0} <= set(shown)  # the columns that always show
        assert problems(text, width, columns, rows, shown) == []
        left_out = [c.name for c in columns if c.name not in shown]
        if left_out:
            said = " ".join(" ".join(line.split()) for line in text.splitlines())
            assert f"Left out at {width} columns: {', '.join(left_out)} (--wide shows every column" in said


def test_the_report_with_every_kind_of_note_has_them_all_once():
    text, r = render("every-note", 100)
    notes = set(footnotes(text).values())
    for expected in ("ran the first 300 of 10000 steps", "torch backend computes two float64 ops in float32",
                     "worker killed by SIGSEGV", "pip install tensorflow==2.21.0", "jax sees no GPU",
                     "computed in float32, asked for float64", "repeats differ from first call"):
        assert sum(expected in note for note in notes) == 1, expected
    # the two slow-mode rows of TensorFlow and Keras share one mark
    marks = [re.search(rf" ok([{MARKS}]+) ", line).group(1) for line in text.splitlines()
             if line.startswith(("tensorflow  ", "keras (tensorflow)")) and " eager " in line]
    assert len(marks) == 2 and marks[0] == marks[1]
    assert "slow mode" in footnotes(text)[marks[0]]


@pytest.mark.parametrize("kind", list(KINDS))
def test_wide_shows_every_column_whatever_the_width(kind):
    text, r = render(kind, 80, wide=True)
    for columns, rows in KINDS[kind][2](r):
        assert problems(text, None, columns, rows, [c.name for c in columns]) == []
    assert "Left out at" not in text


def test_the_checks_catch_what_the_old_table_did():
    """The table as rich drew it before (every column, folded to fit): numbers and header words
    split across lines, notes in the row. The checks above must see it."""
    from rich.table import Table

    r = every_note()
    table = Table()
    for name in report.COLUMNS:
        table.add_column(name, overflow="fold")
    for row in report.table_rows(r):
        table.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(table)
    found = problems(out.getvalue(), 100, report.TERMINAL_COLUMNS, compare_rows(r), [c.name for c in report.TERMINAL_COLUMNS])
    assert any("row not whole" in p for p in found)
    assert any("header word split" in p for p in found)
    assert any("note not under the table" in p for p in found)


def test_columns_drop_in_their_documented_order():
    text, r = render("default-xor", 80)
    rows = compare_rows(r)
    widths = (60, 80, 100, 120, 200)
    kept = {w: shown_columns(report.TERMINAL_COLUMNS, rows, w) for w in widths}
    always = [c.name for c in report.TERMINAL_COLUMNS if c.keep == 0]
    optional = [c.name for c in sorted((c for c in report.TERMINAL_COLUMNS if c.keep), key=lambda c: c.keep)]
    assert optional == ["first call", "final loss", "accuracy", "import", "peak RSS", "steps"]  # as docs/method.md says
    for narrow, wider in zip(widths, widths[1:]):
        assert set(kept[narrow]) <= set(kept[wider])  # more room never loses a column
    for w in widths:
        assert set(always) <= set(kept[w])
        extra = [name for name in optional if name in kept[w]]
        assert extra == optional[:len(extra)], (w, extra)  # the first that does not fit ends the table
        assert kept[w] == [c.name for c in report.TERMINAL_COLUMNS if c.name in kept[w]]  # in the table's order
    assert kept[60] == always
    assert kept[200] == [c.name for c in report.TERMINAL_COLUMNS]


def test_a_column_with_nothing_in_it_goes_first():
    columns = (termtable.Column("library"), termtable.Column("loss", numeric=True, keep=1),
               termtable.Column("accuracy", numeric=True, keep=2), termtable.Column("status"))
    rows = [termtable.Row(("numpy", "0.5", "–", "ok")), termtable.Row(("jax", "0.25", "–", "ok"))]
    assert [c.name for c in termtable.fit(columns, rows, 30).shown] == ["library", "loss", "status"]
    assert [c.name for c in termtable.fit(columns, rows, 40).shown] == ["library", "loss", "accuracy", "status"]


def test_text_wraps_only_between_words_and_after_commas():
    assert termtable.wrap("eager,compiled", 8) == ["eager,", "compiled"]
    assert termtable.wrap("each process fed its own rows", 12) == ["each process", "fed its own", "rows"]
    assert termtable.wrap("a verylongword b", 4) == ["a", "verylongword", "b"]  # overflows rather than splits
    assert termtable.mark(1) + termtable.mark(12) == "¹¹²"


def test_markdown_and_json_reports_are_unchanged():
    """The reports carry every column and the notes in full, as before this table changed."""
    assert report.markdown(default_xor()) == (RESULTS / "cpu_xor.md").read_text()
    assert parallel_report.markdown(parallel_json()) == (RESULTS / "parallel_cpu.md").read_text()
    assert report.COLUMNS[-1] == "note" and len(report.COLUMNS) == len(report.table_rows(default_xor())[0])


def test_piped_output_is_columns_wide_else_100(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert termtable.report_console().width == 100  # pytest's stdout is not a terminal
    monkeypatch.setenv("COLUMNS", "87")
    assert termtable.report_console().width == 87
    assert termtable.report_console(stderr=True).width == 87
    assert termtable.report_console(json_to_stdout=True).quiet


def test_the_live_line_says_what_for_how_long_and_is_silent_when_off():
    line = LiveLine()
    line.show("jax compiled cpu, 200 steps", "compiling (first call)", "library 3 of 7")
    text = line.text(now=line.started + 75)
    assert text.startswith("jax compiled cpu, 200 steps: compiling (first call) for ")
    assert text.endswith("· library 3 of 7 · 1 min 15 s in all")
    assert [duration(s) for s in (0.42, 12.4, 185)] == ["0.4 s", "12 s", "3 min 05 s"]
    out = io.StringIO()
    with LiveLine(Console(file=out), enabled=False) as off:
        off.show("numpy", "importing")
    assert out.getvalue() == ""


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_scale_study_still_prints_its_partial_table(monkeypatch, capsys, signum, code, ctrl_c):
    """Ctrl-C and SIGTERM alike (the one driver of compare, scale and parallel), sent for real."""
    from shared.commands import cli
    from shared.harness.worker import Worker

    real, calls = Worker.run, []

    def interrupted(self, *args, **kwargs):  # the harness's side of each size (measured in the worker)
        calls.append(args)
        if len(calls) == 3:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises here
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Worker, "run", interrupted)
    assert cli.main(["scale", "--quick", "--frameworks", "numpy", "--device", "cpu"]) == code
    err = capsys.readouterr().err
    assert "Interrupted; sizes that finished:" in err and "no report files written" in err
    finished = [line for line in err.splitlines() if line.startswith("numpy ") and line.endswith(" ok")]
    # The two sizes measured before Ctrl-C: three rows, the second size being in both sweeps (measured once).
    assert len(finished) == 3 and len(calls) == 3


# ---------------------------------------------------------------- a real terminal


def tmux(socket: Path, *args: str) -> str:
    return subprocess.run(["tmux", "-S", str(socket), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal (apt-get install tmux; .ci/run does)")
def test_compare_in_a_real_100_column_terminal(tmp_path):
    """compare.py in a tmux pane 100 columns wide: while it runs, one live line says what is
    happening; at the end the screen holds the table, no line wrapped by the terminal, every
    number of the JSON report whole, every note once under the table."""
    socket, done, report_path = tmp_path / "tmux.sock", tmp_path / "done", tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the terminal's own width must count
    command = (f"cd {ROOT} && {sys.executable} compare.py --frameworks numpy,jax --steps 50 --repeat 1 --device cpu "
               f"--json {report_path}; echo $? > {done}; sleep {FOREVER_S}")
    subprocess.run(["tmux", "-S", str(socket), "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "50", command],
                   check=True, env=env)
    try:
        live, deadline = [], time.monotonic() + 300
        while not done.exists():
            assert time.monotonic() < deadline, tmux(socket, "capture-pane", "-p")
            screen = tmux(socket, "capture-pane", "-p")
            live += [line for line in screen.splitlines() if re.search(r" for \d+(\.\d)? s · .* in all$", line.rstrip())]
            time.sleep(0.1)
        time.sleep(0.3)
        screen = tmux(socket, "capture-pane", "-p", "-S", "-")
        joined = tmux(socket, "capture-pane", "-p", "-J", "-S", "-")  # lines the terminal wrapped, joined again
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True)
    assert done.read_text().strip() == "0"
    assert live, "no live progress line seen while it ran"
    assert all(re.search(r"(numpy|jax)\b.*: (importing|starting|preparing|first call|compiling|timed run)", x) for x in live)
    lines = [line.rstrip() for line in screen.splitlines()]
    assert lines == [line.rstrip() for line in joined.splitlines()]  # nothing was wrapped by the terminal
    assert all(cell_len(line) <= 100 for line in lines)
    text = "\n".join(lines)
    assert not re.search(r" in all$", text, re.M)  # the live line is gone, the table stays
    r = from_json_rows(json.loads(report_path.read_text()), "runs", RunRow)
    rows = compare_rows(r)
    assert problems(text, 100, report.TERMINAL_COLUMNS, rows, shown_columns(report.TERMINAL_COLUMNS, rows, 100)) == []
    for run in r["runs"][1:]:
        assert f"{run.timing['step_us_median']:.1f}" in text and f"{run.diff['scaled']:.1e}" in text
