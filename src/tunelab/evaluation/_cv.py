"""Cross-validated evaluation of an estimator: per-fold scores, times, intervals, OOF output."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab.evaluation._intervals import Bounds, Interval, score_bounds, t_interval
from tunelab.evaluation.metrics import EstimatorMetric, Metric, get_metric
from tunelab.exceptions import TrialPruned
from tunelab.trial import BaseTrial, StudyDirection, Trial, current_trial

MetricSpec = str | Metric | EstimatorMetric | Any
Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class FoldResult:
    """What one fold produced: its test indices, scores, times and model outputs."""

    test_index: np.ndarray
    scores: dict[str, float]
    fit_time: float
    score_time: float
    predictions: np.ndarray | None = None
    probabilities: np.ndarray | None = None


@dataclass(frozen=True)
class Evaluation:
    """Cross-validated scores of one estimator.

    Scores follow scikit-learn's scorer convention: higher is better, and
    ``neg_*`` metrics are negated losses.

    Attributes:
        metrics: Metric names in the order asked.
        folds: One :class:`FoldResult` per split.
        n_samples: Rows in the evaluated data.
        confidence: Coverage of :meth:`interval`.
        estimators: The fitted estimator of each fold, when asked for.
        bounds: Each metric's range, which its intervals stay within.
    """

    metrics: list[str]
    folds: list[FoldResult]
    n_samples: int
    confidence: float = 0.95
    estimators: list[Any] = field(default_factory=list)
    bounds: dict[str, Bounds] = field(default_factory=dict)

    def scores(self, metric: str) -> np.ndarray:
        """One score per fold."""
        self._check(metric)
        return np.array([f.scores[metric] for f in self.folds])

    def mean(self, metric: str | None = None) -> float:
        """Mean fold score of ``metric`` (the first metric by default)."""
        return float(self.scores(metric or self.metrics[0]).mean())

    def std(self, metric: str | None = None) -> float:
        """Standard deviation of the fold scores (ddof=1)."""
        scores = self.scores(metric or self.metrics[0])
        return float(scores.std(ddof=1)) if len(scores) > 1 else 0.0

    def interval(self, metric: str | None = None) -> Interval:
        """Student-t interval of the mean fold score at :attr:`confidence`.

        Clipped to the metric's range (a ROC-AUC interval never passes 1).
        Folds share training data, so treat it as a description of the spread,
        and use :func:`tunelab.compare` to test two models against each other.
        """
        name = metric or self.metrics[0]
        bounds = self.bounds.get(name) or score_bounds(name)
        return t_interval(self.scores(name), self.confidence, bounds=bounds)

    @property
    def fit_times(self) -> np.ndarray:
        """Seconds spent fitting, per fold."""
        return np.array([f.fit_time for f in self.folds])

    @property
    def score_times(self) -> np.ndarray:
        """Seconds spent predicting and scoring, per fold."""
        return np.array([f.score_time for f in self.folds])

    def out_of_fold(self, kind: str = "predictions") -> np.ndarray:
        """Each sample's prediction (or probabilities) from the fold that held it out.

        Raises:
            ValueError: The splits do not put every sample in exactly one test
                fold (repeated or partial cross-validation), or the output was
                not computed.
        """
        counts = np.bincount(
            np.concatenate([f.test_index for f in self.folds]), minlength=self.n_samples
        )
        if not (counts == 1).all():
            raise ValueError(
                "out-of-fold output needs splits that test every sample exactly once; "
                "use the per-fold outputs in .folds instead"
            )
        parts = [getattr(f, kind) for f in self.folds]
        if any(p is None for p in parts):
            raise ValueError(f"no {kind} were computed for these metrics")
        first = parts[0]
        out = np.empty((self.n_samples, *first.shape[1:]), dtype=first.dtype)
        for fold, part in zip(self.folds, parts, strict=True):
            out[fold.test_index] = part
        return out

    def summary(self) -> list[dict[str, float | str]]:
        """One row per metric: mean, std and interval bounds."""
        rows: list[dict[str, float | str]] = []
        for name in self.metrics:
            scores = self.scores(name)
            row: dict[str, float | str] = {
                "metric": name,
                "mean": self.mean(name),
                "std": self.std(name),
            }
            if len(scores) > 1 and np.isfinite(scores).all():
                ci = self.interval(name)
                row.update(ci_low=ci.low, ci_high=ci.high)
            rows.append(row)
        return rows

    def _check(self, metric: str) -> None:
        if metric not in self.metrics:
            raise KeyError(f"metric {metric!r} was not evaluated; evaluated: {self.metrics}")


def _as_metrics(metrics: MetricSpec | Iterable[MetricSpec]) -> list[Metric | EstimatorMetric]:
    if isinstance(metrics, str) or not isinstance(metrics, Iterable):
        metrics = [metrics]
    resolved = [get_metric(m) for m in metrics]
    if not resolved:
        raise ValueError("metrics must name at least one metric")
    names = [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"metrics are named twice: {names}")
    return resolved


def make_splits(estimator: Any, X: Any, y: Any, cv: Any, groups: Any = None) -> list[Split]:
    """Materialise the splits of ``cv`` (an int, a splitter or an iterable of index pairs).

    An int means stratified k-fold for classifiers and k-fold otherwise, as in
    scikit-learn.
    """
    from sklearn.base import is_classifier
    from sklearn.model_selection import check_cv

    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(X, y, groups)]
    if len(splits) < 1:
        raise ValueError("cv produced no splits")
    return splits


def _take(data: Any, index: np.ndarray) -> Any:
    """Rows of an array, sparse matrix, DataFrame/Series or list."""
    if hasattr(data, "iloc"):
        return data.iloc[index]
    if hasattr(data, "shape"):
        return data[index]
    return np.asarray(data)[index]


def _outputs(model: Any, X: Any, metrics: Sequence[Metric | EstimatorMetric]) -> dict[str, Any]:
    """Predictions and probabilities/scores, each computed once for all metrics."""
    needs = {m.needs for m in metrics if isinstance(m, Metric)}
    out: dict[str, Any] = {}
    if "predictions" in needs or hasattr(model, "predict"):
        out["predictions"] = model.predict(X)
    if "probabilities" in needs or ("scores" in needs and hasattr(model, "predict_proba")):
        out["probabilities"] = model.predict_proba(X)
    if "scores" in needs and "probabilities" not in out:
        out["scores"] = model.decision_function(X)
    return out


def _score_fold(
    model: Any,
    X_test: Any,
    y_test: Any,
    weight: Any,
    metrics: Sequence[Metric | EstimatorMetric],
) -> tuple[dict[str, float], dict[str, Any]]:
    outputs = _outputs(model, X_test, metrics)
    scores: dict[str, float] = {}
    for metric in metrics:
        if isinstance(metric, EstimatorMetric):
            scores[metric.name] = float(metric(model, X_test, y_test, weight))
            continue
        key = metric.needs
        if key == "scores":
            key = "probabilities" if "probabilities" in outputs else "scores"
        scores[metric.name] = float(metric.score(y_test, outputs[key], sample_weight=weight))
    return scores, outputs


def evaluate(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    cv: Any = 5,
    metrics: MetricSpec | Iterable[MetricSpec] = "accuracy",
    groups: Any = None,
    sample_weight: Any = None,
    confidence: float = 0.95,
    return_estimators: bool = False,
    prune: bool | None = None,
) -> Evaluation:
    """Cross-validate ``estimator`` on ``(X, y)`` and score every fold.

    Args:
        estimator: A scikit-learn-style estimator (cloned for each fold).
        X: Features (array or DataFrame).
        y: Targets.
        cv: Folds (int: stratified for classifiers), a splitter, or index pairs.
        metrics: Metric names (scikit-learn scorer names such as ``"f1_macro"``,
            ``"roc_auc_ovr"``, ``"neg_log_loss"``), scorers or callables.
        groups: Group labels for group splitters.
        sample_weight: Weights used when fitting and scoring.
        confidence: Coverage of the intervals.
        return_estimators: Keep each fold's fitted estimator.
        prune: Inside a running trial of a single-objective study (the
            default when called from an objective), report the running mean of
            the first metric after each fold and raise :class:`TrialPruned` when
            the pruner says so. The value reported follows the study's
            direction so that the pruner ranks trials as the study does: the
            greater-is-better score in a ``maximize`` study, its negation in a
            ``minimize`` one (for a ``neg_*`` metric, the natural loss).

    Returns:
        An :class:`Evaluation`.

    Raises:
        ValueError: An unknown metric name (close matches listed) or bad cv.
    """
    from sklearn.base import clone

    resolved = _as_metrics(metrics)
    splits = make_splits(estimator, X, y, cv, groups)
    trial = current_trial() if prune is not False else None
    sign = _reporting_sign(trial) if trial is not None else None
    folds: list[FoldResult] = []
    fitted: list[Any] = []
    weights = None if sample_weight is None else np.asarray(sample_weight)
    for step, (train, test) in enumerate(splits):
        model = clone(estimator)
        fit_kwargs = {} if weights is None else {"sample_weight": weights[train]}
        start = time.perf_counter()
        model.fit(_take(X, train), _take(y, train), **fit_kwargs)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        scores, outputs = _score_fold(
            model,
            _take(X, test),
            _take(y, test),
            None if weights is None else weights[test],
            resolved,
        )
        folds.append(
            FoldResult(
                test,
                scores,
                fit_time,
                time.perf_counter() - start,
                outputs.get("predictions"),
                outputs.get("probabilities"),
            )
        )
        if return_estimators:
            fitted.append(model)
        if trial is not None and sign is not None and step < len(splits) - 1:
            running = float(np.mean([f.scores[resolved[0].name] for f in folds]))
            trial.report(sign * running, step)
            if trial.should_prune():
                raise TrialPruned(f"pruned after fold {step + 1} of {len(splits)}")
    return Evaluation(
        [m.name for m in resolved],
        folds,
        _n_rows(X),
        confidence,
        fitted,
        {m.name: score_bounds(m) for m in resolved},
    )


def _reporting_sign(trial: BaseTrial) -> float | None:
    """The factor that puts a greater-is-better score in the trial's study's direction.

    None when nothing should be reported: studies of several objectives take no
    intermediate values.
    """
    if not isinstance(trial, Trial):
        return 1.0
    directions = trial._study.directions
    if len(directions) != 1:
        return None
    return -1.0 if directions[0] == StudyDirection.MINIMIZE else 1.0


def _n_rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)
