"""Exact, fast evaluation metrics (values equal to ``sklearn.metrics``).

Label metrics are computed from one confusion matrix, ranking metrics from one
sort of the scores; :func:`compute_metrics` shares that work across many metrics
and :func:`get_metric` resolves scikit-learn scorer names.
"""

from __future__ import annotations

from ._classification import (
    accuracy,
    balanced_accuracy,
    brier_score,
    cohen_kappa,
    confusion_matrix,
    f1,
    fbeta,
    log_loss,
    matthews_corrcoef,
    precision,
    recall,
)
from ._confusion import ClassificationStats
from ._ranking import BinaryRanking, average_precision, roc_auc, top_k_accuracy
from ._registry import (
    EstimatorMetric,
    Metric,
    compute_metrics,
    get_metric,
    metric_names,
)
from ._regression import (
    explained_variance,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    median_absolute_error,
    r2,
    root_mean_squared_error,
)

__all__ = [
    "BinaryRanking",
    "ClassificationStats",
    "EstimatorMetric",
    "Metric",
    "accuracy",
    "average_precision",
    "balanced_accuracy",
    "brier_score",
    "cohen_kappa",
    "compute_metrics",
    "confusion_matrix",
    "explained_variance",
    "f1",
    "fbeta",
    "get_metric",
    "log_loss",
    "matthews_corrcoef",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "median_absolute_error",
    "metric_names",
    "precision",
    "r2",
    "recall",
    "roc_auc",
    "root_mean_squared_error",
    "top_k_accuracy",
]
