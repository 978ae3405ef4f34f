"""Percentile and median pruners' rules and arguments, NopPruner, pruning inside optimize."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import tunelab as tl
from tests.pruners.replay import complete as _complete
from tests.pruners.replay import judge as _judge
from tests.pruners.replay import make_study as _study
from tunelab.pruners import MedianPruner, NopPruner, PercentilePruner

NAN = math.nan


def _ramp(n_trials: int, n_steps: int) -> list[list[float]]:
    """Trial i reports i + 1 at every step: medians are easy to compute."""
    return [[float(i + 1)] * n_steps for i in range(n_trials)]


def test_median_prunes_a_clearly_bad_trial_and_keeps_a_good_one() -> None:
    study = _study(MedianPruner())
    for curve in _ramp(5, 4):  # median 3.0 at every step
        _complete(study, curve)
    assert _judge(study, {0: 10.0, 1: 9.0, 2: 8.0})
    assert not _judge(study, {0: 0.5, 1: 0.4, 2: 0.3})
    assert not _judge(study, {0: 3.0})  # equal to the median is not worse


def test_median_judges_the_best_value_so_far() -> None:
    study = _study(MedianPruner())
    for curve in _ramp(5, 4):
        _complete(study, curve)
    # Worse than the median now, but it was better earlier in this trial.
    assert not _judge(study, {0: 1.0, 1: 7.0, 2: 9.0})


def test_median_does_not_judge_before_any_report() -> None:
    study = _study(MedianPruner(n_startup_trials=0))
    for curve in _ramp(5, 2):
        _complete(study, curve)
    assert not _judge(study, {})


def test_n_startup_trials_counts_completed_trials_only() -> None:
    study = _study(MedianPruner(n_startup_trials=3))
    for curve in _ramp(2, 3):
        _complete(study, curve)
    bad = {0: 100.0, 1: 100.0}
    assert not _judge(study, bad)  # FAIL trials left by _judge do not count
    trial = study.ask()
    trial.report(1.0, 0)
    study.tell(trial, state=tl.TrialState.PRUNED)
    assert not _judge(study, bad)  # nor does a pruned one
    _complete(study, [3.0, 3.0, 3.0])
    assert _judge(study, bad)


def test_n_startup_trials_zero_judges_from_the_first_completed_trial() -> None:
    study = _study(MedianPruner(n_startup_trials=0))
    assert not _judge(study, {0: 100.0})  # nothing to compare with yet
    _complete(study, [1.0])
    assert _judge(study, {0: 100.0})


def test_n_warmup_steps() -> None:
    study = _study(MedianPruner(n_warmup_steps=3))
    for curve in _ramp(5, 6):
        _complete(study, curve)
    assert not _judge(study, {0: 50.0, 1: 50.0, 2: 50.0})
    assert _judge(study, {0: 50.0, 1: 50.0, 2: 50.0, 3: 50.0})


@pytest.mark.parametrize(
    ("last_step", "judged"),
    [(0, False), (1, True), (2, False), (3, True), (4, False), (5, True)],
)
def test_interval_steps_judges_every_nth_step_after_warmup(last_step: int, judged: bool) -> None:
    study = _study(MedianPruner(n_warmup_steps=1, interval_steps=2))
    for curve in _ramp(5, 6):
        _complete(study, curve)
    assert _judge(study, dict.fromkeys(range(last_step + 1), 50.0)) is judged


def test_n_min_trials_needs_enough_reports_at_the_step() -> None:
    study = _study(MedianPruner(n_startup_trials=0, n_min_trials=3))
    for curve in _ramp(4, 2):  # four trials report steps 0 and 1
        _complete(study, curve)
    for curve in _ramp(2, 6):  # two trials go on to step 5
        _complete(study, curve)
    assert _judge(study, {1: 50.0})
    assert not _judge(study, {5: 50.0})
    _complete(study, [9.0] * 6)
    assert _judge(study, {5: 50.0})


def test_maximize_flips_the_comparison() -> None:
    study = _study(MedianPruner(), direction="maximize")
    for curve in _ramp(5, 3):  # median 3.0
        _complete(study, curve)
    assert _judge(study, {0: 0.5, 1: 1.0})
    assert not _judge(study, {0: 10.0, 1: 9.0})
    # Under maximize the best so far is the largest value.
    assert not _judge(study, {0: 4.0, 1: 0.1})


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_nan_reports_of_other_trials_are_ignored(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    storage = None if kind == "memory" else storage_url_factory("sqlite")
    study = _study(MedianPruner(n_startup_trials=0, n_min_trials=2), storage=storage)
    for curve in ([1.0], [2.0], [NAN], [NAN], [NAN]):
        _complete(study, curve)
    # The median of the finite reports is 1.5; a NaN median would never prune.
    assert _judge(study, {0: 5.0})
    assert not _judge(study, {0: 1.0})


def test_nan_reports_count_towards_n_min_trials_but_not_the_median() -> None:
    # As in Optuna: n_min_trials counts reports, the median only finite ones.
    study = _study(MedianPruner(n_startup_trials=0, n_min_trials=4))
    for curve in ([1.0], [2.0], [NAN]):
        _complete(study, curve)
    assert not _judge(study, {0: 5.0})  # three reports < 4
    _complete(study, [NAN])
    assert _judge(study, {0: 5.0})  # four reports; median of 1 and 2 is 1.5


def test_only_nan_reports_never_prune() -> None:
    study = _study(MedianPruner(n_startup_trials=0))
    for _ in range(3):
        _complete(study, [NAN])
    assert not _judge(study, {0: 5.0})


def test_own_nan_reports() -> None:
    study = _study(MedianPruner())
    for curve in _ramp(5, 3):
        _complete(study, curve)
    assert _judge(study, {0: NAN, 1: NAN})  # diverged: nothing worth keeping
    assert not _judge(study, {0: NAN, 1: 0.5})  # the finite value is what counts
    assert _judge(study, {0: 9.0, 1: NAN})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials must be an integer >= 0, got -1"),
        ({"n_startup_trials": 2.5}, "n_startup_trials must be an integer >= 0, got 2.5"),
        ({"n_startup_trials": True}, "n_startup_trials must be an integer >= 0, got True"),
        ({"n_warmup_steps": -2}, "n_warmup_steps must be an integer >= 0, got -2"),
        ({"n_warmup_steps": "3"}, "n_warmup_steps must be an integer >= 0, got '3'"),
        ({"interval_steps": 0}, "interval_steps must be an integer >= 1, got 0"),
        ({"interval_steps": None}, "interval_steps must be an integer >= 1, got None"),
        ({"n_min_trials": 0}, "n_min_trials must be an integer >= 1, got 0"),
    ],
)
def test_median_pruner_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MedianPruner(**kwargs)


def test_median_pruner_is_percentile_50_with_optunas_signature() -> None:
    pruner = MedianPruner(3, 2, 4, n_min_trials=2)
    assert isinstance(pruner, PercentilePruner)
    assert (pruner.percentile, pruner.n_startup_trials, pruner.n_warmup_steps) == (50.0, 3, 2)
    assert (pruner.interval_steps, pruner.n_min_trials) == (4, 2)
    default = MedianPruner()
    assert (default.n_startup_trials, default.n_warmup_steps) == (5, 0)
    assert (default.interval_steps, default.n_min_trials) == (1, 1)
    with pytest.raises(TypeError):
        MedianPruner(5, 0, 1, 1)  # n_min_trials is keyword-only


@pytest.mark.parametrize("percentile", [-0.1, 100.5, NAN, "50", None, True])
def test_percentile_pruner_rejects_a_bad_percentile(percentile: object) -> None:
    with pytest.raises(ValueError, match=r"percentile must be a number in \[0, 100\], got"):
        PercentilePruner(percentile)


def _quartiles_study(direction: str, percentile: float) -> tl.Study:
    study = _study(PercentilePruner(percentile, n_startup_trials=0), direction=direction)
    for level in (1.0, 2.0, 3.0, 4.0, 5.0):  # percentiles 25/75 are 2.0 and 4.0
        _complete(study, [level, level])
    return study


def test_percentile_25_keeps_only_the_best_quarter() -> None:
    study = _quartiles_study("minimize", 25.0)
    assert not _judge(study, {0: 1.5})
    assert not _judge(study, {0: 2.0})
    assert _judge(study, {0: 2.5})
    maximize = _quartiles_study("maximize", 25.0)  # the best quarter is now above 4.0
    assert not _judge(maximize, {0: 4.5})
    assert _judge(maximize, {0: 3.5})


def test_percentile_75_prunes_only_the_worst_quarter() -> None:
    study = _quartiles_study("minimize", 75.0)
    assert not _judge(study, {0: 3.9})
    assert _judge(study, {0: 4.1})


def test_percentile_0_and_100_are_the_extremes() -> None:
    assert _judge(_quartiles_study("minimize", 0.0), {0: 1.01})
    assert not _judge(_quartiles_study("minimize", 100.0), {0: 4.99})
    assert _judge(_quartiles_study("minimize", 100.0), {0: 5.01})


def test_interval_check_falls_on_the_first_report_after_a_skipped_step() -> None:
    study = _study(MedianPruner(n_warmup_steps=0, interval_steps=5))
    for curve in _ramp(5, 12):
        _complete(study, curve)
    # Check steps are 0, 5, 10: a trial reporting 0, 3, 7 is judged at 7
    # (first report since 5), not at 3, and a later report at 8 is not judged.
    assert not _judge(study, {0: 0.5, 3: 50.0})
    assert _judge(study, {0: 50.0, 3: 50.0, 7: 50.0})
    assert not _judge(study, {0: 50.0, 3: 50.0, 7: 50.0, 8: 50.0})


def test_nop_pruner_never_prunes() -> None:
    study = _study(NopPruner())
    for curve in _ramp(10, 3):
        _complete(study, curve)
    assert not _judge(study, {0: 1e9, 1: 1e9, 2: 1e9})
    assert not _judge(study, {0: NAN, 1: NAN})


def test_default_pruner_is_optunas_median_pruner() -> None:
    study = tl.create_study()
    for curve in _ramp(10, 2):
        _complete(study, curve)
    assert isinstance(study.pruner, MedianPruner)
    assert (
        study.pruner.n_startup_trials,
        study.pruner.n_warmup_steps,
        study.pruner.interval_steps,
        study.pruner.n_min_trials,
    ) == (5, 0, 1, 1)
    assert _judge(study, {0: 1e9, 1: 1e9})


def _learning_curve(trial: tl.Trial) -> float:
    """A loss that decays from a level set by x; bad x stays bad at every step."""
    x = trial.suggest_float("x", 0.0, 1.0)
    value = NAN
    for step in range(8):
        value = x + 1.0 / (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            raise tl.TrialPruned()
    return value


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_optimize_stores_pruned_trials_with_their_last_value(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    storage = None if kind == "memory" else storage_url_factory("sqlite")
    study = _study(MedianPruner(n_startup_trials=5), storage=storage)
    study.optimize(_learning_curve, n_trials=40)
    trials = study.trials
    pruned = [t for t in trials if t.state == tl.TrialState.PRUNED]
    complete = [t for t in trials if t.state == tl.TrialState.COMPLETE]
    assert len(pruned) + len(complete) == 40
    assert len(pruned) >= 8
    assert all(t.number >= 5 for t in pruned)  # the startup trials always finish
    for t in pruned:
        assert len(t.intermediate_values) < 8
        assert t.value == t.intermediate_values[t.last_step]
    for t in complete:
        assert sorted(t.intermediate_values) == list(range(8))
    # The pruner stops the worse half: pruned trials have larger x on average.
    mean_x = {
        name: sum(t.params["x"] for t in group) / len(group)
        for name, group in (("pruned", pruned), ("complete", complete))
    }
    assert mean_x["pruned"] > mean_x["complete"] + 0.2


def test_pruned_trial_without_reports_has_no_value() -> None:
    study = _study(MedianPruner())

    def objective(trial: tl.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        raise tl.TrialPruned()

    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [tl.TrialState.PRUNED] * 2
    assert all(t.value is None for t in study.trials)
