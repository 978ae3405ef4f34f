"""A storage kept in this process's memory: the default, fastest, not durable."""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import threading
from collections.abc import Container, Sequence
from typing import Any

from tunelab.exceptions import DuplicatedStudyError, StudyNotFoundError
from tunelab.space import BaseDistribution
from tunelab.storage._base import (
    BaseStorage,
    StudySummary,
    TrialLimitReached,
    check_new_trial_attrs,
    check_param_name,
    check_values,
    ensure_not_finished,
    fail_reason_attrs,
    json_roundtrip,
    limit_reason,
    now,
    retry_attrs,
    stale_reason,
)
from tunelab.trial import FrozenTrial, ReadOnlyDict, StudyDirection, TrialState, freeze

_FINISHED = tuple(state for state in TrialState if state.is_finished())


@dataclasses.dataclass
class _Study:
    name: str
    directions: list[StudyDirection]
    user_attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    system_attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    trials: list[FrozenTrial] = dataclasses.field(default_factory=list)
    # Numbers of queued trials, oldest first, so asking never scans the history.
    waiting: collections.deque[int] = dataclasses.field(default_factory=collections.deque)
    # Numbers of the unfinished trials, so reading them never scans the history either.
    open: set[int] = dataclasses.field(default_factory=set)


class InMemoryStorage(BaseStorage):
    """Studies held in a dict; lost when the process exits.

    Trials are immutable and replaced on update, so readers share the snapshots
    without copying.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[int, _Study] = {}
        self._names: dict[str, int] = {}
        self._trial_loc: dict[int, tuple[int, int]] = {}  # trial id -> (study id, number)
        self._heartbeats: dict[int, float] = {}
        self._next_study_id = 0

    def __getstate__(self) -> dict[str, Any]:
        # Pickling an in-memory study (joblib.dump(study, ...)) saves it, as in Optuna.
        with self._lock:
            state = copy.copy(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def _now(self) -> dt.datetime:
        """The time stamped on a change (a journal's replica stamps the time it recorded)."""
        return now()

    def _study(self, study_id: int) -> _Study:
        try:
            return self._studies[study_id]
        except KeyError:
            raise StudyNotFoundError(f"no study with id {study_id}") from None

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str) -> int:
        with self._lock:
            if study_name in self._names:
                raise DuplicatedStudyError(f"a study named {study_name!r} already exists")
            study_id = self._next_study_id
            self._next_study_id += 1
            self._studies[study_id] = _Study(study_name, list(directions))
            self._names[study_name] = study_id
            return study_id

    def delete_study(self, study_id: int) -> None:
        with self._lock:
            study = self._study(study_id)
            for trial in study.trials:
                self._trial_loc.pop(trial.trial_id, None)
                self._heartbeats.pop(trial.trial_id, None)
            del self._names[study.name]
            del self._studies[study_id]

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._lock:
            try:
                return self._names[study_name]
            except KeyError:
                raise StudyNotFoundError(f"no study named {study_name!r}") from None

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._lock:
            return self._study(study_id).name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        with self._lock:
            return list(self._study(study_id).directions)

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        with self._lock:
            study = self._study(study_id)
            (study.system_attrs if system else study.user_attrs)[key] = json_roundtrip(value)

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        with self._lock:
            study = self._study(study_id)
            return copy.deepcopy(study.system_attrs if system else study.user_attrs)

    def get_all_studies(self) -> list[StudySummary]:
        with self._lock:
            return [
                StudySummary(
                    study_name=s.name,
                    study_id=sid,
                    directions=list(s.directions),
                    n_trials=len(s.trials),
                    best_values=self.get_best_values(sid),
                    datetime_start=s.trials[0].datetime_start if s.trials else None,
                    user_attrs=copy.deepcopy(s.user_attrs),
                )
                for sid, s in self._studies.items()
            ]

    def create_new_trial(
        self,
        study_id: int,
        *,
        state: TrialState = TrialState.RUNNING,
        system_attrs: dict[str, Any] | None = None,
        user_attrs: dict[str, Any] | None = None,
        template_trial: FrozenTrial | None = None,
    ) -> FrozenTrial:
        if template_trial is not None:
            return self._create_from_template(study_id, template_trial)
        system_attrs = check_new_trial_attrs(system_attrs)
        limit = self._trial_limit(study_id, state)
        with self._lock:
            study = self._study(study_id)
            if limit is not None:
                held = sum(t.state != TrialState.FAIL for t in study.trials)
                if held >= limit:
                    raise TrialLimitReached(limit_reason(held, limit))
            trial_id = len(self._trial_loc)
            while trial_id in self._trial_loc:
                trial_id += 1
            trial = FrozenTrial._stored(
                number=len(study.trials),
                trial_id=trial_id,
                state=state,
                user_attrs=_stored_attrs(user_attrs),
                system_attrs=_stored_attrs(system_attrs),
                datetime_start=self._now() if state == TrialState.RUNNING else None,
            )
            study.trials.append(trial)
            if not state.is_finished():
                study.open.add(trial.number)
            if state == TrialState.WAITING:
                study.waiting.append(trial.number)
            self._trial_loc[trial_id] = (study_id, trial.number)
            if state == TrialState.RUNNING:
                self._heartbeats[trial_id] = self._now().timestamp()
            return trial

    def claim_waiting_trial(self, study_id: int) -> FrozenTrial | None:
        with self._lock:
            study = self._study(study_id)
            while study.waiting:
                trial = study.trials[study.waiting.popleft()]
                if trial.state == TrialState.WAITING:
                    self.set_trial_state_values(trial.trial_id, TrialState.RUNNING)
                    return self._get(trial.trial_id)
            return None

    def _get(self, trial_id: int) -> FrozenTrial:
        try:
            study_id, number = self._trial_loc[trial_id]
        except KeyError:
            raise KeyError(f"no trial with id {trial_id}") from None
        return self._studies[study_id].trials[number]

    def _replace(self, trial_id: int, **changes: Any) -> None:
        study_id, number = self._trial_loc[trial_id]
        trials = self._studies[study_id].trials
        trials[number] = trials[number]._with(**changes)

    def set_trial_param(
        self, trial_id: int, name: str, internal_value: float, distribution: BaseDistribution
    ) -> None:
        check_param_name(name)
        with self._lock:
            trial = self._get(trial_id)
            ensure_not_finished(trial)
            value = distribution.to_external(internal_value)
            self._replace(
                trial_id,
                params=ReadOnlyDict({**trial.params, name: value}),
                distributions=ReadOnlyDict({**trial.distributions, name: distribution}),
            )

    def set_trial_state_values(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        *,
        fail_reason: str | None = None,
    ) -> None:
        checked = check_values(values, state)
        with self._lock:
            trial = self._get(trial_id)
            ensure_not_finished(trial)
            changes: dict[str, Any] = {"state": state, "values": freeze(checked)}
            stamp = self._now()
            if state == TrialState.RUNNING:
                changes["datetime_start"] = stamp
                self._heartbeats[trial_id] = stamp.timestamp()
            if state.is_finished():
                changes["datetime_complete"] = stamp
                self._heartbeats.pop(trial_id, None)
                self._studies[self._trial_loc[trial_id][0]].open.discard(trial.number)
            if fail_reason is not None:
                changes["system_attrs"] = ReadOnlyDict(
                    {**trial.system_attrs, **fail_reason_attrs(fail_reason)}
                )
            self._replace(trial_id, **changes)

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        with self._lock:
            trial = self._get(trial_id)
            ensure_not_finished(trial)
            self._replace(
                trial_id,
                intermediate_values=ReadOnlyDict({**trial.intermediate_values, step: float(value)}),
            )

    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        with self._lock:
            trial = self._get(trial_id)
            ensure_not_finished(trial)
            field = "system_attrs" if system else "user_attrs"
            stored = freeze(json_roundtrip(value))
            self._replace(trial_id, **{field: ReadOnlyDict({**getattr(trial, field), key: stored})})

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            return self._get(trial_id)

    def get_trial_id_from_number(self, study_id: int, number: int) -> int:
        with self._lock:
            trials = self._study(study_id).trials
            if not 0 <= number < len(trials):
                raise KeyError(f"study {study_id} has no trial number {number}")
            return trials[number].trial_id

    def get_all_trials(
        self, study_id: int, *, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        with self._lock:
            study = self._study(study_id)
            trials = study.trials
            if states is None:
                return list(trials)
            if not any(state in states for state in _FINISHED):
                return [trials[n] for n in sorted(study.open) if trials[n].state in states]
            return [t for t in trials if t.state in states]

    def record_heartbeat(self, trial_ids: Sequence[int]) -> None:
        stamp = self._now().timestamp()
        with self._lock:
            for trial_id in trial_ids:
                if trial_id in self._heartbeats:
                    self._heartbeats[trial_id] = stamp

    def fail_stale_trials(
        self, study_id: int, grace_seconds: float, *, retries: int = 0
    ) -> list[FrozenTrial]:
        deadline = self._now().timestamp() - grace_seconds
        failed = []
        with self._lock:
            for trial in list(self._study(study_id).trials):
                beat = self._heartbeats.get(trial.trial_id)
                if trial.state == TrialState.RUNNING and beat is not None and beat < deadline:
                    self.set_trial_state_values(
                        trial.trial_id, TrialState.FAIL, fail_reason=stale_reason(grace_seconds)
                    )
                    failed.append(self._get(trial.trial_id))
                    retry = retry_attrs(failed[-1], retries)
                    if retry is not None:
                        self.create_new_trial(
                            study_id,
                            state=TrialState.WAITING,
                            system_attrs=retry[0],
                            user_attrs=retry[1],
                        )
        return failed


def _stored_attrs(attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Attributes as a durable storage would read them back (through JSON), frozen."""
    return freeze(json_roundtrip(attrs)) if attrs else None
