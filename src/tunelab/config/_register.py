"""Refitting a study's best trial and publishing it to a model registry."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.config._data import load_data
from tunelab.config._fields import ConfigError
from tunelab.config._model import build_estimator
from tunelab.trial import TrialState

if TYPE_CHECKING:
    from tunelab.deploy import Registry
    from tunelab.study import Study


def register_best_trial(
    study: Study, *, name: str, registry: Registry | str, onnx: bool = True
) -> int:
    """Refit the study's best parameters on its full data, save the model and register it.

    The study says how to rebuild its model through two user attributes, which a
    config study (``tunelab tune``) records: "model" (an import path, or
    ``{"class": path, "params": {...}}`` with fixed parameters) and "data"
    (``sklearn:<name>``, ``<file.csv|file.parquet>#<target>`` or the mapping form).

    Args:
        study: A single-objective study with at least one complete trial.
        name: The model's name in the registry.
        registry: A :class:`tunelab.deploy.Registry` or its URL.
        onnx: Also convert the refitted model to ONNX (kept only when verified).

    Returns:
        The new version number.

    Raises:
        ConfigError: The study is multi-objective, has no complete trial, or lacks
            (or has unusable) "model" and "data" user attributes.
    """
    from tunelab.deploy import Registry, save_model

    best = _best_trial(study)
    attrs = study.user_attrs
    class_path, fixed = _model_spec(attrs["model"])
    params = {**fixed, **best.params}
    model = build_estimator(class_path, params)
    X, y = load_data(attrs["data"])
    model.fit(X, y)
    target = registry if isinstance(registry, Registry) else Registry(registry)
    with tempfile.TemporaryDirectory(prefix="tunelab-register-") as tmp:
        artifact = save_model(
            model,
            Path(tmp) / "artifact",
            metrics={str(attrs.get("metric") or "objective"): best.value},
            params=params,
            study=study,
            trial=best,
            data=(X, y),
            onnx=onnx,
        )
        return target.register(name, artifact)


def _best_trial(study: Study) -> Any:
    if len(study.directions) != 1:
        raise ConfigError("only single-objective studies can be refitted and registered")
    if not study.get_trials(states=(TrialState.COMPLETE,)):
        raise ConfigError(f"study {study.study_name!r} has no complete trial to register")
    for key in ("model", "data"):
        if key not in study.user_attrs:
            raise ConfigError(
                f"study {study.study_name!r} has no user attribute {key!r}; set it with "
                f"study.set_user_attr({key!r}, ...) to say how to rebuild the model"
            )
    return study.best_trial


def _model_spec(spec: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("class"), str):
        params = spec.get("params") or {}
        if isinstance(params, Mapping):
            return spec["class"], dict(params)
    raise ConfigError(
        "user attribute 'model' must be an import path such as "
        "'sklearn.ensemble.RandomForestClassifier' or {'class': path, 'params': {...}}, "
        f"got {spec!r}"
    )
