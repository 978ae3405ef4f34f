"""Model comparison tests against scipy and hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from tunelab.evaluation._compare import (
    corrected_resampled_ttest,
    mcnemar_test,
    paired_ttest_5x2cv,
)


def _paired_predictions(n_ab: int, n_ba: int, n_same: int = 30) -> tuple[np.ndarray, ...]:
    """Labels and predictions where a alone is right n_ab times, b alone n_ba times."""
    y = np.zeros(n_ab + n_ba + n_same, dtype=int)
    a = np.concatenate([np.zeros(n_ab), np.ones(n_ba), np.zeros(n_same)]).astype(int)
    b = np.concatenate([np.ones(n_ab), np.zeros(n_ba), np.zeros(n_same)]).astype(int)
    return y, a, b


@pytest.mark.parametrize(("n_ab", "n_ba"), [(0, 1), (1, 7), (3, 3), (12, 2), (0, 24), (10, 14)])
def test_mcnemar_exact_matches_binomtest(n_ab: int, n_ba: int) -> None:
    result = mcnemar_test(*_paired_predictions(n_ab, n_ba))
    expected = stats.binomtest(n_ab, n_ab + n_ba, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)
    assert result.statistic == min(n_ab, n_ba)
    assert result.test == "McNemar exact"


def test_mcnemar_chi_square_above_25_disagreements() -> None:
    result = mcnemar_test(*_paired_predictions(30, 15))
    assert result.statistic == pytest.approx(196 / 45)  # (|30 - 15| - 1)^2 / 45
    assert result.p_value == pytest.approx(stats.chi2.sf(196 / 45, 1), rel=1e-12)
    assert result.mean_difference == pytest.approx(15 / 75)
    assert result.better == "a"
    assert result.interval is not None and result.mean_difference in result.interval


def test_mcnemar_direction_and_threshold() -> None:
    assert mcnemar_test(*_paired_predictions(2, 20)).better == "b"
    assert mcnemar_test(*_paired_predictions(20, 2), alpha=1e-9).better is None
    assert mcnemar_test(*_paired_predictions(25, 0)).test.startswith("McNemar chi-square")


def test_mcnemar_without_disagreement_is_p_one_and_silent() -> None:
    y = np.array([0, 1, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = mcnemar_test(y, y, y)
        other = mcnemar_test(y, 1 - y, 1 - y)
    for r in (result, other):
        assert (r.p_value, r.statistic, r.mean_difference, r.better) == (1.0, 0.0, 0.0, None)


def test_corrected_resampled_ttest_hand_computed() -> None:
    a = [0.80, 0.82, 0.79, 0.85, 0.81]
    b = [0.78, 0.80, 0.80, 0.80, 0.79]
    # differences 0.02, 0.02, -0.01, 0.05, 0.02: mean 0.02, sample variance 0.00045;
    # corrected variance (1/5 + 20/80) * 0.00045 = 0.0002025.
    t = 0.02 / math.sqrt(0.0002025)
    result = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    assert result.statistic == pytest.approx(t, rel=1e-9)
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-9)
    assert result.mean_difference == pytest.approx(0.02)
    half = stats.t.ppf(0.975, 4) * math.sqrt(0.0002025)
    assert (result.interval.low, result.interval.high) == pytest.approx((0.02 - half, 0.02 + half))
    assert result.better is None
    naive = stats.ttest_rel(a, b)
    assert abs(result.statistic) < abs(naive.statistic)


def test_corrected_resampled_ttest_direction_and_losses() -> None:
    a = np.array([0.9, 0.91, 0.92, 0.9, 0.93, 0.91])
    b = a - np.array([0.05, 0.04, 0.06, 0.05, 0.05, 0.04])
    assert corrected_resampled_ttest(a, b, 900, 100).better == "a"
    assert corrected_resampled_ttest(a, b, 900, 100, greater_is_better=False).better == "b"


def test_corrected_resampled_ttest_zero_variance() -> None:
    same = corrected_resampled_ttest([0.5, 0.6], [0.5, 0.6], 10, 5)
    assert (same.statistic, same.p_value, same.better) == (0.0, 1.0, None)
    shifted = corrected_resampled_ttest([0.6, 0.7], [0.5, 0.6], 10, 5)
    assert shifted.p_value == 0.0 and shifted.better == "a"


def test_paired_ttest_5x2cv_hand_computed() -> None:
    diff = np.array([[0.02, 0.04], [0.01, 0.03], [0.00, 0.02], [0.03, 0.01], [0.02, 0.02]])
    b = np.full((5, 2), 0.7)
    # per-replication variance (p1 - p2)^2 / 2: 0.0002, 0.0002, 0.0002, 0.0002, 0
    t = 0.02 / math.sqrt(0.0008 / 5)
    result = paired_ttest_5x2cv(b + diff, b)
    assert result.statistic == pytest.approx(t, rel=1e-9)
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, 5), rel=1e-9)
    assert result.mean_difference == pytest.approx(diff.mean())
    assert result.better is None  # t = 1.58 with 5 degrees of freedom
    assert result.interval is None


def test_paired_ttest_5x2cv_direction() -> None:
    diff = np.array([[0.05, 0.051], [0.049, 0.05], [0.05, 0.049], [0.051, 0.05], [0.05, 0.051]])
    b = np.full((5, 2), 0.7)
    assert paired_ttest_5x2cv(b + diff, b).better == "a"
    assert paired_ttest_5x2cv(b + diff, b, greater_is_better=False).better == "b"
    assert paired_ttest_5x2cv(b, b).p_value == 1.0


def test_input_validation() -> None:
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        paired_ttest_5x2cv(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        corrected_resampled_ttest([0.1, 0.2], [0.1], 10, 5)
    with pytest.raises(ValueError, match="alpha"):
        mcnemar_test([0, 1], [0, 1], [1, 1], alpha=0)
