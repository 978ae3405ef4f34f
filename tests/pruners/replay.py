"""Drive a study through a fixed history, asking the pruner after every report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tunelab as tl
from tests.pruners.histories import Curve
from tunelab.pruners import BasePruner
from tunelab.samplers import RandomSampler


def make_study(
    pruner: BasePruner, direction: str = "minimize", storage: str | None = None
) -> tl.Study:
    """A study with ``pruner`` and a seeded random sampler."""
    return tl.create_study(
        pruner=pruner, direction=direction, storage=storage, sampler=RandomSampler(seed=0)
    )


def complete(study: tl.Study, curve: Sequence[float], *, start: int = 0) -> None:
    """Complete a trial that reported ``curve`` at steps ``start, start + 1, ...``."""
    trial = study.ask()
    for step, value in enumerate(curve, start=start):
        trial.report(value, step)
    finite = [v for v in curve if not math.isnan(v)]
    study.tell(trial, finite[-1] if finite else 0.0)


def judge(study: tl.Study, curve: dict[int, float]) -> bool:
    """Whether a trial that reported ``curve`` (step -> value) would be pruned now."""
    trial = study.ask()
    for step, value in curve.items():
        trial.report(value, step)
    verdict = trial.should_prune()
    study.tell(trial, state=tl.TrialState.FAIL)
    return verdict


@dataclass(frozen=True)
class Outcome:
    """What a pruner did with a history."""

    decisions: list[bool]
    kept_good: int
    n_good: int
    pruned_bad: int
    n_bad: int


def replay(
    pruner: BasePruner, curves: Sequence[Curve], direction: str, study_name: str = "replay"
) -> Outcome:
    """Run every curve as a trial; a trial stops at its first prune decision."""
    study = tl.create_study(
        study_name=study_name, direction=direction, pruner=pruner, sampler=RandomSampler(seed=0)
    )
    decisions: list[bool] = []
    kept_good = pruned_bad = 0
    for curve in curves:
        trial = study.ask()
        pruned = False
        for step, value in curve.reports:
            trial.report(value, step)
            pruned = trial.should_prune()
            decisions.append(pruned)
            if pruned:
                break
        if pruned:
            study.tell(trial, state=tl.TrialState.PRUNED)
        else:
            study.tell(trial, curve.final)
        kept_good += curve.good and not pruned
        pruned_bad += (not curve.good) and pruned
    n_good = sum(c.good for c in curves)
    return Outcome(decisions, kept_good, n_good, pruned_bad, len(curves) - n_good)


def replay_both(
    ours: BasePruner, theirs: Any, curves: Sequence[Curve], direction: Any
) -> tuple[list[bool], list[bool]]:
    """Feed one history to a tunelab study and an Optuna study side by side.

    Both studies share a name (Hyperband hashes it into brackets) and see the
    same reports; a trial stops when Optuna prunes it, so that both go on
    from the same history even if a decision differs.

    Returns:
        tunelab's and Optuna's decisions, one per report.
    """
    import optuna

    name = "agreement"
    ours_study = tl.create_study(
        study_name=name, direction=direction, pruner=ours, sampler=RandomSampler(seed=0)
    )
    theirs_study = optuna.create_study(
        study_name=name,
        direction=direction,
        pruner=theirs,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    ours_decisions: list[bool] = []
    theirs_decisions: list[bool] = []
    for curve in curves:
        ours_trial, theirs_trial = ours_study.ask(), theirs_study.ask()
        pruned = False
        for step, value in curve.reports:
            ours_trial.report(value, step)
            theirs_trial.report(value, step)
            ours_decisions.append(ours_trial.should_prune())
            pruned = theirs_trial.should_prune()
            theirs_decisions.append(pruned)
            if pruned:
                break
        if pruned:
            ours_study.tell(ours_trial, state=tl.TrialState.PRUNED)
            theirs_study.tell(theirs_trial, state=optuna.trial.TrialState.PRUNED)
        else:
            ours_study.tell(ours_trial, curve.final)
            theirs_study.tell(theirs_trial, curve.final)
    return ours_decisions, theirs_decisions
