"""CSV input as people's files are: comma, semicolon or tab separated (detected, or given),
a byte-order mark or not, ID and text columns left out with `--features`.

Every problem is a UsageError that names the file, the data row and the column, raised
before any training starts.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from shared.contract.errors import UsageError

DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "|": "|"}
SNIFFED = ",;\t"


@dataclass(frozen=True)
class Table:
    """The columns a task uses: features (float), and the target as floats or as text labels."""

    x: np.ndarray
    feature_names: tuple[str, ...]
    target_values: np.ndarray | None  # regression
    labels: tuple[str, ...] | None  # classification: one label per row, as written (stripped)
    delimiter: str


def delimiter_from_flag(text: str) -> str:
    """`--delimiter`: one of , ; | or tab (\\t)."""
    if text not in DELIMITERS:
        raise UsageError(f"--delimiter {text!r}: expected one of , ; | or tab")
    return DELIMITERS[text]


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:  # -sig: drop a byte-order mark
            return handle.read()
    except FileNotFoundError:
        raise UsageError(f"--data {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--data {path}: is a folder, expected a CSV file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--data {path}: cannot read it ({exc.__class__.__name__}: {exc})") from None


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab, from the first lines, by the standard library's sniffer;
    a comma when it cannot tell (e.g. a single column)."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFFED).delimiter
    except csv.Error:
        return ","


def _column_index(path: str, header: list[str], name: str, flag: str) -> int:
    places = [i for i, h in enumerate(header) if h == name]
    if not places:
        raise UsageError(f"--data {path}: no column {name!r} for {flag}; columns are {', '.join(header)}")
    if len(places) > 1:
        where = " and ".join(str(i + 1) for i in places)
        raise UsageError(f"--data {path}: column {name!r} appears {len(places)} times (columns {where}); "
                         "rename the copies so each name is unique")
    return places[0]


def read_table(path: str, target: str, classification: bool, features: list[str] | None = None,
               delimiter: str | None = None) -> Table:
    """Read the target and the feature columns (all the others unless `features` names them)."""
    text = _read_text(path)
    delimiter = delimiter or sniff_delimiter(text)
    try:  # a file-like reader: a newline inside a quoted cell stays in the cell
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise UsageError(f"--data {path}: not a CSV file it can read ({exc})") from None
    if not rows:
        raise UsageError(f"--data {path}: the file is empty, expected a header row and data rows")
    header = [name.strip() for name in rows[0]]
    if len(rows) < 2:
        raise UsageError(f"--data {path}: no data rows under the header")
    target_col = _column_index(path, header, target, "--target")
    if features is None:
        feature_cols = [c for c in range(len(header)) if c != target_col]
        for c in feature_cols:
            _column_index(path, header, header[c], "a feature")  # a repeated name would be ambiguous
    else:
        feature_cols = [_column_index(path, header, name, "--features") for name in features]
        if target_col in feature_cols:
            raise UsageError(f"--features names the target {target!r}; a column cannot be both")
    if not feature_cols:
        raise UsageError(f"--data {path}: needs at least one feature column besides the target {target!r}")
    x = np.empty((len(rows) - 1, len(feature_cols)))
    target_values = np.empty(len(rows) - 1)
    labels: list[str] = []
    leave_out = "" if features is not None else "; --features can leave a text or ID column out"
    for r, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise UsageError(f"--data {path}: data row {r} has {len(row)} cells, the header has {len(header)}"
                             f"{_delimiter_hint(delimiter)}")
        for j, c in enumerate(feature_cols):
            x[r - 1, j] = _number(path, r, header[c], row[c], leave_out)
        if classification:
            label = row[target_col].strip()
            if not label:
                raise UsageError(f"--data {path}: data row {r}, column {target!r}: the label is empty")
            labels.append(label)
        else:
            target_values[r - 1] = _number(path, r, target, row[target_col], "")
    return Table(x, tuple(header[c] for c in feature_cols), None if classification else target_values,
                 tuple(labels) if classification else None, delimiter)


def _delimiter_hint(delimiter: str) -> str:
    shown = "tab" if delimiter == "\t" else repr(delimiter)
    return f" (cells split on {shown}; pass --delimiter if that is wrong)"


def _number(path: str, r: int, column: str, cell: str, hint: str) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--data {path}: data row {r}, column {column!r}: {text!r} is not a number{hint}") from None
    if not math.isfinite(value):
        raise UsageError(f"--data {path}: data row {r}, column {column!r}: {text} is not a finite number")
    return value


def class_labels(labels: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """The classes in order and each row's class index. Numerically equal labels are one
    class ("1" and "1.0"), named by their first spelling; numbers sort numerically (0 before
    1 before 10), then text labels."""
    key_of: dict[object, str] = {}
    keys = []
    for label in labels:
        key = _label_key(label)
        key_of.setdefault(key, label)
        keys.append(key)
    ordered = sorted(key_of, key=lambda k: (0, k, "") if isinstance(k, float) else (1, 0.0, k))
    position = {k: i for i, k in enumerate(ordered)}
    return tuple(key_of[k] for k in ordered), np.array([position[k] for k in keys], dtype=np.int64)


def _label_key(label: str) -> float | str:
    try:
        value = float(label)
    except ValueError:
        return label
    return value if math.isfinite(value) else label
