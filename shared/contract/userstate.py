"""A run's state from the user's own files, and back: initial weights (`--init FILE.npz`), the
sample order (`--order FILE`) and trained weights (`--save-weights DIR`).

Weights are in the seed's layout, one (fan_in + 1, fan_out) array per layer, row 0 the bias, saved
as NumPy's `savez` saves a list (`arr_0`, `arr_1`, ...; `np.savez(path, *weights)`), so that a
saved file is an `--init` file. An order is every step's sample rows: a `.npy` array of shape
(steps, batch) or (steps,), or a text file with one line per step, its rows separated by spaces
or commas. Every problem with a file is one line naming the file and what is wrong, exit 2,
before anything is trained.
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from shared.contract.errors import UsageError

INITIAL = "initial.npz"  # what --save-weights writes besides every run's trained weights
ORDER = "order.npy"


def read_init(path: str, sizes: tuple[int, ...], dtype: str) -> list[np.ndarray]:
    """The initial weights of `path`, checked against the architecture, in the run's dtype (a float
    file of either precision is accepted; float64 values in a float32 run are rounded once)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"--init {path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UsageError(f"--init {path}: not a NumPy .npz file ({exc.__class__.__name__})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise UsageError(f"--init {path}: one array, not a .npz archive of one array per layer (np.savez(path, *weights))")
    with loaded as archive:
        arrays = {name: archive[name] for name in archive.files}
    expected = [(fan_in + 1, fan_out) for fan_in, fan_out in zip(sizes, sizes[1:])]
    names = [f"arr_{i}" for i in range(len(expected))]
    if sorted(arrays) != sorted(names):
        raise UsageError(f"--init {path}: holds {', '.join(sorted(arrays)) or 'no arrays'}; expected {len(expected)} "
                         f"arrays {', '.join(names)}, one per layer of --arch {','.join(map(str, sizes))} "
                         "(np.savez(path, *weights))")
    weights = []
    for i, (name, shape) in enumerate(zip(names, expected)):
        array = arrays[name]
        if array.dtype.kind != "f":
            raise UsageError(f"--init {path}: layer {i} ({name}) has dtype {array.dtype}, expected float32 or float64")
        if array.shape != shape:
            raise UsageError(f"--init {path}: layer {i} ({name}) has shape {array.shape}, expected {shape} "
                             "(fan_in + 1, fan_out; row 0 the bias)")
        if not np.isfinite(array).all():
            raise UsageError(f"--init {path}: layer {i} ({name}) holds a value that is not finite")
        with np.errstate(over="ignore"):
            cast = array.astype(dtype)
        if not np.isfinite(cast).all():
            raise UsageError(f"--init {path}: layer {i} ({name}) holds a value beyond {dtype}'s range")
        weights.append(cast)
    return weights


def read_order(path: str, n_rows: int, steps: int | None, batch_size: int | None) -> np.ndarray:
    """Every step's sample rows from `path`, shape (steps, batch): checked against the data's rows,
    the --steps asked for (the file must have at least that many; without --steps, every step of
    the file is run) and --batch-size (its width)."""
    if not os.path.isfile(path):
        raise UsageError(f"--order {path}: no such file")
    if path.endswith(".npy"):
        try:
            order = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise UsageError(f"--order {path}: not a NumPy .npy file ({exc.__class__.__name__})") from None
        if not isinstance(order, np.ndarray):
            order.close()
            raise UsageError(f"--order {path}: a .npz archive, not one .npy array of shape (steps, batch)")
        if order.ndim == 1:
            order = order[:, None]
        if order.ndim != 2 or order.dtype.kind not in "iu":
            raise UsageError(f"--order {path}: holds a {order.dtype} array of shape {order.shape}; expected integers "
                             "of shape (steps, batch) or (steps,)")
    else:
        order = _read_text_order(path)
    if order.shape[0] == 0 or order.shape[1] == 0:
        raise UsageError(f"--order {path}: holds no steps")
    if batch_size is not None and order.shape[1] != batch_size:
        raise UsageError(f"--order {path}: {order.shape[1]} rows a step, but --batch-size {batch_size}")
    if steps is not None and order.shape[0] < steps:
        raise UsageError(f"--order {path}: {order.shape[0]} steps, fewer than --steps {steps}")
    bad = np.flatnonzero((order < 0) | (order >= n_rows))
    if bad.size:
        step, column = divmod(int(bad[0]), order.shape[1])
        raise UsageError(f"--order {path}: step {step + 1} takes row {int(order[step, column])}, outside the data's "
                         f"{n_rows} rows (0 to {n_rows - 1})")
    return order[:steps].astype(np.int64)


def _read_text_order(path: str) -> np.ndarray:
    rows = []
    try:
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                cells = line.replace(",", " ").split()
                if not cells:
                    continue
                try:
                    rows.append([int(c) for c in cells])
                except ValueError:
                    raise UsageError(f"--order {path}: line {number} is not a list of row numbers: {line.strip()[:40]!r}") \
                        from None
                if len(rows[-1]) != len(rows[0]):
                    raise UsageError(f"--order {path}: line {number} has {len(rows[-1])} rows, line 1 has {len(rows[0])}; "
                                     "every step takes the same number")
    except UnicodeDecodeError:
        raise UsageError(f"--order {path}: not a text file (or a .npy array)") from None
    try:
        return np.array(rows, dtype=np.int64).reshape(len(rows), len(rows[0]) if rows else 0)
    except OverflowError:
        raise UsageError(f"--order {path}: a row number too large for any data") from None


def weights_file(weights: list[np.ndarray]) -> bytes:
    """The bytes of an `.npz` holding `weights` as --init reads them (arr_0, arr_1, ...)."""
    buffer = io.BytesIO()
    np.savez(buffer, *weights)
    return buffer.getvalue()


def order_file(indices: np.ndarray) -> bytes:
    """The bytes of a `.npy` holding every step's rows, as --order reads it."""
    buffer = io.BytesIO()
    np.save(buffer, indices)
    return buffer.getvalue()
