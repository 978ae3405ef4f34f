"""Trials: one evaluation of the objective at one point of the search space."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import datetime as dt
import enum
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, overload

from tunelab.space import (
    BaseDistribution,
    CategoricalChoice,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
    check_distribution_compatibility,
    current_distribution,
)

if TYPE_CHECKING:
    from tunelab.storage import BaseStorage
    from tunelab.study import Study

ChoiceT = TypeVar("ChoiceT", bound=CategoricalChoice)
FieldT = TypeVar("FieldT")

# System attribute keys shared by the study and the storages.
FIXED_PARAMS_KEY = "fixed_params"
FAIL_REASON_KEY = "fail_reason"
RETRY_OF_KEY = "retry_of"
RETRY_HISTORY_KEY = "retry_history"
# Constraint values of a finished trial (feasible when all are <= 0), Optuna's key.
CONSTRAINTS_KEY = "constraints"


class TrialState(enum.IntEnum):
    """Where a trial is in its life: WAITING → RUNNING → COMPLETE | PRUNED | FAIL."""

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def __str__(self) -> str:
        # IntEnum prints as its number since Python 3.11; Optuna code prints names.
        return f"TrialState.{self.name}"

    def is_finished(self) -> bool:
        """Whether the trial can no longer change."""
        return self in _FINISHED


_FINISHED = frozenset({TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL})


class StudyDirection(enum.IntEnum):
    """Whether an objective is minimised or maximised."""

    NOT_SET = 0
    MINIMIZE = 1
    MAXIMIZE = 2


class ReadOnlyList(list[Any]):
    """A list that refuses changes: what a :class:`FrozenTrial` holds its values in.

    It is a real ``list`` (``trial.values == [1.0]``, ``json.dumps``, NumPy all
    work); copy it with ``list(...)`` to get one you can change.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a FrozenTrial's lists are read-only; copy one with list(...) to change it")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # The default protocol rebuilds a list subclass by appending to it.
        return (type(self), (list(self),))


class ReadOnlyDict(dict[Any, Any]):
    """A dict that refuses changes: what a :class:`FrozenTrial` holds its mappings in.

    It is a real ``dict`` (``trial.params["x"]``, ``dict(trial.params)``,
    ``json.dumps`` and pickling all work); ``dict(...)`` gives a copy you can change.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a FrozenTrial's dicts are read-only; copy one with dict(...) to change it")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # The default protocol rebuilds a dict subclass by setting its items one by one.
        return (type(self), (dict(self),))


def freeze(value: Any) -> Any:
    """``value`` with every list and dict in it, however deep, made read-only.

    Tuples become read-only lists, as they do through JSON.
    """
    kind = type(value)
    if kind is ReadOnlyDict or kind is ReadOnlyList:
        return value  # built by this function, so already frozen all the way down
    if isinstance(value, dict):
        return ReadOnlyDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return ReadOnlyList([freeze(item) for item in value])
    return value


def thaw(value: Any) -> Any:
    """``value`` with every read-only list and dict in it, however deep, made a plain one."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    return value


# Shared: most trials have no attributes or reports, and an empty read-only dict never changes.
_EMPTY = ReadOnlyDict()


def _read_only_list(values: Sequence[float]) -> ReadOnlyList:
    return values if type(values) is ReadOnlyList else ReadOnlyList(values)


def _read_only_dict(mapping: Mapping[Any, Any] | None) -> ReadOnlyDict:
    """A read-only dict of ``mapping``, whose values are immutable; shared when it already is."""
    if type(mapping) is ReadOnlyDict:
        return mapping
    return ReadOnlyDict(mapping) if mapping else _EMPTY


def _frozen_attrs(attrs: Mapping[str, Any] | None) -> ReadOnlyDict:
    """Attributes frozen however deep; shared when they already are."""
    if type(attrs) is ReadOnlyDict:
        return attrs
    return freeze(dict(attrs)) if attrs else _EMPTY


