"""Choosing the trial to deploy: a pick rule over objectives and deployment metrics.

A rule such as ``latency_p95_ms < 5 and size_mb <= 2`` is parsed with :mod:`ast` and
only names, numbers, comparisons (``< <= > >= ==``), ``and``, ``or``, ``not`` and
parentheses are accepted; it is then evaluated by walking that tree, never by
``eval``. Names are the study's objective names, the numbers of a trial's
"deployment" user attribute (``latency_p95_ms``, ``size_mb``...) and its other
numeric user attributes, in that order of precedence.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tunelab._validation import is_real
from tunelab.config._fields import ConfigError
from tunelab.study import Study, StudyDirection
from tunelab.trial import FrozenTrial, TrialState, feasible_trials

DEPLOYMENT_ATTR = "deployment"
PRECISION = "precision"
_COMPARISONS: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
}
_ACCEPTED = "names, numbers, < <= > >= ==, and, or, not and parentheses"


@dataclass(frozen=True)
class PickRule:
    """A parsed pick rule.

    Attributes:
        text: The rule as written.
        names: The names it uses, in order of appearance.
    """

    text: str
    names: tuple[str, ...]
    _tree: ast.expr

    def matches(self, values: Mapping[str, float]) -> bool:
        """Whether a trial with these ``values`` satisfies the rule.

        A comparison with a name the trial has no value for is false.
        """
        return bool(_evaluate(self._tree, values))


@dataclass(frozen=True)
class Candidate:
    """A trial that may be picked, with every value a rule can name."""

    trial: FrozenTrial
    values: dict[str, float]

    @property
    def precision(self) -> str:
        """``float32`` or ``int8``: how the trial's model was converted and measured."""
        deployment = self.trial.user_attrs.get(DEPLOYMENT_ATTR)
        stored = deployment.get(PRECISION) if isinstance(deployment, Mapping) else None
        return str(stored or self.trial.params.get(PRECISION) or "float32")


@dataclass(frozen=True)
class Choice:
    """The picked trial and how it was picked.

    Attributes:
        trial: The chosen trial.
        rule: The pick rule, or None.
        by: The name it was ranked by, or None (a single-objective study's best trial).
        candidates: The trials it was chosen among (after the rule).
    """

    trial: FrozenTrial
    rule: str | None
    by: str | None
    candidates: list[Candidate]


