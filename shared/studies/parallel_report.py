"""The data-parallel study: run every engine and layout, compare each with the single-process
NumPy reference, and report (terminal table, Markdown, JSON, one figure)."""

from __future__ import annotations

import functools
import statistics
import time

import numpy as np

from shared.contract.parity import compare, in_parity
from shared.contract.tolerances import TOLERANCES, scaled_diff, tolerance
from shared.harness import registry
from shared.harness.runner import shape_problem
from shared.reports.live import LiveLine
from shared.reports.report import number
from shared.reports.rows import SCHEMA, ParallelRow
from shared.reports.termtable import Column
from shared.studies.parallel import Outcome, run_engine, usable_cpus

# The terminal table's columns. Always shown: engine, workers, hosts, status, max Δ, µs/step and
# × 1 worker; where the width is short the others are kept in the order of `keep` (the two
# checks that the work was really shared first, then the two start-up times). The note goes
# under the table as a footnote (shared/reports/termtable.py).
TERMINAL_COLUMNS = (
    Column("engine"), Column("workers", numeric=True), Column("hosts", numeric=True), Column("status"),
    Column("max Δ vs NumPy", numeric=True), Column("processes agree", keep=1), Column("split shown by", wraps=True, keep=2),
    Column("start-up", numeric=True, keep=3), Column("first call", numeric=True, keep=4), Column("µs/step", numeric=True),
    Column("× 1 worker", numeric=True))
COLUMNS = (*(c.name for c in TERMINAL_COLUMNS), "note")  # the Markdown report's: every column, the note in full
OVERHEAD_NOTE = ("All hosts and workers share one machine here ({cpus} CPU cores): for a network this small that "
                 "measures each engine's overhead (start-up, rendezvous, collectives), not a speed-up. Rows with more "
                 "workers than cores are marked oversubscribed.")


class Study:
    """Runs the request and collects the report as it goes (an interrupted study can still
    print what finished)."""

    def __init__(self, problem, config: dict, debug: bool = False, progress: LiveLine | None = None):
        self.problem, self.config, self.debug = problem, config, debug
        self.progress = progress or LiveLine()  # the live line; a disabled one shows nothing
        self.report = {"schema": SCHEMA, "config": config, "rows": [], "tolerance": {"value": tolerance(config["dtype"]),
                                                                 "reason": TOLERANCES[config["dtype"]].reason}}
        self.reference = None

    def layouts(self) -> list[tuple[int, int]]:
        """One worker on one host first (the single-device baseline), then each requested layout."""
        return [(1, 1)] + [(n, h) for h in self.config["hosts"] for n in self.config["workers"] if (n, h) != (1, 1)]

    def run(self) -> dict:
        from implementations.numpy import lesson as numpy_lesson

        start = time.monotonic()
        self.progress.show("numpy", "the single-process reference")
        self.reference = numpy_lesson.prepare(self.problem, "eager", "cpu")()
        runs = [(e, n, h) for e in self.config["engines"] if not registry.engine_missing(e) for n, h in self.layouts()]
        for engine in self.config["engines"]:
            reason = registry.engine_missing(engine)
            baseline = None
            for workers, hosts in self.layouts():
                if reason:
                    self.report["rows"].append(_blank_row(engine, workers, hosts, "skipped", reason))
                    continue
                # The hosts report only at the end: start-up, rendezvous, first call and repeats are one phase here.
                self.progress.show(f"{engine}, {workers} worker{'s' * (workers > 1)} on {hosts} host{'s' * (hosts > 1)}",
                                   "running", f"run {runs.index((engine, workers, hosts)) + 1} of {len(runs)}")
                outcome = run_engine(engine, workers, hosts, self.problem, self.config["repeat"],
                                     self.config["timeout_s"], self.debug)
                row = self._row(engine, outcome, baseline)
                if workers == 1 and hosts == 1:
                    baseline = row.timing.get("step_us_median") if row.timing else None
                self.report["rows"].append(row)
        self.report["wall_s"] = time.monotonic() - start
        return self.finish()

    def _row(self, engine: str, outcome: Outcome, baseline: float | None) -> ParallelRow:
        layout = outcome.layout
        row = _blank_row(engine, layout.workers, layout.hosts, outcome.status, outcome.reason)
        chief = outcome.chief
        if chief is not None:
            row.versions = chief.versions
        if outcome.status != "ok":
            return row
        out, problem = chief.output, self.problem
        wrong_shape = shape_problem(out, problem)
        if wrong_shape:
            row.update(status="failed", reason=wrong_shape)
            return row
        diff = compare(out, self.reference, self.config["dtype"])
        # A launched run's other ranks are not here to compare: they print their fingerprints instead.
        replicas = None if layout.launcher else max((_replica_diff(r.output, out) for r in outcome.replicas), default=0.0)
        parts = [r.info.get("batch_part") for r in (chief, *outcome.replicas)] if "batch_part" in chief.info else None
        unsplit = _no_collective(chief.info, layout.workers) or _parts_problem(parts, layout.workers,
                                                                              problem.schedule.batch_size,
                                                                              every=not layout.launcher)
        if unsplit:
            row.update(status="failed", reason=unsplit)
        steps = problem.schedule.steps
        us = [s * 1e6 for s in chief.step_s]
        median = statistics.median(us) if us else None
        row.update(
            engine_name=chief.info.get("engine", registry.ENGINES[engine].title), dtype=out.dtype, diff=diff,
            parity_ok=in_parity(diff, self.config["dtype"]),
            replicas_max_diff=replicas, replicas_ok=None if replicas is None else replicas <= tolerance(self.config["dtype"]),
            repeatable=chief.info.get("repeatable"), repeats_max_diff=chief.info.get("repeats_max_diff"),
            evidence={k: chief.info[k] for k in ("all_reduce_ops", "batch_split_over") if k in chief.info} |
                     ({"batch_parts": sorted(parts, key=lambda p: p or [])} if parts else {}),
            processes_compared=1 + len(outcome.replicas), note=outcome.note,
            final_loss=float(out.loss_history[-1]),
            accuracy=_accuracy(self.config["task"], out.predictions),
            timing={"startup_s": chief.joined_at - outcome.launched_at, "first_call_s": chief.first_call_s,
                    "step_us_median": median, "step_us_min": min(us, default=None), "step_us_max": max(us, default=None),
                    "repeats": len(us), "steps_timed": steps,
                    "vs_one_worker": median / baseline if median and baseline else None},
            loss_history={"steps": problem.schedule.record_steps(), "values": [float(v) for v in out.loss_history]},
        )
        return row

    def finish(self) -> dict:
        from shared.harness.environment import describe

        rows = self.report["rows"]
        versions: dict[str, str] = {}
        for row in rows:  # what differs between layouts (device counts, threads per worker) stays in each row,
            per_layout = registry.ENGINES[row.engine].per_layout  # the environment says how the engine chose it
            versions |= {k: v for k, v in (row.versions or {}).items() if k not in per_layout}
            if row.status == "ok":
                versions |= {k: how for k, how in per_layout.items() if how}
        self.report["environment"] = describe(versions)
        bad = [r for r in rows if r.status == "failed" or r.parity_ok is False or r.replicas_ok is False]
        self.report["ok"] = not bad and bool(rows)
        self.report["verdict"] = verdict(self.report)
        return self.report


