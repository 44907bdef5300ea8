"""Real data as users bring it, checked against outside references: scikit-learn's own data sets
written out as CSV files (semicolon- and tab-separated, with an ID column), and scikit-learn's
own estimators as the yardstick."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import LOADED, assert_matches, reference
from sklearn import datasets
from sklearn.linear_model import LinearRegression, LogisticRegression

from shared.commands import cli
from shared.contract.ground_truth import NEARLY_SEPARABLE, SEPARABLE, ground_truth
from shared.contract.tasks import TASKS, build_problem, default_sizes, load_dataset
from shared.contract.tolerances import tolerance


def write_csv(path, bunch, target_name: str, delimiter: str = ",", labels=None) -> list[str]:
    """The data set as a file: an ID column first, then the features, then the target."""
    names = [n.replace(" ", "_").replace("(", "").replace(")", "") for n in bunch.feature_names]
    target = bunch.target if labels is None else [labels[int(k)] for k in bunch.target]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["id", *names, target_name])
        for i, (x, y) in enumerate(zip(bunch.data, target)):
            writer.writerow([f"row-{i}", *(repr(float(v)) for v in x), y])
    return names


def test_diabetes_least_squares_equals_scikit_learn(tmp_path):
    bunch = datasets.load_diabetes()
    names = write_csv(tmp_path / "diabetes.csv", bunch, "progression", delimiter=";")
    data = load_dataset(TASKS["linear"], str(tmp_path / "diabetes.csv"), "progression", features=names)
    fit = LinearRegression().fit(data.x, data.t[:, 0])
    sklearn_loss = float(np.mean((fit.predict(data.x) - data.t[:, 0]) ** 2))
    gt = ground_truth("linear", data.x, data.t)
    # Two least-squares solvers on the same 442 × 10 system: equal to float64 rounding (~1e-12 relative).
    assert gt["optimal_loss"] == pytest.approx(sklearn_loss, rel=1e-10)


def test_logistic_optimum_equals_scikit_learns_unpenalised_fit(tmp_path):
    """Iris versicolor against virginica: real, overlapping classes, so a finite optimum exists."""
    bunch = datasets.load_iris()
    keep = bunch.target > 0
    bunch.data, bunch.target = bunch.data[keep], bunch.target[keep]
    names = write_csv(tmp_path / "iris.tsv", bunch, "species", delimiter="\t", labels=list(bunch.target_names))
    data = load_dataset(TASKS["logistic"], str(tmp_path / "iris.tsv"), "species", features=names)
    assert data.classes == ("versicolor", "virginica")
    fit = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(data.x, data.t[:, 0])
    z = fit.decision_function(data.x)
    sklearn_loss = float(np.mean(np.logaddexp(0, z) - data.t[:, 0] * z))
    gt = ground_truth("logistic", data.x, data.t)
    # Newton converges quadratically to the optimum; L-BFGS stops at its tolerance, which leaves
    # the loss (flat at the optimum: error ∝ the square of the weights' error) within ~1e-9.
    assert gt["finding"] is None
    assert gt["optimal_loss"] <= sklearn_loss * (1 + 1e-12)
    assert gt["optimal_loss"] == pytest.approx(sklearn_loss, rel=1e-8)


def test_separable_breast_cancer_trains_and_says_there_is_no_optimum(tmp_path, capsys):
    bunch = datasets.load_breast_cancer()
    write_csv(tmp_path / "cancer.csv", bunch, "diagnosis", delimiter=";", labels=list(bunch.target_names))
    features = ",".join(n.replace(" ", "_") for n in bunch.feature_names)
    out = tmp_path / "r.json"
    code = cli.main(["--task", "logistic", "--data", str(tmp_path / "cancer.csv"), "--target", "diagnosis",
                     "--features", features, "--frameworks", "numpy,jax", "--mode", "compiled", "--device", "cpu",
                     "--repeat", "1", "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(out.read_text())
    assert report["ground_truth"]["optimal_loss"] is None and report["ground_truth"]["finding"] == SEPARABLE
    assert all(r["status"] == "ok" and r.get("parity_ok", True) for r in report["runs"])
    assert "separable" in captured.out
    assert "Warning" not in captured.err and "overflow" not in captured.err


def test_wine_softmax_parity_and_accuracy(tmp_path):
    bunch = datasets.load_wine()
    write_csv(tmp_path / "wine.csv", bunch, "cultivar", labels=["a", "b", "c"])
    features = [n.replace(" ", "_").replace("(", "").replace(")", "") for n in bunch.feature_names]
    data = load_dataset(TASKS["softmax"], str(tmp_path / "wine.csv"), "cultivar", features=features)
    problem = build_problem(TASKS["softmax"], data, default_sizes(TASKS["softmax"], data), steps=300)
    ref = reference(problem)
    accuracy = float(np.mean(ref.predictions.argmax(axis=1) == data.t.argmax(axis=1)))
    assert accuracy >= 0.97  # wine is nearly separable by a linear model; scikit-learn's fit reaches 1.0
    for name in ("jax", "torch"):
        if name in LOADED:
            assert_matches(LOADED[name].prepare(problem, "compiled", "cpu")(), ref, "float64", tolerance("float64"))


def test_quasi_separated_classes_have_no_finite_optimum_either():
    """Two rows share x = 1 with different labels, so no line separates the classes strictly,
    but every other row is separated at x = 1: the loss still falls as the weights grow."""
    x = np.array([[0.0], [1.0], [1.0], [2.0], [-1.0], [3.0]])
    t = np.array([[0.0], [0.0], [1.0], [1.0], [0.0], [1.0]])
    gt = ground_truth("logistic", x, t)
    assert gt["optimal_loss"] is None and gt["finding"] == NEARLY_SEPARABLE


def test_collinear_features_still_have_their_optimum():
    """A feature repeated (b = 2a) makes the Hessian singular without any separation: the
    optimum is the one without the copy."""
    rng = np.random.RandomState(0)
    a = rng.randn(200, 1)
    t = (a[:, 0] + rng.randn(200) > 0).astype(float)[:, None]
    alone = ground_truth("logistic", a, t)
    doubled = ground_truth("logistic", np.hstack([a, 2 * a]), t)
    assert alone["finding"] is None and doubled["finding"] is None
    assert doubled["optimal_loss"] == pytest.approx(alone["optimal_loss"], rel=1e-12)
