"""JAX data-parallel: one `jax.jit` program over a mesh of devices, the batch split by a `NamedSharding`.

JAX's engine is the compiler: the training loop is the single-process one, and only the
arrays' placement changes. Parameters are replicated on every device, each step's global
batch is sharded along the mesh's "data" axis, and XLA's partitioner (GSPMD) turns the mean
over the global batch into per-device partial sums plus one all-reduce: nobody writes the
averaging. On one host the workers are CPU devices of one process (`jax_num_cpu_devices`);
across hosts each process joins a coordinator (`jax.distributed.initialize`) and the mesh
spans every process's devices, with gloo doing the CPU collectives.
Surprises: the device count and the collectives' implementation are read once, when the
runtime starts, so `configure` must run before any JAX work (the harness gives every engine
a fresh process). Dispatching thousands of steps one by one, each ending in a cross-device
all-reduce, can deadlock on a 2-core machine; the whole schedule is one compiled program
here, so that cannot happen. With `shard_map` instead of sharded arrays the gradient of
replicated parameters comes back already summed over devices: dividing by N is right there,
averaging it again (`pmean`) is not.
"""

from __future__ import annotations

import re

import jax
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from implementations.jax import lesson as single
from shared.contract.interface import Problem, Runner, TrainOutput

NAME = "jax"
TITLE = "JAX jit over a NamedSharding mesh"
POSITION = 1
ENGINE = "jit over a NamedSharding mesh (GSPMD)"
PER_LAYOUT = {"jax_devices": None, "jax_processes": None}  # versions() keys each row keeps (None: the rows alone say them)
HOST_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # C++ logging (XLA's, TensorFlow's): errors only in a host's log, whatever the user set


def versions() -> dict[str, str]:
    return {"jax": jax.__version__, "jax_devices": str(jax.device_count()),
            "jax_processes": str(jax.process_count())}


def unsupported(layout, dtype: str) -> str | None:
    """Anything this engine cannot run, said before it starts: nothing here."""
    return None


def launch(serve, folder: str, layout) -> None:
    """A host is one process driving all its devices."""
    serve(0, folder, layout)


def configure(layout, dtype: str) -> None:
    """Before the runtime starts: this host's device count, gloo for cross-process CPU
    collectives, and the single-process precision settings (x64 for float64)."""
    jax.config.update("jax_num_cpu_devices", layout.local_workers)
    if layout.hosts > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    single.configure(dtype)


def join(layout) -> Mesh:
    """The rendezvous (several hosts only), then one mesh axis over every worker's device."""
    if layout.hosts > 1:
        jax.distributed.initialize(coordinator_address=layout.coordinator, num_processes=layout.hosts,
                                   process_id=layout.host, initialization_timeout=int(layout.timeout_s))
    devices = jax.devices()
    if len(devices) != layout.workers:
        raise RuntimeError(f"JAX sees {len(devices)} devices, expected {layout.workers}")
    return Mesh(np.array(devices), ("data",))


def _global(array: np.ndarray, mesh: Mesh, spec: P) -> jax.Array:
    """One array over the whole mesh, each process supplying the parts its own devices hold."""
    return jax.make_array_from_callback(array.shape, NamedSharding(mesh, spec), lambda index: array[index])


def build_model(problem: Problem, engine: Mesh) -> list[jax.Array]:
    """The same initial weights, replicated on every device."""
    return [_global(w, engine, P()) for w in problem.weights]


def split_batches(problem: Problem, engine: Mesh) -> jax.Array:
    """The schedule's sample indices, each step's batch split along the "data" axis: device i
    holds the i-th contiguous part of every global batch."""
    return _global(problem.schedule.indices, engine, P(None, "data"))


def train_step(model: list[jax.Array], spec, x: jax.Array, t: jax.Array, lr: float) -> list[jax.Array]:
    """The single-process step, unchanged: its batch arrives sharded along "data" (the index
    array's sharding, split_batches), and XLA's partitioner turns the mean in the loss into
    partial sums and one all-reduce. Nobody averages by hand."""
    return single.train_step(model, single.make_optimizer(model, lr), spec, x, t)[0]


def training_loop(params, x_all, t_all, indices, lr, *, spec, every: int, n_full: int, rest: int):
    """The whole schedule as one program, as in the single-process file: a scan over the
    stretches between recorded losses, each a scan over its steps."""
    def stretch(params, rows_block):
        def one_step(p, rows):
            return train_step(p, spec, x_all[rows], t_all[rows], lr), None
        params, _ = lax.scan(one_step, params, rows_block)
        return params, single.loss(params, spec, x_all, t_all)

    history = [single.loss(params, spec, x_all, t_all)[None]]
    if n_full:
        params, losses = lax.scan(stretch, params, indices[:n_full * every].reshape(n_full, every, -1))
        history.append(losses)
    if rest:
        params, last = stretch(params, indices[n_full * every:])
        history.append(last[None])
    return params, jax.numpy.concatenate(history)


def train(model: list[jax.Array], problem: Problem, data: tuple[jax.Array, ...], program) -> tuple[list[jax.Array], jax.Array]:
    """The whole schedule: `program` is `training_loop` compiled ahead of time for this
    problem and mesh (prepare), so that its all-reduces can be counted."""
    return program(model, *data, problem.schedule.lr)


def prepare(problem: Problem, engine: Mesh, layout) -> Runner:
    spec, schedule = problem.spec, problem.schedule
    chunks = schedule.chunks()
    loop = jax.jit(training_loop, static_argnames=("spec", "every", "n_full", "rest"))
    static = {"spec": spec, "every": schedule.record_every, "n_full": chunks.count(schedule.record_every),
              "rest": chunks[-1] % schedule.record_every}
    data = (_global(problem.x_train, engine, P()), _global(problem.t_train, engine, P()), split_batches(problem, engine))
    x_eval = _global(problem.x_eval, engine, P())
    predict = jax.jit(single.predict, static_argnames="spec")
    compiled: dict = {}

    def run() -> TrainOutput:
        params = build_model(problem, engine)
        if not compiled:  # the first call compiles ahead of time, to read the collectives off the program
            compiled["program"] = loop.lower(params, *data, schedule.lr, **static).compile()
            compiled["all_reduces"] = len(re.findall(r"\ball-reduce(?:-start)?\(", compiled["program"].as_text()))
        params, history = train(params, problem, data, compiled["program"])
        predictions = predict(params, spec, x_eval)
        local = [np.asarray(a.addressable_data(0)) for a in (*params, history, predictions)]  # replicated: any copy
        *weights, history, predictions = local
        return TrainOutput(weights, predictions, history, str(predictions.dtype),
                           {"engine": ENGINE, "all_reduce_ops": compiled["all_reduces"]})

    return run


def leave(engine: Mesh) -> None:
    if jax.process_count() > 1:
        jax.distributed.shutdown()
