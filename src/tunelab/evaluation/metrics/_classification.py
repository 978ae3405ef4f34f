"""Classification metrics on predicted labels and on predicted probabilities.

Label metrics build one :class:`ClassificationStats` (a confusion matrix over the
union of labels) and evaluate a kernel from ``_confusion`` on it. Values equal
``sklearn.metrics`` to floating-point rounding, including its edge-case rules.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ._confusion import (
    Average,
    ClassificationStats,
    PRFSpec,
    accuracy_from_confusion,
    balanced_accuracy_from_confusion,
    kappa_from_confusion,
    matthews_from_confusion,
    select_labels,
)
from ._validation import (
    as_1d,
    check_lengths,
    check_weights,
    codes_in,
    encode_labels,
    label_index,
)

Labels = Sequence[Any] | np.ndarray | None


def _mean(values: np.ndarray, weights: np.ndarray | None, normalize: bool = True) -> float:
    """scikit-learn's ``_average``: weighted mean, or sum / dot when not normalised."""
    if normalize:
        return float(np.average(values, weights=weights))
    if weights is None:
        return float(np.sum(values))
    return float(np.dot(values, weights))


def accuracy(
    y_true: Any, y_pred: Any, *, normalize: bool = True, sample_weight: Any = None
) -> float:
    """Fraction of samples whose predicted label equals the true label.

    Args:
        y_true: true labels, shape (n_samples,).
        y_pred: predicted labels, shape (n_samples,).
        normalize: return the fraction (True) or the (weighted) number of hits.
        sample_weight: optional per-sample weights.

    Returns:
        The accuracy, as ``sklearn.metrics.accuracy_score``.
    """
    yt, yp = as_1d(y_true, "y_true"), as_1d(y_pred, "y_pred")
    if yt.dtype.kind in "biu" and yp.dtype.kind in "biu" and yt.size:
        # Integer labels need no encoding: compare directly (one pass).
        n = check_lengths(yt, yp)
        return _mean(yt == yp, check_weights(sample_weight, n), normalize)
    stats = ClassificationStats.from_predictions(yt, yp, sample_weight=sample_weight)
    return float(accuracy_from_confusion(stats.cm, normalize))


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Labels = None,
    sample_weight: Any = None,
    normalize: Literal["true", "pred", "all"] | None = None,
) -> np.ndarray:
    """Confusion matrix: entry ``[i, j]`` counts true label i predicted as label j.

    Args:
        y_true: true labels.
        y_pred: predicted labels.
        labels: labels indexing the matrix (default: sorted union of both inputs);
            samples with a label outside ``labels`` are ignored.
        sample_weight: optional per-sample weights.
        normalize: divide by row sums ("true"), column sums ("pred") or the total ("all").

    Returns:
        ``(n_labels, n_labels)`` array, int64 for unweighted or integer-weighted counts.
    """
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be one of None, 'true', 'pred', 'all'; got {normalize!r}")
    stats = ClassificationStats.from_predictions(y_true, y_pred, sample_weight=sample_weight)
    cm = stats.cm
    if labels is not None:
        labels = np.asarray(labels)
        if labels.size == 0:
            raise ValueError("'labels' should contain at least one label.")
        idx = label_index(stats.classes, labels)
        found = idx[idx >= 0]
        if not stats.in_true[found].any():
            raise ValueError("At least one label specified must be in y_true")
        cm = select_labels(cm, idx)
    if normalize is not None:
        with np.errstate(all="ignore"):
            if normalize == "true":
                cm = cm / cm.sum(axis=1, keepdims=True)
            elif normalize == "pred":
                cm = cm / cm.sum(axis=0, keepdims=True)
            else:
                cm = cm / cm.sum()
        cm = np.nan_to_num(cm)
    if cm.shape == (1, 1):
        warnings.warn(
            "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix "
            "to have the correct shape, use the 'labels' parameter to pass all known labels.",
            UserWarning,
            stacklevel=2,
        )
    return cm


