"""Reading only the unfinished trials (what every ask does) follows every state change."""

from __future__ import annotations

from tunelab.storage import BaseStorage
from tunelab.trial import StudyDirection, TrialState

OPEN = (TrialState.RUNNING, TrialState.WAITING)


def test_unfinished_trials_follow_state_changes(storage: BaseStorage) -> None:
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    other = storage.create_new_study([StudyDirection.MINIMIZE], "other")
    storage.create_new_trial(other)
    ids = [storage.create_new_trial(sid).trial_id for _ in range(4)]
    queued = storage.create_new_trial(sid, state=TrialState.WAITING).trial_id
    storage.set_trial_state_values(ids[1], TrialState.COMPLETE, [1.0])
    storage.set_trial_state_values(ids[2], TrialState.FAIL)

    def read(states: tuple[TrialState, ...]) -> list[int]:
        return [t.trial_id for t in storage.get_all_trials(sid, states=states)]

    assert read(OPEN) == [ids[0], ids[3], queued]
    assert read((TrialState.WAITING,)) == [queued]
    assert read((TrialState.RUNNING, TrialState.COMPLETE)) == [ids[0], ids[1], ids[3]]
    assert storage.claim_waiting_trial(sid) is not None
    storage.set_trial_state_values(ids[0], TrialState.PRUNED)
    assert read(OPEN) == [ids[3], queued]
    assert read((TrialState.RUNNING,)) == [ids[3], queued]
    assert read((TrialState.WAITING,)) == []
