"""Search spaces declared as plain dicts (the form used in YAML study configs).

Example::

    {
        "lr": {"float": [1e-5, 1e-1], "log": True},
        "depth": {"int": [2, 32]},
        "act": {"categorical": ["relu", "tanh"]},
        "degree": {"int": [2, 5], "when": {"kernel": "poly"}},
    }

``when`` makes a parameter conditional: it exists only in trials where each
named parameter took the given value (or one of the values, given a list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tunelab.space._distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_step_divides,
)


class SupportsSuggest(Protocol):
    """Anything that can be asked for a parameter value (a trial)."""

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any: ...


_KIND_KEYS = ("float", "int", "categorical")
_OPTION_KEYS = {"float": {"log", "step"}, "int": {"log", "step"}, "categorical": set()}


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters, some of them conditional on others.

    Attributes:
        distributions: Parameter name to distribution, in suggestion order.
        conditions: Parameter name to the ``{parent: allowed values}`` it needs.
    """

    distributions: dict[str, BaseDistribution]
    conditions: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def is_conditional(self) -> bool:
        """Whether some parameter exists only in some trials."""
        return bool(self.conditions)

    def active(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether ``name`` exists given the parameters chosen so far."""
        return all(
            parent in params and _matches(params[parent], allowed)
            for parent, allowed in self.conditions.get(name, {}).items()
        )

    def suggest(self, trial: SupportsSuggest) -> dict[str, Any]:
        """Ask ``trial`` for every active parameter, in order, and return them."""
        params: dict[str, Any] = {}
        for name, dist in self.distributions.items():
            if self.active(name, params):
                params[name] = trial._suggest(name, dist)
        return params


def space_from_dict(spec: Mapping[str, Any], *, where: str = "space") -> SearchSpace:
    """Build a :class:`SearchSpace` from its dict form.

    Args:
        spec: Parameter name to a one-kind mapping (see the module docstring).
        where: How to name the spec's location in error messages, e.g. a file
            and field path.

    Raises:
        ValueError: A field is missing, unknown or out of its rules; the
            message names the field path.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"{where}: expected a non-empty mapping of parameter name to spec")
    distributions: dict[str, BaseDistribution] = {}
    conditions: dict[str, dict[str, tuple[Any, ...]]] = {}
    for name, entry in spec.items():
        path = f"{where}.{name}"
        distributions[str(name)] = _parse_param(entry, path)
        if isinstance(entry, Mapping) and "when" in entry:
            conditions[str(name)] = _parse_when(entry["when"], path, distributions)
    return SearchSpace(distributions, conditions)


def _parse_param(entry: Any, path: str) -> BaseDistribution:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{path}: expected a mapping such as {{'float': [0.0, 1.0]}}")
    kinds = [key for key in _KIND_KEYS if key in entry]
    if len(kinds) != 1:
        raise ValueError(f"{path}: expected exactly one of {list(_KIND_KEYS)}, got {list(entry)}")
    kind = kinds[0]
    unknown = set(entry) - {kind, "when"} - _OPTION_KEYS[kind]
    if unknown:
        allowed = sorted({kind, "when"} | _OPTION_KEYS[kind])
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {allowed}")
    args = entry[kind]
    try:
        if kind == "categorical":
            return CategoricalDistribution(args)
        if not isinstance(args, list | tuple) or len(args) != 2:
            raise ValueError(f"expected [low, high], got {args!r}")
        options = {key: entry[key] for key in _OPTION_KEYS[kind] if key in entry}
        if "step" in options:
            # A config file is checked strictly: no silent change of the range it states.
            check_step_divides(args[0], args[1], options["step"])
        if kind == "int":
            return IntDistribution(args[0], args[1], **options)
        return FloatDistribution(args[0], args[1], **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}.{kind}: {exc}") from None


def _parse_when(
    when: Any, path: str, known: Mapping[str, BaseDistribution]
) -> dict[str, tuple[Any, ...]]:
    if not isinstance(when, Mapping) or not when:
        raise ValueError(f"{path}.when: expected a mapping of parent parameter to value(s)")
    parsed: dict[str, tuple[Any, ...]] = {}
    for parent, values in when.items():
        if parent not in known:
            raise ValueError(
                f"{path}.when: parent {parent!r} must be a parameter declared before this one"
            )
        allowed = tuple(values) if isinstance(values, list | tuple) else (values,)
        for value in allowed:
            _check_parent_value(known[parent], value, f"{path}.when.{parent}", parent)
        parsed[str(parent)] = allowed
    return parsed


def _check_parent_value(dist: BaseDistribution, value: Any, path: str, parent: str) -> None:
    # A value the parent can never take (a typo) would silently disable the parameter.
    try:
        ok = dist.contains(dist.to_internal(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{path}: {value!r} is not one of the values of {parent!r} ({dist!r})")


def _matches(value: Any, allowed: tuple[Any, ...]) -> bool:
    # True == 1 in Python, but a bool choice and an int choice are different values.
    return any(
        value == option and isinstance(value, bool) == isinstance(option, bool)
        for option in allowed
    )
