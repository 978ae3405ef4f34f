"""`tunelab.metrics` is a drop-in for `sklearn.metrics`: same names, signatures and values."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm

import tunelab.metrics as tm

# scikit-learn 1.9 renamed log_loss's y_pred to y_proba and keeps y_pred as a deprecated keyword.
_SIGNATURE_EXEMPT = {"log_loss"}


@pytest.mark.parametrize("name", [n for n in tm.NATIVE if n not in _SIGNATURE_EXEMPT])
def test_native_functions_have_scikit_learns_signature(name: str) -> None:
    ours = inspect.signature(getattr(tm, name)).parameters.values()
    theirs = inspect.signature(getattr(skm, name)).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [
        (p.name, p.kind, p.default) for p in theirs
    ]


def _classification(rng: np.random.Generator, n: int = 500) -> dict[str, Any]:
    y = rng.integers(0, 2, n)
    proba = np.clip(0.3 * y + 0.7 * rng.random(n), 1e-6, 1 - 1e-6)
    return {"y": y, "pred": (proba > 0.5).astype(int), "proba": proba, "w": rng.random(n)}


CLASSIFICATION_CALLS = [
    ("accuracy_score", lambda d: ((d["y"], d["pred"]), {"sample_weight": d["w"]})),
    ("balanced_accuracy_score", lambda d: ((d["y"], d["pred"]), {})),
    ("precision_score", lambda d: ((d["y"], d["pred"]), {})),
    ("recall_score", lambda d: ((d["y"], d["pred"]), {"average": "macro"})),
    ("f1_score", lambda d: ((d["y"], d["pred"]), {"sample_weight": d["w"]})),
    ("fbeta_score", lambda d: ((d["y"], d["pred"]), {"beta": 0.5})),
    ("cohen_kappa_score", lambda d: ((d["y"], d["pred"]), {})),
    ("matthews_corrcoef", lambda d: ((d["y"], d["pred"]), {})),
    ("confusion_matrix", lambda d: ((d["y"], d["pred"]), {"normalize": "true"})),
    ("roc_auc_score", lambda d: ((d["y"], d["proba"]), {})),
    ("average_precision_score", lambda d: ((d["y"], d["proba"]), {"sample_weight": d["w"]})),
    ("log_loss", lambda d: ((d["y"], d["proba"]), {})),
    ("brier_score_loss", lambda d: ((d["y"], d["proba"]), {})),
]


@pytest.mark.parametrize(
    ("name", "call"), CLASSIFICATION_CALLS, ids=[c[0] for c in CLASSIFICATION_CALLS]
)
def test_classification_values_equal_scikit_learns(name: str, call: Any) -> None:
    data = _classification(np.random.default_rng(7))
    args, kwargs = call(data)
    np.testing.assert_allclose(
        getattr(tm, name)(*args, **kwargs), getattr(skm, name)(*args, **kwargs), rtol=1e-12
    )


@pytest.mark.parametrize(
    "name",
    [
        "mean_absolute_error",
        "mean_squared_error",
        "root_mean_squared_error",
        "mean_absolute_percentage_error",
        "median_absolute_error",
        "r2_score",
        "explained_variance_score",
    ],
)
def test_regression_values_equal_scikit_learns(name: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 400)
    pred = y + rng.normal(0, 1, 400)
    np.testing.assert_allclose(getattr(tm, name)(y, pred), getattr(skm, name)(y, pred), rtol=1e-12)


def test_log_loss_accepts_the_deprecated_y_pred_keyword() -> None:
    y, proba = np.array([0, 1, 1, 0]), np.array([0.2, 0.7, 0.9, 0.4])
    with pytest.warns(FutureWarning, match="y_pred was renamed to y_proba"):
        old = tm.log_loss(y, y_pred=proba)
    assert old == pytest.approx(skm.log_loss(y, proba), rel=1e-12)
    with pytest.raises(ValueError, match="not both"):
        tm.log_loss(y, proba, y_pred=proba)


def test_the_rest_of_sklearn_metrics_is_reachable() -> None:
    assert tm.jaccard_score is skm.jaccard_score
    assert tm.make_scorer is skm.make_scorer
    assert "zero_one_loss" in dir(tm)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from tunelab.metrics import accuracy_score, hamming_loss  # noqa: F401
    with pytest.raises(AttributeError, match="no attribute 'not_a_metric'"):
        tm.not_a_metric  # noqa: B018
