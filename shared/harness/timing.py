"""Fair timing: the first call (tracing, compilation) apart, then repeated full runs.

Each runner returns only after its library has finished (every implementation synchronises
before returning NumPy arrays), so wall-clock time around the call is the device's time.
Time per step = the run's wall time / the steps it ran, including the few training-set loss
evaluations the schedule records.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.contract.interface import Runner, TrainOutput


@dataclass
class Timed:
    first: TrainOutput
    last: TrainOutput
    first_call_s: float
    step_s: list[float]

    def summary(self, steps: int) -> dict:
        us = [s * 1e6 for s in self.step_s]
        return {"first_call_s": self.first_call_s,
                "step_us_median": statistics.median(us) if us else None,
                "step_us_min": min(us) if us else None,
                "step_us_max": max(us) if us else None,
                "steps_timed": steps, "repeats": len(us)}


def time_runner(runner: Runner, steps: int, repeats: int, phase: Callable[[str], None] = lambda _: None) -> Timed:
    """One untimed-for-steady-state first call (the warm-up), then `repeats` timed runs.
    `phase` is told which of them starts (for the live progress line), outside the timed span."""
    phase("first call")
    start = time.perf_counter()
    first = runner()
    first_call_s = time.perf_counter() - start
    step_s, last = [], first
    for i in range(repeats):
        phase(f"timed run {i + 1} of {repeats}")
        start = time.perf_counter()
        last = runner()
        step_s.append((time.perf_counter() - start) / max(steps, 1))
    return Timed(first, last, first_call_s, step_s)
