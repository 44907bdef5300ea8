"""`compare.py scale`: where each library stops being dominated by per-step overhead, and where a
GPU starts to pay.

An MLP [8, W, W, 1] (tanh hidden layers, identity output, mean squared error) is trained by
full-batch gradient descent on B synthetic samples for a fixed number of steps, in every
library's compiled mode (NumPy: its only mode) on every device present. Two sweeps share the
model: hidden width W at a fixed batch, and batch B at a fixed width.

Cost model: a step does one forward and one backward pass, 2·B·P multiply-adds forward and
about twice that backward, so FLOPs per step ≈ 6·B·P with P = Σ fan_in·fan_out ≈ W² for wide
nets: time grows as O(W²·B) once compute dominates. Below that, a fixed per-step overhead
(Python dispatch, kernel launches) sets a floor that no size changes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.contract.errors import one_line
from shared.contract.interface import DEVICES, ModelSpec, Problem, Schedule, TrainOutput
from shared.contract.parity import compare, in_parity
from shared.contract.randomness import draw
from shared.harness import registry
from shared.harness.timing import time_runner
from shared.harness.worker import Worker, WorkerDiedError, WorkerGoneError, WorkerJob
from shared.reports.live import LiveLine
from shared.reports.rows import ScaleRow
from shared.reports.termtable import Column

N_FEATURES = 8
SWEEPS = {
    "default": {"widths": [2, 8, 32, 128, 512, 2048, 4096], "width_batch": 64,
                "batches": [1, 16, 256, 4096, 65536], "batch_width": 64, "steps": 20, "repeat": 2},
    # quick: the two sweeps meet at width 16, batch 1, which is measured once (three sizes per library, not four)
    "quick": {"widths": [2, 16], "width_batch": 1, "batches": [1, 32], "batch_width": 16, "steps": 5, "repeat": 1},
}
CELL_BUDGET_S = 60.0  # a cell slower than this stops the library's larger sizes of that sweep on that device
OVERHEAD_CHECK_S = 0.05  # runs slower than this per step are compute-bound: whole run / steps is exact enough
LONG_RUN_S = 0.25  # first guess at the length of the longer schedule
MAX_STEPS = 100_000


def flops_per_step(sizes: tuple[int, ...], batch: int) -> int:
    return 6 * batch * sum(a * b for a, b in zip(sizes, sizes[1:]))


def scale_problem(width: int, batch: int, steps: int, dtype: str, seed: int = 0) -> Problem:
    sizes = (N_FEATURES, width, width, 1)
    rng = np.random.RandomState(1234)
    x = rng.randn(batch, N_FEATURES)
    t = np.tanh(x @ rng.randn(N_FEATURES, 1) / np.sqrt(N_FEATURES))
    weights, indices = draw(seed, sizes, batch, steps, batch)
    # Scale the seed's U(-1, 1) draws by 1/sqrt(fan_in) so wide layers do not saturate tanh.
    weights = [w / np.sqrt(w.shape[0]) for w in weights]
    dt = np.dtype(dtype)
    spec = ModelSpec(sizes, "tanh", "identity", "mse", dtype)
    return Problem("scale", spec, tuple(w.astype(dt) for w in weights), x.astype(dt), t.astype(dt), x[:4].astype(dt),
                   Schedule(0.01, indices, steps))


def points(sweep: dict) -> list[tuple[str, int, int]]:
    cells = [("width", w, sweep["width_batch"]) for w in sweep["widths"]]
    cells += [("batch", sweep["batch_width"], b) for b in sweep["batches"]]
    return cells


@dataclass(frozen=True)
class SizeRequest:
    """One size of the sweep, measured in the library's worker process (shared/harness/worker.py),
    as compare.py's runs are: the library's process-wide switches and its memory are its own."""

    mode: str
    device: str
    width: int
    batch: int
    sweep: dict
    dtype: str

    def perform(self, module, debug: bool, phase: Callable[[str], None]) -> SizeResult:
        """In the worker: prepare, time and measure this size (see `measure`)."""
        from shared.harness.memory import DevicePeak, host_peak_rss, reset_host_peak

        library = module.versions().get("keras_backend") or module.NAME
        device_peak = DevicePeak(module, self.device, library)
        device_peak.start()
        host_reset = reset_host_peak()
        try:
            timed, measured = measure(module, self.mode, self.device, self.width, self.batch, self.sweep, self.dtype, phase)
        except Exception as exc:
            if debug:
                traceback.print_exc()
            return SizeResult("failed", one_line(exc))
        peak, peak_note = device_peak.result()
        return SizeResult("ok", None, timed.first, measured, peak, peak_note, host_peak_rss(),
                          "this size" if host_reset else "worker lifetime")


@dataclass
class SizeResult:
    status: str  # "ok" or "failed"
    reason: str | None = None
    first: TrainOutput | None = None  # the first call's result, for parity with NumPy's
    measured: dict | None = None  # what `measure` returns
    peak_memory_bytes: int | None = None
    peak_memory_note: str | None = None
    peak_rss_bytes: int | None = None
    peak_rss_scope: str | None = None


def run_sweep(sweep: dict, frameworks: list[str], devices: list[str], dtype: str, progress: LiveLine | None = None,
              rows: list[ScaleRow] | None = None, facts: dict[str, dict] | None = None,
              threads: int | None = None) -> list[ScaleRow]:
    """Every library × device × size, each library in a worker process of its own, one after
    another; rows are appended to `rows` as they finish (so that an interrupted study can still
    print them) and returned. `facts` collects each library's versions and GPU, as its worker
    reported them; `threads` is --threads (None: each library's default)."""
    progress = progress or LiveLine()  # the live line; a disabled one shows nothing
    rows = [] if rows is None else rows
    facts = {} if facts is None else facts
    references: dict[tuple[int, int], TrainOutput] = {}
    sizes = points(sweep)
    names = registry.ordered_targets(registry.expand(frameworks))  # "keras": Keras on each backend, as in compare
    for number, name in enumerate(names):
        missing = registry.missing(name) or (registry.dtype_skip(name, dtype) if name not in frameworks else None)
        if missing:
            rows.append(_target_row(name, "all", "skipped", missing))
            continue
        pending = [(device, size) for device in devices for size in sizes]
        measured: dict[tuple[str, int, int], tuple[SizeResult, float]] = {}
        while pending:  # a worker that dies costs its size; a fresh one measures the rest
            pending = _sweep_in_worker(name, pending, sweep, dtype, progress, rows, facts, references,
                                       f"library {number + 1} of {len(names)}", threads, measured)
    return rows


def _sweep_in_worker(name: str, pending: list, sweep: dict, dtype: str, progress: LiveLine, rows: list[ScaleRow],
                     facts: dict[str, dict], references: dict, place: str, threads: int | None,
                     measured: dict[tuple[str, int, int], tuple[SizeResult, float]]) -> list:
    """Measure what is pending in one worker; return what is left if the worker died. A size
    that both sweeps contain (same device, width and batch) is measured once, into `measured`,
    and its result is the row of each sweep: the same program, timed twice, would differ only
    by the machine's noise."""
    progress.show(name, "importing", place)
    job = WorkerJob(name, registry.LIBRARIES[registry.split(name)[0]].module, dtype, threads=threads)
    stopped: dict[tuple[str, str], str] = {}  # per device and sweep: why its larger sizes are not measured
    done = 0
    try:
        with Worker(job) as worker:
            kind, loaded = worker.receive(f"while importing {name}")
            if kind == "import_failed":
                rows.append(_target_row(name, "all", "failed", loaded))
                return []
            facts[name] = loaded
            mode = _mode_of(loaded)
            while pending:
                device, (sweep_name, width, batch) = pending[0]
                row = _size_of(name, mode, device, sweep_name, width, batch, sweep)
                skip = loaded["unavailable"].get(device) or stopped.get((device, sweep_name))
                if skip:
                    row.update(status="skipped", reason=skip)
                    rows.append(row)
                    pending.pop(0)
                    continue
                if (device, width, batch) not in measured:
                    phase = progress.phases(f"{name} {mode} {device}, width {width} batch {batch}", place, mode == "compiled")
                    phase("preparing")
                    start = time.perf_counter()
                    result = worker.run(SizeRequest(mode, device, width, batch, sweep, dtype), phase)
                    measured[(device, width, batch)] = (result, time.perf_counter() - start)
                    done += 1
                result, spent = measured[(device, width, batch)]
                pending.pop(0)
                rows.append(_size_row(row, result, name, dtype, references))
                if spent > CELL_BUDGET_S:
                    stopped[(device, sweep_name)] = f"stopped: the previous size took {spent:.0f} s (budget {CELL_BUDGET_S:.0f} s per size)"
    except (WorkerDiedError, WorkerGoneError) as ended:
        if name not in facts:  # died while importing: it would again
            rows.append(_target_row(name, "all", "failed", str(ended)))
            return []
        if isinstance(ended, WorkerGoneError) and done:
            return pending  # it ended after answering its last size, which stands: a new worker for the next
        device, (sweep_name, width, batch) = pending.pop(0)
        row = _size_of(name, _mode_of(facts[name]), device, sweep_name, width, batch, sweep)
        row.update(status="failed", reason=str(ended))
        rows.append(row)
    return pending


def _mode_of(loaded: dict) -> str:
    """The mode the study measures a library in: its compiled one where it has one."""
    return "compiled" if "compiled" in loaded["modes"] else loaded["modes"][0]


def _target_row(target: str, device: str, status: str, reason: str | None = None, **fields) -> ScaleRow:
    name, backend = registry.split(target)
    return ScaleRow(name, device, status, reason, keras_backend=backend, **fields)


def _size_of(name: str, mode: str, device: str, sweep_name: str, width: int, batch: int, sweep: dict) -> ScaleRow:
    """A size's row before it is measured (status "pending" until it is)."""
    return _target_row(name, device, "pending", mode=mode, sweep=sweep_name, width=width, batch=batch, steps=sweep["steps"],
                       flops_per_step=flops_per_step((N_FEATURES, width, width, 1), batch))


def _size_row(row: ScaleRow, result: SizeResult, name: str, dtype: str, references: dict) -> ScaleRow:
    """The study's row for one measured size, compared with NumPy's at the same size."""
    row.update(status=result.status, reason=result.reason)
    if result.status != "ok":
        return row
    measured = result.measured
    step_s = measured["step_us_median"] / 1e6
    row.update(**measured, samples_per_s=row.batch / step_s, gflops_per_s=row.flops_per_step / step_s / 1e9,
               peak_memory_bytes=result.peak_memory_bytes, peak_memory_note=result.peak_memory_note,
               peak_rss_bytes=result.peak_rss_bytes, peak_rss_scope=result.peak_rss_scope)
    key = (row.width, row.batch)
    if name == "numpy":
        references[key] = result.first
    elif key in references:
        diff = compare(result.first, references[key], dtype)  # the scaled difference, despite the key's name
        row.update(max_abs_diff=diff["scaled"], parity_ok=in_parity(diff, dtype))
    return row


def measure(module, mode: str, device: str, width: int, batch: int, sweep: dict, dtype: str,
            phase: Callable[[str], None] = lambda _: None):
    """Steady time per step without the fixed cost of a run (moving data in, the two recorded
    losses, returning results): where a step is short, time a second, longer schedule and take
    the difference, per_step = (T_long − T_short) / (S_long − S_short)."""
    short = sweep["steps"]
    timed = time_runner(module.prepare(scale_problem(width, batch, short, dtype), mode, device), short, sweep["repeat"], phase)
    t_short = timed.summary(short)["step_us_median"] * 1e-6 * short
    result = {"timing": timed.summary(short), "method": "whole run / steps", "steps_timed": short}
    per_step = t_short / short
    if per_step < OVERHEAD_CHECK_S:
        long = short + max(short, int(LONG_RUN_S / per_step))
        for _ in range(3):  # lengthen until the steps, not the fixed cost, fill most of the run
            phase(f"timing a {long}-step run")
            timed_long = time_runner(module.prepare(scale_problem(width, batch, long, dtype), mode, device), long, sweep["repeat"])
            t_long = timed_long.summary(long)["step_us_median"] * 1e-6 * long
            if t_long >= 2 * t_short or long >= MAX_STEPS:
                break
            long = min(short + 8 * (long - short), MAX_STEPS)
        if t_long > t_short:
            per_step = (t_long - t_short) / (long - short)
            result |= {"method": f"difference of {long}- and {short}-step runs", "steps_timed": long,
                       "timing_long": timed_long.summary(long), "run_overhead_us": (t_short - short * per_step) * 1e6}
    result["step_us_median"] = per_step * 1e6
    return timed, result


def crossovers(rows: list[ScaleRow]) -> list[dict]:
    """Per library: the smallest size at which its GPU beats its CPU, and the size at which its
    time per step reaches twice its smallest-size time (no longer overhead-bound), per sweep."""
    out = []
    ok = [r for r in rows if r.status == "ok"]
    for name in dict.fromkeys(r.library for r in ok):
        for sweep in ("width", "batch"):
            axis = "width" if sweep == "width" else "batch"
            entry = {"framework": name, "sweep": sweep}
            for device in DEVICES:
                series = sorted((getattr(r, axis), r.step_us_median) for r in ok
                                if r.library == name and r.sweep == sweep and r.device == device)
                if series:
                    floor = series[0][1]
                    entry[f"{device}_floor_us"] = floor
                    entry[f"{device}_compute_bound_from"] = next((size for size, us in series if us >= 2 * floor), None)
            cpu = {getattr(r, axis): r.step_us_median for r in ok if (r.library, r.sweep, r.device) == (name, sweep, "cpu")}
            gpu = {getattr(r, axis): r.step_us_median for r in ok if (r.library, r.sweep, r.device) == (name, sweep, "gpu")}
            both = sorted(set(cpu) & set(gpu))
            entry["gpu_beats_cpu_from"] = next((s for s in both if gpu[s] < cpu[s]), None) if both else None
            entry["gpu_measured"] = bool(both)
            out.append(entry)
    return out


def growth(rows: list[ScaleRow]) -> list[dict]:
    """Measured exponent of time per step against size over each library's two largest sizes
    per sweep, next to the exponent the FLOP count predicts there."""
    out = []
    ok = [r for r in rows if r.status == "ok"]
    for key in dict.fromkeys((r.library, r.device, r.sweep) for r in ok):
        axis = "width" if key[2] == "width" else "batch"
        series = sorted((getattr(r, axis), r.step_us_median, r.flops_per_step) for r in ok if (r.library, r.device, r.sweep) == key)
        if len(series) >= 2:
            (s0, t0, f0), (s1, t1, f1) = series[-2], series[-1]
            out.append({"framework": key[0], "device": key[1], "sweep": key[2], "from": s0, "to": s1,
                        "time_exponent": float(np.log(t1 / t0) / np.log(s1 / s0)),
                        "flop_exponent": float(np.log(f1 / f0) / np.log(s1 / s0))})
    return out


# The terminal tables' columns (the Markdown report has every column, in this order). Always
# shown: what was measured (library, mode, device, sweep, size), its time per step, its
# difference from NumPy and its status; where the width is short the others are kept in the
# order of `keep` (shared/reports/termtable.py), the GPU's columns last while no GPU was measured.
TERMINAL_COLUMNS = (  # "keras (tensorflow)" may fold at its space: 80 columns need those 6 characters
    Column("library", wraps=True), Column("mode"), Column("device"), Column("sweep"), Column("width", numeric=True),
    Column("batch", numeric=True), Column("µs/step", numeric=True), Column("samples/s", numeric=True, keep=2),
    Column("GFLOP/s", numeric=True, keep=1), Column("GPU peak", numeric=True, keep=4),
    Column("host peak RSS", numeric=True, keep=3), Column("max Δ vs NumPy", numeric=True), Column("status"))
CROSSOVER_COLUMNS = (
    Column("library"), Column("sweep"), Column("CPU floor µs", numeric=True), Column("CPU compute-bound from", numeric=True),
    Column("GPU floor µs", numeric=True, keep=1), Column("GPU compute-bound from", numeric=True, keep=2),
    Column("GPU beats CPU from", wraps=True))
GROWTH_COLUMNS = (Column("library"), Column("device"), Column("sweep"), Column("sizes", numeric=True),
                  Column("measured exponent", numeric=True), Column("FLOP exponent", numeric=True))
COMPUTE_BOUND = ("'compute-bound from' = the smallest size whose time per step is at least twice the smallest size's: "
                 "below it the fixed per-step overhead dominates.")


def table_rows(report: dict) -> list[tuple[str, ...]]:
    """One row per measurement: the cells of TERMINAL_COLUMNS, then the reason it did not run ("" if it did)."""
    from shared.reports.report import compact, mib

    out = []
    for r in report["rows"]:
        note = "" if r.status == "ok" else str(r.reason)
        if r.width is None:  # a library that could not even be loaded
            out.append((r.library, "–", r.device, *["–"] * 9, r.status, note))
            continue
        head = (r.library, r.mode, r.device, r.sweep, str(r.width), str(r.batch))
        if r.status != "ok":
            out.append((*head, *["–"] * 6, r.status, note))
            continue
        diff = "ref" if r.library == "numpy" else format(r.max_abs_diff if r.max_abs_diff is not None else float("nan"), ".1e")
        out.append((*head, _us(r.step_us_median), compact(r.samples_per_s), compact(r.gflops_per_s),
                    mib(r.peak_memory_bytes, 1), mib(r.peak_rss_bytes, 1), diff, "ok", note))
    return out


def _us(value: float) -> str:
    """A time per step in µs: a tenth of a µs while that is one of five digits or more, whole µs beyond."""
    return f"{value:.1f}" if value < 10_000 else f"{value:.0f}"


def crossover_rows(report: dict) -> list[tuple[str, ...]]:
    def fmt(c: dict, key: str) -> str:
        value = c.get(key)
        return "–" if value is None else format(value, ".1f") if isinstance(value, float) else str(value)

    return [(c["framework"], c["sweep"], fmt(c, "cpu_floor_us"), fmt(c, "cpu_compute_bound_from"), fmt(c, "gpu_floor_us"),
             fmt(c, "gpu_compute_bound_from"),
             fmt(c, "gpu_beats_cpu_from") if c["gpu_measured"] else "not measured (no GPU)")
            for c in report["crossovers"]]


def growth_rows(report: dict) -> list[tuple[str, ...]]:
    return [(g["framework"], g["device"], g["sweep"], f"{g['from']}→{g['to']}", f"{g['time_exponent']:.2f}",
             f"{g['flop_exponent']:.2f}") for g in report["growth"]]


def _markdown_table(names: list[str], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(names) + " |", "|" + "---|" * len(names), *("| " + " | ".join(row) + " |" for row in rows)]


def markdown(report: dict) -> str:
    lines = [f"# nn-rosetta scaling study ({report['config']['sweep']} sweep)", "", f"`{report['config']['command']}`", "",
             f"MLP [8, W, W, 1], tanh, MSE, full-batch gradient descent, {report['config']['steps']} steps per run, "
             f"{report['config']['dtype']}, median of {report['config']['repeat']} timed runs after the first call.", "",
             "## Time per step", ""]
    rows = [(*row[:-2], row[-2] if row[-2] == "ok" else f"{row[-2]}: {row[-1]}") for row in table_rows(report)]
    lines += _markdown_table([c.name for c in TERMINAL_COLUMNS], rows)
    lines += ["", "## Crossovers", ""]
    lines += _markdown_table([c.name for c in CROSSOVER_COLUMNS], crossover_rows(report))
    lines += ["", COMPUTE_BOUND, "", "## Growth at the largest sizes", ""]
    lines += _markdown_table([c.name for c in GROWTH_COLUMNS], growth_rows(report))
    env = report["environment"]
    lines += ["", "## Environment", "", f"- Python {env['python']} on {env['platform']}",
              f"- CPU: {env['cpu']} ({env['cpu_count']} logical cores); GPU: {env['gpu'] or 'none'}",
              f"- Versions: {', '.join(f'{k} {v}' for k, v in sorted(env['versions'].items()))}", ""]
    return "\n".join(lines)


def print_tables(report: dict, console, wide: bool = False) -> None:
    """The study's three tables, each fitted to the console's width, with their footnotes."""
    from shared.reports import termtable

    c = report["config"]
    rows = [termtable.Row(row[:-1], row[-1], {"failed": "red", "skipped": "dim"}.get(row[-2])) for row in table_rows(report)]
    termtable.print_table(console, TERMINAL_COLUMNS, rows, wide=wide,
                          title=f"scaling study ({c['sweep']} sweep): MLP [8, W, W, 1], tanh, MSE, {c['steps']} steps per "
                                f"run, {c['dtype']}, median of {c['repeat']} timed runs after the first call")
    if report.get("crossovers"):
        console.print()
        termtable.print_table(console, CROSSOVER_COLUMNS, [termtable.Row(r) for r in crossover_rows(report)],
                              title="Crossovers", wide=wide)
        termtable.print_text(console, COMPUTE_BOUND)
    if report.get("growth"):
        console.print()
        termtable.print_table(console, GROWTH_COLUMNS, [termtable.Row(r) for r in growth_rows(report)],
                              title="Growth at the largest sizes", wide=wide)


def figure(report: dict, path: str) -> str:

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shared.reports.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    ok = [r for r in report["rows"] if r.status == "ok"]
    for ax, sweep, axis, fixed in ((axes[0], "width", "width", "batch"), (axes[1], "batch", "batch", "width")):
        for key in dict.fromkeys((r.library, r.mode, r.device) for r in ok):
            series = sorted((getattr(r, axis), r.step_us_median) for r in ok if (r.library, r.mode, r.device) == key and r.sweep == sweep)
            if series:
                xs, ys = zip(*series)
                ax.plot(xs, ys, "o-" if key[2] == "cpu" else "s--", label=f"{key[0]} {key[1]} {key[2]}")
        sample = next((r for r in ok if r.sweep == sweep), None)
        if sample:
            ref = sorted({getattr(r, axis): r.flops_per_step for r in ok if r.sweep == sweep}.items())
            xs, flops = zip(*ref)
            top = max(r.step_us_median for r in ok if r.sweep == sweep)
            ax.plot(xs, np.array(flops) / flops[-1] * top, ":", color="0.4", label="∝ FLOPs per step (6·B·P)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"hidden width W (batch {getattr(sample, fixed) if sample else '?'})" if sweep == "width"
                      else f"batch size B (width {getattr(sample, fixed) if sample else '?'})")
        ax.set_ylabel("time per training step, µs (median)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(f"Time per step against size, MLP [8, W, W, 1], {report['config']['dtype']} — {report['environment']['cpu']}")
    return save_figure(fig, path, report, tight=False)
