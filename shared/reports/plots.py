"""PNG figures of a report: decision regions (XOR), loss curves, time per step, fitted functions.

Decision regions are drawn from each library's *final weights*, evaluated by the NumPy
forward pass on a grid, so every panel shows what that library learned. Files are written
whole or not at all.
"""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shared.contract.interface import Problem  # noqa: E402
from shared.contract.tasks import Dataset  # noqa: E402
from shared.reports.files import write_atomically  # noqa: E402
from shared.reports.rows import RunRow  # noqa: E402


def figure_source(report: dict) -> str:
    """What a figure says it was drawn from: its report's stamp (commit and finishing time)."""
    stamp = report.get("stamp") or {}
    return f"nn-rosetta report of {stamp.get('finished')} (commit {stamp.get('commit')})"


def _label(run: RunRow) -> str:
    backend = f" [{run.keras_backend}]" if run.keras_backend else ""
    return f"{run.framework}{backend} {run.mode} {run.device}"


def _full_runs(report: dict) -> list[RunRow]:
    """The runs that trained the whole schedule: a slow mode's prefix (its first 200–300 steps) is
    still learning, so its answers are not the others' to compare."""
    return [r for r in _ok_runs(report) if r.steps_run == report["config"]["steps"]]


def _ok_runs(report: dict) -> list[RunRow]:
    return [r for r in report["runs"] if r.status == "ok" and r.predictions is not None]


