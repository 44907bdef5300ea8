"""`compare.py tasks`: every task × library in one run, both dtypes: the µs/step matrix.

Each (task, dtype) is an ordinary `compare.py` run of the task's default schedule (the same
harness, workers, parity judge and timing), in compiled mode on the CPU, with NumPy's eager
reference beside it. What the matrix keeps of each run is one cell per library: its time per
step, first call, max Δ from NumPy and status; the runs' own reports are not kept whole (their
weights and predictions are the main command's business).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from shared.contract.tasks import TASKS
from shared.reports.report import number, parity_problem
from shared.reports.rows import RunRow
from shared.reports.termtable import Column


@dataclass
class Cell:
    """One library on one task in one dtype."""

    task: str
    dtype: str
    target: str  # as --frameworks names it: "torch", "keras:jax"
    library: str  # as tables name it: "keras (jax)"
    mode: str
    status: str
    reason: str | None
    step_us_median: float | None
    first_call_s: float | None
    max_abs_diff: float | None
    parity_ok: bool | None
    steps_run: int
    note: str | None
    parity_problem: str | None  # why it is out of parity (its dtype, or how far), where it is

    @classmethod
    def of(cls, task: str, dtype: str, row: RunRow, tolerance: float) -> Cell:
        timing = row.timing or {}
        problem = parity_problem(row, tolerance) if row.status == "ok" and row.parity_ok is False else None
        return cls(task, dtype, row.target, row.library, row.mode, row.status, row.reason, timing.get("step_us_median"),
                   timing.get("first_call_s"), (row.diff or {}).get("scaled"), row.parity_ok, row.steps_run, row.note,
                   problem)

    def to_json(self) -> dict:
        return asdict(self)


def run_every_task(build: Callable[[str, str], object], run: Callable[[object], dict], dtypes: tuple[str, ...],
                   cells: list[Cell], reports: list[dict]) -> list[Cell]:
    """For each dtype and task: `build(task, dtype)` makes the compare run, `run` runs it and
    returns its report; its rows become cells (appended as they finish, for an interrupted
    study's partial table)."""
    for dtype in dtypes:
        for task in TASKS:
            report = run(build(task, dtype))
            reports.append({"task": task, "dtype": dtype, "ok": report["ok"], "parity": report["parity"],
                            "config": report["config"], "environment": report["environment"]})
            cells += [Cell.of(task, dtype, row, report["parity"]["tolerance"]) for row in report["runs"]]
    return cells


def libraries(cells: list[Cell]) -> list[tuple[str, str]]:
    """(library, mode) in the order the runs reported them."""
    return list(dict.fromkeys((c.library, c.mode) for c in cells))


def matrix_rows(cells: list[Cell], dtype: str) -> list[tuple[str, ...]]:
    """Per library: µs/step on each task ("–" not run; "skipped"/"failed" say so; "≠" marks a
    run out of parity), then a note naming what did not run."""
    out = []
    mine = [c for c in cells if c.dtype == dtype]
    for library, mode in libraries(mine):
        row, notes = [library, mode], {}  # reason → the tasks it applies to
        for task in TASKS:
            cell = next((c for c in mine if (c.library, c.mode, c.task) == (library, mode, task)), None)
            if cell is None:
                row.append("–")
            elif cell.status != "ok":
                row.append(cell.status)
                notes.setdefault(cell.reason, []).append(task)
            else:
                row.append(number(cell.step_us_median, ",.1f") + ("" if cell.parity_ok is not False else " ≠"))
                if cell.parity_ok is False:
                    notes.setdefault(cell.parity_problem, []).append(task)
        said = [f"{'every task' if len(tasks) == len(TASKS) else ', '.join(tasks)}: {why}" for why, tasks in notes.items()]
        out.append((*row, "; ".join(said)))
    return out


def columns() -> tuple[Column, ...]:
    return (Column("library"), Column("mode"), *(Column(task, numeric=True) for task in TASKS))


def verdict(cells: list[Cell]) -> str:
    ran = [c for c in cells if c.status == "ok" and c.target != "numpy"]
    failed = [c for c in cells if c.status == "failed"]
    off = [c for c in ran if c.parity_ok is False]
    worst = max((c.max_abs_diff for c in ran if c.max_abs_diff is not None), default=None)
    skipped = sum(c.status == "skipped" for c in cells)
    tail = (f"; {skipped} skipped" if skipped else "") + (f"; {len(failed)} failed" if failed else "")
    if off:
        return f"PARITY BROKEN in {len(off)} of {len(ran)} runs{tail}."
    return f"{'FAILED' if failed else 'OK'}: {len(ran)} runs in parity with NumPy (worst {number(worst, '.1e')}){tail}."


def print_tables(report: dict, console, wide: bool = False) -> None:
    from shared.reports import termtable

    cells = report["cells"]
    for dtype in report["config"]["dtypes"]:
        rows = [termtable.Row(r[:-1], r[-1]) for r in matrix_rows(cells, dtype)]
        if rows:
            termtable.print_table(console, columns(), rows, wide=wide, mark_after="library",
                                  title=f"µs/step, {dtype}, every task at its default schedule, compiled mode on the CPU "
                                        "(NumPy: its eager reference); ≠ out of parity")
            console.print()
    termtable.print_text(console, verdict(cells))


def markdown(report: dict) -> str:
    cfg, env = report["config"], report["environment"]
    lines = ["# nn-rosetta: every task, every library", "", f"`{cfg['command']}`", "",
             "µs/step (median of the timed repeats after the first call), each task at its default schedule, compiled "
             "mode on the CPU, NumPy's eager reference beside; ≠ marks a run out of parity.", ""]
    for dtype in cfg["dtypes"]:
        names = [c.name for c in columns()] + ["note"]
        lines += [f"## {dtype}", "", "| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in matrix_rows(report["cells"], dtype)]
        lines.append("")
    lines += [f"**{verdict(report['cells'])}**", "", "## Environment", "", f"- Python {env['python']} on {env['platform']}",
              f"- CPU: {env['cpu']} ({env['cpu_count']} logical cores)",
              f"- Versions: {', '.join(f'{k} {v}' for k, v in sorted(env['versions'].items()))}",
              f"- Threads: {', '.join(f'{k}={v}' for k, v in sorted(env.get('threads', {}).items())) or 'library defaults'}", ""]
    return "\n".join(lines)


def cell_label(us: float) -> str:
    """A heat-map cell's µs/step: two significant digits below 10 (0.27, 4.1), whole µs from 10 on
    (99.8 reads 100, never 1e+02; 1,472)."""
    return f"{us:.2g}" if us < 9.95 else f"{us:,.0f}"


def figure(report: dict, path: str) -> str:
    """One heat map per dtype: library × task, colour = log µs/step, each cell's number written in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shared.reports.plots import save_figure

    cells, dtypes = report["cells"], report["config"]["dtypes"]
    tasks = list(TASKS)
    fig, axes = plt.subplots(1, len(dtypes), figsize=(6.5 * len(dtypes), 5), layout="constrained", squeeze=False)
    for ax, dtype in zip(axes[0], dtypes):
        mine = [c for c in cells if c.dtype == dtype]
        names = libraries(mine)
        grid = np.full((len(names), len(tasks)), np.nan)
        for i, (library, mode) in enumerate(names):
            for j, task in enumerate(tasks):
                cell = next((c for c in mine if (c.library, c.mode, c.task) == (library, mode, task) and c.status == "ok"), None)
                if cell and cell.step_us_median:
                    grid[i, j] = cell.step_us_median
        image = ax.imshow(np.log10(grid), cmap="viridis_r", aspect="auto")
        for i in range(len(names)):
            for j in range(len(tasks)):
                value = grid[i, j]
                text = "not run" if np.isnan(value) else cell_label(value)
                shade = 0.0 if np.isnan(value) else image.norm(np.log10(value))  # 0 = the colour map's light end
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if shade > 0.45 else "black")
        ax.set_xticks(range(len(tasks)), tasks)
        ax.set_yticks(range(len(names)), [f"{library} ({mode})" for library, mode in names])
        ax.set_title(f"µs/step, {dtype} (lower is better)")
        fig.colorbar(image, ax=ax, label="log10 µs/step")
    fig.suptitle(f"Every task, every library: compiled mode on the CPU — {report['environment']['cpu']}")
    return save_figure(fig, path, report)
