"""The best loss a linear model can reach on a task's data, computed apart from any library:
a yardstick for where gradient descent should end.

- `linear`: the least-squares optimum (mean squared error).
- `logistic`: the unpenalised maximum-likelihood optimum, by Newton's method with a line
  search. It exists only when the classes overlap: on separable data (common in real data:
  scikit-learn's breast-cancer set is one) the loss goes to 0 as the weights grow without
  bound. Separation is detected first, by a linear program, and reported instead of a number.
- `digits`: no optimum, but an outside reference: the held-out accuracy of scikit-learn's own
  `MLPClassifier` with the same architecture, trained on the same split.
- other tasks: none is computed.
"""

from __future__ import annotations

import numpy as np

SEPARABLE = "no finite optimum: the classes are separable, the loss goes to 0 as the weights grow"
NEARLY_SEPARABLE = ("no finite optimum found: the classes are nearly separable (the Hessian is singular), "
                    "the loss keeps falling as the weights grow")
# A Hessian whose condition number exceeds this is singular for float64 purposes (1/ε ≈ 4.5e15,
# with room for the rounding of forming it): Newton's step there is noise.
MAX_CONDITION = 1e13


def ground_truth(task_name: str, x: np.ndarray, t: np.ndarray) -> dict | None:
    """{"optimal_loss": float or None, "method": str, "finding": str or None}, or None."""
    x1 = np.hstack([np.ones((x.shape[0], 1)), x])
    if task_name == "linear":
        w, *_ = np.linalg.lstsq(x1, t, rcond=None)
        return {"optimal_loss": float(np.mean((x1 @ w - t) ** 2)), "method": "least squares", "finding": None}
    if task_name == "logistic":
        method = "unpenalised maximum likelihood (Newton)"
        if separable(x1, t[:, 0]):
            return {"optimal_loss": None, "method": method, "finding": SEPARABLE}
        best = logistic_optimum(column_basis(x1), t[:, 0])
        finding = None if best is not None else NEARLY_SEPARABLE
        return {"optimal_loss": best, "method": method, "finding": finding}
    return None


def separable(x1: np.ndarray, labels: np.ndarray) -> bool:
    """Whether some hyperplane puts every class-1 row strictly on one side and every class-0
    row on the other: the linear program s·(x1 @ w) ≥ 1 (s = ±1) is feasible."""
    from scipy.optimize import linprog

    s = 2 * labels - 1
    result = linprog(np.zeros(x1.shape[1]), A_ub=-s[:, None] * x1, b_ub=-np.ones(len(s)),
                     bounds=(None, None), method="highs")
    return result.status == 0


def column_basis(x1: np.ndarray) -> np.ndarray:
    """x1 rewritten in a basis of its column space: the same linear models (the same losses),
    without the directions that repeated or collinear features add, which would make every
    Hessian singular whether or not the classes separate."""
    u, s, _ = np.linalg.svd(x1, full_matrices=False)
    rank = int(np.sum(s > s[0] * 1e-10))
    return u[:, :rank] * s[:rank]


def _log_loss(x1: np.ndarray, labels: np.ndarray, w: np.ndarray) -> float:
    z = x1 @ w
    return float(np.mean(np.logaddexp(0, z) - labels * z))  # softplus(z) − t z, no overflow


def logistic_optimum(x1: np.ndarray, labels: np.ndarray, max_iter: int = 100) -> float | None:
    """Newton's method with a backtracking line search; None if the Hessian is singular or
    the iteration does not settle (quasi-separated classes)."""
    w = np.zeros(x1.shape[1])
    value = _log_loss(x1, labels, w)
    for _ in range(max_iter):
        p = np.exp(-np.logaddexp(0, -(x1 @ w)))  # sigmoid without overflow
        gradient = x1.T @ (p - labels) / len(labels)
        hessian = x1.T @ (x1 * (p * (1 - p))[:, None]) / len(labels)
        if np.linalg.cond(hessian) > MAX_CONDITION:
            return None
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-10:
            candidate = _log_loss(x1, labels, w - scale * step)
            if candidate <= value:
                break
            scale /= 2
        w = w - scale * step
        value = _log_loss(x1, labels, w)
        if np.max(np.abs(scale * step)) < 1e-13 * max(1.0, np.max(np.abs(w))):
            return value
    return value if np.max(np.abs(gradient)) < 1e-10 else None


def mlp_reference(x: np.ndarray, t: np.ndarray, x_eval: np.ndarray, t_eval: np.ndarray, hidden: tuple[int, ...],
                  activation: str) -> dict:
    """scikit-learn's MLPClassifier, its defaults (Adam, L2 1e-4, early stopping off) but the
    architecture, trained on the same rows and scored on the same held-out ones."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    named = {"sigmoid": "logistic"}.get(activation, activation)  # scikit-learn's name for the sigmoid
    model = MLPClassifier(hidden_layer_sizes=hidden, activation=named, max_iter=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, t.argmax(axis=1))
    accuracy = float(np.mean(model.predict(x_eval) == t_eval.argmax(axis=1)))
    return {"method": f"scikit-learn MLPClassifier{list(hidden)} {activation}, Adam, its defaults (outside reference)",
            "accuracy": accuracy}