class _Suggestions:
    """The ``suggest_*`` methods, over one ``_suggest(name, distribution)`` primitive."""

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        raise NotImplementedError

    def suggest_float(
        self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None
    ) -> float:
        """Suggest a float in ``[low, high]``, on a log scale or a step grid if asked."""
        return float(self._suggest(name, _named(name, FloatDistribution, low, high, log, step)))

    def suggest_int(
        self, name: str, low: int, high: int, *, log: bool = False, step: int = 1
    ) -> int:
        """Suggest an integer in ``[low, high]`` on a grid of ``step``, log-scaled if asked."""
        return int(self._suggest(name, _named(name, IntDistribution, low, high, log, step)))

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceT]) -> ChoiceT:
        """Suggest one of ``choices`` (None, bool, int, float or str values)."""
        key = tuple(choices) if isinstance(choices, list | tuple) else choices
        value: ChoiceT = self._suggest(name, _named(name, CategoricalDistribution, key))
        return value

    # Optuna 2's suggestion methods, deprecated in Optuna 3 but still common in old code.
    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Deprecated: use ``suggest_float(name, low, high)``."""
        _warn_deprecated_suggest("suggest_uniform", "suggest_float(name, low, high)")
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Deprecated: use ``suggest_float(name, low, high, log=True)``."""
        _warn_deprecated_suggest("suggest_loguniform", "suggest_float(name, low, high, log=True)")
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Deprecated: use ``suggest_float(name, low, high, step=q)``."""
        _warn_deprecated_suggest(
            "suggest_discrete_uniform", "suggest_float(name, low, high, step=q)"
        )
        return self.suggest_float(name, low, high, step=q)


# The fields a trial has, in the order Optuna's FrozenTrial takes them positionally.
_FIELDS = (
    "number",
    "state",
    "values",
    "datetime_start",
    "datetime_complete",
    "params",
    "distributions",
    "user_attrs",
    "system_attrs",
    "intermediate_values",
    "trial_id",
)
# Set in the ``__dict__`` of a storage's shared snapshot, which refuses changes.
_SEALED = "_sealed"


class _Field(Generic[FieldT]):
    """A :class:`FrozenTrial` field kept in the instance's ``__dict__``.

    Optuna's fields are properties, so they exist on the class itself: code that
    patches one for every trial (``mock.patch("optuna.trial.FrozenTrial.system_attrs",
    new_callable=PropertyMock)``) or inspects the class finds them here too.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, trial: None, owner: type | None = None) -> _Field[FieldT]: ...

    @overload
    def __get__(self, trial: object, owner: type | None = None) -> FieldT: ...

    def __get__(self, trial: object | None, owner: type | None = None) -> Any:
        if trial is None:
            return self
        try:
            return trial.__dict__[self._name]
        except KeyError:
            raise AttributeError(self._name) from None

    def __set__(self, trial: object, value: FieldT) -> None:
        # FrozenTrial.__setattr__ has refused changes to sealed snapshots by now.
        trial.__dict__[self._name] = value

    def __delete__(self, trial: object) -> None:
        trial.__dict__.pop(self._name, None)


