"""Ranking metrics: ROC-AUC, average precision and top-k accuracy.

Scores are sorted once; samples with equal scores form one group (one threshold),
and every ranking metric is a closed form over the per-group positive and negative
weights in descending score order. The kernels take arrays ``(..., G)`` so they
also score stacks of bootstrap resamples.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._sorting import quantize, ranked_labels
from ._validation import (
    as_1d,
    check_lengths,
    check_weights,
    codes_in,
    contains_label,
    encode_labels,
    label_index,
    warn_undefined,
)

# Below this size numpy's comparison sort is as fast as the radix passes.
_RADIX_MIN_SIZE = 1 << 14
BINARY_AVERAGES = (None, "micro", "macro", "weighted", "samples")


# ---------------------------------------------------------------------------
# sorting


def _radix_passes(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable LSD radix sort of uint32 keys in two 16-bit passes.

    numpy argsorts 16-bit integers with a linear-time radix sort, several times
    faster than a comparison sort of float64. Returns ``(first, second)``; the
    sorted order is ``first[second]``, left uncomposed for callers that only
    gather through it.
    """
    first = np.argsort(key.astype(np.uint16), kind="stable")
    second = np.argsort((key >> 16).astype(np.uint16)[first], kind="stable")
    return first, second


def _radix_argsort(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Order of ``scores`` by a 32-bit key, and the sorted keys (None if unscalable)."""
    key = quantize(scores, 32)
    if key is None:
        return None
    first, second = _radix_passes(key)
    order = first[second]
    return order, key[order]


def sort_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Ascending order of ``scores`` and the start of each run of equal scores.

    Returns:
        ``(order, starts)``; ``starts`` is None when all scores are distinct.
    """
    radix = _radix_argsort(scores) if scores.shape[0] >= _RADIX_MIN_SIZE else None
    if radix is None:
        order = np.argsort(scores)
        ordered = scores[order]
        pairs = np.flatnonzero(ordered[1:] == ordered[:-1])
        tied = np.ones(pairs.shape[0], dtype=bool)
    else:
        order, keys = radix
        pairs = np.flatnonzero(keys[1:] == keys[:-1])
        tied = _resolve_collisions(scores, order, pairs)
    if not tied.any():
        return order, None
    new_group = np.ones(order.shape[0], dtype=bool)
    new_group[pairs[tied] + 1] = False
    return order, np.flatnonzero(new_group)


def _resolve_collisions(scores: np.ndarray, order: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Fix, in place, the order inside runs of equal keys; say which pairs are ties.

    ``pairs`` are the sorted positions i with key[i] == key[i + 1]. Only those
    neighbours can hold equal scores, so ties are found without gathering all scores.
    """
    left, right = scores[order[pairs]], scores[order[pairs + 1]]
    differ = left != right
    if differ.any():
        run = np.cumsum(np.concatenate([[True], np.diff(pairs) != 1]))
        unsorted_run = np.zeros(run[-1] + 1, dtype=bool)
        unsorted_run[run[differ]] = True
        chosen = pairs[unsorted_run[run]]
        where = np.union1d(chosen, chosen + 1)
        # Runs are already in score order, so one sort of their members fixes them all.
        members = order[where]
        order[where] = members[np.argsort(scores[members])]
        left, right = scores[order[pairs]], scores[order[pairs + 1]]
    return left == right


@dataclass(frozen=True)
class BinaryRanking:
    """Positive and negative weight per distinct score, in descending score order.

    When every score is distinct and unweighted only the ranks of the positives
    are kept, which makes ROC-AUC and average precision O(n_positives) after the sort.

    Attributes:
        pos: summed weight (or count) of positives at each distinct score, or None.
        neg: summed weight (or count) of negatives at each distinct score, or None.
        positive_rank: 0-based descending positions of the positives (fast path).
        n_samples: number of samples ranked.
        group_of: per-sample index into ``pos``/``neg`` (kept for resampling).
    """

    pos: np.ndarray | None
    neg: np.ndarray | None
    positive_rank: np.ndarray | None = None
    n_samples: int = 0
    group_of: np.ndarray | None = None

    @classmethod
    def from_scores(
        cls,
        is_pos: np.ndarray,
        scores: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        keep_groups: bool = False,
    ) -> BinaryRanking:
        """Sort ``scores`` once and sum positives/negatives per distinct score."""
        n = scores.shape[0]
        if weights is None and not keep_groups:
            # Counts need only the labels in score order: a value sort, no permutation.
            ranked = ranked_labels(is_pos, scores)
            if ranked is not None:
                return cls._from_labels(*ranked)
        order, starts = sort_scores(scores)
        hit = is_pos[order]
        if weights is None:
            pos = hit.astype(np.int64)
            neg = 1 - pos
        else:
            w = weights[order].astype(np.float64)
            pos = np.where(hit, w, 0.0)
            neg = np.where(hit, 0.0, w)
        if starts is not None:
            pos = np.add.reduceat(pos, starts)
            neg = np.add.reduceat(neg, starts)
        group_of = None
        if keep_groups:
            ascending = np.arange(n) if starts is None else _run_ids(starts, n)
            group_of = np.empty(n, dtype=np.intp)
            group_of[order] = pos.shape[0] - 1 - ascending
        return cls(pos[::-1], neg[::-1], None, n, group_of)

    @classmethod
    def _from_labels(cls, labels: np.ndarray, starts: np.ndarray | None) -> BinaryRanking:
        """Counts from labels in ascending score order and the starts of tied runs."""
        n = labels.shape[0]
        if starts is None:
            rank = np.flatnonzero(labels)
            np.subtract(n - 1, rank, out=rank)
            return cls(None, None, rank[::-1], n)
        pos = np.add.reduceat(labels.astype(np.int64), starts)
        neg = np.diff(starts, append=n) - pos
        return cls(pos[::-1], neg[::-1], None, n)

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-group positive and negative weights (descending scores)."""
        if self.pos is not None and self.neg is not None:
            return self.pos, self.neg
        pos = np.zeros(self.n_samples)
        pos[self.positive_rank] = 1.0
        return pos, 1.0 - pos

    def roc_auc(self) -> float:
        """Area under the ROC curve (NaN when a class is missing)."""
        rank = self.positive_rank
        if rank is None:
            return float(auc_from_groups(*self.groups()))
        n_pos = rank.shape[0]
        n_neg = self.n_samples - n_pos
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        # Negatives below the k-th positive: (n - 1 - rank_k) - (n_pos - 1 - k).
        pairs = n_pos * (self.n_samples - 1) - int(rank.sum()) - n_pos * (n_pos - 1) // 2
        return pairs / (n_pos * n_neg)

    def average_precision(self) -> float:
        """Average precision (0 without positives)."""
        rank = self.positive_rank
        if rank is None:
            return float(average_precision_from_groups(*self.groups()))
        if rank.shape[0] == 0:
            return 0.0
        precision = np.arange(1.0, rank.shape[0] + 1)
        precision /= rank + 1
        return float(precision.sum() / rank.shape[0])


def _run_ids(starts: np.ndarray, n: int) -> np.ndarray:
    flags = np.zeros(n, dtype=np.intp)
    flags[starts] = 1
    return np.cumsum(flags) - 1


# ---------------------------------------------------------------------------
# kernels on grouped counts (..., G), groups in descending score order


def auc_from_groups(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Area under the ROC curve; NaN when a class is missing.

    Counts (positive, negative) pairs ranked correctly, a tie counting one half:
    the Mann-Whitney statistic, equal to the trapezoidal area under the ROC curve.
    """
    n_pos = pos.sum(axis=-1)
    n_neg = neg.sum(axis=-1)
    tps = np.cumsum(pos, axis=-1)
    # Twice the pair count keeps integer counts in (much faster) integer arithmetic.
    twice_pairs = (neg * (2 * tps - pos)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = twice_pairs / (2.0 * n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def average_precision_from_groups(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Step-function area under the precision-recall curve (0 without positives)."""
    tps = np.cumsum(pos, axis=-1)
    fps = np.cumsum(neg, axis=-1)
    # Only thresholds holding a positive add area; skip the rest before dividing.
    hit = pos > 0
    rows = np.nonzero(hit)[0] if pos.ndim > 1 else None
    gain = pos[hit] * tps[hit] / (tps[hit] + fps[hit])
    total = gain.sum() if rows is None else np.bincount(rows, gain, minlength=pos.shape[0])
    n_pos = tps[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = total / n_pos
    return np.where(n_pos > 0, np.maximum(ap, 0.0), 0.0)


def _partial_auc(pos: np.ndarray, neg: np.ndarray, max_fpr: float) -> float:
    """McClish-standardised partial AUC over FPR in [0, max_fpr]."""
    keep = (pos + neg) != 0
    fps = np.concatenate([[0.0], np.cumsum(neg[keep])])
    tps = np.concatenate([[0.0], np.cumsum(pos[keep])])
    fpr, tpr = fps / fps[-1], tps / tps[-1]
    stop = np.searchsorted(fpr, max_fpr, "right")
    end = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
    area = np.trapezoid(np.append(tpr[:stop], end), np.append(fpr[:stop], max_fpr))
    min_area = 0.5 * max_fpr**2
    return float(0.5 * (1 + (area - min_area) / (max_fpr - min_area)))


# ---------------------------------------------------------------------------
# binary helpers


def _scores_1d(y_score: np.ndarray) -> np.ndarray:
    if y_score.ndim == 2 and y_score.shape[1] == 1:
        return y_score[:, 0]
    if y_score.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y_score.shape} instead.")
    return y_score


def as_scores(y_score: Any) -> np.ndarray:
    """``y_score`` as a float64 array after checking it is numeric and finite."""
    scores = np.asarray(y_score)
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"y_score must be numeric, got dtype {scores.dtype}")
    scores = scores.astype(np.float64, copy=False)
    if not np.isfinite(scores).all():
        raise ValueError("Input y_score contains NaN or infinity.")
    return scores


def binary_roc_auc(
    is_pos: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray | None = None,
    max_fpr: float | None = None,
) -> float:
    """ROC-AUC of one binary problem; NaN with a warning when a class is missing."""
    if is_pos.all() or not is_pos.any():
        warn_undefined(
            "Only one class is present in y_true. ROC AUC score is not defined in that case."
        )
        return float("nan")
    ranking = BinaryRanking.from_scores(is_pos, scores, weights)
    if max_fpr is None or max_fpr == 1:
        return ranking.roc_auc()
    if max_fpr <= 0 or max_fpr > 1:
        raise ValueError(f"Expected max_fpr in range (0, 1], got: {max_fpr!r}")
    return _partial_auc(*ranking.groups(), max_fpr)


def binary_average_precision(
    is_pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Average precision of one binary problem."""
    if not is_pos.any():
        warn_undefined(
            "No positive class found in y_true, recall is set to one for all thresholds."
        )
    return BinaryRanking.from_scores(is_pos, scores, weights).average_precision()


def _prepare(
    y_true: Any, y_score: Any, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    yt = as_1d(y_true, "y_true")
    scores = as_scores(y_score)
    n = check_lengths(yt, scores)
    if n == 0:
        raise ValueError("Found empty input array: at least one sample is required.")
    weights = check_weights(sample_weight, n)
    classes, codes = _two_adjacent_integers(yt) or encode_labels(yt)
    return yt, scores, classes, codes, weights


def _two_adjacent_integers(yt: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``encode_labels`` for integer labels taking two consecutive values, else None.

    Such labels (0/1 above all) are their own codes after a shift, so the counting
    pass that finds the classes present can be skipped.
    """
    if yt.dtype.kind not in "iu":
        return None
    codes = yt.astype(np.intp, copy=False)
    lo, hi = codes.min(), codes.max()
    if int(hi) - int(lo) != 1:
        return None
    return (np.arange(2) + lo).astype(yt.dtype), codes - lo if lo else codes


def _check_average(average: Any, options: Sequence[Any]) -> None:
    if average not in options:
        raise ValueError(f"average has to be one of {tuple(options)}")


def _average_columns(
    metric: Any,
    onehot: np.ndarray,
    scores: np.ndarray,
    average: str | None,
    weights: np.ndarray | None,
) -> float | np.ndarray:
    """One-vs-rest averaging of a binary metric, as scikit-learn's ``_average_binary_score``."""
    if average == "micro":
        repeated = None if weights is None else np.repeat(weights, onehot.shape[1])
        return metric(onehot.ravel(), scores.ravel(), repeated)
    column_weight = None
    if average == "weighted":
        column_weight = (
            onehot.sum(axis=0) if weights is None else (onehot * weights[:, None]).sum(0)
        )
        if np.isclose(column_weight.sum(), 0.0):
            return 0.0
    per_class = np.array(
        [metric(onehot[:, c], scores[:, c], weights) for c in range(onehot.shape[1])]
    )
    if average is None:
        return per_class
    if column_weight is not None:
        per_class[column_weight == 0] = 0
    return float(np.average(per_class, weights=column_weight))


# ---------------------------------------------------------------------------
# public metrics


def roc_auc(
    y_true: Any,
    y_score: Any,
    *,
    average: Literal["micro", "macro", "weighted", "samples"] | None = "macro",
    sample_weight: Any = None,
    max_fpr: float | None = None,
    multi_class: Literal["raise", "ovr", "ovo"] = "raise",
    labels: Sequence[Any] | np.ndarray | None = None,
) -> float | np.ndarray:
    """Area under the ROC curve, as ``sklearn.metrics.roc_auc_score``.

    Args:
        y_true: true labels (binary or multiclass).
        y_score: binary: scores of the greater label, shape (n_samples,);
            multiclass: probabilities, shape (n_samples, n_classes).
        average: multiclass averaging ("macro", "weighted", "micro" for ovr, None).
        sample_weight: optional per-sample weights (not with ``multi_class="ovo"``).
        max_fpr: binary only: standardised partial AUC over FPR in [0, max_fpr].
        multi_class: "ovr" (one-vs-rest) or "ovo" (one-vs-one) for multiclass targets.
        labels: multiclass only: the labels indexing the columns of ``y_score``.

    Returns:
        The AUC (NaN, with a warning, when ``y_true`` holds a single class), or
        per-class values when ``average`` is None.
    """
    yt, scores, classes, codes, weights = _prepare(y_true, y_score, sample_weight)
    if classes.shape[0] > 2 or (scores.ndim == 2 and scores.shape[1] > 2):
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError(
                "Partial AUC computation not available in multiclass setting, 'max_fpr' must "
                f"be set to `None`, received `max_fpr={max_fpr}` instead"
            )
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        return _multiclass_roc_auc(yt, scores, labels, multi_class, average, weights)
    _check_average(average, BINARY_AVERAGES)
    is_pos = codes == 1
    return binary_roc_auc(is_pos, _scores_1d(scores), weights, max_fpr)


def _multiclass_codes(
    yt: np.ndarray, labels: Sequence[Any] | np.ndarray | None, n_columns: int
) -> np.ndarray:
    if labels is None:
        classes, codes = encode_labels(yt)
        if classes.shape[0] != n_columns:
            raise ValueError(
                "Number of classes in y_true not equal to the number of columns in 'y_score'"
            )
        return codes
    mismatch = (
        "Number of given labels, {n_labels}, not equal to the number of columns "
        "in 'y_score', {n_columns}"
    )
    return _given_label_codes(yt, labels, n_columns, mismatch, end="")


def _given_label_codes(
    yt: np.ndarray,
    labels: Sequence[Any] | np.ndarray,
    n_columns: int,
    mismatch: str,
    *,
    end: str,
) -> np.ndarray:
    """Codes of ``yt`` in ``labels``, which must be unique, sorted and one per score column.

    ``mismatch`` (formatted with ``n_labels`` and ``n_columns``) and ``end`` keep each
    caller's wording, which is scikit-learn's for the same function.
    """
    given = as_1d(labels, "labels")
    classes = encode_labels(given, "labels")[0]
    if classes.shape[0] != given.shape[0]:
        raise ValueError(f"Parameter 'labels' must be unique{end}")
    if not np.array_equal(classes, given):
        raise ValueError(f"Parameter 'labels' must be ordered{end}")
    if classes.shape[0] != n_columns:
        raise ValueError(mismatch.format(n_labels=classes.shape[0], n_columns=n_columns))
    codes, found = codes_in(classes, yt)
    if not found.all():
        raise ValueError(f"'y_true' contains labels not in parameter 'labels'{end}")
    return codes


def _multiclass_roc_auc(
    yt: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[Any] | np.ndarray | None,
    multi_class: str,
    average: str | None,
    weights: np.ndarray | None,
) -> float | np.ndarray:
    if scores.ndim != 2:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={scores.shape}`."
        )
    if not np.allclose(1, scores.sum(axis=1)):
        raise ValueError(
            "Target scores need to be probabilities for multiclass roc_auc, i.e. they should "
            "sum up to 1.0 over classes"
        )
    options: tuple[str | None, ...] = ("macro", "weighted", None)
    if multi_class == "ovr":
        options = ("micro", *options)
    if average not in options:
        raise ValueError(f"average must be one of {options} for multiclass problems")
    if multi_class not in ("ovo", "ovr"):
        raise ValueError(
            f"multi_class='{multi_class}' is not supported for multiclass ROC AUC, "
            "multi_class must be in ('ovo', 'ovr')"
        )
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    codes = _multiclass_codes(yt, labels, scores.shape[1])
    if multi_class == "ovo":
        if weights is not None:
            raise ValueError(
                "sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                "'sample_weight' must be None in this case."
            )
        return _ovo_roc_auc(codes, scores, average)
    onehot = codes[:, None] == np.arange(scores.shape[1])
    return _average_columns(binary_roc_auc, onehot, scores, average, weights)


def _ovo_roc_auc(codes: np.ndarray, scores: np.ndarray, average: str | None) -> float:
    """Hand & Till one-vs-one AUC over the pairs of classes present in ``y_true``."""
    present = np.flatnonzero(np.bincount(codes, minlength=scores.shape[1]))
    pair_scores, prevalence = [], []
    for a, b in itertools.combinations(present, 2):
        in_pair = (codes == a) | (codes == b)
        is_a = codes[in_pair] == a
        auc_a = binary_roc_auc(is_a, scores[in_pair, a])
        auc_b = binary_roc_auc(~is_a, scores[in_pair, b])
        pair_scores.append((auc_a + auc_b) / 2)
        prevalence.append(np.average(in_pair))
    weights = prevalence if average == "weighted" else None
    return float(np.average(pair_scores, weights=weights))


def average_precision(
    y_true: Any,
    y_score: Any,
    *,
    average: Literal["micro", "macro", "weighted", "samples"] | None = "macro",
    pos_label: Any = 1,
    sample_weight: Any = None,
) -> float | np.ndarray:
    """Average precision (step-wise area under the precision-recall curve).

    Args:
        y_true: true labels (binary or multiclass).
        y_score: binary: scores of ``pos_label``, shape (n_samples,); multiclass:
            scores per class, shape (n_samples, n_classes), columns in sorted label order.
        average: multiclass averaging: "macro", "micro", "weighted", "samples" or None.
        pos_label: positive class of a binary problem (fixed to 1 for multiclass).
        sample_weight: optional per-sample weights.

    Returns:
        The value of ``sklearn.metrics.average_precision_score``.
    """
    yt, scores, classes, codes, weights = _prepare(y_true, y_score, sample_weight)
    if classes.shape[0] <= 2:
        if classes.shape[0] == 2 and not contains_label(classes, pos_label):
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {classes}"
            )
        _check_average(average, BINARY_AVERAGES)
        is_pos = codes == label_index(classes, [pos_label])[0]
        return binary_average_precision(is_pos, _scores_1d(scores), weights)
    if pos_label != 1:
        raise ValueError(
            "Parameter pos_label is fixed to 1 for multiclass y_true. Do not set pos_label or "
            "set pos_label to 1."
        )
    if scores.shape != (yt.shape[0], classes.shape[0]):
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={scores.shape}`."
        )
    _check_average(average, BINARY_AVERAGES)
    if average == "samples":
        return _samples_average_precision(codes, scores, weights)
    onehot = codes[:, None] == np.arange(classes.shape[0])
    return _average_columns(binary_average_precision, onehot, scores, average, weights)


def _samples_average_precision(
    codes: np.ndarray, scores: np.ndarray, weights: np.ndarray | None
) -> float:
    # One positive per row: AP is the precision at its threshold, 1 / #(score >= its score).
    true_score = scores[np.arange(scores.shape[0]), codes]
    at_or_above = (scores >= true_score[:, None]).sum(axis=1)
    return float(np.average(1.0 / at_or_above, weights=weights))


def top_k_accuracy(
    y_true: Any,
    y_score: Any,
    *,
    k: int = 2,
    normalize: bool = True,
    sample_weight: Any = None,
    labels: Sequence[Any] | np.ndarray | None = None,
) -> float:
    """Fraction of samples whose true label is among the ``k`` highest scores.

    Ties are broken as scikit-learn does (a higher column index ranks first).

    Args:
        y_true: true labels.
        y_score: binary: scores of the greater label (n_samples,); multiclass:
            (n_samples, n_classes) scores, columns in sorted label order.
        k: number of top-scored labels that count as a hit.
        normalize: fraction (True) or (weighted) number of hits.
        sample_weight: optional per-sample weights.
        labels: all labels, when ``y_true`` does not contain every class.
    """
    hits, weights = top_k_hits(y_true, y_score, k=k, sample_weight=sample_weight, labels=labels)
    if normalize:
        return float(np.average(hits, weights=weights))
    if weights is None:
        return float(np.sum(hits))
    return float(np.dot(hits, weights))


def top_k_hits(
    y_true: Any,
    y_score: Any,
    *,
    k: int = 2,
    sample_weight: Any = None,
    labels: Sequence[Any] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sample top-k hit indicator and validated weights."""
    yt = as_1d(y_true, "y_true")
    classes_true, _ = encode_labels(yt)
    multiclass = classes_true.shape[0] > 2 or (labels is not None and len(labels) > 2)
    scores = as_scores(y_score)
    if not multiclass:
        if scores.ndim == 2 and scores.shape[1] != 1:
            raise ValueError(
                f"`y_true` is binary while y_score is 2d with {scores.shape[1]} classes. If "
                "`y_true` does not contain all the labels, `labels` must be provided."
            )
        scores = _scores_1d(scores)
    elif scores.ndim != 2:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={scores.shape}`."
        )
    n = check_lengths(yt, scores)
    weights = check_weights(sample_weight, n)
    n_columns = scores.shape[1] if scores.ndim == 2 else 2
    codes, n_classes = _top_k_codes(yt, labels, n_columns)
    if k >= n_classes:
        warn_undefined(
            f"'k' ({k}) greater than or equal to 'n_classes' ({n_classes}) will result in a "
            "perfect score and is therefore meaningless."
        )
    if not multiclass:
        if k != 1:
            return np.ones(n, dtype=bool), weights
        threshold = 0.5 if scores.min() >= 0 and scores.max() <= 1 else 0
        return (scores > threshold).astype(np.int64) == codes, weights
    true_score = scores[np.arange(n), codes][:, None]
    above = (scores > true_score).sum(axis=1)
    # A stable ascending argsort reversed puts tied higher columns first.
    tied_before = ((scores == true_score) & (np.arange(n_columns) > codes[:, None])).sum(axis=1)
    return above + tied_before < k, weights


def _top_k_codes(
    yt: np.ndarray, labels: Sequence[Any] | np.ndarray | None, n_columns: int
) -> tuple[np.ndarray, int]:
    if labels is None:
        classes, codes = encode_labels(yt)
        if classes.shape[0] != n_columns:
            raise ValueError(
                f"Number of classes in 'y_true' ({classes.shape[0]}) not equal to the number of "
                f"classes in 'y_score' ({n_columns}).You can provide a list of all known "
                "classes by assigning it to the `labels` parameter."
            )
        return codes, classes.shape[0]
    mismatch = (
        "Number of given labels ({n_labels}) not equal to the number of classes "
        "in 'y_score' ({n_columns})."
    )
    return _given_label_codes(yt, labels, n_columns, mismatch, end="."), n_columns
