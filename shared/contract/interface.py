"""The contract every implementation satisfies: what it is given and what it returns.

A `Problem` holds everything a training run needs, made once in NumPy: the model spec, the
initial parameters in the seed's layout, the training data, the schedule (with the exact
sample indices of every step) and the evaluation inputs. Every library starts from the same
`Problem` and hands back a `TrainOutput` in NumPy, so that results can be compared number by
number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from shared.contract.errors import UsageError

HIDDEN_ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")
OUTPUT_ACTIVATIONS = ("identity", "tanh", "sigmoid", "softmax")
LOSSES = ("half_sse", "mse", "binary_crossentropy", "softmax_crossentropy")
DTYPES = ("float64", "float32")
DEVICES = ("cpu", "gpu")
MODES = ("eager", "compiled")

# Losses that are computed from the output layer's pre-activation (the "logits") in their
# numerically stable form, and the only output activation each one accepts.
LOGIT_LOSSES = {"binary_crossentropy": "sigmoid", "softmax_crossentropy": "softmax"}


class SpecError(UsageError):
    """A model spec or schedule that cannot describe a valid training run."""


@dataclass(frozen=True)
class ModelSpec:
    """A fully connected network: layer sizes, activations, loss and dtype.

    Losses are means over the batch of a per-sample loss:
    `half_sse` ½·Σₖ(tₖ−yₖ)² (the seed's), `mse` meanₖ(tₖ−yₖ)² (Keras' and PyTorch's),
    `binary_crossentropy` meanₖ[softplus(zₖ) − tₖzₖ] on logits z, and
    `softmax_crossentropy` logsumexp(z) − Σₖ tₖzₖ on logits z.
    """

    sizes: tuple[int, ...]
    hidden_activation: str = "tanh"
    output_activation: str = "tanh"
    loss: str = "half_sse"
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if len(self.sizes) < 2:
            raise SpecError(f"an architecture needs at least two layer sizes, got {list(self.sizes)}")
        if any(int(s) != s or s < 1 for s in self.sizes):
            raise SpecError(f"layer sizes must be positive integers, got {list(self.sizes)}")
        if self.hidden_activation not in HIDDEN_ACTIVATIONS:
            raise SpecError(f"unknown hidden activation {self.hidden_activation!r}; expected one of {', '.join(HIDDEN_ACTIVATIONS)}")
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise SpecError(f"unknown output activation {self.output_activation!r}; expected one of {', '.join(OUTPUT_ACTIVATIONS)}")
        if self.loss not in LOSSES:
            raise SpecError(f"unknown loss {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if self.dtype not in DTYPES:
            raise SpecError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}")
        needed = LOGIT_LOSSES.get(self.loss)
        if needed and self.output_activation != needed:
            raise SpecError(f"loss {self.loss} needs output activation {needed}, got {self.output_activation}")
        if self.output_activation == "softmax" and self.loss != "softmax_crossentropy":
            raise SpecError("a softmax output is only supported with loss softmax_crossentropy")

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    def activations(self) -> list[str]:
        """The activation of each weight layer, input side first."""
        return [self.hidden_activation] * (len(self.sizes) - 2) + [self.output_activation]


@dataclass(frozen=True)
class Schedule:
    """Learning rate, step count and the exact samples of every step.

    `indices[s]` are the rows of the training data that make up the batch of step `s`.
    The loss on the whole training set is recorded before the first step and after every
    `record_every` steps, and always after the last one (see `record_steps`).
    """

    lr: float
    indices: np.ndarray  # shape (steps, batch_size), int64
    record_every: int
    start: int = 0  # the step of a longer run this schedule's first step is (0: a run of its own)

    @property
    def steps(self) -> int:
        return int(self.indices.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.indices.shape[1])

    def record_steps(self) -> list[int]:
        """Step counts after which the training loss is recorded (0 = before training)."""
        marks = list(range(0, self.steps + 1, self.record_every))
        if marks[-1] != self.steps:
            marks.append(self.steps)
        return marks

    def chunks(self) -> list[int]:
        """Lengths of the runs of steps between two recorded losses."""
        marks = self.record_steps()
        return [b - a for a, b in zip(marks, marks[1:])]

    def prefix(self, steps: int) -> Schedule:
        """The first `steps` steps of this schedule, recorded at the same marks."""
        return replace(self, indices=self.indices[:steps])

    def window(self, first: int, steps: int) -> Schedule:
        """Steps first .. first + steps − 1 of this schedule, as a schedule of their own that
        records its loss only before and after them."""
        return replace(self, indices=self.indices[first:first + steps], record_every=max(steps, 1), start=self.start + first)


@dataclass(frozen=True)
class Problem:
    """Everything one training run needs, identical for every library."""

    task: str
    spec: ModelSpec
    weights: tuple[np.ndarray, ...]  # seed layout: (fan_in + 1, fan_out), row 0 = bias
    x_train: np.ndarray
    t_train: np.ndarray  # 2-D: (n_samples, n_outputs); one-hot for softmax
    x_eval: np.ndarray
    schedule: Schedule

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.spec.dtype)

    def prefix(self, steps: int) -> Problem:
        return replace(self, schedule=self.schedule.prefix(steps))

    def window(self, first: int, steps: int, weights: list[np.ndarray] | tuple[np.ndarray, ...]) -> Problem:
        """Steps first .. first + steps − 1 of this run, started from `weights` (the run's weights
        just before step `first`)."""
        return replace(self, schedule=self.schedule.window(first, steps), weights=tuple(weights))


@dataclass
class TrainOutput:
    """What a run returns, in NumPy, after the library has finished all its work."""

    weights: list[np.ndarray]  # seed layout
    predictions: np.ndarray  # outputs on problem.x_eval, in the target's units
    loss_history: np.ndarray  # training-set loss at schedule.record_steps()
    dtype: str  # dtype of the library's own result tensors, checked before values
    info: dict = field(default_factory=dict)  # e.g. the Keras backend


Runner = Callable[[], TrainOutput]


@dataclass(frozen=True)
class Function:
    """One function of the contract: the same name, parameters and kind of result in every file."""

    name: str
    parameters: tuple[str, ...]
    returns: str
    meaning: str


# Each library is a folder, implementations/<library>/, with the same two modules in every one:
#
# lesson.py, what a learner reads: the network and its training, in the library's own idiom,
# defining LESSON's functions in this order, the order of a training run (a helper of the
# library's own may stand between two of them);
# runtime.py, what only the harness needs: the library's name, install line and module
# constants (registry.Library), and RUNTIME's functions, in this order.
#
# Words every lesson uses with one meaning:
# - model: the library's own network object (NumPy's and JAX's list of arrays in the seed's layout,
#   TensorFlow's tf.Module, PyTorch's nn.Sequential, Keras' Sequential, MLX's nn.Module);
# - parameters: the model's trainable arrays in the library's own structure and order (what its
#   autodiff differentiates with respect to), and gradients have that same structure;
# - optimizer: what turns gradients into an update, plain SGD at the schedule's learning rate, with
#   whatever state the library keeps for it: the library's own optimizer object where its tutorials
#   use one (torch.optim.SGD, Keras' SGD, MLX's optim.SGD; for JAX the pair of Optax's
#   transformation and its state), the learning rate itself where they write the update out
#   (NumPy; TensorFlow's guide, `assign_sub`);
# - data: the training set as the library computes on it, (x, t, indices): inputs, targets, and
#   indices[s] the rows of step s (each library keeps the indices where its loops read them best);
#   x and t are what the lesson's functions take as a batch (`load_data` of a problem whose
#   training set is that batch gives it);
# - program: the whole schedule compiled once; `program(model, optimizer)` returns
#   (model, history) as `train` does.
# A library without a counterpart names the function in its runtime's ABSENT, with the reason;
# tests/test_layout.py checks all of it, and the side-by-side page shows the functions in this order.
LESSON = (
    Function("configure", ("dtype",), "None",
             "precision and determinism for a run in `dtype`, process-wide where the library has it so (JAX's x64, "
             "Keras' floatx, TF32 off)"),
    Function("build_model", ("problem", "device"), "model", "the network on `device`, with the problem's initial weights"),
    Function("set_weights", ("model", "weights"), "model",
             "the model holding `weights` (seed layout); the same object, or a new one where arrays are immutable"),
    Function("load_data", ("problem", "device"), "data",
             "the training set on `device` as the library computes on it: (x, t, indices), indices[s] the rows of step s"),
    Function("forward", ("model", "spec", "x"), "logits", "the output layer's pre-activation, for a batch x"),
    Function("layer_outputs", ("model", "spec", "x"), "list[(z, a)]",
             "each layer's pre-activation z and activation a = f(z), input side first, in NumPy: the forward pass "
             "layer by layer (the last a is the output activation of the logits)"),
    Function("predict", ("model", "spec", "x"), "outputs", "the output layer's activation of the logits"),
    Function("loss", ("model", "spec", "x", "t"), "scalar", "the spec's loss, averaged over the batch"),
    Function("gradients", ("model", "spec", "x", "t"), "gradients",
             "d loss / d parameters, in the parameters' own structure (`in_seed_layout` turns them into NumPy)"),
    Function("in_seed_layout", ("parameters",), "list[np.ndarray]",
             "parameters, or gradients of them, as NumPy arrays in the seed's layout: one (fan_in + 1, fan_out) matrix "
             "per layer, row 0 the bias"),
    Function("make_optimizer", ("model", "lr"), "optimizer", "plain SGD at learning rate `lr` for this model, built once"),
    Function("train_step", ("model", "optimizer", "spec", "x", "t"), "(model, optimizer)",
             "one SGD step on one batch; the same objects where the library updates in place, new ones where its "
             "arrays are immutable"),
    Function("train", ("model", "optimizer", "problem", "data"), "(model, history)",
             "the whole schedule, step by step from Python (eager mode); history: the training-set loss at "
             "schedule.record_steps()"),
    Function("compile_training", ("model", "optimizer", "problem", "data"), "program",
             "the whole schedule compiled, once (compiled mode): `program(model, optimizer)` returns (model, "
             "history) as `train` does"),
    Function("weights_of", ("model",), "list[np.ndarray]", "the model's weights back in NumPy, seed layout"),
    Function("prepare", ("problem", "mode", "device"), "Runner",
             "everything done once (precision, model, optimizer, data on the device, the compiled program); the "
             "runner trains from the initial weights each time it is called"),
)

RUNTIME = (
    Function("versions", (), "dict[str, str]", "the library's version and the settings that matter for timing"),
    Function("set_threads", ("n",), "None",
             "--threads: the library's own thread counts, right after import and before any work (variables it "
             "reads when imported are its THREAD_ENV, set by the harness first)"),
    Function("device_unavailable", ("device",), "str | None", "why the library cannot run on `device` here, or None"),
    Function("gpu_name", (), "str | None", "the GPU the library computes on when asked for `gpu`, by name, or None"),
    Function("reset_gpu_peak", (), "bool",
             "start a new peak of the GPU memory the library allocates; False where it cannot (its peak then counts "
             "from the start)"),
    Function("gpu_peak_bytes", (), "int | None",
             "the most GPU memory the library has allocated since `reset_gpu_peak` (or since it started), or None "
             "where it reports none"),
    Function("probe_machine", ("device",), "None",
             "one-time checks of this machine that the library would otherwise make inside a timed first call of a "
             "compiled run (PyTorch: Inductor's vector-instruction probes); nothing for most"),
)

# What every implementations/<library>/parallel.py (a data-parallel engine, beside its library)
# defines, in this order: the steps of a data-parallel engine (shared/studies/parallel_host.py calls them).
PARALLEL_CONTRACT = (
    Function("versions", (), "dict[str, str]", "the library's version and its collective backend"),
    Function("unsupported", ("layout", "dtype"), "str | None", "a layout or dtype the engine cannot run, said before it starts"),
    Function("launch", ("serve", "folder", "layout"), "None", "start this host's worker processes (or be the one)"),
    Function("configure", ("layout", "dtype"), "None", "what must be set before the runtime starts"),
    Function("join", ("layout",), "engine", "the rendezvous with the other hosts; the engine's handle"),
    Function("build_model", ("problem", "engine"), "model", "the single-process model, placed or wrapped for the engine"),
    Function("split_batches", ("problem", "engine"), "rows", "this process's part of every global batch"),
    Function("train_step", ("model", "spec", "x", "t", "lr"), "model", "one step whose gradients the engine averages"),
    Function("train", ("model", "problem", "data", "program"), "(model, history)", "the whole schedule, as in one process"),
    Function("prepare", ("problem", "engine", "layout"), "Runner", "everything done once; the runner trains from the "
                                                                     "initial weights"),
    Function("leave", ("engine",), "None", "leave the group, so that the process can exit"),
)
