"""scikit-learn's metric functions under their scikit-learn names.

``from sklearn.metrics import accuracy_score, f1_score`` becomes
``from tunelab.metrics import accuracy_score, f1_score``: same signatures, equal
values, computed by tunelab's faster implementations (one confusion matrix, one
sort of the scores). Every other public name of :mod:`sklearn.metrics`
(clustering scores, curves, ``make_scorer``...) is scikit-learn's own object,
so code that imports a mix keeps working; :data:`NATIVE` lists the functions
tunelab computes itself.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from tunelab.evaluation.metrics import (
    accuracy,
    average_precision,
    balanced_accuracy,
    brier_score,
    cohen_kappa,
    confusion_matrix,
    explained_variance,
    f1,
    fbeta,
    matthews_corrcoef,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    median_absolute_error,
    precision,
    r2,
    recall,
    roc_auc,
    root_mean_squared_error,
    top_k_accuracy,
)
from tunelab.evaluation.metrics import log_loss as _log_loss
from tunelab.evaluation.metrics._classification import Labels

accuracy_score = accuracy
balanced_accuracy_score = balanced_accuracy
precision_score = precision
recall_score = recall
f1_score = f1
fbeta_score = fbeta
cohen_kappa_score = cohen_kappa
brier_score_loss = brier_score
roc_auc_score = roc_auc
average_precision_score = average_precision
top_k_accuracy_score = top_k_accuracy
r2_score = r2
explained_variance_score = explained_variance


def log_loss(
    y_true: Any,
    y_proba: Any = None,
    *,
    normalize: bool = True,
    sample_weight: Any = None,
    labels: Labels = None,
    y_pred: Any = None,
) -> float:
    """Cross-entropy loss of predicted probabilities, as ``sklearn.metrics.log_loss``.

    scikit-learn 1.9 renamed the second argument from ``y_pred`` to
    ``y_proba``; both names are accepted here, the old one with the same
    ``FutureWarning``.

    Args:
        y_true: True labels.
        y_proba: Predicted probabilities, ``(n,)`` for the positive class or
            ``(n, n_classes)``.
        normalize: Mean per sample (True) or sum (False).
        sample_weight: Optional per-sample weights.
        labels: All class labels, when ``y_true`` does not show every class.
        y_pred: Deprecated name of ``y_proba``.

    Returns:
        The loss (lower is better).
    """
    if y_pred is not None:
        if y_proba is not None:
            raise ValueError("give y_proba or its deprecated name y_pred, not both")
        warnings.warn(
            "log_loss: y_pred was renamed to y_proba (as in scikit-learn 1.9)",
            FutureWarning,
            stacklevel=2,
        )
        y_proba = y_pred
    if y_proba is None:
        raise TypeError("log_loss() missing the predicted probabilities y_proba")
    return _log_loss(
        y_true, y_proba, normalize=normalize, sample_weight=sample_weight, labels=labels
    )


NATIVE = (
    "accuracy_score",
    "average_precision_score",
    "balanced_accuracy_score",
    "brier_score_loss",
    "cohen_kappa_score",
    "confusion_matrix",
    "explained_variance_score",
    "f1_score",
    "fbeta_score",
    "log_loss",
    "matthews_corrcoef",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "median_absolute_error",
    "precision_score",
    "r2_score",
    "recall_score",
    "roc_auc_score",
    "root_mean_squared_error",
    "top_k_accuracy_score",
)
"""The scikit-learn metric names computed by tunelab itself."""


def __getattr__(name: str) -> Any:
    # The rest of sklearn.metrics, so that one import line serves a whole script.
    sklearn_metrics = importlib.import_module("sklearn.metrics")
    if name in getattr(sklearn_metrics, "__all__", ()):
        return getattr(sklearn_metrics, name)
    raise AttributeError(f"module 'tunelab.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    sklearn_metrics = importlib.import_module("sklearn.metrics")
    return sorted({*globals(), *getattr(sklearn_metrics, "__all__", ())})


# The rest of sklearn.metrics resolves through __getattr__.
__all__ = [
    "NATIVE",
    "accuracy_score",
    "average_precision_score",
    "balanced_accuracy_score",
    "brier_score_loss",
    "cohen_kappa_score",
    "confusion_matrix",
    "explained_variance_score",
    "f1_score",
    "fbeta_score",
    "log_loss",
    "matthews_corrcoef",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "median_absolute_error",
    "precision_score",
    "r2_score",
    "recall_score",
    "roc_auc_score",
    "root_mean_squared_error",
    "top_k_accuracy_score",
]
