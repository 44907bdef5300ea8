"""Keras 3, the high-level API: a `Sequential` of `Dense` layers trained by `compile` + `fit`.

Keras computes the gradients and takes the steps itself, inside `fit` (with a GradientTape on
its default TensorFlow backend), so this file has no `gradients` and no `train_step` (ABSENT
says so): that is the point of the high-level API. The last `Dense` layer is linear, so the
model's output is the logits, as `forward` means everywhere, and every loss takes logits.
`fit` takes exactly the schedule's steps because the data are laid out in the schedule's
order and read with `shuffle=False`, one batch per step.
Surprises:
- A `Dense` kernel is (fan_in, fan_out) with the bias apart: the seed's W is kernel = W[1:],
  bias = W[0].
- Keras' `MeanSquaredError` is a mean over the outputs of the activated output; the seed's loss
  ½Σ, and the mean squared error of the logits' activation, are written here as custom losses.
  Keras averages every loss over the batch, as the other files do.
- Keras' binary cross-entropy clips probabilities to [1e-7, 1 − 1e-7]; on logits
  (`from_logits=True`) it does not, so we use that.
- The dtype of variables and of the optimizer's learning rate follow `floatx`, which is
  process-wide: `configure` sets it for each run. With floatx float32, a float64 model
  would step by float32(0.1) = 0.10000000149, off by 1.5e-8 at every step.
- Keras 3.15.1 maps float64 to float32 in its own type promotion on every backend but
  TensorFlow (`BIT64_TO_BIT32_DTYPE`, keras/src/backend/common/dtypes.py), and some ops act
  on it even with floatx float64: `ops.mean` casts float64 to float32, means, and casts back
  (JAX and torch: the dtype says float64, the value is float32's); on JAX `ops.tanh` returns
  float32. So the means here are sums over counts, and on JAX tanh is JAX's own, which keep
  float64. On torch two more return float32 for float64 operands, and no argument changes
  them: `ops.matmul`, the product inside every `Dense`, and `ops.divide_no_nan`, with which
  `compile`'s loss divides its sum by the batch size. float64 stays out of reach there.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("KERAS_BACKEND") == "jax":
    import jax  # Keras fixes its JAX dtypes when imported: x64 must be on before (see configure)

    jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput  # noqa: E402

NAME = "keras"
TITLE = "Keras"
POSITION = 3
REQUIRES = "keras"
INSTALL = "pip install keras==3.15.1 tensorflow==2.21.0"
MODES = ("eager", "compiled")
# Modes of milliseconds per tiny step (2-core CPU): without --steps the default run trains this prefix.
STEP_CAPS = {"eager": 300, "compiled on torch": 2_000}
LOAD_AFTER = ("torch",)  # importing TensorFlow before PyTorch has crashed processes that load both
# Keras 3 runs on any of these, fixed when it is imported (from BACKEND_ENV): each backend is a
# target of its own ("keras:jax"), run in its own worker; "keras" means all three.
BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_ENV = "KERAS_BACKEND"
# "dtype on backend" → why a default run skips it (a run that names the backend still runs it).
# Measured on Keras 3.15.1 (tests/test_keras_backends.py pins it, so it fails once Keras changes).
DTYPE_SKIPS = {"float64 on torch": "Keras 3.15.1's torch backend computes two float64 ops in float32: ops.matmul, "
                                   "the product inside every Dense, and ops.divide_no_nan, the batch mean of every "
                                   "compiled loss (a float64 XOR run ends 4.8e-08 off NumPy after 300 steps)"}
ABSENT = {"gradients": "Keras' high-level API computes the gradients inside fit: nothing of its own to show.",
          "train_step": "Keras takes each step inside fit (its trainer's train_step): nothing of its own to show."}

ACTIVATIONS = {
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "relu": ops.relu,
    "identity": lambda z: z,
    "softmax": ops.softmax,
}
if keras.backend.backend() == "jax":
    import jax.numpy as jnp  # noqa: E402

    ACTIVATIONS["tanh"] = jnp.tanh  # ops.tanh returns float32 for float64 on JAX (Keras 3.15.1); this keeps it


def versions() -> dict[str, str]:
    backend = keras.backend.backend()
    threads = {f"keras_{k}": v for k, v in _backend_file().versions().items() if "thread" in k} if _threads_set else {}
    return {"keras": keras.__version__, "keras_backend": backend, backend: importlib.import_module(backend).__version__,
            **threads}


_threads_set: list[int] = []


def _backend_file():
    """The backend's own implementation file, which answers for what Keras leaves to its backend:
    threads, the GPU and its memory."""
    return importlib.import_module(f"implementations.{keras.backend.backend()}_backend")


def set_threads(n: int) -> None:
    """Keras has no threads of its own: its backend's, set as that library's file sets them."""
    _backend_file().set_threads(n)
    _threads_set.append(n)


def configure(dtype: str) -> None:
    """Precision and determinism, in one place: floatx for this run, and the backend's
    own switches (no TF32, deterministic kernels)."""
    keras.config.set_floatx(dtype)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
        tf.config.experimental.enable_op_determinism()
    elif backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_default_matmul_precision", "highest")
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False


def device_unavailable(device: str) -> str | None:
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if device == "cpu" and torch.cuda.is_available():
            return "Keras' torch backend puts models on the GPU when there is one, and keras.device() breaks its gradients"
    if device == "cpu":
        return None
    if backend == "tensorflow":
        import tensorflow as tf

        found = bool(tf.config.list_physical_devices("GPU"))
    elif backend == "jax":
        import jax

        found = any(d.platform == "gpu" for d in jax.devices())
    else:
        import torch

        found = torch.cuda.is_available()
    return None if found else f"Keras on its {backend} backend sees no GPU"


def gpu_name() -> str | None:
    return _backend_file().gpu_name()


def reset_gpu_peak() -> bool:
    return _backend_file().reset_gpu_peak()


def gpu_peak_bytes() -> int | None:
    return _backend_file().gpu_peak_bytes()


def _device(device: str):
    """A device scope. On the torch backend, variables made inside `keras.device()` stop
    receiving gradients (Keras 3.15), so there we keep its default placement."""
    if keras.backend.backend() == "torch":
        return contextlib.nullcontext()
    return keras.device("gpu:0" if device == "gpu" else "cpu:0")


def build_model(problem: Problem, device: str) -> keras.Sequential:
    """Dense layers with the hidden activation; the last one linear: the model returns logits."""
    spec = problem.spec
    activations = [spec.hidden_activation] * (len(spec.sizes) - 2) + [None]
    with _device(device):
        model = keras.Sequential([keras.Input(shape=(spec.n_inputs,), dtype=spec.dtype)] +
                                 [keras.layers.Dense(n, activation=ACTIVATIONS[a] if a else None, dtype=spec.dtype)
                                  for n, a in zip(spec.sizes[1:], activations)])
    return set_weights(model, problem.weights)


def set_weights(model: keras.Sequential, weights: tuple[np.ndarray, ...]) -> keras.Sequential:
    for layer, w in zip(model.layers, weights):
        layer.set_weights([w[1:], w[0]])
    return model


def forward(model: keras.Sequential, spec: ModelSpec, x) -> object:
    """The output layer's logits: the last Dense layer is linear."""
    return model(x, training=False)


