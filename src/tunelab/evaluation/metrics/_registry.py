"""Metric registry: scikit-learn scorer names, shared statistics, ``compute_metrics``.

A :class:`Metric` knows which model output it needs, whether larger raw values
are better, and scores like a scikit-learn scorer (``neg_*`` names are negated).
:func:`compute_metrics` evaluates many metrics on one prediction set while
building the confusion matrix and the sorted scores only once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from . import _classification as C
from . import _ranking as R
from . import _regression as G
from ._confusion import (
    ClassificationStats,
    PRFSpec,
    accuracy_from_confusion,
    balanced_accuracy_from_confusion,
    kappa_from_confusion,
    matthews_from_confusion,
    select_labels,
)
from ._validation import as_1d, check_lengths, check_weights, encode_labels, label_index

Needs = Literal["predictions", "probabilities", "scores", "estimator"]
ConfusionKernel = Callable[[np.ndarray, np.ndarray | None], np.ndarray]

_PREDICT = ("predict",)
_PROBA = ("predict_proba",)
_SCORES = ("decision_function", "predict_proba")


@dataclass(frozen=True)
class Metric:
    """A metric computed from ``(y_true, model output)``, usable as a scorer.

    Attributes:
        name: registry name (a scikit-learn scorer name where one exists).
        function: the metric function, e.g. :func:`f1`.
        kwargs: keyword arguments bound to ``function``.
        response_method: estimator methods that produce the output, in preference order.
        greater_is_better: whether larger values of ``function`` are better; when
            False, :meth:`score` negates the value as scikit-learn's ``neg_*`` scorers do.
    """

    name: str
    function: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    response_method: tuple[str, ...] = _PREDICT
    greater_is_better: bool = True

    @property
    def needs(self) -> Needs:
        """What :meth:`score` takes as model output."""
        if self.response_method == _PREDICT:
            return "predictions"
        if self.response_method == _PROBA:
            return "probabilities"
        return "scores"

    @property
    def sign(self) -> int:
        """+1, or -1 for metrics where smaller is better."""
        return 1 if self.greater_is_better else -1

    def score(self, y_true: Any, y_output: Any, *, sample_weight: Any = None) -> float:
        """Scorer-convention value (higher is better) from labels and model output.

        Args:
            y_true: true targets.
            y_output: predictions, probabilities or decision scores (see :attr:`needs`).
                A binary ``(n, 2)`` probability matrix is reduced to its second column,
                as scikit-learn scorers do.
            sample_weight: optional per-sample weights.
        """
        value = self.function(
            y_true, self.prepare_output(y_output), sample_weight=sample_weight, **self.kwargs
        )
        return self.sign * value

    def prepare_output(self, y_output: Any) -> Any:
        """Reduce binary two-column probabilities to the positive column."""
        if self.needs == "predictions":
            return y_output
        out = np.asarray(y_output)
        if out.ndim == 2 and out.shape[1] == 2:
            return out[:, 1]
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy does not pickle: travel with a plain dict, come back read-only.
        return (
            _metric,
            (
                self.name,
                self.function,
                dict(self.kwargs),
                self.response_method,
                self.greater_is_better,
            ),
        )

    def __call__(self, estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Score a fitted estimator on ``(X, y)`` (scikit-learn scorer protocol)."""
        for method in self.response_method:
            if hasattr(estimator, method):
                return self.score(y, getattr(estimator, method)(X), sample_weight=sample_weight)
        raise AttributeError(
            f"{type(estimator).__name__} has none of {self.response_method}, "
            f"needed by {self.name!r}"
        )


