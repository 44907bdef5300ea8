"""What people see: the terminal table, the one-line verdict, the Markdown report, and files
written whole or not at all."""

from __future__ import annotations

import json
import math
import sys
from decimal import Decimal

from shared.reports.files import write_atomically
from shared.reports.rows import Row, RunRow
from shared.reports.termtable import Column

# The terminal table's columns. Always shown: library, mode, device, status, max Δ, µs/step and
# × NumPy; where the width is short the others are kept in the order of `keep` (first call,
# final loss, accuracy, import, peak RSS, steps: what a reader asks for first, first kept).
# The note goes under the table as a footnote (shared/reports/termtable.py).
TERMINAL_COLUMNS = (
    Column("library"), Column("mode", wraps=True), Column("device"), Column("status"),
    Column("steps", numeric=True, keep=6), Column("max Δ vs NumPy", numeric=True),
    Column("final loss", numeric=True, keep=2), Column("accuracy", numeric=True, keep=3),
    Column("first call", numeric=True, keep=1), Column("µs/step", numeric=True), Column("× NumPy", numeric=True),
    Column("import", numeric=True, keep=4), Column("peak RSS", numeric=True, keep=5))
COLUMNS = (*(c.name for c in TERMINAL_COLUMNS), "note")  # the Markdown report's: every column, the note in full


def number(x: float | None, fmt: str) -> str:
    """A table cell: the number formatted, or – where nothing was measured."""
    return "–" if x is None else format(x, fmt)


def compact(x: float) -> str:
    """A rate for tables, three significant digits with k, M or G: 1.87M, 3.45k, 623, 0.247
    (never 1.87e+06 or 4.12e-05). Rounded first, so 999.6 reads 1k, not 1e+03."""
    rounded = float(f"{x:.3g}")
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(rounded) >= scale:
            return f"{rounded / scale:.3g}{unit}"
    return format(Decimal(repr(rounded)).normalize(), "f")  # 0.0000412, 623 (not 623.0)


WORKER_LEGEND = ("Each library runs in its own worker process: import = seconds to import it there; "
                 "peak RSS = the worker's peak resident memory during the run, from the OS.")


def mib(value: int | None, digits: int = 0) -> str:
    """Bytes as MiB for tables; – where nothing was measured."""
    return "–" if value is None else f"{value / 2**20:,.{digits}f} MiB"


def table_rows(report: dict) -> list[tuple[str, ...]]:
    """One row per run; skipped runs of one library and device with the same reason share a row."""
    rows: list[tuple[str, ...]] = []
    merged: dict[tuple, int] = {}
    for r in report["runs"]:
        if r.status == "skipped":
            key = (r.framework, r.device, r.reason)
            if key in merged:
                old = rows[merged[key]]
                rows[merged[key]] = (old[0], f"{old[1]},{r.mode}", *old[2:])
                continue
            merged[key] = len(rows)
        t = r.timing or {}
        diff = (r.diff or {}).get("scaled")
        note = r.reason or r.note or ("reference" if r is report["runs"][0] else "")
        if r.status == "ok" and r.parity_ok is False:
            note = parity_problem(r, report["parity"]["tolerance"])
        if r.repeatable is False:
            note = (note + "; " if note else "") + "repeats differ from first call"
        rows.append((r.library, r.mode, r.device, r.status, str(r.steps_run or "–"),
                     "ref" if r is report["runs"][0] else number(diff, ".1e"), number(r.final_loss, ".6g"),
                     number(r.accuracy, ".4f"),
                     number(t.get("first_call_s"), ".2f") + (" s" if t.get("first_call_s") is not None else ""),
                     number(t.get("step_us_median"), ".1f"), number(r.speed_vs_numpy, ".2f"),
                     number(r.import_s, ".1f") + (" s" if r.import_s is not None else ""),
                     mib(r.peak_rss_bytes), note))
    return rows


def parity_problem(run: RunRow, tol: float) -> str:
    """Why a run that finished is out of parity: its dtype, or how far it is."""
    diff = run.diff or {}
    if diff.get("dtype_ok") is False:
        return diff.get("dtype_problem") or "computed in another dtype"
    scaled = diff.get("scaled")
    return f"outside tolerance {tol:g}" + ("" if scaled is None else f" (Δ {scaled:.1e})")


def verdict(report: dict) -> str:
    runs = report["runs"]
    ok = [r for r in runs if r.status == "ok" and r.diff is not None]
    skipped = sum(r.status == "skipped" for r in runs)
    failed = [r for r in runs if r.status == "failed"]
    parity = report["parity"]
    tail = (f"; {skipped} skipped" if skipped else "") + (f"; {len(failed)} failed" if failed else "")
    worst = "n/a" if parity["worst"] is None else f"{parity['worst']:.1e}"
    if not parity["ok"]:
        bad = [f"{_run_name(r)}: {parity_problem(r, parity['tolerance'])}" for r in ok if r.parity_ok is False]
        return f"PARITY BROKEN against NumPy: {'; '.join(bad)}{tail}."
    if failed:
        others = ("no other run to compare" if not ok else "the 1 other run agrees" if len(ok) == 1
                  else f"the {len(ok)} other runs agree")
        agree = "" if not ok else f" with NumPy within {parity['tolerance']:g} (worst {worst})"
        return f"FAILED: {', '.join(_run_name(r) for r in failed)}; {others}{agree}{tail}."
    if not ok:
        return f"OK: the NumPy reference ran; nothing else to compare{tail}."
    runs_agree = "the 1 run agrees" if len(ok) == 1 else f"all {len(ok)} runs agree"
    return f"OK: {runs_agree} with NumPy within {parity['tolerance']:g} (worst {worst}){tail}."