def predict(model: keras.Sequential, spec: ModelSpec, x) -> object:
    return ACTIVATIONS[spec.output_activation](forward(model, spec, x))


def loss(model: keras.Sequential, spec: ModelSpec, x, t) -> object:
    """The loss `fit` minimises (`keras_loss`), averaged over the batch as Keras does."""
    return mean(keras_loss(spec)(t, forward(model, spec, x)))


def mean(x, axis: int | None = None) -> object:
    """A mean as a sum over the count: `ops.mean` computes float64 in float32 on JAX and torch."""
    return ops.sum(x, axis=axis) / (math.prod(x.shape) if axis is None else x.shape[axis])


def keras_loss(spec: ModelSpec) -> keras.losses.Loss | object:
    """What `compile` is given: Keras losses take (targets, logits), per sample; Keras averages
    them over the batch."""
    if spec.loss == "binary_crossentropy":  # keras.losses.BinaryCrossentropy means over outputs with ops.mean
        return lambda t, z: mean(ops.binary_crossentropy(t, z, from_logits=True), axis=-1)
    if spec.loss == "softmax_crossentropy":
        return keras.losses.CategoricalCrossentropy(from_logits=True)
    activation = ACTIVATIONS[spec.output_activation]
    if spec.loss == "half_sse":
        return lambda t, z: 0.5 * ops.sum(ops.square(ops.subtract(t, activation(z))), axis=-1)
    return lambda t, z: mean(ops.square(ops.subtract(t, activation(z))), axis=-1)  # mse


