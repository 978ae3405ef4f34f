"""The ``sampler`` and ``pruner`` fields: a kind and constructor options."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab import pruners, samplers
from tunelab.config._fields import Fields, jsonable, one_line, unknown_value
from tunelab.config._objectives import ConstraintValues
from tunelab.space import grid_values

if TYPE_CHECKING:
    from tunelab.config._study import StudyConfig


_SAMPLERS = {
    "random": "RandomSampler",
    "qmc": "QMCSampler",
    "grid": "GridSampler",
    "tpe": "TPESampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "bohb": "BOHBSampler",
    "multi_fidelity_gp": "MultiFidelityGPSampler",
    "nsga2": "NSGAIISampler",
    "nsga3": "NSGAIIISampler",
    "auto": "AutoSampler",
}

# Samplers that model constraints (their constructor takes a constraints_func).
_CONSTRAINED = ("tpe", "gp", "nsga2", "nsga3")
# Samplers that ignore the history: the study still records each trial's constraint
# values for them (best_trials, reports), though they do not steer the search.
_HISTORY_FREE = ("random", "qmc", "grid")
# Samplers that optimise one objective only.
_SINGLE_OBJECTIVE = ("cmaes", "bohb", "multi_fidelity_gp")


_PRUNERS = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "threshold": "ThresholdPruner",
    "wilcoxon": "WilcoxonPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "learning_curve": "LearningCurvePruner",
}


_DEFAULT_SAMPLERS = ("auto", "tpe", "random")


@dataclass(frozen=True)
class ComponentConfig:
    """A sampler or pruner: its kind and its constructor options."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        """The JSON form ``{"kind": ..., **options}``."""
        return {"kind": self.kind, **self.options}


def parse_component(check: Fields, value: Any, field: str) -> ComponentConfig:
    registry, module = (_SAMPLERS, samplers) if field == "sampler" else (_PRUNERS, pruners)
    available = [kind for kind, name in registry.items() if hasattr(module, name)]
    if value is None:
        value = (
            next(k for k in _DEFAULT_SAMPLERS if k in available) if field == "sampler" else "none"
        )
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping) or "kind" not in value:
        raise check.fail(field, f"expected a kind ({', '.join(available)}) or a mapping with kind")
    kind = value["kind"]
    if kind in registry and kind not in available:
        raise check.fail(
            f"{field}.kind",
            f"{kind!r} is not available in this tunelab (no {module.__name__}.{registry[kind]}); "
            f"available: {', '.join(available)}",
        )
    check.choice(kind, f"{field}.kind", available)
    options = check.mapping({k: v for k, v in value.items() if k != "kind"}, field, allowed=None)
    return ComponentConfig(kind=kind, options=jsonable(check, options, field))


def build_sampler(config: StudyConfig) -> samplers.BaseSampler:
    """A fresh sampler as the config describes it, seeded with ``config.seed`` unless set.

    QMC and grid samplers get their search space from the config's space; a grid takes
    every value of finite parameters and ``n_float`` points (an extra option) of float ranges.

    Raises:
        ConfigError: An option is unknown or rejected by the sampler.
    """
    options = dict(config.sampler.options)
    derived: dict[str, Any] = {}
    if config.sampler.kind == "qmc":
        derived["search_space"] = config.space.distributions
    if config.sampler.kind == "grid":
        derived["search_space"] = _grid(config, options.pop("n_float", None))
    if config.constraints and config.sampler.kind in _CONSTRAINED:
        derived["constraints_func"] = ConstraintValues(config.constraints)
    class_name = _SAMPLERS[config.sampler.kind]
    sampler = _construct(samplers, class_name, options, derived, "sampler", config)
    if config.constraints and config.sampler.kind in _HISTORY_FREE:
        sampler.constraints_func = ConstraintValues(config.constraints)
    return sampler


def check_components_fit(check: Fields, config: StudyConfig) -> None:
    """The sampler and pruner can serve the config's objectives and constraints.

    Raises:
        ConfigError: Naming ``sampler.kind`` or ``pruner``: a single-objective sampler
            with several objectives, a sampler that would ignore the constraints, or a
            pruner with several objectives.
    """
    kind = config.sampler.kind
    several = len(config.directions) > 1
    if several and kind in _SINGLE_OBJECTIVE:
        usable = [k for k in _SAMPLERS if k not in _SINGLE_OBJECTIVE]
        raise check.fail(
            "sampler.kind",
            f"{kind!r} optimises a single objective and the config has "
            f"{len(config.directions)}; use one of: {', '.join(usable)}",
        )
    if config.constraints and kind not in (*_CONSTRAINED, *_HISTORY_FREE):
        raise check.fail(
            "sampler.kind",
            f"{kind!r} cannot take constraints, so the search would ignore them; use one of: "
            f"{', '.join(_CONSTRAINED)} (or {', '.join(_HISTORY_FREE)}, which search without "
            "them but record them), or leave sampler out (tpe)",
        )
    if several and config.pruner.kind != "none":
        raise check.fail(
            "pruner",
            "pruning ranks trials on one intermediate value, and the config has "
            f"{len(config.directions)} objectives: remove the pruner",
        )


def build_pruner(config: StudyConfig) -> pruners.BasePruner:
    """A fresh pruner as the config describes it.

    Raises:
        ConfigError: An option is unknown or rejected by the pruner.
    """
    class_name = _PRUNERS[config.pruner.kind]
    return _construct(pruners, class_name, dict(config.pruner.options), {}, "pruner", config)


def _grid(config: StudyConfig, n_float: Any) -> dict[str, list[Any]]:
    check = Fields(config.file)
    if n_float is not None:
        n_float = check.integer(n_float, "sampler.n_float", minimum=1)
    grid = {}
    for name, dist in config.space.distributions.items():
        try:
            grid[name] = grid_values(dist, n_float=n_float)
        except ValueError:
            raise check.fail(
                f"space.{name}", "a continuous range has no grid: give it a step, or set n_float"
            ) from None
    return grid


def _construct(
    module: Any,
    class_name: str,
    options: dict[str, Any],
    derived: dict[str, Any],
    field: str,
    config: StudyConfig,
) -> Any:
    """``class_name(**options, **derived)``, checking the user's options by name first."""
    check = Fields(config.file)
    component_class = getattr(module, class_name)
    parameters = inspect.signature(component_class.__init__).parameters
    # The config derives these itself (from space and constraints).
    accepted = [n for n in parameters if n not in ("self", "search_space", "constraints_func")]
    for key in options:
        if key not in accepted:
            raise check.fail(f"{field}.{key}", unknown_value(f"{class_name} option", key, accepted))
    if "seed" in accepted and config.seed is not None:
        options.setdefault("seed", config.seed)
    try:
        return component_class(**options, **derived)
    except (TypeError, ValueError) as exc:
        raise check.fail(field, f"{class_name} rejects the options: {one_line(exc)}") from None
