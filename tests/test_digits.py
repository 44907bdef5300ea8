"""Digits: a real data set with a held-out split, the accuracy every classification task now
reports, scikit-learn's own MLP as an outside reference, and the two figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import LOADED, problem_for, reference
from matplotlib.image import imread
from sklearn.datasets import load_digits

from shared.commands import cli
from shared.contract.tasks import TASKS, accuracy, build_problem, default_sizes, load_dataset
from shared.contract.tolerances import tolerance


def test_fixed_stratified_split_of_scaled_pixels():
    data = load_dataset(TASKS["digits"])
    assert data.x.shape == (1437, 64) and data.x_eval.shape == (360, 64) and data.t_eval.shape == (360, 10)
    assert data.x.min() >= 0 and data.x.max() == 1  # pixels 0..16 scaled to [0, 1]
    counts = load_digits().target.tolist()
    for digit in range(10):  # each class keeps its share in both parts (stratified)
        share = counts.count(digit) / len(counts)
        assert abs(data.t_eval[:, digit].mean() - share) < 0.01 and abs(data.t[:, digit].mean() - share) < 0.01
    together = np.concatenate([data.x, data.x_eval])  # a partition of the 1,797 images: nothing lost, nothing twice
    assert sorted(map(tuple, together)) == sorted(map(tuple, load_digits().data / 16))
    again = load_dataset(TASKS["digits"])
    assert np.array_equal(again.x_eval, data.x_eval)  # the split does not depend on --seed: data seed only


def test_default_schedule_reaches_95_percent_held_out_for_every_seed():
    task, data = TASKS["digits"], load_dataset(TASKS["digits"])
    for seed in (0, 1, 2):
        problem = build_problem(task, data, default_sizes(task, data), seed=seed)
        assert problem.spec.sizes == (64, 32, 10) and problem.schedule.batch_size == 32
        assert accuracy(task, data, reference(problem).predictions) >= 0.95


def test_accuracy_of_each_classification_task():
    xor = TASKS["xor"]
    data = load_dataset(xor)
    assert accuracy(xor, data, np.array([[0.2], [0.9], [0.6], [0.4]])) == 1.0
    assert accuracy(xor, data, np.array([[0.6], [0.9], [0.6], [0.4]])) == 0.75
    assert accuracy(TASKS["linear"], load_dataset(TASKS["linear"]), np.zeros((200, 1))) is None
    iris = load_dataset(TASKS["softmax"])
    assert accuracy(TASKS["softmax"], iris, iris.t) == 1.0


def test_compare_digits_in_parity_with_accuracy_reference_and_figures(tmp_path, capsys):
    out = tmp_path / "digits.json"
    code = cli.main(["--task", "digits", "--frameworks", "numpy,jax,torch", "--mode", "compiled", "--device", "cpu",
                     "--steps", "400", "--repeat", "1", "--json", str(out), "--plots", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["accuracy_on"] == "360 held-out images (never trained on)"
    runs = [r for r in report["runs"] if r["status"] == "ok"]
    assert len(runs) == 3 and len({r["accuracy"] for r in runs}) == 1 and runs[0]["accuracy"] > 0.9
    assert np.array(runs[0]["predictions"]).shape == (360, 10)
    ref = report["ground_truth"]["reference_classifier"]
    assert "MLPClassifier[32] tanh" in ref["method"] and ref["accuracy"] > 0.9
    printed = capsys.readouterr().out
    assert "Outside reference: scikit-learn MLPClassifier" in printed and "accuracy" in printed
    for name in ("digits_confusion.png", "digits_misclassified.png"):
        image = imread(tmp_path / name)
        assert image.shape[0] > 300 and image.shape[1] > 400 and image.std() > 0.05


def test_parity_at_a_short_schedule_in_float32():
    problem = problem_for("digits", "float32", steps=30, record_every=10)
    ref = reference(problem)
    present = [name for name in ("jax", "tensorflow") if name in LOADED]
    if not present:
        pytest.skip("needs jax or tensorflow")
    for name in present:
            out = LOADED[name].prepare(problem, "compiled", "cpu")()
            assert np.abs(out.predictions - ref.predictions).max() <= tolerance("float32")
