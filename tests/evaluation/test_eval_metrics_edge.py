"""Explicit edge cases, errors, the radix sort path and the metric registry."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LinearRegression, LogisticRegression

import tunelab.evaluation.metrics as tm
from tunelab.evaluation.metrics import _ranking

RTOL = 1e-12


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_close(ours: Any, expected: Any) -> None:
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(expected, float), rtol=RTOL)


# ---------------------------------------------------------------------------
# label metrics


LABEL_CASES = {
    "one class present": ([1, 1, 1, 1], [1, 1, 1, 1]),
    "all predicted one class": ([0, 1, 1, 0, 1], [1, 1, 1, 1, 1]),
    "nothing predicted positive": ([0, 1, 1, 0], [0, 0, 0, 0]),
    "prediction-only label": ([0, 0, 1, 1], [0, 2, 1, 2]),
    "string labels": (["cat", "dog", "dog", "cat"], ["dog", "dog", "cat", "emu"]),
    "bool labels": ([True, False, True, True], [True, True, False, True]),
}


@pytest.mark.parametrize("case", LABEL_CASES, ids=list(LABEL_CASES))
@pytest.mark.parametrize("zero_division", ["warn", 0, 1, np.nan])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", None])
def test_prf_edge_cases_match_sklearn(case: str, zero_division: Any, average: Any) -> None:
    y_true, y_pred = LABEL_CASES[case]
    for ours, ref in [
        (tm.precision, skm.precision_score),
        (tm.recall, skm.recall_score),
        (tm.f1, skm.f1_score),
    ]:
        kw = {"average": average, "zero_division": zero_division}
        assert_close(quiet(ours, y_true, y_pred, **kw), quiet(ref, y_true, y_pred, **kw))


@pytest.mark.parametrize("case", LABEL_CASES, ids=list(LABEL_CASES))
def test_other_label_metrics_on_edge_cases(case: str) -> None:
    y_true, y_pred = LABEL_CASES[case]
    pairs = [
        (tm.accuracy, skm.accuracy_score),
        (tm.balanced_accuracy, skm.balanced_accuracy_score),
        (tm.matthews_corrcoef, skm.matthews_corrcoef),
        (tm.cohen_kappa, skm.cohen_kappa_score),
        (tm.confusion_matrix, skm.confusion_matrix),
    ]
    for ours, ref in pairs:
        assert_close(quiet(ours, y_true, y_pred), quiet(ref, y_true, y_pred))


def test_weighted_average_over_absent_labels_falls_back_to_plain_mean() -> None:
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 2]
    kw = {"labels": [2, 5], "average": "weighted", "zero_division": 1}
    assert_close(quiet(tm.f1, y_true, y_pred, **kw), quiet(skm.f1_score, y_true, y_pred, **kw))
    assert quiet(tm.precision, y_true, y_pred, **kw) == 0.5


def test_zero_division_warns_like_sklearn() -> None:
    with pytest.warns(UndefinedMetricWarning):
        assert tm.precision([0, 1], [0, 0]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tm.precision([0, 1], [0, 0], zero_division=1) == 1.0
        assert np.isnan(tm.precision([0, 1], [0, 0], zero_division=np.nan))


def test_multiclass_with_binary_average_raises() -> None:
    with pytest.raises(ValueError, match="multiclass"):
        tm.f1([0, 1, 2], [0, 1, 1])


def test_invalid_pos_label_raises() -> None:
    with pytest.raises(ValueError, match="pos_label"):
        tm.precision(["a", "b"], ["a", "a"])
    assert quiet(tm.precision, ["a", "b", "b"], ["a", "b", "a"], pos_label="b") == 1.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0.5, 1.0], [0, 1], "continuous"),
        ([0, 1], ["a", "b"], "Mix of label input types"),
        ([0, 1, 1], [0, 1], "inconsistent numbers of samples"),
        ([], [], "empty"),
        (np.zeros((3, 2)), np.zeros((3, 2)), "1-d"),
    ],
)
def test_bad_label_input_raises_value_error(y_true: Any, y_pred: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tm.accuracy(y_true, y_pred)
    with pytest.raises(ValueError):
        tm.f1(y_true, y_pred, average="macro")


def test_confusion_matrix_labels_and_dtype() -> None:
    y_true, y_pred = ["b", "a", "c", "a"], ["a", "a", "c", "d"]
    expected = skm.confusion_matrix(y_true, y_pred, labels=["c", "a", "z"])
    ours = tm.confusion_matrix(y_true, y_pred, labels=["c", "a", "z"])
    np.testing.assert_array_equal(ours, expected)
    assert ours.dtype == np.int64
    assert tm.confusion_matrix([0, 1], [1, 1], sample_weight=[1, 2]).dtype == np.int64
    assert tm.confusion_matrix([0, 1], [1, 1], sample_weight=[1.0, 2.5]).dtype == np.float64
    with pytest.raises(ValueError, match="At least one label"):
        tm.confusion_matrix([0, 1], [0, 1], labels=[5])


def test_large_integer_labels_use_the_sorting_encoder() -> None:
    y_true = np.array([10**12, 3, 3, 10**12, 7])
    y_pred = np.array([3, 3, 7, 10**12, 10**12])
    assert_close(
        tm.f1(y_true, y_pred, average="macro"), skm.f1_score(y_true, y_pred, average="macro")
    )
    assert_close(tm.matthews_corrcoef(y_true, y_pred), skm.matthews_corrcoef(y_true, y_pred))


# ---------------------------------------------------------------------------
# ranking metrics


def test_roc_auc_single_class_is_nan_with_warning_like_sklearn() -> None:
    # scikit-learn >= 1.6 returns NaN here instead of raising.
    with pytest.warns(UndefinedMetricWarning):
        ours = tm.roc_auc([1, 1, 1], [0.1, 0.4, 0.3])
    assert np.isnan(ours)
    assert np.isnan(quiet(skm.roc_auc_score, [1, 1, 1], [0.1, 0.4, 0.3]))


def test_all_tied_scores() -> None:
    y, s = [0, 1, 0, 1, 1], [0.3] * 5
    assert tm.roc_auc(y, s) == 0.5
    assert_close(tm.average_precision(y, s), skm.average_precision_score(y, s))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"multi_class": "raise"}, "multi_class"),
        ({"multi_class": "ovr", "max_fpr": 0.5}, "Partial AUC"),
        ({"multi_class": "ovo", "sample_weight": [1, 1, 1, 1]}, "sample_weight"),
        ({"multi_class": "ovr", "labels": [2, 1, 0]}, "ordered"),
    ],
)
def test_multiclass_roc_auc_errors(kwargs: dict[str, Any], message: str) -> None:
    proba = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match=message):
        tm.roc_auc([0, 1, 2, 1], proba, **kwargs)


def test_ranking_rejects_non_finite_scores() -> None:
    with pytest.raises(ValueError, match="NaN"):
        tm.roc_auc([0, 1], [0.1, np.nan])


def _radix_cases(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    base = rng.random(n)
    tied = 0.5 + rng.integers(0, 50, n) * 1e-15  # a few values sharing one key
    distinct = 0.5 + rng.permutation(n) * 1e-14  # all different, yet one key
    return {
        "continuous": base,
        "key collisions with ties": np.where(rng.random(n) < 0.5, tied, base),
        "key collisions without ties": np.where(rng.random(n) < 0.5, distinct, base),
        "heavy ties": np.round(base, 2),
        "negative and wide": (base - 0.5) * 1e6,
        "constant": np.full(n, 3.0),
        "huge range": np.where(base < 0.5, -1e308, 1e308) * base,
    }


@pytest.mark.parametrize("case", range(7))
def test_radix_sort_path_matches_sklearn(case: int) -> None:
    rng = np.random.default_rng(case)
    n = 3 * _ranking._RADIX_MIN_SIZE
    name, scores = list(_radix_cases(rng, n).items())[case]
    y = rng.integers(0, 2, n)
    w = rng.random(n)
    assert_close(tm.roc_auc(y, scores), quiet(skm.roc_auc_score, y, scores))
    assert_close(tm.average_precision(y, scores), quiet(skm.average_precision_score, y, scores))
    assert_close(
        tm.roc_auc(y, scores, sample_weight=w),
        quiet(skm.roc_auc_score, y, scores, sample_weight=w),
    )
    order, starts = _ranking.sort_scores(scores)
    assert np.all(np.diff(scores[order]) >= 0), name
    n_distinct = np.unique(scores).shape[0]
    assert (n if starts is None else starts.shape[0]) == n_distinct


def test_top_k_tie_breaking_matches_sklearn() -> None:
    scores = np.array([[0.2, 0.4, 0.4], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3]])
    for k in (1, 2):
        for y in ([0, 1, 2], [2, 0, 1], [1, 1, 0]):
            assert_close(
                quiet(tm.top_k_accuracy, y, scores, k=k, labels=[0, 1, 2]),
                quiet(skm.top_k_accuracy_score, y, scores, k=k, labels=[0, 1, 2]),
            )


def test_log_loss_needs_all_classes() -> None:
    with pytest.raises(ValueError, match="only one label"):
        tm.log_loss([1, 1], [0.2, 0.3])
    assert_close(
        tm.log_loss([1, 1], [0.2, 0.3], labels=[0, 1]),
        skm.log_loss([1, 1], [0.2, 0.3], labels=[0, 1]),
    )
    with pytest.raises(ValueError, match="greater than 1"):
        tm.log_loss([0, 1], [0.2, 1.3])


def test_brier_score_string_labels_need_pos_label() -> None:
    with pytest.raises(ValueError, match="pos_label"):
        tm.brier_score(["a", "b"], [0.2, 0.8])
    assert_close(
        tm.brier_score(["a", "b"], [0.2, 0.8], pos_label="b"),
        skm.brier_score_loss(["a", "b"], [0.2, 0.8], pos_label="b"),
    )


# ---------------------------------------------------------------------------
# regression


def test_regression_edge_cases() -> None:
    assert np.isnan(quiet(tm.r2, [1.0], [2.0]))
    assert tm.r2([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert tm.r2([2.0, 2.0], [1.0, 2.0]) == 0.0
    assert np.isneginf(quiet(tm.r2, [2.0, 2.0], [1.0, 2.0], force_finite=False))
    assert_close(
        tm.mean_absolute_percentage_error([0.0, 1.0], [1.0, 1.0]),
        skm.mean_absolute_percentage_error([0.0, 1.0], [1.0, 1.0]),
    )
    with pytest.raises(ValueError, match="multioutput"):
        tm.mean_squared_error([1.0], [1.0], multioutput="bad")
    with pytest.raises(ValueError, match="NaN"):
        tm.mean_absolute_error([1.0, np.nan], [1.0, 2.0])


def test_weighted_median_exact_half_averages_neighbours() -> None:
    y_true, y_pred, w = [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 0.0, 2.0]
    assert_close(
        tm.median_absolute_error(y_true, y_pred, sample_weight=w),
        skm.median_absolute_error(y_true, y_pred, sample_weight=w),
    )


# ---------------------------------------------------------------------------
# registry and compute_metrics


def test_get_metric_describes_needs_and_direction() -> None:
    f1_macro = tm.get_metric("f1_macro")
    assert (f1_macro.needs, f1_macro.greater_is_better) == ("predictions", True)
    assert tm.get_metric("roc_auc").needs == "scores"
    log_loss = tm.get_metric("neg_log_loss")
    assert (log_loss.needs, log_loss.greater_is_better) == ("probabilities", False)
    y, p = [0, 1, 1], [0.2, 0.7, 0.4]
    assert_close(log_loss.score(y, p), -skm.log_loss(y, p))
    assert_close(
        tm.get_metric("neg_root_mean_squared_error").score([1.0, 2.0], [1.5, 2.0]),
        -skm.root_mean_squared_error([1.0, 2.0], [1.5, 2.0]),
    )


def test_unknown_metric_lists_close_matches() -> None:
    with pytest.raises(ValueError, match="f1_macro"):
        tm.get_metric("f1_macr")


def test_sklearn_only_names_scorers_and_callables_are_wrapped() -> None:
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    jaccard = tm.get_metric("jaccard")
    assert jaccard.needs == "estimator"
    assert_close(jaccard(model, X, y), skm.get_scorer("jaccard")(model, X, y))
    wrapped = tm.get_metric(skm.get_scorer("neg_log_loss"))
    assert wrapped.greater_is_better is False
    assert_close(wrapped(model, X, y), skm.get_scorer("neg_log_loss")(model, X, y))
    custom = tm.get_metric(lambda est, X_, y_: 0.25)
    assert custom(model, X, y) == 0.25
    with pytest.raises(TypeError):
        tm.get_metric(3)


@pytest.mark.parametrize(
    "name",
    [
        "accuracy",
        "roc_auc",
        "average_precision",
        "neg_log_loss",
        "neg_brier_score",
        "f1",
        "top_k_accuracy",
        "matthews_corrcoef",
    ],
)
def test_metric_scores_estimators_like_sklearn_scorers(name: str) -> None:
    X = np.random.default_rng(1).normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    assert_close(quiet(tm.get_metric(name), model, X, y), quiet(skm.get_scorer(name), model, X, y))


@pytest.mark.parametrize("name", ["roc_auc_ovr", "roc_auc_ovo_weighted", "f1_weighted"])
def test_multiclass_scorers_match_sklearn(name: str) -> None:
    X = np.random.default_rng(2).normal(size=(90, 3))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    model = LogisticRegression().fit(X, y)
    assert_close(tm.get_metric(name)(model, X, y), skm.get_scorer(name)(model, X, y))


def test_regression_scorer_matches_sklearn() -> None:
    X = np.random.default_rng(3).normal(size=(50, 2))
    y = X @ [1.0, -2.0] + 0.1 * X[:, 0] ** 2
    model = LinearRegression().fit(X, y)
    for name in ("r2", "neg_mean_absolute_error", "neg_median_absolute_error"):
        assert_close(tm.get_metric(name)(model, X, y), skm.get_scorer(name)(model, X, y))


def test_compute_metrics_builds_shared_statistics_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"confusion": 0, "ranking": 0}
    confusion, ranking = tm.ClassificationStats.from_predictions, tm.BinaryRanking.from_scores

    def count_confusion(*args: Any, **kwargs: Any) -> Any:
        calls["confusion"] += 1
        return confusion(*args, **kwargs)

    def count_ranking(*args: Any, **kwargs: Any) -> Any:
        calls["ranking"] += 1
        return ranking(*args, **kwargs)

    monkeypatch.setattr(tm.ClassificationStats, "from_predictions", count_confusion)
    monkeypatch.setattr(tm.BinaryRanking, "from_scores", count_ranking)
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 500), rng.random(500)
    names = [
        "accuracy",
        "f1",
        "f1_macro",
        "precision",
        "recall",
        "balanced_accuracy",
        "matthews_corrcoef",
        "cohen_kappa",
        "roc_auc",
        "average_precision",
    ]
    out = tm.compute_metrics(y, (s > 0.5).astype(int), s, names)
    assert calls == {"confusion": 1, "ranking": 1}
    assert_close(out["roc_auc"], skm.roc_auc_score(y, s))
    assert_close(out["cohen_kappa"], skm.cohen_kappa_score(y, (s > 0.5).astype(int)))


def test_compute_metrics_reports_missing_inputs() -> None:
    with pytest.raises(ValueError, match="y_score"):
        tm.compute_metrics([0, 1], [0, 1], None, ["roc_auc"])
    with pytest.raises(ValueError, match="estimator"):
        tm.compute_metrics([0, 1], [0, 1], None, ["jaccard"])
