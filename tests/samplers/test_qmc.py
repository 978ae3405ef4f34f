"""QMCSampler: every trial keeps its own point, and who is warned about unseeded scrambling."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tunelab.samplers import QMCSampler, RandomSampler
from tunelab.space import BaseDistribution
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial

_SEEDING = "scrambles with a random seed"


def _suggest_xy(trial: tl.Trial) -> tuple[float, float]:
    return trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)


def _xy(trial: tl.Trial) -> float:
    return sum(_suggest_xy(trial))


@pytest.mark.parametrize("seed", range(3))
def test_trials_finishing_out_of_order_never_share_a_point(seed: int) -> None:
    rng = np.random.default_rng(seed)
    study = tl.create_study(sampler=QMCSampler(seed=seed))
    first = study.ask()
    points = {0: _suggest_xy(first)}
    running = [first]
    # Several trials in flight, any of them finishing next: the first finished trial is
    # rarely the lowest-numbered one.
    while len(points) < 40:
        for _ in range(int(rng.integers(1, 4))):
            trial = study.ask()
            points[trial.number] = _suggest_xy(trial)
            running.append(trial)
        done = running.pop(int(rng.integers(len(running))))
        study.tell(done, sum(points[done.number]))
    sampled = [p for number, p in points.items() if number > 0]  # trial 0 is drawn at random
    assert len(set(sampled)) == len(sampled)


class _CountingRandom(RandomSampler):
    def __init__(self) -> None:
        super().__init__(seed=0)
        self.trials: set[int] = set()

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        self.trials.add(trial.number)
        return super().sample_independent(study, trial, name, distribution)


@pytest.mark.timeout(60)
def test_hyperband_brackets_never_share_a_point() -> None:
    pruner = tl.pruners.HyperbandPruner(min_resource=1, max_resource=9)
    independent = _CountingRandom()
    sampler = QMCSampler(seed=0, independent_sampler=independent, warn_independent_sampling=False)
    study = tl.create_study(sampler=sampler, pruner=pruner)

    def objective(trial: tl.Trial) -> float:
        value = _xy(trial)
        for step in range(9):
            trial.report(value, step)
            if trial.should_prune():
                raise tl.TrialPruned()
        return value

    study.optimize(objective, n_trials=40)
    points = [(t.params["x"], t.params["y"]) for t in study.trials]
    assert len(set(points)) == 40
    # The space is the whole study's: only trial 0, which it is learned from, is drawn
    # at random, not the first trial of every bracket.
    assert independent.trials == {0}


@pytest.fixture
def tunelab_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog with tunelab's records (tunelab's logger does not propagate by default)."""
    logger = logging.getLogger("tunelab")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="tunelab")
    yield caplog
    logger.removeHandler(caplog.handler)


def _seeding_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if _SEEDING in r.getMessage()]


def test_the_default_sampler_does_not_warn_about_qmc_seeding(
    tmp_path: Path, tunelab_log: pytest.LogCaptureFixture
) -> None:
    storage = f"sqlite:///{tmp_path / 'default.db'}"
    study = tl.create_study(storage=storage, heartbeat_interval=None)
    study.optimize(_xy, n_trials=3)
    assert len(study.trials) == 3
    assert _seeding_warnings(tunelab_log) == []


def test_an_unseeded_qmc_sampler_on_a_database_warns_once(
    tmp_path: Path, tunelab_log: pytest.LogCaptureFixture
) -> None:
    storage = f"sqlite:///{tmp_path / 'qmc.db'}"
    study = tl.create_study(storage=storage, sampler=QMCSampler(), heartbeat_interval=None)
    study.optimize(_xy, n_trials=3)
    assert len(_seeding_warnings(tunelab_log)) == 1
