"""BOHBSampler: the contract, learning from intermediate values (and an inverted model that
must fail the same check), budget selection, Hyperband brackets, reproducibility, arguments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tests.samplers.contract import SEED_SPACE, SamplerContract, suggest
from tunelab.pruners import (
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    SuccessiveHalvingPruner,
)
from tunelab.samplers import BaseSampler, BOHBSampler, RandomSampler
from tunelab.samplers._bohb import FINAL_BUDGET, choose_budget, rung_steps
from tunelab.trial import FrozenTrial, TrialState


class TestBOHBContract(SamplerContract):
    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return BOHBSampler(seed=seed)

    def test_multi_objective_study(self) -> None:
        # BOHB ranks single values at a budget: several objectives are refused, not mishandled.
        def objective(trial: tl.Trial) -> tuple[float, float]:
            return suggest(trial, "x", SEED_SPACE["x"]), 0.0

        with pytest.raises(ValueError, match="BOHBSampler models a single objective"):
            self.run(SEED_SPACE, objective, directions=("minimize", "maximize"))


# -- search quality: proposals concentrate near the optimum --------------------------------------

OPTIMUM = np.array([0.25, 0.7])
N_STEPS = 27


def _curve(x: np.ndarray) -> np.ndarray:
    """Loss per step: the final loss plus a decaying term that ranks early steps differently."""
    final = float(np.sum((x - OPTIMUM) ** 2))
    early = 0.3 * float(np.sum((x - [0.6, 0.4]) ** 2)) + 0.2
    steps = np.arange(1, N_STEPS + 1)
    return final + early * (steps**-0.7 - N_STEPS**-0.7)


def _multi_fidelity(trial: tl.Trial) -> float:
    x = np.array([trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("y", 0.0, 1.0)])
    values = _curve(x)
    for step, value in enumerate(values, start=1):
        trial.report(float(value), step)
        if trial.should_prune():
            raise tl.TrialPruned()
    return float(values[-1])


def _fixed_stops(trial: tl.Trial) -> float:
    """The curve cut at a step set by the trial's number, not by its values (no pruner)."""
    x = np.array([trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("y", 0.0, 1.0)])
    values = _curve(x)
    stop = (1, 3, 9, N_STEPS)[trial.number % 4]
    for step, value in enumerate(values[:stop], start=1):
        trial.report(float(value), step)
    if stop < N_STEPS:
        raise tl.TrialPruned()
    return float(values[-1])


def _late_distance(sampler: BaseSampler, *, asha: bool, n_trials: int, late: int) -> float:
    """Mean distance to the optimum of the proposals after the first ``late`` trials."""
    study = tl.create_study(
        sampler=sampler,
        pruner=SuccessiveHalvingPruner(min_resource=1, reduction_factor=3) if asha else NopPruner(),
        heartbeat_interval=None,
    )
    study.optimize(_multi_fidelity if asha else _fixed_stops, n_trials=n_trials)
    points = np.array([[t.params["x"], t.params["y"]] for t in study.trials[late:]])
    return float(np.mean(np.linalg.norm(points - OPTIMUM, axis=1)))


class _InvertedBOHB(BOHBSampler):
    """Broken on purpose: models the worst trials at each budget as the good ones."""

    def _value_at(self, trial: FrozenTrial, budget: float) -> float | None:
        value = super()._value_at(trial, budget)
        return None if value is None else -value


def _concentrates(
    make: type[BOHBSampler], *, asha: bool, margin: float, n_trials: int, late: int, seeds: range
) -> bool:
    """Closer to the optimum than random search on every seed, by ``margin`` on the mean."""
    runs = {"asha": asha, "n_trials": n_trials, "late": late}
    model = [_late_distance(make(seed=seed), **runs) for seed in seeds]
    random = [_late_distance(RandomSampler(seed=seed), **runs) for seed in seeds]
    paired = all(m < r for m, r in zip(model, random, strict=True))
    return paired and float(np.mean(model)) < (1.0 - margin) * float(np.mean(random))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_it_learns_from_values_at_budgets_and_an_inverted_model_does_not() -> None:
    # Trials stop at steps 1, 3, 9 or 27 whatever their values: where a trial
    # stopped says nothing, so only the values it reported can guide the model
    # (measured: 0.33 from the optimum against 0.47 for random; inverted 0.6).
    check = {"asha": False, "margin": 0.2, "n_trials": 90, "late": 40, "seeds": range(3)}
    assert _concentrates(BOHBSampler, **check)
    assert not _concentrates(_InvertedBOHB, **check)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_proposals_concentrate_near_the_optimum_under_asha() -> None:
    # Low steps favour another point here, so the margin is smaller (measured:
    # 0.39 from the optimum against 0.47 for random search).
    assert _concentrates(BOHBSampler, asha=True, margin=0.1, n_trials=120, late=50, seeds=range(5))


