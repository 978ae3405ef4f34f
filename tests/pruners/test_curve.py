"""LearningCurvePruner: statistical checks on curves whose final values are known, robustness.

The synthetic studies are built so that judging a trial by where it is now
fails: the best configuration starts slowest (worst of all for its first
steps) and overtakes everyone late, while the clearly bad configurations
start fast and flatten out high. A pruner that extrapolates to the full run
keeps the best one and stops the bad ones early; the same pruner predicting
the value at the current step, or judging in the wrong direction, does not.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

import tunelab as tl
from tests.pruners.replay import complete, judge, make_study
from tunelab.pruners import BasePruner, LearningCurvePruner
from tunelab.samplers import RandomSampler
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

N_STEPS = 40
N_CONFIGS = 12
BEST = 0
CLEARLY_BAD = range(4, N_CONFIGS)


@dataclass(frozen=True)
class Config:
    """One configuration's learning curve (losses) and the value it ends at."""

    number: int
    final: float
    curve: np.ndarray


def crossing_curves(seed: int, noise: float = 0.01) -> list[Config]:
    """A study's configurations in a random order, the best one not among the first four.

    Losses ``final + b * (h(step) - h(last step))`` with ``h`` a power law or
    an exponential decay, plus noise. Configuration 0 ends best (0.10) but
    starts with the largest ``b``; 1-3 end near it (0.14-0.20); the rest end
    clearly worse (0.35-0.70) after a fast start.
    """
    rng = np.random.default_rng(seed)
    steps = np.arange(N_STEPS, dtype=float)
    configs = []
    for number in range(N_CONFIGS):
        if number == BEST:
            final, b, c = 0.10, 1.2, 0.8
        elif number not in CLEARLY_BAD:
            final, b, c = rng.uniform(0.14, 0.2), rng.uniform(0.3, 0.6), rng.uniform(0.8, 1.5)
        else:
            final, b, c = rng.uniform(0.35, 0.7), rng.uniform(0.1, 0.4), rng.uniform(1.0, 2.0)
        power_law = bool(rng.integers(2))
        shape = (steps + 1.0) ** -c if power_law else np.exp(-steps * 3.0 * c / N_STEPS)
        curve = final + b * (shape - shape[-1]) + noise * rng.standard_normal(N_STEPS)
        configs.append(Config(number, final, curve))
    # The best configuration comes after the study has a best to compare with.
    order = [int(i) for i in rng.permutation(N_CONFIGS) if i != BEST]
    order.insert(int(rng.integers(4, N_CONFIGS)), BEST)
    return [configs[i] for i in order]


@dataclass(frozen=True)
class Tally:
    """What a pruner did over several synthetic studies."""

    kept_best: float  # share of studies whose best configuration ran to the end
    pruned_bad: float  # share of clearly bad configurations pruned
    bad_steps: float  # mean share of the full run a clearly bad configuration used
    saved: float  # share of all steps not run

    @property
    def passes(self) -> bool:
        return self.kept_best >= 0.75 and self.pruned_bad >= 0.6 and self.bad_steps <= 0.5


def tally(make: Callable[[], BasePruner], seeds: range, direction: str) -> Tally:
    """Run each seed's study with a fresh pruner, stopping a trial at its first prune."""
    sign = 1.0 if direction == "minimize" else -1.0
    kept_best = pruned_bad = n_bad = bad_steps = total_steps = 0
    for seed in seeds:
        study = tl.create_study(direction=direction, pruner=make(), sampler=RandomSampler(seed=0))
        for config in crossing_curves(seed):
            trial = study.ask()
            pruned = False
            used = 0
            for step, loss in enumerate(config.curve):
                trial.report(sign * float(loss), step)
                used += 1
                if pruned := trial.should_prune():
                    break
            if pruned:
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, sign * float(config.curve[-1]))
            total_steps += used
            kept_best += config.number == BEST and not pruned
            if config.number in CLEARLY_BAD:
                n_bad += 1
                pruned_bad += pruned
                bad_steps += used
    n_studies = len(seeds)
    return Tally(
        kept_best=kept_best / n_studies,
        pruned_bad=pruned_bad / n_bad,
        bad_steps=bad_steps / (n_bad * N_STEPS),
        saved=1.0 - total_steps / (n_studies * N_CONFIGS * N_STEPS),
    )


class PredictsNow(LearningCurvePruner):
    """Broken: predicts the value at the trial's current step instead of the full run's."""

    def _horizon(self, completed: list[FrozenTrial], trial: FrozenTrial) -> float | None:
        return float(cast(int, trial.last_step))


