"""The ``model`` field: an estimator class by import path and its fixed parameters."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tunelab.config._fields import (
    ConfigError,
    Fields,
    did_you_mean,
    join_field,
    jsonable,
    one_line,
    unknown_value,
)
from tunelab.space import SearchSpace


@dataclass(frozen=True)
class ModelConfig:
    """The estimator class (an import path) and its fixed hyperparameters."""

    class_path: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """A new, unfitted estimator with the fixed parameters."""
        return _make_estimator(_import_class(self.class_path, "model.class"), self.params)

    def spec(self) -> dict[str, Any]:
        """The JSON form ``{"class": path, "params": {...}}``."""
        return {"class": self.class_path, "params": dict(self.params)}


def build_estimator(class_path: str, params: Mapping[str, Any] | None = None) -> Any:
    """A scikit-learn-style estimator from an import path and fixed parameters.

    Args:
        class_path: E.g. ``sklearn.ensemble.RandomForestClassifier``.
        params: Constructor parameters; ``a__b`` names reach nested estimators.

    Raises:
        ConfigError: The class cannot be imported, is not an estimator (fit,
            get_params, set_params), or rejects a parameter (close names suggested).
    """
    check = Fields(None)
    estimator_class = _import_class(class_path, "model.class")
    fixed = dict(params or {})
    _check_param_names(check, estimator_class, fixed, "model.params")
    return _make_estimator(estimator_class, fixed)


def parse_model(check: Fields, value: Any, space: SearchSpace, seed: int | None) -> ModelConfig:
    if isinstance(value, str):
        value = {"class": value}
    spec = check.mapping(value, "model", allowed=("class", "params"), required=("class",))
    class_path = check.string(spec["class"], "model.class")
    params = check.mapping(spec.get("params") or {}, "model.params", allowed=None)
    params = jsonable(check, params, "model.params")
    try:
        estimator_class = _import_class(class_path, "model.class")
    except ConfigError as exc:
        raise check.fail("model.class", exc.reason) from None
    names = _check_param_names(check, estimator_class, params, "model.params")
    _check_param_names(check, estimator_class, dict.fromkeys(space.distributions), "space")
    for name in space.distributions:
        if name in params:
            raise check.fail(f"space.{name}", "also fixed in model.params; tune it or fix it")
    if seed is not None and "random_state" in names and "random_state" not in space.distributions:
        params.setdefault("random_state", seed)
    try:
        estimator = _make_estimator(estimator_class, params)
    except ConfigError as exc:
        raise check.fail("model.params", exc.reason) from None
    _check_space_values(check, estimator, space)
    return ModelConfig(class_path=class_path, params=params)


def _check_space_values(check: Fields, estimator: Any, space: SearchSpace) -> None:
    """The fixed parameters, the ends of each range and each choice pass the model's checks.

    scikit-learn estimators validate parameters only when fitted; their validator runs
    here without a fit, so a range the model rejects (e.g. a negative depth) is reported
    before any trial runs. Estimators without that validator are checked by the trials.
    """
    from sklearn.base import clone

    if not hasattr(estimator, "_validate_params"):
        return
    try:
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise check.fail("model.params", one_line(exc)) from None
    for name, dist in space.distributions.items():
        choices = getattr(dist, "choices", None)
        values = list(choices) if choices is not None else [dist.low, dist.high]  # type: ignore[attr-defined]
        for value in values:
            try:
                clone(estimator).set_params(**{name: value})._validate_params()
            except (TypeError, ValueError) as exc:
                raise check.fail(
                    f"space.{name}",
                    f"{value!r} is rejected by {type(estimator).__name__}: {one_line(exc)}",
                ) from None


def _import_class(class_path: str, field: str) -> Any:
    module_name, _, name = class_path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"expected an import path such as 'module.Class', got {class_path!r}", field=field
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", field=field) from None
    if not hasattr(module, name):
        hint = did_you_mean(name, [n for n in dir(module) if not n.startswith("_")])
        raise ConfigError(f"module {module_name!r} has no attribute {name!r}{hint}", field=field)
    estimator_class = getattr(module, name)
    needed = ("fit", "get_params", "set_params")
    if not inspect.isclass(estimator_class) or not all(hasattr(estimator_class, m) for m in needed):
        reason = f"{class_path!r} is not a scikit-learn-style estimator class"
        raise ConfigError(f"{reason} (needs {', '.join(needed)})", field=field)
    return estimator_class


def _check_param_names(
    check: Fields, estimator_class: Any, params: Mapping[str, Any], field: str
) -> set[str]:
    """The constructor's parameter names, after checking ``params`` against them."""
    signature = inspect.signature(estimator_class.__init__)
    kinds = {p.kind for p in signature.parameters.values()}
    names = {n for n in signature.parameters if n != "self"}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return names
    for key in params:
        top = key.split("__", 1)[0]
        if top not in names:
            what = f"{estimator_class.__name__} parameter"
            raise check.fail(join_field(field, key), unknown_value(what, top, sorted(names)))
    return names


def _make_estimator(estimator_class: Any, params: Mapping[str, Any]) -> Any:
    top = {k: v for k, v in params.items() if "__" not in k}
    nested = {k: v for k, v in params.items() if "__" in k}
    try:
        return estimator_class(**top).set_params(**nested)
    except (TypeError, ValueError) as exc:
        reason = f"cannot create {estimator_class.__name__}: {one_line(exc)}"
        raise ConfigError(reason, field="model.params") from None
