"""The ``model`` field: an estimator class by import path and its fixed parameters, or a
choice between such model families, each with its own search space."""

from __future__ import annotations

import importlib
import inspect
import re
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
from tunelab.config._layers import (
    LAYER_KEYS,
    estimator_params,
    is_layers,
    layers_entry,
    model_values,
)
from tunelab.space import CategoricalDistribution, SearchSpace, space_from_dict

# The trial parameter that names the family of a ``model: {choice: ...}`` config; a
# family's own parameters are named ``<family>.<parameter>``.
FAMILY_PARAM = "model"
_FAMILY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class ModelConfig:
    """The estimator class (an import path) and its fixed hyperparameters, or a family choice.

    Attributes:
        class_path: Import path of the estimator class ("" for a family choice).
        params: Its fixed hyperparameters.
        families: For ``model: {choice: ...}``: family name to its model, in the
            config's order; empty otherwise.
        family_spaces: Each family's ``space`` as written.
    """

    class_path: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    families: dict[str, ModelConfig] = field(default_factory=dict)
    family_spaces: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """A new, unfitted estimator with the fixed parameters (a choice: its first family's)."""
        if self.families:
            return next(iter(self.families.values())).build()
        return _make_estimator(_import_class(self.class_path, "model.class"), self.params)

    def estimators(self) -> dict[str, Any]:
        """Family name (the class path without a choice) to a new, unfitted estimator."""
        if self.families:
            return {name: family.build() for name, family in self.families.items()}
        return {self.class_path: self.build()}

    def estimator_for(self, params: Mapping[str, Any]) -> Any:
        """The unfitted estimator of a trial that took ``params`` (its model parameters only).

        With a family choice, ``params`` holds the family under ``"model"`` and that
        family's parameters as ``<family>.<parameter>``.

        Raises:
            ConfigError: The family is not one of the choice's, or a parameter is rejected.
        """
        if not self.families:
            estimator_class = _import_class(self.class_path, "model.class")
            return _make_estimator(estimator_class, {**self.params, **estimator_params(params)})
        family = params.get(FAMILY_PARAM)
        if family not in self.families:
            reason = unknown_value("model family", family, list(self.families))
            raise ConfigError(reason, field=FAMILY_PARAM)
        prefix = f"{family}."
        own = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
        return self.families[family].estimator_for(own)

    def spec(self) -> dict[str, Any]:
        """The JSON form ``{"class": path, "params": {...}}``, or for a family choice
        ``{"choice": {name: {"class": ..., "params": ..., "space": ...}}}``."""
        if self.families:
            return {
                "choice": {
                    name: {**family.spec(), "space": self.family_spaces[name]}
                    for name, family in self.families.items()
                }
            }
        return {"class": self.class_path, "params": dict(self.params)}


def model_from_spec(spec: Any) -> ModelConfig:
    """The model a study's "model" user attribute describes (the form :meth:`ModelConfig.spec`
    writes, or an import path).

    Raises:
        ConfigError: The spec has neither form.
    """
    if isinstance(spec, str):
        return ModelConfig(class_path=spec)
    if isinstance(spec, Mapping) and isinstance(spec.get("choice"), Mapping):
        families = {str(name): model_from_spec(family) for name, family in spec["choice"].items()}
        spaces = {
            str(name): family.get("space") if isinstance(family, Mapping) else None
            for name, family in spec["choice"].items()
        }
        return ModelConfig(families=families, family_spaces=spaces)
    if isinstance(spec, Mapping) and isinstance(spec.get("class"), str):
        params = spec.get("params") or {}
        if isinstance(params, Mapping):
            return ModelConfig(class_path=spec["class"], params=dict(params))
    raise ConfigError(
        "expected an import path such as 'sklearn.ensemble.RandomForestClassifier', "
        f"{{'class': path, 'params': {{...}}}} or {{'choice': {{name: ...}}}}, got {spec!r}",
        field="model",
    )


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


def parse_model(
    check: Fields, value: Any, space_value: Any, seed: int | None
) -> tuple[ModelConfig, SearchSpace]:
    """The ``model`` field and the space it is searched over.

    A ``model: {choice: {name: {class, params, space}}}`` declares model families:
    the trial parameter ``model`` picks one, and that family's parameters are
    searched as ``<name>.<parameter>``, only in the trials that picked it. The
    top-level ``space`` is then not given.
    """
    if isinstance(value, Mapping) and "choice" in value:
        if space_value is not None:
            raise check.fail(
                "space",
                "with model.choice each family declares its own space "
                "(model.choice.<name>.space); remove the top-level space",
            )
        return _parse_families(check, value, seed)
    if space_value is None:
        raise check.fail("space", "required, but missing")
    space = parse_space(check, space_value, "space")
    return _parse_one(check, value, "model", space, "space", seed), space