def _blank_row(engine: str, workers: int, hosts: int, status: str, reason: str | None) -> ParallelRow:
    return ParallelRow(engine, registry.ENGINES[engine].title, workers, hosts, status, reason,
                       oversubscribed=workers > usable_cpus())


def _no_collective(info: dict, workers: int) -> str | None:
    """Why a run on several workers did not really split the batch, where its engine can show
    it: JAX's compiled program has no all-reduce, or Keras' data layout spans fewer devices.
    (PyTorch and TensorFlow hand each worker only its own rows, so without an all-reduce they
    could not match the reference.)"""
    if workers > 1 and info.get("all_reduce_ops") == 0:
        return "no all-reduce in the compiled program: every device computed the whole batch alone"
    split = info.get("batch_split_over")
    if split is not None and split != workers:
        return f"the distribution splits each batch over {split} device(s), not {workers}"
    return None


def _parts_problem(parts: list | None, workers: int, batch: int, every: bool = True) -> str | None:
    """Why the processes' parts of each global batch (an engine with one process per worker
    says which rows it trained on: `batch_part`, [first, stop)) are not the batch split in N
    equal, contiguous, disjoint parts, one per worker; None when they are, or when the engine
    does not say. `every=False`: only rank 0's part is at hand (a launched run), and it must be
    the first N-th."""
    if parts is None:
        return None
    if None in parts:
        return "a process trained on rows that are not one contiguous part of each batch"
    size = batch // workers
    if sorted(map(tuple, parts)) != [(k * size, (k + 1) * size) for k in range(workers if every else 1)]:
        shown = ", ".join(f"{a}–{b - 1}" for a, b in sorted(map(tuple, parts)))
        if not every:
            return f"rank 0 trained on rows {shown} of each batch of {batch}, not the first {size} of {workers} parts"
        return f"the processes trained on rows {shown} of each batch of {batch}, not {workers} parts of {size}, one each"
    return None


