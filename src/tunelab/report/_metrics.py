"""What the study's values measure: metric names and their natural sign.

Config studies optimise scikit-learn scorer values, where a ``neg_`` name (such as
``neg_root_mean_squared_error``) holds the negated metric so that higher is better.
People read an RMSE of 54.8, not -54.8: the report shows such a metric under its own
name, with the sign undone and the direction flipped to match. The names come from
:meth:`~tunelab.Study.set_metric_names`, else the "metric" user attribute config
studies record; a study with neither keeps the label "objective".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.trial import FrozenTrial, StudyDirection

_NEGATED_PREFIX = "neg_"


@dataclass(frozen=True)
class Measure:
    """One plotted quantity: how to label it and how to read it from stored values.

    Attributes:
        name: Display name (``None`` when the study does not say what it measures).
        sign: +1, or -1 when the stored value is the negated metric.
        direction: The direction in which the displayed (natural) value improves.
    """

    name: str | None
    sign: float
    direction: StudyDirection

    def natural(self, stored: float) -> float:
        """The displayed value of a stored one."""
        return self.sign * stored if stored != 0 else 0.0

    def label(self, index: int | None = None) -> str:
        """Axis title: the metric's name, or "objective [i]", with the direction."""
        if self.name is None:
            name = "objective" if index is None else f"objective {index}"
        else:
            name = self.name
        return f"{name} ({self.direction.name.lower()})"

    def short(self, index: int | None = None) -> str:
        """The name alone (no direction), for table headers and colour bars."""
        if self.name is not None:
            return self.name
        return "objective" if index is None else f"objective {index}"


def natural_name(name: str) -> tuple[str, float]:
    """A scorer name as people read it, and the sign that turns its values back."""
    if name.startswith(_NEGATED_PREFIX) and len(name) > len(_NEGATED_PREFIX):
        return name[len(_NEGATED_PREFIX) :], -1.0
    return name, 1.0


def objective_measures(study: Any, directions: Sequence[StudyDirection]) -> tuple[Measure, ...]:
    """One :class:`Measure` per objective of ``study``."""
    names = _objective_names(study, len(directions))
    out = []
    for name, direction in zip(names, directions, strict=True):
        if name is None:
            out.append(Measure(None, 1.0, direction))
            continue
        shown, sign = natural_name(name)
        out.append(Measure(shown, sign, direction if sign > 0 else _flip(direction)))
    return tuple(out)


def recorded_metrics(study: Any, complete: Sequence[FrozenTrial]) -> dict[str, Measure]:
    """The other metrics a config study stored per trial, by stored name.

    Config studies list every metric in their "config" user attribute and store the
    means of all but the first as trial user attributes (scorer convention: higher is
    better). Only metrics with a finite number in some complete trial are returned.
    """
    config = _user_attrs(study).get("config")
    names = config.get("metrics") if isinstance(config, Mapping) else None
    if not isinstance(names, list):
        return {}
    out = {}
    for stored in names[1:]:
        if not isinstance(stored, str):
            continue
        if not any(_finite(t.user_attrs.get(stored)) for t in complete):
            continue
        shown, sign = natural_name(stored)
        direction = StudyDirection.MAXIMIZE if sign > 0 else StudyDirection.MINIMIZE
        out[stored] = Measure(shown, sign, direction)
    return out


def _objective_names(study: Any, n_objectives: int) -> list[str | None]:
    names = getattr(study, "metric_names", None)
    if isinstance(names, list) and len(names) == n_objectives:
        return [str(n) for n in names]
    metric = _user_attrs(study).get("metric")
    if n_objectives == 1 and isinstance(metric, str) and metric:
        return [metric]
    return [None] * n_objectives


def _user_attrs(study: Any) -> Mapping[str, Any]:
    attrs = getattr(study, "user_attrs", None)
    return attrs if isinstance(attrs, Mapping) else {}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _flip(direction: StudyDirection) -> StudyDirection:
    if direction == StudyDirection.MAXIMIZE:
        return StudyDirection.MINIMIZE
    return StudyDirection.MAXIMIZE
