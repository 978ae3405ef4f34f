"""The ``objectives`` and ``constraints`` fields: what a deployment-aware study optimises
and bounds.

Quality metrics (scikit-learn scorer names) are higher-is-better and maximised;
deployment metrics (the fields of :class:`tunelab.deploy.DeploymentMeasurement`
named in :data:`DEPLOYMENT_METRICS`) are costs and minimised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.config._fields import Fields, did_you_mean
from tunelab.trial import FrozenTrial

DEPLOYMENT_METRICS = ("latency_p50_ms", "latency_p95_ms", "batch_p50_ms", "batch_p95_ms", "size_mb")
DIRECTIONS = ("maximize", "minimize")
OPERATORS = ("<", "<=", ">", ">=")
# Longest first, so "<=" is not read as "<" followed by "=5".
_OPERATOR = re.compile(r"(<=|>=|==|!=|=>|=<|<|>|=)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Objective:
    """One objective of the study: a metric name and its direction."""

    name: str
    direction: str

    @property
    def deployment(self) -> bool:
        """Whether it is measured on the served model rather than by cross-validation."""
        return self.name in DEPLOYMENT_METRICS

    def spec(self) -> dict[str, str]:
        """The JSON form ``{"name": ..., "direction": ...}``."""
        return {"name": self.name, "direction": self.direction}


@dataclass(frozen=True)
class Constraint:
    """``name op bound``, e.g. ``latency_p95_ms < 5``, as written and parsed.

    Attributes:
        text: The constraint as the config wrote it.
        name: The metric it bounds.
        upper: True when the metric must stay below ``bound`` (``<``, ``<=``).
        bound: The number it is compared with.
    """

    text: str
    name: str
    upper: bool
    bound: float

    def value(self, metric: float) -> float:
        """The constraint value stored on a trial: feasible when ``<= 0``.

        The samplers' convention has no strict inequality, so ``<`` and ``<=`` agree:
        a metric exactly on the bound counts as feasible.
        """
        return metric - self.bound if self.upper else self.bound - metric


class ConstraintValues:
    """The ``constraints_func`` of a config study: each constraint's value for a finished trial.

    Metrics are read from the trial's user attributes: deployment metrics from
    ``"deployment"``, quality metrics under their own names. A module-level class
    holding only data, so it pickles with its sampler.

    Args:
        constraints: The parsed constraints, in the config's order.
    """

    def __init__(self, constraints: Sequence[Constraint]) -> None:
        self.constraints = list(constraints)

    def __call__(self, trial: FrozenTrial) -> list[float]:
        deployment = trial.user_attrs.get("deployment")
        values = []
        for constraint in self.constraints:
            source = deployment if constraint.name in DEPLOYMENT_METRICS else trial.user_attrs
            metric = source.get(constraint.name) if isinstance(source, Mapping) else None
            # A trial finished without the metric (told by hand, say) cannot be shown
            # feasible: it ranks behind every measured trial.
            number = float(metric) if isinstance(metric, int | float) else math.inf
            values.append(constraint.value(number) if math.isfinite(number) else math.inf)
        return values


def parse_objectives(check: Fields, value: Any, quality_names: Sequence[str]) -> list[Objective]:
    """The ``objectives`` list: names, or one-key mappings ``{name: direction}``.

    Args:
        check: Field reader of the config.
        value: The ``objectives`` field.
        quality_names: Every metric name the evaluation knows (for messages).

    Raises:
        ConfigError: An entry is malformed, unknown, repeated, or given the direction
            its metric does not have.
    """
    from tunelab.evaluation.metrics import get_metric

    items = [value] if isinstance(value, str | Mapping) else value
    if not isinstance(items, list) or not items:
        raise check.fail(
            "objectives",
            "expected a list of metric names or {name: direction} mappings, e.g. "
            f"[f1_macro, latency_p95_ms, size_mb], got {value!r}",
        )
    objectives: list[Objective] = []
    for i, item in enumerate(items):
        where = f"objectives[{i}]"
        name, direction = _name_and_direction(check, item, where)
        deployment = name in DEPLOYMENT_METRICS
        if not deployment:
            try:
                get_metric(name)
            except ValueError:
                known = [*DEPLOYMENT_METRICS, *quality_names]
                raise check.fail(
                    where,
                    f"unknown objective {name!r}{did_you_mean(name, known)} (expected a "
                    f"deployment metric ({', '.join(DEPLOYMENT_METRICS)}) or a scikit-learn "
                    "scorer name such as accuracy, f1_macro, roc_auc_ovr, r2)",
                ) from None
        natural = "minimize" if deployment else "maximize"
        if direction is not None and direction != natural:
            why = (
                "a deployment cost is minimised"
                if deployment
                else "every quality metric is higher-is-better (losses are negated, e.g. "
                "neg_log_loss)"
            )
            raise check.fail(where, f"{name!r} can only be {natural}d: {why}; omit the direction")
        if any(o.name == name for o in objectives):
            raise check.fail(where, f"{name!r} is listed twice")
        objectives.append(Objective(name, natural))
    if all(o.deployment for o in objectives):
        raise check.fail(
            "objectives",
            "name at least one quality metric (e.g. accuracy, f1_macro or r2): a model is "
            "chosen for what it predicts as well as for what it costs",
        )
    return objectives


def _name_and_direction(check: Fields, item: Any, where: str) -> tuple[str, str | None]:
    if isinstance(item, str) and item:
        return item, None
    if isinstance(item, Mapping) and len(item) == 1:
        ((name, direction),) = item.items()
        if isinstance(name, str) and name:
            return name, check.choice(direction, f"{where}.{name}", DIRECTIONS)
    raise check.fail(
        where, f"expected a metric name or a one-key mapping {{name: direction}}, got {item!r}"
    )


def parse_constraints(check: Fields, value: Any, names: Sequence[str]) -> list[Constraint]:
    """The ``constraints`` list: one comparison ``NAME OP NUMBER`` per string.

    Parsed by a fixed grammar (never evaluated as code): a metric name from
    ``names``, one of :data:`OPERATORS`, and a finite number, on either side.

    Raises:
        ConfigError: Naming ``constraints[i]``, the term that is wrong and what is
            accepted.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise check.fail(
            "constraints", f"expected a list of strings such as 'latency_p95_ms < 5', got {value!r}"
        )
    parsed = []
    for i, item in enumerate(items):
        where = f"constraints[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise check.fail(
                where, f"expected a comparison such as 'latency_p95_ms < 5', got {item!r}"
            )
        parsed.append(_parse_constraint(check, item, where, names))
    texts = [c.text for c in parsed]
    for i, text in enumerate(texts):
        if text in texts[:i]:
            raise check.fail(f"constraints[{i}]", f"{text!r} is listed twice")
    return parsed


