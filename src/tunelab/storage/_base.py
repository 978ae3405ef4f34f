"""The storage contract: durable bookkeeping of studies and trials.

A storage knows nothing of samplers or pruners. Every call that changes a
trial's state is a single atomic write, so a crash loses at most the trials
that were running.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from tunelab.exceptions import StorageError, UpdateFinishedTrialError
from tunelab.space import BaseDistribution, current_distribution
from tunelab.trial import (
    FAIL_REASON_KEY,
    FIXED_PARAMS_KEY,
    RETRY_HISTORY_KEY,
    RETRY_OF_KEY,
    FrozenTrial,
    StudyDirection,
    TrialState,
    thaw,
)

# How many times the trial's configuration failed before it: 0 for a first try.
RETRY_ATTEMPT_KEY = "retry_attempt"


@dataclass(frozen=True)
class StudySummary:
    """What :func:`tunelab.get_all_study_summaries` tells about one study.

    Attributes:
        best_trial: The best feasible completed trial of a single-objective study
            when :func:`~tunelab.get_all_study_summaries` was asked to include it
            (as in Optuna); None otherwise.
    """

    study_name: str
    study_id: int
    directions: list[StudyDirection]
    n_trials: int
    best_values: list[float] | None
    datetime_start: dt.datetime | None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    best_trial: FrozenTrial | None = None

    @property
    def direction(self) -> StudyDirection:
        """The direction of a single-objective study.

        Raises:
            RuntimeError: The study has several objectives.
        """
        if len(self.directions) != 1:
            raise RuntimeError("this study has several objectives; use directions")
        return self.directions[0]

    @property
    def _study_id(self) -> int:
        # Optuna's summaries keep the id under this name; code written for them reads it.
        return self.study_id

    # Summaries sort by study id (creation order), as Optuna's do.
    def __lt__(self, other: object) -> bool:
        if not isinstance(other, StudySummary):
            return NotImplemented
        return self.study_id < other.study_id

    def __le__(self, other: object) -> bool:
        if not isinstance(other, StudySummary):
            return NotImplemented
        return self.study_id <= other.study_id


class TrialLimitReached(StorageError):
    """A new trial would take a study past the trial limit set on this storage object."""


class BaseStorage(ABC):
    """Persistence of studies and trials.

    Implementations must be safe to call from several threads; SQL ones also
    from several processes and machines sharing one database.

    Attributes:
        study_defaults: Study settings (``heartbeat_interval``, ``grace_period``,
            ``retry_failed``) that :func:`~tunelab.create_study` takes from the storage
            where its own arguments are left at their defaults; Optuna code sets them
            on its ``RDBStorage``.
    """

    study_defaults: Mapping[str, Any] = MappingProxyType({})

    def limit_trials(self, study_id: int, limit: int | None) -> None:
        """Create new RUNNING trials of a study only while fewer than ``limit`` did not fail.

        The test and the insert are one transaction, so workers in any number of
        processes that share a database and set the same limit never hold more
        than ``limit`` trials that are running, queued or finished without failure
        between them: a failed trial frees its place. Queued (WAITING) trials are
        created and claimed as before. The limit belongs to this storage object
        only; nothing is stored.

        Args:
            study_id: The study.
            limit: The most trials that did not fail; None removes the limit.

        Raises:
            ValueError: ``limit`` is below 0.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        limits = self.__dict__.setdefault("_trial_limits", {})
        if limit is None:
            limits.pop(study_id, None)
        else:
            limits[study_id] = limit

    def _trial_limit(self, study_id: int, state: TrialState) -> int | None:
        """The limit that applies to creating a trial of ``state``, if any."""
        if state != TrialState.RUNNING:
            return None
        limit: int | None = self.__dict__.get("_trial_limits", {}).get(study_id)
        return limit

    # -- studies --
    @abstractmethod
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str) -> int:
        """Create a study and return its id.

        Raises:
            DuplicatedStudyError: A study of that name exists.
        """

    @abstractmethod
    def delete_study(self, study_id: int) -> None:
        """Delete a study and all its trials."""

    @abstractmethod
    def get_study_id_from_name(self, study_name: str) -> int:
        """The id of the named study.

        Raises:
            StudyNotFoundError: No such study.
        """

    @abstractmethod
    def get_study_name_from_id(self, study_id: int) -> str:
        """The name of a study."""

    @abstractmethod
    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        """The optimisation direction of each objective."""

    @abstractmethod
    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        """Set a JSON-serialisable user (or tunelab-internal) attribute of a study."""

    @abstractmethod
    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        """All user (or system) attributes of a study."""

    @abstractmethod
    def get_all_studies(self) -> list[StudySummary]:
        """A summary of every study in the storage."""

    # -- trials --
    @abstractmethod
    def create_new_trial(
        self,
        study_id: int,
        *,
        state: TrialState = TrialState.RUNNING,
        system_attrs: dict[str, Any] | None = None,
        user_attrs: dict[str, Any] | None = None,
        template_trial: FrozenTrial | None = None,
    ) -> FrozenTrial:
        """Append a RUNNING (or WAITING, for queued work) trial with the next number.

        Args:
            study_id: The study.
            state: RUNNING, or WAITING for a queued trial.
            system_attrs: The new trial's system attributes.
            user_attrs: The new trial's user attributes.
            template_trial: A trial to copy instead (Optuna's argument): its state,
                values, parameters, intermediate values and attributes, with the
                copy's own number, id and times; the other arguments are ignored.
                Implementations hand it to :meth:`_create_from_template`.

        Raises:
            TrialLimitReached: A RUNNING trial would pass the study's
                :meth:`limit_trials`; nothing is stored.
        """

    def _create_from_template(self, study_id: int, template: FrozenTrial) -> FrozenTrial:
        """Store a copy of ``template`` as a new trial of the study, and return it.

        The contract has no single write for a whole trial: the copy is built as
        a running (or queued) trial and finished last, so samplers never see it
        finished with parts missing; if a write fails it is marked FAIL.
        """
        waiting = template.state == TrialState.WAITING
        created = self.create_new_trial(
            study_id,
            state=TrialState.WAITING if waiting else TrialState.RUNNING,
            system_attrs=dict(template.system_attrs),
            user_attrs=dict(template.user_attrs),
        )
        trial_id = created.trial_id
        try:
            for name, value in template.params.items():
                dist = current_distribution(template.distributions[name])
                self.set_trial_param(trial_id, name, dist.to_internal(value), dist)
            for step, value in sorted(template.intermediate_values.items()):
                self.set_trial_intermediate_value(trial_id, step, float(value))
            if template.state.is_finished():
                values = None if template.values is None else [float(v) for v in template.values]
                self.set_trial_state_values(
                    trial_id, template.state, values, fail_reason=template.fail_reason
                )
        except BaseException as exc:
            self.set_trial_state_values(
                trial_id,
                TrialState.FAIL,
                fail_reason=f"adding the trial failed: {type(exc).__name__}: {exc}",
            )
            raise
        return self.get_trial(trial_id)

    @abstractmethod
    def claim_waiting_trial(self, study_id: int) -> FrozenTrial | None:
        """Atomically move the oldest WAITING trial to RUNNING and return it.

        Two workers never claim the same trial.
        """

    @abstractmethod
    def set_trial_param(
        self, trial_id: int, name: str, internal_value: float, distribution: BaseDistribution
    ) -> None:
        """Store one parameter of a running trial."""

    @abstractmethod
    def set_trial_state_values(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        *,
        fail_reason: str | None = None,
    ) -> None:
        """Finish a running trial (or start a waiting one) in one atomic write.

        Raises:
            UpdateFinishedTrialError: The trial had already finished.
        """

    @abstractmethod
    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        """Store an intermediate value of a running trial."""

    @abstractmethod
    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        """Set a JSON-serialisable attribute of a trial."""

    @abstractmethod
    def get_trial(self, trial_id: int) -> FrozenTrial:
        """One trial by id."""

    @abstractmethod
    def get_trial_id_from_number(self, study_id: int, number: int) -> int:
        """The id of trial ``number`` of a study."""

    @abstractmethod
    def get_all_trials(
        self, study_id: int, *, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """Trials of a study ordered by number, optionally only those in ``states``.

        The returned objects are shared snapshots: do not modify them.
        """

    # -- heartbeats --
    @abstractmethod
    def record_heartbeat(self, trial_ids: Sequence[int]) -> None:
        """Note that the workers of these running trials are alive now."""

    @abstractmethod
    def fail_stale_trials(
        self, study_id: int, grace_seconds: float, *, retries: int = 0
    ) -> list[FrozenTrial]:
        """Mark FAIL every RUNNING trial whose last heartbeat is older than the grace period.

        A failed trial retried fewer than ``retries`` times before is queued
        again (:func:`retry_attrs`) in the transaction that fails it: no crash
        between the two loses the retry, and no :meth:`limit_trials` check
        sees the place the failure frees before the retry takes it.

        Returns the trials this call failed (another worker's call never returns the same).
        """

    def close(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Release connections and files."""

    # -- conveniences built on the contract --
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Set a user attribute of a trial."""
        self.set_trial_attr(trial_id, key, value)

    # Optuna's storage method names, which plug-ins and scripts call on a storage directly.
    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Set a system attribute of a trial."""
        self.set_trial_attr(trial_id, key, value, system=True)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        """Set a user attribute of a study."""
        self.set_study_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        """Set a system attribute of a study."""
        self.set_study_attr(study_id, key, value, system=True)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        """A study's user attributes."""
        return self.get_study_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        """A study's system attributes."""
        return self.get_study_attrs(study_id, system=True)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        """The id of trial number ``trial_number`` of a study (Optuna's name)."""
        return self.get_trial_id_from_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        """The number of a trial in its study."""
        return self.get_trial(trial_id).number

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        """A trial's parameters."""
        return dict(self.get_trial(trial_id).params)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        """A trial's user attributes."""
        return thaw(self.get_trial(trial_id).user_attrs)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        """A trial's system attributes."""
        return thaw(self.get_trial(trial_id).system_attrs)

    def get_n_trials(self, study_id: int, states: Container[TrialState] | None = None) -> int:
        """How many trials (in ``states``) the study has."""
        return len(self.get_all_trials(study_id, states=states))

    def get_best_values(self, study_id: int) -> list[float] | None:
        """Best value of a single-objective study, None for none or several objectives."""
        directions = self.get_study_directions(study_id)
        if len(directions) != 1:
            return None
        done = self.get_all_trials(study_id, states=(TrialState.COMPLETE,))
        if not done:
            return None
        pick = max if directions[0] == StudyDirection.MAXIMIZE else min
        return [pick(t.values[0] for t in done if t.values)]


def check_values(values: Sequence[float] | None, state: TrialState) -> list[float] | None:
    """Validate the values a finished trial is stored with."""
    if state == TrialState.COMPLETE and values is None:
        raise ValueError("a COMPLETE trial needs values")
    if values is None:
        return None
    out = [float(v) for v in values]
    if any(math.isnan(v) for v in out):
        raise ValueError(f"values must not be NaN, got {out}")
    return out


def check_param_name(name: Any) -> None:
    """Refuse a parameter name that is not a string (every storage applies this rule)."""
    if not isinstance(name, str):
        raise TypeError(f"parameter names must be strings, got {name!r} ({type(name).__name__})")


def check_new_trial_attrs(system_attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate the system attributes of a new trial before anything is stored.

    Parameters queued for the trial (``enqueue_trial``, retries) need string
    names and values a parameter can take (None, bool, int, float or str;
    NumPy scalars become their Python value), so that every storage accepts
    the same ones and the trial can later use them.

    Returns:
        The attributes, with the queued parameters normalised.
    """
    if not system_attrs or FIXED_PARAMS_KEY not in system_attrs:
        return system_attrs
    fixed = system_attrs[FIXED_PARAMS_KEY]
    if not isinstance(fixed, Mapping):
        raise TypeError(f"queued parameters must be a mapping of name to value, got {fixed!r}")
    checked: dict[str, Any] = {}
    for name, value in fixed.items():
        check_param_name(name)
        if isinstance(value, np.generic):
            value = value.item()
        if value is not None and not isinstance(value, bool | int | float | str):
            raise TypeError(
                f"queued value of parameter {name!r} must be None, a bool, int, float or str, "
                f"got {value!r} ({type(value).__name__})"
            )
        checked[name] = value
    return {**system_attrs, FIXED_PARAMS_KEY: checked}


def retry_attrs(trial: FrozenTrial, retries: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """System and user attributes of the queued retry of failed ``trial``.

    None when the trial has already been retried ``retries`` times. The retry
    gets the trial's parameters fixed and its user attributes.
    """
    attempt = int(trial.system_attrs.get(RETRY_ATTEMPT_KEY, 0))
    if attempt >= retries:
        return None
    system = {
        FIXED_PARAMS_KEY: dict(trial.params),
        RETRY_OF_KEY: trial.number,
        RETRY_HISTORY_KEY: [*trial.system_attrs.get(RETRY_HISTORY_KEY, ()), trial.number],
        RETRY_ATTEMPT_KEY: attempt + 1,
    }
    return system, dict(trial.user_attrs)


def ensure_not_finished(trial: FrozenTrial) -> None:
    """Raise if a write targets a finished trial."""
    if trial.state.is_finished():
        raise UpdateFinishedTrialError(
            f"trial {trial.number} (id {trial.trial_id}) already finished as {trial.state.name}"
        )


def fail_reason_attrs(fail_reason: str | None) -> dict[str, Any]:
    """The system attributes recording why a trial failed."""
    return {} if fail_reason is None else {FAIL_REASON_KEY: fail_reason}


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def limit_reason(held: int, limit: int) -> str:
    """Why :class:`TrialLimitReached` was raised."""
    return f"the study holds {held} trials that did not fail; the limit is {limit}"


def stale_reason(grace_seconds: float) -> str:
    """The fail reason of a trial whose worker stopped sending heartbeats."""
    return f"no heartbeat for {grace_seconds:g} s: its worker stopped"


def dumps_json(value: Any) -> str:
    """Serialise an attribute value, saying clearly when it cannot be stored."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"attribute values must be JSON-serialisable: {exc}") from None


def json_roundtrip(value: Any) -> Any:
    """The value as it reads back from a durable storage (tuples become lists...)."""
    return json.loads(dumps_json(value))
