"""``BaseStorage.limit_trials``: the most trials a study may hold that did not fail."""

from __future__ import annotations

import pytest

from tunelab.storage import BaseStorage, TrialLimitReached
from tunelab.trial import StudyDirection, TrialState


def test_limit_counts_trials_that_did_not_fail(storage: BaseStorage) -> None:
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    other = storage.create_new_study([StudyDirection.MINIMIZE], "other")
    storage.limit_trials(sid, 3)
    first, second, third = (storage.create_new_trial(sid) for _ in range(3))
    with pytest.raises(TrialLimitReached, match="holds 3 trials that did not fail; the limit is 3"):
        storage.create_new_trial(sid)
    storage.create_new_trial(other)  # another study is not limited
    storage.set_trial_state_values(first.trial_id, TrialState.COMPLETE, [1.0])
    storage.set_trial_state_values(second.trial_id, TrialState.PRUNED)
    with pytest.raises(TrialLimitReached):
        storage.create_new_trial(sid)
    storage.set_trial_state_values(
        third.trial_id, TrialState.FAIL
    )  # a failed trial frees its place
    fourth = storage.create_new_trial(sid)
    assert fourth.number == 3
    # Queued work is not refused, and claiming it is not either.
    queued = storage.create_new_trial(sid, state=TrialState.WAITING)
    claimed = storage.claim_waiting_trial(sid)
    assert claimed is not None and claimed.trial_id == queued.trial_id
    with pytest.raises(TrialLimitReached):
        storage.create_new_trial(sid)
    assert len(storage.get_all_trials(sid)) == 5  # the refused ones left nothing behind
    storage.limit_trials(sid, None)
    storage.create_new_trial(sid)


def test_limit_must_not_be_negative(storage: BaseStorage) -> None:
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    with pytest.raises(ValueError, match="limit must be 0 or more, got -1"):
        storage.limit_trials(sid, -1)
