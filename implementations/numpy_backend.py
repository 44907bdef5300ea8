"""NumPy: the reference. Forward pass and backpropagation written by hand, as in the seed.

Weights keep the seed's layout: one matrix per layer of shape (fan_in + 1, fan_out) whose row 0
is the bias, so a layer computes z = [1, a] @ W = a @ W[1:] + W[0].
The only library here without autodiff: `gradients` applies the seed's backpropagation
equations, with the correct tanh derivative 1 − y² (the seed applies it to tanh(y)).
"""

from __future__ import annotations

import numpy as np

from shared.interface import ModelSpec, Problem, Runner, TrainOutput

NAME = "numpy"
INSTALL = "pip install numpy"
MODES = ("eager",)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0, -z))  # 1 / (1 + e^-z) without overflow


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Each activation with its derivative written in terms of its output y = f(z).
ACTIVATIONS = {
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y)),
    "relu": (lambda z: np.maximum(z, 0), lambda y: (y > 0).astype(y.dtype)),
    "identity": (lambda z: z, lambda y: np.ones_like(y)),
    "softmax": (_softmax, None),  # only with softmax_crossentropy, which needs no Jacobian
}


def versions() -> dict[str, str]:
    return {"numpy": np.__version__}


def configure(dtype: str, device: str) -> None:
    """Precision and determinism: NumPy computes in the dtype of its arrays and is
    deterministic on a given machine; nothing process-wide to set."""


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "NumPy runs on the CPU only"


def build_model(problem: Problem, device: str) -> list[np.ndarray]:
    weights = [np.empty_like(w) for w in problem.weights]
    set_weights(weights, problem.weights)
    return weights


def set_weights(weights: list[np.ndarray], initial: tuple[np.ndarray, ...]) -> None:
    for w, w0 in zip(weights, initial):
        w[...] = w0


def forward(weights: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output, inputs first; the last entry is the output layer's logits z."""
    outputs = [x]
    for i, (w, name) in enumerate(zip(weights, spec.activations())):
        z = outputs[-1] @ w[1:] + w[0]
        outputs.append(z if i == len(weights) - 1 else ACTIVATIONS[name][0](z))
    return outputs


def predict(weights: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    return ACTIVATIONS[spec.output_activation][0](forward(weights, spec, x)[-1])


def loss(weights: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mean over the batch; cross-entropies in their stable form on the logits z."""
    z = forward(weights, spec, x)[-1]
    if spec.loss == "binary_crossentropy":
        return np.mean(np.logaddexp(0, z) - t * z)  # softplus(z) - t z
    if spec.loss == "softmax_crossentropy":
        m = z.max(axis=-1, keepdims=True)
        logsumexp = m[:, 0] + np.log(np.exp(z - m).sum(axis=-1))
        return np.mean(logsumexp - (t * z).sum(axis=-1))
    y = ACTIVATIONS[spec.output_activation][0](z)
    if spec.loss == "half_sse":
        return np.mean(0.5 * np.sum((t - y) ** 2, axis=-1))
    return np.mean((t - y) ** 2)  # mse


def gradients(weights: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    """Backpropagation by hand: δ of the output layer from the loss, δ of each earlier layer
    from the next one through its weights and the activation's derivative."""
    outputs = forward(weights, spec, x)
    z = outputs[-1]
    batch, n_out = t.shape
    f, f_prime = ACTIVATIONS[spec.output_activation]
    if spec.loss == "binary_crossentropy":
        delta = (f(z) - t) / (batch * n_out)
    elif spec.loss == "softmax_crossentropy":
        delta = (f(z) - t) / batch
    else:
        y = f(z)
        dloss_dy = (y - t) / batch if spec.loss == "half_sse" else 2 * (y - t) / (batch * n_out)
        delta = dloss_dy * f_prime(y)
    grads = [np.empty_like(w) for w in weights]
    for i in range(len(weights) - 1, -1, -1):
        grads[i][0] = delta.sum(axis=0)  # the bias row sees an input of 1
        grads[i][1:] = outputs[i].T @ delta
        if i > 0:
            delta = (delta @ weights[i][1:].T) * ACTIVATIONS[spec.hidden_activation][1](outputs[i])
    return grads


def train_step(weights: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray, lr: float) -> None:
    for w, g in zip(weights, gradients(weights, spec, x, t)):
        w -= lr * g


def train(weights: list[np.ndarray], problem: Problem, mode: str) -> np.ndarray:
    """Run the schedule in place; return the training-set loss at the recorded steps."""
    spec, schedule = problem.spec, problem.schedule
    history = [loss(weights, spec, problem.x_train, problem.t_train)]
    step = 0
    for chunk in schedule.chunks():
        for rows in schedule.indices[step:step + chunk]:
            train_step(weights, spec, problem.x_train[rows], problem.t_train[rows], schedule.lr)
        step += chunk
        history.append(loss(weights, spec, problem.x_train, problem.t_train))
    return np.array(history)


def weights_of(weights: list[np.ndarray]) -> list[np.ndarray]:
    return [w.copy() for w in weights]


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype, device)

    weights = build_model(problem, device)

    def run() -> TrainOutput:
        set_weights(weights, problem.weights)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported from the loss history
            history = train(weights, problem, mode)
            predictions = predict(weights, problem.spec, problem.x_eval)
        return TrainOutput(weights_of(weights), predictions, history, str(predictions.dtype))

    return run
