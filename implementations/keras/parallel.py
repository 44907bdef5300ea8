"""Keras 3 data-parallel: `keras.distribution.DataParallel` on the JAX backend, trained by `fit`.

Keras' engine is a distribution set before the model is built: it replicates every variable
over its device mesh and shards each batch that `fit` reads along the mesh's "batch" axis;
JAX's compiler then turns the batch mean into partial sums and one all-reduce, as in the JAX
file. Nothing in this file averages anything. Across hosts, `keras.distribution.initialize`
is `jax.distributed.initialize`, and each process feeds `fit` only its own part of every
global batch.
Surprises:
- Keras' own ops compute float64 inputs in float32 on the JAX backend (its result types map
  64 bits to 32), so `ops.tanh` would make a float64 model float32. Its activations and loss
  here are JAX functions, which keep the dtype they are given; the model, optimizer,
  training loop and distribution are Keras'.
- With several hosts, `fit` wants a per-process batch size (it assembles the global batch
  from every process's part) and NumPy input only after `auto_shard_dataset = False`.
- The device count is fixed when JAX starts: `configure` must run before any Keras work.
- `keras.distribution.initialize` seeds TensorFlow too whenever it is installed, importing it
  into a JAX process (see `tensorflow_hidden`).
"""

from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from implementations.jax import lesson as jax_lesson  # noqa: E402
from implementations.keras import lesson as single  # noqa: E402
from shared.contract.interface import LOGIT_LOSSES, ModelSpec, Problem, Runner, TrainOutput  # noqa: E402

NAME = "keras"
TITLE = "Keras DataParallel (JAX backend)"
POSITION = 3
TARGET = "keras:jax"  # the library it needs, as the registry names it: Keras on its JAX backend
ABSENT = {"train_step": "fit takes each step; the distribution shards its batches: nothing of its own to show."}
ENGINE = "keras.distribution.DataParallel on JAX"
HOST_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # C++ logging (XLA's, TensorFlow's): errors only in a host's log, whatever the user set
ACTIVATIONS = jax_lesson.ACTIVATIONS  # JAX's own: float64 stays float64


def versions() -> dict[str, str]:
    return {"keras": keras.__version__, "keras_backend": keras.backend.backend(), "jax": jax.__version__}


def unsupported(layout, dtype: str) -> str | None:
    """Anything this engine cannot run, said before it starts."""
    if keras.backend.backend() != "jax":
        return f"Keras' DataParallel needs the JAX backend; this process has {keras.backend.backend()}"
    return None


def launch(serve, folder: str, layout) -> None:
    """A host is one process driving all its devices."""
    serve(0, folder, layout)


def configure(layout, dtype: str) -> None:
    """Before the runtime starts: this host's device count and (several hosts) gloo for the
    CPU collectives; then floatx and precision."""
    jax.config.update("jax_num_cpu_devices", layout.local_workers)
    if layout.hosts > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.config.set_floatx(dtype)
    jax.config.update("jax_default_matmul_precision", "highest")


@contextlib.contextmanager
def tensorflow_hidden():
    """After the rendezvous, `initialize` agrees a random seed between the processes and hands it to
    `keras.utils.set_random_seed`, which also seeds TensorFlow whenever TensorFlow can be imported:
    its import, about 3 CPU-s a host on the 2-core machine, for a process that trains on JAX from
    NumPy arrays and draws nothing at random. For that call an import of TensorFlow fails, so
    Keras takes it as absent (and keeps that answer for the process); Python's and NumPy's
    generators are seeded as before."""
    if "tensorflow" in sys.modules:  # already imported (or already hidden): nothing to save
        yield
        return
    sys.modules["tensorflow"] = None  # `import tensorflow` now raises ImportError
    try:
        yield
    finally:
        if sys.modules.get("tensorflow", 0) is None:
            del sys.modules["tensorflow"]


def join(layout) -> keras.distribution.DataParallel:
    """The rendezvous (several hosts only), then the distribution over every worker's device."""
    if layout.hosts > 1:
        with tensorflow_hidden():
            keras.distribution.initialize(job_addresses=layout.coordinator, num_processes=layout.hosts,
                                          process_id=layout.host)
    engine = keras.distribution.DataParallel(devices=jax.devices())
    if layout.hosts > 1:
        engine.auto_shard_dataset = False  # each process passes its own part (split_batches)
    keras.distribution.set_distribution(engine)
    if len(jax.devices()) != layout.workers:
        raise RuntimeError(f"Keras sees {len(jax.devices())} devices, expected {layout.workers}")
    return engine


