"""Every tunelab metric against sklearn.metrics on many generated inputs.

Inputs cover binary and multiclass problems, integer / string / bool / float
labels, labels predicted but absent from y_true, sample weights (float, integer,
zero), tied scores, and every averaging / zero-division option. Where sklearn
raises, tunelab must raise the same exception type.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tunelab.evaluation.metrics as tm

RTOL = 1e-12
# Cancellation (e.g. MCC near 0) leaves absolute rounding noise of a few ulps.
ATOL = 1e-14
# Derandomized and without an example database: the same inputs on every run and
# no files written; max_examples keeps the whole module at a few seconds.
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

LABEL_SETS: list[list[Any]] = [
    [0, 1],
    [-1, 1],
    [1, 2, 3],
    [-2, 0, 3, 7, 11],
    ["ant", "bee", "cat", "dog"],
    [False, True],
    [0.0, 1.0, 2.0],
]


def check_same(ours: Callable[[], Any], reference: Callable[[], Any]) -> None:
    """Equal values (NaN == NaN), or the same exception type when sklearn raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = reference()
        except (ValueError, TypeError, NotImplementedError, ZeroDivisionError) as exc:
            with pytest.raises(type(exc)):
                ours()
            return
        actual = ours()
    assert np.shape(actual) == np.shape(expected)
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=RTOL,
        atol=ATOL,
    )


@st.composite
def label_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, Any, list[Any]]:
    values = draw(st.sampled_from(LABEL_SETS))
    n = draw(st.integers(1, 40))
    in_true = draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True))
    y_true = draw(st.lists(st.sampled_from(in_true), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
    weights = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from([0.0, 0.25, 1.0, 3.5]), min_size=n, max_size=n).filter(any),
            st.lists(st.integers(1, 4), min_size=n, max_size=n),
        )
    )
    return np.array(y_true), np.array(y_pred), weights, values


@st.composite
def label_options(draw: st.DrawFn, values: list[Any]) -> dict[str, Any]:
    return {
        "average": draw(st.sampled_from(["binary", "micro", "macro", "weighted", None])),
        "zero_division": draw(st.sampled_from(["warn", 0, 1, np.nan])),
        "pos_label": draw(st.sampled_from([1, *values])),
        "labels": draw(
            st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, unique=True))
        ),
    }


@SETTINGS
@given(data=label_pairs(), extra=st.data())
def test_label_metrics_match_sklearn(data: tuple, extra: st.DataObject) -> None:
    y_true, y_pred, w, values = data
    opts = extra.draw(label_options(values))
    normalize = extra.draw(st.booleans())
    adjusted = extra.draw(st.booleans())
    beta = extra.draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, np.inf]))
    check_same(
        lambda: tm.accuracy(y_true, y_pred, normalize=normalize, sample_weight=w),
        lambda: skm.accuracy_score(y_true, y_pred, normalize=normalize, sample_weight=w),
    )
    check_same(
        lambda: tm.balanced_accuracy(y_true, y_pred, sample_weight=w, adjusted=adjusted),
        lambda: skm.balanced_accuracy_score(y_true, y_pred, sample_weight=w, adjusted=adjusted),
    )
    check_same(
        lambda: tm.matthews_corrcoef(y_true, y_pred, sample_weight=w),
        lambda: skm.matthews_corrcoef(y_true, y_pred, sample_weight=w),
    )
    for ours, ref in [
        (tm.precision, skm.precision_score),
        (tm.recall, skm.recall_score),
        (tm.f1, skm.f1_score),
    ]:
        check_same(
            lambda o=ours: o(y_true, y_pred, sample_weight=w, **opts),
            lambda r=ref: r(y_true, y_pred, sample_weight=w, **opts),
        )
    check_same(
        lambda: tm.fbeta(y_true, y_pred, beta=beta, sample_weight=w, **opts),
        lambda: skm.fbeta_score(y_true, y_pred, beta=beta, sample_weight=w, **opts),
    )


@SETTINGS
@given(data=label_pairs(), extra=st.data())
def test_confusion_matrix_and_kappa_match_sklearn(data: tuple, extra: st.DataObject) -> None:
    y_true, y_pred, w, values = data
    labels = extra.draw(
        st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, unique=True))
    )
    normalize = extra.draw(st.sampled_from([None, "true", "pred", "all"]))
    weights = extra.draw(st.sampled_from([None, "linear", "quadratic"]))
    check_same(
        lambda: tm.confusion_matrix(
            y_true, y_pred, labels=labels, sample_weight=w, normalize=normalize
        ),
        lambda: skm.confusion_matrix(
            y_true, y_pred, labels=labels, sample_weight=w, normalize=normalize
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = tm.confusion_matrix(y_true, y_pred, sample_weight=w)
        assert ours.dtype == skm.confusion_matrix(y_true, y_pred, sample_weight=w).dtype
    check_same(
        lambda: tm.cohen_kappa(y_true, y_pred, labels=labels, weights=weights, sample_weight=w),
        lambda: skm.cohen_kappa_score(
            y_true, y_pred, labels=labels, weights=weights, sample_weight=w
        ),
    )


def _proba(draw: st.DrawFn, n: int, k: int) -> np.ndarray:
    raw = np.array(
        draw(
            st.lists(
                st.lists(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0, 7.0]), min_size=k, max_size=k),
                min_size=n,
                max_size=n,
            )
        ),
        dtype=np.float64,
    )
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    return raw / raw.sum(axis=1, keepdims=True)


