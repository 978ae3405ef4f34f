"""Replaying the records of a journal written by Optuna's ``JournalStorage``.

Optuna's records name an operation by number (``op_code``) and refer to studies
and trials by ids that Optuna counts itself: every created study and every
created trial takes the next id, deleted ones included. A replica numbers its
own, so the reader keeps the mapping. An operation Optuna's own replay would
reject (a duplicate study name, a change to a finished trial, a claim of a trial
another worker already runs) is skipped, as Optuna skips it: it failed for the
process that wrote it.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from typing import Any

from tunelab.exceptions import DuplicatedStudyError, StudyNotFoundError
from tunelab.space import json_to_distribution
from tunelab.storage._in_memory import InMemoryStorage
from tunelab.trial import StudyDirection, TrialState

_logger = logging.getLogger(__name__)


class _OpCode(enum.IntEnum):
    """Optuna's journal operations (``optuna.storages.journal.JournalOperation``)."""

    CREATE_STUDY = 0
    DELETE_STUDY = 1
    SET_STUDY_USER_ATTR = 2
    SET_STUDY_SYSTEM_ATTR = 3
    CREATE_TRIAL = 4
    SET_TRIAL_PARAM = 5
    SET_TRIAL_STATE_VALUES = 6
    SET_TRIAL_INTERMEDIATE_VALUE = 7
    SET_TRIAL_USER_ATTR = 8
    SET_TRIAL_SYSTEM_ATTR = 9
    DISCARD_TRIALS = 10


def is_optuna_record(record: dict[str, Any]) -> bool:
    """Whether ``record`` was written by Optuna (tunelab's records have no ``op_code``)."""
    return "op_code" in record


def _time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    stamp = dt.datetime.fromisoformat(text)
    # Older Optuna versions wrote naive local times, and Optuna reads a naive time as
    # local time: so does this (taking it as UTC would shift it by the offset).
    return stamp if stamp.tzinfo is not None else stamp.astimezone(dt.UTC)


class OptunaRecordReader:
    """Applies Optuna's records to a replica, translating Optuna's ids to the replica's.

    Args:
        replica: The storage the records are applied to; its ``stamp``
            attribute, when it has one, is set to the times the records carry.
    """

    def __init__(self, replica: InMemoryStorage) -> None:
        self._replica = replica
        self._study_ids: list[int] = []  # Optuna's study id -> the replica's
        self._trial_ids: list[int] = []  # Optuna's trial id -> the replica's

    def apply(self, record: dict[str, Any]) -> None:
        """Apply one record, or skip it (with a debug log) when Optuna would reject it."""
        try:
            self._apply(_OpCode(record["op_code"]), record)
        except (DuplicatedStudyError, StudyNotFoundError, KeyError, IndexError, ValueError) as exc:
            _logger.debug("Optuna journal record skipped, as Optuna skips it: %s", exc)

    def _stamp(self, when: dt.datetime | None) -> None:
        if when is not None and hasattr(self._replica, "stamp"):
            self._replica.stamp = when

    def _study(self, record: dict[str, Any]) -> int:
        return self._study_ids[record["study_id"]]

    def _trial(self, record: dict[str, Any]) -> int:
        trial_id = self._trial_ids[record["trial_id"]]
        if self._replica.get_trial(trial_id).state.is_finished():
            raise ValueError(f"trial {record['trial_id']} is finished")
        return trial_id

    def _apply(self, op: _OpCode, record: dict[str, Any]) -> None:
        replica = self._replica
        if op == _OpCode.CREATE_STUDY:
            directions = [StudyDirection(d) for d in record["directions"]]
            self._study_ids.append(replica.create_new_study(directions, record["study_name"]))
        elif op == _OpCode.DELETE_STUDY:
            replica.delete_study(self._study(record))
        elif op in (_OpCode.SET_STUDY_USER_ATTR, _OpCode.SET_STUDY_SYSTEM_ATTR):
            system = op == _OpCode.SET_STUDY_SYSTEM_ATTR
            study_id = self._study(record)
            for key, value in record["system_attr" if system else "user_attr"].items():
                replica.set_study_attr(study_id, key, value, system=system)
        elif op == _OpCode.CREATE_TRIAL:
            self._create_trial(record)
        elif op == _OpCode.SET_TRIAL_PARAM:
            distribution = json_to_distribution(record["distribution"])
            replica.set_trial_param(
                self._trial(record),
                record["param_name"],
                record["param_value_internal"],
                distribution,
            )
        elif op == _OpCode.SET_TRIAL_STATE_VALUES:
            self._set_state(record)
        elif op == _OpCode.SET_TRIAL_INTERMEDIATE_VALUE:
            replica.set_trial_intermediate_value(
                self._trial(record), int(record["step"]), record["intermediate_value"]
            )
        elif op in (_OpCode.SET_TRIAL_USER_ATTR, _OpCode.SET_TRIAL_SYSTEM_ATTR):
            system = op == _OpCode.SET_TRIAL_SYSTEM_ATTR
            trial_id = self._trial(record)
            for key, value in record["system_attr" if system else "user_attr"].items():
                replica.set_trial_attr(trial_id, key, value, system=system)
        # DISCARD_TRIALS is written only by Rust ports of Optuna; Optuna ignores it too.

    def _create_trial(self, record: dict[str, Any]) -> None:
        replica = self._replica
        study_id = self._study(record)
        state = TrialState(record.get("state", TrialState.RUNNING))
        start = _time(record.get("datetime_start"))
        self._stamp(start)
        # A trial added whole (add_trial) is built RUNNING, filled, then finished.
        created = replica.create_new_trial(
            study_id,
            state=TrialState.WAITING if state == TrialState.WAITING else TrialState.RUNNING,
            system_attrs=record.get("system_attrs") or None,
            user_attrs=record.get("user_attrs") or None,
        )
        self._trial_ids.append(created.trial_id)
        distributions = {
            name: json_to_distribution(text)
            for name, text in record.get("distributions", {}).items()
        }
        for name, internal in record.get("params", {}).items():
            replica.set_trial_param(created.trial_id, name, internal, distributions[name])
        for step, value in record.get("intermediate_values", {}).items():
            replica.set_trial_intermediate_value(created.trial_id, int(step), value)
        if state.is_finished():
            values = record.get("values")
            if values is None and record.get("value") is not None:
                values = [record["value"]]
            self._stamp(_time(record.get("datetime_complete")))
            replica.set_trial_state_values(created.trial_id, state, values)

    def _set_state(self, record: dict[str, Any]) -> None:
        trial_id = self._trial(record)
        state = TrialState(record["state"])
        if state == TrialState.RUNNING:
            if self._replica.get_trial(trial_id).state != TrialState.WAITING:
                return  # another worker claimed it first: Optuna rejects this claim
            self._stamp(_time(record.get("datetime_start")))
        elif state.is_finished():
            self._stamp(_time(record.get("datetime_complete")))
        self._replica.set_trial_state_values(trial_id, state, record.get("values"))
