"""How close a library must stay to the NumPy reference, by dtype, and why.

Two results are compared element by element as |a − ref| / max(1, |ref|): an absolute
difference for values up to 1 (predictions, probabilities, XOR's weights), a relative one
above (a CSV target in the hundreds). The dtypes are compared first: a float32 run that
silently computed in float64, or the other way round, fails whatever its values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    value: float
    reason: str


TOLERANCES = {
    "float64": Tolerance(1e-9, (
        "Every library does the same float64 arithmetic in a different order (BLAS blocking, "
        "XLA fusion, libm's tanh and exp), a few ulps (~1e-16) apart per operation. SGD on "
        "these tasks contracts such differences instead of amplifying them: the worst seen on "
        "the CPU over every task, library and mode is 8.9e-15. 1e-9 leaves room for GPUs' own "
        "libm and for longer user schedules, and is still far below anything a prediction shows.")),
    "float32": Tolerance(1e-4, (
        "float32 carries ~7 digits (ulp 6e-8 at 1); the same reorderings then differ by "
        "~1e-7 per operation and accumulate over thousands of steps to the worst seen on the "
        "CPU, 7.2e-6 after 10,000 XOR steps. 1e-4 keeps a factor of ~14 for GPUs and long runs.")),
}

# One step from the same weights on the same batch: each layer's pre-activation and activation, the
# loss, the gradients and the updated weights, compared as above. No error accumulates over steps,
# so these are far tighter than the run tolerances; `compare.py explain` and the lesson tests use them.
STEP_TOLERANCES = {
    "float64": Tolerance(1e-12, (
        "One step is a few hundred float64 operations, each a few ulps (~1e-16) apart between "
        "libraries: the worst seen on the CPU over every task and library is 1.7e-15 (a hidden layer's "
        "activation on digits). 1e-12 leaves a factor of ~600 for other machines and is still far below "
        "what a real fault leaves: a learning rate off by one part in a million moves one step's weights "
        "by about 1e-8, and one float32 operation moves a value by about 1e-8.")),
    "float32": Tolerance(1e-5, (
        "The same operations in float32 (ulp 6e-8 at 1) differ by up to 1.2e-6 on the CPU (MLX's digits "
        "activations, summed over 64 inputs). 1e-5 keeps a factor of ~8.")),
}


def step_tolerance(dtype: str) -> float:
    return STEP_TOLERANCES[dtype].value


def tolerance_markdown() -> str:
    """The tolerances as the docs show them, a whole run's and one step's (a test keeps the two equal)."""
    def table(tolerances: dict[str, Tolerance], what: str) -> list[str]:
        value = {dtype: f"{t.value:.0e}".replace("e-0", "e-") for dtype, t in tolerances.items()}  # 1e-9, not 1e-09
        return [f"| dtype | {what} | why |", "|---|---|---|",
                *(f"| {dtype} | {value[dtype]} | {t.reason} |" for dtype, t in tolerances.items())]

    return "\n".join([*table(TOLERANCES, "a whole run"), "", *table(STEP_TOLERANCES, "one step")])


def tolerance(dtype: str) -> float:
    return TOLERANCES[dtype].value


def _max_diff(values, reference, scaled: bool) -> float:
    """The largest elementwise difference; inf if the shapes differ or a value is not finite."""
    a, ref = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    diff = np.abs(a - ref) / (np.maximum(1.0, np.abs(ref)) if scaled else 1.0)
    return float(np.max(np.where(np.isfinite(diff), diff, np.inf)))


def scaled_diff(values, reference) -> float:
    """max |a − ref| / max(1, |ref|): what parity is judged on."""
    return _max_diff(values, reference, scaled=True)


def abs_diff(values, reference) -> float:
    """max |a − ref|: what the report's max_abs_diff says."""
    return _max_diff(values, reference, scaled=False)