@st.composite
def probability_data(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    values = draw(st.sampled_from(LABEL_SETS))
    n = draw(st.integers(1, 40))
    used = draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True))
    y_true = np.array(draw(st.lists(st.sampled_from(used), min_size=n, max_size=n)))
    give_labels = draw(st.booleans())
    k = len(values) if give_labels else len(set(y_true.tolist()))
    proba = _proba(draw, n, max(k, 1))
    if k == 2 and draw(st.booleans()):
        proba = proba[:, 1]
    weights = draw(st.one_of(st.none(), st.lists(st.floats(0.1, 5.0), min_size=n, max_size=n)))
    return y_true, proba, weights, (sorted(values) if give_labels else None)


@SETTINGS
@given(data=probability_data(), extra=st.data())
def test_probability_metrics_match_sklearn(data: tuple, extra: st.DataObject) -> None:
    y_true, proba, w, labels = data
    normalize = extra.draw(st.booleans())
    scale = extra.draw(st.sampled_from(["auto", True, False]))
    check_same(
        lambda: tm.log_loss(y_true, proba, normalize=normalize, sample_weight=w, labels=labels),
        lambda: skm.log_loss(y_true, proba, normalize=normalize, sample_weight=w, labels=labels),
    )
    check_same(
        lambda: tm.brier_score(y_true, proba, sample_weight=w, labels=labels, scale_by_half=scale),
        lambda: skm.brier_score_loss(
            y_true, proba, sample_weight=w, labels=labels, scale_by_half=scale
        ),
    )


@st.composite
def binary_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, Any]:
    values = draw(st.sampled_from([v for v in LABEL_SETS if len(v) <= 4]))[:2]
    n = draw(st.integers(1, 50))
    y_true = np.array(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)))
    tied = st.sampled_from([-1.5, 0.0, 0.25, 0.5, 1.0, 3.0])
    precise = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
    scores = np.array(draw(st.lists(st.one_of(tied, precise), min_size=n, max_size=n)))
    weights = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=n, max_size=n).filter(any),
        )
    )
    return y_true, scores, weights


@SETTINGS
@given(data=binary_scores(), extra=st.data())
def test_binary_ranking_metrics_match_sklearn(data: tuple, extra: st.DataObject) -> None:
    y_true, scores, w = data
    max_fpr = extra.draw(st.sampled_from([None, 0.25, 0.8, 1.0]))
    pos_label = extra.draw(st.sampled_from([1, *np.unique(y_true).tolist()]))
    k = extra.draw(st.integers(1, 3))
    check_same(
        lambda: tm.roc_auc(y_true, scores, sample_weight=w, max_fpr=max_fpr),
        lambda: skm.roc_auc_score(y_true, scores, sample_weight=w, max_fpr=max_fpr),
    )
    check_same(
        lambda: tm.average_precision(y_true, scores, sample_weight=w, pos_label=pos_label),
        lambda: skm.average_precision_score(y_true, scores, sample_weight=w, pos_label=pos_label),
    )
    check_same(
        lambda: tm.top_k_accuracy(y_true, scores, k=k, sample_weight=w),
        lambda: skm.top_k_accuracy_score(y_true, scores, k=k, sample_weight=w),
    )


@st.composite
def multiclass_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    values = draw(st.sampled_from([v for v in LABEL_SETS if len(v) >= 3]))
    n = draw(st.integers(3, 50))
    y_true = np.array(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)))
    give_labels = draw(st.booleans())
    labels = sorted(values) if give_labels else None
    k = len(values) if give_labels else len(set(y_true.tolist()))
    proba = _proba(draw, n, k)
    weights = draw(st.one_of(st.none(), st.lists(st.floats(0.1, 4.0), min_size=n, max_size=n)))
    return y_true, proba, weights, labels


