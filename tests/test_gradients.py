"""The NumPy reference's hand-written backpropagation against central finite differences,
over random architectures, activations and losses; and the seed's derivative failing it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_targets

from implementations.book import XOR_INPUTS, XOR_LABELS, NeuralNetwork
from implementations.numpy import lesson as numpy_lesson
from shared.contract.interface import HIDDEN_ACTIVATIONS, ModelSpec

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

OUTPUTS = [("identity", "half_sse"), ("tanh", "half_sse"), ("sigmoid", "mse"), ("identity", "mse"),
           ("sigmoid", "binary_crossentropy"), ("softmax", "softmax_crossentropy")]


def finite_difference(spec, weights, x, t, h=1e-6):
    grads = []
    for w in weights:
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + h
            up = numpy_lesson.loss(weights, spec, x, t)
            w[idx] = old - h
            down = numpy_lesson.loss(weights, spec, x, t)
            w[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def relative_error(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    a, b = np.concatenate([g.ravel() for g in a]), np.concatenate([g.ravel() for g in b])
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def random_case(seed: int):
    rng = np.random.RandomState(seed)
    output, loss = OUTPUTS[seed % len(OUTPUTS)]
    hidden = HIDDEN_ACTIVATIONS[(seed // len(OUTPUTS)) % len(HIDDEN_ACTIVATIONS)]
    n_out = 1 if loss == "binary_crossentropy" else int(rng.randint(1, 4)) + (loss == "softmax_crossentropy")
    sizes = (int(rng.randint(1, 5)), *[int(s) for s in rng.randint(1, 6, size=rng.randint(0, 3))], n_out)
    spec = ModelSpec(sizes, hidden, output, loss, "float64")
    batch = int(rng.randint(1, 6))
    x = rng.randn(batch, sizes[0])
    t = random_targets(rng, loss, batch, n_out)
    weights = [2 * rng.rand(a + 1, b) - 1 for a, b in zip(sizes, sizes[1:])]
    return spec, weights, x, t


def kinks_nearby(spec, weights, x) -> bool:
    """relu is not differentiable at 0: finite differences are meaningless next to a kink."""
    if spec.hidden_activation != "relu":
        return False
    a = x
    for w in weights[:-1]:
        z = a @ w[1:] + w[0]
        if np.min(np.abs(z)) < 1e-4:
            return True
        a = np.maximum(z, 0)
    return False


@pytest.mark.parametrize("seed", range(48))
def test_backprop_matches_finite_differences(seed):
    spec, weights, x, t = random_case(seed)
    if kinks_nearby(spec, weights, x):
        pytest.skip("relu kink within the finite-difference step")
    analytic = numpy_lesson.gradients(weights, spec, x, t)
    numeric = finite_difference(spec, weights, x, t)
    assert relative_error(analytic, numeric) < 1e-6, (spec, relative_error(analytic, numeric))


def test_every_hidden_activation_and_output_is_covered():
    cases = [random_case(s)[0] for s in range(48)]
    assert {c.hidden_activation for c in cases} == set(HIDDEN_ACTIVATIONS)
    assert {(c.output_activation, c.loss) for c in cases} == set(OUTPUTS)


def book_gradient(sizes: list[int], seed: int) -> tuple[NeuralNetwork, list[np.ndarray], int, list[np.ndarray]]:
    """The seed's update for one step, turned back into the gradient it claims to follow."""
    rng = np.random.RandomState(seed)
    nn = NeuralNetwork(sizes, rng)
    before = [w.copy() for w in nn.weights]
    sample = np.random.RandomState(seed)
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        sample.rand(fan_in + 1, fan_out)
    index = int(sample.randint(4))
    nn.steps_per_epoch = 1
    nn.fit(XOR_INPUTS, XOR_LABELS, learning_rate=0.1, epochs=1)
    return nn, before, index, [(b - a) / 0.1 for a, b in zip(nn.weights, before)]


@pytest.mark.parametrize("sizes", [[2, 2, 1], [2, 4, 3, 1]])
def test_seed_derivative_fails_the_gradient_check(sizes):
    _, weights, index, book = book_gradient(sizes, seed=0)
    spec = ModelSpec(tuple(sizes), "tanh", "tanh", "half_sse", "float64")
    x, t = XOR_INPUTS[[index]].astype(float), XOR_LABELS[[index]][:, None].astype(float)
    numeric = finite_difference(spec, [w.copy() for w in weights], x, t)
    reference = numpy_lesson.gradients(weights, spec, x, t)
    assert relative_error(reference, numeric) < 1e-6  # the correct derivative passes at the same point
    assert relative_error(book, numeric) > 1e-2  # the seed's f'(f(a)) does not
