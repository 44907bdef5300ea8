"""Tasks and shared draws: defaults that reach the ground truth, CSV input, sample order."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import problem_for, reference

from shared.contract.errors import UsageError
from shared.contract.randomness import sample_indices
from shared.contract.tasks import TASKS, build_problem, default_sizes, load_dataset, optimal_loss


@pytest.mark.parametrize("task", ["linear", "logistic"])
def test_defaults_reach_the_optimum_within_one_percent(task):
    t = TASKS[task]
    data = load_dataset(t)
    best = optimal_loss(t, data)
    final = reference(problem_for(task)).loss_history[-1]
    assert best > 0.01 * final  # a finite, non-trivial optimum (logistic data is not separable)
    assert best * (1 - 1e-12) <= final <= 1.01 * best  # (gradient descent lands on the optimum to rounding)


def test_linear_on_a_csv_reaches_least_squares(tmp_path):
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    path = tmp_path / "diabetes.csv"
    rows = [",".join([*d.feature_names, "target"])] + [",".join(str(float(v)) for v in [*x, y]) for x, y in zip(d.data, d.target)]
    path.write_text("\n".join(rows) + "\n")
    t = TASKS["linear"]
    data = load_dataset(t, str(path), "target")
    assert data.x.shape == (442, 10) and data.t.shape == (442, 1)
    np.testing.assert_allclose(data.x.mean(axis=0), 0, atol=1e-12)
    problem = build_problem(t, data, default_sizes(t, data), steps=2000)
    final = reference(problem).loss_history[-1]
    assert final <= 1.01 * optimal_loss(t, data)


def test_classes_from_a_csv(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a,b,label\n1,2,cat\n2,1,dog\n3,3,cat\n0,1,bird\n")
    data = load_dataset(TASKS["softmax"], str(path), "label")
    assert data.classes == ("bird", "cat", "dog")
    assert data.t.tolist() == [[0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]
    with pytest.raises(UsageError, match="exactly two classes"):
        load_dataset(TASKS["logistic"], str(path), "label")


def test_per_sample_order_is_one_randint_per_step():
    a = sample_indices(np.random.RandomState(3), 4, 100, 1)[:, 0]
    rng = np.random.RandomState(3)
    assert a.tolist() == [rng.randint(4) for _ in range(100)]


def test_minibatch_order_is_epochs_of_permutations_cut_into_batches():
    idx = sample_indices(np.random.RandomState(1), 10, 7, 4)  # 28 rows: 2 whole epochs and 8 of a third
    assert idx.shape == (7, 4)
    flat = idx.ravel()
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    rng = np.random.RandomState(1)
    expected = np.concatenate([rng.permutation(10) for _ in range(3)])[:28]
    assert flat.tolist() == expected.tolist()


def test_every_task_builds_and_trains():
    for name in TASKS:
        p = problem_for(name, steps=500)
        out = reference(p)
        assert out.predictions.shape == (p.x_eval.shape[0], p.spec.n_outputs)
        assert out.loss_history[-1] < out.loss_history[0]
        assert len(out.loss_history) == len(p.schedule.record_steps())


def test_a_byte_order_mark_and_numerically_equal_labels_just_work(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffy,a\n1,0.5\n1.0,1.5\n0,2.5\n0.0,3.0\n".encode())
    data = load_dataset(TASKS["logistic"], str(path), "y")  # the first column, behind the mark
    assert data.classes == ("0", "1")  # "0"/"0.0" and "1"/"1.0" are one class each
    assert data.t[:, 0].tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiters_are_detected_or_given(tmp_path, delimiter):
    rows = [["id", "a", "b", "label"], ["r1", "1.5", "2", "cat"], ["r2", "2", "1", "dog"], ["r3", "3", "3", "cat"],
            ["r4", "0", "1.25", "dog"]]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(delimiter.join(r) for r in rows) + "\n")
    given = {} if delimiter in ";\t" else {"delimiter": delimiter}  # the sniffer tries , ; and tab
    data = load_dataset(TASKS["logistic"], str(path), "label", standardize=False, features=["a", "b"], **given)
    assert data.feature_names == ("a", "b") and data.x.tolist() == [[1.5, 2], [2, 1], [3, 3], [0, 1.25]]
    assert data.classes == ("cat", "dog")


def test_a_newline_inside_a_quoted_cell_stays_in_it(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('a,label\n1,"two\nlines"\n2,x\n3,"two\nlines"\n')
    data = load_dataset(TASKS["logistic"], str(path), "label", standardize=False)
    assert data.classes == ("two\nlines", "x") and data.x[:, 0].tolist() == [1, 2, 3]