class FrozenTrial(_Suggestions):
    """A finished (or running) trial's record: what a study hands out and takes in.

    As in Optuna, a trial you build (``FrozenTrial(...)``, :func:`create_trial`)
    or copy (``copy.copy``, ``copy.deepcopy``, ``study.trials``,
    ``study.best_trial``, the trial a callback receives) is yours to change:
    assign ``value``, ``values``, ``params``, ``state``... The storage's own
    snapshots, which ``study.get_trials(deepcopy=False)`` and samplers receive
    without a copy, are sealed instead: assigning a field raises and their lists
    and dicts are read-only (:class:`ReadOnlyList`, :class:`ReadOnlyDict`), so
    nothing done to them can change the study (in Optuna it would). Snapshots
    pickle.

    Attributes:
        number: Position of the trial in its study, from 0.
        trial_id: Storage-wide identifier.
        state: Lifecycle state.
        values: Objective values (one per direction), or None until complete.
        params: Parameter name to value, as the objective received it.
        distributions: Parameter name to the distribution it was drawn from.
        intermediate_values: Step to value, as reported with :meth:`Trial.report`.
        user_attrs: Attributes set by the user.
        system_attrs: Attributes set by tunelab (fail reason, retry origin...).
        datetime_start: When the trial started running.
        datetime_complete: When it finished.
    """

    number: _Field[int] = _Field()
    trial_id: _Field[int] = _Field()
    state: _Field[TrialState] = _Field()
    values: _Field[list[float] | None] = _Field()
    params: _Field[dict[str, Any]] = _Field()
    distributions: _Field[dict[str, BaseDistribution]] = _Field()
    intermediate_values: _Field[dict[int, float]] = _Field()
    user_attrs: _Field[dict[str, Any]] = _Field()
    system_attrs: _Field[dict[str, Any]] = _Field()
    datetime_start: _Field[dt.datetime | None] = _Field()
    datetime_complete: _Field[dt.datetime | None] = _Field()

    def __init__(
        self,
        number: int,
        state: TrialState,
        value: float | None = None,
        datetime_start: dt.datetime | None = None,
        datetime_complete: dt.datetime | None = None,
        params: dict[str, Any] | None = None,
        distributions: dict[str, BaseDistribution] | None = None,
        user_attrs: dict[str, Any] | None = None,
        system_attrs: dict[str, Any] | None = None,
        intermediate_values: dict[int, float] | None = None,
        trial_id: int = -1,
        *,
        values: Sequence[float] | None = None,
    ) -> None:
        """Build a trial you own, with Optuna's arguments (in Optuna's positional order).

        The dicts are kept as given, not copied, as Optuna keeps them.

        Raises:
            ValueError: Both ``value`` and ``values`` are given.
        """
        if value is not None and values is not None:
            raise ValueError("give value or values, not both")
        self.__dict__.update(
            number=number,
            trial_id=trial_id,
            state=state,
            values=[value] if value is not None else (None if values is None else list(values)),
            params={} if params is None else params,
            distributions={} if distributions is None else distributions,
            intermediate_values={} if intermediate_values is None else intermediate_values,
            user_attrs={} if user_attrs is None else user_attrs,
            system_attrs={} if system_attrs is None else system_attrs,
            datetime_start=datetime_start,
            datetime_complete=datetime_complete,
        )

    @classmethod
    def _stored(
        cls,
        *,
        number: int,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
        distributions: Mapping[str, BaseDistribution] | None = None,
        intermediate_values: Mapping[int, float] | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        datetime_start: dt.datetime | None = None,
        datetime_complete: dt.datetime | None = None,
    ) -> FrozenTrial:
        """A storage's sealed snapshot, its containers read-only (shared when they are)."""
        trial = object.__new__(cls)
        trial.__dict__.update(
            number=number,
            trial_id=trial_id,
            state=state,
            values=None if values is None else _read_only_list(values),
            params=_read_only_dict(params),
            distributions=_read_only_dict(distributions),
            intermediate_values=_read_only_dict(intermediate_values),
            user_attrs=_frozen_attrs(user_attrs),
            system_attrs=_frozen_attrs(system_attrs),
            datetime_start=datetime_start,
            datetime_complete=datetime_complete,
            _sealed=True,
        )
        return trial

    def _refuse_if_sealed(self, name: str) -> None:
        if _SEALED in self.__dict__:
            raise AttributeError(
                f"cannot change {name!r}: this FrozenTrial is a study's shared snapshot "
                "(get_trials(deepcopy=False) or a sampler's argument); change a copy "
                "(copy.copy(trial) or copy.deepcopy(trial)) instead"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        self._refuse_if_sealed(name)
        if name == "values" and value is not None:
            value = list(value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._refuse_if_sealed(name)
        object.__delattr__(self, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self.number < other.number

    def __le__(self, other: object) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self.number <= other.number

    # Equal trials must hash equal, and a trial's fields change: like a list, unhashable.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"FrozenTrial({fields})"

    def __copy__(self) -> FrozenTrial:
        # A copy is the caller's to change (its containers stay shared, as in Optuna).
        clone = object.__new__(FrozenTrial)
        clone.__dict__.update(self.__dict__)
        clone.__dict__.pop(_SEALED, None)
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenTrial:
        # A deep copy belongs to whoever asked for it (Optuna's get_trials(deepcopy=True)),
        # so its lists and dicts are plain ones they may change.
        clone = object.__new__(FrozenTrial)
        clone.__dict__.update(
            {
                name: thaw(copy.deepcopy(value, memo))
                for name, value in self.__dict__.items()
                if name != _SEALED
            }
        )
        return clone

    @property
    def value(self) -> float | None:
        """The objective value of a single-objective trial."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise RuntimeError("value is for single-objective trials; use values")
        return self.values[0]

    @value.setter
    def value(self, value: float | None) -> None:
        if self.values is not None and len(self.values) != 1:
            raise RuntimeError("value is for single-objective trials; set values")
        self.values = None if value is None else [value]

    @property
    def duration(self) -> dt.timedelta | None:
        """Running time, once finished."""
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    @property
    def _trial_id(self) -> int:
        # Optuna keeps the id under this name, and plug-ins and callbacks read it there.
        return self.trial_id

    @property
    def last_step(self) -> int | None:
        """The largest reported step, if any."""
        return max(self.intermediate_values) if self.intermediate_values else None

    @property
    def constraints(self) -> dict[str, float]:
        """Constraint name to value (feasible when all are <= 0); empty without constraints.

        Reads both ways a storage may hold them: a list under ``"constraints"``
        (named ``"0"``, ``"1"``...: what a ``constraints_func`` gives) and one
        ``"constraints:<name>"`` attribute per constraint (:func:`create_trial`,
        :meth:`set_constraint`, as Optuna 5 writes them).
        """
        return constraints_of(self.system_attrs)

    @property
    def constraint_violation(self) -> float | None:
        """Total amount by which the stored constraints are exceeded (0 when feasible).

        None when the trial has no constraints stored (no ``constraints_func``).
        """
        constraints = constraints_of(self.system_attrs)
        if not constraints:
            return None
        return float(sum(max(float(c), 0.0) for c in constraints.values()))

    @property
    def fail_reason(self) -> str | None:
        """Why the trial failed, when it did."""
        return self.system_attrs.get(FAIL_REASON_KEY)

    # An objective can be re-run on a finished trial, e.g. ``objective(study.best_trial)``:
    # each suggestion returns the stored value, as Optuna's FrozenTrial does.
    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        return given_value(
            name, distribution, self.params, self.distributions, f"trial {self.number}"
        )

    def report(self, value: float, step: int) -> None:
        """Do nothing: a finished trial takes no more reports."""

    def should_prune(self) -> bool:
        """Never prune: a finished trial has no pruner to ask."""
        return False

    def _validate(self) -> None:
        """Raise ``ValueError`` naming what is inconsistent (Optuna's name for the check)."""
        validate_trial(self)

    def _set_attr(self, field_name: str, key: str, value: Any) -> None:
        attrs = getattr(self, field_name)
        if _SEALED in self.__dict__ or isinstance(attrs, ReadOnlyDict):
            # Refused (sealed) or done on a plain copy (a shallow copy's shared dict).
            setattr(self, field_name, {**attrs, key: value})
        else:
            attrs[key] = value

    def set_user_attr(self, key: str, value: Any) -> None:
        """Set a user attribute on this trial (not on the study it came from).

        Raises:
            AttributeError: The trial is a study's sealed snapshot: copy it first.
        """
        self._set_attr("user_attrs", key, value)

    def set_system_attr(self, key: str, value: Any) -> None:
        """Set a system attribute on this trial (not on the study it came from).

        Raises:
            AttributeError: The trial is a study's sealed snapshot: copy it first.
        """
        self._set_attr("system_attrs", key, value)

    def set_constraint(self, key: str, value: float) -> None:
        """Set the value of constraint ``key`` (feasible when <= 0), as Optuna 5 does.

        A constraint keeps its first value: setting it again warns and changes nothing.

        Raises:
            TypeError: ``value`` is not a number.
            ValueError: ``value`` is NaN.
        """
        number = _constraint_value(key, value)
        if not _constraint_is_new(self.system_attrs, key, number):
            return
        self._set_attr("system_attrs", f"{CONSTRAINTS_KEY}:{key}", number)

    def _with(self, **changes: Any) -> FrozenTrial:
        """A copy with ``changes`` applied (fields only, not validated), sealed like this one.

        Containers in ``changes`` must already be read-only (see :func:`freeze`).

        Rebuilding through ``__init__`` field by field is avoided: storages call
        this once per suggestion, where that cost showed up in the overhead profile.
        """
        clone = object.__new__(FrozenTrial)
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(changes)
        return clone


def _constraint_value(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"constraint {key!r} must be a number, got {value!r} ({type(value).__name__})"
        ) from None
    if math.isnan(number):
        raise ValueError(f"constraint {key!r} is NaN")
    return number


def _constraint_is_new(system_attrs: Mapping[str, Any], key: str, value: float) -> bool:
    """Whether constraint ``key`` is still unset; warn, when it is set, that ``value`` is ignored.

    Like a parameter, a constraint is set once (as in Optuna): a second value, perhaps
    from code that runs twice, must not silently change whether the trial is feasible.
    """
    name = f"{CONSTRAINTS_KEY}:{key}"
    if name not in system_attrs:
        return True
    warnings.warn(
        f"constraint {key!r} is already set to {system_attrs[name]!r}; {value!r} is ignored",
        UserWarning,
        stacklevel=3,
    )
    return False


def constraints_of(system_attrs: Mapping[str, Any]) -> dict[str, float]:
    """The constraints stored in a trial's system attributes, named (see ``constraints``)."""
    out: dict[str, float] = {}
    listed = system_attrs.get(CONSTRAINTS_KEY)
    if listed is not None:
        out = {str(i): c for i, c in enumerate(listed)}
    prefix = CONSTRAINTS_KEY + ":"
    for key, value in system_attrs.items():
        if key.startswith(prefix):
            out[key[len(prefix) :]] = value
    return out


def feasible_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The feasible ones of ``trials``, by the rule studies, reports and picks share.

    Once any of them has constraints stored, a trial is feasible only when it has
    constraints too and none is exceeded; where none has any, all are feasible.
    """
    if not any(trial.constraints for trial in trials):
        return list(trials)
    return [trial for trial in trials if trial.constraint_violation == 0.0]


# Distributions are immutable, and objectives ask for the same ones trial after
# trial: validating each once saves a tenth of the in-memory ask+tell cost.
_DISTRIBUTIONS: dict[tuple[Any, ...], BaseDistribution] = {}
_MAX_CACHED_DISTRIBUTIONS = 4096


def _named(name: str, factory: type[BaseDistribution], *args: Any) -> Any:
    """Build (or reuse) a distribution, naming the parameter in any validation error."""
    try:
        # Types are part of the key: 1, 1.0 and True compare equal but mean different things.
        key: tuple[Any, ...] = (factory, args, tuple(map(type, args)))
        if factory is CategoricalDistribution:
            key += (tuple(map(type, args[0])),)
        return _DISTRIBUTIONS[key]
    except KeyError:
        pass
    except TypeError:  # unhashable or odd arguments: let the constructor judge them
        key = ()
    try:
        distribution = factory(*args)
    except ValueError as exc:
        raise ValueError(f"parameter {name!r}: {exc}") from None
    # A numeric range whose high the step does not reach warned as it was built; it is
    # built again each time, so that every such suggestion warns, as Optuna's do.
    lowered = (
        factory is not CategoricalDistribution and getattr(distribution, "high", None) != args[1]
    )
    if key and not lowered and len(_DISTRIBUTIONS) < _MAX_CACHED_DISTRIBUTIONS:
        _DISTRIBUTIONS[key] = distribution
    return distribution


class BaseTrial(_Suggestions, ABC):
    """What an objective function receives: suggestions, reports, attributes."""

    @property
    @abstractmethod
    def number(self) -> int:
        """Position of the trial in its study."""

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Parameters suggested so far."""

    @abstractmethod
    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        """Return the value of ``name`` drawn from ``distribution`` (stored once)."""

    @abstractmethod
    def report(self, value: float, step: int) -> None:
        """Record an intermediate objective value at ``step`` (e.g. an epoch or fold)."""

    @abstractmethod
    def should_prune(self) -> bool:
        """Whether the study's pruner would stop this trial now."""

    @abstractmethod
    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to the trial."""


def given_value(
    name: str,
    distribution: BaseDistribution,
    values: Mapping[str, Any],
    distributions: Mapping[str, BaseDistribution],
    owner: str,
) -> Any:
    """The value ``owner`` already holds for ``name``, checked against ``distribution``.

    A value outside the distribution is returned with a warning (the user chose it);
    a distribution of another kind than the recorded one is refused.

    Raises:
        ValueError: ``owner`` has no value for ``name``, or the distributions conflict.
    """
    if name not in values:
        raise ValueError(f"parameter {name!r} has no value in {owner}; it has {sorted(values)}")
    value = values[name]
    if not distribution.contains(distribution.to_internal(value)):
        warnings.warn(
            f"the value {value!r} of parameter {name!r} in {owner} is outside {distribution!r}",
            UserWarning,
            stacklevel=4,
        )
    if name in distributions:
        check_compatible(name, distributions[name], distribution)
    return value


def _warn_deprecated_suggest(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated (as in Optuna since 3.0); use {new} instead",
        FutureWarning,
        stacklevel=3,
    )


def _checked_step(step: Any) -> int:
    """A report step as an int: ints, integral floats (``1.0``) and numpy integers pass."""
    if isinstance(step, bool):
        raise TypeError(f"report() step must be an integer, got {step!r}")
    try:
        as_int = int(step)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"report() step must be an integer, got {step!r}") from None
    if as_int != step:
        raise ValueError(f"report() step must be a whole number, got {step!r}")
    if as_int < 0:
        raise ValueError(f"report() step must be a non-negative integer, got {step!r}")
    return as_int


class Trial(BaseTrial):
    """A running trial of a study, backed by the study's storage and sampler.

    Users do not build trials: :meth:`Study.ask` and :meth:`Study.optimize` do.
    """

    def __init__(self, study: Study, frozen: FrozenTrial) -> None:
        self._study = study
        self._trial_id = frozen.trial_id
        self._number = frozen.number
        # These four dicts are replaced, never mutated, so snapshots can share them.
        self._params = dict(frozen.params)
        self._distributions = dict(frozen.distributions)
        self._fixed: dict[str, Any] = dict(frozen.system_attrs.get(FIXED_PARAMS_KEY, {}))
        self._relative_space: dict[str, BaseDistribution] = {}
        self._relative_params: dict[str, Any] = {}
        self._intermediate: dict[int, float] = dict(frozen.intermediate_values)
        self._user_attrs: dict[str, Any] = dict(frozen.user_attrs)
        self._frozen_base = frozen

    @property
    def number(self) -> int:
        return self._number

    @property
    def study(self) -> Study:
        """The study this trial belongs to."""
        return self._study

    @property
    def storage(self) -> BaseStorage:
        """The study's storage (Optuna code writes system attributes through it)."""
        return self._study._storage

    @property
    def datetime_start(self) -> dt.datetime | None:
        """When the trial started running."""
        return self._frozen_base.datetime_start

    @property
    def system_attrs(self) -> dict[str, Any]:
        """Attributes set by tunelab and by samplers (read-only here)."""
        return dict(self._frozen_base.system_attrs)

    @property
    def relative_params(self) -> dict[str, Any]:
        """Values the sampler chose jointly when the trial started."""
        return dict(self._relative_params)

    @property
    def trial_id(self) -> int:
        """Storage-wide identifier."""
        return self._trial_id

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Distributions of the parameters suggested so far."""
        return dict(self._distributions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """Attributes set with :meth:`set_user_attr`."""
        return dict(self._user_attrs)

    def _snapshot(self) -> FrozenTrial:
        """The trial as samplers and pruners see it, built without a storage read.

        The trial's dicts are replaced, never mutated, when it changes, so the
        snapshot can share them instead of copying four dicts per suggestion.
        """
        base = self._frozen_base
        return FrozenTrial._stored(
            number=self._number,
            trial_id=self._trial_id,
            state=TrialState.RUNNING,
            params=self._params,
            distributions=self._distributions,
            intermediate_values=self._intermediate,
            user_attrs=self._user_attrs,
            system_attrs=base.system_attrs,
            datetime_start=base.datetime_start,
        )

    def _finished(
        self, state: TrialState, values: list[float] | None, fail_reason: str | None
    ) -> FrozenTrial:
        """The trial as just stored by :meth:`Study.tell`, built without a storage read."""
        frozen = self._snapshot()
        system_attrs = frozen.system_attrs
        if fail_reason is not None:
            system_attrs = ReadOnlyDict({**system_attrs, FAIL_REASON_KEY: fail_reason})
        return frozen._with(
            state=state,
            values=None if values is None else ReadOnlyList(values),
            system_attrs=system_attrs,
            datetime_complete=dt.datetime.now(dt.UTC),
        )

    def _sample_relative(self) -> None:
        """Let the sampler choose the joint part of the space (called once, at ask)."""
        self._relative_space, self._relative_params = self._study._sample_relative(self._snapshot())

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        if name in self._distributions:
            check_compatible(name, self._distributions[name], distribution)
            return self._params[name]
        self._study._check_param_kind(name, distribution)
        value = self._choose(name, distribution)
        self._study._storage.set_trial_param(
            self._trial_id, name, distribution.to_internal(value), distribution
        )
        self._params = {**self._params, name: value}
        self._distributions = {**self._distributions, name: distribution}
        return value

    def _choose(self, name: str, distribution: BaseDistribution) -> Any:
        if name in self._fixed:
            value = self._fixed[name]
            # The user chose this value (enqueue_trial): use it, as Optuna does, but say
            # that the objective's own range does not hold it.
            if not distribution.contains(distribution.to_internal(value)):
                warnings.warn(
                    f"the enqueued value {value!r} of parameter {name!r} "
                    f"is outside {distribution!r}; using it anyway",
                    UserWarning,
                    stacklevel=4,
                )
            return value
        if distribution.single():
            return distribution.to_external(distribution.to_internal(_single_value(distribution)))
        if name in self._relative_params and self._relative_value_fits(name, distribution):
            return self._relative_params[name]
        return self._study._sample_independent(self._snapshot(), name, distribution)

    def _relative_value_fits(self, name: str, distribution: BaseDistribution) -> bool:
        """Whether the jointly sampled value of ``name`` answers a suggestion from ``distribution``.

        Optuna's rule: it does when ``distribution`` is of the relative space's kind and
        holds the value (its range may differ, e.g. after the objective narrowed it).

        Raises:
            ValueError: The sampler sampled ``name`` outside the relative space it
                inferred, or the objective asks for another kind of distribution.
        """
        relative = self._relative_space.get(name)
        if relative is None:
            raise ValueError(
                f"the sampler's sample_relative returned {name!r}, which its "
                "infer_relative_search_space did not include"
            )
        try:
            check_distribution_compatibility(relative, distribution)
        except ValueError as exc:
            raise ValueError(
                f"parameter {name!r}, as the sampler's relative space has it: {exc}"
            ) from None
        value = self._relative_params[name]
        return bool(distribution.contains(distribution.to_internal(value)))

    def report(self, value: float, step: int) -> None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"report() value must be a number, got {value!r}") from None
        step = _checked_step(step)
        if self._study._is_multi_objective():
            raise NotImplementedError("report() is for single-objective studies")
        if step in self._intermediate:
            warnings.warn(
                f"trial {self._number} already reported step {step}; ignoring the new value",
                stacklevel=2,
            )
            return
        self._study._storage.set_trial_intermediate_value(self._trial_id, step, value)
        self._intermediate = {**self._intermediate, step: value}

    def should_prune(self) -> bool:
        if self._study._is_multi_objective():
            raise NotImplementedError("should_prune() is for single-objective studies")
        return self._study._should_prune(self._snapshot())

    def set_user_attr(self, key: str, value: Any) -> None:
        self._study._storage.set_trial_user_attr(self._trial_id, key, value)
        self._user_attrs = {**self._user_attrs, key: value}

    @property
    def constraints(self) -> dict[str, float]:
        """Constraint name to value, as set with :meth:`set_constraint` so far."""
        return constraints_of(self._frozen_base.system_attrs)

    def set_constraint(self, key: str, value: float) -> None:
        """Record the value of constraint ``key`` (feasible when <= 0), as in Optuna 5.

        ``best_trial``, ``best_trials``, reports and the dashboard count it once the
        trial finishes. Samplers honour constraints only when given a
        ``constraints_func`` (as in Optuna); give them one that returns these values.

        A constraint keeps its first value, as in Optuna: setting it again warns and
        changes nothing.

        Raises:
            TypeError: ``value`` is not a number.
            ValueError: ``value`` is NaN.
        """
        name = f"{CONSTRAINTS_KEY}:{key}"
        number = _constraint_value(key, value)
        if not _constraint_is_new(self._frozen_base.system_attrs, key, number):
            return
        self._study._storage.set_trial_attr(self._trial_id, name, number, system=True)
        base = self._frozen_base
        attrs = ReadOnlyDict({**base.system_attrs, name: number})
        self._frozen_base = base._with(system_attrs=attrs)


class FixedTrial(BaseTrial):
    """A trial whose parameters are given, to run an objective outside any study.

    Useful to re-run the best parameters of a study, or to test an objective::

        objective(tunelab.trial.FixedTrial({"x": 1.5, "kernel": "rbf"}))

    Args:
        params: The value of every parameter the objective asks for.
        number: The trial number the objective sees.
    """

    def __init__(self, params: dict[str, Any], number: int = 0) -> None:
        self._fixed_params = dict(params)
        self._number = number
        self._suggested: dict[str, Any] = {}
        self._distributions: dict[str, BaseDistribution] = {}
        self._user_attrs: dict[str, Any] = {}
        self._system_attrs: dict[str, Any] = {}
        self._datetime_start = dt.datetime.now(dt.UTC)

    @property
    def number(self) -> int:
        return self._number

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._suggested)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Distributions of the parameters suggested so far."""
        return dict(self._distributions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """Attributes set with :meth:`set_user_attr`."""
        return dict(self._user_attrs)

    @property
    def system_attrs(self) -> dict[str, Any]:
        """System attributes (the constraints set on this trial; no study keeps any)."""
        return dict(self._system_attrs)

    @property
    def datetime_start(self) -> dt.datetime | None:
        """When the trial was made."""
        return self._datetime_start

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        value = given_value(
            name, distribution, self._fixed_params, self._distributions, "this FixedTrial"
        )
        self._suggested[name] = value
        self._distributions[name] = distribution
        return value

    def report(self, value: float, step: int) -> None:
        """Do nothing: a fixed trial has no study to report to."""

    def should_prune(self) -> bool:
        """Never prune: a fixed trial has no pruner."""
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        self._user_attrs[key] = value

    @property
    def constraints(self) -> dict[str, float]:
        """Constraint name to value, as set with :meth:`set_constraint`."""
        return constraints_of(self._system_attrs)

    def set_constraint(self, key: str, value: float) -> None:
        """Record the value of constraint ``key`` (feasible when <= 0), as a trial does.

        A constraint keeps its first value: setting it again warns and changes nothing.

        Raises:
            TypeError: ``value`` is not a number.
            ValueError: ``value`` is NaN.
        """
        number = _constraint_value(key, value)
        if _constraint_is_new(self._system_attrs, key, number):
            self._system_attrs[f"{CONSTRAINTS_KEY}:{key}"] = number


def create_trial(
    *,
    state: TrialState = TrialState.COMPLETE,
    value: float | None = None,
    values: Sequence[float] | None = None,
    params: dict[str, Any] | None = None,
    distributions: dict[str, BaseDistribution] | None = None,
    user_attrs: dict[str, Any] | None = None,
    system_attrs: dict[str, Any] | None = None,
    intermediate_values: dict[int, float] | None = None,
    constraints: dict[str, float] | None = None,
) -> FrozenTrial:
    """Build a finished (or waiting) trial to add to a study with :meth:`Study.add_trial`.

    Use it to seed a study with results obtained elsewhere. The trial is
    validated here, so a bad one never reaches a storage.

    Args:
        state: The trial's state (COMPLETE by default).
        value: The objective value of a single-objective trial.
        values: One value per objective (instead of ``value``).
        params: Parameter name to value, as an objective would have received it.
        distributions: Parameter name to the distribution the value is in.
        user_attrs: User attributes.
        system_attrs: System attributes (rarely needed).
        intermediate_values: Step to intermediate value.
        constraints: Constraint name to value (feasible when all are <= 0);
            stored as Optuna 5 stores them, one ``"constraints:<name>"`` system
            attribute each, and read back with :attr:`FrozenTrial.constraints`.

    Raises:
        TypeError: A constraint value is not a number.
        ValueError: The trial is inconsistent: both ``value`` and ``values``,
            a COMPLETE trial without values, a FAIL trial with values, a NaN
            value, params and distributions with other names, or a parameter
            value outside its distribution.
    """
    if value is not None and values is not None:
        raise ValueError("give value or values, not both")
    trial_values = [value] if value is not None else (list(values) if values is not None else None)
    system = dict(system_attrs or {})
    for key, bound in (constraints or {}).items():
        system[f"{CONSTRAINTS_KEY}:{key}"] = _constraint_value(key, bound)
    current = {}
    for name, distribution in (distributions or {}).items():
        current[name] = _converted(name, distribution)
    start = None if state == TrialState.WAITING else dt.datetime.now(dt.UTC)
    trial = FrozenTrial(
        number=-1,
        trial_id=-1,
        state=state,
        values=trial_values,
        params=dict(params or {}),
        distributions=current,
        intermediate_values=dict(intermediate_values or {}),
        user_attrs=dict(user_attrs or {}),
        system_attrs=system,
        datetime_start=start,
        datetime_complete=start if state.is_finished() else None,
    )
    validate_trial(trial)
    return trial


def _converted(name: str, distribution: BaseDistribution) -> BaseDistribution:
    """``distribution`` as a current class, warning when it was a deprecated one."""
    current = current_distribution(distribution)
    if current is not distribution:
        warnings.warn(
            f"parameter {name!r}: {type(distribution).__name__} is deprecated and stored as "
            f"{current!r}, as Optuna 3 does. See https://github.com/optuna/optuna/issues/2941",
            FutureWarning,
            stacklevel=3,
        )
    return current


def validate_trial(trial: FrozenTrial) -> None:
    """Raise ``ValueError`` naming what is inconsistent in a trial built by hand.

    Used by :func:`create_trial` and :meth:`Study.add_trial` (which also
    accepts trials taken from another study).
    """
    if trial.state != TrialState.WAITING and trial.datetime_start is None:
        raise ValueError(f"a {trial.state.name} trial needs datetime_start")
    if trial.state.is_finished() and trial.datetime_complete is None:
        raise ValueError(f"a {trial.state.name} trial needs datetime_complete")
    if not trial.state.is_finished() and trial.datetime_complete is not None:
        raise ValueError(f"a {trial.state.name} trial cannot have datetime_complete")
    if trial.state == TrialState.FAIL and trial.values is not None:
        raise ValueError(f"a FAIL trial takes no values, got {trial.values}")
    if trial.state == TrialState.COMPLETE:
        if trial.values is None:
            raise ValueError("a COMPLETE trial needs value or values")
        if any(math.isnan(float(v)) for v in trial.values):
            raise ValueError(f"values must not be NaN, got {trial.values}")
    if set(trial.params) != set(trial.distributions):
        raise ValueError(
            f"params {sorted(trial.params)} and distributions {sorted(trial.distributions)} "
            "must name the same parameters"
        )
    for name, param in trial.params.items():
        distribution = trial.distributions[name]
        if not distribution.contains(distribution.to_internal(param)):
            raise ValueError(
                f"the value {param!r} of parameter {name!r} is outside {distribution!r}"
            )


def _single_value(distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    assert isinstance(distribution, FloatDistribution | IntDistribution)
    return distribution.low


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a real number that is neither NaN nor infinite."""
    try:
        return math.isfinite(float(value)) and not isinstance(value, bool | str)
    except (TypeError, ValueError, OverflowError):
        return False


_CURRENT: contextvars.ContextVar[BaseTrial | None] = contextvars.ContextVar(
    "tunelab_current_trial", default=None
)


def current_trial() -> BaseTrial | None:
    """The trial whose objective is running in this context, if any.

    Lets helpers such as :func:`tunelab.evaluate` report intermediate values
    without the objective passing the trial along.
    """
    return _CURRENT.get()


@contextlib.contextmanager
def running(trial: BaseTrial) -> Iterator[None]:
    """Mark ``trial`` as the current trial while its objective runs."""
    token = _CURRENT.set(trial)
    try:
        yield
    finally:
        _CURRENT.reset(token)
