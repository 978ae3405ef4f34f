"""Infinite objective values are results, as in Optuna: every sampler keeps working on them."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tunelab as tl
from tunelab.samplers._gp._transform import normalize_objective


def _objective(trial: tl.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    n = trial.suggest_int("n", 0, 10)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    if trial.number % 4 == 1:
        return math.inf  # e.g. a diverged training run
    if trial.number % 7 == 3:
        return -math.inf
    return x * x + n + (kind == "a")


@pytest.mark.slow
@pytest.mark.parametrize(
    "sampler", ["TPESampler", "GPSampler", "CmaEsSampler", "NSGAIISampler", "QMCSampler"]
)
def test_samplers_run_cleanly_on_infinite_results(sampler: str) -> None:
    study = tl.create_study(sampler=getattr(tl.samplers, sampler)(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no NaN arithmetic inside a sampler
        study.optimize(_objective, n_trials=20)
    states = {t.state for t in study.trials}
    assert states == {tl.TrialState.COMPLETE}
    assert study.best_value == -math.inf
    assert all(-5 <= t.params["x"] <= 5 for t in study.trials)


def test_gp_objective_encoding_places_infinities_at_the_finite_extremes() -> None:
    values = np.array([3.0, math.inf, 1.0, -math.inf, 2.0])
    z = normalize_objective(values)
    assert np.all(np.isfinite(z))
    # +inf ties with the worst finite value, -inf with the best; order is kept.
    assert z[1] == z[0] == z.max() and z[3] == z[2] == z.min()
    assert z[2] < z[4] < z[0]
    assert np.all(np.isfinite(normalize_objective(np.array([math.inf, math.inf]))))