@dataclass(frozen=True)
class EstimatorMetric:
    """A scorer that needs the estimator itself: ``scorer(estimator, X, y) -> float``.

    Wraps scikit-learn scorer objects and plain callables. Its value is always
    higher-is-better; ``greater_is_better`` describes the underlying metric.
    """

    name: str
    scorer: Callable[..., float]
    greater_is_better: bool = True
    needs: Needs = "estimator"

    @property
    def sign(self) -> int:
        """+1, or -1 for metrics where smaller is better."""
        return 1 if self.greater_is_better else -1

    def __call__(self, estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Score a fitted estimator on ``(X, y)``."""
        if sample_weight is None:
            return float(self.scorer(estimator, X, y))
        return float(self.scorer(estimator, X, y, sample_weight=sample_weight))


MetricLike = Metric | EstimatorMetric


def _metric(
    name: str,
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    response: tuple[str, ...],
    greater_is_better: bool,
) -> Metric:
    return Metric(name, function, MappingProxyType(kwargs), response, greater_is_better)


def _entry(
    name: str,
    function: Callable[..., Any],
    response: tuple[str, ...] = _PREDICT,
    greater_is_better: bool = True,
    **kwargs: Any,
) -> tuple[str, Metric]:
    return name, _metric(name, function, kwargs, response, greater_is_better)


def _averaged(prefix: str, function: Callable[..., Any]) -> list[tuple[str, Metric]]:
    entries = [_entry(prefix, function, average="binary")]
    for average in ("macro", "micro", "weighted"):
        entries.append(_entry(f"{prefix}_{average}", function, pos_label=None, average=average))
    return entries


_REGISTRY: Mapping[str, Metric] = MappingProxyType(
    dict(
        [
            _entry("accuracy", C.accuracy),
            _entry("balanced_accuracy", C.balanced_accuracy),
            *_averaged("f1", C.f1),
            *_averaged("precision", C.precision),
            *_averaged("recall", C.recall),
            _entry("matthews_corrcoef", C.matthews_corrcoef),
            _entry("cohen_kappa", C.cohen_kappa),
            _entry("roc_auc", R.roc_auc, _SCORES),
            _entry("roc_auc_ovr", R.roc_auc, _PROBA, multi_class="ovr"),
            _entry("roc_auc_ovo", R.roc_auc, _PROBA, multi_class="ovo"),
            _entry(
                "roc_auc_ovr_weighted", R.roc_auc, _PROBA, multi_class="ovr", average="weighted"
            ),
            _entry(
                "roc_auc_ovo_weighted", R.roc_auc, _PROBA, multi_class="ovo", average="weighted"
            ),
            _entry("average_precision", R.average_precision, _SCORES),
            _entry("top_k_accuracy", R.top_k_accuracy, _SCORES),
            _entry("neg_log_loss", C.log_loss, _PROBA, False),
            _entry("neg_brier_score", C.brier_score, _PROBA, False),
            _entry("r2", G.r2),
            _entry("explained_variance", G.explained_variance),
            _entry("neg_mean_squared_error", G.mean_squared_error, greater_is_better=False),
            _entry(
                "neg_root_mean_squared_error", G.root_mean_squared_error, greater_is_better=False
            ),
            _entry("neg_mean_absolute_error", G.mean_absolute_error, greater_is_better=False),
            _entry("neg_median_absolute_error", G.median_absolute_error, greater_is_better=False),
            _entry(
                "neg_mean_absolute_percentage_error",
                G.mean_absolute_percentage_error,
                greater_is_better=False,
            ),
        ]
    )
)


def metric_names() -> list[str]:
    """Names :func:`get_metric` computes natively from predictions or scores."""
    return sorted(_REGISTRY)


def _sklearn_scorer_names() -> list[str]:
    from sklearn.metrics import get_scorer_names

    return list(get_scorer_names())


def get_metric(metric: str | MetricLike | Callable[..., float]) -> MetricLike:
    """Resolve a metric name, scorer object or callable.

    Args:
        metric: a registry name (scikit-learn scorer names such as "f1_macro",
            "roc_auc_ovr" or "neg_log_loss", plus "cohen_kappa"), any other
            scikit-learn scorer name, a scikit-learn scorer object, a
            ``callable(estimator, X, y)``, or an already resolved metric.

    Returns:
        A :class:`Metric` for names computed natively, else an :class:`EstimatorMetric`.

    Raises:
        ValueError: for an unknown name; the message lists close matches.
        TypeError: for anything that is neither a name nor callable.
    """
    if isinstance(metric, (Metric, EstimatorMetric)):
        return metric
    if isinstance(metric, str):
        if metric in _REGISTRY:
            return _REGISTRY[metric]
        sklearn_names = _sklearn_scorer_names()
        if metric in sklearn_names:
            from sklearn.metrics import get_scorer

            return _wrap_scorer(metric, get_scorer(metric))
        known = sorted(set(_REGISTRY) | set(sklearn_names))
        close = difflib.get_close_matches(metric, known, n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown metric {metric!r}.{hint} "
            "tunelab.evaluation.metrics.metric_names() lists the names known."
        )
    if callable(metric):
        name = getattr(metric, "__name__", None) or type(metric).__name__
        return _wrap_scorer(name, metric)
    raise TypeError(f"metric must be a name, a scorer or a callable, got {type(metric).__name__}")


def _wrap_scorer(name: str, scorer: Callable[..., float]) -> EstimatorMetric:
    # scikit-learn scorers carry their sign; plain callables are higher-is-better.
    sign = getattr(scorer, "_sign", 1)
    return EstimatorMetric(name, scorer, greater_is_better=sign > 0)


# ---------------------------------------------------------------------------
# shared statistics


def confusion_kernel(
    metric: Metric, classes: np.ndarray, *, warn: bool = False
) -> ConfusionKernel | None:
    """Batched evaluator ``(cm, present) -> value`` of a confusion-matrix metric.

    Returns None for metrics that are not functions of the confusion matrix.
    """
    fn, kw = metric.function, dict(metric.kwargs)
    if fn is C.accuracy:
        normalize = kw.get("normalize", True)
        return lambda cm, present: accuracy_from_confusion(cm, normalize)
    if fn is C.balanced_accuracy:
        adjusted = kw.get("adjusted", False)
        return lambda cm, present: balanced_accuracy_from_confusion(cm, adjusted, warn=warn)
    if fn is C.matthews_corrcoef:
        return lambda cm, present: matthews_from_confusion(cm)
    if fn in (C.precision, C.recall, C.f1, C.fbeta):
        which: Literal["precision", "recall", "f"] = (
            "precision" if fn is C.precision else "recall" if fn is C.recall else "f"
        )
        spec = PRFSpec.build(classes, **kw)
        return lambda cm, present: spec.compute(cm, which, present, warn=warn)
    if fn is C.cohen_kappa:
        return _kappa_kernel(classes, kw, warn)
    return None


def _kappa_kernel(classes: np.ndarray, kw: dict[str, Any], warn: bool) -> ConfusionKernel:
    weights = kw.get("weights")
    replace = kw.get("replace_undefined_by", np.nan)
    labels = kw.get("labels")
    if labels is None:
        return lambda cm, present: kappa_from_confusion(cm, weights, replace, present, warn=warn)
    idx = label_index(classes, labels)
    return lambda cm, present: kappa_from_confusion(
        select_labels(cm, idx), weights, replace, warn=warn
    )


class SharedStatistics:
    """Lazily built statistics of one prediction set, shared across metrics."""

    def __init__(self, y_true: Any, y_pred: Any, y_score: Any, sample_weight: Any):
        self.y_true, self.y_pred, self.y_score = y_true, y_pred, y_score
        self.sample_weight = sample_weight
        self._confusion: ClassificationStats | None = None
        self._rankings: dict[int, R.BinaryRanking] = {}
        self._binary: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None = None

    def confusion(self) -> ClassificationStats:
        """The confusion matrix of ``y_pred`` against ``y_true`` (built once)."""
        if self._confusion is None:
            self._confusion = ClassificationStats.from_predictions(
                self.y_true, self.y_pred, sample_weight=self.sample_weight
            )
        return self._confusion

    def evaluate(self, metric: Metric) -> float | np.ndarray:
        """Scorer-convention value of ``metric`` using the shared statistics."""
        output = self.y_score if metric.needs in ("probabilities", "scores") else self.y_pred
        if output is None:
            wanted = "y_pred" if metric.needs == "predictions" else "y_score"
            raise ValueError(f"Metric {metric.name!r} needs {wanted}")
        value = self._shared_value(metric)
        if value is None:
            return metric.score(self.y_true, output, sample_weight=self.sample_weight)
        return metric.sign * value

    def _shared_value(self, metric: Metric) -> float | np.ndarray | None:
        if metric.needs == "predictions" and metric.function in CONFUSION_FUNCTIONS:
            stats = self.confusion()
            kernel = confusion_kernel(metric, stats.classes, warn=True)
            assert kernel is not None
            value = kernel(stats.cm, None)
            return value if np.ndim(value) else float(value)
        if metric.function in (R.roc_auc, R.average_precision):
            return self._ranking_value(metric)
        return None

    def _ranking_value(self, metric: Metric) -> float | None:
        """Binary ROC-AUC / average precision from one shared sort of the scores."""
        positive = self._binary_positive(metric)
        if positive is None:
            return None
        ranking = self._rankings.get(positive)
        if ranking is None:
            _, codes, scores, weights = self._binary_inputs(metric)
            ranking = R.BinaryRanking.from_scores(codes == positive, scores, weights)
            self._rankings[positive] = ranking
        if metric.function is R.roc_auc:
            return ranking.roc_auc()
        return ranking.average_precision()

    def _binary_inputs(
        self, metric: Metric
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Validated (classes, codes, 1-d scores, weights), computed once."""
        if self._binary is None:
            yt = as_1d(self.y_true, "y_true")
            scores = R.as_scores(metric.prepare_output(self.y_score))
            n = check_lengths(yt, scores)
            classes, codes = encode_labels(yt)
            self._binary = (classes, codes, scores, check_weights(self.sample_weight, n))
        return self._binary

    def _binary_positive(self, metric: Metric) -> int | None:
        """Index of the positive class when the plain binary path applies, else None.

        Anything unusual (one class, 2-d scores, partial AUC, other options) goes
        through the metric function itself, which validates and warns.
        """
        kw = dict(metric.kwargs)
        allowed = (
            {"multi_class", "average"} if metric.function is R.roc_auc else {"pos_label", "average"}
        )
        if not set(kw) <= allowed or kw.get("average", "macro") not in R.BINARY_AVERAGES:
            return None
        classes, _, scores, _ = self._binary_inputs(metric)
        if classes.shape[0] != 2 or scores.ndim != 1:
            return None
        if metric.function is R.roc_auc:
            return 1
        found = int(label_index(classes, [kw.get("pos_label", 1)])[0])
        return found if found >= 0 else None


CONFUSION_FUNCTIONS = (
    C.accuracy,
    C.balanced_accuracy,
    C.matthews_corrcoef,
    C.precision,
    C.recall,
    C.f1,
    C.fbeta,
    C.cohen_kappa,
)


def compute_metrics(
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    metrics: Iterable[str | Metric] = ("accuracy",),
    *,
    sample_weight: Any = None,
) -> dict[str, float | np.ndarray]:
    """Evaluate several metrics on one prediction set, sharing the expensive work.

    The confusion matrix is counted once for all label metrics and the scores are
    sorted once for binary ROC-AUC and average precision.

    Args:
        y_true: true labels or targets.
        y_pred: predicted labels or values (for metrics that need predictions).
        y_score: probabilities or decision scores (for metrics that need them).
        metrics: registry names or :class:`Metric` objects.
        sample_weight: optional per-sample weights.

    Returns:
        ``{name: value}`` in scorer convention (``neg_*`` metrics are negated).

    Raises:
        ValueError: for unknown names, metrics needing an estimator, or missing inputs.
    """
    shared = SharedStatistics(y_true, y_pred, y_score, sample_weight)
    results: dict[str, float | np.ndarray] = {}
    for item in metrics:
        metric = get_metric(item)
        if not isinstance(metric, Metric):
            raise ValueError(f"Metric {metric.name!r} needs an estimator; call it as a scorer")
        results[metric.name] = shared.evaluate(metric)
    return results
