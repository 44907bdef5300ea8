"""The tasks: their data, defaults, evaluation inputs and ground truth.

Built-in data is generated from a fixed data seed (`DATA_SEED`), so `--seed` changes only the
initial weights and the sample order, never the data. `linear`, `logistic` and `softmax`
also accept a CSV file (`--data FILE --target COLUMN`); their features are standardised by
default (mean 0, standard deviation 1, using the training data's statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from shared.contract.csvdata import class_labels, read_table
from shared.contract.errors import UsageError
from shared.contract.interface import ModelSpec, Problem, Schedule
from shared.contract.randomness import draw

DATA_SEED = 2024


# Digits: minibatch SGD settings that reach ≥ 95% held-out accuracy in every library (README).
DIGITS_LR, DIGITS_STEPS, DIGITS_BATCH = 0.5, 2_000, 32
DIGITS_HELD_OUT = 0.2


@dataclass(frozen=True)
class Task:
    """A task's defaults. `hidden` are the hidden layer sizes between inputs and outputs."""

    name: str
    description: str
    hidden: tuple[int, ...]
    hidden_activation: str
    output_activation: str
    loss: str
    lr: float
    steps: int
    batch_size: int  # 0 means the whole training set (full-batch gradient descent)
    standardize: bool
    accepts_csv: bool
    kind: str  # "regression", "binary" or "multiclass"
    scored: str | None = None  # accuracy: "threshold" (output > 0.5), "argmax" (most probable class) or None


TASKS: dict[str, Task] = {
    "xor": Task("xor", "the seed's XOR network: four points, tanh everywhere, ½Σ loss, per-sample SGD",
                (2,), "tanh", "tanh", "half_sse", 0.1, 10_000, 1, False, False, "regression", "threshold"),
    "linear": Task("linear", "linear regression by full-batch gradient descent on mean squared error",
                   (), "tanh", "identity", "mse", 0.1, 500, 0, True, True, "regression"),
    "logistic": Task("logistic", "binary logistic regression by full-batch gradient descent on cross-entropy",
                     (), "tanh", "sigmoid", "binary_crossentropy", 0.5, 2_000, 0, True, True, "binary", "threshold"),
    "softmax": Task("softmax", "multi-class softmax regression on iris by mini-batch SGD",
                    (), "tanh", "softmax", "softmax_crossentropy", 0.1, 1_500, 10, True, True, "multiclass", "argmax"),
    "digits": Task("digits", "scikit-learn's 8×8 handwritten digits: [64, 32, 10] tanh net, softmax, accuracy on held-out images",
                   (32,), "tanh", "softmax", "softmax_crossentropy", DIGITS_LR, DIGITS_STEPS, DIGITS_BATCH, False, False,
                   "multiclass", "argmax"),
    "sine": Task("sine", "a one-hidden-layer tanh net fitting sin on [-π, π] (universal approximation)",
                 (16,), "tanh", "identity", "mse", 0.05, 5_000, 20, False, False, "regression"),
}


@dataclass(frozen=True)
class Dataset:
    """Training data (x, 2-D targets t) and evaluation inputs, ready for the networks."""

    x: np.ndarray
    t: np.ndarray
    x_eval: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    classes: tuple[str, ...] = ()  # class labels, in the order of the output units
    source: str = "built-in"
    t_eval: np.ndarray | None = None  # targets of the evaluation inputs, when they are not the training rows
    eval_on: str = "the training rows"  # what the evaluation inputs are, in words

    @property
    def eval_targets(self) -> np.ndarray:
        return self.t if self.t_eval is None else self.t_eval


def _xor() -> Dataset:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    t = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return Dataset(x, t, x.copy(), ("x1", "x2"), "xor")


def _linear() -> Dataset:
    rng = np.random.RandomState(DATA_SEED)
    x = rng.randn(200, 3) * np.array([1.0, 2.0, 0.5]) + np.array([0.0, 1.0, -1.0])
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.randn(200)
    return Dataset(x, y[:, None], x.copy(), ("x1", "x2", "x3"), "y")


def _logistic() -> Dataset:
    rng = np.random.RandomState(DATA_SEED)
    # Two overlapping Gaussian clouds: not linearly separable, so the optimum is finite.
    x = np.concatenate([rng.randn(100, 2) + [-1.0, 0.0], rng.randn(100, 2) + [1.0, 0.5]])
    t = np.concatenate([np.zeros(100), np.ones(100)])[:, None]
    return Dataset(x, t, x.copy(), ("x1", "x2"), "class", ("0", "1"))


