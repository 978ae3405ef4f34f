"""Optuna's names for distributions: the deprecated classes and the JSON format.

Optuna 2 had one class per kind of range (``UniformDistribution``,
``IntLogUniformDistribution``...); Optuna 3 folded them into
:class:`FloatDistribution` and :class:`IntDistribution` and kept the old names,
deprecated, for old code and old databases. They are the same here: subclasses
that build the equivalent range and warn with a ``FutureWarning``.

Optuna's JSON form is ``{"name": <class name>, "attributes": {...}}``; it is
what Optuna's storages and its dashboard write, so tunelab reads and writes it.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from tunelab.space._distributions import (
    _KINDS,
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


def _warn_deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated (as in Optuna since 3.0); use {new} instead",
        FutureWarning,
        stacklevel=3,
    )


class UniformDistribution(FloatDistribution):
    """Deprecated: ``FloatDistribution(low, high)``."""

    def __init__(self, low: float, high: float) -> None:
        _warn_deprecated("UniformDistribution", "FloatDistribution(low, high)")
        super().__init__(low, high)

    def _asdict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}


class LogUniformDistribution(FloatDistribution):
    """Deprecated: ``FloatDistribution(low, high, log=True)``."""

    def __init__(self, low: float, high: float) -> None:
        _warn_deprecated("LogUniformDistribution", "FloatDistribution(low, high, log=True)")
        super().__init__(low, high, log=True)

    def _asdict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}


class DiscreteUniformDistribution(FloatDistribution):
    """Deprecated: ``FloatDistribution(low, high, step=q)``."""

    def __init__(self, low: float, high: float, q: float) -> None:
        _warn_deprecated("DiscreteUniformDistribution", "FloatDistribution(low, high, step=q)")
        super().__init__(low, high, step=q)

    @property
    def q(self) -> float:
        """The step of the grid (Optuna's old name for ``step``)."""
        assert self.step is not None
        return self.step

    def _asdict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "q": self.step}


class IntUniformDistribution(IntDistribution):
    """Deprecated: ``IntDistribution(low, high, step=step)``."""

    def __init__(self, low: int, high: int, step: int = 1) -> None:
        _warn_deprecated("IntUniformDistribution", "IntDistribution(low, high, step=step)")
        super().__init__(low, high, step=step)

    def _asdict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "step": self.step}


class IntLogUniformDistribution(IntDistribution):
    """Deprecated: ``IntDistribution(low, high, log=True)``."""

    def __init__(self, low: int, high: int, step: int = 1) -> None:
        _warn_deprecated("IntLogUniformDistribution", "IntDistribution(low, high, log=True)")
        super().__init__(low, high, log=True, step=step)

    def _asdict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "step": self.step}


def current_distribution(dist: BaseDistribution) -> BaseDistribution:
    """The Optuna 3 class of a deprecated distribution (other distributions unchanged).

    Trials store the current classes, so a parameter added with
    ``UniformDistribution(0, 1)`` is the same parameter as one suggested with
    ``suggest_float(name, 0, 1)``.
    """
    if isinstance(dist, _DEPRECATED_FLOAT):
        return FloatDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, _DEPRECATED_INT):
        return IntDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
    return dist


_DEPRECATED_FLOAT = (UniformDistribution, LogUniformDistribution, DiscreteUniformDistribution)
_DEPRECATED_INT = (IntUniformDistribution, IntLogUniformDistribution)

DISTRIBUTION_CLASSES: tuple[type[BaseDistribution], ...] = (
    IntDistribution,
    IntLogUniformDistribution,
    IntUniformDistribution,
    FloatDistribution,
    UniformDistribution,
    LogUniformDistribution,
    DiscreteUniformDistribution,
    CategoricalDistribution,
)
_BY_NAME = {cls.__name__: cls for cls in DISTRIBUTION_CLASSES}


def distribution_to_json(dist: BaseDistribution) -> str:
    """Serialise ``dist`` in Optuna's JSON form (``{"name": ..., "attributes": ...}``)."""
    return json.dumps({"name": type(dist).__name__, "attributes": dist._asdict()})


def json_to_distribution(json_str: str) -> BaseDistribution:
    """Read a distribution from JSON.

    Accepts Optuna's form (``{"name": "FloatDistribution", "attributes": {...}}``,
    deprecated class names included), Optuna's short form
    (``{"type": "float", "low": 0, "high": 1}``) and tunelab's own
    (:meth:`BaseDistribution.to_json`).

    Raises:
        ValueError: The text is not JSON of a known distribution.
    """
    data = json.loads(json_str)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object describing a distribution, got {json_str!r}")
    try:
        if "name" in data:
            cls = _BY_NAME[data["name"]]
            return cls(**data["attributes"])
        if "kind" in data:
            kind = data.pop("kind")
            return _KINDS[kind](**data)
        return _from_short_form(data)
    except KeyError as exc:
        known = sorted(_BY_NAME)
        raise ValueError(
            f"unknown distribution {exc.args[0]!r} in {json_str!r} (known names: {known}; "
            "short-form types: 'float', 'int', 'categorical')"
        ) from None


def _from_short_form(data: dict[str, Any]) -> BaseDistribution:
    kind = data["type"]
    if kind == "categorical":
        return CategoricalDistribution(data["choices"])
    if kind == "float":
        return FloatDistribution(
            data["low"], data["high"], log=data.get("log", False), step=data.get("step")
        )
    if kind == "int":
        step = data.get("step")
        return IntDistribution(
            data["low"], data["high"], log=data.get("log", False), step=1 if step is None else step
        )
    raise KeyError(kind)
