"""JAX: pure functions of the parameters, gradients from `jax.grad`, updates by Optax.

JAX has no layer objects: the parameters are whatever pytree we choose, here the seed's own
matrices (fan_in + 1, fan_out), row 0 the bias, so the model is that list, a pytree like any
other (`optax.apply_updates` maps over it with `jax.tree.map`). The optimizer is Optax's, as in
JAX's own training examples:
`optax.sgd(lr)` is a pure transformation, its state lives beside the parameters, and a step is
`tx.update` then `optax.apply_updates`; here `optimizer` is that pair, (transformation, state).
Eager mode runs `jax.grad` op by op from a Python loop; compiled mode is one `jax.jit` of the
whole schedule, a `lax.scan` of steps inside a `lax.scan` over the stretches between two
recorded losses.
Surprises: JAX is float32-only until x64 is switched on, process-wide, and on NVIDIA GPUs its
float32 matmuls default to TF32; `configure` sets both.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "identity": lambda z: z,
    "softmax": jax.nn.softmax,
}


def configure(dtype: str) -> None:
    """x64 is process-wide: a float64 run switches it on (the harness runs each dtype in a worker
    of its own, so float32 runs keep JAX's default, x64 off); a process that runs both keeps it
    on, and every array is made with an explicit dtype, so float32 runs stay float32 (checked by
    the parity tests). Matmuls run at full precision: no TF32 on NVIDIA GPUs."""
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")


def _device(device: str) -> jax.Device:
    return jax.devices("gpu" if device == "gpu" else "cpu")[0]


def build_model(problem: Problem, device: str) -> list[jax.Array]:
    """The parameters are a pytree of our choosing: the seed's matrices, on the device."""
    return [jax.device_put(w, _device(device)) for w in problem.weights]


def set_weights(model: list[jax.Array], weights: tuple[np.ndarray, ...]) -> list[jax.Array]:
    """JAX arrays are immutable: 'setting' the weights means making new arrays, where the old ones lived."""
    return [jax.device_put(w, p.sharding) for p, w in zip(model, weights)]


def load_data(problem: Problem, device: str) -> tuple:
    """Inputs and targets on the device; the indices stay in host NumPy, where the eager loop reads
    them best (slicing a device array costs a dispatch per row); the compiled loop moves them."""
    dev = _device(device)
    return jax.device_put(problem.x_train, dev), jax.device_put(problem.t_train, dev), problem.schedule.indices


def forward(model: list[jax.Array], spec: ModelSpec, x: jax.Array) -> jax.Array:
    """The output layer's logits."""
    for w in model[:-1]:
        x = ACTIVATIONS[spec.hidden_activation](x @ w[1:] + w[0])
    return x @ model[-1][1:] + model[-1][0]


def layer_outputs(model: list[jax.Array], spec: ModelSpec, x: jax.Array) -> list[tuple[np.ndarray, np.ndarray]]:
    found = []
    for w, name in zip(model, spec.activations()):
        z = x @ w[1:] + w[0]
        x = ACTIVATIONS[name](z)
        found.append((np.asarray(z), np.asarray(x)))
    return found


def predict(model: list[jax.Array], spec: ModelSpec, x: jax.Array) -> jax.Array:
    return ACTIVATIONS[spec.output_activation](forward(model, spec, x))


def loss(model: list[jax.Array], spec: ModelSpec, x: jax.Array, t: jax.Array) -> jax.Array:
    z = forward(model, spec, x)
    if spec.loss == "binary_crossentropy":
        return jnp.mean(jax.nn.softplus(z) - t * z)
    if spec.loss == "softmax_crossentropy":
        return jnp.mean(jax.nn.logsumexp(z, axis=-1) - jnp.sum(t * z, axis=-1))
    y = ACTIVATIONS[spec.output_activation](z)
    if spec.loss == "half_sse":
        return jnp.mean(0.5 * jnp.sum((t - y) ** 2, axis=-1))
    return jnp.mean((t - y) ** 2)


def gradients(model: list[jax.Array], spec: ModelSpec, x: jax.Array, t: jax.Array) -> list[jax.Array]:
    """`jax.grad` differentiates with respect to its first argument, the whole pytree."""
    return jax.grad(loss)(model, spec, x, t)


def in_seed_layout(parameters: list[jax.Array]) -> list[np.ndarray]:
    """Already the seed's layout: NumPy copies."""
    return [np.asarray(p) for p in parameters]


def make_optimizer(model: list[jax.Array], lr: float) -> tuple[optax.GradientTransformation, optax.OptState]:
    """Optax's SGD and its state for these parameters (for plain SGD, a step count at most)."""
    tx = optax.sgd(lr)
    return tx, tx.init(model)


def train_step(model: list[jax.Array], optimizer: tuple, spec: ModelSpec, x: jax.Array,
               t: jax.Array) -> tuple[list[jax.Array], tuple]:
    """New parameters and a new optimizer state: JAX cannot update in place."""
    tx, state = optimizer
    updates, state = tx.update(gradients(model, spec, x, t), state, model)
    return optax.apply_updates(model, updates), (tx, state)


def train(model: list[jax.Array], optimizer: tuple, problem: Problem,
          data: tuple[jax.Array, ...]) -> tuple[list[jax.Array], jax.Array]:
    """The schedule from a Python loop of `jax.grad` steps, op by op. The indices stay in host
    NumPy: slicing a device array costs a dispatch per row."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for rows in indices[step:step + chunk]:
            model, optimizer = train_step(model, optimizer, spec, x_all[rows], t_all[rows])
        step += chunk
        history.append(loss(model, spec, x_all, t_all))
    return model, jnp.stack(history)


def compile_training(model: list[jax.Array], optimizer: tuple, problem: Problem, data: tuple[jax.Array, ...]):
    """The whole schedule as one XLA program: a `lax.scan` over the stretches between two
    recorded losses, each a `lax.scan` of `train_step`s. Optax's transformation is part of the
    program (a Python object, not an array); its state is carried like the parameters."""
    spec, schedule = problem.spec, problem.schedule
    tx, _ = optimizer
    x_all, t_all, indices = data
    indices = jax.device_put(indices, x_all.sharding)  # the whole table of rows on the device, once
    every = schedule.record_every
    n_full, rest = divmod(schedule.steps, every)

    @jax.jit
    def loop(params, state, x_all, t_all, indices):
        def stretch(carry, rows_block):
            """`len(rows_block)` steps, then the training-set loss."""
            def one_step(carry, rows):
                params, (_, state) = train_step(carry[0], (tx, carry[1]), spec, x_all[rows], t_all[rows])
                return (params, state), None
            carry, _ = lax.scan(one_step, carry, rows_block)
            return carry, loss(carry[0], spec, x_all, t_all)

        history = [loss(params, spec, x_all, t_all)[None]]
        carry = (params, state)
        if n_full:  # none when --record-every exceeds the steps: only the `rest` stretch runs
            carry, losses = lax.scan(stretch, carry, indices[:n_full * every].reshape(n_full, every, -1))
            history.append(losses)
        if rest:
            carry, last = stretch(carry, indices[n_full * every:])
            history.append(last[None])
        return carry[0], jnp.concatenate(history)

    def program(model: list[jax.Array], optimizer: tuple) -> tuple[list[jax.Array], jax.Array]:
        return loop(model, optimizer[1], x_all, t_all, indices)

    return program


def weights_of(model: list[jax.Array]) -> list[np.ndarray]:
    return in_seed_layout(model)


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    optimizer = make_optimizer(model, problem.schedule.lr)
    data = load_data(problem, device)
    x_eval = jax.device_put(problem.x_eval, _device(device))
    program = compile_training(model, optimizer, problem, data) if mode == "compiled" else None  # jit compiles at the first call

    def run() -> TrainOutput:
        model_0 = set_weights(model, problem.weights)
        trained, history = program(model_0, optimizer) if program else train(model_0, optimizer, problem, data)
        predictions = predict(trained, problem.spec, x_eval).block_until_ready()  # the clock stops when the device is done
        return TrainOutput(weights_of(trained), np.asarray(predictions), np.asarray(history), str(predictions.dtype))

    return run
