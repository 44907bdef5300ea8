"""The reports' rows, typed: one dataclass per kind of row (a run of `compare.py`, a size of the
scaling study, a data-parallel run), each serialised to the JSON keys its reports carry.

The JSON shape is versioned by `SCHEMA` (every report's top-level "schema"; README "The JSON
reports"). Schema 2 added "target" to every row: what ran, as `--frameworks` names it
("torch", "keras:jax"), so that no row needs its neighbours to say which Keras backend it was.
Optional fields that a row does not have are left out of its JSON, as they always were; the
fields every row has are written even when empty (null).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

SCHEMA = 2


@dataclass
class Row:
    """What the row kinds share: how they become JSON and come back from it."""

    ALWAYS: ClassVar[tuple[str, ...]] = ()  # written even when None; the others only when set
    DERIVED: ClassVar[tuple[str, ...]] = ()  # written from properties, not read back
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # a library's own facts (TrainOutput.info)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None or f.name in self.always():
                out[f.name] = value
        return self.derived() | out | {k: v for k, v in self.extra.items() if k not in out}

    def always(self) -> tuple[str, ...]:
        """The fields this row writes even when None."""
        return self.ALWAYS

    def derived(self) -> dict[str, Any]:
        """Keys computed from the fields (written, never read back)."""
        return {}

    @classmethod
    def from_json(cls, data: dict[str, Any]):
        names = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names and k not in cls.DERIVED})

    def update(self, **values: Any) -> None:
        for key, value in values.items():
            if not hasattr(self, key) or key == "extra":
                raise AttributeError(f"{type(self).__name__} has no field {key!r}")
            setattr(self, key, value)


class NamesWhatRan:
    """A row of one library, Keras on one of its backends included (`framework`, `keras_backend`)."""

    framework: str
    keras_backend: str | None

    @property
    def target(self) -> str:
        """What ran, as --frameworks names it: "torch", "keras:jax"."""
        return f"{self.framework}:{self.keras_backend}" if self.keras_backend else self.framework

    @property
    def library(self) -> str:
        """What ran, as tables name it: "torch", "keras (jax)"."""
        return f"{self.framework} ({self.keras_backend})" if self.keras_backend else self.framework

    def derived(self) -> dict[str, Any]:
        return {"target": self.target}


@dataclass
class RunRow(NamesWhatRan, Row):
    """One library × mode × device run of `compare.py`."""

    ALWAYS: ClassVar[tuple[str, ...]] = ("framework", "mode", "device", "status", "reason", "steps_run", "predictions",
                                         "final_loss", "max_abs_diff", "timing", "import_s", "peak_rss_bytes",
                                         "speed_vs_numpy")
    DERIVED: ClassVar[tuple[str, ...]] = ("target",)

    framework: str  # the implementation file's NAME: "numpy", "keras"...
    mode: str  # "eager", "compiled", "book", or "all" for a library skipped whole
    device: str  # "cpu", "gpu", or "all"
    status: str  # "ok", "failed" or "skipped"
    reason: str | None = None  # why it failed or was skipped, in one line
    keras_backend: str | None = None  # Keras only: the backend it ran on
    steps_run: int = 0
    predictions: list | None = None  # on the task's evaluation inputs
    final_loss: float | None = None
    max_abs_diff: float | None = None  # the largest absolute difference from NumPy (`diff` has the scaled one, which parity judges)
    timing: dict | None = None  # Timed.summary(), plus "first_call_cache"
    import_s: float | None = None  # seconds to import the library in its fresh worker
    peak_rss_bytes: int | None = None
    peak_rss_scope: str | None = None  # "this run", or "worker lifetime" where the OS cannot reset the mark
    peak_device_bytes: int | None = None
    peak_device_note: str | None = None
    dtype: str | None = None  # what the library computed in
    loss_history: dict | None = None  # {"steps": [...], "values": [...]}
    weights: list | None = None  # final weights, seed layout
    repeatable: bool | None = None  # were the timed repeats bit-identical to the first call
    accuracy: float | None = None
    note: str | None = None  # a slow mode's shorter schedule, a compiled fallback...
    diff: dict | None = None  # shared/contract/parity.py's comparison with NumPy
    parity_ok: bool | None = None
    speed_vs_numpy: float | None = None  # NumPy's µs/step over this row's

    def always(self) -> tuple[str, ...]:
        # A finished run writes what it measured even where it is empty (accuracy on a regression task).
        if self.dtype is None:
            return self.ALWAYS
        return (*self.ALWAYS, "dtype", "loss_history", "weights", "repeatable", "accuracy", "peak_rss_scope",
                *(("peak_device_bytes",) if self.device == "gpu" else ()))


@dataclass
class ScaleRow(NamesWhatRan, Row):
    """One library × device × size of the scaling study (or a library that could not load)."""

    ALWAYS: ClassVar[tuple[str, ...]] = ("framework", "device", "status", "reason")
    DERIVED: ClassVar[tuple[str, ...]] = ("target",)

    framework: str
    device: str
    status: str
    reason: str | None = None
    keras_backend: str | None = None  # Keras only: the backend it ran on
    mode: str | None = None
    sweep: str | None = None  # "width" or "batch"
    width: int | None = None
    batch: int | None = None
    steps: int | None = None
    flops_per_step: int | None = None
    timing: dict | None = None
    method: str | None = None  # how the time per step was taken (whole run, or a difference of two)
    steps_timed: int | None = None
    timing_long: dict | None = None
    run_overhead_us: float | None = None
    step_us_median: float | None = None
    samples_per_s: float | None = None
    gflops_per_s: float | None = None
    peak_memory_bytes: int | None = None
    peak_memory_note: str | None = None
    peak_rss_bytes: int | None = None
    peak_rss_scope: str | None = None
    max_abs_diff: float | None = None  # the scaled difference from NumPy at the same size
    parity_ok: bool | None = None

    def always(self) -> tuple[str, ...]:
        # A measured size says "no device peak" outright (null on the CPU), as it always has.
        return (*self.ALWAYS, "peak_memory_bytes") if self.status == "ok" else self.ALWAYS


@dataclass
class ParallelRow(Row):
    """One engine × layout of the data-parallel study."""

    ALWAYS: ClassVar[tuple[str, ...]] = ("engine", "engine_name", "workers", "hosts", "status", "reason", "oversubscribed",
                                         "diff", "timing")
    MEASURED: ClassVar[tuple[str, ...]] = ("dtype", "parity_ok", "replicas_max_diff", "replicas_ok", "repeatable",
                                           "repeats_max_diff", "evidence", "processes_compared", "note", "final_loss",
                                           "accuracy", "loss_history")
    DERIVED: ClassVar[tuple[str, ...]] = ("target",)

    engine: str  # the engine file's NAME: "torch", "jax"...
    engine_name: str  # what it is called: "DistributedDataParallel (gloo)"...
    workers: int
    hosts: int
    status: str
    reason: str | None = None
    oversubscribed: bool = False  # more workers than usable cores
    diff: dict | None = None  # the parity judge's comparison with the single-process NumPy run
    timing: dict | None = None  # startup_s, first_call_s, step_us_median/min/max, repeats, steps_timed, vs_one_worker
    versions: dict | None = None  # as the first process reported them
    dtype: str | None = None
    parity_ok: bool | None = None
    replicas_max_diff: float | None = None  # how far the other processes' weights are from the first's
    replicas_ok: bool | None = None
    repeatable: bool | None = None
    repeats_max_diff: float | None = None
    evidence: dict | None = None  # what shows the batch was split (all-reduce ops, data layout, rows per rank)
    processes_compared: int | None = None
    note: str | None = None
    final_loss: float | None = None
    accuracy: float | None = None
    loss_history: dict | None = None

    @property
    def target(self) -> str:
        return self.engine

    def always(self) -> tuple[str, ...]:
        return (*self.ALWAYS, *self.MEASURED) if self.dtype is not None else self.ALWAYS

    def derived(self) -> dict[str, Any]:
        return {"target": self.target}


def from_json_rows(report: dict[str, Any], key: str, kind: type[Row]) -> dict[str, Any]:
    """A report read from JSON with its rows typed again (for the page, the tables' tests)."""
    return report | {key: [kind.from_json(r) if isinstance(r, dict) else r for r in report.get(key, [])]}
