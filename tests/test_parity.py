"""One test body for every library × mode × task × dtype, compared with the NumPy reference:
from identical initial weights and sample order, final weights, predictions and the loss
history must agree within the dtype's tolerance (shared/tolerances.py)."""

from __future__ import annotations

import functools

import pytest
from conftest import LOADED, assert_matches, library_mode_params, problem_for, reference

from shared.interface import DTYPES
from shared.tasks import TASKS
from shared.tolerances import tolerance

SHORT = 120  # steps: long enough for every task to move far from its start, short for CI


@functools.cache
def short_case(task: str, dtype: str):
    problem = problem_for(task, dtype, steps=SHORT, record_every=20)
    return problem, reference(problem)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("library,mode", library_mode_params())
def test_matches_numpy(library, mode, task, dtype):
    problem, ref = short_case(task, dtype)
    out = LOADED[library].prepare(problem, mode, "cpu")()
    assert_matches(out, ref, dtype, tolerance(dtype))
    assert abs(ref.loss_history[-1] - ref.loss_history[0]) > 1e-3, "the schedule must actually train"


@pytest.mark.slow
@pytest.mark.parametrize("library,mode", library_mode_params(modes=("compiled",)))
def test_full_xor_schedule(library, mode):
    """The seed's whole schedule, 10,000 per-sample steps, in each library's fastest mode."""
    problem = problem_for("xor")
    assert problem.schedule.steps == 10_000
    out = LOADED[library].prepare(problem, mode, "cpu")()
    ref = reference(problem)
    assert_matches(out, ref, "float64", tolerance("float64"))
    assert ref.predictions[[0, 3], 0].max() < 0.1 and ref.predictions[[1, 2], 0].min() > 0.9  # XOR learned


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("library,mode", library_mode_params())
def test_matches_numpy_on_gpu(library, mode, dtype):
    module = LOADED[library]
    reason = module.device_unavailable("gpu")
    if reason:
        pytest.skip(reason)
    problem, ref = short_case("xor", dtype)
    assert_matches(module.prepare(problem, mode, "gpu")(), ref, dtype, tolerance(dtype))
