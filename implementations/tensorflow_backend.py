"""TensorFlow, low level: `tf.Variable`s, gradients from `tf.GradientTape`.

The variables keep the seed's layout (fan_in + 1, fan_out), row 0 the bias. Eager mode runs
one tape per step from a Python loop; compiled mode puts the whole training loop, the
recorded losses included, in one `tf.function(jit_compile=True)`, compiled by XLA.
Surprises: on NVIDIA GPUs TensorFlow runs float32 matmuls in TF32 unless told not to, and
`tf.range` loops inside a `tf.function` become graph `while` loops (autograph).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off stderr

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput  # noqa: E402

# Each problem builds its own tf.function on purpose; TensorFlow would warn about "retracing".
tf.get_logger().setLevel("ERROR")

NAME = "tensorflow"
TITLE = "TensorFlow"
POSITION = 2
REQUIRES = "tensorflow"
INSTALL = "pip install tensorflow==2.21.0"
MODES = ("eager", "compiled")
# Modes of milliseconds per tiny step (2-core CPU): without --steps the default run trains this prefix.
STEP_CAPS = {"eager": 300}
LOAD_AFTER = ("torch",)  # importing TensorFlow before PyTorch has crashed processes that load both

ACTIVATIONS = {
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "relu": tf.nn.relu,
    "identity": lambda z: z,
    "softmax": tf.nn.softmax,
}


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__,
            "tf_intra_op_threads": str(tf.config.threading.get_intra_op_parallelism_threads() or "default"),
            "tf_inter_op_threads": str(tf.config.threading.get_inter_op_parallelism_threads() or "default")}


def set_threads(n: int) -> None:
    """Intra- and inter-op pools; TensorFlow refuses once its runtime has started, so before any op."""
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)


def configure(dtype: str) -> None:
    """Precision and determinism, in one place: no TF32 for float32 matmuls on NVIDIA GPUs,
    deterministic kernels everywhere."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    tf.config.experimental.enable_op_determinism()


def device_unavailable(device: str) -> str | None:
    if device == "cpu" or tf.config.list_physical_devices("GPU"):
        return None
    return f"TensorFlow {tf.__version__} sees no GPU (this build or machine has no CUDA device)"


def gpu_name() -> str | None:
    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name) if gpus else None


def reset_gpu_peak() -> bool:
    """TensorFlow's allocator keeps a peak per device that can be reset."""
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")
    return True


def gpu_peak_bytes() -> int | None:
    if not tf.config.list_physical_devices("GPU"):
        return None
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def _device(device: str) -> str:
    return "/GPU:0" if device == "gpu" else "/CPU:0"


def build_model(problem: Problem, device: str) -> list[tf.Variable]:
    """One variable per layer in the seed's layout, on the device."""
    with tf.device(_device(device)):
        return [tf.Variable(w) for w in problem.weights]


def set_weights(model: list[tf.Variable], weights: tuple[np.ndarray, ...]) -> list[tf.Variable]:
    for v, w in zip(model, weights):
        v.assign(w)
    return model


def forward(model: list[tf.Variable], spec: ModelSpec, x: tf.Tensor) -> tf.Tensor:
    """The output layer's logits."""
    for w in model[:-1]:
        x = ACTIVATIONS[spec.hidden_activation](x @ w[1:] + w[0])
    return x @ model[-1][1:] + model[-1][0]


def predict(model: list[tf.Variable], spec: ModelSpec, x: tf.Tensor) -> tf.Tensor:
    return ACTIVATIONS[spec.output_activation](forward(model, spec, x))


def loss(model: list[tf.Variable], spec: ModelSpec, x: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
    z = forward(model, spec, x)
    if spec.loss == "binary_crossentropy":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=z))
    if spec.loss == "softmax_crossentropy":
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=z))
    y = ACTIVATIONS[spec.output_activation](z)
    if spec.loss == "half_sse":
        return tf.reduce_mean(0.5 * tf.reduce_sum((t - y) ** 2, axis=-1))
    return tf.reduce_mean((t - y) ** 2)


def gradients(model: list[tf.Variable], spec: ModelSpec, x: tf.Tensor, t: tf.Tensor) -> list[tf.Tensor]:
    with tf.GradientTape() as tape:
        value = loss(model, spec, x, t)
    return tape.gradient(value, model)


def train_step(model: list[tf.Variable], spec: ModelSpec, x: tf.Tensor, t: tf.Tensor, lr: float) -> list[tf.Variable]:
    """In place: variables are assigned to."""
    for v, g in zip(model, gradients(model, spec, x, t)):
        v.assign_sub(lr * g)
    return model


def train(model: list[tf.Variable], problem: Problem, data: tuple[tf.Tensor, ...], program) -> tuple[list[tf.Variable], tf.Tensor]:
    """Run the schedule: `program` is the XLA-compiled `training_loop` over these variables
    (compiled mode), or None for a Python loop of GradientTape steps."""
    if program is not None:
        return model, program(*data)
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for s in range(step, step + chunk):
            rows = indices[s]
            model = train_step(model, spec, tf.gather(x_all, rows), tf.gather(t_all, rows), schedule.lr)
        step += chunk
        history.append(loss(model, spec, x_all, t_all))
    return model, tf.stack(history)


def training_loop(variables: list[tf.Variable], problem: Problem):
    """The whole schedule as one graph: `tf.range` loops become XLA while loops."""
    spec, schedule = problem.spec, problem.schedule
    every = schedule.record_every
    n_full, rest = divmod(schedule.steps, every)

    def run_steps(first, count, x_all, t_all, indices):
        for s in tf.range(count):  # XLA needs loop bounds it can see at compile time
            rows = indices[first + s]
            train_step(variables, spec, tf.gather(x_all, rows), tf.gather(t_all, rows), schedule.lr)

    @tf.function(jit_compile=True)
    def loop(x_all, t_all, indices):
        history = tf.TensorArray(x_all.dtype, size=n_full + 1 + (rest > 0))
        history = history.write(0, loss(variables, spec, x_all, t_all))
        for c in tf.range(n_full):
            run_steps(c * every, every, x_all, t_all, indices)
            history = history.write(c + 1, loss(variables, spec, x_all, t_all))
        if rest:
            run_steps(n_full * every, rest, x_all, t_all, indices)
            history = history.write(n_full + 1, loss(variables, spec, x_all, t_all))
        return history.stack()

    return loop


def weights_of(model: list[tf.Variable]) -> list[np.ndarray]:
    return [v.numpy() for v in model]


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    with tf.device(_device(device)):
        data = (tf.constant(problem.x_train), tf.constant(problem.t_train), tf.constant(problem.schedule.indices))
        x_eval = tf.constant(problem.x_eval)
    program = training_loop(model, problem) if mode == "compiled" else None

    def run() -> TrainOutput:
        trained = set_weights(model, problem.weights)
        with tf.device(_device(device)):
            trained, history = train(trained, problem, data, program)
            predictions = predict(trained, problem.spec, x_eval)
        # .numpy() waits for the device: TensorFlow's synchronisation point.
        return TrainOutput(weights_of(trained), predictions.numpy(), history.numpy(), predictions.dtype.name)

    return run
