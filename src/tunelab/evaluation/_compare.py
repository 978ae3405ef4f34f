"""Statistical tests for comparing two models evaluated on the same data.

- :func:`corrected_resampled_ttest`: Nadeau & Bengio (2003) t-test on per-split
  scores of repeated train/test splits (e.g. repeated k-fold), whose variance term
  accounts for the overlap between training sets.
- :func:`mcnemar_test`: McNemar's test on paired predictions of one test set.
- :func:`paired_ttest_5x2cv`: Dietterich's (1998) 5x2cv paired t-test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from ._intervals import Interval

Better = Literal["a", "b"] | None
# Below this many disagreements McNemar's test uses the exact binomial distribution.
_MCNEMAR_EXACT_BELOW = 25


@dataclass(frozen=True)
class Comparison:
    """Outcome of a test comparing model "a" with model "b".

    Attributes:
        test: name of the test.
        statistic: the test statistic (t, chi-square, or the smaller discordant count
            for the exact McNemar test).
        p_value: two-sided p-value.
        mean_difference: mean score of a minus mean score of b (accuracy for McNemar).
        interval: confidence interval of the difference at level ``1 - alpha``, or None.
        better: "a" or "b" when the difference is significant at ``alpha``, else None.
        alpha: significance level used for ``better`` and ``interval``.
    """

    test: str
    statistic: float
    p_value: float
    mean_difference: float
    interval: Interval | None
    better: Better
    alpha: float


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def _winner(p_value: float, direction: float, alpha: float, greater_is_better: bool) -> Better:
    if not p_value < alpha or direction == 0:
        return None
    return "a" if (direction > 0) == greater_is_better else "b"


def _t_test(numerator: float, variance: float, df: int) -> tuple[float, float]:
    """t statistic and two-sided p-value; a zero variance gives t = 0 or +-inf."""
    if variance == 0:
        if numerator == 0:
            return 0.0, 1.0
        return math.copysign(math.inf, numerator), 0.0
    t = numerator / math.sqrt(variance)
    return t, float(2 * stats.t.sf(abs(t), df))


def _paired_scores(scores_a: Any, scores_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"scores_a and scores_b must have the same shape, got {a.shape}, {b.shape}"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("scores must be finite")
    return a, b


def corrected_resampled_ttest(
    scores_a: Any,
    scores_b: Any,
    n_train: int,
    n_test: int,
    *,
    alpha: float = 0.05,
    greater_is_better: bool = True,
) -> Comparison:
    """Nadeau & Bengio's corrected resampled t-test.

    With ``J`` paired scores from splits of the same data, the variance of the mean
    difference is ``(1/J + n_test/n_train) * s**2`` instead of ``s**2 / J``;
    the naive version rejects far too often because training sets overlap.

    Args:
        scores_a: model a's score on each split (e.g. every fold of repeated k-fold).
        scores_b: model b's score on the same splits.
        n_train: training-set size of one split.
        n_test: test-set size of one split.
        alpha: significance level.
        greater_is_better: whether larger scores are better (False for losses).
    """
    alpha = _check_alpha(alpha)
    a, b = _paired_scores(scores_a, scores_b)
    diff = (a - b).ravel()
    if diff.shape[0] < 2:
        raise ValueError("need scores from at least two splits")
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train and n_test must be positive, got {n_train}, {n_test}")
    mean = float(diff.mean())
    variance = (1 / diff.shape[0] + n_test / n_train) * float(diff.var(ddof=1))
    df = diff.shape[0] - 1
    statistic, p_value = _t_test(mean, variance, df)
    half = float(stats.t.ppf(1 - alpha / 2, df)) * math.sqrt(variance)
    interval = Interval(mean - half, mean + half, mean, 1 - alpha, "corrected-t")
    better = _winner(p_value, mean, alpha, greater_is_better)
    return Comparison(
        "corrected resampled t-test", statistic, p_value, mean, interval, better, alpha
    )


def mcnemar_test(y_true: Any, pred_a: Any, pred_b: Any, *, alpha: float = 0.05) -> Comparison:
    """McNemar's test: do two classifiers err on different samples equally often?

    Only discordant samples count: ``n_ab`` (a right, b wrong) and ``n_ba``. Below
    25 of them the p-value is the exact two-sided binomial test; otherwise the
    continuity-corrected chi-square ``(|n_ab - n_ba| - 1)**2 / (n_ab + n_ba)``.
    Models that never disagree get p = 1.

    Args:
        y_true: true labels of the test set.
        pred_a: model a's predicted labels.
        pred_b: model b's predicted labels.
        alpha: significance level.

    Returns:
        The comparison; ``mean_difference`` is accuracy(a) - accuracy(b) and
        ``interval`` its Wald interval for paired proportions.
    """
    alpha = _check_alpha(alpha)
    truth, a, b = (np.asarray(v).ravel() for v in (y_true, pred_a, pred_b))
    if not truth.shape == a.shape == b.shape or truth.shape[0] == 0:
        raise ValueError("y_true, pred_a and pred_b must be non-empty and of equal length")
    right_a, right_b = a == truth, b == truth
    n_ab = int(np.count_nonzero(right_a & ~right_b))
    n_ba = int(np.count_nonzero(~right_a & right_b))
    discordant = n_ab + n_ba
    n = truth.shape[0]
    difference = (n_ab - n_ba) / n
    if discordant == 0:
        statistic, p_value, test = 0.0, 1.0, "McNemar (no disagreements)"
    elif discordant < _MCNEMAR_EXACT_BELOW:
        statistic = float(min(n_ab, n_ba))
        p_value = min(1.0, float(2 * stats.binom.cdf(statistic, discordant, 0.5)))
        test = "McNemar exact"
    else:
        statistic = (abs(n_ab - n_ba) - 1) ** 2 / discordant
        p_value = float(stats.chi2.sf(statistic, 1))
        test = "McNemar chi-square (continuity corrected)"
    z = float(stats.norm.ppf(1 - alpha / 2))
    half = z * math.sqrt(max(discordant - (n_ab - n_ba) ** 2 / n, 0.0)) / n
    interval = Interval(difference - half, difference + half, difference, 1 - alpha, "wald-paired")
    better = _winner(p_value, difference, alpha, True)
    return Comparison(test, statistic, p_value, difference, interval, better, alpha)


def paired_ttest_5x2cv(
    scores_a: Any, scores_b: Any, *, alpha: float = 0.05, greater_is_better: bool = True
) -> Comparison:
    """Dietterich's 5x2cv paired t-test.

    Args:
        scores_a: model a's scores, shape (5, 2): 5 repetitions of 2-fold CV.
        scores_b: model b's scores on the same folds.
        alpha: significance level.
        greater_is_better: whether larger scores are better (False for losses).

    Returns:
        The comparison; ``statistic`` is t with 5 degrees of freedom built from the
        first fold's difference, ``mean_difference`` the mean of all ten differences.
    """
    alpha = _check_alpha(alpha)
    a, b = _paired_scores(scores_a, scores_b)
    if a.shape != (5, 2):
        raise ValueError(f"5x2cv scores must have shape (5, 2), got {a.shape}")
    diff = a - b
    rep_mean = diff.mean(axis=1, keepdims=True)
    variance = float(((diff - rep_mean) ** 2).sum()) / 5
    first = float(diff[0, 0])
    statistic, p_value = _t_test(first, variance, 5)
    better = _winner(p_value, first, alpha, greater_is_better)
    return Comparison(
        "5x2cv paired t-test", statistic, p_value, float(diff.mean()), None, better, alpha
    )
