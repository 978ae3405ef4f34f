"""Successive halving and Hyperband with parallel workers: every decision is sound.

Rungs are derived from stored reports, so a pruner in any process judges a
trial against whatever reports the storage holds at that moment. The runs
below record every decision with its timing (tests/pruners/parallel.py) and
replay them: a trial that went on ranked in the top ``1 / eta`` of the rung
reports it could have seen, a pruned one did not, and nothing is pruned
between rungs. Hyperband must also put a trial in the same bracket in every
process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Container
from pathlib import Path
from typing import cast

import pytest

import tunelab as tl
from tests.pruners.parallel import (
    N_STEPS,
    REDUCTION_FACTOR,
    decisions,
    inconsistent,
    objective,
    promotable,
)
from tests.pruners.replay import complete, judge
from tunelab.pruners import HyperbandPruner, SuccessiveHalvingPruner
from tunelab.samplers import RandomSampler
from tunelab.study import StudyView
from tunelab.trial import StudyDirection, TrialState

ROOT = Path(__file__).resolve().parents[2]


def test_the_replay_catches_an_unsound_decision() -> None:
    assert promotable(0, 2) and not promotable(1, 1) and promotable(1, 5)
    # A pruner that never prunes lets trials go on that rank below the top third.
    study = tl.create_study(pruner=tl.pruners.NopPruner(), sampler=RandomSampler(seed=0))
    study.optimize(objective, n_trials=6)
    problems = inconsistent(study.trials, _sh_rungs, lambda _: 0)
    assert any("pruned=False" in p for p in problems)


def _sh_rungs(_: int) -> set[int]:
    return {1 * REDUCTION_FACTOR**k for k in range(3)}


class _StaleView:
    """A study view that shows the trials as they were at its last refresh."""

    def __init__(self, view: StudyView, trials: list[tl.FrozenTrial]) -> None:
        self._view = view
        self._trials = trials

    @property
    def direction(self) -> StudyDirection:
        return self._view.direction

    def get_trials(
        self, deepcopy: bool = False, states: Container[TrialState] | None = None
    ) -> list[tl.FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]


class _StaleSuccessiveHalving(SuccessiveHalvingPruner):
    """Broken: rereads the stored trials only on every 20th question."""

    def __init__(self) -> None:
        super().__init__(min_resource=1, reduction_factor=REDUCTION_FACTOR)
        self._calls = 0
        self._snapshot: list[tl.FrozenTrial] = []

    def prune(self, study: StudyView, trial: tl.FrozenTrial) -> bool:
        if self._calls % 20 == 0:
            self._snapshot = study.get_trials()
        self._calls += 1
        return super().prune(cast(StudyView, _StaleView(study, self._snapshot)), trial)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("broken", [False, True], ids=["real", "stale-reads"])
def test_successive_halving_with_worker_processes_decides_soundly(broken: bool) -> None:
    pruner = (
        _StaleSuccessiveHalving()
        if broken
        else SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION_FACTOR)
    )
    study = tl.create_study(pruner=pruner, sampler=RandomSampler(seed=1))
    study.optimize(objective, n_trials=30, n_jobs=3, backend="process")
    trials = study.trials
    assert len(decisions(trials)) >= 30 * 2
    assert any(t.state == tl.TrialState.PRUNED for t in trials)
    problems = inconsistent(trials, _sh_rungs, lambda _: 0)
    assert (problems != []) is broken, problems


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_hyperband_in_independent_processes_decides_soundly_and_agrees_on_brackets(
    kind: str, storage_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    url = storage_url_factory(kind)
    name = "parallel-hyperband"
    tl.create_study(study_name=name, storage=url)
    max_resource = N_STEPS - 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    workers = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.pruners.parallel"),
                *(url, name, "8", str(max_resource), str(tmp_path), "3"),
            ],
            cwd=ROOT,
            env=env,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.wait(timeout=150) == 0

    reference = HyperbandPruner(
        min_resource=1, max_resource=max_resource, reduction_factor=REDUCTION_FACTOR
    )
    study = tl.load_study(study_name=name, storage=url, pruner=reference)
    trials = study.trials
    assert len(trials) == 24
    assert _overlapping(trials) >= 10  # the processes really ran side by side
    assert any(t.state == tl.TrialState.PRUNED for t in trials)
    probe = study.ask()  # a first question sets the reference pruner's brackets up
    probe.report(0.0, 0)
    probe.should_prune()
    study.tell(probe, state=tl.TrialState.FAIL)
    bracket = {t.number: reference.bracket_of(name, t.number) for t in trials}
    recorded = {t.number: t.user_attrs["bracket"] for t in trials if "bracket" in t.user_attrs}
    assert len(recorded) == sum(t.state == tl.TrialState.COMPLETE for t in trials)
    assert all(recorded[n] == bracket[n] for n in recorded)
    assert len(set(bracket.values())) > 1

    def rungs(number: int) -> set[int]:
        steps = (REDUCTION_FACTOR ** (bracket[number] + k) for k in range(3))
        return {step for step in steps if step <= max_resource}

    assert inconsistent(trials, rungs, bracket.__getitem__) == []


def _overlapping(trials: list[tl.FrozenTrial]) -> int:
    """How many pairs of trials ran at the same time."""
    spans = [
        (t.datetime_start, t.datetime_complete)
        for t in trials
        if t.datetime_start is not None and t.datetime_complete is not None
    ]
    return sum(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])


@pytest.mark.parametrize("kind", ["hyperband", "successive_halving"])
def test_auto_resources_agree_between_a_process_that_starts_early_and_one_that_starts_late(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    # Trials that stop early by themselves complete with different lengths.
    # A process that asks its pruner after the first completion and one that
    # asks only after a longer run completed must still derive the same
    # rungs and brackets, or they judge the same trials by different rules.
    url = storage_url_factory("sqlite")

    def make() -> HyperbandPruner | SuccessiveHalvingPruner:
        return HyperbandPruner() if kind == "hyperband" else SuccessiveHalvingPruner()

    early = tl.create_study(study_name="auto", storage=url, pruner=make())
    complete(early, [1.0] * 300)  # last step 299
    judge(early, {0: 1.0})
    complete(early, [0.5] * 2700)  # a longer run (or one that stopped later) completes
    late = tl.load_study(study_name="auto", storage=url, pruner=make())
    judge(late, {0: 1.0})
    first, second = early.pruner, late.pruner
    if isinstance(first, HyperbandPruner):
        assert isinstance(second, HyperbandPruner)
        assert first.n_brackets == second.n_brackets
        assert [first.bracket_of("auto", n) for n in range(200)] == [
            second.bracket_of("auto", n) for n in range(200)
        ]
    else:
        assert isinstance(second, SuccessiveHalvingPruner)
        assert first.min_resource == second.min_resource == 2
