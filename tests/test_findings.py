"""The libraries' own behaviours that docs/findings.md reports and the lessons work around, pinned
against the installed versions: when a release changes one, its test fails and the finding (and
the workaround in the lesson) must be looked at again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import LOADED

ROOT = Path(__file__).resolve().parent.parent


def needs(name: str):
    return pytest.mark.skipif(name not in LOADED, reason=f"{name} is not installed")


@needs("mlx")
def test_mlx_float64_exp_on_the_cpu_is_float32s_approximation():
    """ml-explore/mlx#3047: `mx.exp` of float64 has float32's error; `mx.power(e, z)` and `mx.tanh`
    are exact. The MLX lesson's `exp` and `sigmoid` depend on it."""
    import math

    import mlx.core as mx

    z = np.linspace(-30, 30, 2001)
    with mx.stream(mx.cpu):
        found = np.asarray(mx.exp(mx.array(z, dtype=mx.float64)))
        power = np.asarray(mx.power(mx.array(math.e, dtype=mx.float64), mx.array(z, dtype=mx.float64)))
        tanh = np.asarray(mx.tanh(mx.array(z, dtype=mx.float64)))
    assert found.dtype == np.float64
    assert 1e-7 < np.max(np.abs(found / np.exp(z) - 1)) < 1e-5
    assert np.max(np.abs(power / np.exp(z) - 1)) < 1e-13 and np.max(np.abs(tanh - np.tanh(z))) < 1e-15


@needs("mlx")
def test_mlx_sgd_steps_with_a_float32_learning_rate_unless_given_one_in_float64():
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    def stepped(learning_rate) -> float:
        layer = nn.Linear(1, 1)
        layer.set_dtype(mx.float64)
        layer.update({"weight": mx.zeros((1, 1), dtype=mx.float64), "bias": mx.zeros((1,), dtype=mx.float64)})
        grads = {"weight": mx.ones((1, 1), dtype=mx.float64), "bias": mx.ones((1,), dtype=mx.float64)}
        optim.SGD(learning_rate=learning_rate).update(layer, grads)
        return -float(np.asarray(layer.weight)[0, 0])

    assert stepped(0.8) == float(np.float32(0.8)) != 0.8  # 0.800000011920929: a float32 learning rate
    assert stepped(mx.array(0.8, dtype=mx.float64)) == 0.8  # what the MLX lesson gives it


@needs("keras")
def test_keras_makes_the_learning_rate_in_the_floatx_of_the_moment():
    import keras

    before = keras.config.floatx()
    try:
        keras.config.set_floatx("float32")
        early = keras.optimizers.SGD(learning_rate=0.1)
        keras.config.set_floatx("float64")
        late = keras.optimizers.SGD(learning_rate=0.1)
        assert str(early.learning_rate.dtype) == "float32" and float(early.learning_rate) == float(np.float32(0.1))
        assert str(late.learning_rate.dtype) == "float64" and float(late.learning_rate) == 0.1
    finally:
        keras.config.set_floatx(before)


@needs("keras")
def test_keras_keeps_xla_off_on_tensorflow_while_op_determinism_is_on():
    """Why Keras' compiled `fit` on TensorFlow is a tf.function without XLA: `jit_compile="auto"`
    resolves to off while op determinism (the lesson's `configure`) is on."""
    from implementations.keras import lesson
    from shared.contract.tasks import TASKS, build_problem, default_sizes, load_dataset

    if lesson.keras.backend.backend() != "tensorflow":
        pytest.skip("Keras is on another backend in this process")
    task = TASKS["xor"]
    data = load_dataset(task)
    problem = build_problem(task, data, default_sizes(task, data), steps=4)
    lesson.configure("float64")
    model = lesson.build_model(problem, "cpu")
    lesson.compile_training(model, lesson.make_optimizer(model, 0.1), problem, lesson.load_data(problem, "cpu"))
    assert model.jit_compile is False


DEVICE_SCOPE = """
import numpy as np
import keras
from keras import ops
keras.config.set_floatx("float64")
with keras.device("cpu:0"):
    inside = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
outside = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
for model in (inside, outside):
    model.zero_grad()
    ops.sum(model(np.ones((3, 2)))).backward()
    print(all(v.value.grad is not None for v in model.trainable_weights))
"""


@pytest.mark.skipif(any(n not in LOADED for n in ("keras", "torch")), reason="needs Keras and PyTorch")
def test_keras_on_torch_variables_made_in_a_device_scope_get_no_gradients():
    """Why the Keras lesson builds its model outside `keras.device()` on torch."""
    done = subprocess.run([sys.executable, "-c", DEVICE_SCOPE], env={**os.environ, "KERAS_BACKEND": "torch"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True"]
