"""TensorFlow, for the harness: its name and install line, quiet start-up, threads, the GPU and its
memory. The package imports this module before the lesson, so that its start-up settings come
first."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off stderr

import tensorflow as tf  # noqa: E402

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


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__,
            "tf_intra_op_threads": str(tf.config.threading.get_intra_op_parallelism_threads() or "default"),
            "tf_inter_op_threads": str(tf.config.threading.get_inter_op_parallelism_threads() or "default")}


def set_threads(n: int) -> None:
    """Intra- and inter-op pools; TensorFlow refuses once its runtime has started, so before any op."""
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)


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


def probe_machine(device: str) -> None:
    """Nothing to probe: XLA compiles in process, with nothing to check first."""
