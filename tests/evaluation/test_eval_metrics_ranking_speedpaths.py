"""The value-sort path of unweighted ROC-AUC / average precision, against sklearn.

Covers the bucket sort of packed keys (also with tiny chunks, so that many chunks,
a ragged last chunk and large groups are exercised on small arrays), scores that
share a quantization level with or without being tied, many such levels, and the
shortcut that encodes two consecutive integer labels.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tunelab.evaluation.metrics as tm
from tunelab.evaluation.metrics import _ranking, _sorting
from tunelab.evaluation.metrics._validation import encode_labels

RTOL = 1e-12
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Distinct scores this close share a 31-bit level on a [0, 1] range.
NEAR = 1e-14


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_matches_sklearn(y: np.ndarray, scores: np.ndarray) -> None:
    np.testing.assert_allclose(
        tm.roc_auc(y, scores), quiet(skm.roc_auc_score, y, scores), rtol=RTOL
    )
    np.testing.assert_allclose(
        tm.average_precision(y, scores),
        quiet(skm.average_precision_score, y, scores),
        rtol=RTOL,
    )


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the bucket sort on small arrays, in many chunks."""
    monkeypatch.setattr(_sorting, "GROUPED_MIN_SIZE", 64)
    monkeypatch.setattr(_sorting, "_CHUNK", 97)


def _score_cases(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    base = rng.random(n)
    return {
        "continuous": base,
        "heavy ties": np.round(base, 2),
        "clustered": np.where(rng.random(n) < 0.6, 0.5 + base * 1e-6, base),
        "near but distinct": np.where(rng.random(n) < 0.5, 0.5 + rng.permutation(n) * NEAR, base),
        "near and tied": np.where(rng.random(n) < 0.5, 0.5 + rng.integers(0, 7, n) * NEAR, base),
        "negative and wide": (base - 0.5) * 1e9,
        "float32": base.astype(np.float32),
        "integers": rng.integers(-50, 50, n),
    }


@pytest.mark.parametrize("case", range(8))
def test_bucket_sort_equals_numpy_sort(case: int, tiny_chunks: None) -> None:
    rng = np.random.default_rng(case)
    n = 5_003
    name, scores = list(_score_cases(rng, n).items())[case]
    scores = scores.astype(np.float64)
    is_pos = rng.random(n) < 0.3
    packed = _sorting.sorted_keys(scores, is_pos)
    assert packed is not None, name
    keys, ordered = packed
    np.testing.assert_array_equal(ordered, np.sort(keys), err_msg=name)
    levels = keys >> 1
    # Keys keep the sample order, carry the label and never invert two scores.
    np.testing.assert_array_equal(keys & 1, is_pos)
    by_score = np.argsort(scores, kind="stable")
    assert np.all(np.diff(levels[by_score].astype(np.int64)) >= 0), name


@pytest.mark.parametrize("case", range(8))
def test_bucket_path_matches_sklearn(case: int, tiny_chunks: None) -> None:
    rng = np.random.default_rng(100 + case)
    n = 3_001
    scores = list(_score_cases(rng, n).values())[case]
    y = (rng.random(n) < 0.35).astype(int)
    assert_matches_sklearn(y, scores)


@pytest.mark.parametrize("case", range(8))
def test_large_inputs_match_sklearn(case: int) -> None:
    rng = np.random.default_rng(200 + case)
    n = 2 * _sorting.GROUPED_MIN_SIZE + 17
    scores = list(_score_cases(rng, n).values())[case]
    y = (rng.random(n) < 0.3).astype(int)
    assert_matches_sklearn(y, scores)


def test_positive_below_negative_in_one_level() -> None:
    # The packed key puts the negative first inside a shared level; the scores
    # say the positive is lower, which changes both metrics.
    rng = np.random.default_rng(7)
    low, high = 0.5, 0.5 + NEAR
    scores = np.concatenate([[low, high] * 200, rng.random(600)])
    y = np.concatenate([[1, 0] * 200, rng.integers(0, 2, 600)])
    assert _sorting.sorted_keys(scores, y == 1) is not None
    assert_matches_sklearn(y, scores)
    reversed_labels = np.concatenate([[0, 1] * 200, y[400:]])
    assert tm.roc_auc(y, scores) < tm.roc_auc(reversed_labels, scores)


def test_level_with_ties_and_distinct_scores() -> None:
    # One level holding a tied pair and a third, higher score.
    scores = np.array([0.5, 0.5, 0.5 + NEAR, 0.1, 0.9, 0.5 + NEAR, 0.3])
    for labels in ([1, 0, 0, 1, 0, 1, 0], [0, 1, 1, 0, 1, 0, 1], [1, 1, 0, 0, 0, 1, 1]):
        assert_matches_sklearn(np.array(labels), scores)


def test_tie_starts_split_mixed_levels_exactly() -> None:
    scores = np.array([0.5, 0.5 + NEAR, 0.5, 0.25, 0.75, 0.75])
    is_pos = np.array([True, False, False, True, False, True])
    labels, starts = _sorting.ranked_labels(is_pos, scores)
    # Ascending: 0.25 | 0.5, 0.5 | 0.5+NEAR | 0.75, 0.75
    assert starts is not None
    np.testing.assert_array_equal(starts, [0, 1, 3, 4])
    assert labels[0] and not labels[3]
    assert labels[1:3].sum() == 1 and labels[4:].sum() == 1


def test_distinct_scores_sharing_levels_report_no_ties() -> None:
    scores = np.array([0.5, 0.5 + NEAR, 0.5 + 2 * NEAR, 0.0, 1.0])
    is_pos = np.array([False, True, False, True, True])
    labels, starts = _sorting.ranked_labels(is_pos, scores)
    assert starts is None
    np.testing.assert_array_equal(labels, [True, False, True, False, True])


def test_many_shared_levels_use_a_wider_table() -> None:
    # Thousands of levels, each holding three distinct scores and a tie.
    rng = np.random.default_rng(3)
    levels = rng.permutation(4_000) / 4_000
    offsets = np.array([0.0, NEAR, 2 * NEAR, 2 * NEAR])
    scores = (levels[:, None] + offsets).ravel()
    y = rng.integers(0, 2, scores.shape[0])
    keys = _sorting.sorted_keys(scores, y == 1)
    assert keys is not None
    run_levels = np.unique(keys[0] >> 1)
    members, run_of = _sorting._members(keys[0], run_levels)
    np.testing.assert_array_equal(np.sort(members), np.arange(scores.shape[0]))
    np.testing.assert_array_equal(run_levels[run_of], keys[0][members] >> 1)
    assert_matches_sklearn(y, scores)


def test_unquantizable_scores_fall_back(tiny_chunks: None) -> None:
    rng = np.random.default_rng(5)
    n = 1_000
    y = rng.integers(0, 2, n)
    huge = np.where(rng.random(n) < 0.5, -1e308, 1e308) * rng.random(n)
    assert _sorting.sorted_keys(huge, y == 1) is None
    assert_matches_sklearn(y, huge)
    constant = np.full(n, 2.5)
    assert _sorting.sorted_keys(constant, y == 1) is None
    assert_matches_sklearn(y, constant)


def test_empty_and_single_inputs() -> None:
    labels, starts = _sorting.ranked_labels(np.zeros(0, dtype=bool), np.zeros(0))
    assert labels.shape == (0,) and starts is None
    ranking = tm.BinaryRanking.from_scores(np.zeros(0, dtype=bool), np.zeros(0))
    assert ranking.average_precision() == 0.0
    assert np.isnan(tm.BinaryRanking.from_scores(np.array([True]), np.array([0.3])).roc_auc())


def test_multiclass_through_the_bucket_path() -> None:
    rng = np.random.default_rng(11)
    n = _sorting.GROUPED_MIN_SIZE // 2 + 5
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), size=n).round(3)
    proba /= proba.sum(axis=1, keepdims=True)
    for average in ("micro", "macro", "weighted"):
        np.testing.assert_allclose(
            tm.roc_auc(y, proba, multi_class="ovr", average=average),
            skm.roc_auc_score(y, proba, multi_class="ovr", average=average),
            rtol=RTOL,
        )
        np.testing.assert_allclose(
            tm.average_precision(y, proba, average=average),
            skm.average_precision_score(y, proba, average=average),
            rtol=RTOL,
        )
    np.testing.assert_allclose(
        tm.roc_auc(y, proba, multi_class="ovo"),
        skm.roc_auc_score(y, proba, multi_class="ovo"),
        rtol=RTOL,
    )


