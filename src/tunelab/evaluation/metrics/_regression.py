"""Regression metrics, equal to their ``sklearn.metrics`` counterparts.

Every metric reduces per-output errors with ``np.average`` over samples and then
combines outputs according to ``multioutput``.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

from ._validation import UndefinedMetricWarning, check_lengths, check_weights

MultiOutput = Literal["raw_values", "uniform_average", "variance_weighted"] | np.ndarray | list
_MULTIOUTPUT = ("raw_values", "uniform_average", "variance_weighted")


def _float_dtype(*arrays: np.ndarray | None) -> np.dtype:
    floats = [a.dtype for a in arrays if a is not None and a.dtype.kind == "f"]
    return np.result_type(*floats) if floats else np.dtype(np.float64)


def check_regression(
    y_true: Any, y_pred: Any, sample_weight: Any, multioutput: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Any]:
    """Validate targets as ``(n_samples, n_outputs)`` float arrays of one dtype.

    Raises:
        ValueError: on mismatched shapes, non-finite values or a bad ``multioutput``.
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    w = None if sample_weight is None else np.asarray(sample_weight)
    for arr, name in ((yt, "y_true"), (yp, "y_pred")):
        if arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2):
            raise ValueError(
                f"{name} must be a 1-d or 2-d numeric array, got {arr.dtype} {arr.shape}"
            )
    dtype = _float_dtype(yt, yp, w)
    yt, yp = yt.astype(dtype, copy=False), yp.astype(dtype, copy=False)
    n = check_lengths(yt, yp)
    if n == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if not (np.isfinite(yt).all() and np.isfinite(yp).all()):
        raise ValueError("Input contains NaN or infinity.")
    weights = check_weights(w, n)
    if weights is not None:
        weights = weights.astype(dtype, copy=False)
    yt = yt.reshape(n, -1)
    yp = yp.reshape(n, -1)
    if yt.shape[1] != yp.shape[1]:
        raise ValueError(
            f"y_true and y_pred have different number of output ({yt.shape[1]}!={yp.shape[1]})"
        )
    return yt, yp, weights, _check_multioutput(multioutput, yt.shape[1])


def _check_multioutput(multioutput: Any, n_outputs: int) -> Any:
    if isinstance(multioutput, str):
        if multioutput not in _MULTIOUTPUT:
            raise ValueError(
                f"Allowed 'multioutput' string values are {_MULTIOUTPUT}. "
                f"You provided multioutput={multioutput!r}"
            )
        return multioutput
    if multioutput is None:
        return None
    weights = np.asarray(multioutput, dtype=np.float64)
    if n_outputs == 1:
        raise ValueError("Custom weights are useful only in multi-output cases.")
    if weights.shape != (n_outputs,):
        raise ValueError(
            f"There must be equally many custom weights ({weights.shape[0]}) as outputs "
            f"({n_outputs})."
        )
    return weights


def _combine(output_errors: np.ndarray, multioutput: Any) -> float | np.ndarray:
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return output_errors
        multioutput = None
    return float(np.average(output_errors, weights=multioutput))


def mean_absolute_error(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    multioutput: MultiOutput = "uniform_average",
) -> float | np.ndarray:
    """Mean absolute error.

    Args:
        y_true: targets, shape (n_samples,) or (n_samples, n_outputs).
        y_pred: predictions of the same shape.
        sample_weight: optional per-sample weights.
        multioutput: "raw_values" (per output), "uniform_average" or output weights.
    """
    yt, yp, w, multioutput = check_regression(y_true, y_pred, sample_weight, multioutput)
    return _combine(np.average(np.abs(yp - yt), weights=w, axis=0), multioutput)


def mean_squared_error(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    multioutput: MultiOutput = "uniform_average",
) -> float | np.ndarray:
    """Mean squared error. Arguments are those of :func:`mean_absolute_error`."""
    yt, yp, w, multioutput = check_regression(y_true, y_pred, sample_weight, multioutput)
    return _combine(np.average((yt - yp) ** 2, weights=w, axis=0), multioutput)


def root_mean_squared_error(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    multioutput: MultiOutput = "uniform_average",
) -> float | np.ndarray:
    """Square root of the mean squared error, per output before averaging outputs.

    Arguments are those of :func:`mean_absolute_error`.
    """
    yt, yp, w, multioutput = check_regression(y_true, y_pred, sample_weight, multioutput)
    return _combine(np.sqrt(np.average((yt - yp) ** 2, weights=w, axis=0)), multioutput)


def mean_absolute_percentage_error(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    multioutput: MultiOutput = "uniform_average",
) -> float | np.ndarray:
    """Mean of ``|y_pred - y_true| / max(|y_true|, eps)`` (a fraction, not percent).

    Arguments are those of :func:`mean_absolute_error`.
    """
    yt, yp, w, multioutput = check_regression(y_true, y_pred, sample_weight, multioutput)
    return _combine(np.average(absolute_percentage_errors(yt, yp), weights=w, axis=0), multioutput)


