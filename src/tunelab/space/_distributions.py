"""Parameter distributions: the domain of one hyperparameter.

Every distribution maps its values to an *internal* float representation that
storages persist and samplers reason about: floats and ints are stored as
themselves, categorical values as the index of the choice.
"""

from __future__ import annotations

import decimal
import json
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

import numpy as np

CategoricalChoice: TypeAlias = bool | int | float | str | None

# Slack, in steps, when checking that a float lies on a step grid (binary floating
# point cannot represent most decimal steps exactly); Optuna's value, so that both
# accept the same enqueued values.
_STEP_ATOL = 1e-8


class BaseDistribution(ABC):
    """The domain of one parameter, with conversion to the internal float form."""

    kind: ClassVar[str]

    @abstractmethod
    def to_internal(self, value: Any) -> float:
        """Convert a user-facing value to its internal float representation."""

    @abstractmethod
    def to_external(self, internal: float) -> Any:
        """Convert an internal float back to the user-facing value."""

    @abstractmethod
    def contains(self, internal: float) -> bool:
        """Whether an internal value lies in the domain."""

    @abstractmethod
    def single(self) -> bool:
        """Whether the domain holds exactly one value."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""

    def to_json(self) -> str:
        """Serialise to a JSON string that :func:`distribution_from_json` reads back."""
        return json.dumps({"kind": self.kind, **self._params()}, sort_keys=True)

    # Optuna's names for the same operations: samplers and pruners written against
    # Optuna's API call these.
    def to_internal_repr(self, param_value_in_external_repr: Any) -> float:
        """Optuna's name for :meth:`to_internal`."""
        return self.to_internal(param_value_in_external_repr)

    def to_external_repr(self, param_value_in_internal_repr: float) -> Any:
        """Optuna's name for :meth:`to_external`."""
        return self.to_external(param_value_in_internal_repr)

    def _contains(self, param_value_in_internal_repr: float) -> bool:
        """Optuna's name for :meth:`contains`."""
        return self.contains(param_value_in_internal_repr)

    def _asdict(self) -> dict[str, Any]:
        """Constructor arguments by name, as Optuna's distributions report them."""
        return self._params()


def _check_finite(**bounds: float) -> None:
    for key, value in bounds.items():
        if not math.isfinite(value):
            raise ValueError(f"{key}={value!r} must be a finite number")


def _as_float(key: str, value: Any) -> float:
    # float() raises TypeError for None; callers name the parameter only for ValueError.
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={value!r} must be a number") from None


def _as_flag(key: str, value: Any) -> bool:
    # A truthy string such as "no" must not silently switch the log scale on.
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(f"{key}={value!r} must be True or False")


def _float_steps(low: float, high: float, step: float) -> tuple[int, bool]:
    """Whole steps that fit in ``[low, high]`` and whether they fill it exactly.

    Decimal arithmetic on the numbers as written (``0.1``, not its binary
    approximation) decides, as Optuna does: ``[0, 1]`` with ``step=0.1`` is
    exact, ``[0, 1.9999999999998863]`` is not.
    """
    span = decimal.Decimal(repr(high)) - decimal.Decimal(repr(low))
    d_step = decimal.Decimal(repr(step))
    return int(span // d_step), span % d_step == 0


def check_step_divides(low: Any, high: Any, step: Any) -> None:
    """Raise unless ``step`` divides ``high - low`` into whole steps.

    The distributions themselves lower ``high`` with a warning instead (as
    Optuna does); declarative spaces call this to reject such a range outright.
    """
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high, step)):
        return  # the constructor names the bad argument
    if step <= 0 or not all(map(math.isfinite, (low, high, step))) or low > high:
        return
    if not _float_steps(low, high, step)[1]:
        raise ValueError(
            f"step={step!r} must divide the range high - low = {high - low!r} into whole steps"
        )


