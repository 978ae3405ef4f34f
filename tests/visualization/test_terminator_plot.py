"""plot_terminator_improvement: the terminator's estimates after each trial, both backends."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import tunelab as tl
from tunelab.terminator import (
    BestValueStagnationEvaluator,
    RegretBoundEvaluator,
    report_cross_validation_scores,
)
from tunelab.trial import TrialState

matplotlib.use("Agg")


def _objective(trial: tl.Trial) -> float:
    x = trial.suggest_float("x", -3, 3)
    y = trial.suggest_float("y", -3, 3)
    if trial.number == 1:
        raise ValueError("a failed trial adds a point with the previous estimate")
    noise = np.random.default_rng(trial.number).normal(0.0, 0.1, size=3)
    scores = x**2 + y**2 + noise
    report_cross_validation_scores(trial, scores.tolist())
    return float(scores.mean())


@pytest.fixture(scope="module")
def study() -> tl.Study:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=0))
    study.optimize(_objective, n_trials=12, catch=(ValueError,))
    return study


def test_each_point_is_the_evaluator_on_the_trials_completed_by_then(study: tl.Study) -> None:
    fig = tl.visualization.plot_terminator_improvement(
        study, plot_error=True, improvement_evaluator=RegretBoundEvaluator(seed=0), min_n_trials=5
    )
    solid, faint = [t for t in fig.data if t.name.startswith("Terminator")]
    # Trials before min_n_trials drawn faint, joined to the first trusted point.
    assert list(faint.x) == list(range(6))
    assert list(solid.x) == list(range(5, 12))
    completed = study.get_trials(states=(TrialState.COMPLETE,))
    by_then = [t for t in completed if t.number <= 7]
    expected = RegretBoundEvaluator(seed=0).evaluate(by_then, study.direction)
    # The bound's search for the largest upper confidence bound is randomised.
    assert solid.y[list(solid.x).index(7)] == pytest.approx(expected, rel=0.01)
    # The error series is the best trial's cross-validation spread: positive, finite.
    errors = [t for t in fig.data if t.name.startswith("Error")]
    assert errors and all(np.isfinite(e.y).all() and (np.asarray(e.y) > 0).all() for e in errors)


def test_the_error_needs_reported_fold_scores() -> None:
    study = tl.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    with pytest.raises(ValueError, match="report_cross_validation_scores"):
        tl.visualization.plot_terminator_improvement(study, plot_error=True)
    # Without the error, the improvement alone is drawn.
    fig = tl.visualization.plot_terminator_improvement(study)
    assert sum(len(t.x) for t in fig.data if "(fewer" not in t.name) == 0


def test_several_objectives_are_refused() -> None:
    study = tl.create_study(directions=["minimize", "minimize"])
    with pytest.raises(ValueError, match="one objective"):
        tl.visualization.plot_terminator_improvement(study)


def test_matplotlib_draws_the_stagnation_against_a_zero_error(study: tl.Study) -> None:
    ax = tl.visualization.matplotlib.plot_terminator_improvement(
        study, plot_error=True, improvement_evaluator=BestValueStagnationEvaluator()
    )
    improvement, error = ax.get_lines()
    assert list(improvement.get_xdata()) == list(range(12))
    assert set(error.get_ydata()) == {0.0}