def absolute_percentage_errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample ``|y_pred - y_true| / max(|y_true|, float64 eps)``."""
    eps = np.asarray(np.finfo(np.float64).eps, dtype=y_true.dtype)
    return np.abs(y_pred - y_true) / np.maximum(np.abs(y_true), eps)


def median_absolute_error(
    y_true: Any,
    y_pred: Any,
    *,
    multioutput: MultiOutput = "uniform_average",
    sample_weight: Any = None,
) -> float | np.ndarray:
    """Median absolute error (weighted median when ``sample_weight`` is given).

    Arguments are those of :func:`mean_absolute_error`.
    """
    yt, yp, w, multioutput = check_regression(y_true, y_pred, sample_weight, multioutput)
    errors = np.abs(yp - yt)
    if w is None:
        output_errors = np.median(errors, axis=0)
    else:
        output_errors = np.array([weighted_median(errors[:, j], w) for j in range(errors.shape[1])])
    return _combine(output_errors, multioutput)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted median averaging the two middle values on an exact tie of weight.

    Follows scikit-learn's ``_weighted_percentile(..., average=True)``: the first
    sorted value whose cumulative weight reaches half the total; when it reaches it
    exactly, the mean with the next value of non-zero weight.
    """
    if np.all(weights == 0):
        return float("nan")
    order = np.argsort(values)
    sorted_values = values[order]
    sorted_weights = weights[order]
    cdf = np.cumsum(sorted_weights)
    half = 0.5 * cdf[-1]
    last = values.shape[0] - 1
    i = min(int(np.searchsorted(cdf, half)), last)
    if cdf[i] - half > np.finfo(values.dtype).eps:
        return float(sorted_values[i])
    j = min(i + 1, last)
    if sorted_weights[j] == 0:
        nxt = int(np.searchsorted(cdf, cdf[i], side="right"))
        j = i if nxt > last else nxt
    return float((sorted_values[i] + sorted_values[j]) / 2)


def _fraction_explained(
    numerator: np.ndarray, denominator: np.ndarray, multioutput: Any, force_finite: bool
) -> float | np.ndarray:
    nonzero_den = denominator != 0
    if force_finite:
        nonzero_num = numerator != 0
        valid = nonzero_den & nonzero_num
        scores = np.ones(numerator.shape[0], dtype=numerator.dtype)
        scores[valid] = 1 - numerator[valid] / denominator[valid]
        scores[nonzero_num & ~nonzero_den] = 0.0
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - numerator / denominator
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return scores
        weights = None
        if multioutput == "variance_weighted" and nonzero_den.any():
            weights = denominator
    else:
        weights = multioutput
    result = np.average(scores, weights=weights)
    return float(result)


def r2(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    multioutput: MultiOutput = "uniform_average",
    force_finite: bool = True,
) -> float | np.ndarray:
    """Coefficient of determination R².

    Args:
        y_true: targets, shape (n_samples,) or (n_samples, n_outputs).
        y_pred: predictions of the same shape.
        sample_weight: optional per-sample weights.
        multioutput: "raw_values", "uniform_average", "variance_weighted" or weights.
        force_finite: replace NaN / -inf from a constant ``y_true`` by 1.0 or 0.0.

    Returns:
        R² (NaN with a warning for fewer than two samples).
    """
    yt, yp, w, multioutput = check_regression(y_true, y_pred, sample_weight, multioutput)
    if yt.shape[0] < 2:
        warnings.warn(
            "R^2 score is not well-defined with less than two samples.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    weight = 1.0 if w is None else w[:, None]
    numerator = np.sum(weight * (yt - yp) ** 2, axis=0)
    mean = np.average(yt, axis=0, weights=w)
    denominator = np.sum(weight * (yt - mean) ** 2, axis=0)
    return _fraction_explained(numerator, denominator, multioutput, force_finite)


def explained_variance(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    multioutput: MultiOutput = "uniform_average",
    force_finite: bool = True,
) -> float | np.ndarray:
    """Explained variance score ``1 - Var(y_true - y_pred) / Var(y_true)``.

    Arguments are those of :func:`r2`.
    """
    yt, yp, w, multioutput = check_regression(y_true, y_pred, sample_weight, multioutput)
    diff = yt - yp
    diff_mean = np.average(diff, weights=w, axis=0)
    numerator = np.average((yt - yp - diff_mean) ** 2, weights=w, axis=0)
    true_mean = np.average(yt, weights=w, axis=0)
    denominator = np.average((yt - true_mean) ** 2, weights=w, axis=0)
    return _fraction_explained(numerator, denominator, multioutput, force_finite)