class _FlippedView:
    """A study view that reports the opposite direction."""

    def __init__(self, view: StudyView) -> None:
        self._view = view

    @property
    def direction(self) -> StudyDirection:
        if self._view.direction == StudyDirection.MINIMIZE:
            return StudyDirection.MAXIMIZE
        return StudyDirection.MINIMIZE

    def get_trials(
        self, deepcopy: bool = False, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._view.get_trials(deepcopy=deepcopy, states=states)


class WrongDirection(LearningCurvePruner):
    """Broken: judges curves as if the study went the other way."""

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        return super().prune(cast(StudyView, _FlippedView(study)), trial)


SEEDS = range(8)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("make", "direction", "broken"),
    [
        (LearningCurvePruner, "minimize", False),
        (LearningCurvePruner, "maximize", False),
        (PredictsNow, "minimize", True),
        (WrongDirection, "maximize", True),
    ],
    ids=["minimize", "maximize", "broken-predicts-now", "broken-wrong-direction"],
)
def test_keeps_the_late_winner_and_stops_bad_curves_early(
    make: Callable[[], BasePruner], direction: str, broken: bool
) -> None:
    result = tally(make, SEEDS, direction)
    assert result.passes is not broken, result


def _noisy(curve: np.ndarray, seed: int = 0, noise: float = 0.005) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    noisy = curve + noise * rng.standard_normal(curve.size)
    return {step: float(v) for step, v in enumerate(noisy)}


STEPS = np.arange(10, dtype=float)
BAD = 0.6 + 0.2 * np.exp(-STEPS / 2)  # flattens out far above the finished runs
GOOD = 0.1 + 0.4 * np.exp(-STEPS / 2)


def _study(pruner: LearningCurvePruner, direction: str = "minimize", n: int = 3) -> tl.Study:
    """A study with ``n`` completed runs of 10 steps that end near 0.3 (negated to maximise)."""
    study = make_study(pruner, direction)
    sign = 1.0 if direction == "minimize" else -1.0
    for i in range(n):
        complete(study, list(sign * (0.3 + 0.01 * i + 0.3 * np.exp(-STEPS / 3))))
    return study


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_prunes_a_bad_curve_and_keeps_a_good_one(direction: str) -> None:
    sign = 1.0 if direction == "minimize" else -1.0
    study = _study(LearningCurvePruner(), direction)
    assert judge(study, _noisy(sign * BAD))
    assert not judge(study, _noisy(sign * GOOD))


def test_waits_for_min_points_and_n_startup_trials() -> None:
    bad = _noisy(BAD)
    first = {s: v for s, v in bad.items() if s < 4}
    assert not judge(_study(LearningCurvePruner(min_points=5)), first)
    assert judge(_study(LearningCurvePruner(min_points=4)), first)
    assert not judge(_study(LearningCurvePruner(n_startup_trials=3), n=2), bad)
    assert judge(_study(LearningCurvePruner(n_startup_trials=2), n=2), bad)


def test_a_trial_that_already_beats_the_target_runs_on() -> None:
    # Rising losses extrapolate far above the target, but the trial's best
    # report is already below it.
    study = _study(LearningCurvePruner())
    assert not judge(study, _noisy(0.2 + 0.1 * STEPS))
    assert judge(study, _noisy(0.35 + 0.1 * STEPS))


def test_the_prediction_is_for_max_resource() -> None:
    # Still falling fast at step 9 (0.42, worse than the best 0.30): hopeless
    # if the run ends there, promising if it runs to step 1000.
    falling = _noisy(0.1 + (STEPS + 1) ** -0.5, noise=0.002)
    assert judge(_study(LearningCurvePruner()), falling)  # auto: the completed runs' 9 steps
    assert judge(_study(LearningCurvePruner(max_resource=9)), falling)
    assert not judge(_study(LearningCurvePruner(max_resource=1000)), falling)


def test_percentile_sets_the_target() -> None:
    study = make_study(LearningCurvePruner(percentile=0.0))
    for final in (0.1, 0.5, 0.6, 0.7, 0.8):
        complete(study, list(final + 0.3 * np.exp(-STEPS / 3)))
    middling = _noisy(0.45 + 0.3 * np.exp(-STEPS / 2))  # ends near 0.45: second of six
    assert judge(study, middling)
    study.pruner = LearningCurvePruner(percentile=50.0)
    assert not judge(study, middling)


def test_nan_and_infinite_reports_are_ignored() -> None:
    study = _study(LearningCurvePruner())
    bad = _noisy(BAD)
    assert judge(study, {**bad, 10: math.nan, 11: math.inf, 12: -math.inf})
    assert not judge(study, dict.fromkeys(range(10), math.nan))
    sparse = {s: (v if s % 3 == 0 else math.nan) for s, v in bad.items()}  # 4 finite points
    assert not judge(study, sparse)