def _run_name(run: RunRow) -> str:
    return f"{run.library} {run.mode} {run.device}"


def print_table(report: dict, console, wide: bool = False) -> None:
    """The table fitted to the console's width, its notes as footnotes, then the legend and the verdict."""
    from shared.reports import termtable

    cfg = report["config"]
    title = (f"{report['task']}  arch {','.join(map(str, cfg['arch']))}  {cfg['dtype']}  lr {cfg['lr']:g}  "
             f"{cfg['steps']} steps  batch {cfg['batch_size']}  seed {cfg['seed']}")
    rows = [termtable.Row(row[:-1], row[-1], {"failed": "red", "skipped": "dim"}.get(row[3]))
            for row in table_rows(report)]
    fitted = termtable.print_table(console, TERMINAL_COLUMNS, rows, title, wide)
    shown = {c.name for c in fitted.shown}
    for line in (ground_truth_line(report), accuracy_line(report) if "accuracy" in shown else None):
        if line:
            termtable.print_text(console, line)
    legend = "max Δ = max |result − NumPy| / max(1, |NumPy|) over predictions, final weights and loss history."
    if {"import", "peak RSS"} & shown:  # the worker legend explains those two columns
        legend += f" {WORKER_LEGEND}"
    termtable.print_text(console, legend)
    termtable.print_text(console, verdict(report), style="bold green" if report["ok"] else "bold red")


def accuracy_line(report: dict) -> str | None:
    if not report.get("accuracy_on"):
        return None
    return f"accuracy = share of the evaluation inputs classified right; here {report['accuracy_on']}."


def ground_truth_line(report: dict) -> str | None:
    gt = report.get("ground_truth")
    if not gt:
        return None
    if gt.get("reference_classifier"):
        ref = gt["reference_classifier"]
        return f"Outside reference: {ref['method']} reaches accuracy {ref['accuracy']:.4f} on the same held-out images."
    if gt.get("optimal_loss") is None:
        return f"Optimal loss ({gt['method']}): {gt.get('finding')}"
    ref = report["runs"][0].final_loss if report["runs"] else None
    ratio = "" if ref is None or gt["optimal_loss"] == 0 else f"; NumPy's final loss is {ref / gt['optimal_loss']:.4f} × that"
    return f"Optimal loss ({gt['method']}): {gt['optimal_loss']:.6g}{ratio}"


def markdown(report: dict) -> str:
    cfg, env = report["config"], report["environment"]
    lines = [f"# nn-rosetta: {report['task']}", "",
             f"`{cfg.get('command', 'python compare.py')}`", "",
             f"arch {','.join(map(str, cfg['arch']))}, {cfg['dtype']}, lr {cfg['lr']:g}, {cfg['steps']} steps, "
             f"batch {cfg['batch_size']}, seed {cfg['seed']}, {cfg['repeat']} timed repeats", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table_rows(report)]
    extra = [line for line in (ground_truth_line(report), accuracy_line(report)) if line]
    lines += ["", f"**{verdict(report)}**", "", *(x for line in extra for x in (line, "")),
              WORKER_LEGEND, "",
              "max Δ = max |result − NumPy| / max(1, |NumPy|) over predictions, final weights and loss history; "
              f"tolerance {report['parity']['tolerance']:g}: {report['parity']['tolerance_reason']}", "",
              "## Environment", "",
              f"- Python {env.get('python')} on {env.get('platform')}",
              f"- CPU: {env.get('cpu')} ({env.get('cpu_count')} logical cores); GPU: {env.get('gpu') or 'none'}",
              f"- Versions: {', '.join(f'{k} {v}' for k, v in sorted(env.get('versions', {}).items()))}",
              f"- Threads: {', '.join(f'{k}={v}' for k, v in sorted(env.get('threads', {}).items())) or 'library defaults'}", ""]
    return "\n".join(lines)


def _clean(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Row) or hasattr(value, "to_json"):  # the typed rows, and a study's cells
        return _clean(value.to_json())
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(report: dict) -> str:
    return json.dumps(_clean(report), indent=1, allow_nan=False)


def write_reports(report: dict, json_path: str | None, markdown_path: str | None, to_markdown) -> None:
    """JSON to a file or, for "-", alone on stdout; Markdown to a file; each whole or not at all."""
    if json_path == "-":
        sys.stdout.write(to_json(report) + "\n")
    elif json_path:
        write_atomically(json_path, to_json(report) + "\n")
    if markdown_path:
        write_atomically(markdown_path, to_markdown(report))