class LossHistory(keras.callbacks.Callback):
    """The training-set loss before training and after every `every` steps (and the last)."""

    def __init__(self, spec: ModelSpec, x_all, t_all, every: int, steps: int):
        super().__init__()
        self.spec, self.every, self.steps = spec, every, steps
        self.x_all, self.t_all = ops.convert_to_tensor(x_all), ops.convert_to_tensor(t_all)
        self.values: list = []

    def _record(self) -> None:
        self.values.append(loss(self.model, self.spec, self.x_all, self.t_all))

    def on_train_begin(self, logs=None) -> None:
        self.values = []
        self._record()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        done = batch + 1  # with steps_per_execution = every, Keras calls this once per chunk
        if done % self.every == 0 or done == self.steps:
            self._record()


def train(model: keras.Sequential, problem: Problem, data: tuple, program) -> tuple[keras.Sequential, np.ndarray]:
    """`fit` over the data laid out in the schedule's order: one batch per step. `program` is
    always None: Keras keeps its compiled step inside the model (`compile(run_eagerly=False)`
    in prepare) and `fit` runs it."""
    x_all, t_all, x_rows, t_rows = data
    history = LossHistory(problem.spec, x_all, t_all, problem.schedule.record_every, problem.schedule.steps)
    model.fit(x_rows, t_rows, batch_size=problem.schedule.batch_size, epochs=1, shuffle=False, verbose=0,
              callbacks=[history])
    return model, np.array([ops.convert_to_numpy(v) for v in history.values])


def weights_of(model: keras.Sequential) -> list[np.ndarray]:
    return [np.vstack([bias[None, :], kernel]) for kernel, bias in (layer.get_weights() for layer in model.layers)]


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    spec, schedule = problem.spec, problem.schedule
    model = build_model(problem, device)
    # Compiled: Keras' default (XLA where the backend can), running `record_every` steps per
    # call into the compiled function instead of returning to Python after every step
    # (the torch backend allows only one step per call).
    per_call = 1 if mode == "eager" or keras.backend.backend() == "torch" else schedule.record_every
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule.lr), loss=keras_loss(spec),
                  run_eagerly=(mode == "eager"), steps_per_execution=per_call)
    rows = schedule.indices.reshape(-1)
    with _device(device):
        data = (ops.convert_to_tensor(problem.x_train), ops.convert_to_tensor(problem.t_train),
                problem.x_train[rows], problem.t_train[rows])

    def run() -> TrainOutput:
        trained = set_weights(model, problem.weights)
        with _device(device):
            trained, losses = train(trained, problem, data, None)
            predictions = ops.convert_to_numpy(predict(trained, spec, problem.x_eval))  # waits for the device
        return TrainOutput(weights_of(trained), predictions, losses, str(predictions.dtype),
                           {"keras_backend": keras.backend.backend()})

    return run
