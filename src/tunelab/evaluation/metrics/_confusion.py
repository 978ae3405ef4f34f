"""Confusion-matrix sufficient statistics and the metrics computed from them.

Every kernel here takes confusion matrices of shape ``(..., K, K)`` (rows: true
class, columns: predicted class) so the same code scores one prediction set or a
whole stack of bootstrap resamples at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._validation import (
    as_1d,
    check_lengths,
    check_weights,
    check_zero_division,
    contains_label,
    direct_confusion,
    encode_pair,
    label_index,
    warn_undefined,
)

Average = Literal["binary", "micro", "macro", "weighted", "samples"] | None
_AVERAGES = (None, "micro", "macro", "weighted", "samples", "binary")


@dataclass(frozen=True)
class ClassificationStats:
    """Confusion matrix of one prediction set over the sorted union of its labels.

    Build it once with :meth:`from_predictions`; every confusion-matrix metric can
    then be evaluated from it without touching the samples again.

    Attributes:
        classes: sorted labels found in ``y_true`` or ``y_pred``.
        cm: ``(K, K)`` counts (int64) or summed weights (float64); rows are true labels.
        in_true: which classes occur in ``y_true`` (by occurrence, ignoring weights).
    """

    classes: np.ndarray
    cm: np.ndarray
    in_true: np.ndarray
    _y_true: np.ndarray = field(repr=False)
    _y_pred: np.ndarray = field(repr=False)
    _weight: np.ndarray | None = field(repr=False)

    @classmethod
    def from_predictions(
        cls, y_true: Any, y_pred: Any, *, sample_weight: Any = None
    ) -> ClassificationStats:
        """Validate labels and count the confusion matrix in one pass.

        Args:
            y_true: true labels, shape (n_samples,).
            y_pred: predicted labels, shape (n_samples,).
            sample_weight: optional per-sample weights.

        Raises:
            ValueError: on empty, mismatched, continuous or mixed string/number labels.
        """
        yt, yp = as_1d(y_true, "y_true"), as_1d(y_pred, "y_pred")
        n = check_lengths(yt, yp)
        if n == 0:
            raise ValueError(
                "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum "
                "of 1 sample is required."
            )
        w = check_weights(sample_weight, n)
        direct = direct_confusion(yt, yp, w)
        if direct is not None:
            classes, cm, in_true = direct
        else:
            codes = encode_pair(yt, yp)
            classes = codes.classes
            k = classes.shape[0]
            cells = codes.codes_true * k + codes.codes_pred
            cm = np.bincount(cells, weights=w, minlength=k * k).reshape(k, k)
            in_true = np.bincount(codes.codes_true, minlength=k) > 0
        if w is not None and w.dtype.kind in "biu":
            # scikit-learn keeps integer weights integral; the sums are exact.
            cm = np.rint(cm).astype(np.int64)
        return cls(classes, cm, in_true, yt, yp, w)

    @property
    def y_type(self) -> str:
        """ "binary" for at most two labels, else "multiclass" (as scikit-learn)."""
        return "binary" if self.classes.shape[0] <= 2 else "multiclass"

    @property
    def sample_weight(self) -> np.ndarray | None:
        """The validated sample weights, if any."""
        return self._weight

    def cell_codes(self) -> np.ndarray:
        """Per-sample flat confusion-matrix cell ``K * true + pred`` (for resampling)."""
        codes = encode_pair(self._y_true, self._y_pred)
        return codes.codes_true * self.classes.shape[0] + codes.codes_pred


# ---------------------------------------------------------------------------
# helpers


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # np.dot on 1-d input keeps the scalar path bit-identical to scikit-learn.
    return np.dot(a, b) if a.ndim == 1 else np.einsum("...i,...i->...", a, b)


def _safe_divide(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    zero = den == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(num, dtype=np.float64) / np.where(zero, 1, den)
    return np.where(zero, fill, out)


def masked_nanaverage(
    values: np.ndarray, weights: np.ndarray | None, include: np.ndarray | None = None
) -> np.ndarray:
    """Average over the last axis ignoring NaN and excluded entries.

    Matches scikit-learn's ``_nanaverage``: NaN entries drop out with their
    weights, all-zero weights fall back to a plain mean, nothing left gives NaN.
    """
    valid = ~np.isnan(values)
    if include is not None:
        valid &= include
    count = valid.sum(axis=-1)
    v = np.where(valid, values, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = v.sum(axis=-1) / count
        if weights is None:
            return np.where(count > 0, plain, np.nan)
        w = np.where(valid, weights, 0.0)
        wsum = w.sum(axis=-1)
        weighted = (v * w).sum(axis=-1) / wsum
    return np.where(count == 0, np.nan, np.where(wsum != 0, weighted, plain))


def select_labels(cm: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sub-matrix for label positions ``idx`` (-1: absent label, a zero row/column)."""
    k = cm.shape[-1]
    padded = np.zeros((*cm.shape[:-2], k + 1, k + 1), dtype=cm.dtype)
    padded[..., :k, :k] = cm
    safe = np.where(idx < 0, k, idx)
    return padded[..., safe[:, None], safe[None, :]]