def _warn_high_lowered(low: Any, high: Any, step: Any, new_high: Any, stacklevel: int) -> None:
    warnings.warn(
        f"step={step!r} does not divide the range [{low!r}, {high!r}] into whole steps; "
        f"high is lowered to {new_high!r}",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def _lowered_float_high(low: float, high: float, step: float) -> float:
    n_steps, exact = _float_steps(low, high, step)
    if exact:
        return high
    # Decimal arithmetic gives the grid point users expect (0.9, not 0.8999999999999999).
    new_high = float(decimal.Decimal(repr(low)) + n_steps * decimal.Decimal(repr(step)))
    # Called from __post_init__, itself called from the generated __init__.
    _warn_high_lowered(low, high, step, new_high, stacklevel=4)
    return new_high


@dataclass(frozen=True)
class FloatDistribution(BaseDistribution):
    """A real interval ``[low, high]``, optionally on a log scale or a step grid.

    When ``step`` does not divide ``high - low``, ``high`` is lowered to the
    last whole step with a warning, as Optuna does.
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None
    kind: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _as_float("low", self.low))
        object.__setattr__(self, "high", _as_float("high", self.high))
        object.__setattr__(self, "log", _as_flag("log", self.log))
        _check_finite(low=self.low, high=self.high)
        if self.low > self.high:
            raise ValueError(f"low={self.low!r} must be <= high={self.high!r}")
        if self.log and self.low <= 0.0:
            raise ValueError(f"low={self.low!r} must be > 0 when log=True")
        if self.step is not None:
            if self.log:
                raise ValueError("step and log=True cannot be used together")
            object.__setattr__(self, "step", _as_float("step", self.step))
            if not (math.isfinite(self.step) and self.step > 0):
                raise ValueError(f"step={self.step!r} must be a positive finite number")
            object.__setattr__(self, "high", _lowered_float_high(self.low, self.high, self.step))

    def to_internal(self, value: Any) -> float:
        try:
            internal = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number (expected a float)") from None
        if math.isnan(internal):
            raise ValueError(f"{value!r} is not a valid value of {self!r}")
        if self.log and internal <= 0.0:
            raise ValueError(f"{value!r} must be > 0 on a log scale")
        return internal

    def to_external(self, internal: float) -> float:
        return float(internal)

    def contains(self, internal: float) -> bool:
        if not self.low <= internal <= self.high:
            return False
        if self.step is None:
            return True
        k = (internal - self.low) / self.step
        return abs(k - round(k)) < _STEP_ATOL

    def single(self) -> bool:
        if self.step is not None:
            # Counted in decimal, as the range was checked: 1.49999 - 0.99999 is 0.4999...4
            # in binary, yet the range holds a whole step of 0.5.
            return _float_steps(self.low, self.high, self.step)[0] == 0
        return self.low == self.high

    def _params(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}


@dataclass(frozen=True)
class IntDistribution(BaseDistribution):
    """An integer range ``[low, high]`` with a step, optionally on a log scale.

    When ``step`` does not divide ``high - low``, ``high`` is lowered to the
    last whole step with a warning, as Optuna does.
    """

    low: int
    high: int
    log: bool = False
    step: int = 1
    kind: ClassVar[str] = "int"

    def __post_init__(self) -> None:
        for key in ("low", "high", "step"):
            value = getattr(self, key)
            if not _is_integral(value):
                raise ValueError(f"{key}={value!r} must be an integer")
            object.__setattr__(self, key, int(value))
        object.__setattr__(self, "log", _as_flag("log", self.log))
        if self.low > self.high:
            raise ValueError(f"low={self.low!r} must be <= high={self.high!r}")
        if self.step < 1:
            raise ValueError(f"step={self.step!r} must be >= 1")
        if self.log and self.low < 1:
            raise ValueError(f"low={self.low!r} must be >= 1 when log=True")
        if self.log and self.step != 1:
            raise ValueError("step other than 1 and log=True cannot be used together")
        if (self.high - self.low) % self.step:
            new_high = self.high - (self.high - self.low) % self.step
            _warn_high_lowered(self.low, self.high, self.step, new_high, stacklevel=3)
            object.__setattr__(self, "high", new_high)

    def to_internal(self, value: Any) -> float:
        try:
            internal = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number (expected an integer)") from None
        if math.isnan(internal):
            raise ValueError(f"{value!r} is not a valid value of {self!r}")
        if self.log and internal <= 0.0:
            raise ValueError(f"{value!r} must be > 0 on a log scale")
        return internal

    def to_external(self, internal: float) -> int:
        return round(internal)

    def contains(self, internal: float) -> bool:
        # The range check comes first: round() raises on NaN and infinity.
        if not self.low <= internal <= self.high or internal != round(internal):
            return False
        return (round(internal) - self.low) % self.step == 0

    def single(self) -> bool:
        return self.high - self.low < self.step

    def _params(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}


_CHOICE_TYPES = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class CategoricalDistribution(BaseDistribution):
    """A finite, ordered set of choices: ``None``, bools, ints, floats or strings."""

    choices: tuple[CategoricalChoice, ...]
    kind: ClassVar[str] = "categorical"

    def __init__(self, choices: Sequence[CategoricalChoice]) -> None:
        if isinstance(choices, str | bytes) or not isinstance(choices, Sequence):
            raise ValueError(f"choices must be a list or tuple, got {type(choices).__name__}")
        if len(choices) == 0:
            raise ValueError("choices must not be empty")
        for choice in choices:
            if not isinstance(choice, _CHOICE_TYPES):
                raise ValueError(
                    f"choice {choice!r} has type {type(choice).__name__}; choices must be "
                    "None, bool, int, float or str (store other objects by name and look them up)"
                )
        object.__setattr__(self, "choices", tuple(choices))

    def _key(self) -> tuple[tuple[type, CategoricalChoice], ...]:
        # Samplers compare and hash distributions for every observation of every
        # trial; the typed tuple is built once per instance (lazily, so instances
        # unpickled from before it existed work too).
        key = self.__dict__.get("_typed_choices")
        if key is None:
            key = _typed(self.choices)
            object.__setattr__(self, "_typed_choices", key)
        return key

    def __eq__(self, other: object) -> bool:
        # Tuples compare True == 1 == 1.0; choices of other types are other domains.
        if not isinstance(other, CategoricalDistribution):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def to_internal(self, value: Any) -> float:
        for index, choice in enumerate(self.choices):
            # type() check keeps True and 1 (which compare equal) apart.
            if type(choice) is type(value) and (
                choice == value or (_is_nan(choice) and _is_nan(value))
            ):
                return float(index)
        raise ValueError(f"{value!r} is not one of the choices {list(self.choices)!r}")

    def to_external(self, internal: float) -> CategoricalChoice:
        return self.choices[int(internal)]

    def contains(self, internal: float) -> bool:
        return 0 <= internal < len(self.choices) and internal == int(internal)

    def single(self) -> bool:
        return len(self.choices) == 1

    def _params(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}


def _typed(choices: tuple[CategoricalChoice, ...]) -> tuple[tuple[type, CategoricalChoice], ...]:
    # NaN != NaN, yet a NaN choice read back from JSON is the same domain.
    return tuple((type(c), "nan" if _is_nan(c) else c) for c in choices)


def _is_integral(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return int(value) == value
    except (TypeError, ValueError, OverflowError):
        return False


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


_KINDS: dict[str, type[BaseDistribution]] = {
    cls.kind: cls for cls in (FloatDistribution, IntDistribution, CategoricalDistribution)
}


def distribution_from_json(text: str) -> BaseDistribution:
    """Read a distribution written by :meth:`BaseDistribution.to_json`."""
    data = json.loads(text)
    kind = data.pop("kind")
    return _KINDS[kind](**data)


def check_distribution_compatibility(
    dist_old: BaseDistribution, dist_new: BaseDistribution
) -> None:
    """Raise if ``dist_new`` cannot stand for the parameter recorded with ``dist_old``.

    Two distributions are compatible when they are of the same class and, for
    numbers, the same scale (a different range is allowed), or, for
    categorical ones, have the same choices. This is Optuna's rule.

    Raises:
        ValueError: The kinds, scales or choices differ.
    """
    if type(dist_old) is not type(dist_new):
        raise ValueError(
            f"{dist_new!r} is another kind of distribution than {dist_old!r} "
            "(a parameter keeps one kind)"
        )
    if isinstance(dist_old, FloatDistribution | IntDistribution):
        assert isinstance(dist_new, FloatDistribution | IntDistribution)
        if dist_old.log != dist_new.log:
            raise ValueError(
                f"{dist_new!r} has log={dist_new.log} but {dist_old!r} has log={dist_old.log} "
                "(a parameter keeps one scale)"
            )
    elif dist_old != dist_new:
        raise ValueError(
            f"{dist_new!r} has other choices than {dist_old!r} (a categorical parameter "
            "keeps its choices)"
        )


def check_compatible(name: str, old: BaseDistribution, new: BaseDistribution) -> None:
    """Check a parameter asked for again in one trial, as Optuna does.

    Raises ``ValueError`` (naming the parameter) when the distributions are
    incompatible; warns with a ``RuntimeWarning`` when only the range differs,
    since the first value is kept.
    """
    if old == new:
        return
    try:
        check_distribution_compatibility(old, new)
    except ValueError as exc:
        raise ValueError(f"parameter {name!r} was already suggested in this trial: {exc}") from None
    warnings.warn(
        f"parameter {name!r} was already suggested as {old!r} in this trial and is asked "
        f"for again as {new!r}; the first value is kept",
        RuntimeWarning,
        stacklevel=4,
    )
