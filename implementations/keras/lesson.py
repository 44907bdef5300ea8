"""Keras 3, the high-level API: a `Sequential` of `Dense` layers trained by `compile` + `fit`.

Training is Keras' own: `model.compile(optimizer=SGD, loss=...)`, then `model.fit`, which
computes the gradients and takes the steps itself (eagerly with `run_eagerly=True`, else as its
backend's compiled function, `steps_per_execution` steps per call). One step outside `fit`, and
the gradients alone, are written as Keras' guides "Writing a training loop from scratch" write
them: the optimizer's `apply`, and each backend's own differentiation (a GradientTape on
TensorFlow, `jax.grad` of `stateless_call` on JAX, `backward()` on torch): Keras 3 leaves
gradients to its backend. The last `Dense` layer is linear, so the model's output is the logits,
as `forward` means everywhere, and every loss takes logits. `fit` takes exactly the schedule's
steps because the data are laid out in the schedule's order and read with `shuffle=False`, one
batch per step.
Surprises:
- A `Dense` kernel is (fan_in, fan_out) with the bias apart: the seed's W is kernel = W[1:],
  bias = W[0]; `trainable_weights` lists kernel, bias, kernel, bias...
- Keras' `MeanSquaredError` is a mean over the outputs of the activated output; the seed's loss
  ½Σ, and the mean squared error of the logits' activation, are written here as custom losses.
  Keras averages every loss over the batch, as the other files do.
- Keras' binary cross-entropy clips probabilities to [1e-7, 1 − 1e-7]; on logits
  (`from_logits=True`) it does not, so we use that.
- The dtype of variables and of the optimizer's learning rate follow `floatx`, which is
  process-wide: `configure` sets it for each run, before the optimizer is made. With floatx
  float32, a float64 model would step by float32(0.1) = 0.10000000149, 1.5e-8 off (relative)
  at every step.
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
import math

import keras
import numpy as np
from keras import ops

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

# The same functions make the Dense layers' activations (`Dense(activation=...)` takes a callable
# as well as the usual name) and the losses', so that both compute alike (and on JAX, tanh below).
ACTIVATIONS = {
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "relu": ops.relu,
    "identity": lambda z: z,
    "softmax": ops.softmax,
}
if keras.backend.backend() == "jax":
    import jax.numpy as jnp

    ACTIVATIONS["tanh"] = jnp.tanh  # ops.tanh returns float32 for float64 on JAX (Keras 3.15.1); this keeps it


def configure(dtype: str) -> None:
    """floatx for this run, and the backend's own switches: no TF32 (TensorFlow, JAX, torch) and
    deterministic kernels (TensorFlow). On JAX x64 stays on for float32 runs too: Keras' runtime
    switched it on before Keras was imported, and Keras makes every array in floatx."""
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

        torch.backends.cuda.matmul.fp32_precision = "ieee"


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


def load_data(problem: Problem, device: str) -> tuple[np.ndarray, ...]:
    """NumPy, as Keras takes data: `fit` places what it is given (and so does calling the model)."""
    return problem.x_train, problem.t_train, problem.schedule.indices


def forward(model: keras.Sequential, spec: ModelSpec, x) -> object:
    """The output layer's logits: the last Dense layer is linear."""
    return model(x, training=False)


def layer_outputs(model: keras.Sequential, spec: ModelSpec, x) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each Dense layer's own product and sum (`ops.matmul`, `ops.add`, as `Dense.call` computes
    them), then the activation."""
    found = []
    for layer, name in zip(model.layers, spec.activations()):
        z = ops.add(ops.matmul(x, layer.kernel), layer.bias)
        x = ACTIVATIONS[name](z)
        found.append((ops.convert_to_numpy(z), ops.convert_to_numpy(x)))
    return found


def predict(model: keras.Sequential, spec: ModelSpec, x) -> object:
    return ACTIVATIONS[spec.output_activation](forward(model, spec, x))


def loss(model: keras.Sequential, spec: ModelSpec, x, t) -> object:
    """The loss `fit` minimises (`keras_loss`), averaged over the batch as Keras does."""
    return _mean(keras_loss(spec)(t, forward(model, spec, x)))


def _mean(x, axis: int | None = None) -> object:
    """A mean as a sum over the count: `ops.mean` computes float64 in float32 on JAX and torch."""
    return ops.sum(x, axis=axis) / (math.prod(x.shape) if axis is None else x.shape[axis])


def keras_loss(spec: ModelSpec) -> keras.losses.Loss | object:
    """What `compile` is given: Keras losses take (targets, logits); the functions below give one
    value per sample, which Keras averages over the batch (CategoricalCrossentropy averages itself)."""
    if spec.loss == "binary_crossentropy":  # keras.losses.BinaryCrossentropy means over outputs with ops.mean
        return lambda t, z: _mean(ops.binary_crossentropy(t, z, from_logits=True), axis=-1)
    if spec.loss == "softmax_crossentropy":
        return keras.losses.CategoricalCrossentropy(from_logits=True)
    activation = ACTIVATIONS[spec.output_activation]
    if spec.loss == "half_sse":
        return lambda t, z: 0.5 * ops.sum(ops.square(ops.subtract(t, activation(z))), axis=-1)
    return lambda t, z: _mean(ops.square(ops.subtract(t, activation(z))), axis=-1)  # mse


def gradients(model: keras.Sequential, spec: ModelSpec, x, t) -> list:
    """One per trainable weight, from the backend's own differentiation, as Keras' guides write
    a training loop from scratch on each backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(model, spec, x, t)
        return tape.gradient(value, model.trainable_weights)
    if backend == "jax":
        import jax

        def loss_of(trainable: list) -> object:
            logits, _ = model.stateless_call(trainable, model.non_trainable_variables, x)
            return _mean(keras_loss(spec)(t, logits))

        return jax.grad(loss_of)([v.value for v in model.trainable_variables])
    model.zero_grad()  # torch: backward() leaves each weight's gradient in its .grad
    loss(model, spec, x, t).backward()
    return [v.value.grad for v in model.trainable_weights]