# ---------------------------------------------------------------------------
# accuracy-like


def accuracy_from_confusion(cm: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Fraction (or weighted count) of correct predictions."""
    correct = np.trace(cm, axis1=-2, axis2=-1).astype(np.float64)
    if not normalize:
        return correct
    return correct / cm.sum(axis=(-2, -1))


def balanced_accuracy_from_confusion(
    cm: np.ndarray, adjusted: bool = False, *, warn: bool = False
) -> np.ndarray:
    """Mean per-class recall over classes present in ``y_true``."""
    diag = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)
    support = cm.sum(axis=-1)
    has_support = support != 0
    if warn and not has_support.all():
        warnings.warn("y_pred contains classes not in y_true", stacklevel=3)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = diag / np.where(has_support, support, 1)
        n_classes = has_support.sum(axis=-1)
        score = np.where(has_support, per_class, 0.0).sum(axis=-1) / n_classes
        if adjusted:
            chance = 1 / n_classes
            score = (score - chance) / (1 - chance)
    return score


def matthews_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Matthews correlation coefficient (multiclass R_K statistic)."""
    t_sum = cm.sum(axis=-1, dtype=np.float64)
    p_sum = cm.sum(axis=-2, dtype=np.float64)
    n_correct = np.trace(cm, axis1=-2, axis2=-1, dtype=np.float64)
    n = p_sum.sum(axis=-1)
    cov_ytyp = n_correct * n - _rowdot(t_sum, p_sum)
    cov_ypyp = n**2 - _rowdot(p_sum, p_sum)
    cov_ytyt = n**2 - _rowdot(t_sum, t_sum)
    denom = cov_ypyp * cov_ytyt
    with np.errstate(divide="ignore", invalid="ignore"):
        mcc = cov_ytyp / np.sqrt(denom)
    return np.where(denom == 0, 0.0, mcc)


def kappa_from_confusion(
    cm: np.ndarray,
    weights: Literal["linear", "quadratic"] | None = None,
    replace_undefined_by: float = np.nan,
    present: np.ndarray | None = None,
    *,
    warn: bool = False,
) -> np.ndarray:
    """Cohen's kappa; ``present`` ranks classes so absent ones do not shift weights."""
    conf = cm.astype(np.float64)
    sum0 = conf.sum(axis=-2)
    sum1 = conf.sum(axis=-1)
    total = sum0.sum(axis=-1)
    k = conf.shape[-1]
    if weights is None:
        w_mat = np.ones((k, k)) - np.eye(k)
    else:
        rank = np.broadcast_to(np.arange(k, dtype=np.float64), conf.shape[:-1])
        if present is not None:
            rank = np.cumsum(present, axis=-1) - 1.0
        diff = rank[..., :, None] - rank[..., None, :]
        w_mat = np.abs(diff) if weights == "linear" else diff**2
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = sum0[..., :, None] * sum1[..., None, :] / total[..., None, None]
        numerator = (w_mat * conf).sum(axis=(-2, -1))
        denominator = (w_mat * expected).sum(axis=(-2, -1))
        kappa = 1 - numerator / denominator
    undefined = (total == 0) | (denominator == 0)
    if warn and np.any(undefined):
        warn_undefined(
            "cohen_kappa is undefined (no labels in common, or a single one); "
            f"returning replace_undefined_by={replace_undefined_by}"
        )
    return np.where(undefined, replace_undefined_by, kappa)


# ---------------------------------------------------------------------------
# precision / recall / F


@dataclass(frozen=True)
class PRFSpec:
    """Resolved label selection and options of a precision/recall/F computation.

    Built once per label set (``classes``), then applied to one or many confusion
    matrices, so a bootstrap never re-validates its arguments.
    """

    label_idx: np.ndarray
    average: Average
    beta: float
    zero_division: Any
    all_labels: bool

    @classmethod
    def build(
        cls,
        classes: np.ndarray,
        *,
        beta: float = 1.0,
        labels: Sequence[Any] | np.ndarray | None = None,
        pos_label: Any = 1,
        average: Average = "binary",
        zero_division: Any = "warn",
    ) -> PRFSpec:
        """Validate options against the data's labels (scikit-learn's rules)."""
        check_zero_division(zero_division)
        if average not in _AVERAGES:
            raise ValueError(f"average has to be one of {_AVERAGES[:-1]} or 'binary'")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        y_type = "binary" if classes.shape[0] <= 2 else "multiclass"
        if average == "binary":
            if y_type != "binary":
                raise ValueError(
                    "Target is multiclass but average='binary'. Please choose another "
                    "average setting, one of [None, 'micro', 'macro', 'weighted']."
                )
            if not contains_label(classes, pos_label) and classes.shape[0] >= 2:
                raise ValueError(
                    f"pos_label={pos_label!r} is not a valid label. It should be one of "
                    f"{classes.tolist()}"
                )
            labels = [pos_label]
        elif average == "samples":
            raise ValueError(
                "Samplewise metrics are not available outside of multilabel classification."
            )
        elif pos_label not in (None, 1):
            warnings.warn(
                f"Note that pos_label (set to {pos_label!r}) is ignored when average != "
                f"'binary' (got {average!r}). You may use labels=[pos_label] to specify a "
                "single positive class.",
                UserWarning,
                stacklevel=4,
            )
        idx = np.arange(classes.shape[0]) if labels is None else label_index(classes, labels)
        return cls(idx, average, float(beta), zero_division, labels is None)

    def counts(self, cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-label true positives, predicted totals and true totals."""
        k = cm.shape[-1]
        tp = np.diagonal(cm, axis1=-2, axis2=-1)
        pred = cm.sum(axis=-2)
        true = cm.sum(axis=-1)
        pad = np.zeros((*cm.shape[:-2], 1), dtype=cm.dtype)
        safe = np.where(self.label_idx < 0, k, self.label_idx)
        tp, pred, true = (np.concatenate([a, pad], axis=-1)[..., safe] for a in (tp, pred, true))
        return tp, pred, true

    def compute(
        self,
        cm: np.ndarray,
        metric: Literal["precision", "recall", "f"],
        present: np.ndarray | None = None,
        *,
        warn: bool = False,
    ) -> np.ndarray:
        """Evaluate one of precision, recall or F-beta on confusion matrices.

        Args:
            cm: confusion matrices ``(..., K, K)`` over the classes the spec was built on.
            metric: which score to return.
            present: ``(..., K)`` classes occurring in each matrix; with ``labels=None``
                only those count, as scikit-learn re-derives labels from the data.
            warn: emit UndefinedMetricWarning on zero division with ``"warn"``.
        """
        tp, pred, true = self.counts(cm)
        include = None
        if self.all_labels and present is not None:
            include = present
            tp, pred, true = (np.where(present, a, 0) for a in (tp, pred, true))
        if self.average == "micro":
            tp, pred, true = (a.sum(axis=-1, keepdims=True) for a in (tp, pred, true))
            include = None
        fill = check_zero_division(self.zero_division)
        value, den = self._score(metric, tp, pred, true, fill)
        if warn and self.zero_division == "warn" and np.any(den == 0):
            self._warn(metric, den)
        return self._average(value, true, include)

    def _score(
        self, metric: str, tp: np.ndarray, pred: np.ndarray, true: np.ndarray, fill: float
    ) -> tuple[np.ndarray, np.ndarray]:
        beta = self.beta
        if metric == "recall" or (metric == "f" and np.isposinf(beta)):
            return _safe_divide(tp, true, fill), true
        if metric == "precision" or beta == 0:
            return _safe_divide(tp, pred, fill), pred
        beta2 = beta**2
        den = beta2 * true.astype(np.float64) + pred.astype(np.float64)
        return _safe_divide((1 + beta2) * tp.astype(np.float64), den, fill), den

    def _warn(self, metric: str, den: np.ndarray) -> None:
        name, modifier = {
            "precision": ("Precision", "predicted"),
            "recall": ("Recall", "true"),
            "f": ("F-score", "true nor predicted"),
        }[metric]
        where = "due to" if den.shape[-1] == 1 else "in labels with"
        warn_undefined(
            f"{name} is ill-defined and being set to 0.0 {where} no {modifier} samples. "
            "Use `zero_division` parameter to control this behavior."
        )

    def _average(
        self, value: np.ndarray, true: np.ndarray, include: np.ndarray | None
    ) -> np.ndarray:
        if self.average is None:
            return value
        weights = true.astype(np.float64) if self.average == "weighted" else None
        return masked_nanaverage(value, weights, include)