def test_a_model_is_fitted_from_reports_alone() -> None:
    # No trial completes: BOHB learns from the values pruned trials reported at step 5.
    sampler = BOHBSampler(seed=0, random_fraction=0.0)
    study = tl.create_study(sampler=sampler, pruner=NopPruner(), heartbeat_interval=None)
    for _ in range(60):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.report((x - 0.8) ** 2, 5)
        study.tell(trial, state=TrialState.PRUNED)
    assert sampler.budget_for(study._view, 1) == 5
    late = [t.params["x"] for t in study.trials[30:]]
    # Uniform draws would be 0.3 from 0.8 on average.
    assert float(np.mean(np.abs(np.array(late) - 0.8))) < 0.12


# -- budgets --------------------------------------------------------------------------------------


def test_rung_steps_follow_the_pruner() -> None:
    assert rung_steps(SuccessiveHalvingPruner(min_resource=2, reduction_factor=3), 60) == [
        2,
        6,
        18,
        54,
    ]
    shifted = SuccessiveHalvingPruner(min_resource=1, reduction_factor=2, min_early_stopping_rate=2)
    assert rung_steps(shifted, 20) == [4, 8, 16]
    # Every bracket's rungs lie on one grid starting at min_resource.
    assert rung_steps(HyperbandPruner(min_resource=1, max_resource=27), 27) == [1, 3, 9, 27]
    assert rung_steps(SuccessiveHalvingPruner(), 100) is None  # min_resource not known yet
    assert rung_steps(MedianPruner(), 100) is None
    assert rung_steps(None, 100) is None


def test_choose_budget_takes_the_largest_with_enough_observations() -> None:
    # Enough completed trials: their objective values.
    assert choose_budget([27] * 5, 5, [1, 3, 9, 27], 5) == FINAL_BUDGET
    # Otherwise the highest rung that min_points trials reached (steps 9 and 10 reach 9).
    last = [1, 1, 2, 3, 4, 9, 10, 27]
    assert choose_budget(last, 1, [1, 3, 9, 27], 3) == 9
    assert choose_budget(last, 1, [1, 3, 9, 27], 4) == 3
    assert choose_budget(last, 1, [1, 3, 9, 27], 8) == 1
    # Without rungs, every reported step is a budget.
    assert choose_budget(last, 1, None, 4) == 4
    # Too few observations anywhere, or none at a rung: no model.
    assert choose_budget(last, 1, None, 9) is None
    assert choose_budget([1, 2], 0, [3, 9], 2) is None


def _tell(study: tl.Study, reports: dict[int, float], state: TrialState) -> None:
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    for step, value in reports.items():
        trial.report(value, step)
    if state == TrialState.COMPLETE:
        study.tell(trial, list(reports.values())[-1])
    elif state == TrialState.PRUNED:
        study.tell(trial, state=TrialState.PRUNED)


def test_budget_and_observations_of_a_study() -> None:
    sampler = BOHBSampler(seed=0, min_points_in_model=3, random_fraction=0.0)
    pruner = SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    study = tl.create_study(sampler=sampler, pruner=pruner, heartbeat_interval=None)
    _tell(study, {1: 0.9}, TrialState.PRUNED)
    _tell(study, {1: 0.5, 2: 0.4, 4: 0.3}, TrialState.PRUNED)  # its value at 3 is the one at 4
    _tell(study, {1: 0.7, 3: 0.2, 5: float("nan")}, TrialState.RUNNING)
    _tell(study, {1: 0.1, 3: 0.6, 9: 0.05}, TrialState.COMPLETE)
    view = study._view
    assert sampler.budget_for(view, 2) == 3  # three trials reached step 3; one completed
    trial = study.ask()
    sampler.sample_independent(view, study._storage.get_trial(trial._trial_id), "x", _X)
    model = sampler._models[(study.study_name, trial.number)]
    assert model is not None and model.budget == 3
    # Rows: the trial pruned at step 1 (ranked as bad), then the three values at step 3.
    assert (model.history.n_rows, model.n_good) == (4, 1)
    good, _ = model.history.split(np.arange(4), 1)
    assert good.tolist() == [2]  # the running trial's 0.2 at step 3 is the best there


_X = tl.distributions.FloatDistribution(0.0, 1.0)


# -- Hyperband -------------------------------------------------------------------------------------


def test_under_hyperband_the_model_sees_every_bracket() -> None:
    pruner = HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)
    sampler = BOHBSampler(seed=0, random_fraction=0.0)
    # Hyperband assigns brackets by hashing the study's name: a fixed name fixes them
    # (with a random one, now and then the asked trial's bracket held every trial).
    study = tl.create_study(
        study_name="bohb-brackets", sampler=sampler, pruner=pruner, heartbeat_interval=None
    )
    study.optimize(_multi_fidelity, n_trials=40)
    trial = study.ask()
    frozen = study._storage.get_trial(trial._trial_id)
    bracket_view = pruner._sampler_view(study._view, frozen)
    in_bracket = [t for t in bracket_view.get_trials() if t.state.is_finished()]
    assert 0 < len(in_bracket) < 40
    sampler.sample_independent(bracket_view, frozen, "x", _X)
    model = sampler._models[(study.study_name, trial.number)]
    assert model is not None
    # Every finished trial of the study is an observation, not only the bracket's.
    assert model.history.n_rows == 40


