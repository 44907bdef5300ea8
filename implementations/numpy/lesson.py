"""NumPy: the reference. Forward pass and backpropagation written by hand, as in the seed.

Weights keep the seed's layout: one matrix per layer of shape (fan_in + 1, fan_out) whose row 0
is the bias, so a layer computes z = [1, a] @ W = a @ W[1:] + W[0]. The model is that list of
matrices, and so are its parameters and their gradients.
The only library here without autodiff: `gradients` applies the seed's backpropagation
equations, with the correct tanh derivative 1 − y² (the seed applies it to tanh(y)). And the
only one without a compiler: its eager loop is its only loop.
"""

from __future__ import annotations

import numpy as np

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput


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


def configure(dtype: str) -> None:
    """NumPy computes in the dtype of its arrays and is deterministic on a given machine: nothing
    process-wide to set."""


def build_model(problem: Problem, device: str) -> list[np.ndarray]:
    """One array per layer in the seed's layout; NumPy has one device, the CPU."""
    return set_weights([np.empty_like(w) for w in problem.weights], problem.weights)


def set_weights(model: list[np.ndarray], weights: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    for w, w0 in zip(model, weights):
        w[...] = w0
    return model


def load_data(problem: Problem, device: str) -> tuple[np.ndarray, ...]:
    """Already NumPy, on the only device."""
    return problem.x_train, problem.t_train, problem.schedule.indices


def forward(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    """The output layer's logits."""
    return _outputs(model, spec, x)[-1]


def _outputs(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output, inputs first, the output layer's logits last: what backpropagation
    needs, and what autodiff libraries keep for themselves."""
    outputs = [x]
    for i, (w, name) in enumerate(zip(model, spec.activations())):
        z = outputs[-1] @ w[1:] + w[0]
        outputs.append(z if i == len(model) - 1 else ACTIVATIONS[name][0](z))
    return outputs


def layer_outputs(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    found, a = [], x
    for w, name in zip(model, spec.activations()):
        z = a @ w[1:] + w[0]
        a = ACTIVATIONS[name][0](z)
        found.append((z, a))
    return found


def predict(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    return ACTIVATIONS[spec.output_activation][0](forward(model, spec, x))


def loss(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mean over the batch; cross-entropies in their stable form on the logits z."""
    z = forward(model, spec, x)
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


def gradients(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    """Backpropagation by hand: δ of the output layer from the loss, δ of each earlier layer
    from the next one through its weights and the activation's derivative."""
    outputs = _outputs(model, spec, x)
    z = outputs[-1]
    batch, n_out = t.shape
    f, f_prime = ACTIVATIONS[spec.output_activation]
    if spec.loss == "binary_crossentropy":
        delta = (f(z) - t) / (batch * n_out)
    elif spec.loss == "softmax_crossentropy":
        delta = (f(z) - t) / batch  # each row of t sums to 1 (one-hot): d/dz of logsumexp(z) − t·z
    else:
        y = f(z)
        dloss_dy = (y - t) / batch if spec.loss == "half_sse" else 2 * (y - t) / (batch * n_out)
        delta = dloss_dy * f_prime(y)
    grads = [np.empty_like(w) for w in model]
    for i in range(len(model) - 1, -1, -1):
        grads[i][0] = delta.sum(axis=0)  # the bias row sees an input of 1
        grads[i][1:] = outputs[i].T @ delta
        if i > 0:
            delta = (delta @ model[i][1:].T) * ACTIVATIONS[spec.hidden_activation][1](outputs[i])
    return grads


def in_seed_layout(parameters: list[np.ndarray]) -> list[np.ndarray]:
    """Already the seed's layout: copies, so that later steps cannot change them."""
    return [np.array(p) for p in parameters]


def make_optimizer(model: list[np.ndarray], lr: float) -> float:
    """Plain SGD needs nothing but its learning rate."""
    return lr


def train_step(model: list[np.ndarray], optimizer: float, spec: ModelSpec, x: np.ndarray,
               t: np.ndarray) -> tuple[list[np.ndarray], float]:
    """In place, w ← w − lr·g: NumPy arrays are mutable."""
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= optimizer * g
    return model, optimizer


def train(model: list[np.ndarray], optimizer: float, problem: Problem,
          data: tuple[np.ndarray, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """The schedule from a Python loop, in place."""
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
        trained = set_weights(model, problem.weights)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported from the loss history
            trained, history = train(trained, optimizer, problem, data)
            predictions = predict(trained, problem.spec, problem.x_eval)
        return TrainOutput(weights_of(trained), predictions, history, str(predictions.dtype))

    return run
