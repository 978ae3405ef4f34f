"""Vectorised metric evaluation over many resamples of one prediction set.

A :class:`BatchStatistic` turns an ``(R, n)`` matrix of resample indices into ``R``
metric values without a Python loop: confusion-matrix metrics count ``R``
confusion matrices with one ``bincount`` over offset cell codes, ranking metrics
count positives/negatives per distinct score the same way, and mean-of-loss
metrics average gathered per-sample losses. Each also provides exact
leave-one-out (jackknife) values where a closed form exists, for BCa intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _classification as C
from . import _ranking as R
from . import _regression as G
from ._confusion import ClassificationStats
from ._registry import CONFUSION_FUNCTIONS, Metric, confusion_kernel
from ._validation import as_1d, check_lengths, check_weights, encode_labels, label_index

Jackknife = tuple[np.ndarray, np.ndarray]
# Leave-one-out confusion matrices are evaluated in chunks of this many.
_JACKKNIFE_CHUNK = 4096


@dataclass(frozen=True)
class BatchStatistic:
    """Metric values for stacks of resamples.

    Attributes:
        evaluate: ``(R, n)`` resample indices -> ``R`` values (scorer convention).
        jackknife: callable returning ``(values, counts)``: the distinct
            leave-one-out values and how many samples produce each, or None when
            no exact closed form exists.
    """

    evaluate: Callable[[np.ndarray], np.ndarray]
    jackknife: Callable[[], Jackknife] | None = None


def batch_statistic(
    metric: Metric, y_true: Any, y_output: Any, sample_weight: Any = None
) -> BatchStatistic | None:
    """Vectorised evaluator of ``metric``, or None when it has none (use a loop).

    Args:
        metric: a registry metric.
        y_true: true labels or targets.
        y_output: predictions, probabilities or scores, as ``metric.needs``.
        sample_weight: optional per-sample weights.
    """
    fn = metric.function
    y_output = metric.prepare_output(y_output)
    if metric.needs == "predictions" and fn in CONFUSION_FUNCTIONS:
        return _confusion_batch(metric, y_true, y_output, sample_weight)
    if fn in (R.roc_auc, R.average_precision):
        return _ranking_batch(metric, y_true, y_output, sample_weight)
    pointwise = _pointwise_losses(metric, y_true, y_output, sample_weight)
    if pointwise is not None:
        return _mean_batch(metric.sign, *pointwise)
    if fn in (G.r2, G.explained_variance, G.median_absolute_error):
        return _regression_batch(metric, y_true, y_output, sample_weight)
    return None


def _offsets(n_rows: int, width: int) -> np.ndarray:
    return (np.arange(n_rows) * width)[:, None]


# ---------------------------------------------------------------------------
# confusion-matrix metrics


def _confusion_batch(
    metric: Metric, y_true: Any, y_pred: Any, sample_weight: Any
) -> BatchStatistic:
    stats = ClassificationStats.from_predictions(y_true, y_pred, sample_weight=sample_weight)
    kernel = confusion_kernel(metric, stats.classes)
    assert kernel is not None
    if np.ndim(kernel(stats.cm, None)) != 0:
        raise ValueError(f"{metric.name!r} is not a scalar metric; pass an average")
    k2 = stats.classes.shape[0] ** 2
    cells = stats.cell_codes()
    weights = stats.sample_weight
    shape = (-1, *stats.cm.shape)

    def evaluate(idx: np.ndarray) -> np.ndarray:
        flat = (cells[idx] + _offsets(idx.shape[0], k2)).ravel()
        counts = np.bincount(flat, minlength=idx.shape[0] * k2).reshape(shape)
        cm = counts
        if weights is not None:
            cm = np.bincount(flat, weights=weights[idx].ravel(), minlength=counts.size)
            cm = cm.reshape(shape)
        present = np.asarray(counts.any(axis=-1) | counts.any(axis=-2))
        return metric.sign * kernel(cm, present)

    def jackknife() -> Jackknife:
        # Leaving sample i out only subtracts w_i from its cell, so the values
        # depend on (cell, weight) alone: evaluate each distinct pair once.
        if weights is None:
            counts = np.bincount(cells, minlength=k2)
            used = np.flatnonzero(counts)
            pairs, counts = np.stack([used, np.ones(used.shape[0])]), counts[used]
        else:
            stacked = np.stack([cells.astype(np.float64), weights.astype(np.float64)])
            pairs, counts = np.unique(stacked, axis=1, return_counts=True)
        occurrences = np.bincount(cells, minlength=k2).reshape(stats.cm.shape)
        values = [
            _confusion_leave_one_out(
                stats.cm, occurrences, pairs[:, s : s + _JACKKNIFE_CHUNK], kernel
            )
            for s in range(0, pairs.shape[1], _JACKKNIFE_CHUNK)
        ]
        return metric.sign * np.concatenate(values), counts

    return BatchStatistic(evaluate, jackknife)


def _confusion_leave_one_out(
    cm: np.ndarray,
    occurrences: np.ndarray,
    pairs: np.ndarray,
    kernel: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
) -> np.ndarray:
    cell = pairs[0].astype(np.intp)
    removed = np.zeros((cell.shape[0], cm.size))
    removed[np.arange(cell.shape[0]), cell] = 1.0
    removed = removed.reshape(-1, *cm.shape)
    counts = occurrences - removed
    present = np.asarray(counts.any(axis=-1) | counts.any(axis=-2))
    return kernel(cm - removed * pairs[1][:, None, None], present)


# ---------------------------------------------------------------------------
# ranking metrics


def _ranking_batch(
    metric: Metric, y_true: Any, y_score: Any, sample_weight: Any
) -> BatchStatistic | None:
    kw = dict(metric.kwargs)
    if kw.get("max_fpr") not in (None, 1):
        return None
    yt = as_1d(y_true, "y_true")
    scores = R.as_scores(y_score)
    n = check_lengths(yt, scores)
    weights = check_weights(sample_weight, n)
    classes, codes = encode_labels(yt)
    if classes.shape[0] != 2 or scores.ndim != 1:
        return None
    if metric.function is R.roc_auc:
        is_pos = codes == 1
        kernel = R.auc_from_groups
    else:
        found = label_index(classes, [kw.get("pos_label", 1)])[0]
        if found < 0:
            return None
        is_pos = codes == found
        kernel = R.average_precision_from_groups
    ranking = R.BinaryRanking.from_scores(is_pos, scores, weights, keep_groups=True)
    assert ranking.group_of is not None
    n_groups = int(ranking.group_of.max()) + 1
    # Negatives and positives of a resample land in two contiguous blocks of bins.
    cells = ranking.group_of + n_groups * is_pos

    def evaluate(idx: np.ndarray) -> np.ndarray:
        flat = (cells[idx] + _offsets(idx.shape[0], 2 * n_groups)).ravel()
        w = None if weights is None else weights[idx].ravel()
        counts = np.bincount(flat, weights=w, minlength=idx.shape[0] * 2 * n_groups)
        counts = counts.reshape(idx.shape[0], 2, n_groups)
        return metric.sign * kernel(counts[:, 1], counts[:, 0])

    jackknife = None
    if kernel is R.auc_from_groups:
        jackknife = _auc_jackknife(ranking, is_pos, weights, metric.sign)
    return BatchStatistic(evaluate, jackknife)


def _auc_jackknife(
    ranking: R.BinaryRanking, is_pos: np.ndarray, weights: np.ndarray | None, sign: int
) -> Callable[[], Jackknife]:
    def jackknife() -> Jackknife:
        pos, neg = ranking.groups()
        w = np.ones(is_pos.shape[0]) if weights is None else weights.astype(np.float64)
        tps = np.cumsum(pos)
        fps = np.cumsum(neg)
        n_pos, n_neg = tps[-1], fps[-1]
        pairs = (neg * (tps - 0.5 * pos)).sum()
        g = ranking.group_of
        # A positive out removes its wins over negatives below it (half for ties);
        # a negative out removes the positives' wins over it.
        as_pos = (n_neg - fps[g]) + 0.5 * neg[g]
        as_neg = (tps[g] - pos[g]) + 0.5 * pos[g]
        lost = np.where(is_pos, as_pos, as_neg) * w
        left_pos = n_pos - np.where(is_pos, w, 0.0)
        left_neg = n_neg - np.where(is_pos, 0.0, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = (pairs - lost) / (left_pos * left_neg)
        values = np.where((left_pos > 0) & (left_neg > 0), values, np.nan)
        return sign * values, np.ones(values.shape[0], dtype=np.intp)

    return jackknife


# ---------------------------------------------------------------------------
# means of per-sample losses


def _pointwise_losses(
    metric: Metric, y_true: Any, y_output: Any, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray | None, Callable[[np.ndarray], np.ndarray]] | None:
    """(per-sample values, weights, transform of the weighted mean) or None."""
    fn, kw = metric.function, dict(metric.kwargs)
    identity: Callable[[np.ndarray], np.ndarray] = np.asarray
    if not kw.get("normalize", True):
        return None
    if fn is C.log_loss:
        codes, proba, w = C.multiclass_proba(
            y_true, C.as_proba(y_output), sample_weight, kw.get("labels")
        )
        return C.log_loss_per_sample(codes, proba), w, identity
    if fn is C.brier_score:
        proba = C.as_proba(y_output)
        per_sample, w, n_columns = C.brier_per_sample(
            y_true,
            proba,
            sample_weight=sample_weight,
            pos_label=kw.get("pos_label"),
            labels=kw.get("labels"),
        )
        half = kw.get("scale_by_half", "auto")
        scale = 0.5 if (n_columns < 3 if half == "auto" else half) else 1.0
        return per_sample, w, lambda mean: mean * scale
    if fn is R.top_k_accuracy:
        hits, w = R.top_k_hits(
            y_true,
            y_output,
            k=kw.get("k", 2),
            sample_weight=sample_weight,
            labels=kw.get("labels"),
        )
        return hits.astype(np.float64), w, identity
    return _regression_losses(fn, y_true, y_output, sample_weight)


def _regression_losses(
    fn: Callable[..., Any], y_true: Any, y_pred: Any, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray | None, Callable[[np.ndarray], np.ndarray]] | None:
    losses = {
        G.mean_absolute_error: lambda t, p: np.abs(p - t),
        G.mean_squared_error: lambda t, p: (t - p) ** 2,
        G.root_mean_squared_error: lambda t, p: (t - p) ** 2,
        G.mean_absolute_percentage_error: G.absolute_percentage_errors,
    }
    if fn not in losses:
        return None
    yt, yp, w, _ = G.check_regression(y_true, y_pred, sample_weight, "uniform_average")
    if yt.shape[1] != 1:
        return None
    transform = np.sqrt if fn is G.root_mean_squared_error else np.asarray
    return losses[fn](yt[:, 0], yp[:, 0]), w, transform


def _mean_batch(
    sign: int,
    values: np.ndarray,
    weights: np.ndarray | None,
    transform: Callable[[np.ndarray], np.ndarray],
) -> BatchStatistic:
    w = np.ones(values.shape[0]) if weights is None else weights.astype(np.float64)
    weighted = values * w

    def evaluate(idx: np.ndarray) -> np.ndarray:
        if weights is None:
            return sign * transform(values[idx].mean(axis=1))
        return sign * transform(weighted[idx].sum(axis=1) / w[idx].sum(axis=1))

    def jackknife() -> Jackknife:
        with np.errstate(divide="ignore", invalid="ignore"):
            means = (weighted.sum() - weighted) / (w.sum() - w)
        return sign * transform(means), np.ones(values.shape[0], dtype=np.intp)

    return BatchStatistic(evaluate, jackknife)


# ---------------------------------------------------------------------------
# other regression metrics


def _regression_batch(
    metric: Metric, y_true: Any, y_pred: Any, sample_weight: Any
) -> BatchStatistic | None:
    kw = dict(metric.kwargs)
    yt, yp, w, _ = G.check_regression(y_true, y_pred, sample_weight, "uniform_average")
    if yt.shape[1] != 1:
        return None
    yt, yp = yt[:, 0], yp[:, 0]
    if metric.function is G.median_absolute_error:
        if w is not None:
            return None
        errors = np.abs(yp - yt)
        return BatchStatistic(lambda idx: metric.sign * np.median(errors[idx], axis=1))
    force_finite = kw.get("force_finite", True)
    explained = metric.function is G.explained_variance

    def evaluate(idx: np.ndarray) -> np.ndarray:
        t, p = yt[idx], yp[idx]
        weight = np.ones_like(t) if w is None else w[idx]
        wsum = weight.sum(axis=1, keepdims=True)
        resid = t - p
        if explained:
            resid = resid - (weight * resid).sum(axis=1, keepdims=True) / wsum
        numerator = (weight * resid**2).sum(axis=1)
        centred = t - (weight * t).sum(axis=1, keepdims=True) / wsum
        denominator = (weight * centred**2).sum(axis=1)
        return metric.sign * _explained_fraction(numerator, denominator, force_finite)

    return BatchStatistic(evaluate)


def _explained_fraction(
    numerator: np.ndarray, denominator: np.ndarray, force_finite: bool
) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 1 - numerator / denominator
    if not force_finite:
        return score
    return np.where(denominator != 0, score, np.where(numerator != 0, 0.0, 1.0))