# -- a configuration already tried is not proposed again -----------------------------------------

CHOICES = {"a": [0, 1, 2], "b": ["p", "q", "r"], "c": [0.1, 1.0, 10.0]}  # 27 configurations


def _grid_objective(trial: tl.Trial) -> float:
    """Reports on steps 1..9 of a curve whose ranking is the same at every step."""
    params = [trial.suggest_categorical(name, choices) for name, choices in CHOICES.items()]
    final = params[0] + "pqr".index(params[1]) + math.log10(params[2]) ** 2
    for step in range(1, 10):
        trial.report(final + 1.0 / step, step)
        if trial.should_prune():
            raise tl.TrialPruned()
    return final


def _configurations(study: tl.Study) -> list[tuple[Any, ...]]:
    return [tuple(t.params[n] for n in CHOICES) for t in study.trials]


def _model_driven_search(seed: int, avoid_repeats: bool) -> list[tuple[Any, ...]]:
    study = tl.create_study(
        sampler=BOHBSampler(seed=seed, random_fraction=0.0, avoid_repeats=avoid_repeats),
        pruner=SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        heartbeat_interval=None,
    )
    study.optimize(_grid_objective, n_trials=20)
    return _configurations(study)


def test_the_model_proposes_configurations_not_tried_before() -> None:
    # 20 of 27 configurations, every trial after the first few drawn from a model that
    # concentrates on the best corner: repeats are certain unless they are passed over.
    for seed in range(3):
        assert len(set(_model_driven_search(seed, avoid_repeats=True))) == 20
    repeated = [20 - len(set(_model_driven_search(s, avoid_repeats=False))) for s in range(3)]
    assert min(repeated) > 0


def test_random_draws_pass_over_tried_configurations() -> None:
    # random_fraction=1: every trial a uniform draw, 20 of 27 configurations.
    def search(avoid_repeats: bool) -> list[tuple[Any, ...]]:
        sampler = BOHBSampler(seed=0, random_fraction=1.0, avoid_repeats=avoid_repeats)
        study = tl.create_study(sampler=sampler, heartbeat_interval=None)
        study.optimize(_grid_objective, n_trials=20)
        return _configurations(study)

    assert len(set(search(avoid_repeats=True))) == 20
    # 19 uniform draws after the first repeat one with probability > 0.999.
    assert len(set(search(avoid_repeats=False))) < 20


# -- reproducibility and arguments ----------------------------------------------------------------


def _params_under_asha(seed: int) -> list[dict[str, Any]]:
    study = tl.create_study(
        sampler=BOHBSampler(seed=seed),
        pruner=SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        heartbeat_interval=None,
    )
    study.optimize(_multi_fidelity, n_trials=30)
    return [t.params for t in study.trials]


def test_same_seed_same_proposals_under_pruning() -> None:
    assert _params_under_asha(5) == _params_under_asha(5)
    assert _params_under_asha(5) != _params_under_asha(6)


def _mean_x(random_fraction: float) -> float:
    study = tl.create_study(sampler=BOHBSampler(seed=1, random_fraction=random_fraction))
    study.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0) - 0.95) ** 2, n_trials=60)
    return float(np.mean([t.params["x"] for t in study.trials[20:]]))


def test_random_fraction_one_is_random_search() -> None:
    assert 0.35 < _mean_x(1.0) < 0.65  # uniform draws, though the optimum is at 0.95
    assert _mean_x(0.0) > 0.8  # the same study with the model on every trial


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_points_in_model": 0}, "min_points_in_model"),
        ({"min_points_in_model": 2.5}, "min_points_in_model"),
        ({"random_fraction": 1.5}, "random_fraction must be a number in"),
        ({"random_fraction": True}, "random_fraction"),
        ({"n_ei_candidates": 0}, "n_ei_candidates"),
        ({"prior_weight": -1.0}, "prior_weight"),
        ({"consider_endpoints": "yes"}, "consider_endpoints"),
        ({"gamma": 3}, "gamma"),
        ({"avoid_repeats": 1}, "avoid_repeats"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BOHBSampler(**kwargs)


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        BOHBSampler(0)  # type: ignore[misc]


def test_gamma_must_return_an_integer() -> None:
    study = tl.create_study(
        sampler=BOHBSampler(seed=0, random_fraction=0.0, gamma=lambda n: math.sqrt(n))
    )
    with pytest.raises(ValueError, match=r"gamma\(\d+\) must return an integer"):
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=10)
