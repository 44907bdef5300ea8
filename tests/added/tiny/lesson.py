"""Tiny: a made-up library's lesson, written out in full so that it reads like any other (it
computes with the NumPy reference's functions)."""

from __future__ import annotations

import numpy as np

from implementations.numpy import lesson as reference
from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

ACTIVATIONS = reference.ACTIVATIONS


def configure(dtype: str) -> None:
    """Nothing process-wide: NumPy computes in its arrays' dtype."""


def build_model(problem: Problem, device: str) -> list[np.ndarray]:
    return set_weights([np.empty_like(w) for w in problem.weights], problem.weights)


def set_weights(model: list[np.ndarray], weights: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    for w, w0 in zip(model, weights):
        w[...] = w0
    return model


def load_data(problem: Problem, device: str) -> tuple[np.ndarray, ...]:
    return problem.x_train, problem.t_train, problem.schedule.indices


def forward(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    return reference.forward(model, spec, x)


def layer_outputs(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return reference.layer_outputs(model, spec, x)


def predict(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    return reference.predict(model, spec, x)


def loss(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return reference.loss(model, spec, x, t)


def gradients(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    return reference.gradients(model, spec, x, t)


def in_seed_layout(parameters: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(p) for p in parameters]


def make_optimizer(model: list[np.ndarray], lr: float) -> float:
    return lr


def train_step(model: list[np.ndarray], optimizer: float, spec: ModelSpec, x: np.ndarray,
               t: np.ndarray) -> tuple[list[np.ndarray], float]:
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= optimizer * g
    return model, optimizer


def train(model: list[np.ndarray], optimizer: float, problem: Problem,
          data: tuple[np.ndarray, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for rows in indices[step:step + chunk]:
            model, optimizer = train_step(model, optimizer, spec, x_all[rows], t_all[rows])
        step += chunk
        history.append(loss(model, spec, x_all, t_all))
    return model, np.array(history)


def weights_of(model: list[np.ndarray]) -> list[np.ndarray]:
    return in_seed_layout(model)


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    optimizer = make_optimizer(model, problem.schedule.lr)
    data = load_data(problem, device)

    def run() -> TrainOutput:
        trained, history = train(set_weights(model, problem.weights), optimizer, problem, data)
        predictions = predict(trained, problem.spec, problem.x_eval)
        return TrainOutput(weights_of(trained), predictions, history, str(predictions.dtype))

    return run