def _iris() -> Dataset:
    from sklearn.datasets import load_iris  # ships with scikit-learn; nothing is downloaded

    iris = load_iris()
    t = np.eye(3)[iris.target]
    names = tuple(n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names)
    return Dataset(iris.data.astype(np.float64), t, iris.data.astype(np.float64), names, "species",
                   tuple(str(c) for c in iris.target_names))


def _digits() -> Dataset:
    """1,797 8×8 images shipped with scikit-learn, pixels scaled from 0–16 to [0, 1], split once
    (stratified, from the data seed) into 80% for training and 20% held out for evaluation."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=DIGITS_HELD_OUT, stratify=digits.target,
                                                        random_state=DATA_SEED)
    names = tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    return Dataset(x_train, np.eye(10)[y_train], x_test, names, "digit", tuple(str(d) for d in range(10)),
                   t_eval=np.eye(10)[y_test], eval_on=f"{len(y_test)} held-out images (never trained on)")


def _sine() -> Dataset:
    x = np.linspace(-math.pi, math.pi, 200)[:, None]
    return Dataset(x, np.sin(x), x.copy(), ("x",), "sin(x)")


BUILT_IN = {"xor": _xor, "linear": _linear, "logistic": _logistic, "softmax": _iris, "digits": _digits, "sine": _sine}


def read_csv(path: str, target: str, task: Task, features: list[str] | None = None, delimiter: str | None = None) -> Dataset:
    """A task's data from a CSV file with a header row (see shared/contract/csvdata.py)."""
    table = read_table(path, target, task.kind != "regression", features, delimiter)
    if task.kind == "regression":
        return Dataset(table.x, table.target_values[:, None], table.x.copy(), table.feature_names, target, source=path)
    classes, codes = class_labels(table.labels)
    if task.kind == "binary" and len(classes) != 2:
        raise UsageError(f"--data {path}: task logistic needs exactly two classes in {target!r}, found {len(classes)}")
    if task.kind == "multiclass" and len(classes) < 2:
        raise UsageError(f"--data {path}: task softmax needs at least two classes in {target!r}, found {len(classes)}")
    t = codes[:, None].astype(np.float64) if task.kind == "binary" else np.eye(len(classes))[codes]
    return Dataset(table.x, t, table.x.copy(), table.feature_names, target, classes, source=path)


def load_dataset(task: Task, data: str | None = None, target: str | None = None, standardize: bool | None = None,
                 features: list[str] | None = None, delimiter: str | None = None) -> Dataset:
    if data is not None and not task.accepts_csv:
        raise UsageError(f"--data works with tasks linear, logistic and softmax, not {task.name}")
    if data is not None and not target:
        raise UsageError("--data needs --target COLUMN naming the column to predict")
    dataset = read_csv(data, target, task, features, delimiter) if data is not None else BUILT_IN[task.name]()
    if standardize if standardize is not None else task.standardize:
        dataset = standardized(dataset)
    return dataset


def standardized(dataset: Dataset) -> Dataset:
    with np.errstate(over="ignore", invalid="ignore"):  # values near float64's limit: reported below
        mean = dataset.x.mean(axis=0)
        std = dataset.x.std(axis=0)
    huge = [name for name, m, s in zip(dataset.feature_names, mean, std) if not (np.isfinite(m) and np.isfinite(s))]
    if huge:
        raise UsageError(f"feature {huge[0]!r} has values too large to standardise in float64; rescale it or drop it")
    constant = [name for name, s in zip(dataset.feature_names, std) if s == 0]
    if constant:
        raise UsageError(f"feature {constant[0]!r} is constant and cannot be standardised; drop it or pass --no-standardize")
    return replace(dataset, x=(dataset.x - mean) / std, x_eval=(dataset.x_eval - mean) / std)


def default_sizes(task: Task, dataset: Dataset) -> tuple[int, ...]:
    return (dataset.x.shape[1], *task.hidden, dataset.t.shape[1])


def check_sizes(sizes: tuple[int, ...], dataset: Dataset, task: Task) -> None:
    """An architecture must start with the number of features and end with the outputs."""
    if len(sizes) < 2:
        raise UsageError(f"--arch {','.join(map(str, sizes))}: needs at least two layer sizes (inputs and outputs)")
    if sizes[0] != dataset.x.shape[1]:
        raise UsageError(f"--arch {','.join(map(str, sizes))}: first size must be {dataset.x.shape[1]}, "
                         f"the number of input features of task {task.name}")
    if sizes[-1] != dataset.t.shape[1]:
        raise UsageError(f"--arch {','.join(map(str, sizes))}: last size must be {dataset.t.shape[1]}, "
                         f"the number of outputs of task {task.name}")