def in_seed_layout(parameters: list) -> list[np.ndarray]:
    """(kernel, bias) pairs in `trainable_weights` order → [bias; kernel] per layer."""
    arrays = [ops.convert_to_numpy(p) for p in parameters]
    return [np.vstack([bias[None, :], kernel]) for kernel, bias in zip(arrays[::2], arrays[1::2])]


def make_optimizer(model: keras.Sequential, lr: float) -> keras.optimizers.SGD:
    """Made after `configure`: its learning rate is a variable in the floatx of that moment."""
    return keras.optimizers.SGD(learning_rate=lr)


def train_step(model: keras.Sequential, optimizer: keras.optimizers.SGD, spec: ModelSpec, x,
               t) -> tuple[keras.Sequential, keras.optimizers.SGD]:
    """One step outside `fit`: the gradients, then the optimizer applies them to the weights (on
    torch outside autograd, as Keras' guide does; on JAX eagerly, with the stateful `apply`: the
    guide's `stateless_apply` is for a step inside `jax.jit`)."""
    grads = gradients(model, spec, x, t)
    if keras.backend.backend() == "torch":
        import torch

        with torch.no_grad():
            optimizer.apply(grads, model.trainable_weights)
    else:
        optimizer.apply(grads, model.trainable_weights)
    return model, optimizer


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
        done = batch + 1  # with steps_per_execution = every, Keras calls this once per stretch
        if done % self.every == 0 or done == self.steps:
            self._record()


def _fit(model: keras.Sequential, problem: Problem, data: tuple) -> tuple[keras.Sequential, np.ndarray]:
    """`fit` over the data laid out in the schedule's order: one batch per step."""
    x_all, t_all, indices = data
    rows = indices.reshape(-1)
    history = LossHistory(problem.spec, x_all, t_all, problem.schedule.record_every, problem.schedule.steps)
    model.fit(x_all[rows], t_all[rows], batch_size=problem.schedule.batch_size, epochs=1, shuffle=False, verbose=0,
              callbacks=[history])
    return model, np.array([ops.convert_to_numpy(v) for v in history.values])


def train(model: keras.Sequential, optimizer: keras.optimizers.SGD, problem: Problem,
          data: tuple) -> tuple[keras.Sequential, np.ndarray]:
    """`fit`, run eagerly: Keras calls its train step from Python, one batch at a time."""
    model.compile(optimizer=optimizer, loss=keras_loss(problem.spec), run_eagerly=True)
    return _fit(model, problem, data)


def compile_training(model: keras.Sequential, optimizer: keras.optimizers.SGD, problem: Problem, data: tuple):
    """Keras' default compile, which `fit` then runs: on TensorFlow a tf.function (Keras keeps XLA
    off while op determinism is on), on JAX a jax.jit (XLA), each running `record_every` steps per
    call instead of returning to Python after every step; on torch Keras compiles nothing
    (`jit_compile="auto"` is off there) and takes one step per call, so "compiled" is its
    non-eager loop."""
    # Keras' torch trainer refuses steps_per_execution > 1.
    per_call = 1 if keras.backend.backend() == "torch" else problem.schedule.record_every
    model.compile(optimizer=optimizer, loss=keras_loss(problem.spec), steps_per_execution=per_call)

    def program(model: keras.Sequential, optimizer: keras.optimizers.SGD) -> tuple[keras.Sequential, np.ndarray]:
        return _fit(model, problem, data)

    return program


def weights_of(model: keras.Sequential) -> list[np.ndarray]:
    return in_seed_layout(model.trainable_weights)


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    optimizer = make_optimizer(model, problem.schedule.lr)
    data = load_data(problem, device)
    program = compile_training(model, optimizer, problem, data) if mode == "compiled" else None

    def run() -> TrainOutput:
        model_0 = set_weights(model, problem.weights)
        with _device(device):
            trained, losses = program(model_0, optimizer) if program else train(model_0, optimizer, problem, data)
            predictions = ops.convert_to_numpy(predict(trained, problem.spec, problem.x_eval))  # waits for the device
        return TrainOutput(weights_of(trained), predictions, losses, str(predictions.dtype),
                           {"keras_backend": keras.backend.backend()})

    return run