def build_model(problem: Problem, engine) -> keras.Sequential:
    """The single-process model with JAX activations; built under the distribution, its
    variables are replicated."""
    spec = problem.spec
    last = None if spec.loss in LOGIT_LOSSES else spec.output_activation
    activations = [spec.hidden_activation] * (len(spec.sizes) - 2) + [last]
    model = keras.Sequential([keras.Input(shape=(spec.n_inputs,), dtype=spec.dtype)] +
                             [keras.layers.Dense(n, activation=ACTIVATIONS[a] if a else None, dtype=spec.dtype)
                              for n, a in zip(spec.sizes[1:], activations)])
    single.set_weights(model, problem.weights)
    return model


def split_batches(problem: Problem, engine) -> tuple[np.ndarray, np.ndarray, int]:
    """This process's rows of every global batch, in schedule order, and its batch size: `fit`
    shards them over the process's devices (and, with several hosts, joins the processes' parts)."""
    part = problem.schedule.batch_size // jax.process_count()
    first = jax.process_index() * part
    rows = problem.schedule.indices[:, first:first + part].reshape(-1)
    return problem.x_train[rows], problem.t_train[rows], part


def batch_split_over(distribution, batch_shape: tuple[int, ...]) -> int:
    """How many devices the distribution splits a batch over (its data layout's first axis)."""
    layout = distribution.get_data_layout(batch_shape)
    return int(distribution.device_mesh.shape[0]) if layout.axes[0] else 1


def per_sample_loss(spec: ModelSpec):
    """The per-sample loss on the last layer's output, in JAX; Keras averages it over the batch."""
    def per_sample(t, out):
        if spec.loss == "binary_crossentropy":
            return jax.numpy.mean(jax.nn.softplus(out) - t * out, axis=-1)
        if spec.loss == "softmax_crossentropy":
            return jax.nn.logsumexp(out, axis=-1) - jax.numpy.sum(t * out, axis=-1)
        if spec.loss == "half_sse":
            return 0.5 * jax.numpy.sum((t - out) ** 2, axis=-1)
        return jax.numpy.mean((t - out) ** 2, axis=-1)
    return per_sample


def train(model: keras.Sequential, problem: Problem, data: tuple, program: None) -> tuple[keras.Sequential, np.ndarray]:
    """`fit` over this process's rows in the schedule's order, one batch per step,
    `record_every` steps per compiled call (`program` is always None: the compiled step lives
    in the model, as in the single-process file)."""
    x_rows, t_rows, batch = data
    schedule = problem.schedule
    history = LossHistory(problem.spec, problem.x_train, problem.t_train, schedule.record_every, schedule.steps)
    model.fit(x_rows, t_rows, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[history])
    return model, np.array([keras.ops.convert_to_numpy(v) for v in history.values])


class LossHistory(single.LossHistory):
    """The single-process callback, with this file's loss and a JAX mean (`ops.mean` would
    return float32)."""

    def __init__(self, spec: ModelSpec, x_all: np.ndarray, t_all: np.ndarray, every: int, steps: int):
        super().__init__(spec, x_all, t_all, every, steps)
        self.loss_fn = per_sample_loss(spec)

    def _record(self) -> None:
        self.values.append(jax.numpy.mean(self.loss_fn(self.t_all, self.model(self.x_all, training=False))))


def prepare(problem: Problem, engine, layout) -> Runner:
    spec, schedule = problem.spec, problem.schedule
    model = build_model(problem, engine)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule.lr), loss=per_sample_loss(spec),
                  steps_per_execution=schedule.record_every)
    data = split_batches(problem, engine)
    split = batch_split_over(engine, (schedule.batch_size, spec.n_inputs))

    def run() -> TrainOutput:
        trained, losses = train(single.set_weights(model, problem.weights), problem, data, None)
        out = keras.ops.convert_to_numpy(trained(problem.x_eval, training=False))
        predictions = np.asarray(ACTIVATIONS[spec.output_activation](out)) if spec.loss in LOGIT_LOSSES else out
        return TrainOutput(single.weights_of(trained), predictions, losses, str(predictions.dtype),
                           {"engine": ENGINE, "batch_split_over": split})

    return run


def leave(engine) -> None:
    if jax.process_count() > 1:
        jax.distributed.shutdown()
