"""Pruned trials teach the sampler: LearningCurvePruner.predict_final and BOHB's use of it.

Most trials of a search under a learning-curve pruner are pruned. Their
forecast final values say which configurations were good; a sampler that
ranks them only as "pruned" learns from the few completed runs alone. The
statistical check: with two completed runs far from the optimum and many
pruned runs spread over the space, BOHB's proposals must gather near the
optimum; variants whose forecasts are missing or inverted must not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tests.pruners.replay import complete, make_study
from tunelab.pruners import LearningCurvePruner
from tunelab.samplers import BOHBSampler
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial

OPTIMUM = 0.3
N_STEPS = 30
STEPS = np.arange(N_STEPS, dtype=float)


def _curve(x: float) -> np.ndarray:
    """Loss per step: ends near ``(x - OPTIMUM)**2``, falling like a power law on the way."""
    return (x - OPTIMUM) ** 2 + 0.5 * (STEPS + 1) ** -0.7


class NoForecasts(LearningCurvePruner):
    """Broken: never forecasts, so pruned trials teach the sampler nothing."""

    def predict_final(self, study: StudyView, trial: FrozenTrial) -> float | None:
        return None


class InvertedForecasts(LearningCurvePruner):
    """Broken: the forecast's sign is flipped, so the worst runs look best."""

    def predict_final(self, study: StudyView, trial: FrozenTrial) -> float | None:
        value = super().predict_final(study, trial)
        return None if value is None else -value


def _proposals(pruner: LearningCurvePruner, seed: int, n: int = 60) -> np.ndarray:
    """BOHB's proposals for x after 2 completed runs far from the optimum and 40 pruned runs."""
    sampler = BOHBSampler(seed=seed, random_fraction=0.0, min_points_in_model=2)
    study = tl.create_study(sampler=sampler, pruner=pruner, heartbeat_interval=None)
    rng = np.random.default_rng(seed)

    def tell(x: float, n_steps: int, state: tl.TrialState) -> None:
        study.enqueue_trial({"x": x})
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        noisy = _curve(x) + 0.002 * rng.standard_normal(N_STEPS)
        for step in range(n_steps):
            trial.report(float(noisy[step]), step)
        if state == tl.TrialState.COMPLETE:
            study.tell(trial, float(noisy[n_steps - 1]))
        else:
            study.tell(trial, state=state)

    for x in (0.85, 0.95):
        tell(x, N_STEPS, tl.TrialState.COMPLETE)
    for x in rng.uniform(0.0, 1.0, 40):
        tell(float(x), 8, tl.TrialState.PRUNED)
    proposals = []
    for _ in range(n):
        trial = study.ask()
        proposals.append(trial.suggest_float("x", 0.0, 1.0))
        study.tell(trial, state=tl.TrialState.FAIL)
    return np.asarray(proposals)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "broken"),
    [(LearningCurvePruner, False), (NoForecasts, True), (InvertedForecasts, True)],
    ids=["forecasts", "broken-no-forecasts", "broken-inverted"],
)
def test_bohb_learns_from_pruned_trials_forecasts(make: Any, broken: bool) -> None:
    near = [
        float(np.mean(np.abs(_proposals(make(max_resource=N_STEPS - 1), seed) - OPTIMUM) < 0.15))
        for seed in range(3)
    ]
    # Uniform proposals land within 0.15 of the optimum 30 % of the time.
    passes = float(np.mean(near)) >= 0.6
    assert passes is not broken, near


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_predict_final_extrapolates_to_the_full_budget(direction: str) -> None:
    sign = 1.0 if direction == "minimize" else -1.0
    pruner = LearningCurvePruner(max_resource=N_STEPS - 1)
    study = make_study(pruner, direction)
    complete(study, list(sign * _curve(0.9)))
    trial = study.ask()
    for step, value in enumerate(sign * _curve(0.5)[:10]):
        trial.report(float(value), step)
    frozen = study._storage.get_trial(trial._trial_id)
    predicted = pruner.predict_final(study._view, frozen)
    assert predicted is not None
    final, at_step_9 = _curve(0.5)[-1], _curve(0.5)[9]
    # Closer to the value at the full budget than to the last report.
    assert abs(sign * predicted - final) < 0.25 * abs(at_step_9 - final)


def test_predict_final_needs_min_points_and_a_horizon() -> None:
    pruner = LearningCurvePruner(min_points=5)
    study = make_study(pruner)
    trial = study.ask()
    for step, value in enumerate(_curve(0.5)[:10]):
        trial.report(float(value), step)
    frozen = study._storage.get_trial(trial._trial_id)
    # max_resource="auto" takes the horizon from completed runs: there are none yet.
    assert pruner.predict_final(study._view, frozen) is None
    complete(study, list(_curve(0.9)))
    assert pruner.predict_final(study._view, frozen) is not None
    short = study.ask()
    for step, value in enumerate(_curve(0.5)[:4]):
        short.report(float(value), step)
    assert pruner.predict_final(study._view, study._storage.get_trial(short._trial_id)) is None
