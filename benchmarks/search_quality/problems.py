"""Benchmark problems: synthetic test functions and Bayesmark-style model tuning.

Every problem is minimised. Its space uses tunelab's declarative dict form
(``when`` marks conditional parameters), which the drivers translate for each
library.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

Params = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """A minimisation problem: a space, an objective and its known optimum (if any)."""

    name: str
    space: dict[str, dict[str, Any]]
    func: Callable[[Params], float]
    optimum: float | None = None
    kind: str = "synthetic"

    def __call__(self, params: Params) -> float:
        return float(self.func(params))


def _box(prefix: str, dims: int, low: float, high: float) -> dict[str, dict[str, Any]]:
    return {f"{prefix}{i}": {"float": [low, high]} for i in range(dims)}


def _vec(params: Params, prefix: str, dims: int) -> np.ndarray:
    return np.array([params[f"{prefix}{i}"] for i in range(dims)])


def branin(p: Params) -> float:
    x1, x2 = p["x0"], p["x1"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: Params) -> float:
    x = _vec(p, "x", 6)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock(p: Params, dims: int = 10) -> float:
    x = _vec(p, "x", dims)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley(p: Params, dims: int = 10) -> float:
    x = _vec(p, "x", dims)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.mean(x**2)))
        - np.exp(np.mean(np.cos(2 * np.pi * x)))
        + 20
        + math.e
    )


def levy(p: Params, dims: int = 10) -> float:
    w = 1 + (_vec(p, "x", dims) - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


_OFFSETS = {"a": 1.0, "b": 0.0, "c": 0.6, "d": 2.0}


def mixed(p: Params) -> float:
    """Float, int, log-int and categorical parameters interacting mildly."""
    return (
        (p["x"] - 1.3) ** 2
        + (p["n"] - 7) ** 2 / 10
        + _OFFSETS[p["c"]]
        + (math.log10(p["k"]) - 2.2) ** 2
        + 0.3 * (p["x"] - 1.3) * (p["n"] - 7) / 5
    )


def conditional(p: Params) -> float:
    """A categorical chooses the branch; each branch has its own parameters and optimum."""
    if p["branch"] == "quad":
        return 0.5 + (p["a"] - 0.3) ** 2 + (p["b"] + 1.1) ** 2
    if p["branch"] == "wave":
        return 1.0 - math.cos(3 * (p["w"] - 0.7)) + abs(p["q"] - 4) / 4
    return 0.2 + abs(p["z"] - 2.5)


SYNTHETIC = [
    Problem("branin", _box("x", 1, -5, 10) | {"x1": {"float": [0, 15]}}, branin, 0.397887),
    Problem("hartmann6", _box("x", 6, 0, 1), hartmann6, -3.32237),
    Problem("rosenbrock10", _box("x", 10, -5, 10), rosenbrock, 0.0),
    Problem("ackley10", _box("x", 10, -32.768, 32.768), ackley, 0.0),
    Problem("levy10", _box("x", 10, -10, 10), levy, 0.0),
    Problem(
        "mixed",
        {
            "x": {"float": [-5, 5]},
            "n": {"int": [0, 20]},
            "c": {"categorical": ["a", "b", "c", "d"]},
            "k": {"int": [1, 10000], "log": True},
        },
        mixed,
        float(np.min([mixed({"x": 1.3, "n": 7, "c": "b", "k": 158})])),
    ),
    Problem(
        "conditional",
        {
            "branch": {"categorical": ["quad", "wave", "abs"]},
            "a": {"float": [-2, 2], "when": {"branch": "quad"}},
            "b": {"float": [-2, 2], "when": {"branch": "quad"}},
            "w": {"float": [-3, 3], "when": {"branch": "wave"}},
            "q": {"int": [0, 10], "when": {"branch": "wave"}},
            "z": {"float": [0, 10], "when": {"branch": "abs"}},
        },
        conditional,
        0.0,
    ),
]


# -- Bayesmark-style real problems ----------------------------------------------------------


@cache
def _dataset(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }[name]
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y, name != "diabetes"


_MODELS: dict[str, tuple[Callable[[Params, bool], Any], dict[str, dict[str, Any]]]] = {}


def _model(name: str, space: dict[str, dict[str, Any]]) -> Callable[[Any], Any]:
    def register(build: Callable[[Params, bool], Any]) -> Callable[[Params, bool], Any]:
        _MODELS[name] = (build, space)
        return build

    return register


@_model(
    "DT",
    {
        "max_depth": {"int": [1, 15]},
        "min_samples_split": {"float": [0.01, 0.9], "log": True},
        "min_samples_leaf": {"float": [0.01, 0.4], "log": True},
        "min_weight_fraction_leaf": {"float": [0.01, 0.5], "log": True},
        "max_features": {"float": [0.01, 0.9], "log": True},
        "min_impurity_decrease": {"float": [0.0, 0.5]},
    },
)
def _dt(p: Params, classify: bool) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeClassifier if classify else DecisionTreeRegressor
    return cls(random_state=0, **p)


@_model(
    "RF",
    {
        "max_depth": {"int": [1, 15]},
        "max_features": {"float": [0.01, 0.9], "log": True},
        "min_samples_split": {"float": [0.01, 0.99], "log": True},
        "min_samples_leaf": {"float": [0.01, 0.49], "log": True},
        "min_weight_fraction_leaf": {"float": [0.01, 0.49], "log": True},
        "min_impurity_decrease": {"float": [0.0, 0.5]},
    },
)
def _rf(p: Params, classify: bool) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    # Bayesmark fixes the forest at 10 trees and tunes the rest.
    cls = RandomForestClassifier if classify else RandomForestRegressor
    return cls(n_estimators=10, random_state=0, **p)


@_model(
    "kNN",
    {"n_neighbors": {"int": [1, 25]}, "p": {"int": [1, 4]}},
)
def _knn(p: Params, classify: bool) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    return (KNeighborsClassifier if classify else KNeighborsRegressor)(**p)


@_model(
    "SVM",
    {
        "C": {"float": [1.0, 1e3], "log": True},
        "gamma": {"float": [1e-4, 1e-3], "log": True},
        "tol": {"float": [1e-5, 1e-1], "log": True},
    },
)
def _svm(p: Params, classify: bool) -> Any:
    from sklearn.svm import SVC, SVR

    return SVC(probability=True, random_state=0, **p) if classify else SVR(**p)


@_model(
    "linear",
    {
        "C": {"float": [1e-2, 1e2], "log": True},
        "tol": {"float": [1e-5, 1e-1], "log": True},
    },
)
def _linear(p: Params, classify: bool) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    if classify:
        return LogisticRegression(max_iter=200, **p)
    return Ridge(alpha=1 / p["C"], tol=p["tol"])


@_model(
    "ada",
    {
        "n_estimators": {"int": [10, 100]},
        "learning_rate": {"float": [1e-4, 1e1], "log": True},
    },
)
def _ada(p: Params, classify: bool) -> Any:
    from sklearn.ensemble import AdaBoostClassifier, AdaBoostRegressor

    return (AdaBoostClassifier if classify else AdaBoostRegressor)(random_state=0, **p)


@_model(
    "MLP",
    {
        "hidden_layer_sizes": {"int": [50, 200]},
        "alpha": {"float": [1e-5, 1e1], "log": True},
        "batch_size": {"int": [10, 250]},
        "learning_rate_init": {"float": [1e-5, 1e-1], "log": True},
        "tol": {"float": [1e-5, 1e-1], "log": True},
    },
)
def _mlp(p: Params, classify: bool) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if classify else MLPRegressor
    return cls(max_iter=40, random_state=0, **p)


@_model(
    "lasso",
    {"alpha": {"float": [1e-4, 1e1], "log": True}, "tol": {"float": [1e-5, 1e-1], "log": True}},
)
def _lasso(p: Params, classify: bool) -> Any:
    from sklearn.linear_model import Lasso

    return Lasso(random_state=0, max_iter=2000, **p)


def _score(model_name: str, data: str, metric: str) -> Callable[[Params], float]:
    build = _MODELS[model_name][0]

    def objective(params: Params) -> float:
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

        X, y, classify = _dataset(data)
        cv = (StratifiedKFold if classify else KFold)(n_splits=3, shuffle=True, random_state=0)
        scoring = {
            "acc": "accuracy",
            "nll": "neg_log_loss",
            "mse": "neg_mean_squared_error",
            "mae": "neg_mean_absolute_error",
        }[metric]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = cross_val_score(build(params, classify), X, y, cv=cv, scoring=scoring)
        value = -float(np.mean(scores))
        return value if math.isfinite(value) else 1e9

    return objective


def real_problem(model: str, data: str, metric: str) -> Problem:
    """A Bayesmark-style problem: tune ``model`` on ``data`` for ``metric`` with 3-fold CV."""
    return Problem(
        f"{model}-{data}-{metric}",
        _MODELS[model][1],
        _score(model, data, metric),
        None,
        kind="real",
    )


REAL = [
    real_problem("DT", "breast", "acc"),
    real_problem("RF", "wine", "acc"),
    real_problem("RF", "diabetes", "mae"),
    real_problem("kNN", "wine", "nll"),
    real_problem("SVM", "digits", "acc"),
    real_problem("linear", "iris", "nll"),
    real_problem("ada", "wine", "acc"),
    real_problem("MLP", "breast", "nll"),
    real_problem("lasso", "diabetes", "mse"),
    real_problem("DT", "diabetes", "mae"),
    real_problem("kNN", "diabetes", "mse"),
    real_problem("SVM", "diabetes", "mae"),
]


# -- Holdout problems ------------------------------------------------------------------------
# Kept out of SYNTHETIC and REAL so their tables stay comparable with earlier runs; they are
# where the samplers' rules are checked on problems they were not designed on.


def styblinski_tang(p: Params, dims: int = 8) -> float:
    x = _vec(p, "x", dims)
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def michalewicz(p: Params, dims: int = 5, m: int = 10) -> float:
    x = _vec(p, "x", dims)
    i = np.arange(1, dims + 1)
    return float(-np.sum(np.sin(x) * np.sin(i * x**2 / math.pi) ** (2 * m)))


def three_branches(p: Params) -> float:
    """A model family picks the branch; the best branch looks worst at random.

    "linear" is flat and fair everywhere (random samples score 0.33-0.55), "tree" has a
    broad optimum of 0.2 among poor corners, and "kernel" is poor in most of its space
    (median 0.81) but slopes towards a diagonal ridge in (log C, log gamma), as an RBF
    SVM's accuracy does, that reaches 0.05.
    """
    if p["model"] == "linear":
        reg = math.log10(p["reg"])
        return 0.33 + 0.2 * ((reg + 1.0) / 5.0) ** 2 + 0.02 * abs(math.log10(p["tol"]) + 3)
    if p["model"] == "tree":
        depth, leaf, frac = p["depth"], math.log10(p["leaf"]), p["frac"]
        return (
            0.2 + 0.5 * ((depth - 7) / 13) ** 2 + 0.15 * (leaf - 0.8) ** 2 + 0.3 * (frac - 0.6) ** 2
        )
    log_c, log_gamma = math.log10(p["C"]), math.log10(p["gamma"])
    along, across = (log_c + log_gamma + 1.0) / 2.0, (log_c - log_gamma - 3.0) / 6.0
    ridge = math.exp(-(across**2) / 0.1 - along**2 / 3.0)
    return 0.05 + 0.9 * (1.0 - ridge) + 0.01 * (p["degree"] - 3) ** 2


HOLDOUT = [
    Problem("styblinski_tang8", _box("x", 8, -5, 5), styblinski_tang, -39.16616570377142 * 8),
    Problem("michalewicz5", _box("x", 5, 0, math.pi), michalewicz, -4.687658),
    Problem(
        "three_branches",
        {
            "model": {"categorical": ["linear", "tree", "kernel"]},
            "reg": {"float": [1e-4, 1e2], "log": True, "when": {"model": "linear"}},
            "tol": {"float": [1e-6, 1e-1], "log": True, "when": {"model": "linear"}},
            "depth": {"int": [1, 20], "when": {"model": "tree"}},
            "leaf": {"int": [1, 100], "log": True, "when": {"model": "tree"}},
            "frac": {"float": [0.1, 1.0], "when": {"model": "tree"}},
            "C": {"float": [1e-3, 1e3], "log": True, "when": {"model": "kernel"}},
            "gamma": {"float": [1e-5, 1e1], "log": True, "when": {"model": "kernel"}},
            "degree": {"int": [1, 5], "when": {"model": "kernel"}},
        },
        three_branches,
        0.05,
    ),
]

PROBLEMS = {p.name: p for p in SYNTHETIC + REAL + HOLDOUT}
