"""MLX: `mlx.nn.Linear` layers in an `nn.Module`, gradients from `nn.value_and_grad`, updates by
`optim.SGD`.

Eager mode is MLX's own training loop: `nn.value_and_grad(model, loss)` and the optimizer built
once, then per step the loss and gradients, `optimizer.update(model, grads)` and an `mx.eval` of
the parameters and the optimizer's state. Compiled mode is `mx.compile` of a block of BLOCK
steps unrolled (the state, model and optimizer, declared as the compiled function's inputs and
outputs), called from Python: `mx.compile` traces a Python
function into one graph of MLX ops and fuses what it can, but it has no loop primitive (no
`lax.scan`, no `while_loop`), so a loop inside a compiled function is unrolled at trace time
and the schedule itself must stay in Python.

Surprises:
- `nn.Linear` stores its weight as (fan_out, fan_in), like PyTorch, and the bias apart:
  weight = W[1:].T, bias = W[0].
- Computation is lazy: an op only records a graph; `mx.eval` (or reading a value) computes it.
  Without an `mx.eval` per step (or block) the graph of a whole schedule would pile up.
- float64 exists on the CPU only (Metal has none). `mx.array(numpy_float64_array)` makes a
  float32 array unless told the dtype, and `optim.SGD` keeps its learning rate as
  `mx.array(lr)`, a float32 scalar, cast to the gradient's dtype at each update: 0.8 becomes
  0.800000011920929, a float64 run with a float32 learning rate (5e-9 off NumPy after 2,000
  XOR steps, out of parity). Every array here is made with an explicit dtype, the learning rate
  included.
- On the CPU `mx.exp` computes float64 with float32's approximation, and the sigmoid, softmax,
  logsumexp and MLX's cross-entropy losses with it (2e-8 off NumPy, out of parity): see `exp`.
- On Linux the `mlx[cpu]` build runs on the CPU only; on Apple silicon the default device is
  the GPU (Metal), chosen here with `mx.set_default_device` (not measured by this project).
"""

from __future__ import annotations

import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput


def exp(z: mx.array) -> mx.array:
    """`mx.exp`, except in float64: MLX's CPU `exp` is float32's approximation whatever the dtype
    (relative error 2.4e-6 on [-30, 30], docs/findings.md; ml-explore/mlx#3047, open in 0.32.4),
    and so are `mx.sigmoid`, `mx.softmax`, `mx.logsumexp`, `mx.logaddexp` and the `nn.losses`
    built on them. `mx.power` computes in double: e ** z is exp to 2e-15."""
    if z.dtype == mx.float64:
        return mx.power(mx.array(math.e, dtype=mx.float64), z)
    return mx.exp(z)


def sigmoid(z: mx.array) -> mx.array:
    """Through `mx.tanh`, which is exact in float64 (unlike `mx.exp`), and stable for any z. This
    and the functions below stand for MLX's own in both dtypes, so that both compute alike."""
    return 0.5 * (1 + mx.tanh(0.5 * z))


def logsumexp(z: mx.array) -> mx.array:
    """Along the last axis, shifted by the (constant) max so that exp cannot overflow."""
    top = mx.stop_gradient(mx.max(z, axis=-1, keepdims=True))
    return mx.squeeze(top, -1) + mx.log(mx.sum(exp(z - top), axis=-1))


def softmax(z: mx.array) -> mx.array:
    e = exp(z - mx.stop_gradient(mx.max(z, axis=-1, keepdims=True)))
    return e / mx.sum(e, axis=-1, keepdims=True)


def softplus(z: mx.array) -> mx.array:
    """log(1 + e^z) without overflow: max(z, 0) + log1p(e^-|z|)."""
    return mx.maximum(z, 0) + mx.log1p(exp(-mx.abs(z)))


ACTIVATIONS = {
    "tanh": mx.tanh,
    "sigmoid": sigmoid,
    "relu": nn.relu,
    "identity": lambda z: z,
    "softmax": softmax,
}

# Steps per compiled block: the trace unrolls them, so a longer block is a longer compile and
# fewer calls from Python.
BLOCK = 10