def _parse_constraint(check: Fields, text: str, where: str, names: Sequence[str]) -> Constraint:
    accepted = f"(accepted names: {', '.join(names)}; operators: {' '.join(OPERATORS)})"
    parts = [part.strip() for part in _OPERATOR.split(text)]
    if len(parts) != 3:
        found = "no comparison operator" if len(parts) == 1 else "more than one comparison"
        raise check.fail(
            where,
            f"{text!r} has {found}: write one comparison per item, NAME OP NUMBER, "
            f"e.g. 'latency_p95_ms < 5' {accepted}",
        )
    left, operator, right = parts
    if operator not in OPERATORS:
        raise check.fail(
            where,
            f"operator {operator!r} in {text!r} is not accepted: a bound is one of "
            f"{' '.join(OPERATORS)} {accepted}",
        )
    if not left or not right:
        side = "left" if not left else "right"
        raise check.fail(
            where,
            f"{text!r} has nothing on the {side} of {operator!r}: write NAME OP NUMBER {accepted}",
        )
    left_number, right_number = _number(left), _number(right)
    if (left_number is None) == (right_number is None):
        what = "two numbers" if left_number is not None else "no number"
        bad = left if left_number is not None or not _NAME.fullmatch(left) else right
        raise check.fail(
            where,
            f"{text!r} compares {what} (bad term {bad!r}): write a metric name on one "
            f"side and a finite number on the other {accepted}",
        )
    name = left if right_number is not None else right
    if name not in names:
        hint = did_you_mean(name, names)
        raise check.fail(where, f"bad term {name!r} in {text!r}{hint} {accepted}")
    below = operator in ("<", "<=")
    if right_number is not None:
        return Constraint(text=text, name=name, upper=below, bound=right_number)
    assert left_number is not None
    return Constraint(text=text, name=name, upper=not below, bound=left_number)


def _number(term: str) -> float | None:
    if not term or _NAME.fullmatch(term):
        return None
    try:
        number = float(term)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