def _replica_diff(other, chief) -> float:
    """How far another process's final weights and predictions are from the first one's."""
    if other is None:
        return float("inf")
    return max(scaled_diff(other.predictions, chief.predictions),
               *(scaled_diff(a, b) for a, b in zip(other.weights, chief.weights)))


def _accuracy(task_name: str, predictions: np.ndarray) -> float | None:
    from shared.contract.tasks import TASKS, accuracy

    task = TASKS[task_name]
    return None if task.scored is None else accuracy(task, _dataset(task_name), predictions)


@functools.cache
def _dataset(task_name: str):
    """The task's data, loaded once per study rather than once per row."""
    from shared.contract.tasks import TASKS, load_dataset

    return load_dataset(TASKS[task_name], None, None, None, None, None)


def verdict(report: dict) -> str:
    rows, tol = report["rows"], report["tolerance"]["value"]
    ran = [r for r in rows if r.status == "ok"]
    skipped = sum(r.status == "skipped" for r in rows)
    failed = [r for r in rows if r.status == "failed"]
    off = [r for r in ran if not r.parity_ok or r.replicas_ok is False]
    if not failed and not off:
        worst = max((r.diff["scaled"] for r in ran), default=0.0)
        runs = f"all {len(ran)} data-parallel runs equal" if len(ran) != 1 else "the data-parallel run equals"
        return (f"OK: {runs} the single-process NumPy run within {tol:g} "
                f"(worst {worst:.1e})" + (f"; {skipped} skipped." if skipped else "."))
    parts = [f"{len(failed)} failed"] if failed else []
    parts += [f"{len(off)} out of parity (tolerance {tol:g})"] if off else []
    return "FAILED: " + ", ".join(parts) + "."


def _note(row: dict) -> str:
    notes = [row.reason] if row.reason else []
    if row.status == "ok" and not row.parity_ok:
        diff = row.diff
        notes.append(diff.get("dtype_problem") or f"out of parity: {diff['scaled']:.1e}")
    if row.status == "ok" and row.replicas_ok is False:
        notes.append(f"processes disagree by {row.replicas_max_diff:.1e}")
    if row.oversubscribed and row.status == "ok":
        notes.append("oversubscribed")
    if row.repeatable is False:
        notes.append(f"repeats differ from the first call by {row.repeats_max_diff or 0:.1e}")
    if row.note:
        notes.append(row.note)
    return "; ".join(notes)


def table_rows(report: dict) -> list[tuple[str, ...]]:
    out = []
    for r in report["rows"]:
        t = r.timing or {}
        compared = r.processes_compared or 1
        replicas = "–" if r.status != "ok" or compared == 1 else ("yes" if r.replicas_ok else "no") + f" ({compared})"
        out.append((r.engine, str(r.workers), str(r.hosts), r.status,
                    number((r.diff or {}).get("scaled"), ".1e"), replicas, _evidence(r),
                    _seconds(t.get("startup_s")), _seconds(t.get("first_call_s")), number(t.get("step_us_median"), ",.1f"),
                    number(t.get("vs_one_worker"), ".2f"), _note(r)))
    return out


def _evidence(row: dict) -> str:
    """What shows that the workers really split the batch, where the engine can show it."""
    evidence = row.evidence or {}
    if row.status != "ok" or row.workers == 1:
        return "–"
    if "all_reduce_ops" in evidence:
        return f"{evidence['all_reduce_ops']} all-reduce in the program"
    if "batch_split_over" in evidence:
        return f"batch over {evidence['batch_split_over']} devices"
    if "batch_parts" in evidence:
        return f"each process its own rows ({', '.join(f'{a}–{b - 1}' for a, b in evidence['batch_parts'])})"
    engine = registry.ENGINES.get(row.engine)  # each worker was fed its own part (split_batches)
    return f"each {'process' if engine and engine.processes == 'worker' else 'replica'} fed its own rows"


def _seconds(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f} s"


def print_table(report: dict, console, wide: bool = False) -> None:
    """The table fitted to the console's width, its notes as footnotes, then the verdict and what
    one machine can measure."""
    from shared.reports import termtable

    c = report["config"]
    title = (f"data parallel: {c['task']}  arch {','.join(map(str, c['arch']))}  {c['dtype']}  lr {c['lr']:g}  "
             f"{c['steps']} steps  global batch {c['batch_size']}  seed {c['seed']}")
    rows = [termtable.Row(row[:-1], row[-1], {"failed": "red", "skipped": "dim"}.get(row[3])) for row in table_rows(report)]
    termtable.print_table(console, TERMINAL_COLUMNS, rows, title, wide)
    verdict_text = report.get("verdict", "")
    termtable.print_text(console, verdict_text, style="bold green" if report.get("ok") else "bold red")
    termtable.print_text(console, OVERHEAD_NOTE.format(cpus=report.get("environment", {}).get("cpu_count", "?")))


