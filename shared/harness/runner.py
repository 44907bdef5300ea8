"""The harness: run every requested library × mode × device, time it, check it against NumPy.

Every run starts from the same `Problem`. Each library, and Keras once per backend, runs in a
worker process of its own (shared/harness/worker.py), one after another; the NumPy reference too, so
that every row's import time and memory are measured alike. The reference always runs (on the
CPU, in full); each other run is compared with it at the step it stopped at. A library that is
missing, unavailable on a device, raises, crashes, hangs or diverges becomes one `skipped` or
`failed` row with a one-line reason; the other runs go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shared.contract.interface import Problem, TrainOutput
from shared.contract.parity import compare, in_parity
from shared.contract.tasks import Dataset, Task, accuracy
from shared.contract.tolerances import TOLERANCES
from shared.harness import registry
from shared.harness.environment import describe
from shared.harness.worker import DEFAULT_TIMEOUT_S, RunRequest, Worker, WorkerDiedError, WorkerGoneError, WorkerJob
from shared.reports.live import LiveLine
from shared.reports.rows import SCHEMA, RunRow


@dataclass
class Request:
    """What the user asked for, after validation. `frameworks` are targets: "torch", "keras:jax"..."""

    frameworks: list[str]
    modes: list[str]
    devices: list[str]
    repeat: int = 3
    steps_explicit: bool = False
    book: bool = False
    debug: bool = False
    skipped_frameworks: dict[str, str] = field(default_factory=dict)  # missing, with reason
    gpu_if_seen: bool = False  # --device auto: keep "gpu" only if some library sees a GPU
    timeout: float = DEFAULT_TIMEOUT_S
    seed: int = 0
    threads: int | None = None  # --threads: every library's intra-op threads; None leaves their defaults


def first_non_finite(history: np.ndarray, marks: list[int]) -> str | None:
    bad = np.flatnonzero(~np.isfinite(history))
    if bad.size == 0:
        return None
    i = int(bad[0])
    where = "before the first step" if i == 0 else f"between steps {marks[i - 1]} and {marks[i]}"
    return f"loss became {history[i]} {where}"


def shape_problem(out: TrainOutput, problem: Problem) -> str | None:
    """Why a result cannot be compared at all (wrong shapes), or None."""
    expected = {"predictions": (problem.x_eval.shape[0], problem.spec.n_outputs),
                "loss history": (len(problem.schedule.record_steps()),)}
    for what, array in (("predictions", out.predictions), ("loss history", out.loss_history)):
        if np.shape(array) != expected[what]:
            return f"returned {what} of shape {np.shape(array)}, expected {expected[what]}"
    shapes = [np.shape(w) for w in out.weights]
    wanted = [w.shape for w in problem.weights]
    if shapes != wanted:
        return f"returned weights of shapes {shapes}, expected {wanted}"
    return None


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def library_name(target: str) -> str:
    """A target as the table names it: "keras:jax" → "keras (jax)"."""
    name, backend = registry.split(target)
    return f"{name} ({backend})" if backend else name


def run_row(target: str, mode: str, device: str, status: str, reason: str | None = None,
            import_s: float | None = None) -> RunRow:
    framework, backend = registry.split(target)
    return RunRow(framework, mode, device, status, reason, keras_backend=backend, import_s=import_s)


def fill_row(row: RunRow, problem: Problem, timed, out: TrainOutput) -> None:
    marks = problem.schedule.record_steps()
    row.update(steps_run=problem.schedule.steps, dtype=out.dtype,
               predictions=np.asarray(out.predictions, dtype=np.float64).tolist(),
               final_loss=_finite_or_none(float(out.loss_history[-1])),
               loss_history={"steps": marks, "values": [_finite_or_none(float(v)) for v in out.loss_history]},
               weights=[np.asarray(w, dtype=np.float64).tolist() for w in out.weights],
               timing=timed.summary(problem.schedule.steps),
               repeatable=all(np.array_equal(a, b) for a, b in zip([timed.first.predictions, *timed.first.weights],
                                                                   [timed.last.predictions, *timed.last.weights])))
    info = dict(out.info)
    if "note" in info:  # a library's own note (PyTorch's compiled fallback) is the row's note
        row.note = info.pop("note")
    row.extra.update(info)


class Harness:
    """Runs a request on one problem and collects the report as it goes (so that an
    interrupted run can still print what finished)."""

    def __init__(self, task: Task, dataset: Dataset, problem: Problem, request: Request, config: dict,
                 progress: LiveLine | None = None):
        self.task, self.dataset, self.problem, self.request = task, dataset, problem, request
        self.progress = progress or LiveLine()  # the live line; a disabled one shows nothing
        self.place = ""
        self.references: dict[int, TrainOutput] = {}
        self.versions: dict[str, str] = {}
        self.keras_backends: list[str] = []
        self.gpu: str | None = None
        self.gpu_seen = False
        tol = TOLERANCES[problem.spec.dtype]
        self.report = {"schema": SCHEMA, "task": task.name, "config": config, "environment": describe(), "reference": "numpy",
                       "accuracy_on": dataset.eval_on if task.scored else None,
                       "runs": [], "parity": {"ok": True, "worst": 0.0, "tolerance": tol.value, "tolerance_reason": tol.reason},
                       "ground_truth": self._ground_truth()}

    def _ground_truth(self) -> dict | None:
        from shared.contract.ground_truth import ground_truth, mlp_reference

        found = ground_truth(self.task.name, self.dataset.x, self.dataset.t)
        if self.task.name == "digits" and self.dataset.t_eval is not None:
            spec = self.problem.spec
            found = {"optimal_loss": None, "method": None, "finding": None,
                     "reference_classifier": mlp_reference(self.dataset.x, self.dataset.t, self.dataset.x_eval,
                                                           self.dataset.t_eval, spec.sizes[1:-1], spec.hidden_activation)}
        return found

    def reference(self, steps: int) -> TrainOutput:
        """The NumPy result after `steps` steps (computed here, untimed, for capped runs)."""
        if steps not in self.references:
            from implementations.numpy import lesson as numpy_lesson

            self.references[steps] = numpy_lesson.prepare(self.problem.prefix(steps), "eager", "cpu")()
        return self.references[steps]

    def run(self) -> dict:
        skipped = self.request.skipped_frameworks
        targets = ["numpy", *(t for t in registry.ordered_targets(self.request.frameworks) if t != "numpy")]
        self.place = f"library 1 of {len(targets)}"
        self._run_target("numpy")
        for target in registry.ordered_targets([*self.request.frameworks, *skipped]):
            if target in targets:
                self.place = f"library {targets.index(target) + 1} of {len(targets)}"
            if target in skipped:
                self.report["runs"].append(run_row(target, "all", "all", "skipped", skipped[target]))
            elif target != "numpy":
                self._run_target(target)
        self.finish()
        return self.report

    def finish(self) -> None:
        """Settle the devices, the environment and the verdict from what has run (also after an interrupt)."""
        if self.request.gpu_if_seen and not self.gpu_seen and "gpu" in self.request.devices:
            self.request.devices = [d for d in self.request.devices if d != "gpu"]
            self.report["runs"] = [r for r in self.report["runs"] if r.device != "gpu"]
        self.report["config"]["devices"] = list(self.request.devices)
        versions = dict(self.versions)
        if self.keras_backends:
            versions["keras_backend"] = ", ".join(self.keras_backends)
        self.report["environment"] = describe(versions, self.gpu)
        self._verdict()

    def _pairs(self, target: str) -> list[tuple[str, str]]:
        """The (device, mode) runs a target owes the report, in order."""
        if target == "numpy":
            mode = "book" if self.request.book else "eager"
            return [("cpu", mode)] + [(d, "eager") for d in self.request.devices if d != "cpu" and "numpy" in self.request.frameworks]
        return [(device, mode) for device in self.request.devices for mode in self.request.modes]

    def _run_target(self, target: str) -> None:
        """All of a target's runs in one worker; a new worker after one dies, for the runs left."""
        pending = self._pairs(target)
        module = registry.LIBRARIES[registry.split(target)[0]].module
        while pending:
            facts, done = None, 0
            job = WorkerJob(target, module, self.problem.spec.dtype, self.request.debug, threads=self.request.threads)
            self.progress.show(library_name(target), "importing", self.place)
            try:
                with Worker(job, self.request.timeout) as worker:
                    kind, payload = worker.receive(f"while importing {target}")
                    if kind == "import_failed":
                        self._fail(target, pending, payload)
                        return
                    facts = payload
                    self._note_library(facts)
                    while pending:
                        device, mode = pending[0]
                        row = self._run_in(worker, facts, target, device, mode)
                        pending.pop(0)
                        self.report["runs"].append(row)
                        done += 1
            except (WorkerGoneError, WorkerDiedError) as ended:
                if facts is None:  # died while importing: it would again
                    self._fail(target, pending, str(ended))
                    return
                if isinstance(ended, WorkerGoneError) and done:
                    continue  # it ended after answering its last run, which stands: a new worker for the next
                device, mode = pending.pop(0)
                reason = str(ended) if isinstance(ended, WorkerDiedError) else f"{ended} before running {mode} on {device}"
                self.report["runs"].append(run_row(target, mode, device, "failed", reason, facts["import_s"]))

    def _fail(self, target: str, pending: list[tuple[str, str]], reason: str) -> None:
        for device, mode in pending:
            self.report["runs"].append(run_row(target, mode, device, "failed", reason))
        pending.clear()

    def _note_library(self, facts: dict) -> None:
        self.versions |= {k: v for k, v in facts["versions"].items() if k != "keras_backend"}
        if facts.get("keras_backend"):
            self.keras_backends.append(facts["keras_backend"])
        if facts["unavailable"].get("gpu") is None:
            self.gpu_seen = True
            self.gpu = self.gpu or facts.get("gpu")

    def _run_in(self, worker: Worker, facts: dict, target: str, device: str, mode: str) -> RunRow:
        name = registry.split(target)[0]
        import_s = facts["import_s"]
        if mode not in facts["modes"] and mode != "book":
            return run_row(target, mode, device, "skipped", f"{name} has no {mode} mode", import_s)
        unavailable = facts["unavailable"].get(device)
        if unavailable:
            return run_row(target, mode, device, "skipped", unavailable, import_s)
        problem = self.problem
        cap = registry.step_cap(target, mode)  # a mode too slow for the full default schedule
        if cap and not self.request.steps_explicit and problem.schedule.steps > cap:
            problem = problem.prefix(cap)
        steps = problem.schedule.steps
        on_phase = self.progress.phases(f"{library_name(target)} {mode} {device}, {steps} steps", self.place,
                                        mode == "compiled")
        on_phase("starting")
        result = worker.run(RunRequest(mode, device, problem, self.request.repeat, self.request.seed), on_phase)
        row = run_row(target, mode, device, result.status, result.reason, import_s)
        if result.status != "ok":
            return row
        malformed = shape_problem(result.timed.first, problem)
        if malformed:
            row.update(status="failed", reason=malformed)
            return row
        fill_row(row, problem, result.timed, result.timed.first)
        row.timing["first_call_cache"] = "cold"  # every run starts with empty compilation caches (shared/harness/worker.py)
        row.accuracy = accuracy(self.task, self.dataset, result.timed.first.predictions)
        row.update(peak_rss_bytes=result.peak_rss_bytes, peak_rss_scope=result.peak_rss_scope)
        if device == "gpu":
            row.update(peak_device_bytes=result.peak_device_bytes, peak_device_note=result.peak_device_note)
        if steps < self.problem.schedule.steps:
            row.note = f"ran the first {steps} of {self.problem.schedule.steps} steps (slow mode; pass --steps to run all)"
        bad = first_non_finite(result.timed.first.loss_history, problem.schedule.record_steps())
        if target == "numpy":
            if mode != "book":
                self.references[steps] = result.timed.first
            if bad:
                row.update(status="failed", reason=f"reference {bad}; lower --lr")
            return row
        if bad:
            row.update(status="failed", reason=bad)
            return row
        diff = compare(result.timed.first, self.reference(steps), self.problem.spec.dtype)
        row.update(max_abs_diff=_finite_or_none(diff["max_abs_diff"]),
                   diff={k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in diff.items()},
                   parity_ok=in_parity(diff, self.problem.spec.dtype))
        return row

    def _verdict(self) -> None:
        parity = self.report["parity"]
        compared = [r for r in self.report["runs"] if r.status == "ok" and r.diff is not None]
        worst = max((r.diff["scaled"] if r.diff["scaled"] is not None else float("inf") for r in compared), default=0.0)
        parity["worst"] = worst if np.isfinite(worst) else None
        parity["ok"] = bool(all(r.parity_ok for r in compared))
        ref_us = self.report["runs"][0].timing["step_us_median"] if self.report["runs"][0].timing else None
        for r in self.report["runs"]:
            t = r.timing
            r.speed_vs_numpy = (ref_us / t["step_us_median"]) if (ref_us and t and t["step_us_median"]) else None
        self.report["failed"] = sum(r.status == "failed" for r in self.report["runs"])
        self.report["ok"] = parity["ok"] and self.report["failed"] == 0
