"""TensorFlow, low level: the model a `tf.Module` of dense layers, gradients from `tf.GradientTape`.

As TensorFlow's guide "Basic training loops" writes it: variables owned by `tf.Module`s (here
`Dense`, a weight matrix and a bias vector, and `MLP`, the layers), gradients of the loss with
respect to `model.trainable_variables` from a tape, and plain SGD as `assign_sub` on each
variable, so the optimizer is the learning rate itself. Eager mode runs one tape per step from a
Python loop; compiled mode puts the whole training loop, the recorded losses included, in one
`tf.function(jit_compile=True)`, compiled by XLA.
Surprises:
- `tf.Module` collects its variables by attribute name, so `trainable_variables` lists each
  layer's `b` before its `w`.
- On NVIDIA GPUs TensorFlow runs float32 matmuls in TF32 unless told not to (`configure`).
- `tf.range` loops inside a `tf.function` become graph `while` loops (autograph); a Python
  `range` would be unrolled.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

ACTIVATIONS = {
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "relu": tf.nn.relu,
    "identity": lambda z: z,
    "softmax": tf.nn.softmax,
}


def configure(dtype: str) -> None:
    """No TF32 for float32 matmuls on NVIDIA GPUs, deterministic kernels everywhere."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    tf.config.experimental.enable_op_determinism()


class Dense(tf.Module):
    """z = x @ w + b: a weight matrix (fan_in, fan_out) and a bias (fan_out,)."""

    def __init__(self, w: np.ndarray, b: np.ndarray):
        super().__init__()
        self.w = tf.Variable(w, name="w")
        self.b = tf.Variable(b, name="b")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return x @ self.w + self.b


class MLP(tf.Module):
    """Dense layers with the hidden activation between them; calling it gives the logits."""

    def __init__(self, weights: tuple[np.ndarray, ...], hidden_activation: str):
        super().__init__()
        self.layers = [Dense(w[1:], w[0]) for w in weights]
        self.hidden_activation = ACTIVATIONS[hidden_activation]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for layer in self.layers[:-1]:
            x = self.hidden_activation(layer(x))
        return self.layers[-1](x)


def _device(device: str) -> str:
    return "/GPU:0" if device == "gpu" else "/CPU:0"


def build_model(problem: Problem, device: str) -> MLP:
    """The variables are made on the device (where `tf.Variable` is called)."""
    with tf.device(_device(device)):
        return MLP(problem.weights, problem.spec.hidden_activation)


def set_weights(model: MLP, weights: tuple[np.ndarray, ...]) -> MLP:
    for layer, w in zip(model.layers, weights):
        layer.w.assign(w[1:])
        layer.b.assign(w[0])
    return model


def load_data(problem: Problem, device: str) -> tuple[tf.Tensor, ...]:
    with tf.device(_device(device)):
        return tf.constant(problem.x_train), tf.constant(problem.t_train), tf.constant(problem.schedule.indices)


def forward(model: MLP, spec: ModelSpec, x: tf.Tensor) -> tf.Tensor:
    """The output layer's logits."""
    return model(x)


def layer_outputs(model: MLP, spec: ModelSpec, x: tf.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    found = []
    for layer, name in zip(model.layers, spec.activations()):
        z = layer(x)
        x = ACTIVATIONS[name](z)
        found.append((z.numpy(), x.numpy()))
    return found


def predict(model: MLP, spec: ModelSpec, x: tf.Tensor) -> tf.Tensor:
    return ACTIVATIONS[spec.output_activation](forward(model, spec, x))


def loss(model: MLP, spec: ModelSpec, x: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
    z = forward(model, spec, x)
    if spec.loss == "binary_crossentropy":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=z))
    if spec.loss == "softmax_crossentropy":
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=z))
    y = ACTIVATIONS[spec.output_activation](z)
    if spec.loss == "half_sse":
        return tf.reduce_mean(0.5 * tf.reduce_sum((t - y) ** 2, axis=-1))
    return tf.reduce_mean((t - y) ** 2)