def _parse_families(
    check: Fields, value: Mapping[str, Any], seed: int | None
) -> tuple[ModelConfig, SearchSpace]:
    check.mapping(value, "model", allowed=("choice",))
    choice = check.mapping(value["choice"], "model.choice", allowed=None)
    if not choice:
        raise check.fail("model.choice", "expected at least one model family")
    families: dict[str, ModelConfig] = {}
    spaces: dict[str, Any] = {}
    distributions: dict[str, Any] = {FAMILY_PARAM: CategoricalDistribution(list(choice))}
    conditions: dict[str, dict[str, tuple[Any, ...]]] = {}
    task = None
    for name, entry in choice.items():
        where = f"model.choice.{name}"
        if not _FAMILY_NAME.fullmatch(name):
            raise check.fail(
                where, "a family name is letters, digits, '_' and '-', starting with a letter"
            )
        keys = ("class", "params", "space")
        spec = check.mapping(entry, where, allowed=keys, required=("class",))
        space_value = spec.pop("space", None)
        space = SearchSpace({})
        if space_value is not None:
            space = parse_space(check, space_value, f"{where}.space")
        family = _parse_one(check, spec, where, space, f"{where}.space", seed)
        kind = _task(family.build())
        if task is not None and kind != task:
            raise check.fail(
                f"{where}.class",
                f"{family.class_path} is a {kind} but the first family is a {task}: every "
                "family must solve the same task",
            )
        task = kind
        families[name] = family
        spaces[name] = jsonable(check, space_value or {}, f"{where}.space")
        for param, dist in space.distributions.items():
            distributions[f"{name}.{param}"] = dist
            own = space.conditions.get(param, {})
            parents = {f"{name}.{p}": allowed for p, allowed in own.items()}
            conditions[f"{name}.{param}"] = {FAMILY_PARAM: (name,), **parents}
    model = ModelConfig(families=families, family_spaces=spaces)
    return model, SearchSpace(distributions, conditions)


def _task(estimator: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    return "regressor" if is_regressor(estimator) else "other estimator"


def _parse_one(
    check: Fields, value: Any, where: str, space: SearchSpace, space_field: str, seed: int | None
) -> ModelConfig:
    if isinstance(value, str):
        value = {"class": value}
    spec = check.mapping(value, where, allowed=("class", "params"), required=("class",))
    class_path = check.string(spec["class"], f"{where}.class")
    params = check.mapping(spec.get("params") or {}, f"{where}.params", allowed=None)
    params = jsonable(check, params, f"{where}.params")
    try:
        estimator_class = _import_class(class_path, f"{where}.class")
    except ConfigError as exc:
        raise check.fail(f"{where}.class", exc.reason) from None
    names = _check_param_names(check, estimator_class, params, f"{where}.params")
    searched = model_values(space)
    _check_param_names(check, estimator_class, searched, space_field)
    for name in searched:
        if name in params:
            raise check.fail(
                f"{space_field}.{name}", f"also fixed in {where}.params; tune it or fix it"
            )
    if seed is not None and "random_state" in names and "random_state" not in space.distributions:
        params.setdefault("random_state", seed)
    try:
        estimator = _make_estimator(estimator_class, params)
    except ConfigError as exc:
        raise check.fail(f"{where}.params", exc.reason) from None
    _check_space_values(check, estimator, searched, where, space_field)
    return ModelConfig(class_path=class_path, params=params)


def parse_space(check: Fields, value: Any, where: str) -> SearchSpace:
    """A space in the dict form of :func:`tunelab.space.space_from_dict`, where an entry
    ``{layers: [low, high], width: {...}}`` declares hidden layers; errors name ``where``."""
    if isinstance(value, Mapping) and any(is_layers(entry) for entry in value.values()):
        return _space_with_layers(check, value, where)
    _check_bounds_are_numbers(check, value, where)
    try:
        space = space_from_dict(value, where=where)
    except ValueError as exc:
        path, _, reason = str(exc).partition(": ")
        raise check.fail(path, reason) from None
    for name, parents in space.conditions.items():
        if name in parents:
            raise check.fail(
                f"{where}.{name}.when",
                f"{name!r} depends on itself, so it would never be tuned; name another "
                "parameter declared before it, or remove 'when'",
            )
    return space


def _space_with_layers(check: Fields, value: Mapping[str, Any], where: str) -> SearchSpace:
    plain = {name: entry for name, entry in value.items() if not is_layers(entry)}
    parsed = parse_space(check, plain, where) if plain else SearchSpace({})
    distributions: dict[str, Any] = {}
    conditions = dict(parsed.conditions)
    for name, entry in value.items():
        if name in plain:
            distributions[name] = parsed.distributions[name]
            continue
        path = join_field(where, str(name))
        spec = check.mapping(entry, path, allowed=LAYER_KEYS, required=LAYER_KEYS)
        width = parse_space(check, {"width": spec["width"]}, path)
        layers = layers_entry(check, str(name), spec, width, path)
        distributions.update(layers.distributions)
        conditions.update(layers.conditions)
    return SearchSpace(distributions, conditions)


def _check_bounds_are_numbers(check: Fields, value: Any, where: str) -> None:
    """The space layer reads a bound "1" as 1.0; a config is typed like its other numbers."""
    if not isinstance(value, Mapping):
        return
    for name, spec in value.items():
        for kind in ("int", "float"):
            bounds = spec.get(kind) if isinstance(spec, Mapping) else None
            if not isinstance(bounds, list):
                continue
            for i, bound in enumerate(bounds):
                if isinstance(bound, str):
                    raise check.fail(
                        f"{where}.{name}.{kind}[{i}]", f"expected a number, got {bound!r}"
                    )


def _check_space_values(
    check: Fields, estimator: Any, searched: Mapping[str, list[Any]], where: str, space_field: str
) -> None:
    """The fixed parameters, the ends of each range and each choice pass the model's checks.

    scikit-learn estimators validate parameters only when fitted; their validator runs
    here without a fit, so a range the model rejects (e.g. a negative depth) is reported
    before any trial runs. Estimators without that validator are checked by the trials.
    """
    from sklearn.base import clone

    # BaseEstimator gives every subclass _validate_params; it reads the class's
    # _parameter_constraints, which estimators outside scikit-learn need not declare.
    if not hasattr(estimator, "_parameter_constraints"):
        return
    try:
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise check.fail(f"{where}.params", one_line(exc)) from None
    for name, values in searched.items():
        for value in values:
            try:
                clone(estimator).set_params(**{name: value})._validate_params()
            except (TypeError, ValueError) as exc:
                raise check.fail(
                    f"{space_field}.{name}",
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