@SETTINGS
@given(data=multiclass_scores(), extra=st.data())
def test_multiclass_ranking_metrics_match_sklearn(data: tuple, extra: st.DataObject) -> None:
    y_true, proba, w, labels = data
    multi_class = extra.draw(st.sampled_from(["ovr", "ovo"]))
    average = extra.draw(st.sampled_from(["macro", "weighted", "micro", "samples", None]))
    k = extra.draw(st.integers(1, 4))
    if multi_class == "ovo":
        w = None
    check_same(
        lambda: tm.roc_auc(
            y_true, proba, multi_class=multi_class, average=average, sample_weight=w, labels=labels
        ),
        lambda: skm.roc_auc_score(
            y_true, proba, multi_class=multi_class, average=average, sample_weight=w, labels=labels
        ),
    )
    check_same(
        lambda: tm.average_precision(y_true, proba, average=average, sample_weight=w),
        lambda: skm.average_precision_score(y_true, proba, average=average, sample_weight=w),
    )
    check_same(
        lambda: tm.top_k_accuracy(y_true, proba, k=k, sample_weight=w, labels=labels),
        lambda: skm.top_k_accuracy_score(y_true, proba, k=k, sample_weight=w, labels=labels),
    )


@st.composite
def regression_data(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, Any]:
    n = draw(st.integers(1, 40))
    outputs = draw(st.sampled_from([None, 1, 3]))
    shape = (n,) if outputs is None else (n, outputs)
    size = int(np.prod(shape))
    values = st.one_of(
        st.sampled_from([0.0, 1.0, -2.0, 3.5]),
        st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    )
    y_true = np.array(draw(st.lists(values, min_size=size, max_size=size))).reshape(shape)
    y_pred = np.array(draw(st.lists(values, min_size=size, max_size=size))).reshape(shape)
    weights = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=n, max_size=n).filter(any),
        )
    )
    return y_true, y_pred, weights


REGRESSION = [
    (tm.mean_absolute_error, skm.mean_absolute_error),
    (tm.mean_squared_error, skm.mean_squared_error),
    (tm.root_mean_squared_error, skm.root_mean_squared_error),
    (tm.mean_absolute_percentage_error, skm.mean_absolute_percentage_error),
    (tm.median_absolute_error, skm.median_absolute_error),
    (tm.r2, skm.r2_score),
    (tm.explained_variance, skm.explained_variance_score),
]


@SETTINGS
@given(data=regression_data(), extra=st.data())
def test_regression_metrics_match_sklearn(data: tuple, extra: st.DataObject) -> None:
    y_true, y_pred, w = data
    n_out = 1 if y_true.ndim == 1 else y_true.shape[1]
    options = ["raw_values", "uniform_average"]
    multioutput = extra.draw(
        st.sampled_from([*options, [0.2, 0.3, 0.5]] if n_out == 3 else options)
    )
    for ours, ref in REGRESSION:
        check_same(
            lambda o=ours: o(y_true, y_pred, sample_weight=w, multioutput=multioutput),
            lambda r=ref: r(y_true, y_pred, sample_weight=w, multioutput=multioutput),
        )
    force = extra.draw(st.booleans())
    for ours, ref in REGRESSION[-2:]:
        check_same(
            lambda o=ours: o(
                y_true, y_pred, sample_weight=w, multioutput="variance_weighted", force_finite=force
            ),
            lambda r=ref: r(
                y_true, y_pred, sample_weight=w, multioutput="variance_weighted", force_finite=force
            ),
        )


SCORER_NAMES = [
    "accuracy",
    "balanced_accuracy",
    "f1",
    "f1_macro",
    "f1_micro",
    "f1_weighted",
    "precision",
    "precision_macro",
    "recall",
    "recall_weighted",
    "matthews_corrcoef",
    "roc_auc",
    "average_precision",
    "neg_log_loss",
    "neg_brier_score",
    "top_k_accuracy",
]


@SETTINGS
@given(
    names=st.lists(st.sampled_from(SCORER_NAMES), min_size=1, max_size=8, unique=True),
    seed=st.integers(0, 2**16),
    n=st.integers(2, 60),
    weighted=st.booleans(),
)
def test_compute_metrics_matches_sklearn_scorers(
    names: list[str], seed: int, n: int, weighted: bool
) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    proba = np.round(rng.random(n), 1)
    pred = (proba > 0.5).astype(int)
    w = rng.random(n) + 0.1 if weighted else None
    expected: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            scorer = skm.get_scorer(name)
            out = pred if scorer._response_method == "predict" else proba
            try:
                kwargs = scorer._kwargs
                expected[name] = scorer._sign * scorer._score_func(
                    y, out, sample_weight=w, **kwargs
                )
            except ValueError:
                with pytest.raises(ValueError):
                    tm.compute_metrics(y, pred, proba, [name], sample_weight=w)
        ours = tm.compute_metrics(y, pred, proba, list(expected), sample_weight=w)
    assert list(ours) == list(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(ours[name], value, rtol=RTOL, atol=ATOL)
