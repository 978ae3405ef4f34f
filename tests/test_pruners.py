"""Pruners: MedianPruner's rules and arguments, NopPruner, pruning inside optimize."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import tunelab as tl
from tunelab.pruners import BasePruner, MedianPruner, NopPruner
from tunelab.samplers import RandomSampler

NAN = math.nan


def _study(pruner: BasePruner, direction: str = "minimize", storage: str | None = None) -> tl.Study:
    return tl.create_study(
        pruner=pruner, direction=direction, storage=storage, sampler=RandomSampler(seed=0)
    )


def _complete(study: tl.Study, curve: Sequence[float], *, start: int = 0) -> None:
    """Finish a trial that reported ``curve`` at steps ``start, start + 1, ...``."""
    trial = study.ask()
    for step, value in enumerate(curve, start=start):
        trial.report(value, step)
    finite = [v for v in curve if not math.isnan(v)]
    study.tell(trial, finite[-1] if finite else 0.0)


def _judge(study: tl.Study, curve: dict[int, float]) -> bool:
    """Whether a trial that reported ``curve`` (step -> value) would be pruned now."""
    trial = study.ask()
    for step, value in curve.items():
        trial.report(value, step)
    verdict = trial.should_prune()
    study.tell(trial, state=tl.TrialState.FAIL)
    return verdict


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


def test_nan_reports_do_not_count_towards_n_min_trials() -> None:
    study = _study(MedianPruner(n_startup_trials=0, n_min_trials=3))
    for curve in ([1.0], [2.0], [NAN], [NAN]):
        _complete(study, curve)
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


def test_median_pruner_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        MedianPruner(5)  # type: ignore[misc]


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
