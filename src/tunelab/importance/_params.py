"""How each parameter of a study is plotted and encoded: its axis kind, bounds and choices.

Shared by importance, visualization and the HTML reports (which sit below both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.space import CategoricalDistribution, FloatDistribution, IntDistribution
from tunelab.trial import FrozenTrial


@dataclass(frozen=True)
class ParamSpec:
    """One parameter as the report sees it, merged over all trials.

    Attributes:
        name: Parameter name.
        kind: 'linear', 'log' or 'category'.
        bounds: (low, high) of a numeric parameter over all its distributions.
        choices: Choices of a categorical parameter, in first-seen order.
        integer: Whether every distribution of the parameter is an integer one.
    """

    name: str
    kind: str
    bounds: tuple[float, float] | None = None
    choices: tuple[Any, ...] = ()
    integer: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        """Display text of each categorical choice."""
        return tuple(str(c) for c in self.choices)

    def position(self, value: Any) -> float:
        """Where ``value`` sits on this parameter's axis (a choice's index for categories)."""
        if self.kind != "category":
            return float(value)
        for index, choice in enumerate(self.choices):
            if _same(choice, value):
                return float(index)
        return math.nan

    def encode(self, value: Any) -> float:
        """A number for regression models: index, log10 of log params, or the value."""
        position = self.position(value)
        if self.kind == "log":
            return math.log10(position) if position > 0 else math.nan
        return position


def _same(a: Any, b: Any) -> bool:
    # type() keeps True and 1 apart; NaN choices equal each other.
    if type(a) is not type(b):
        return False
    return bool(a == b) or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def param_specs(trials: Sequence[FrozenTrial]) -> list[ParamSpec]:
    """Specs of every parameter any of ``trials`` used, in first-seen order."""
    merged: dict[str, ParamSpec] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            merged[name] = _merge(merged.get(name), name, dist)
    return list(merged.values())


def _merge(old: ParamSpec | None, name: str, dist: Any) -> ParamSpec:
    if isinstance(dist, CategoricalDistribution):
        choices = old.choices if old is not None and old.kind == "category" else ()
        extra = tuple(c for c in dist.choices if not any(_same(c, o) for o in choices))
        return ParamSpec(name, "category", choices=choices + extra)
    if isinstance(dist, FloatDistribution | IntDistribution):
        low, high = float(dist.low), float(dist.high)
        if old is not None and old.bounds is not None:
            low, high = min(low, old.bounds[0]), max(high, old.bounds[1])
        kind = "log" if dist.log and low > 0 else "linear"
        integer = isinstance(dist, IntDistribution) and (old is None or old.integer)
        return ParamSpec(name, kind, bounds=(low, high), integer=integer)
    # An unknown distribution type is still plotted, by its values.
    return old or ParamSpec(name, "linear")
