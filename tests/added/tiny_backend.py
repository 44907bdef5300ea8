"""Tiny: a made-up library added the way the README's "Adding a library" says, to show that
the registry, the tables, the side-by-side page and the layout checks find it from this file
alone. It computes with NumPy (the test needs no extra package), written out in full so that it
reads like any other implementation file."""

from __future__ import annotations

import os

import numpy as np

from implementations import numpy_backend as reference
from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

NAME = "tiny"
TITLE = "Tiny"
POSITION = 9
REQUIRES = "numpy"
INSTALL = "pip install numpy"
MODES = ("eager",)
# What it would read when imported, and its on-disk compilation cache, declared as JAX's and
# PyTorch's files declare theirs: the harness sets them in its worker first (versions() says so).
IMPORT_ENV = {"TINY_X64": {"float64": "1"}, "TINY_CACHE": "off", "TINY_CACHE_FOLDER": None}
CACHE_ENV = {"TINY_CACHE_DIR": "tiny"}

ACTIVATIONS = reference.ACTIVATIONS


def versions() -> dict[str, str]:
    seen = {name: os.environ.get(name) for name in ("TINY_X64", "TINY_CACHE", "TINY_CACHE_FOLDER", "TINY_CACHE_DIR")}
    return {"tiny": "0.1 (NumPy " + np.__version__ + ")", "tiny_environment": repr(seen)}


def set_threads(n: int) -> None:
    """NumPy's BLAS threads are set by the harness before import (numpy_backend.THREAD_ENV)."""


def configure(dtype: str) -> None:
    """Nothing process-wide: NumPy computes in its arrays' dtype."""


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "Tiny runs on the CPU only"


def gpu_name() -> str | None:
    return None


def reset_gpu_peak() -> bool:
    return False


def gpu_peak_bytes() -> int | None:
    return None


def build_model(problem: Problem, device: str) -> list[np.ndarray]:
    return set_weights([np.empty_like(w) for w in problem.weights], problem.weights)


def set_weights(model: list[np.ndarray], weights: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    for w, w0 in zip(model, weights):
        w[...] = w0
    return model


def forward(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    return reference.forward(model, spec, x)


def predict(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    return reference.predict(model, spec, x)


def loss(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return reference.loss(model, spec, x, t)


def gradients(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    return reference.gradients(model, spec, x, t)


def train_step(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray, lr: float) -> list[np.ndarray]:
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= lr * g
    return model


def train(model: list[np.ndarray], problem: Problem, data: tuple[np.ndarray, ...], program: None) -> tuple[list[np.ndarray], np.ndarray]:
    """`program` is always None: Tiny has no compiler."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for rows in indices[step:step + chunk]:
            model = train_step(model, spec, x_all[rows], t_all[rows], schedule.lr)
        step += chunk
        history.append(loss(model, spec, x_all, t_all))
    return model, np.array(history)


def weights_of(model: list[np.ndarray]) -> list[np.ndarray]:
    return [w.copy() for w in model]


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    data = (problem.x_train, problem.t_train, problem.schedule.indices)

    def run() -> TrainOutput:
        trained, history = train(set_weights(model, problem.weights), problem, data, None)
        predictions = predict(trained, problem.spec, problem.x_eval)
        return TrainOutput(weights_of(trained), predictions, history, str(predictions.dtype))

    return run
