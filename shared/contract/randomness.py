"""All the randomness of a run, drawn once in NumPy and handed to every library.

The seed's scheme, kept exactly: `numpy.random.seed(seed)`, then one weight matrix per layer
drawn by `2*rand(fan_in + 1, fan_out) - 1` (row 0 is the bias), then the samples of every
step from the same generator. `RandomState(seed)` produces the same stream as the seed's
global `numpy.random.seed(seed)`.

Sample order:
- batch size 1 (per-sample SGD, as in the seed): `rng.randint(n_samples, size=steps)`,
  which draws the same numbers as the seed's one `randint(n_samples)` per step;
- batch size B > 1: one permutation of all samples per epoch (`rng.permutation`), epochs
  laid end to end and cut into consecutive batches of exactly B rows. A batch may span the
  end of one epoch and the start of the next, so every step has the same shape (compiled
  loops need that) and no sample is dropped.
"""

from __future__ import annotations

import numpy as np


def initial_weights(rng: np.random.RandomState, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """The seed's initial weights: uniform in (-1, 1), shape (fan_in + 1, fan_out)."""
    return [2 * rng.rand(fan_in + 1, fan_out) - 1 for fan_in, fan_out in zip(sizes, sizes[1:])]


def sample_indices(rng: np.random.RandomState, n_samples: int, steps: int, batch_size: int) -> np.ndarray:
    """The rows used by every step, shape (steps, batch_size)."""
    if batch_size == 1:
        return rng.randint(n_samples, size=steps).astype(np.int64).reshape(steps, 1)
    needed = steps * batch_size
    epochs = -(-needed // n_samples)
    order = np.concatenate([rng.permutation(n_samples) for _ in range(epochs)])
    return order[:needed].astype(np.int64).reshape(steps, batch_size)


def draw(seed: int, sizes: tuple[int, ...], n_samples: int, steps: int, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Initial weights (float64) and sample indices, in the seed's order of draws."""
    rng = np.random.RandomState(seed)
    weights = initial_weights(rng, sizes)
    return weights, sample_indices(rng, n_samples, steps, batch_size)