def configure(dtype: str) -> None:
    """float64 is computed on the CPU only, so a float64 run makes the CPU the default device
    (already so on Linux; on Apple silicon the default is the GPU)."""
    if dtype == "float64":
        mx.set_default_device(mx.cpu)


class MLP(nn.Module):
    """Linear layers with the hidden activation between them, as MLX's examples write an MLP;
    calling it gives the logits."""

    def __init__(self, sizes: tuple[int, ...], hidden_activation: str):
        super().__init__()
        self.layers = [nn.Linear(fan_in, fan_out) for fan_in, fan_out in zip(sizes, sizes[1:])]
        self.hidden_activation = hidden_activation

    def __call__(self, x: mx.array) -> mx.array:
        for layer in self.layers[:-1]:
            x = ACTIVATIONS[self.hidden_activation](layer(x))
        return self.layers[-1](x)


def _device(device: str) -> mx.Device:
    return mx.gpu if device == "gpu" else mx.cpu


def _dtype(dtype: str) -> mx.Dtype:
    return getattr(mx, dtype)


def build_model(problem: Problem, device: str) -> MLP:
    """The model's arrays live in unified memory; the device is chosen where ops run (the default
    device, set by `prepare`)."""
    model = MLP(problem.spec.sizes, problem.spec.hidden_activation)
    model.set_dtype(_dtype(problem.spec.dtype))
    return set_weights(model, problem.weights)


def set_weights(model: MLP, weights: tuple[np.ndarray, ...]) -> MLP:
    """In place (the module swaps in new arrays: MLX arrays are immutable), with the dtype
    named: `mx.array` of a float64 NumPy array is float32 otherwise."""
    dtype = model.layers[0].weight.dtype
    model.update({"layers": [{"weight": mx.array(w[1:].T, dtype=dtype), "bias": mx.array(w[0], dtype=dtype)}
                             for w in weights]})
    mx.eval(model.parameters())
    return model


def load_data(problem: Problem, device: str) -> tuple:
    """Arrays with the dtype named (`mx.array` of float64 NumPy is float32 otherwise), in unified
    memory; the indices stay in NumPy: the loops make their own small index arrays."""
    dtype = _dtype(problem.spec.dtype)
    return mx.array(problem.x_train, dtype=dtype), mx.array(problem.t_train, dtype=dtype), problem.schedule.indices


def forward(model: MLP, spec: ModelSpec, x: mx.array) -> mx.array:
    """The output layer's logits: the module ends with a Linear layer."""
    return model(x)


def layer_outputs(model: MLP, spec: ModelSpec, x: mx.array) -> list[tuple[np.ndarray, np.ndarray]]:
    found = []
    for layer, name in zip(model.layers, spec.activations()):
        z = layer(x)
        x = ACTIVATIONS[name](z)
        found.append((np.asarray(z), np.asarray(x)))
    return found


def predict(model: MLP, spec: ModelSpec, x: mx.array) -> mx.array:
    return ACTIVATIONS[spec.output_activation](forward(model, spec, x))


def loss(model: MLP, spec: ModelSpec, x: mx.array, t: mx.array) -> mx.array:
    """The spec's loss, the cross-entropies from the logits. Written out rather than
    `nn.losses.binary_cross_entropy`/`cross_entropy`, which compute with `mx.logaddexp` and
    `mx.logsumexp`: float32-accurate in float64 (see `exp`)."""
    z = forward(model, spec, x)
    if spec.loss == "binary_crossentropy":
        return mx.mean(softplus(z) - t * z)
    if spec.loss == "softmax_crossentropy":
        return mx.mean(logsumexp(z) - mx.sum(t * z, axis=-1))
    y = ACTIVATIONS[spec.output_activation](z)
    if spec.loss == "half_sse":
        return mx.mean(0.5 * mx.sum((t - y) ** 2, axis=-1))
    return nn.losses.mse_loss(y, t, reduction="mean")


def gradients(model: MLP, spec: ModelSpec, x: mx.array, t: mx.array) -> dict:
    """`nn.value_and_grad` differentiates with respect to the module's trainable parameters and
    returns them as the module's own tree ({"layers": [{"weight", "bias"}, ...]})."""
    return nn.value_and_grad(model, loss)(model, spec, x, t)[1]


