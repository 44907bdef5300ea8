"""One test body for every library × task × dtype, compared with NumPy at one step, through the
lesson's own functions (shared/harness/one_step.py): from the same weights on the same batch,
each layer's pre-activation and activation (`layer_outputs`), the loss, the gradients in the
seed's layout (`gradients`, then `in_seed_layout`) and the weights after one `train_step` must
agree within the dtype's single-step tolerance (shared/contract/tolerances.py), each in the dtype
asked for. Shared code compares them: the contract's names mean the same thing in every lesson.
Keras on its JAX and torch backends: tests/test_keras_backends.py."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LOADED, MISSING, problem_for

from shared.contract.interface import DTYPES
from shared.contract.tasks import TASKS
from shared.contract.tolerances import step_tolerance
from shared.harness import registry
from shared.harness.one_step import Step, differences, one_step

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

LIBRARIES = [pytest.param(n, marks=[pytest.mark.skip(reason=MISSING[n])] if n in MISSING else []) for n in registry.FRAMEWORKS
             if n != "numpy"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("library", LIBRARIES)
def test_one_step_matches_numpy_quantity_by_quantity(library, task, dtype):
    problem = problem_for(task, dtype, steps=3)
    found = one_step(LOADED[library], problem)
    assert len(found.gradients) == len(found.layers) == len(problem.weights)
    assert [g.shape for g in found.gradients] == [w.shape for w in problem.weights]
    compared = differences(found, one_step(LOADED["numpy"], problem))
    assert {dtype_found for *_, dtype_found, _ in compared} == {dtype}
    worst = max(compared, key=lambda row: row[2])
    assert worst[2] <= step_tolerance(dtype), worst


def test_the_comparison_sees_a_wrong_gradient():
    """The check above can fail: one layer's bias gradient off by a part in a million."""
    problem = problem_for("xor", "float64", steps=3)
    reference = one_step(LOADED["numpy"], problem)
    wrong = Step(reference.layers, reference.loss, [g.copy() for g in reference.gradients], reference.weights)
    wrong.gradients[0][0] *= 1 + 1e-6
    bad = [(name, layer) for name, layer, diff, *_ in differences(wrong, reference) if diff > step_tolerance("float64")]
    assert bad == [("bias gradient", 0)]
    assert np.isclose(1e-6 * abs(reference.gradients[0][0]).max(), max(d for *_, d, _, _ in differences(wrong, reference)))
