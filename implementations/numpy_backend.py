"""NumPy: the reference. Forward pass and backpropagation written by hand, as in the seed.

Weights keep the seed's layout: one matrix per layer of shape (fan_in + 1, fan_out) whose row 0
is the bias, so a layer computes z = [1, a] @ W = a @ W[1:] + W[0].
The only library here without autodiff: `gradients` applies the seed's backpropagation
equations, with the correct tanh derivative 1 − y² (the seed applies it to tanh(y)).
"""

from __future__ import annotations

import numpy as np

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

NAME = "numpy"
TITLE = "NumPy"
POSITION = 0  # the reference: first in every table
REQUIRES = "numpy"
INSTALL = "pip install numpy==2.4.6"
MODES = ("eager",)
# --threads N: set in the worker before NumPy is imported, since its BLAS sizes its pool when loaded.
THREAD_ENV = {"OMP_NUM_THREADS": "{n}", "OPENBLAS_NUM_THREADS": "{n}", "MKL_NUM_THREADS": "{n}"}


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
    return {"numpy": np.__version__, **_blas_threads()}


def _blas_threads() -> dict[str, str]:
    """What the BLAS under NumPy uses, asked from the BLAS itself (threadpoolctl), where installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    pools = [f"{p.get('internal_api')}:{p['num_threads']}" for p in threadpool_info() if p.get("user_api") == "blas"]
    return {"numpy_blas_threads": ", ".join(pools)} if pools else {}


_limits = []  # threadpoolctl's limiter, kept for the worker's life (the limit holds while it exists)


def set_threads(n: int) -> None:
    """The BLAS read THREAD_ENV when loaded; threadpoolctl also limits a BLAS that ignored it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limits.append(threadpool_limits(limits=n, user_api="blas"))


def configure(dtype: str) -> None:
    """Precision and determinism: NumPy computes in the dtype of its arrays and is
    deterministic on a given machine; nothing process-wide to set."""


def device_unavailable(device: str) -> str | None:
    return None if device == "cpu" else "NumPy runs on the CPU only"


def gpu_name() -> str | None:
    return None


def reset_gpu_peak() -> bool:
    return False


def gpu_peak_bytes() -> int | None:
    return None


def build_model(problem: Problem, device: str) -> list[np.ndarray]:
    """One array per layer in the seed's layout; NumPy has one device, the CPU."""
    return set_weights([np.empty_like(w) for w in problem.weights], problem.weights)


def set_weights(model: list[np.ndarray], weights: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    for w, w0 in zip(model, weights):
        w[...] = w0
    return model


def layer_outputs(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output, inputs first, the output layer's logits last: what backpropagation
    needs, and what autodiff libraries keep for themselves."""
    outputs = [x]
    for i, (w, name) in enumerate(zip(model, spec.activations())):
        z = outputs[-1] @ w[1:] + w[0]
        outputs.append(z if i == len(model) - 1 else ACTIVATIONS[name][0](z))
    return outputs


def forward(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    """The output layer's logits."""
    return layer_outputs(model, spec, x)[-1]


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
    outputs = layer_outputs(model, spec, x)
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
    grads = [np.empty_like(w) for w in model]
    for i in range(len(model) - 1, -1, -1):
        grads[i][0] = delta.sum(axis=0)  # the bias row sees an input of 1
        grads[i][1:] = outputs[i].T @ delta
        if i > 0:
            delta = (delta @ model[i][1:].T) * ACTIVATIONS[spec.hidden_activation][1](outputs[i])
    return grads


def train_step(model: list[np.ndarray], spec: ModelSpec, x: np.ndarray, t: np.ndarray, lr: float) -> list[np.ndarray]:
    """In place: NumPy arrays are mutable."""
    for w, g in zip(model, gradients(model, spec, x, t)):
        w -= lr * g
    return model


def train(model: list[np.ndarray], problem: Problem, data: tuple[np.ndarray, ...], program: None) -> tuple[list[np.ndarray], np.ndarray]:
    """The schedule from a Python loop, in place. `program` is always None: NumPy has no
    compiler, its eager loop is the only one (MODES)."""
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
    data = (problem.x_train, problem.t_train, problem.schedule.indices)  # already NumPy, on the only device

    def run() -> TrainOutput:
        trained = set_weights(model, problem.weights)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported from the loss history
            trained, history = train(trained, problem, data, None)
            predictions = predict(trained, problem.spec, problem.x_eval)
        return TrainOutput(weights_of(trained), predictions, history, str(predictions.dtype))

    return run