def in_seed_layout(parameters: dict) -> list[np.ndarray]:
    """The module's tree → [bias; weight.T] per layer."""
    return [np.vstack([np.asarray(layer["bias"])[None, :], np.asarray(layer["weight"]).T]) for layer in parameters["layers"]]


def make_optimizer(model: MLP, lr: float) -> optim.SGD:
    """Plain SGD whose learning rate has the model's dtype: a bare float becomes a float32 array,
    and a float64 run would step by float32(lr) (see the docstring)."""
    return optim.SGD(learning_rate=mx.array(lr, dtype=model.layers[0].weight.dtype))


def train_step(model: MLP, optimizer: optim.SGD, spec: ModelSpec, x: mx.array, t: mx.array) -> tuple[MLP, optim.SGD]:
    """The step as MLX's compilation guide writes it: value and gradients, then the optimizer's
    update of the module, lazily (`mx.eval` computes it)."""
    _, grads = nn.value_and_grad(model, loss)(model, spec, x, t)
    optimizer.update(model, grads)
    return model, optimizer


def train(model: MLP, optimizer: optim.SGD, problem: Problem, data: tuple) -> tuple[MLP, mx.array]:
    """MLX's training loop from Python, `loss_and_grad` built once as its examples do (so the
    step is written here rather than through `train_step`, which builds it per call as MLX's
    compilation guide does), and an `mx.eval` after every step: without it the graph of the whole
    schedule would pile up."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    loss_and_grad = nn.value_and_grad(model, loss)
    rows_of = [mx.array(rows) for rows in indices]  # one small index array per step, made once
    history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for rows in rows_of[step:step + chunk]:
            _, grads = loss_and_grad(model, spec, x_all[rows], t_all[rows])
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
        step += chunk
        history.append(loss(model, spec, x_all, t_all))
        mx.eval(history[-1])
    return model, mx.stack(history)


def compile_training(model: MLP, optimizer: optim.SGD, problem: Problem, data: tuple):
    """`mx.compile` of BLOCK steps unrolled, the model's and the optimizer's state declared as the
    compiled function's inputs and outputs (as MLX documents for training), called from Python:
    MLX has no loop primitive to compile the schedule itself. The program trains the model and
    optimizer it was compiled for."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    indices = mx.array(indices)
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def steps(rows_block: mx.array) -> None:
        for k in range(rows_block.shape[0]):  # unrolled when traced: one graph per block length
            rows = rows_block[k]
            train_step(model, optimizer, spec, x_all[rows], t_all[rows])

    def program(model: MLP, optimizer: optim.SGD) -> tuple[MLP, mx.array]:
        history = [loss(model, spec, x_all, t_all)]
        step = 0
        for chunk in schedule.chunks():
            for first in range(step, step + chunk, BLOCK):
                steps(indices[first:min(first + BLOCK, step + chunk)])
                mx.eval(state)
            step += chunk
            history.append(loss(model, spec, x_all, t_all))
            mx.eval(history[-1])
        return model, mx.stack(history)

    return program


def weights_of(model: MLP) -> list[np.ndarray]:
    return in_seed_layout(model.parameters())


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    if device == "gpu" and problem.spec.dtype == "float64":
        raise ValueError("MLX computes float64 on the CPU only (Metal has no float64)")
    dev, dtype = _device(device), _dtype(problem.spec.dtype)
    mx.set_default_device(dev)
    model = build_model(problem, device)
    optimizer = make_optimizer(model, problem.schedule.lr)
    data = load_data(problem, device)
    x_eval = mx.array(problem.x_eval, dtype=dtype)
    program = compile_training(model, optimizer, problem, data) if mode == "compiled" else None  # traced at the first call

    def run() -> TrainOutput:  # the optimizer's state (a step count, unused by plain SGD) carries over between runs
        mx.set_default_device(dev)  # process-wide: another runner may have changed it since
        model_0 = set_weights(model, problem.weights)
        trained, history = program(model_0, optimizer) if program else train(model_0, optimizer, problem, data)
        predictions = predict(trained, problem.spec, x_eval)
        mx.eval(predictions, history)
        return TrainOutput(weights_of(trained), np.asarray(predictions), np.asarray(history),
                           str(predictions.dtype).removeprefix("mlx.core."))

    return run
