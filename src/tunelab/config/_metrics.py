"""The ``metric``/``metrics`` fields: names, and whether they can score the model and target."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from tunelab.config._fields import ConfigError, Fields, one_line, unknown_value


def parse_metrics(check: Fields, top: Mapping[str, Any]) -> tuple[str, ...]:
    from tunelab.evaluation.metrics import get_metric

    if ("metric" in top) == ("metrics" in top):
        raise check.fail(
            "metric", "give exactly one of 'metric' or 'metrics' (the first is optimised)"
        )
    field = metrics_field(top)
    names = check.strings(top[field], field)
    if not names or len(set(names)) != len(names):
        raise check.fail(field, f"expected distinct metric names, got {list(names)}")
    for i, name in enumerate(names):
        try:
            get_metric(name)
        except ValueError:
            raise check.fail(
                _where(field, i), unknown_value("metric", name, metric_names())
            ) from None
    return names


def metrics_field(top: Mapping[str, Any]) -> str:
    return "metric" if "metric" in top else "metrics"


def check_metrics_fit_model(check: Fields, field: str, names: tuple[str, ...], model: Any) -> None:
    """Each metric scores the kind of model given (classifier or regressor) from its outputs."""
    from sklearn.base import is_classifier, is_regressor

    from tunelab.evaluation.metrics import get_metric

    kind = "classifier" if is_classifier(model) else "regressor" if is_regressor(model) else None
    model_name = type(model).__name__
    for i, name in enumerate(names):
        task, methods = _task_and_methods(get_metric(name))
        if kind == "classifier" and task == "regression":
            raise check.fail(
                _where(field, i),
                f"{name!r} scores regressors and {model_name} is a classifier; use a "
                "classification metric such as accuracy, f1_macro or roc_auc_ovr",
            )
        if kind == "regressor" and task == "classification":
            raise check.fail(
                _where(field, i),
                f"{name!r} scores classifiers and {model_name} is a regressor; use a "
                "regression metric such as r2 or neg_root_mean_squared_error",
            )
        if methods and not any(hasattr(model, method) for method in methods):
            raise check.fail(
                _where(field, i),
                f"{name!r} needs the model's {' or '.join(methods)}, which {model_name} "
                "lacks (with these model.params); choose a metric computed from predict, "
                "such as accuracy",
            )


def check_metrics_fit_target(field: str, names: tuple[str, ...], model: Any, y: Any) -> None:
    """Each metric can score the target, e.g. no binary-only metric for three classes.

    A baseline model of the same kind (one that guesses from the class frequencies, or
    the mean) is fitted and scored, so the check costs no real fit.

    Raises:
        ConfigError: A metric rejects the target; the message says why.
    """
    from sklearn.base import is_classifier, is_regressor
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from tunelab.evaluation.metrics import get_metric

    if is_classifier(model):
        baseline: Any = DummyClassifier(strategy="stratified", random_state=0)
    elif is_regressor(model):
        baseline = DummyRegressor()
    else:
        return
    target = np.asarray(y)
    features = np.zeros((len(target), 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline.fit(features, target)
        for i, name in enumerate(names):
            try:
                get_metric(name)(baseline, features, target)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"{name!r} cannot score this target: {one_line(exc)}", field=_where(field, i)
                ) from None


def _task_and_methods(metric: Any) -> tuple[str | None, tuple[str, ...]]:
    """("classification" | "regression" | None, the model methods the metric calls)."""
    from tunelab.evaluation.metrics import Metric

    function: Any
    if isinstance(metric, Metric):
        function, methods = metric.function, tuple(metric.response_method)
    else:
        # A scikit-learn scorer object: its metric function and response method.
        function = getattr(metric.scorer, "_score_func", None)
        response = getattr(metric.scorer, "_response_method", ())
        methods = (response,) if isinstance(response, str) else tuple(response)
    module = getattr(function, "__module__", "") or ""
    if module.endswith("._regression"):
        return "regression", methods
    if module.endswith(("._classification", "._ranking")):
        return "classification", methods
    return None, methods


def _where(field: str, index: int) -> str:
    # A field that already names one item (objectives[2]) is that item.
    return field if field == "metric" or field.endswith("]") else f"{field}[{index}]"


def metric_names() -> list[str]:
    """Every metric name a config accepts: tunelab's and scikit-learn's scorer names."""
    from sklearn.metrics import get_scorer_names

    from tunelab.evaluation.metrics import metric_names as tunelab_names

    return sorted(set(tunelab_names()) | set(get_scorer_names()))