@SETTINGS
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from([0.0, 0.5, 0.5 + NEAR, 0.5 + 2 * NEAR, 1.0]),
            st.floats(-3, 3, allow_nan=False, allow_infinity=False),
        ),
        min_size=2,
        max_size=400,
    ),
    data=st.data(),
)
def test_any_scores_match_sklearn_on_both_sort_paths(values: list[float], data: Any) -> None:
    scores = np.array(values)
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(values), max_size=len(values))))
    if y.min() == y.max():
        y[0] = 1 - y[0]
    assert_matches_sklearn(y, scores)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_sorting, "GROUPED_MIN_SIZE", 2)
        patch.setattr(_sorting, "_CHUNK", 13)
        assert_matches_sklearn(y, scores)


@pytest.mark.parametrize(
    "y",
    [
        np.array([0, 1, 1, 0]),
        np.array([3, 4, 4], dtype=np.int8),
        np.array([1, 2, 1], dtype=np.uint8),
        np.array([-1, 0, 0, -1], dtype=np.int32),
        np.array([2**62, 2**62 + 1]),
        np.array([7, 8, 8], dtype=np.uint64),
    ],
)
def test_two_adjacent_integers_encode_like_encode_labels(y: np.ndarray) -> None:
    found = _ranking._two_adjacent_integers(y)
    assert found is not None
    classes, codes = encode_labels(y)
    np.testing.assert_array_equal(found[0], classes)
    assert found[0].dtype == classes.dtype
    np.testing.assert_array_equal(found[1], codes)
    assert found[1].dtype == codes.dtype


@pytest.mark.parametrize(
    "y",
    [np.array([0, 2, 1]), np.array([5, 5]), np.array([0.0, 1.0]), np.array([True, False])],
)
def test_other_labels_take_the_general_encoder(y: np.ndarray) -> None:
    assert _ranking._two_adjacent_integers(y) is None
