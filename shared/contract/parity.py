"""The parity judgement, made in one place for compare, scale and parallel: a result against
the NumPy reference, dtype first (a library that computed in another dtype is out of parity
whatever its numbers), then values as max |a − ref| / max(1, |ref|) over predictions, every
weight matrix and the loss history, within the dtype's tolerance (shared/contract/tolerances.py)."""

from __future__ import annotations

import numpy as np

from shared.contract.interface import TrainOutput
from shared.contract.tolerances import abs_diff, scaled_diff, tolerance


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


def in_parity(diff: dict, dtype: str) -> bool:
    """The verdict on `compare`'s differences: the right dtype, and within the dtype's tolerance."""
    return bool(diff["dtype_ok"] and diff["scaled"] <= tolerance(dtype))