def parse_pick(text: str) -> PickRule:
    """Parse a pick rule.

    Raises:
        ConfigError: The rule is not valid Python syntax, uses anything but names,
            numbers, comparisons, ``and``/``or``/``not`` and parentheses, or is not a
            condition (a bare name or number).
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("expected a condition such as 'latency_p95_ms < 5'", field="pick")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"{text!r} is not a valid rule: {exc.msg}", field="pick") from None
    names: list[str] = []
    _check_condition(tree, text, names)
    return PickRule(text=text, names=tuple(dict.fromkeys(names)), _tree=tree)


def _check_condition(node: ast.expr, text: str, names: list[str]) -> None:
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_condition(value, text, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_condition(node.operand, text, names)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARISONS:
                raise _refused(text, f"the comparison {type(op).__name__}")
        for operand in (node.left, *node.comparators):
            _check_operand(operand, text, names)
    elif isinstance(node, ast.Name | ast.Constant):
        raise ConfigError(
            f"{text!r} is not a condition: compare it, e.g. 'latency_p95_ms < 5'", field="pick"
        )
    else:
        raise _refused(text, _describe(node))


def _check_operand(node: ast.expr, text: str, names: list[str]) -> None:
    if isinstance(node, ast.Name):
        names.append(node.id)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    if isinstance(node, ast.Constant) and is_real(node.value):
        return
    raise _refused(text, _describe(node))


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.Attribute):
        return "attribute access"
    if isinstance(node, ast.Constant):
        return f"the value {node.value!r}"
    return type(node).__name__


def _refused(text: str, what: str) -> ConfigError:
    return ConfigError(f"{text!r} uses {what}; a rule may use only {_ACCEPTED}", field="pick")


def _evaluate(node: ast.expr, values: Mapping[str, float]) -> bool | float | None:
    if isinstance(node, ast.BoolOp):
        results = (bool(_evaluate(value, values)) for value in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not inner
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, values)
            if left is None or right is None or not _COMPARISONS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        return values.get(node.id)
    assert isinstance(node, ast.Constant) and is_real(node.value)
    return float(node.value)


def objective_names(study: Study) -> list[str]:
    """The study's objective names: its metric names, else those of its "objectives" user
    attribute (a config's ``[{"name": ..., "direction": ...}]``), else ``value`` or
    ``values_<i>``."""
    names = study.metric_names
    if names and len(names) == len(study.directions):
        return list(names)
    declared = study.user_attrs.get("objectives")
    if isinstance(declared, list) and len(declared) == len(study.directions):
        listed = [item.get("name") if isinstance(item, Mapping) else None for item in declared]
        if all(isinstance(name, str) for name in listed):
            return [str(name) for name in listed]
    if len(study.directions) == 1:
        return ["value"]
    return [f"values_{index}" for index in range(len(study.directions))]


def candidates(study: Study) -> list[Candidate]:
    """The trials a pick chooses among, with their values.

    For several objectives: the feasible trials of the Pareto front (respecting stored
    constraints). For one objective: every feasible complete trial.
    """
    if len(study.directions) > 1:
        trials = study.best_trials
    else:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        trials = feasible_trials(done)
    names = objective_names(study)
    ordered = sorted(trials, key=lambda trial: trial.number)
    return [Candidate(trial, _values(trial, names)) for trial in ordered]


def _values(trial: FrozenTrial, names: Sequence[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, value in zip(names, trial.values or (), strict=False):
        values[name] = float(value)
    deployment = trial.user_attrs.get(DEPLOYMENT_ATTR)
    sources = [deployment if isinstance(deployment, Mapping) else {}, trial.user_attrs]
    for source in sources:
        for key, value in source.items():
            if key not in values and is_real(value) and math.isfinite(float(value)):
                values[str(key)] = float(value)
    return values


def choose_trial(
    study: Study, *, pick: str | None = None, by: str | None = None, number: int | None = None
) -> Choice:
    """The trial to register.

    Without ``pick``, ``by`` or ``number``, a single-objective study's best trial.
    Otherwise the candidates (see :func:`candidates`) that satisfy ``pick``, ranked by
    ``by`` in its direction (an objective's, or lower for a deployment metric; the
    first objective by default); ties go to the better values of the objectives in
    order, then to the earlier trial. ``number`` asks for that trial, which must be
    one of those candidates.

    Raises:
        ConfigError: No complete trial; a bad rule or an unknown name (the available
            ones are listed); ``by`` not an objective or deployment metric; no
            candidate satisfies the rule (the candidates are listed with their
            values); or ``number`` is not a candidate.
    """
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        raise ConfigError(f"study {study.study_name!r} has no complete trial to register")
    single = len(study.directions) == 1
    if single and pick is None and by is None and number is None:
        return Choice(study.best_trial, None, None, [])
    pool = candidates(study)
    if not pool:
        raise ConfigError(f"study {study.study_name!r} has no feasible complete trial")
    names = objective_names(study)
    available = sorted({name for candidate in pool for name in candidate.values})
    rule = parse_pick(pick) if pick is not None else None
    if rule is not None:
        unknown = [name for name in rule.names if name not in available]
        if unknown:
            raise ConfigError(
                f"{pick!r} names {', '.join(map(repr, unknown))}, which no candidate trial "
                f"has; available: {', '.join(available)}",
                field="pick",
            )
        matching = [candidate for candidate in pool if rule.matches(candidate.values)]
        if not matching:
            front = "; ".join(_describe_candidate(candidate, names) for candidate in pool)
            where = "Pareto-front" if not single else "complete"
            raise ConfigError(
                f"no feasible {where} trial satisfies {pick!r}; the candidates: {front}",
                field="pick",
            )
    else:
        matching = pool
    by_name = by if by is not None else names[0]
    rank = _ranking(study, names, by_name, available)
    ranked = sorted(matching, key=rank)
    if number is None:
        return Choice(ranked[0].trial, pick, by_name, ranked)
    for candidate in ranked:
        if candidate.trial.number == number:
            return Choice(candidate.trial, pick, by_name, ranked)
    listed = [candidate.trial.number for candidate in ranked]
    raise ConfigError(f"trial {number} is not one of the candidates {listed}", field="trial")


def _ranking(
    study: Study, names: list[str], by: str, available: list[str]
) -> Callable[[Candidate], tuple[float, ...]]:
    directions = dict(zip(names, study.directions, strict=True))
    deployment = {
        key
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if isinstance(stored := trial.user_attrs.get(DEPLOYMENT_ATTR), Mapping)
        for key in stored
    }
    if by not in directions and by not in deployment:
        allowed = [*names, *sorted(deployment & set(available) - set(names))]
        raise ConfigError(
            f"{by!r} is not an objective or a deployment metric; rank by one of "
            f"{', '.join(allowed)}",
            field="by",
        )
    order = [by, *(name for name in names if name != by)]
    signs = [
        -1.0 if directions.get(name, StudyDirection.MINIMIZE) == StudyDirection.MAXIMIZE else 1.0
        for name in order
    ]

    def key(candidate: Candidate) -> tuple[float, ...]:
        values = candidate.values
        # A trial without the value ranks last, whatever the direction.
        signed = [
            sign * values[name] if name in values else math.inf
            for name, sign in zip(order, signs, strict=True)
        ]
        return (*signed, float(candidate.trial.number))

    return key


def _describe_candidate(candidate: Candidate, names: Sequence[str]) -> str:
    shown = [*names, *(key for key in ("latency_p95_ms", "size_mb") if key not in names)]
    parts = [f"{name}={candidate.values[name]:.4g}" for name in shown if name in candidate.values]
    return f"trial {candidate.trial.number} ({', '.join(parts)}, {candidate.precision})"
