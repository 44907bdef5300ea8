"""The seed's XOR program as printed in the book, ported to Python 3 and nothing else.

Kept apart from the reference on purpose: it reproduces the book's quoted numbers, quirks
included. `tanh_derivative` is applied to a layer's *output* y = tanh(a), so it computes
1 − tanh²(tanh(a)) instead of 1 − y²; training still works, but it is not the gradient of
the loss (tests/test_gradients.py shows it failing a finite-difference check). The seed's
use of the global `nn` inside its methods is replaced by `self`; the draws are the same:
one `rand` per layer, then one `randint` per step, from the generator seeded with `seed`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.contract.interface import TrainOutput


def tanh(x: np.ndarray) -> np.ndarray:
    return (1.0 - np.exp(-2 * x)) / (1.0 + np.exp(-2 * x))


def tanh_derivative(x: np.ndarray) -> np.ndarray:
    return (1 + tanh(x)) * (1 - tanh(x))


class NeuralNetwork:
    def __init__(self, net_arch: list[int], rng: np.random.RandomState):
        self.activity = tanh
        self.activity_derivative = tanh_derivative
        self.layers = len(net_arch)
        self.steps_per_epoch = 1000
        self.arch = net_arch
        self.rng = rng
        self.weights = [2 * rng.rand(net_arch[layer] + 1, net_arch[layer + 1]) - 1 for layer in range(self.layers - 1)]

    def fit(self, data: np.ndarray, labels: np.ndarray, learning_rate: float = 0.1, epochs: int = 100) -> None:
        ones = np.ones((1, data.shape[0]))
        z = np.concatenate((ones.T, data), axis=1)
        for _ in range(epochs * self.steps_per_epoch):
            sample = self.rng.randint(data.shape[0])
            y = [z[sample]]
            for i in range(len(self.weights) - 1):
                activity = self.activity(np.dot(y[i], self.weights[i]))
                y.append(np.concatenate((np.ones(1), np.array(activity))))
            y.append(self.activity(np.dot(y[-1], self.weights[-1])))
            error = labels[sample] - y[-1]
            delta_vec = [error * self.activity_derivative(y[-1])]  # the quirk: f'(f(a))
            for i in range(self.layers - 2, 0, -1):
                error = delta_vec[-1].dot(self.weights[i][1:].T)
                delta_vec.append(error * self.activity_derivative(y[i][1:]))
            delta_vec.reverse()
            for i in range(len(self.weights)):
                layer = y[i].reshape(1, self.arch[i] + 1)
                delta = delta_vec[i].reshape(1, self.arch[i + 1])
                self.weights[i] += learning_rate * layer.T.dot(delta)

    def predict(self, x: np.ndarray) -> np.ndarray:
        val = np.concatenate((np.ones(1).T, np.array(x)))
        for i in range(len(self.weights)):
            val = self.activity(np.dot(val, self.weights[i]))
            val = np.concatenate((np.ones(1).T, np.array(val)))
        return val[1]


XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
XOR_LABELS = np.array([0, 1, 1, 0])


def run_book(arch: list[int], seed: int = 0, epochs: int = 10, learning_rate: float = 0.1) -> tuple[NeuralNetwork, np.ndarray]:
    """Train as the seed's `__main__` does; return the net and its predictions on XOR."""
    nn = NeuralNetwork(list(arch), np.random.RandomState(seed))
    nn.fit(XOR_INPUTS, XOR_LABELS, learning_rate=learning_rate, epochs=epochs)
    return nn, np.array([nn.predict(s) for s in XOR_INPUTS])


def book_runner(sizes: tuple[int, ...], seed: int) -> Callable[[], TrainOutput]:
    """The seed's program as a harness runner: ½·Σ loss on XOR before and after training."""

    def half_sse(nn: NeuralNetwork) -> float:
        return float(np.mean([0.5 * (t - nn.predict(x)) ** 2 for x, t in zip(XOR_INPUTS, XOR_LABELS)]))

    def run() -> TrainOutput:
        nn = NeuralNetwork(list(sizes), np.random.RandomState(seed))
        before = half_sse(nn)
        nn.fit(XOR_INPUTS, XOR_LABELS, learning_rate=0.1, epochs=10)
        predictions = np.array([[nn.predict(s)] for s in XOR_INPUTS])
        return TrainOutput([w.copy() for w in nn.weights], predictions, np.array([before, half_sse(nn)]), str(predictions.dtype))

    return run