def balanced_accuracy(
    y_true: Any, y_pred: Any, *, sample_weight: Any = None, adjusted: bool = False
) -> float:
    """Mean recall over the classes present in ``y_true``.

    Args:
        y_true: true labels.
        y_pred: predicted labels.
        sample_weight: optional per-sample weights.
        adjusted: rescale so that chance level is 0 and a perfect score is 1.
    """
    stats = ClassificationStats.from_predictions(y_true, y_pred, sample_weight=sample_weight)
    return float(balanced_accuracy_from_confusion(stats.cm, adjusted, warn=True))


def _prf(
    metric: Literal["precision", "recall", "f"],
    y_true: Any,
    y_pred: Any,
    *,
    beta: float = 1.0,
    labels: Labels = None,
    pos_label: Any = 1,
    average: Average = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> float | np.ndarray:
    stats = ClassificationStats.from_predictions(y_true, y_pred, sample_weight=sample_weight)
    spec = PRFSpec.build(
        stats.classes,
        beta=beta,
        labels=labels,
        pos_label=pos_label,
        average=average,
        zero_division=zero_division,
    )
    value = spec.compute(stats.cm, metric, warn=True)
    return value if average is None else float(value)


def precision(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Labels = None,
    pos_label: Any = 1,
    average: Average = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> float | np.ndarray:
    """Precision ``tp / (tp + fp)``, as ``sklearn.metrics.precision_score``.

    Args:
        y_true: true labels.
        y_pred: predicted labels.
        labels: labels to include (default: all labels present in the data).
        pos_label: the positive class when ``average="binary"``.
        average: "binary", "micro", "macro", "weighted" (by support) or None for
            per-label scores.
        sample_weight: optional per-sample weights.
        zero_division: value for an empty denominator: "warn" (0 with a warning),
            0, 1 or np.nan.

    Returns:
        A float, or an array of per-label scores when ``average`` is None.
    """
    return _prf(
        "precision",
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def recall(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Labels = None,
    pos_label: Any = 1,
    average: Average = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> float | np.ndarray:
    """Recall ``tp / (tp + fn)``, as ``sklearn.metrics.recall_score``.

    Arguments are those of :func:`precision`.
    """
    return _prf(
        "recall",
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def fbeta(
    y_true: Any,
    y_pred: Any,
    *,
    beta: float,
    labels: Labels = None,
    pos_label: Any = 1,
    average: Average = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> float | np.ndarray:
    """F-beta score, the weighted harmonic mean of precision and recall.

    ``beta > 1`` favours recall, ``beta < 1`` precision. Other arguments are those
    of :func:`precision`; values equal ``sklearn.metrics.fbeta_score``.
    """
    return _prf(
        "f",
        y_true,
        y_pred,
        beta=beta,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def f1(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Labels = None,
    pos_label: Any = 1,
    average: Average = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> float | np.ndarray:
    """F1 score, the harmonic mean of precision and recall (``fbeta`` with beta=1).

    Arguments are those of :func:`precision`.
    """
    return fbeta(
        y_true,
        y_pred,
        beta=1.0,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def matthews_corrcoef(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Matthews correlation coefficient (multiclass generalisation), in [-1, 1].

    Returns 0.0 when it is undefined (a constant ``y_true`` or ``y_pred``).
    """
    stats = ClassificationStats.from_predictions(y_true, y_pred, sample_weight=sample_weight)
    return float(matthews_from_confusion(stats.cm))


def cohen_kappa(
    y1: Any,
    y2: Any,
    *,
    labels: Labels = None,
    weights: Literal["linear", "quadratic"] | None = None,
    sample_weight: Any = None,
    replace_undefined_by: float = np.nan,
) -> float:
    """Cohen's kappa: agreement between two labelings corrected for chance.

    Args:
        y1: labels from the first annotator (or the truth).
        y2: labels from the second annotator (or the predictions).
        labels: labels to index the confusion matrix (default: union of both).
        weights: None, "linear" or "quadratic" disagreement weights.
        sample_weight: optional per-sample weights.
        replace_undefined_by: value returned (with a warning) when kappa is undefined.
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    stats = ClassificationStats.from_predictions(y1, y2, sample_weight=sample_weight)
    cm = stats.cm
    if labels is not None:
        labels = np.asarray(labels)
        if labels.size == 0:
            raise ValueError("'labels' should contain at least one label.")
        idx = label_index(stats.classes, labels)
        if not stats.in_true[idx[idx >= 0]].any():
            raise ValueError(
                "At least one label in `labels` must be present in `y1` (even though "
                "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`)."
            )
        cm = select_labels(cm, idx)
    return float(kappa_from_confusion(cm, weights, replace_undefined_by, warn=True))


# ---------------------------------------------------------------------------
# probabilistic predictions


def as_proba(y_proba: Any) -> np.ndarray:
    """Float array of probabilities, keeping float32/float16 as scikit-learn does."""
    arr = np.asarray(y_proba)
    if arr.dtype not in (np.float64, np.float32, np.float16):
        arr = arr.astype(np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"y_proba must be 1-d or 2-d, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("Input y_proba contains NaN or infinity.")
    if arr.size and arr.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {arr.max()}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {arr.min()}")
    return arr


def _encode_true(y_true: np.ndarray, labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    """Class list and codes of ``y_true``, following ``LabelBinarizer`` rules."""
    if labels is None:
        classes, codes = encode_labels(y_true)
        if classes.shape[0] == 1:
            raise ValueError(
                f"y_true contains only one label ({classes[0]}). Please provide the list of "
                "all expected class labels explicitly through the labels argument."
            )
        return classes, codes
    given = np.asarray(labels)
    classes = encode_labels(given, "labels")[0]
    if classes.shape != given.shape or not np.array_equal(classes, given):
        warnings.warn(
            f"Labels passed were {given}. But this function assumes labels are ordered "
            f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure that "
            "the columns of y_prob correspond to this ordering.",
            UserWarning,
            stacklevel=4,
        )
    if classes.shape[0] == 1:
        raise ValueError(f"The labels array needs to contain at least two labels, got {classes}.")
    codes, found = codes_in(classes, y_true)
    if not found.all():
        unknown = set(y_true[~found].tolist())
        raise ValueError(
            f"y_true contains values {unknown} not belonging to the passed labels {given}."
        )
    return classes, codes


def multiclass_proba(
    y_true: Any, y_proba: np.ndarray, sample_weight: Any, labels: Labels
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and return (class codes, probabilities, weights).

    Probabilities stay 1-d (of the greater class) for binary 1-d input: the
    implied ``[1 - p, p]`` columns always sum to one and need not be built.
    """
    yt = as_1d(y_true, "y_true")
    n = check_lengths(yt, y_proba)
    weights = check_weights(sample_weight, n)
    classes, codes = _encode_true(yt, labels)
    proba = y_proba.reshape(-1) if y_proba.ndim == 1 or y_proba.shape[1] == 1 else y_proba
    n_columns = 2 if proba.ndim == 1 else proba.shape[1]
    eps = np.finfo(proba.dtype).eps
    if proba.ndim == 2 and not np.allclose(proba.sum(axis=1), 1, rtol=np.sqrt(eps), atol=0):
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.",
            UserWarning,
            stacklevel=3,
        )
    if classes.shape[0] != n_columns:
        if labels is None:
            raise ValueError(
                f"y_true and y_prob contain different number of classes: {classes.shape[0]} "
                f"vs {n_columns}. Please provide the true labels explicitly through the "
                f"labels argument. Classes found in y_true: {classes}"
            )
        raise ValueError(
            "The number of classes in labels is different from that in y_prob. Classes "
            f"found in labels: {classes}"
        )
    return codes, proba, weights


def log_loss(
    y_true: Any,
    y_proba: Any,
    *,
    normalize: bool = True,
    sample_weight: Any = None,
    labels: Labels = None,
) -> float:
    """Cross-entropy of predicted probabilities, as ``sklearn.metrics.log_loss``.

    Args:
        y_true: true labels.
        y_proba: ``(n_samples, n_classes)`` probabilities with columns in sorted label
            order, or ``(n_samples,)`` probabilities of the greater label.
        normalize: mean loss per sample (True) or the (weighted) sum.
        sample_weight: optional per-sample weights.
        labels: all class labels, when ``y_true`` does not contain every class.
    """
    proba = as_proba(y_proba)
    codes, proba, weights = multiclass_proba(y_true, proba, sample_weight, labels)
    return _mean(log_loss_per_sample(codes, proba), weights, normalize)


def log_loss_per_sample(codes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Negative log of the (clipped) probability each sample gives its true class."""
    eps = np.finfo(proba.dtype).eps
    # Only the true class has a non-zero one-hot entry, so gathering it equals the
    # full sum of xlogy terms bit for bit.
    if proba.ndim == 1:
        picked = np.where(codes == 1, proba, 1 - proba)
    else:
        picked = proba[np.arange(proba.shape[0]), codes]
    return -np.log(np.clip(picked, eps, 1 - eps))


def _binary_pos_label(y_true: np.ndarray, pos_label: Any) -> Any:
    """scikit-learn's rule for the positive class of a 1-d probability vector."""
    classes = encode_labels(y_true)[0]
    if classes.shape[0] > 2:
        raise ValueError(
            "The type of the target inferred from y_true is multiclass but should be "
            "binary according to the shape of y_prob."
        )
    if pos_label is not None:
        return pos_label
    is_str = classes.dtype.kind in "USO"
    standard = [[0, 1], [-1, 1], [0], [-1], [1]]
    if not is_str and classes.tolist() in standard:
        return 1
    if is_str:
        shown = ", ".join(repr(c) for c in classes.tolist())
        raise ValueError(
            f"y_true takes value in {{{shown}}} and pos_label is not specified: either make "
            "y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly."
        )
    return classes[-1]


def brier_score(
    y_true: Any,
    y_proba: Any,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    labels: Labels = None,
    scale_by_half: bool | Literal["auto"] = "auto",
) -> float:
    """Brier score: mean squared difference between probabilities and outcomes.

    Args:
        y_true: true labels.
        y_proba: ``(n_samples,)`` probabilities of ``pos_label``, or
            ``(n_samples, n_classes)`` probabilities with columns in sorted label order.
        sample_weight: optional per-sample weights.
        pos_label: positive class for 1-d input (default: 1 for {0, 1} / {-1, 1}
            labels, else the greater label).
        labels: all class labels for 2-d input.
        scale_by_half: halve the score; "auto" halves for binary problems only.
    """
    if not (isinstance(scale_by_half, bool) or scale_by_half == "auto"):
        raise ValueError(f"scale_by_half must be a bool or 'auto'; got {scale_by_half!r}")
    proba = as_proba(y_proba)
    per_sample, weights, n_columns = brier_per_sample(
        y_true, proba, sample_weight=sample_weight, pos_label=pos_label, labels=labels
    )
    score = np.average(per_sample, weights=weights)
    if scale_by_half == "auto":
        scale_by_half = n_columns < 3
    return float(score * 0.5 if scale_by_half else score)


def brier_per_sample(
    y_true: Any,
    proba: np.ndarray,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    labels: Labels = None,
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Per-sample squared error summed over classes, weights, and number of columns."""
    if proba.ndim == 1 or proba.shape[1] == 1:
        yt = as_1d(y_true, "y_true")
        p = proba.reshape(-1)
        n = check_lengths(yt, p)
        weights = check_weights(sample_weight, n)
        label = _binary_pos_label(yt, pos_label)
        hit = (yt == label).astype(p.dtype)
        per_sample = ((1 - hit) - (1 - p)) ** 2 + (hit - p) ** 2
        return per_sample, weights, 1
    codes, proba, weights = multiclass_proba(y_true, proba, sample_weight, labels)
    onehot = np.zeros_like(proba)
    onehot[np.arange(proba.shape[0]), codes] = 1
    return ((onehot - proba) ** 2).sum(axis=1), weights, proba.shape[1]