def save_figure(fig, path: str, report: dict, tight: bool = True) -> str:
    """The figure as a PNG at `path`, written whole (see files.write_atomically), and closed. The
    PNG carries the stamp of the report it draws (its "Source" text), so that a figure older than
    its report can be told (tests/test_results.py)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight" if tight else None,
                metadata={"Source": figure_source(report)})
    plt.close(fig)
    write_atomically(path, buffer.getvalue())
    return path


def loss_curves(report: dict, path: str) -> str:
    fig, ax = plt.subplots(figsize=(8, 5))
    styles = ["-", "--", ":", "-."]
    for i, run in enumerate(_ok_runs(report)):
        history = run.loss_history
        values = np.array([np.nan if v is None else v for v in history["values"]], dtype=float)
        ax.plot(history["steps"], values, styles[i % len(styles)], lw=1.6, label=f"{_label(run)} ({run.steps_run} steps)")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"training-set loss ({report['config']['loss']})")
    ax.set_title(f"{report['task']}: loss curves of every library (they overlap when in parity)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path, report)


def step_times(report: dict, path: str) -> str:
    runs = [r for r in _ok_runs(report) if (r.timing or {}).get("step_us_median")]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(runs) + 1.5))
    labels = [_label(r) for r in runs]
    median = np.array([r.timing["step_us_median"] for r in runs])
    low = median - np.array([r.timing["step_us_min"] for r in runs])
    high = np.array([r.timing["step_us_max"] for r in runs]) - median
    colours = ["tab:blue" if r.device == "cpu" else "tab:green" for r in runs]
    ax.barh(labels, median, xerr=[low, high], color=colours, capsize=3)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("time per training step, µs (median, bars = min..max; log scale)")
    ax.set_title(f"{report['task']}: time per step by library × mode × device (blue CPU, green GPU)")
    ax.grid(alpha=0.3, axis="x")
    return save_figure(fig, path, report)


def _grid_predictions(run: RunRow, problem: Problem, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    from implementations.numpy import lesson as numpy_lesson

    weights = [np.array(w, dtype=np.float64) for w in run.weights]
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    return numpy_lesson.predict(weights, problem.spec, grid)[:, 0].reshape(xs.shape)


def decision_regions(report: dict, problem: Problem, dataset: Dataset, path: str) -> str:
    runs = _full_runs(report)
    views = [("zoomed out", (-4.0, 5.0)), ("zoomed in", (-0.5, 1.5))]
    fig, axes = plt.subplots(len(views), len(runs), figsize=(2.9 * len(runs) + 1.5, 6.4), squeeze=False,
                             layout="constrained")
    ones = dataset.t[:, 0] > 0.5
    for col, run in enumerate(runs):
        for row, (name, (lo, hi)) in enumerate(views):
            ax = axes[row][col]
            xs, ys = np.meshgrid(np.linspace(lo, hi, 200), np.linspace(lo, hi, 200))
            image = ax.contourf(xs, ys, _grid_predictions(run, problem, xs, ys), levels=np.linspace(-1, 1, 21), cmap="RdBu_r")
            ax.contour(xs, ys, _grid_predictions(run, problem, xs, ys), levels=[0.5], colors="k", linewidths=1)
            ax.scatter(*dataset.x[ones].T, marker="o", s=40, color="gold", edgecolors="k", label="target 1")
            ax.scatter(*dataset.x[~ones].T, marker="s", s=40, color="white", edgecolors="k", label="target 0")
            ax.set_title(f"{_label(run)}\n{name}", fontsize=8)
            ax.set_xlabel("x1", fontsize=8)
            if col == 0:
                ax.set_ylabel("x2", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=axes, shrink=0.8, label="network output (black line: 0.5)")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"XOR decision regions, arch {','.join(map(str, report['config']['arch']))}, from each library's final weights")
    return save_figure(fig, path, report)


def fitted_function(report: dict, problem: Problem, dataset: Dataset, path: str) -> str:
    runs = _ok_runs(report)
    fig, ax = plt.subplots(figsize=(8, 5))
    styles = ["-", "--", ":", "-."]
    if report["task"] == "sine":
        x = dataset.x_eval[:, 0]
        ax.plot(dataset.x[:, 0], dataset.t[:, 0], "o", ms=3, color="0.6", label="data: sin(x)")
        for i, run in enumerate(runs):
            ax.plot(x, np.array(run.predictions)[:, 0], styles[i % 4], lw=1.5, label=f"{_label(run)} ({run.steps_run} steps)")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title("sine: the fitted function of every library against the data")
    else:
        truth = dataset.t[:, 0]
        lo, hi = truth.min(), truth.max()
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, label="perfect fit")
        for i, run in enumerate(runs):
            ax.plot(truth, np.array(run.predictions)[:, 0], "os^vxd+*"[i % 8], ms=4, alpha=0.6,
                    label=f"{_label(run)} ({run.steps_run} steps)")
        ax.set_xlabel(f"target {dataset.target_name}")
        ax.set_ylabel("prediction")
        ax.set_title(f"linear: predictions against targets ({dataset.source} data)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path, report)


def confusion_matrix(report: dict, dataset: Dataset, path: str) -> str:
    """The NumPy reference's confusion matrix on the evaluation inputs; the title says whether
    every library's predicted classes are the reference's (of the runs that trained the whole schedule)."""
    runs = _full_runs(report)
    truth = dataset.eval_targets.argmax(axis=1)
    classes = len(dataset.classes)
    reference = np.array(runs[0].predictions).argmax(axis=1)
    counts = np.zeros((classes, classes), dtype=int)
    np.add.at(counts, (truth, reference), 1)
    same = all(np.array_equal(np.array(r.predictions).argmax(axis=1), reference) for r in runs)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(counts, cmap="Blues")
    for i in range(classes):
        for j in range(classes):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > counts.max() / 2 else "black")
    ax.set_xticks(range(classes), dataset.classes)
    ax.set_yticks(range(classes), dataset.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, shrink=0.8)
    accuracy = float(np.mean(reference == truth))
    agree = (f"all {len(runs)} runs of the whole schedule predict the same classes" if same
             else "WARNING: the libraries' predicted classes differ")
    ax.set_title(f"{report['task']}: confusion matrix on {report.get('accuracy_on') or 'the evaluation inputs'}\n"
                 f"NumPy reference, accuracy {accuracy:.4f}; {agree}", fontsize=9)
    return save_figure(fig, path, report)


def misclassified(report: dict, dataset: Dataset, path: str, limit: int = 32) -> str:
    """The held-out images some library gets wrong, each with every library's answer (of the runs
    that trained the whole schedule)."""
    runs = _full_runs(report)
    truth = dataset.eval_targets.argmax(axis=1)
    answers = {_label(r): np.array(r.predictions).argmax(axis=1) for r in runs}
    wrong = sorted({int(i) for a in answers.values() for i in np.flatnonzero(a != truth)})
    shown = wrong[:limit]
    columns = 8
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), shown):
        ax.imshow(dataset.x_eval[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        said = {int(a[i]) for a in answers.values()}
        who = "all say" if len(said) == 1 else "answers"
        ax.set_title(f"#{i} true {truth[i]}\n{who} {', '.join(str(c) for c in sorted(said))}", fontsize=8,
                     color="black" if len(said) == 1 else "red")
    same = all(np.array_equal(a, next(iter(answers.values()))) for a in answers.values())
    fig.suptitle(f"{report['task']}: the {len(wrong)} held-out images some library gets wrong"
                 f"{'' if len(wrong) <= limit else f' (first {limit})'} — "
                 f"{'every library gets the same ones wrong, with the same answers' if same else 'the libraries disagree (red)'}"
                 f" ({len(runs)} runs of the whole schedule)", fontsize=10)
    return save_figure(fig, path, report)


def write_plots(report: dict, problem: Problem, dataset: Dataset, folder: str) -> list[str]:
    task = report["task"]
    written = [loss_curves(report, os.path.join(folder, f"{task}_loss_curves.png"))]
    if any((r.timing or {}).get("step_us_median") for r in _ok_runs(report)):
        written.append(step_times(report, os.path.join(folder, f"{task}_step_time.png")))
    if task == "xor":
        written.append(decision_regions(report, problem, dataset, os.path.join(folder, "xor_decision_regions.png")))
    if task in ("linear", "sine"):
        written.append(fitted_function(report, problem, dataset, os.path.join(folder, f"{task}_fit.png")))
    if task == "digits" and _ok_runs(report):
        written.append(confusion_matrix(report, dataset, os.path.join(folder, "digits_confusion.png")))
        written.append(misclassified(report, dataset, os.path.join(folder, "digits_misclassified.png")))
    return written
