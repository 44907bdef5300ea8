"""JAX: pure functions of the parameters, gradients from `jax.grad`.

JAX has no layer objects: the parameters are whatever pytree we choose, here the seed's own
matrices (fan_in + 1, fan_out), row 0 the bias. Eager mode runs `jax.grad` op by op from a
Python loop; compiled mode is one `jax.jit` of the whole schedule, a `lax.scan` of steps
inside a `lax.scan` over the stretches between two recorded losses.
Surprises: JAX is float32-only until x64 is switched on, process-wide, and on NVIDIA GPUs
its float32 matmuls default to TF32; `configure` sets both.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

NAME = "jax"
TITLE = "JAX"
POSITION = 4
REQUIRES = "jax"
INSTALL = "pip install jax==0.10.2 jaxlib==0.10.2"
MODES = ("eager", "compiled")
# Modes of milliseconds per tiny step (2-core CPU): without --steps the default run trains this prefix.
STEP_CAPS = {"eager": 200}
# Read once, when JAX is imported, so the harness sets them in its process first: x64 is
# process-wide, on for float64 runs only (unset otherwise); no persistent compilation cache, so
# that a first call is cold (None: unset).
IMPORT_ENV = {"JAX_ENABLE_X64": {"float64": "1"}, "JAX_ENABLE_COMPILATION_CACHE": "false", "JAX_COMPILATION_CACHE_DIR": None}
RECORDED_ENV = ("XLA_FLAGS",)  # the user's XLA options (its thread pools among them), kept with every result

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "identity": lambda z: z,
    "softmax": jax.nn.softmax,
}


def versions() -> dict[str, str]:
    return {"jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else jax.__version__,
            "jax_backend": jax.default_backend(), **({"jax_threads": _threads[0]} if _threads else {})}


_threads: list[str] = []  # what set_threads told XLA, for versions (XLA has no call that reads it back)


def set_threads(n: int) -> None:
    """XLA's CPU client (jax 0.10.2) takes no thread count, and `--xla_cpu_multi_thread_eigen=false`
    measured no change (a 1500² matmul kept both cores busy), but XLA sizes its thread pools to the
    CPUs the process may run on, read when its client starts (the first device query, after
    import). So the worker is pinned to `n` CPUs (measured on 2 cores, 20 jitted 1500² matmuls:
    pinned to one, 13 threads and CPU/wall 1.00; unpinned, 17 threads and 1.95), and the report
    reads the pinning back."""
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:n])
    _threads[:] = [f"{len(os.sched_getaffinity(0))} (CPU affinity: XLA's pools follow the CPUs it may use)"]


def configure(dtype: str) -> None:
    """Precision, in one place. x64 is process-wide: a float64 run switches it on (the harness
    runs each dtype in a worker of its own, so float32 runs keep JAX's default, x64 off); a
    process that runs both keeps it on, and every array is made with an explicit dtype, so
    float32 runs stay float32 (checked by the parity tests). Matmuls run at full precision:
    no TF32 on NVIDIA GPUs."""
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")


def device_unavailable(device: str) -> str | None:
    if device == "cpu":
        return None
    try:
        jax.devices("gpu")
    except RuntimeError:
        return f"JAX {jax.__version__} sees no GPU (install jax[cuda13] on a CUDA machine)"
    return None


def gpu_name() -> str | None:
    return next((d.device_kind for d in jax.devices() if d.platform == "gpu"), None)


def reset_gpu_peak() -> bool:
    """JAX cannot: `memory_stats()["peak_bytes_in_use"]` only grows."""
    return False


def gpu_peak_bytes() -> int | None:
    try:
        stats = jax.devices("gpu")[0].memory_stats()
    except RuntimeError:  # no GPU backend
        return None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def _device(device: str) -> jax.Device:
    return jax.devices("gpu" if device == "gpu" else "cpu")[0]


def build_model(problem: Problem, device: str) -> list[jax.Array]:
    """The parameters are a pytree of our choosing: the seed's matrices, on the device."""
    return [jax.device_put(w, _device(device)) for w in problem.weights]


def set_weights(model: list[jax.Array], weights: tuple[np.ndarray, ...]) -> list[jax.Array]:
    """JAX arrays are immutable: 'setting' the weights means making new arrays, where the old ones lived."""
    return [jax.device_put(w, p.sharding) for p, w in zip(model, weights)]


def forward(model: list[jax.Array], spec: ModelSpec, x: jax.Array) -> jax.Array:
    """The output layer's logits."""
    for w in model[:-1]:
        x = ACTIVATIONS[spec.hidden_activation](x @ w[1:] + w[0])
    return x @ model[-1][1:] + model[-1][0]


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
    return jax.grad(loss)(model, spec, x, t)


def train_step(model: list[jax.Array], spec: ModelSpec, x: jax.Array, t: jax.Array, lr: float) -> list[jax.Array]:
    """New parameters: JAX cannot update in place."""
    return [w - lr * g for w, g in zip(model, gradients(model, spec, x, t))]


def train(model: list[jax.Array], problem: Problem, data: tuple[jax.Array, ...], program) -> tuple[list[jax.Array], jax.Array]:
    """Run the schedule: `program` is the jitted `training_loop` (compiled mode), or None for
    the Python loop of `jax.grad` steps, op by op."""
    spec, schedule = problem.spec, problem.schedule
    if program is not None:
        chunks = schedule.chunks()
        return program(model, *data, schedule.lr, spec=spec, every=schedule.record_every,
                       n_full=chunks.count(schedule.record_every), rest=chunks[-1] % schedule.record_every)
    x_all, t_all, _ = data
    indices = schedule.indices  # host NumPy: slicing a device array costs a dispatch per row
    history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for rows in indices[step:step + chunk]:
            model = train_step(model, spec, x_all[rows], t_all[rows], schedule.lr)
        step += chunk
        history.append(loss(model, spec, x_all, t_all))
    return model, jnp.stack(history)


def _scan_chunk(params, rows_block, x_all, t_all, lr, spec):
    """`len(rows_block)` steps in one lax.scan, then the training-set loss."""
    def one_step(p, rows):
        return train_step(p, spec, x_all[rows], t_all[rows], lr), None
    params, _ = lax.scan(one_step, params, rows_block)
    return params, loss(params, spec, x_all, t_all)


@jax.jit(static_argnames=("spec", "every", "n_full", "rest"))
def training_loop(params, x_all, t_all, indices, lr, *, spec, every, n_full, rest):
    """The whole schedule as one XLA program: a `lax.scan` over the stretches between two
    recorded losses, each a `lax.scan` of steps."""
    history = [loss(params, spec, x_all, t_all)[None]]
    if n_full:  # none when --record-every exceeds the steps: only the `rest` chunk runs
        blocks = indices[:n_full * every].reshape(n_full, every, -1)
        params, losses = lax.scan(lambda p, block: _scan_chunk(p, block, x_all, t_all, lr, spec), params, blocks)
        history.append(losses)
    if rest:
        params, last = _scan_chunk(params, indices[n_full * every:], x_all, t_all, lr, spec)
        history.append(last[None])
    return params, jnp.concatenate(history)


def weights_of(model: list[jax.Array]) -> list[np.ndarray]:
    return [np.asarray(w) for w in model]


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    dev = _device(device)
    model = build_model(problem, device)
    data = (jax.device_put(problem.x_train, dev), jax.device_put(problem.t_train, dev),
            jax.device_put(problem.schedule.indices, dev))
    x_eval = jax.device_put(problem.x_eval, dev)
    program = training_loop if mode == "compiled" else None  # jit compiles it at the first call

    def run() -> TrainOutput:
        trained, history = train(set_weights(model, problem.weights), problem, data, program)
        predictions = predict(trained, problem.spec, x_eval).block_until_ready()
        return TrainOutput(weights_of(trained), np.asarray(predictions), np.asarray(history), str(predictions.dtype))

    return run
