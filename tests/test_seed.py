"""The seed reproduced: its draws, its quoted numbers, and the harness's --book mode."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import problem_for

from implementations.book import NeuralNetwork, run_book
from shared.randomness import draw

QUOTED = [0.0030321736925002975, 0.9963860761357731, 0.9959034563937058, 0.0006386449217576554]


def test_book_reproduces_the_quoted_predictions():
    _, predictions = run_book([2, 2, 1], seed=0)
    np.testing.assert_allclose(predictions, QUOTED, rtol=0, atol=1e-12)


def test_shared_draws_are_the_seeds_draws():
    """Weights then one randint per step, from one generator: the shared scheme draws the
    same numbers as the seed's constructor followed by its per-step randint calls."""
    for sizes in ([2, 2, 1], [2, 4, 3, 1]):
        rng = np.random.RandomState(7)
        nn = NeuralNetwork(sizes, rng)
        per_step = [rng.randint(4) for _ in range(500)]
        weights, indices = draw(7, tuple(sizes), 4, 500, 1)
        for a, b in zip(weights, nn.weights):
            assert np.array_equal(a, b)
        assert indices[:, 0].tolist() == per_step


def test_default_xor_problem_uses_the_seeds_settings():
    p = problem_for("xor")
    assert p.spec.sizes == (2, 2, 1) and p.spec.loss == "half_sse"
    assert p.spec.hidden_activation == p.spec.output_activation == "tanh"
    assert p.schedule.lr == 0.1 and p.schedule.steps == 10_000 and p.schedule.batch_size == 1


def test_correct_derivative_gives_different_numbers():
    """Same draws, the correct tanh derivative: the NumPy reference does not land on the
    book's numbers, so the book mode is really a different computation."""
    from conftest import reference

    out = reference(problem_for("xor"))
    assert np.max(np.abs(out.predictions[:, 0] - QUOTED)) > 1e-3


@pytest.mark.parametrize("arch", ["2,2,1", "2,4,3,1"])
def test_compare_book_json(arch):
    result = subprocess.run([sys.executable, "compare.py", "--task", "xor", "--book", "--arch", arch, "--seed", "0",
                             "--json", "-", "--repeat", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    run = report["runs"][0]
    assert run["framework"] == "numpy" and run["mode"] == "book" and run["status"] == "ok"
    _, expected = run_book([int(s) for s in arch.split(",")], seed=0)
    got = np.array(run["predictions"])[:, 0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    if arch == "2,2,1":
        np.testing.assert_allclose(got, QUOTED, rtol=0, atol=1e-12)
