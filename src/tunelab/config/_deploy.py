"""The ``deploy`` field: how each trial's model is measured as it will be served, and the
deployment choices searched beside the model's hyperparameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tunelab.config._fields import ConfigError, Fields, jsonable
from tunelab.config._model import model_from_spec, parse_space
from tunelab.space import BaseDistribution, CategoricalDistribution, IntDistribution

# Trial parameters a deploy block may add beside the model's own.
PRECISION_PARAM = "precision"
FEATURES_PARAM = "features"
DEPLOY_PARAMS = (PRECISION_PARAM, FEATURES_PARAM)
_KEYS = ("precision", "sample_rows", "calls", "warmup", "batch_rows", "features")
# Beyond these, a typo (an extra zero) would make every trial slow for no better estimate.
_MAX_CALLS = 100_000
_MAX_ROWS = 100_000


@dataclass(frozen=True)
class DeployConfig:
    """How a trial's model is measured, and which deployment choices are searched.

    Attributes:
        precision: The precisions tried: one fixes it, several are searched as the
            categorical trial parameter ``precision``.
        sample_rows: Rows drawn once (seeded) from the data; every trial's model is
            converted, checked and timed on them.
        calls: Timed one-row calls per trial (batch calls: a quarter, at least 20).
        warmup: Untimed calls before timing.
        batch_rows: Rows per batch call.
        features: Keep the ``k`` features of highest univariate score (ANOVA F for
            classifiers, F-regression for regressors, computed on each fit's rows)
            before the model: a fixed ``k``, a distribution searched as the trial
            parameter ``features``, or None for every feature.
        features_spec: ``features`` as written.
    """

    precision: tuple[str, ...] = ("float32",)
    sample_rows: int = 256
    calls: int = 200
    warmup: int = 20
    batch_rows: int = 256
    features: int | BaseDistribution | None = None
    features_spec: Any = field(default=None, repr=False)

    def searched(self) -> dict[str, BaseDistribution]:
        """The trial parameters the block adds: ``precision`` and ``features`` when searched."""
        params: dict[str, BaseDistribution] = {}
        if len(self.precision) > 1:
            params[PRECISION_PARAM] = CategoricalDistribution(list(self.precision))
        if isinstance(self.features, BaseDistribution):
            params[FEATURES_PARAM] = self.features
        return params

    def max_features(self) -> int | None:
        """The largest ``k`` a trial can keep, or None when every feature is kept."""
        if isinstance(self.features, IntDistribution):
            return self.features.high
        return self.features if isinstance(self.features, int) else None

    def spec(self) -> dict[str, Any]:
        """The JSON form, as the study stores it in its "deploy" user attribute."""
        precision: Any = self.precision[0] if len(self.precision) == 1 else list(self.precision)
        return {
            "precision": precision,
            "sample_rows": self.sample_rows,
            "calls": self.calls,
            "warmup": self.warmup,
            "batch_rows": self.batch_rows,
            "features": self.features_spec,
        }


def parse_deploy(check: Fields, value: Any) -> DeployConfig:
    from tunelab.deploy._measure import PRECISIONS

    spec = check.mapping(value if value is not None else {}, "deploy", allowed=_KEYS)
    precision = check.strings(spec.get("precision", "float32"), "deploy.precision")
    for i, item in enumerate(precision):
        check.choice(item, f"deploy.precision[{i}]", PRECISIONS)
    if len(set(precision)) != len(precision):
        raise check.fail("deploy.precision", f"expected distinct values, got {list(precision)}")
    features_spec = jsonable(check, spec.get("features"), "deploy.features")
    return DeployConfig(
        precision=precision,
        sample_rows=_count(check, spec, "sample_rows", 256, 1, _MAX_ROWS),
        calls=_count(check, spec, "calls", 200, 1, _MAX_CALLS),
        warmup=_count(check, spec, "warmup", 20, 0, _MAX_CALLS),
        batch_rows=_count(check, spec, "batch_rows", 256, 1, _MAX_ROWS),
        features=_features(check, features_spec),
        features_spec=features_spec,
    )


def _count(
    check: Fields, spec: Mapping[str, Any], key: str, default: int, low: int, high: int
) -> int:
    return check.integer(spec.get(key, default), f"deploy.{key}", minimum=low, maximum=high)


def _features(check: Fields, value: Any) -> int | BaseDistribution | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return check.integer(value, "deploy.features", minimum=1)
    if "int" not in value:
        raise check.fail(
            "deploy.features",
            "expected a number of features or an int range such as {int: [8, 64]}, "
            f"got {value!r}",
        )
    # Read as a one-parameter space so its errors name deploy.features.int etc.
    dist = parse_space(check, {"features": value}, "deploy").distributions[FEATURES_PARAM]
    assert isinstance(dist, IntDistribution)
    if dist.low < 1:
        raise check.fail("deploy.features.int", f"keep at least 1 feature, got low={dist.low}")
    return dist


def trial_precision(params: Mapping[str, Any], deploy: Mapping[str, Any] | None) -> str:
    """The precision a trial's model is served at: its ``precision`` parameter, else the
    deploy block's single value, else float32."""
    chosen = params.get(PRECISION_PARAM)
    if isinstance(chosen, str):
        return chosen
    fixed = (deploy or {}).get("precision")
    return fixed if isinstance(fixed, str) else "float32"


def build_trial_estimator(
    model: Any, params: Mapping[str, Any], deploy: Mapping[str, Any] | None = None
) -> Any:
    """The unfitted estimator a config study evaluated for one trial.

    Rebuilds exactly what the trial fitted, so a refit of a chosen trial (``tunelab
    register``) ships the model whose deployment the trial measured.

    Args:
        model: The study's "model" user attribute (:meth:`ModelConfig.spec`).
        params: The trial's parameters (``model``, ``<family>.<parameter>``,
            ``precision`` and ``features`` included where the study searched them).
        deploy: The study's "deploy" user attribute, or None.

    Returns:
        The estimator, inside a ``Pipeline`` of ``select`` (``SelectKBest``) and
        ``model`` when the deploy block selects features.

    Raises:
        ConfigError: The model spec or a parameter is unusable.
    """
    config = model_from_spec(model)
    estimator = config.estimator_for({k: v for k, v in params.items() if k not in DEPLOY_PARAMS})
    k = params.get(FEATURES_PARAM, (deploy or {}).get("features"))
    if k is None or isinstance(k, Mapping):
        return estimator
    if isinstance(k, bool) or not isinstance(k, int):
        raise ConfigError(f"expected a number of features, got {k!r}", field="deploy.features")
    return _select_then(estimator, k)


def _select_then(estimator: Any, k: int) -> Any:
    from sklearn.base import is_classifier
    from sklearn.feature_selection import SelectKBest
    from sklearn.pipeline import Pipeline

    from tunelab.deploy import feature_scores

    score = feature_scores.classification if is_classifier(estimator) else feature_scores.regression
    return Pipeline([("select", SelectKBest(score, k=k)), ("model", estimator)])