def default_record_every(steps: int) -> int:
    """About 100 recorded losses per run, whatever its length."""
    return max(1, steps // 100)


SCHEDULE_BYTES = 2 * 2**30


def check_schedule_size(steps: int, batch: int, sizes: tuple[int, ...], dtype: str) -> None:
    """Refuse, before anything is drawn, a schedule too large to hold in memory: every step's
    sample indices are drawn up front (so every library takes the same samples), and Keras
    reads a copy of the data laid out in schedule order."""
    parameters = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if parameters * 8 * 4 > SCHEDULE_BYTES:  # float64 draws, then weights, gradients and a copy per library
        raise UsageError(f"--arch {','.join(map(str, sizes))}: {parameters:,} weights would take "
                         f"{parameters * 32 / 1e9:,.1f} GB to draw and train; at most {SCHEDULE_BYTES // 32:,} fit the "
                         f"{SCHEDULE_BYTES // 2**30} GiB limit")
    row_bytes = 8 + (sizes[0] + sizes[-1]) * np.dtype(dtype).itemsize
    rows = steps * batch
    if rows * row_bytes > SCHEDULE_BYTES:
        most = SCHEDULE_BYTES // row_bytes // batch
        raise UsageError(f"--steps {steps} with batch {batch}: the schedule would take {rows * row_bytes / 1e9:,.1f} GB "
                         f"(sample indices and the data in schedule order); at most {most:,} steps fit the "
                         f"{SCHEDULE_BYTES // 2**30} GiB limit")


def build_problem(task: Task, dataset: Dataset, sizes: tuple[int, ...], *, hidden_activation: str | None = None,
                  lr: float | None = None, steps: int | None = None, batch_size: int | None = None,
                  seed: int = 0, dtype: str = "float64", record_every: int | None = None,
                  weights: list[np.ndarray] | None = None, indices: np.ndarray | None = None) -> Problem:
    """Draw the initial weights and the sample order and fix every number of the run. The user's
    own `weights` (seed layout) or `indices` (every step's rows, shape (steps, batch)) replace
    the drawn ones; the steps and batch size are then the order's."""
    check_sizes(sizes, dataset, task)
    n = dataset.x.shape[0]
    if indices is not None:
        steps, batch_size = indices.shape
    steps = task.steps if steps is None else steps
    batch = batch_size if batch_size is not None else (task.batch_size or n)
    if batch > n:
        raise UsageError(f"--batch-size {batch}: larger than the {n} training samples of task {task.name}")
    check_schedule_size(steps, batch, sizes, dtype)
    spec = ModelSpec(tuple(sizes), hidden_activation or task.hidden_activation, task.output_activation, task.loss, dtype)
    drawn_weights, drawn_indices = draw(seed, spec.sizes, n, steps, batch)
    weights = drawn_weights if weights is None else weights
    indices = drawn_indices if indices is None else indices
    dt = np.dtype(dtype)
    schedule = Schedule(lr=task.lr if lr is None else lr, indices=indices,
                        record_every=record_every or default_record_every(steps))
    return Problem(task.name, spec, tuple(w.astype(dt) for w in weights), dataset.x.astype(dt),
                   dataset.t.astype(dt), dataset.x_eval.astype(dt), schedule)


def accuracy(task: Task, dataset: Dataset, predictions: np.ndarray) -> float | None:
    """The share of evaluation inputs classified right: output above 0.5 for XOR and
    `logistic`, the most probable class for `softmax` and `digits`; None for regressions."""
    predictions, targets = np.asarray(predictions), dataset.eval_targets
    if task.scored == "threshold":
        return float(np.mean((predictions > 0.5) == (targets > 0.5)))
    if task.scored == "argmax":
        return float(np.mean(predictions.argmax(axis=1) == targets.argmax(axis=1)))
    return None


def optimal_loss(task: Task, dataset: Dataset) -> float | None:
    """The best loss a linear model can reach on the task's data, if there is one
    (shared/contract/ground_truth.py)."""
    from shared.contract.ground_truth import ground_truth

    return (ground_truth(task.name, dataset.x, dataset.t) or {}).get("optimal_loss")