@pytest.mark.parametrize(
    ("curve", "pruned"),
    [
        (np.full(10, 0.9), True),  # flat far above the target
        (np.full(10, 0.3000001), False),  # flat at the target: a coin toss, not hopeless
        (np.tile([0.32, 2.0], 5), False),  # erratic, best reports at the target
        (0.35 + 0.1 * STEPS**2, True),  # diverging
        (np.r_[np.full(9, 0.9), 1e308], False),  # an outlier near overflow swamps any fit
        (np.full(10, 1e300), True),  # huge but flat
    ],
    ids=["flat-bad", "flat-at-target", "erratic", "diverging", "near-overflow", "huge"],
)
def test_degenerate_curves(curve: np.ndarray, pruned: bool) -> None:
    study = _study(LearningCurvePruner())
    assert judge(study, {s: float(v) for s, v in enumerate(curve)}) is pruned


def test_no_reports_and_no_completed_trials_never_prune() -> None:
    study = make_study(LearningCurvePruner())
    assert not judge(study, {})
    assert not judge(study, _noisy(BAD))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_resource": 0}, "max_resource must be 'auto' or an integer >= 1, got 0"),
        ({"max_resource": "all"}, "max_resource must be 'auto' or an integer >= 1"),
        ({"max_resource": 10.5}, "max_resource must be 'auto' or an integer >= 1"),
        ({"max_resource": True}, "max_resource must be 'auto' or an integer >= 1"),
        ({"min_points": 2}, "min_points must be an integer >= 3, got 2"),
        ({"min_points": 5.0}, "min_points must be an integer >= 3"),
        ({"n_startup_trials": 0}, "n_startup_trials must be an integer >= 1"),
        ({"threshold": 0.0}, r"threshold must be a number in \(0, 1\), got 0.0"),
        ({"threshold": 1}, r"threshold must be a number in \(0, 1\)"),
        ({"threshold": math.nan}, r"threshold must be a number in \(0, 1\)"),
        ({"threshold": "0.1"}, r"threshold must be a number in \(0, 1\)"),
        ({"percentile": -1.0}, r"percentile must be a number in \[0, 100\]"),
        ({"percentile": 100.5}, r"percentile must be a number in \[0, 100\]"),
        ({"percentile": math.nan}, r"percentile must be a number in \[0, 100\]"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LearningCurvePruner(**kwargs)


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        LearningCurvePruner(10)  # type: ignore[misc]


def _lcdb_curves(n_rows: int = 60_000) -> dict[int, dict[str, np.ndarray]]:
    """Validation accuracy of each learner at each training-set size, per data set.

    Read from the head of lcdb's accuracy table (the package is not
    imported: it needs openml); one train/test split per data set.
    """
    spec = importlib.util.find_spec("lcdb")
    if spec is None or spec.origin is None:
        pytest.skip("lcdb is not installed (dev extra)")
    pandas = pytest.importorskip("pandas")
    table = pandas.read_csv(
        Path(spec.origin).parent / "database-accuracy.csv",
        nrows=n_rows,
        usecols=["openmlid", "learner", "size_train", "outer_seed", "inner_seed", "score_valid"],
    )
    table = table[(table.outer_seed == 0) & (table.inner_seed == 0)]
    found: dict[int, dict[str, np.ndarray]] = {}
    for dataset, rows in table.groupby("openmlid"):
        curves = {
            str(learner): group.sort_values("size_train").score_valid.to_numpy(dtype=float)
            for learner, group in rows.groupby("learner")
        }
        length = max(len(c) for c in curves.values())
        full = {learner: c for learner, c in curves.items() if len(c) == length}
        if len(full) >= 10:
            found[int(dataset)] = full
    return found


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_real_learning_curves_from_lcdb() -> None:
    # Learners on a data set, in a random order, each trained on growing
    # subsets (the steps): the pruner must end every study within 0.03
    # accuracy of the best learner while stopping most clearly worse ones.
    datasets = _lcdb_curves()
    assert len(datasets) >= 5
    rng = np.random.default_rng(0)
    regrets, pruned_bad, n_bad, used, total = [], 0, 0, 0, 0
    for curves in datasets.values():
        top = max(c[-1] for c in curves.values())
        study = tl.create_study(
            direction="maximize", pruner=LearningCurvePruner(), sampler=RandomSampler(seed=0)
        )
        for learner in rng.permutation(sorted(curves)):
            curve = curves[str(learner)]
            trial = study.ask()
            pruned = False
            for step, accuracy in enumerate(curve):
                trial.report(float(accuracy), step)
                used += 1
                if pruned := trial.should_prune():
                    break
            total += curve.size
            if pruned:
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, float(curve[-1]))
            if curve[-1] < top - 0.05:
                n_bad += 1
                pruned_bad += pruned
        regrets.append(top - study.best_value)
    assert max(regrets) <= 0.03, regrets
    assert pruned_bad / n_bad >= 0.5, (pruned_bad, n_bad)
    assert used / total <= 0.9, (used, total)
