"""Fixed configurations handed to workers in several processes sharing one database.

Queued trials (``enqueue_trial``, retries) must each be claimed by exactly one
worker, and the trial limit (:meth:`BaseStorage.limit_trials`) must hold across
processes, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from collections.abc import Callable

import pytest

import tunelab as tl
from tunelab.samplers import GridSampler, RandomSampler
from tunelab.storage import TrialLimitReached, get_storage
from tunelab.trial import TrialState

N_PROCESSES = 4
GRID = {"a": list(range(6)), "b": list(range(5))}


def _drain_queue(url: str) -> list[int]:
    """Claim queued trials until none is left; the numbers of the trials this process ran."""
    study = tl.load_study(study_name="q", storage=url, sampler=RandomSampler())
    ran = []
    while True:
        trial = study.ask()
        if "fixed_params" not in trial.system_attrs:  # the queue is empty: a fresh trial
            study.tell(trial, state=TrialState.FAIL, fail_reason="not queued")
            return ran
        study.tell(trial, trial.suggest_int("k", 0, 10**6))
        ran.append(trial.number)


def _fill_to_limit(url: str, limit: int) -> int:
    """Create trials until the limit refuses; how many this process created."""
    storage = get_storage(url)
    study_id = storage.get_study_id_from_name("limited")
    storage.limit_trials(study_id, limit)
    created = 0
    while True:
        try:
            storage.create_new_trial(study_id)
        except TrialLimitReached:
            return created
        created += 1


def _grid_worker(url: str) -> None:
    study = tl.load_study(study_name="g", storage=url, sampler=GridSampler(GRID))
    study.optimize(lambda t: t.suggest_int("a", 0, 5) + t.suggest_int("b", 0, 4), n_trials=60)


def _in_processes(func: Callable[..., object], *args: object) -> list[object]:
    with mp.get_context("spawn").Pool(N_PROCESSES) as pool:
        return list(pool.starmap(func, [args] * N_PROCESSES))


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_queued_trials_are_claimed_once_across_processes(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory(kind)
    study = tl.create_study(study_name="q", storage=url)
    for k in range(80):
        study.enqueue_trial({"k": k})
    ran = [n for numbers in _in_processes(_drain_queue, url) for n in numbers]  # type: ignore[attr-defined]
    assert sorted(ran) == list(range(80))  # each queued trial ran, in exactly one process
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.params["k"] for t in done) == list(range(80))


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_trial_limit_holds_across_processes(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory(kind)
    tl.create_study(study_name="limited", storage=url)
    created = _in_processes(_fill_to_limit, url, 50)
    assert sum(created) == 50  # type: ignore[arg-type]
    assert len(tl.load_study(study_name="limited", storage=url).get_trials()) == 50


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.xfail(
    # Not strict: a race, so a lucky run may see no repeat.
    strict=False,
    reason="GridSampler's fallback to the next free point races between processes: two "
    "workers can pick the point a concurrent trial holds before its params are stored",
)
def test_grid_points_are_not_repeated_across_processes(
    storage_url_factory: Callable[[str], str],
) -> None:
    url = storage_url_factory("sqlite")
    study = tl.create_study(study_name="g", storage=url, sampler=GridSampler(GRID))
    for a in range(6):
        study.enqueue_trial({"a": a})  # partly fixed points move later trials off their own
    _in_processes(_grid_worker, url)
    points = Counter(
        (t.params["a"], t.params["b"]) for t in study.get_trials(states=(TrialState.COMPLETE,))
    )
    assert len(points) == 30
    assert max(points.values()) == 1
