"""The harness: run every requested library × mode × device, time it, check it against NumPy.

Every run starts from the same `Problem`. The NumPy reference always runs (on the CPU, in
full); each other run is compared with the reference at the step it stopped at. A library
that is missing, unavailable on a device, raises, or diverges becomes one `skipped` or
`failed` row with a one-line reason; the other runs go on.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from shared import registry
from shared.environment import describe
from shared.interface import Problem, TrainOutput
from shared.tasks import Dataset, Task
from shared.timing import time_runner
from shared.tolerances import TOLERANCES, abs_diff, scaled_diff

# Modes too slow per step to run a 10,000-step schedule in the default run (milliseconds per
# tiny step, measured on a 2-core CPU): without an explicit --steps they run this prefix.
STEP_CAPS = {("tensorflow", "eager"): 300, ("keras", "eager"): 300, ("jax", "eager"): 200}


@dataclass
class Request:
    """What the user asked for, after validation."""

    frameworks: list[str]
    modes: list[str]
    devices: list[str]
    repeat: int = 3
    steps_explicit: bool = False
    book: bool = False
    debug: bool = False
    skipped_frameworks: dict[str, str] = field(default_factory=dict)  # missing, with reason
    gpu_if_seen: bool = False  # --device auto: keep "gpu" only if some library sees a GPU


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")


def first_non_finite(history: np.ndarray, marks: list[int]) -> str | None:
    bad = np.flatnonzero(~np.isfinite(history))
    if bad.size == 0:
        return None
    i = int(bad[0])
    where = "before the first step" if i == 0 else f"between steps {marks[i - 1]} and {marks[i]}"
    return f"loss became {history[i]} {where}"


def dtype_problem(out: TrainOutput, dtype: str) -> str | None:
    """Why a result was not computed in `dtype`, or None: the dtype the library reports, and
    the dtype of every array it returned (predictions, each weight matrix, the loss history)."""
    if out.dtype != dtype:
        return f"computed in {out.dtype}, asked for {dtype}"
    arrays = [("predictions", out.predictions), *((f"weights[{i}]", w) for i, w in enumerate(out.weights)),
              ("loss history", out.loss_history)]
    for what, array in arrays:
        found = np.asarray(array).dtype
        if found != np.dtype(dtype):
            return f"{what} returned in {found}, asked for {dtype}"
    return None


def compare(out: TrainOutput, ref: TrainOutput, dtype: str) -> dict:
    """Differences from the reference: dtypes first, then values."""
    wrong_dtype = dtype_problem(out, dtype)
    if wrong_dtype:
        return {"dtype_ok": False, "dtype_problem": wrong_dtype, "scaled": float("inf"), "max_abs_diff": float("inf"),
                "predictions": None, "weights": None, "loss_history": None}
    same_layers = len(out.weights) == len(ref.weights)
    weights_abs = max(abs_diff(w, r) for w, r in zip(out.weights, ref.weights)) if same_layers else float("inf")
    weights_scaled = max(scaled_diff(w, r) for w, r in zip(out.weights, ref.weights)) if same_layers else float("inf")
    parts = {"predictions": abs_diff(out.predictions, ref.predictions), "weights": weights_abs,
             "loss_history": abs_diff(out.loss_history, ref.loss_history)}
    scaled = max(scaled_diff(out.predictions, ref.predictions), weights_scaled, scaled_diff(out.loss_history, ref.loss_history))
    return {"dtype_ok": True, "scaled": scaled, "max_abs_diff": max(parts.values()), **parts}


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def run_row(framework: str, mode: str, device: str, status: str, reason: str | None = None) -> dict:
    return {"framework": framework, "mode": mode, "device": device, "status": status, "reason": reason,
            "steps_run": 0, "predictions": None, "final_loss": None, "max_abs_diff": None, "timing": None}


def fill_row(row: dict, problem: Problem, timed, out: TrainOutput) -> None:
    marks = problem.schedule.record_steps()
    row.update({"steps_run": problem.schedule.steps, "dtype": out.dtype,
                "predictions": np.asarray(out.predictions, dtype=np.float64).tolist(),
                "final_loss": _finite_or_none(float(out.loss_history[-1])),
                "loss_history": {"steps": marks, "values": [_finite_or_none(float(v)) for v in out.loss_history]},
                "weights": [np.asarray(w, dtype=np.float64).tolist() for w in out.weights],
                "timing": timed.summary(problem.schedule.steps),
                "repeatable": all(np.array_equal(a, b) for a, b in zip([timed.first.predictions, *timed.first.weights],
                                                                      [timed.last.predictions, *timed.last.weights]))})
    row.update(out.info)


class Harness:
    """Runs a request on one problem and collects the report as it goes (so that an
    interrupted run can still print what finished)."""

    def __init__(self, task: Task, dataset: Dataset, problem: Problem, request: Request, config: dict,
                 progress: Callable[[str], None] = lambda _: None):
        self.task, self.dataset, self.problem, self.request = task, dataset, problem, request
        self.progress = progress
        self.modules: dict = {}
        self.references: dict[int, TrainOutput] = {}
        tol = TOLERANCES[problem.spec.dtype]
        self.report = {"task": task.name, "config": config, "environment": {}, "reference": "numpy",
                       "runs": [], "parity": {"ok": True, "worst": 0.0, "tolerance": tol.value, "tolerance_reason": tol.reason},
                       "ground_truth": self._ground_truth()}

    def _ground_truth(self) -> dict | None:
        from shared.ground_truth import ground_truth

        return ground_truth(self.task.name, self.dataset.x, self.dataset.t)

    def _load(self, name: str) -> object | str:
        """The module, or a one-line reason why it cannot run."""
        if name in self.modules:
            return self.modules[name]
        try:
            self.modules[name] = registry.load(name)
        except registry.MissingLibraryError as exc:
            return f"skipped:{exc}"
        except Exception as exc:
            if self.request.debug:
                traceback.print_exc()
            return f"failed:import failed: {one_line(exc)}"
        return self.modules[name]

    def reference(self, steps: int) -> TrainOutput:
        if steps not in self.references:
            from implementations import numpy_backend

            self.references[steps] = numpy_backend.prepare(self.problem.prefix(steps), "eager", "cpu")()
        return self.references[steps]

    def run(self) -> dict:
        self.report["environment"] = describe({})
        numpy_module = self._load("numpy")
        if self.request.gpu_if_seen:
            self._drop_gpu_unless_seen()
        self._run_reference(numpy_module)
        for name, reason in self.request.skipped_frameworks.items():
            self.report["runs"].append(run_row(name, "all", "all", "skipped", reason))
        for name in registry.ordered(self.request.frameworks):
            if name == "numpy":
                continue
            module = self._load(name)
            for device in self.request.devices:
                for mode in self.request.modes:
                    self.report["runs"].append(self._run_one(name, module, mode, device))
        with registry.quiet_native_stderr():
            self.report["environment"] = describe(self.modules)
        self._verdict()
        return self.report

    def _drop_gpu_unless_seen(self) -> None:
        modules = [self._load(n) for n in registry.ordered(self.request.frameworks) if n != "numpy"]
        with registry.quiet_native_stderr():
            seen = any(not isinstance(m, str) and m.device_unavailable("gpu") is None for m in modules)
        if not seen:
            self.request.devices = [d for d in self.request.devices if d != "gpu"]
        self.report["config"]["devices"] = list(self.request.devices)

    def _run_reference(self, numpy_module) -> None:
        problem = self.problem
        self.progress(f"numpy {'book' if self.request.book else 'eager'} cpu ({problem.schedule.steps} steps)")
        if self.request.book:
            from implementations.book import book_runner

            runner, mode = book_runner(problem.spec.sizes, self.report["config"]["seed"]), "book"
        else:
            runner, mode = numpy_module.prepare(problem, "eager", "cpu"), "eager"
        timed = time_runner(runner, problem.schedule.steps, self.request.repeat)
        row = run_row("numpy", mode, "cpu", "ok")
        fill_row(row, problem, timed, timed.first)
        if not self.request.book:
            self.references[problem.schedule.steps] = timed.first
        bad = first_non_finite(timed.first.loss_history, problem.schedule.record_steps())
        if bad:
            row.update(status="failed", reason=f"reference {bad}; lower --lr")
        self.report["runs"].append(row)
        for device in self.request.devices:
            if device != "cpu" and "numpy" in self.request.frameworks:
                self.report["runs"].append(run_row("numpy", "eager", device, "skipped", numpy_module.device_unavailable(device)))

    def _run_one(self, name: str, module, mode: str, device: str) -> dict:
        if isinstance(module, str):
            status, reason = module.split(":", 1)
            return run_row(name, mode, device, status, reason)
        if mode not in module.MODES:
            return run_row(name, mode, device, "skipped", f"{name} has no {mode} mode")
        backend = module.versions().get("keras_backend")
        try:
            with registry.quiet_native_stderr():
                unavailable = module.device_unavailable(device)
        except Exception as exc:
            unavailable = f"cannot query devices: {one_line(exc)}"
        if unavailable:
            return run_row(name, mode, device, "skipped", unavailable) | ({"keras_backend": backend} if backend else {})
        problem = self.problem
        cap = STEP_CAPS.get((name, mode))
        if cap and not self.request.steps_explicit and problem.schedule.steps > cap:
            problem = problem.prefix(cap)
        steps = problem.schedule.steps
        self.progress(f"{name} {mode} {device} ({steps} steps)")
        row = run_row(name, mode, device, "ok")
        if backend:
            row["keras_backend"] = backend
        try:
            timed = time_runner(module.prepare(problem, mode, device), steps, self.request.repeat)
        except Exception as exc:
            if self.request.debug:
                traceback.print_exc()
            row.update(status="failed", reason=one_line(exc))
            return row
        fill_row(row, problem, timed, timed.first)
        if steps < self.problem.schedule.steps:
            row["note"] = f"ran the first {steps} of {self.problem.schedule.steps} steps (slow mode; pass --steps to run all)"
        bad = first_non_finite(timed.first.loss_history, problem.schedule.record_steps())
        if bad:
            row.update(status="failed", reason=bad)
            return row
        diff = compare(timed.first, self.reference(steps), self.problem.spec.dtype)
        row["max_abs_diff"] = _finite_or_none(diff["max_abs_diff"])
        row["diff"] = {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in diff.items()}
        row["parity_ok"] = diff["dtype_ok"] and diff["scaled"] <= self.report["parity"]["tolerance"]
        return row

    def _verdict(self) -> None:
        parity = self.report["parity"]
        compared = [r for r in self.report["runs"] if r["status"] == "ok" and "diff" in r]
        worst = max((r["diff"]["scaled"] if r["diff"]["scaled"] is not None else float("inf") for r in compared), default=0.0)
        parity["worst"] = worst if np.isfinite(worst) else None
        parity["ok"] = bool(all(r.get("parity_ok") for r in compared))
        ref_us = self.report["runs"][0]["timing"]["step_us_median"] if self.report["runs"][0]["timing"] else None
        for r in self.report["runs"]:
            t = r.get("timing")
            r["speed_vs_numpy"] = (ref_us / t["step_us_median"]) if (ref_us and t and t["step_us_median"]) else None
        self.report["failed"] = sum(r["status"] == "failed" for r in self.report["runs"])
        self.report["ok"] = parity["ok"] and self.report["failed"] == 0
