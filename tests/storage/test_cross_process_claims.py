"""Fixed configurations handed to workers in several processes sharing one database.

Queued trials (``enqueue_trial``, retries) must each be claimed by exactly one
worker, and the trial limit (:meth:`BaseStorage.limit_trials`) must hold across
processes, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing as mp
import time
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


def _grid_objective(trial: tl.Trial) -> float:
    a, b = trial.suggest_int("a", 0, 5), trial.suggest_int("b", 0, 4)
    time.sleep(0.05)  # trials of different processes overlap
    return a + b


def _grid_worker(url: str, n_trials: int) -> None:
    study = tl.load_study(study_name="g", storage=url, sampler=GridSampler(GRID))
    study.optimize(_grid_objective, n_trials=n_trials)


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
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_grid_points_are_not_repeated_across_processes(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory(kind)
    study = tl.create_study(study_name="g", storage=url, sampler=GridSampler(GRID))
    for a in range(6):
        study.enqueue_trial({"a": a})  # partly fixed points move later trials off their own
    _in_processes(_grid_worker, url, 6)  # 24 of the 30 points: no fallback to a repeat
    points = Counter(
        (t.params["a"], t.params["b"]) for t in study.get_trials(states=(TrialState.COMPLETE,))
    )
    assert sum(points.values()) == N_PROCESSES * 6
    assert max(points.values()) == 1


SMALL_GRID = {"a": [0, 1], "b": [0, 1, 2]}
N_SMALL_STUDIES = 6


def _small_grid_objective(trial: tl.Trial) -> float:
    a, b = trial.suggest_int("a", 0, 1), trial.suggest_int("b", 0, 2)
    time.sleep(0.05)  # trials of different processes overlap
    return a + b


def _small_grid_worker(url: str) -> None:
    for i in range(N_SMALL_STUDIES):
        study = tl.load_study(study_name=f"s{i}", storage=url, sampler=GridSampler(SMALL_GRID))
        study.optimize(_small_grid_objective, n_trials=6)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_exhausted_grid_never_repeats_a_point_a_trial_is_running(
    storage_url_factory: Callable[[str], str],
) -> None:
    """Past the last free point a worker repeats a finished point, as Optuna's grid does,
    but never one whose trial is still running."""
    url = storage_url_factory("sqlite")
    for i in range(N_SMALL_STUDIES):
        tl.create_study(study_name=f"s{i}", storage=url, sampler=GridSampler(SMALL_GRID))
    _in_processes(_small_grid_worker, url)
    for i in range(N_SMALL_STUDIES):
        trials = tl.load_study(study_name=f"s{i}", storage=url).get_trials(
            states=(TrialState.COMPLETE,)
        )
        assert len({(t.params["a"], t.params["b"]) for t in trials}) == 6
        for j, t in enumerate(trials):
            for u in trials[:j]:
                if t.params == u.params:
                    assert (
                        u.datetime_complete <= t.datetime_start
                        or t.datetime_complete <= u.datetime_start
                    ), f"study s{i}: trials {u.number} and {t.number} ran {t.params} together"
