"""A stale trial's failure and its retry are one storage write (every storage kind).

Failed in one transaction and re-queued in another, a crash between the two lost
the retry, and a worker creating a trial between them under a trial limit took
the place the failure freed, so the study ended one trial over its target.
"""

from __future__ import annotations

import time

import pytest

from tunelab.space import FloatDistribution
from tunelab.storage import BaseStorage, TrialLimitReached
from tunelab.trial import StudyDirection, TrialState


def test_stale_trial_is_failed_and_requeued_in_one_call(storage: BaseStorage) -> None:
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    storage.limit_trials(sid, 2)
    dead = storage.create_new_trial(sid, user_attrs={"note": "first try"})
    storage.set_trial_param(dead.trial_id, "x", 0.25, FloatDistribution(0.0, 1.0))
    alive = storage.create_new_trial(sid)
    time.sleep(0.3)
    storage.record_heartbeat([alive.trial_id])

    failed = storage.fail_stale_trials(sid, grace_seconds=0.2, retries=1)

    assert [t.trial_id for t in failed] == [dead.trial_id]
    states = [t.state for t in storage.get_all_trials(sid)]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    retry = storage.get_all_trials(sid)[2]
    assert retry.system_attrs["fixed_params"] == {"x": 0.25}
    assert retry.system_attrs["retry_of"] == dead.number
    assert retry.system_attrs["retry_attempt"] == 1
    assert retry.user_attrs == {"note": "first try"}
    # The retry holds the place the failure freed: the limit admits no new trial.
    with pytest.raises(TrialLimitReached):
        storage.create_new_trial(sid)

    # A retry that goes stale in turn has had its one retry.
    claimed = storage.claim_waiting_trial(sid)
    assert claimed is not None and claimed.trial_id == retry.trial_id
    storage.record_heartbeat([alive.trial_id])
    time.sleep(0.3)
    storage.record_heartbeat([alive.trial_id])
    assert [t.trial_id for t in storage.fail_stale_trials(sid, 0.2, retries=1)] == [retry.trial_id]
    assert len(storage.get_all_trials(sid)) == 3


def test_no_retry_unless_asked(storage: BaseStorage) -> None:
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    storage.create_new_trial(sid)
    time.sleep(0.3)
    assert len(storage.fail_stale_trials(sid, grace_seconds=0.2)) == 1
    assert [t.state for t in storage.get_all_trials(sid)] == [TrialState.FAIL]
