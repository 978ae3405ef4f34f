"""The storage contract: every storage (memory, SQLite, real PostgreSQL) passes these."""

from __future__ import annotations

import math
import time

import pytest

from tunelab.exceptions import (
    DuplicatedStudyError,
    StudyNotFoundError,
    UpdateFinishedTrialError,
)
from tunelab.space import CategoricalDistribution, FloatDistribution, IntDistribution
from tunelab.storage import BaseStorage
from tunelab.trial import StudyDirection, TrialState

MIN = [StudyDirection.MINIMIZE]


def test_create_and_find_study(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    other = storage.create_new_study([StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE], "b")
    assert sid != other
    assert storage.get_study_id_from_name("a") == sid
    assert storage.get_study_name_from_id(other) == "b"
    assert storage.get_study_directions(other) == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert {s.study_name for s in storage.get_all_studies()} == {"a", "b"}


def test_duplicate_and_missing_study(storage: BaseStorage) -> None:
    storage.create_new_study(MIN, "a")
    with pytest.raises(DuplicatedStudyError, match="'a'"):
        storage.create_new_study(MIN, "a")
    with pytest.raises(StudyNotFoundError, match="'nope'"):
        storage.get_study_id_from_name("nope")


def test_study_attrs_user_and_system_are_separate(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    storage.set_study_attr(sid, "k", {"x": [1, 2]})
    storage.set_study_attr(sid, "k", "system", system=True)
    storage.set_study_attr(sid, "k", {"x": [3]})
    assert storage.get_study_attrs(sid) == {"k": {"x": [3]}}
    assert storage.get_study_attrs(sid, system=True) == {"k": "system"}


def test_attrs_must_be_json(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    with pytest.raises(TypeError, match="JSON"):
        storage.set_study_attr(sid, "k", object())
    trial = storage.create_new_trial(sid)
    with pytest.raises(TypeError, match="JSON"):
        storage.set_trial_attr(trial.trial_id, "k", {1, 2})


def test_trial_numbers_are_consecutive_per_study(storage: BaseStorage) -> None:
    a = storage.create_new_study(MIN, "a")
    b = storage.create_new_study(MIN, "b")
    numbers_a = [storage.create_new_trial(a).number for _ in range(3)]
    numbers_b = [storage.create_new_trial(b).number for _ in range(2)]
    assert numbers_a == [0, 1, 2]
    assert numbers_b == [0, 1]


def test_trial_round_trip(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    trial = storage.create_new_trial(sid)
    assert trial.state == TrialState.RUNNING and trial.datetime_start is not None
    tid = trial.trial_id
    dists = {
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "depth": IntDistribution(1, 9, step=2),
        "act": CategoricalDistribution([None, True, 3, 2.5, "relu"]),
    }
    values = {"lr": 3e-3, "depth": 7, "act": "relu"}
    for name, dist in dists.items():
        storage.set_trial_param(tid, name, dist.to_internal(values[name]), dist)
    storage.set_trial_intermediate_value(tid, 0, 0.5)
    storage.set_trial_intermediate_value(tid, 3, math.nan)
    storage.set_trial_attr(tid, "note", [1, "x"])
    storage.set_trial_state_values(tid, TrialState.COMPLETE, [0.25])
    stored = storage.get_trial(tid)
    assert stored.state == TrialState.COMPLETE
    assert stored.values == [0.25]
    assert stored.params == values
    assert type(stored.params["depth"]) is int
    assert stored.distributions == dists
    assert stored.intermediate_values[0] == 0.5 and math.isnan(stored.intermediate_values[3])
    assert stored.user_attrs == {"note": [1, "x"]}
    assert (
        stored.datetime_complete is not None and stored.datetime_complete >= stored.datetime_start
    )
    assert storage.get_all_trials(sid) == [stored]


def test_categorical_types_survive(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    dist = CategoricalDistribution([None, True, 1, 1.5, "1"])
    got = []
    for choice in dist.choices:
        tid = storage.create_new_trial(sid).trial_id
        storage.set_trial_param(tid, "c", dist.to_internal(choice), dist)
        got.append(storage.get_trial(tid).params["c"])
    assert [type(v) for v in got] == [type(None), bool, int, float, str]
    assert got == list(dist.choices)


def test_finished_trials_cannot_change(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    tid = storage.create_new_trial(sid).trial_id
    storage.set_trial_state_values(tid, TrialState.FAIL, fail_reason="boom")
    dist = FloatDistribution(0, 1)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_param(tid, "x", 0.5, dist)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [1.0])
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_intermediate_value(tid, 1, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_attr(tid, "k", 1)
    stored = storage.get_trial(tid)
    assert stored.state == TrialState.FAIL
    assert stored.fail_reason == "boom"
    assert stored.params == {}


def test_complete_needs_values_and_rejects_nan(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    tid = storage.create_new_trial(sid).trial_id
    with pytest.raises(ValueError, match="values"):
        storage.set_trial_state_values(tid, TrialState.COMPLETE)
    with pytest.raises(ValueError, match="NaN"):
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [math.nan])
    assert storage.get_trial(tid).state == TrialState.RUNNING


def test_states_filter_and_incremental_reads(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    ids = [storage.create_new_trial(sid).trial_id for _ in range(4)]
    assert len(storage.get_all_trials(sid)) == 4
    storage.set_trial_state_values(ids[0], TrialState.COMPLETE, [1.0])
    storage.set_trial_state_values(ids[1], TrialState.PRUNED, [2.0])
    # A second read must see changes made after the first one was cached.
    done = storage.get_all_trials(sid, states=(TrialState.COMPLETE,))
    assert [t.trial_id for t in done] == [ids[0]]
    storage.set_trial_state_values(ids[2], TrialState.COMPLETE, [0.5])
    storage.create_new_trial(sid)
    trials = storage.get_all_trials(sid)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
        TrialState.RUNNING,
        TrialState.RUNNING,
    ]
    assert storage.get_best_values(sid) == [0.5]
    assert storage.get_trial_id_from_number(sid, 2) == ids[2]


def test_waiting_trials_are_claimed_once_in_order(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    first = storage.create_new_trial(sid, state=TrialState.WAITING, system_attrs={"p": 1})
    second = storage.create_new_trial(sid, state=TrialState.WAITING)
    claimed = storage.claim_waiting_trial(sid)
    assert claimed is not None and claimed.trial_id == first.trial_id
    assert claimed.state == TrialState.RUNNING and claimed.system_attrs == {"p": 1}
    again = storage.claim_waiting_trial(sid)
    assert again is not None and again.trial_id == second.trial_id
    assert storage.claim_waiting_trial(sid) is None


def test_stale_trials_fail_once(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    alive = storage.create_new_trial(sid).trial_id
    dead = storage.create_new_trial(sid).trial_id
    done = storage.create_new_trial(sid).trial_id
    storage.set_trial_state_values(done, TrialState.COMPLETE, [1.0])
    time.sleep(0.3)
    storage.record_heartbeat([alive])
    failed = storage.fail_stale_trials(sid, grace_seconds=0.2)
    assert [t.trial_id for t in failed] == [dead]
    assert "heartbeat" in (failed[0].fail_reason or "")
    assert storage.get_trial(alive).state == TrialState.RUNNING
    assert storage.get_trial(done).state == TrialState.COMPLETE
    assert storage.fail_stale_trials(sid, grace_seconds=0.2) == []


def test_delete_study_removes_everything(storage: BaseStorage) -> None:
    sid = storage.create_new_study(MIN, "a")
    keep = storage.create_new_study(MIN, "b")
    tid = storage.create_new_trial(sid).trial_id
    storage.set_trial_param(tid, "x", 0.1, FloatDistribution(0, 1))
    kept = storage.create_new_trial(keep).trial_id
    storage.delete_study(sid)
    with pytest.raises(StudyNotFoundError):
        storage.get_study_id_from_name("a")
    with pytest.raises(KeyError):
        storage.get_trial(tid)
    assert storage.get_trial(kept).number == 0
    assert storage.create_new_study(MIN, "a") is not None
