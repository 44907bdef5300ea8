"""TensorFlow data-parallel: `tf.distribute` strategies, one replica per worker.

TensorFlow's engine is a strategy: variables made in its scope are mirrored on every replica,
`strategy.run` runs the step on each replica with that replica's inputs, and the replica
context's `all_reduce` combines the gradients. On one host the replicas are logical CPU
devices of one process (`MirroredStrategy`); across hosts each process is a worker of
`MultiWorkerMirroredStrategy`, which finds the others through `TF_CONFIG` and all-reduces
over gRPC rings.
Surprises: the all-reduce SUMS, so each replica's loss is scaled by the *global* batch
(what `tf.nn.compute_average_loss` does), not averaged over its own part: a local mean
summed over N replicas is N times the gradient. Logical devices must be made before the
runtime starts; `MultiWorkerMirroredStrategy` ignores them and uses one CPU device per
worker. `jit_compile=True` on the whole loop is refused with two or more replicas (XLA
cannot reach another device's variables), so the loop is a plain graph (`tf.function`).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from implementations.tensorflow import lesson as single  # noqa: E402
from shared.contract.interface import Problem, Runner, TrainOutput  # noqa: E402

NAME = "tensorflow"
TITLE = "TensorFlow MirroredStrategy (one host), MultiWorkerMirroredStrategy (several hosts)"
POSITION = 2
ENGINE = "MirroredStrategy (one host), MultiWorkerMirroredStrategy (several)"
HOST_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # C++ logging (XLA's, TensorFlow's): errors only in a host's log, whatever the user set


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__}


def unsupported(layout, dtype: str) -> str | None:
    """Anything this engine cannot run, said before it starts."""
    if layout.hosts > 1 and layout.local_workers > 1:
        return ("MultiWorkerMirroredStrategy runs one replica per worker process on CPUs (it ignores logical "
                f"devices), so {layout.local_workers} workers per host cannot be made; use --hosts {layout.workers}")
    return None


def launch(serve, folder: str, layout) -> None:
    """A host is one process driving its replicas."""
    serve(0, folder, layout)


def configure(layout, dtype: str) -> None:
    """Before the runtime starts: this host's replicas as logical CPU devices (one host), or
    its place in the cluster (`TF_CONFIG`, several hosts); then the single-process settings."""
    if layout.hosts > 1:
        if not layout.launcher:  # the harness started this worker: the TF_CONFIG a cluster's worker is given
            os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": list(layout.addresses)},
                                                  "task": {"type": "worker", "index": layout.host}})
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * layout.local_workers)
    single.configure(dtype)


def join(layout) -> tf.distribute.Strategy:
    """The strategy; with several hosts, creating it is the rendezvous (collectives bounded by the run's timeout)."""
    if layout.hosts > 1:
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING, timeout_seconds=layout.timeout_s)
        engine = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    else:
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:layout.local_workers]
        engine = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if engine.num_replicas_in_sync != layout.workers:
        raise RuntimeError(f"TensorFlow made {engine.num_replicas_in_sync} replicas, expected {layout.workers}")
    return engine


def build_model(problem: Problem, engine: tf.distribute.Strategy) -> single.MLP:
    """The single-process module, made in the strategy's scope: its variables are mirrored, one
    copy per replica, kept equal."""
    with engine.scope():
        return single.MLP(problem.weights, problem.spec.hidden_activation)


def split_batches(problem: Problem, engine: tf.distribute.Strategy):
    """Each replica's contiguous part of every global batch, as a per-replica value."""
    indices = problem.schedule.indices
    part = problem.schedule.batch_size // engine.num_replicas_in_sync

    def mine(context: tf.distribute.experimental.ValueContext) -> tf.Tensor:
        first = context.replica_id_in_sync_group * part
        return tf.constant(indices[:, first:first + part])

    return engine.experimental_distribute_values_from_function(mine)


def train_step(model: single.MLP, spec, x: tf.Tensor, t: tf.Tensor, lr: float) -> single.MLP:
    """On one replica: its part's mean loss divided by the number of replicas (every part is
    the same size, so the sum over replicas is the global batch's mean), the replicas'
    gradients summed by the all-reduce, the same step on every copy."""
    context = tf.distribute.get_replica_context()
    with tf.GradientTape() as tape:
        value = single.loss(model, spec, x, t) / context.num_replicas_in_sync
    grads = context.all_reduce(tf.distribute.ReduceOp.SUM, tape.gradient(value, model.trainable_variables))
    for v, g in zip(model.trainable_variables, grads):
        v.assign_sub(lr * g)
    return model


def train(model: single.MLP, problem: Problem, data: tuple, program) -> tuple[single.MLP, tf.Tensor]:
    """Run the schedule: one call of the graph `training_loop` built over these variables; the
    training-set loss at the recorded steps."""
    return model, program(*data)


def training_loop(model: single.MLP, problem: Problem, strategy: tf.distribute.Strategy):
    """The whole schedule as one graph: `strategy.run` of a step inside `tf.range` loops; the
    training-set loss is read between stretches (cross-replica: any copy, they are equal)."""
    spec, schedule = problem.spec, problem.schedule
    every = schedule.record_every
    n_full, rest = divmod(schedule.steps, every)

    def replica_step(s, rows, x_all, t_all):
        mine = rows[s]
        train_step(model, spec, tf.gather(x_all, mine), tf.gather(t_all, mine), schedule.lr)

    def run_steps(first, count, rows, x_all, t_all):
        for s in tf.range(count):
            strategy.run(replica_step, args=(first + s, rows, x_all, t_all))

    @tf.function
    def loop(rows, x_all, t_all):
        history = tf.TensorArray(x_all.dtype, size=n_full + 1 + (rest > 0))
        history = history.write(0, single.loss(model, spec, x_all, t_all))
        for c in tf.range(n_full):
            run_steps(c * every, every, rows, x_all, t_all)
            history = history.write(c + 1, single.loss(model, spec, x_all, t_all))
        if rest:
            run_steps(n_full * every, rest, rows, x_all, t_all)
            history = history.write(n_full + 1, single.loss(model, spec, x_all, t_all))
        return history.stack()

    return loop


def prepare(problem: Problem, engine: tf.distribute.Strategy, layout) -> Runner:
    model = build_model(problem, engine)
    x_all, t_all, x_eval = (tf.constant(a) for a in (problem.x_train, problem.t_train, problem.x_eval))
    data = (split_batches(problem, engine), x_all, t_all)
    loop = training_loop(model, problem, engine)

    def run() -> TrainOutput:
        trained, history = train(single.set_weights(model, problem.weights), problem, data, loop)
        predictions = single.predict(trained, problem.spec, x_eval)
        return TrainOutput(single.in_seed_layout([v.numpy() for v in trained.trainable_variables]), predictions.numpy(),
                           history.numpy(),
                           predictions.dtype.name,
                           {"engine": "MultiWorkerMirroredStrategy" if layout.hosts > 1 else "MirroredStrategy"})

    return run


def leave(engine: tf.distribute.Strategy) -> None:
    """Nothing to close: the workers' servers end with their processes."""