def gradients(model: MLP, spec: ModelSpec, x: tf.Tensor, t: tf.Tensor) -> list[tf.Tensor]:
    """The tape records the forward pass; its gradient is one tensor per trainable variable."""
    with tf.GradientTape() as tape:
        value = loss(model, spec, x, t)
    return tape.gradient(value, model.trainable_variables)


def in_seed_layout(parameters: list[tf.Tensor]) -> list[np.ndarray]:
    """(b, w) pairs in `trainable_variables` order → [b; w] per layer."""
    arrays = [np.asarray(p) for p in parameters]
    return [np.vstack([b[None, :], w]) for b, w in zip(arrays[::2], arrays[1::2])]


def make_optimizer(model: MLP, lr: float) -> float:
    """The guide's plain SGD is `assign_sub(lr * g)`: its only state is the learning rate."""
    return lr


def train_step(model: MLP, optimizer: float, spec: ModelSpec, x: tf.Tensor, t: tf.Tensor) -> tuple[MLP, float]:
    """In place: variables are assigned to."""
    for v, g in zip(model.trainable_variables, gradients(model, spec, x, t)):
        v.assign_sub(optimizer * g)
    return model, optimizer


def train(model: MLP, optimizer: float, problem: Problem, data: tuple[tf.Tensor, ...]) -> tuple[MLP, tf.Tensor]:
    """A Python loop of GradientTape steps."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for s in range(step, step + chunk):
            rows = indices[s]
            model, optimizer = train_step(model, optimizer, spec, tf.gather(x_all, rows), tf.gather(t_all, rows))
        step += chunk
        history.append(loss(model, spec, x_all, t_all))
    return model, tf.stack(history)


def compile_training(model: MLP, optimizer: float, problem: Problem, data: tuple[tf.Tensor, ...]):
    """The whole schedule as one graph: `tf.range` loops become XLA while loops. The function
    is traced for this model's variables, which it updates in place."""
    spec, schedule = problem.spec, problem.schedule
    every = schedule.record_every
    n_full, rest = divmod(schedule.steps, every)

    def run_steps(first, count, x_all, t_all, indices):
        for s in tf.range(count):  # a graph loop (autograph); a Python range would be unrolled step by step
            rows = indices[first + s]
            train_step(model, optimizer, spec, tf.gather(x_all, rows), tf.gather(t_all, rows))

    @tf.function(jit_compile=True)
    def loop(x_all, t_all, indices):
        history = tf.TensorArray(x_all.dtype, size=n_full + 1 + (rest > 0))
        history = history.write(0, loss(model, spec, x_all, t_all))
        for c in tf.range(n_full):
            run_steps(c * every, every, x_all, t_all, indices)
            history = history.write(c + 1, loss(model, spec, x_all, t_all))
        if rest:
            run_steps(n_full * every, rest, x_all, t_all, indices)
            history = history.write(n_full + 1, loss(model, spec, x_all, t_all))
        return history.stack()

    def program(model: MLP, optimizer: float) -> tuple[MLP, tf.Tensor]:
        return model, loop(*data)

    return program


def weights_of(model: MLP) -> list[np.ndarray]:
    return in_seed_layout(model.trainable_variables)


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    optimizer = make_optimizer(model, problem.schedule.lr)
    data = load_data(problem, device)
    with tf.device(_device(device)):
        x_eval = tf.constant(problem.x_eval)
    program = compile_training(model, optimizer, problem, data) if mode == "compiled" else None

    def run() -> TrainOutput:
        model_0 = set_weights(model, problem.weights)
        with tf.device(_device(device)):
            trained, history = program(model_0, optimizer) if program else train(model_0, optimizer, problem, data)
            predictions = predict(trained, problem.spec, x_eval)
        # .numpy() waits for the device: TensorFlow's synchronisation point.
        return TrainOutput(weights_of(trained), predictions.numpy(), history.numpy(), predictions.dtype.name)

    return run
