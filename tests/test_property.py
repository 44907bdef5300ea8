"""Property tests: hypothesis draws small architectures, activations, losses, dtypes, data and
schedules; every installed library (eager mode, the cheapest to start) agrees with NumPy
within the dtype's tolerance. Bounded and derandomised so CI stays fast and repeatable."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LIBRARIES, LOADED, assert_matches, library_mode_params, problem_for, random_targets, reference
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.interface import HIDDEN_ACTIVATIONS, ModelSpec, Problem, Schedule
from shared.contract.randomness import draw
from shared.contract.tolerances import tolerance

HEADS = [("identity", "mse"), ("tanh", "half_sse"), ("sigmoid", "mse"), ("sigmoid", "binary_crossentropy"),
         ("softmax", "softmax_crossentropy")]


@st.composite
def problems(draw_from) -> Problem:
    output, loss = draw_from(st.sampled_from(HEADS))
    n_out = {"binary_crossentropy": 1, "softmax_crossentropy": draw_from(st.integers(2, 3))}.get(loss, draw_from(st.integers(1, 2)))
    hidden = draw_from(st.lists(st.integers(1, 4), max_size=2))
    sizes = (draw_from(st.integers(1, 3)), *hidden, n_out)
    dtype = draw_from(st.sampled_from(["float64", "float32"]))
    spec = ModelSpec(sizes, draw_from(st.sampled_from(HIDDEN_ACTIVATIONS)), output, loss, dtype)
    n = draw_from(st.integers(3, 10))
    rng = np.random.RandomState(draw_from(st.integers(0, 2**16)))
    x = rng.randn(n, sizes[0])
    t = random_targets(rng, loss, n, n_out)
    steps, batch = draw_from(st.integers(5, 25)), draw_from(st.integers(1, n))
    weights, indices = draw(draw_from(st.integers(0, 1000)), sizes, n, steps, batch)
    lr = draw_from(st.sampled_from([0.01, 0.05, 0.2]))
    dt = np.dtype(dtype)
    return Problem("property", spec, tuple(w.astype(dt) for w in weights), x.astype(dt), t.astype(dt), x.astype(dt),
                   Schedule(lr, indices, draw_from(st.integers(1, 10))))


@pytest.mark.timeout(600)  # twelve problems in every library and mode: 35 s on the 2-core machine
@settings(max_examples=12, deadline=None, derandomize=True)
@given(problem=problems())
def test_every_library_agrees_with_numpy(problem):
    ref = reference(problem)
    assert np.isfinite(ref.loss_history).all()
    for name in LIBRARIES:
        if name in LOADED:
            out = LOADED[name].prepare(problem, "eager", "cpu")()
            assert_matches(out, ref, problem.spec.dtype, tolerance(problem.spec.dtype))


# (task, steps, record_every): record_every above the steps, dividing them, not dividing them, 1.
RECORDINGS = [("xor", 50, 100), ("xor", 7, 3), ("xor", 10, 10), ("xor", 1, 1), ("xor", 1, 4), ("xor", 9, 1),
              ("sine", 12, 5), ("sine", 3, 50)]


@pytest.mark.timeout(600)  # PyTorch compiles each of the eight schedules: 55 s on the 2-core machine
@pytest.mark.parametrize("library,mode", library_mode_params())
def test_uneven_and_degenerate_recording_schedules(library, mode):
    """Compiled loops cut the schedule into stretches between recorded losses: every way the
    stretches can fall must give the reference's marks and numbers."""
    for task, steps, every in RECORDINGS:
        problem = problem_for(task, steps=steps, record_every=every)
        out = LOADED[library].prepare(problem, mode, "cpu")()
        assert len(out.loss_history) == len(problem.schedule.record_steps()), (task, steps, every)
        assert_matches(out, reference(problem), "float64", tolerance("float64"))
        assert "note" not in out.info, (task, steps, every, out.info)  # PyTorch: the whole loop, no fallback
