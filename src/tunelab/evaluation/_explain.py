"""Model explanations: permutation importance with intervals, and SHAP values when installed.

Permutation importance asks how much a fitted model's score drops when one feature's
values are shuffled, breaking its link to the target. It is measured on held-out
rows (on training rows it rewards what the model memorised). Each repeat draws a
bootstrap resample of those rows and a fresh shuffle, so the spread of the repeats
covers both the shuffle and which rows happened to be held out; the interval is the
percentile interval of the repeats. A feature the model ignores has an interval
around 0; a negative importance means shuffling the feature helped (noise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.evaluation.metrics import get_metric

SHAP_HINT = "pip install 'tunelab[explain]'"
_DEFAULT_CLASSIFIER_METRIC = "accuracy"
_DEFAULT_REGRESSOR_METRIC = "r2"
# SHAP's model-agnostic explainers grow with rows x background: a sample keeps it quick.
_SHAP_ROWS = 100
_SHAP_BACKGROUND = 50


@dataclass(frozen=True)
class FeatureImportance:
    """The score drop when one feature is shuffled.

    Attributes:
        feature: Column name (or ``x<i>`` for unnamed columns).
        mean: Mean drop of the score over the repeats (higher: the model relies on it).
        std: Standard deviation of the drop over the repeats.
        low: Lower end of the percentile interval.
        high: Upper end of the percentile interval.
    """

    feature: str
    mean: float
    std: float
    low: float
    high: float


@dataclass(frozen=True)
class Explanation:
    """What a model relies on, measured on held-out data.

    Attributes:
        metric: Name of the metric whose drop is measured (scorer convention: a
            ``neg_*`` metric is negated, so a drop is always a loss of quality).
        baseline: The metric on the unshuffled held-out rows.
        n_rows: Held-out rows used.
        n_repeats: Bootstrap-and-shuffle repeats per feature.
        level: Confidence level of the intervals.
        features: One entry per feature, most important first.
        shap: Mean absolute SHAP value per feature (most important first), or None.
        shap_note: Why SHAP values are missing, when they are.
    """

    metric: str
    baseline: float
    n_rows: int
    n_repeats: int
    level: float
    features: tuple[FeatureImportance, ...]
    shap: dict[str, float] | None = None
    shap_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (as kept in a model card)."""
        out: dict[str, Any] = {
            "method": "permutation",
            "metric": self.metric,
            "baseline": self.baseline,
            "n_rows": self.n_rows,
            "n_repeats": self.n_repeats,
            "level": self.level,
            "features": [
                {"feature": f.feature, "mean": f.mean, "std": f.std, "low": f.low, "high": f.high}
                for f in self.features
            ],
        }
        if self.shap is not None:
            out["shap"] = dict(self.shap)
        if self.shap_note is not None:
            out["shap_note"] = self.shap_note
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """Read what :meth:`to_dict` wrote.

        Raises:
            ValueError: A field is missing or of the wrong type (the message names it).
        """
        try:
            features = tuple(
                FeatureImportance(
                    str(f["feature"]),
                    float(f["mean"]),
                    float(f["std"]),
                    float(f["low"]),
                    float(f["high"]),
                )
                for f in data["features"]
            )
            shap = data.get("shap")
            return cls(
                metric=str(data["metric"]),
                baseline=float(data["baseline"]),
                n_rows=int(data["n_rows"]),
                n_repeats=int(data["n_repeats"]),
                level=float(data["level"]),
                features=features,
                shap={str(k): float(v) for k, v in shap.items()} if shap else None,
                shap_note=data.get("shap_note"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a model explanation: bad or missing field {exc}") from None


def permutation_importance(
    model: Any,
    X: Any,
    y: Any,
    *,
    metric: str | None = None,
    n_repeats: int = 30,
    level: float = 0.95,
    seed: int = 0,
    feature_names: Sequence[str] | None = None,
) -> Explanation:
    """How much ``model``'s score drops when each feature is shuffled, with intervals.

    Args:
        model: A fitted estimator.
        X: Held-out features (not the rows the model was fitted on), 2-D.
        y: Held-out targets.
        metric: A tunelab metric name (e.g. ``"accuracy"``, ``"roc_auc"``,
            ``"neg_root_mean_squared_error"``); by default accuracy for
            classifiers and R² otherwise.
        n_repeats: Bootstrap-and-shuffle repeats per feature (at least 2).
        level: Confidence level of the percentile intervals, in (0, 1).
        seed: Seed of the resampling and the shuffles (same seed, same result).
        feature_names: Column names; by default a DataFrame's columns, else ``x0, x1, ...``.

    Returns:
        The :class:`Explanation`, features sorted by mean drop (no SHAP values).

    Raises:
        ValueError: ``n_repeats`` < 2, ``level`` outside (0, 1), ``X`` not 2-D, ``X``
            and ``y`` of different lengths, fewer than 2 rows, ``feature_names`` of
            the wrong length, or an unknown ``metric``.
    """
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 2:
        raise ValueError(f"n_repeats must be an integer >= 2, got {n_repeats!r}")
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ValueError(f"level must be between 0 and 1 (exclusive), got {level!r}")
    names = _feature_names(X, feature_names)
    y_arr = np.asarray(y)
    if len(y_arr) != _n_rows(X):
        raise ValueError(f"X has {_n_rows(X)} rows but y has {len(y_arr)}")
    if len(y_arr) < 2:
        raise ValueError(f"permutation importance needs at least 2 held-out rows, got {len(y_arr)}")
    name = metric or _default_metric(model)
    scorer = get_metric(name)
    baseline = float(scorer(model, X, y_arr))
    rng = np.random.default_rng(seed)
    drops = np.empty((len(names), n_repeats))
    for r in range(n_repeats):
        rows = rng.integers(0, len(y_arr), len(y_arr))
        X_r, y_r = _take(X, rows), y_arr[rows]
        reference = float(scorer(model, X_r, y_r))
        for j in range(len(names)):
            shuffled = _with_column(X_r, j, rng.permutation(len(y_r)))
            drops[j, r] = reference - float(scorer(model, shuffled, y_r))
    tail = (1 - level) / 2
    features = [
        FeatureImportance(
            feature=feature,
            mean=float(row.mean()),
            std=float(row.std(ddof=1)),
            low=float(np.quantile(row, tail)),
            high=float(np.quantile(row, 1 - tail)),
        )
        for feature, row in zip(names, drops, strict=True)
    ]
    features.sort(key=lambda f: -f.mean)
    return Explanation(
        metric=name,
        baseline=baseline,
        n_rows=len(y_arr),
        n_repeats=n_repeats,
        level=float(level),
        features=tuple(features),
    )


def explain_model(
    model: Any,
    X: Any,
    y: Any,
    *,
    metric: str | None = None,
    n_repeats: int = 30,
    level: float = 0.95,
    seed: int = 0,
    feature_names: Sequence[str] | None = None,
    shap: bool = True,
) -> Explanation:
    """:func:`permutation_importance`, plus mean absolute SHAP values when ``shap`` is installed.

    SHAP values are computed on at most 100 held-out rows against a background of 50,
    with shap's model-agnostic kernel explainer on the model's probabilities
    (classifiers; averaged over classes) or predictions. Without shap the explanation says so in
    ``shap_note`` instead of failing.

    Args:
        model: A fitted estimator.
        X: Held-out features, 2-D.
        y: Held-out targets.
        metric: See :func:`permutation_importance`.
        n_repeats: See :func:`permutation_importance`.
        level: See :func:`permutation_importance`.
        seed: See :func:`permutation_importance`; also picks the SHAP rows.
        feature_names: See :func:`permutation_importance`.
        shap: Whether to try SHAP at all.

    Returns:
        The :class:`Explanation`.

    Raises:
        ValueError: As :func:`permutation_importance`.
    """
    result = permutation_importance(
        model,
        X,
        y,
        metric=metric,
        n_repeats=n_repeats,
        level=level,
        seed=seed,
        feature_names=feature_names,
    )
    if not shap:
        return result
    values, note = _shap_values(model, X, _feature_names(X, feature_names), seed=seed)
    return Explanation(
        metric=result.metric,
        baseline=result.baseline,
        n_rows=result.n_rows,
        n_repeats=result.n_repeats,
        level=result.level,
        features=result.features,
        shap=values,
        shap_note=note,
    )


def _shap_values(
    model: Any, X: Any, names: Sequence[str], *, seed: int = 0
) -> tuple[dict[str, float] | None, str | None]:
    """Mean absolute SHAP value per feature, or None and the reason it is missing."""
    try:
        import shap
    except ImportError:
        return None, f"SHAP values not computed: shap is not installed ({SHAP_HINT})"
    rng = np.random.default_rng(seed)
    n = _n_rows(X)
    rows = _take(X, rng.choice(n, min(n, _SHAP_ROWS), replace=False))
    background = _take(X, rng.choice(n, min(n, _SHAP_BACKGROUND), replace=False))
    method = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    columns = getattr(X, "columns", None)

    def predict(rows: np.ndarray) -> Any:
        # shap passes plain arrays; a model fitted on a DataFrame wants its columns back.
        if columns is None:
            return method(rows)
        import pandas as pd

        return method(pd.DataFrame(rows, columns=columns))

    try:
        # The kernel explainer needs nothing compiled (shap's exact and permutation
        # explainers spend half a minute in numba's compiler on first use).
        explainer = shap.KernelExplainer(predict, np.asarray(background, dtype=float))
        raw = explainer.shap_values(np.asarray(rows, dtype=float), silent=True)
    except Exception as exc:  # shap raises many kinds; the explanation says which
        return None, f"SHAP values not computed: {type(exc).__name__}: {exc}"
    if isinstance(raw, list):  # older shap: one (rows, features) array per class
        per_feature = np.mean([np.abs(np.asarray(v, dtype=float)).mean(axis=0) for v in raw], 0)
    else:  # (rows, features) or (rows, features, classes)
        values = np.abs(np.asarray(raw, dtype=float)).mean(axis=0)
        per_feature = values.mean(axis=1) if values.ndim > 1 else values
    ranked = sorted(zip(names, per_feature.tolist(), strict=True), key=lambda p: -p[1])
    return {name: float(v) for name, v in ranked}, None


def _default_metric(model: Any) -> str:
    from sklearn.base import is_classifier

    return _DEFAULT_CLASSIFIER_METRIC if is_classifier(model) else _DEFAULT_REGRESSOR_METRIC


def _n_rows(X: Any) -> int:
    return int(np.shape(X)[0])


def _feature_names(X: Any, names: Sequence[str] | None) -> list[str]:
    shape = np.shape(X)
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (rows x features), got shape {shape}")
    if names is not None:
        if len(names) != shape[1]:
            raise ValueError(f"feature_names has {len(names)} names but X has {shape[1]} columns")
        return [str(n) for n in names]
    columns = getattr(X, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    return [f"x{i}" for i in range(shape[1])]


def _take(X: Any, rows: np.ndarray) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return np.asarray(X)[rows]


def _with_column(X: Any, j: int, order: np.ndarray) -> Any:
    """A copy of ``X`` whose column ``j`` is reordered by ``order``."""
    if hasattr(X, "iloc"):
        out = X.copy()
        out.iloc[:, j] = X.iloc[order, j].to_numpy()
        return out
    out = np.array(X, copy=True)
    out[:, j] = out[order, j]
    return out
