"""Confidence intervals: coverage, closed-form reference values, and the
vectorised bootstrap against a slow loop over sklearn.metrics on the same resamples."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from scipy import stats

import tunelab.evaluation.metrics as tm
from tunelab.evaluation._intervals import (
    Interval,
    bootstrap_interval,
    clopper_pearson_interval,
    resample_indices,
    score_bounds,
    t_interval,
    wilson_interval,
)
from tunelab.evaluation.metrics._batch import batch_statistic

# ---------------------------------------------------------------------------
# closed forms


def test_wilson_and_clopper_pearson_reference_values() -> None:
    # Reference values from statsmodels' proportion_confint(3, 10, method=...).
    wilson = wilson_interval(3, 10)
    assert (wilson.low, wilson.high) == pytest.approx((0.10779127, 0.60322185), abs=1e-8)
    exact = clopper_pearson_interval(3, 10)
    assert (exact.low, exact.high) == pytest.approx((0.06673951, 0.65245285), abs=1e-8)
    assert wilson.estimate == exact.estimate == 0.3
    edge = clopper_pearson_interval(0, 10)
    assert edge.low == 0.0 and edge.high == pytest.approx(1 - 0.025 ** (1 / 10))


def _coverage(make: Callable[[int, int], Interval], n: int, p: float, sims: int) -> float:
    draws = np.random.default_rng(12345).binomial(n, p, size=sims)
    cache = {k: make(k, n) for k in np.unique(draws).tolist()}
    return float(np.mean([cache[k].low <= p <= cache[k].high for k in draws.tolist()]))


def test_wilson_95_covers_near_nominal() -> None:
    # n=200, p=0.1: a Wald interval covers only ~92.7% here; Wilson ~95.6%.
    assert 0.93 <= _coverage(wilson_interval, 200, 0.1, 2000) <= 0.97


def test_clopper_pearson_never_undercovers() -> None:
    for n, p in [(40, 0.2), (200, 0.1), (30, 0.5)]:
        k = np.arange(n + 1)
        inside = [
            clopper_pearson_interval(int(i), n).low <= p <= clopper_pearson_interval(int(i), n).high
            for i in k
        ]
        assert stats.binom.pmf(k, n, p)[inside].sum() >= 0.95


def test_t_interval_matches_scipy_and_covers() -> None:
    scores = [0.81, 0.79, 0.84, 0.8, 0.83]
    ours = t_interval(scores, 0.9)
    low, high = stats.t.interval(0.9, 4, loc=np.mean(scores), scale=stats.sem(scores))
    assert (ours.low, ours.high) == pytest.approx((low, high), rel=1e-12)
    rng = np.random.default_rng(7)
    hits = [0.0 in t_interval(rng.normal(size=8)) for _ in range(2000)]
    assert 0.93 <= np.mean(hits) <= 0.97


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: wilson_interval(5, 3), "k <= n"),
        (lambda: clopper_pearson_interval(1, 0), "n > 0"),
        (lambda: wilson_interval(1, 3, confidence=1.5), "confidence"),
        (lambda: t_interval([0.5]), "two"),
    ],
)
def test_closed_form_errors(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------
# bootstrap against a slow reference


def _data(seed: int = 0, n: int = 40) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.round(np.clip(0.3 * y + 0.7 * rng.random(n), 0.01, 0.99), 2)
    # Class 1 occurs once, so many resamples lack it: label sets and kappa weights
    # must then follow the resample, as sklearn re-derives them from the data.
    y3 = rng.choice([0, 2, 3], size=n, p=[0.4, 0.35, 0.25])
    y3[0] = 1
    reg = rng.normal(size=n)
    return {
        "y": y,
        "score": score,
        "pred": (score > 0.5).astype(int),
        "y3": y3,
        "pred3": np.where(rng.random(n) < 0.7, y3, rng.choice([0, 2, 3], size=n)),
        "reg": reg,
        "reg_pred": reg + rng.normal(scale=0.5, size=n),
        "w": rng.random(n) + 0.2,
    }


KAPPA_QUADRATIC = tm.Metric("kappa_quadratic", tm.cohen_kappa, {"weights": "quadratic"})
TOP_1 = tm.Metric("top_1_accuracy", tm.top_k_accuracy, {"k": 1}, ("predict_proba",))

# (tunelab metric, sklearn function returning the same convention, y key, output key, weighted)
CASES: list[tuple[Any, Callable[..., float], str, str, bool]] = [
    ("accuracy", skm.accuracy_score, "y", "pred", False),
    ("f1", skm.f1_score, "y", "pred", True),
    ("f1_macro", lambda t, p, **k: skm.f1_score(t, p, average="macro", **k), "y3", "pred3", False),
    ("balanced_accuracy", skm.balanced_accuracy_score, "y3", "pred3", False),
    ("matthews_corrcoef", skm.matthews_corrcoef, "y3", "pred3", True),
    (
        KAPPA_QUADRATIC,
        lambda t, p, **k: skm.cohen_kappa_score(t, p, weights="quadratic", **k),
        "y3",
        "pred3",
        False,
    ),
    ("roc_auc", skm.roc_auc_score, "y", "score", False),
    ("roc_auc", skm.roc_auc_score, "y", "score", True),
    ("average_precision", skm.average_precision_score, "y", "score", False),
    ("neg_log_loss", lambda t, p, **k: -skm.log_loss(t, p, **k), "y", "score", True),
    ("neg_brier_score", lambda t, p, **k: -skm.brier_score_loss(t, p, **k), "y", "score", False),
    (TOP_1, lambda t, p, **k: skm.top_k_accuracy_score(t, p, k=1, **k), "y", "score", False),
    ("r2", skm.r2_score, "reg", "reg_pred", True),
    ("explained_variance", skm.explained_variance_score, "reg", "reg_pred", False),
    (
        "neg_mean_squared_error",
        lambda t, p, **k: -skm.mean_squared_error(t, p, **k),
        "reg",
        "reg_pred",
        True,
    ),
    (
        "neg_root_mean_squared_error",
        lambda t, p, **k: -skm.root_mean_squared_error(t, p, **k),
        "reg",
        "reg_pred",
        False,
    ),
    (
        "neg_median_absolute_error",
        lambda t, p, **k: -skm.median_absolute_error(t, p, **k),
        "reg",
        "reg_pred",
        False,
    ),
    (
        "neg_mean_absolute_percentage_error",
        lambda t, p, **k: -skm.mean_absolute_percentage_error(t, p, **k),
        "reg",
        "reg_pred",
        True,
    ),
]
CASE_IDS = [f"{getattr(c[0], 'name', c[0])}{'-weighted' if c[4] else ''}" for c in CASES]


def _reference_replicates(
    fn: Callable[..., float],
    y: np.ndarray,
    out: np.ndarray,
    w: np.ndarray | None,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for chunk in resample_indices(y.shape[0], n_resamples, np.random.default_rng(seed)):
            for r in chunk:
                kw = {} if w is None else {"sample_weight": w[r]}
                values.append(fn(y[r], out[r], **kw))
    values = np.array(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _reference_jackknife(
    fn: Callable[..., float], y: np.ndarray, out: np.ndarray, w: np.ndarray | None
) -> np.ndarray:
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(y.shape[0]):
            keep = np.arange(y.shape[0]) != i
            kw = {} if w is None else {"sample_weight": w[keep]}
            values.append(fn(y[keep], out[keep], **kw))
    return np.array(values, dtype=np.float64)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bootstrap_percentile_equals_loop_over_sklearn(case: tuple) -> None:
    metric, fn, y_key, out_key, weighted = case
    data = _data()
    y, out = data[y_key], data[out_key]
    w = data["w"] if weighted else None
    ours = bootstrap_interval(
        metric, y, out, n_resamples=100, random_state=11, sample_weight=w, confidence=0.9
    )
    replicates = _reference_replicates(fn, y, out, w, 100, seed=11)
    low, high = np.percentile(replicates, [5, 95])
    assert (ours.low, ours.high) == pytest.approx((low, high), rel=1e-10, abs=1e-12)
    kw = {} if w is None else {"sample_weight": w}
    assert ours.estimate == pytest.approx(fn(y, out, **kw), rel=1e-12)
    assert (ours.confidence, ours.method) == (0.9, "percentile")


def _reference_bca(
    replicates: np.ndarray, estimate: float, jackknife: np.ndarray, alpha: float
) -> tuple[float, float]:
    share = (np.sum(replicates < estimate) + 0.5 * np.sum(replicates == estimate)) / len(replicates)
    z0 = stats.norm.ppf(share)
    d = jackknife.mean() - jackknife
    a = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    levels = []
    for z in (stats.norm.ppf(alpha), stats.norm.ppf(1 - alpha)):
        levels.append(stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    return tuple(np.percentile(replicates, 100 * np.array(levels)))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bootstrap_bca_equals_reference(case: tuple) -> None:
    metric, fn, y_key, out_key, weighted = case
    data = _data(seed=3)
    y, out = data[y_key], data[out_key]
    w = data["w"] if weighted else None
    ours = bootstrap_interval(
        metric, y, out, n_resamples=100, random_state=5, sample_weight=w, method="bca"
    )
    kw = {} if w is None else {"sample_weight": w}
    expected = _reference_bca(
        _reference_replicates(fn, y, out, w, 100, seed=5),
        fn(y, out, **kw),
        _reference_jackknife(fn, y, out, w),
        0.025,
    )
    assert (ours.low, ours.high) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("name", "fn", "y_key", "out_key"),
    [
        (
            "f1_weighted",
            lambda t, p, **k: skm.f1_score(t, p, average="weighted", **k),
            "y3",
            "pred3",
        ),
        ("roc_auc", skm.roc_auc_score, "y", "score"),
        ("neg_log_loss", lambda t, p, **k: -skm.log_loss(t, p, **k), "y", "score"),
    ],
)
def test_exact_jackknife_equals_leave_one_out(
    name: str, fn: Callable[..., float], y_key: str, out_key: str
) -> None:
    data = _data(seed=8, n=30)
    y, out, w = data[y_key], data[out_key], data["w"]
    batch = batch_statistic(tm.get_metric(name), y, out, w)
    assert batch is not None and batch.jackknife is not None
    values, counts = batch.jackknife()
    expanded = np.sort(np.repeat(values, counts))
    np.testing.assert_allclose(expanded, np.sort(_reference_jackknife(fn, y, out, w)), rtol=1e-10)


def test_plain_callable_uses_loop_and_matches_registry_path() -> None:
    data = _data(seed=4)
    by_name = bootstrap_interval(
        "roc_auc", data["y"], data["score"], n_resamples=200, random_state=1, method="bca"
    )
    by_callable = bootstrap_interval(
        skm.roc_auc_score, data["y"], data["score"], n_resamples=200, random_state=1, method="bca"
    )
    assert (by_callable.low, by_callable.high) == pytest.approx(
        (by_name.low, by_name.high), rel=1e-9
    )


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_accuracy_interval_covers_true_accuracy(method: str) -> None:
    rng = np.random.default_rng(2024)
    hits = []
    for seed in range(100):
        y = rng.integers(0, 2, 200)
        pred = np.where(rng.random(200) < 0.8, y, 1 - y)  # true accuracy 0.8
        iv = bootstrap_interval(
            "accuracy", y, pred, n_resamples=400, random_state=seed, method=method
        )
        hits.append(0.8 in iv)
    assert 0.9 <= np.mean(hits) <= 0.99


def test_undefined_resamples_are_dropped_with_a_warning() -> None:
    y = np.array([0, 0, 0, 0, 0, 1, 0, 0])
    s = np.linspace(0, 1, 8)
    with pytest.warns(RuntimeWarning, match="undefined"):
        iv = bootstrap_interval("roc_auc", y, s, n_resamples=200, random_state=0)
    assert 0 <= iv.low <= iv.high <= 1
    with pytest.raises(ValueError, match="every bootstrap resample"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bootstrap_interval("roc_auc", [1, 1, 1], [0.2, 0.3, 0.4], n_resamples=20)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"method": "studentized"}, ValueError),
        ({"confidence": 0.0}, ValueError),
        ({"n_resamples": 0}, ValueError),
        ({"metric": "jaccard"}, ValueError),
        ({"metric": 3}, TypeError),
    ],
)
def test_bootstrap_argument_errors(kwargs: dict[str, Any], error: type[Exception]) -> None:
    args = {"metric": "accuracy", **kwargs}
    metric = args.pop("metric")
    with pytest.raises(error):
        bootstrap_interval(metric, [0, 1, 1], [0, 1, 0], **args)


@pytest.mark.parametrize(
    ("metric", "scores", "bounds"),
    [
        ("roc_auc", [0.999, 1.0, 0.97, 1.0, 1.0], (0.0, 1.0)),
        ("accuracy", [0.0, 0.0, 0.05, 0.0], (0.0, 1.0)),
        ("matthews_corrcoef", [1.0, 0.9, 1.0], (-1.0, 1.0)),
        ("neg_log_loss", [-0.001, -0.0001, -0.05], (-np.inf, 0.0)),
        ("neg_mean_squared_error", [-1e-6, 0.0, -1e-2], (-np.inf, 0.0)),
        ("r2", [1.0, 0.99, 0.9], (-np.inf, 1.0)),
        ("d2_log_loss_score", [1.0, 0.99, 0.9], (-np.inf, 1.0)),
    ],
)
def test_t_interval_stays_within_the_metric_s_range(
    metric: str, scores: list[float], bounds: tuple[float, float]
) -> None:
    assert score_bounds(metric) == bounds
    free = t_interval(scores)
    assert free.low < bounds[0] or free.high > bounds[1]  # the plain t interval leaves it
    ci = t_interval(scores, bounds=score_bounds(metric))
    assert bounds[0] <= ci.low <= ci.estimate <= ci.high <= bounds[1]
    assert ci.method == "t-clipped"
    assert (ci.low, ci.high) == (max(free.low, bounds[0]), min(free.high, bounds[1]))


def test_evaluation_intervals_respect_each_metric_s_range() -> None:
    # A near-perfect forest on breast cancer: the unclipped ROC-AUC interval passes 1.
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    import tunelab as tl

    X, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=20, random_state=0)
    ev = tl.evaluate(model, X, y, cv=5, metrics=["roc_auc", "neg_log_loss", "accuracy"])
    for name in ev.metrics:
        low, high = score_bounds(name)
        ci = ev.interval(name)
        assert low <= ci.low <= ci.high <= high, (name, ci)
    assert t_interval(ev.scores("roc_auc")).high > 1.0
    assert ev.summary()[0]["ci_high"] == ev.interval("roc_auc").high <= 1.0


def test_unknown_metric_names_are_unbounded_and_plain_t_is_unchanged() -> None:
    assert score_bounds("my_metric") == (-np.inf, np.inf)
    ci = t_interval([0.2, 0.4, 0.6])
    assert ci.method == "t" and ci.low < 0.2