def markdown(report: dict) -> str:
    c, env = report["config"], report["environment"]
    lines = ["# nn-rosetta: data-parallel training", "", f"`{c['command']}`", "",
             f"task {c['task']}, arch {','.join(map(str, c['arch']))}, {c['dtype']}, lr {c['lr']:g}, {c['steps']} steps, "
             f"global batch {c['batch_size']} split across the workers, seed {c['seed']}, {c['repeat']} timed repeats", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table_rows(report)]
    lines += ["", f"**{report['verdict']}**", "",
              "max Δ = max |result − NumPy| / max(1, |NumPy|) over predictions, final weights and loss history, against "
              "the single-process NumPy run on the same global batches; tolerance "
              f"{report['tolerance']['value']:g}: {report['tolerance']['reason']}", "",
              "start-up = from starting the host processes to the end of the engine's rendezvous (process start, "
              "imports, joining); first call = the first run of the schedule (compilation included); µs/step = median "
              "of the timed repeats; × 1 worker = that over the same engine's one-worker time; processes agree = every "
              "other process (host, or worker process: PyTorch, MLX) ended with the first one's weights and predictions, within the "
              "tolerance (how many processes); split shown by = what shows the "
              "workers really split each batch (matching numbers alone cannot: one device doing all the work matches "
              "too): JAX's compiled program must hold an all-reduce, Keras' data layout must span the workers' devices, "
              "PyTorch's worker processes each train on their own rows and must agree, TensorFlow's replicas are fed "
              "their own rows; an engine whose processes say which rows of each batch they trained on (MLX's ranks) "
              "must show N disjoint, contiguous parts that make up the batch.", "",
              f"Wall time of the study: {report.get('wall_s', 0) / 60:.1f} min.", "",
              OVERHEAD_NOTE.format(cpus=env.get("cpu_count", "?")), "", "Engines:", ""]
    lines += [f"- {name}: {engine.title}" for name, engine in registry.ENGINES.items() if name in c["engines"]]
    lines += ["", "## Environment", "", f"- Python {env['python']} on {env['platform']}",
              f"- CPU: {env['cpu']} ({env['cpu_count']} logical cores)",
              "- Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(env["versions"].items())),
              "- Threads: " + (", ".join(f"{k}={v}" for k, v in sorted(env["threads"].items())) or "libraries' defaults"), ""]
    return "\n".join(lines)


def figure(report: dict, path: str) -> str:
    """Time per step and start-up time against the number of workers: one colour per engine,
    solid on one host, dashed across hosts."""
    from matplotlib.ticker import FixedLocator, LogLocator, NullFormatter, NullLocator, ScalarFormatter

    from shared.reports.plots import plt, save_figure

    fig, (steps_ax, start_ax) = plt.subplots(1, 2, figsize=(11, 4.6))
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in report["rows"]:
        if r.status == "ok":
            groups.setdefault((r.engine, r.hosts if r.workers > 1 else 0), []).append(r)
    for colour, engine in enumerate(dict.fromkeys(r.engine for r in report["rows"])):
        ones = groups.get((engine, 0), [])
        lines = {hosts: rows for (name, hosts), rows in groups.items() if name == engine and hosts}
        for hosts, rows in sorted(lines.items() or ([(1, [])] if ones else [])):  # a baseline alone is a point
            rows = sorted(ones + rows, key=lambda r: r.workers)
            style = {"color": f"C{colour}", "marker": "o" if hosts == 1 else "s", "ls": "-" if hosts == 1 else "--",
                     "label": engine + (f", {hosts} hosts" if hosts > 1 else ", 1 host")}
            n = [r.workers for r in rows]
            steps_ax.plot(n, [r.timing["step_us_median"] for r in rows], **style)
            start_ax.plot(n, [r.timing["startup_s"] for r in rows], **style)
    cpus = report["environment"].get("cpu_count") or 1
    counts = sorted({r.workers for r in report["rows"]})
    for ax, what in ((steps_ax, "µs per step (median)"), (start_ax, "start-up, s (spawn, imports, rendezvous)")):
        ax.set_xlabel("workers")
        ax.set_ylabel(what)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(counts))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        if max(counts) > cpus:
            ax.axvspan(cpus * 1.3, max(counts) * 1.2, color="grey", alpha=0.12, lw=0)
            ax.text(cpus * 1.35, 0.02, "oversubscribed", transform=ax.get_xaxis_transform(), color="grey", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = steps_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    c = report["config"]
    fig.suptitle(f"Data-parallel overhead on one {cpus}-core machine: {c['task']}, {c['dtype']}, global batch "
                 f"{c['batch_size']}", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    return save_figure(fig, path, report)
