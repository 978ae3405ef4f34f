"""MultiFidelityGPSampler: the contract, learning across budgets (and a model fed inverted
values that must fail the same check), its observations, untried configurations, arguments."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tests.samplers.contract import SEED_SPACE, SamplerContract, suggest
from tests.samplers.test_bohb import N_STEPS, OPTIMUM, _multi_fidelity
from tunelab.pruners import NopPruner, SuccessiveHalvingPruner
from tunelab.samplers import BaseSampler, MultiFidelityGPSampler, RandomSampler
from tunelab.samplers._gp import _multi_fidelity as mf
from tunelab.trial import TrialState


class TestMultiFidelityGPContract(SamplerContract):
    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return MultiFidelityGPSampler(seed=seed)

    def test_multi_objective_study(self) -> None:
        def objective(trial: tl.Trial) -> tuple[float, float]:
            return suggest(trial, "x", SEED_SPACE["x"]), 0.0

        with pytest.raises(ValueError, match="MultiFidelityGPSampler models a single objective"):
            self.run(SEED_SPACE, objective, directions=("minimize", "maximize"))


# -- search quality --------------------------------------------------------------------------------


class _Inverted(MultiFidelityGPSampler):
    """Broken on purpose: models every value with its sign flipped (the worst as the best)."""

    def _propose(self, search_space: Any, observations: Any, trials: Any) -> dict[str, Any]:
        flipped = mf._Observations(
            observations.params,
            observations.budgets,
            -observations.values,
            observations.full_budget,
        )
        return super()._propose(search_space, flipped, trials)


def _under_asha(sampler: BaseSampler) -> tl.Study:
    return tl.create_study(
        sampler=sampler,
        pruner=SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        heartbeat_interval=None,
    )


def _late_distance(sampler: BaseSampler, seed: int) -> float:
    """Mean distance to the optimum of the proposals after the first 25 of 60 trials."""
    study = _under_asha(sampler)
    study.optimize(_multi_fidelity, n_trials=60)
    points = np.array([[t.params["x"], t.params["y"]] for t in study.trials[25:]])
    return float(np.mean(np.linalg.norm(points - OPTIMUM, axis=1)))


def _concentrates(make: type[MultiFidelityGPSampler], seeds: range) -> bool:
    """Closer to the optimum than random search on every seed, by half on the mean."""
    model = [_late_distance(make(seed=seed), seed) for seed in seeds]
    random = [_late_distance(RandomSampler(seed=seed), seed) for seed in seeds]
    paired = all(m < r for m, r in zip(model, random, strict=True))
    return paired and float(np.mean(model)) < 0.5 * float(np.mean(random))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_it_learns_across_budgets_and_an_inverted_model_does_not() -> None:
    # Under successive halving most trials stop at step 1 or 3, where another point looks
    # best (see test_bohb._curve): the model must learn how low budgets relate to the last.
    # Measured: 0.002-0.003 from the optimum against 0.49-0.53 for random search, and
    # 0.93-1.02 for the inverted model (seeds 0-2).
    assert _concentrates(MultiFidelityGPSampler, range(3))
    assert not _concentrates(_Inverted, range(3))


def test_a_model_is_fitted_from_reports_alone() -> None:
    # No trial completes: the model learns from the values pruned trials reported at step 5.
    study = tl.create_study(
        sampler=MultiFidelityGPSampler(seed=0), pruner=NopPruner(), heartbeat_interval=None
    )
    for _ in range(30):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.report((x - 0.8) ** 2, 5)
        study.tell(trial, state=TrialState.PRUNED)
    late = [t.params["x"] for t in study.trials[10:]]
    # Uniform draws would be 0.3 from 0.8 on average.
    assert float(np.mean(np.abs(np.array(late) - 0.8))) < 0.1


def test_past_100_observations_the_fit_waits_for_5_percent_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Refitting on every trial was most of a proposal's cost; the schedule is GPSampler's.
    sizes: list[int] = []
    fit = mf.fit_hyperparameters

    def counted(x: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(x))
        return fit(x, *args, **kwargs)

    monkeypatch.setattr(mf, "fit_hyperparameters", counted)
    study = tl.create_study(
        sampler=MultiFidelityGPSampler(seed=0, n_candidates=32, n_restarts=1),
        pruner=NopPruner(),
        heartbeat_interval=None,
    )
    for _ in range(160):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.report((x - 0.8) ** 2, 5)
        study.tell(trial, state=TrialState.PRUNED)
    # One observation per trial: every proposal refits up to 100 observations.
    assert [n for n in sizes if n <= 100] == list(range(2, 101))
    late = [n for n in sizes if n > 100]
    assert all(b >= 1.05 * a for a, b in itertools.pairwise(late))
    assert 4 <= len(late) <= 12  # 101 -> 159 grows by 5 % about 9 times
    late_x = [t.params["x"] for t in study.trials[120:]]
    assert float(np.mean(np.abs(np.array(late_x) - 0.8))) < 0.1


# -- observations -------------------------------------------------------------------------------


def test_observations_are_the_rung_values_and_the_final_values() -> None:
    study = _under_asha(MultiFidelityGPSampler(seed=0))
    study.optimize(_multi_fidelity, n_trials=12)
    trials = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    observed = mf._observations(study._view, trials)
    assert observed is not None
    assert observed.full_budget == N_STEPS
    # Steps 1, 3, 9 are the rungs; the full budget holds the completed trials' values.
    assert set(observed.budgets) <= {1.0, 3.0, 9.0, float(N_STEPS)}
    complete = [t.value for t in trials if t.state == TrialState.COMPLETE]
    assert complete
    assert sorted(observed.values[observed.budgets == N_STEPS]) == sorted(complete)
    first = trials[0]
    assert observed.params[0] == first.params
    assert observed.budgets[0] == 1.0 and observed.values[0] == first.intermediate_values[1]
    # The budget column puts the smallest budget at 0 and the full one at 1.
    assert observed.budget_column(np.array([1.0, float(N_STEPS)])).tolist() == [0.0, 1.0]


def test_without_a_rung_pruner_the_budgets_are_a_geometric_grid() -> None:
    assert mf._geometric([1, 2, 3, 5, 9, 10, 27, 30]) == [1, 3, 9, 27]
    assert mf._geometric([0, 4, 12]) == [4, 12]


def test_a_maximised_objective_is_modelled_as_its_negation() -> None:
    study = tl.create_study(direction="maximize", heartbeat_interval=None)
    study.enqueue_trial({"x": 0.5})
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    observed = mf._observations(study._view, study.trials)
    assert observed is not None and observed.values.tolist() == [-0.5]


# -- finite spaces --------------------------------------------------------------------------------


def _grid_objective(trial: tl.Trial) -> float:
    a = trial.suggest_categorical("a", [0, 1, 2])
    b = trial.suggest_int("b", 0, 2)
    c = trial.suggest_categorical("c", ["x", "y", "z"])
    final = (a - 2) ** 2 + (b - 2) ** 2 + (c != "z")
    for step in (1, 3):
        trial.report(final + 1.0 / step, step)
        if trial.should_prune():
            raise tl.TrialPruned()
    return final


def test_finite_spaces_get_configurations_no_trial_ran() -> None:
    # 20 of 27 configurations, the model concentrating on the best corner: a repeat is
    # near certain unless tried configurations are passed over.
    for seed in range(3):
        study = _under_asha(MultiFidelityGPSampler(seed=seed))
        study.optimize(_grid_objective, n_trials=20)
        configurations = [tuple(t.params.values()) for t in study.trials]
        # The model has its 4 distinct configurations by trial 8 on these seeds.
        assert all(c not in configurations[:k] for k, c in enumerate(configurations) if k >= 8)
        assert min(t.value for t in study.trials if t.value is not None) <= 1.0


def test_once_every_configuration_ran_one_that_never_completed_runs_again() -> None:
    # Completed configurations are known; a pruned one may have been pruned by an unlucky
    # rung. A random repeat (what the sampler fell back to before) picks a completed
    # configuration half the time: over 5 seeds it would pass with probability 1/32.
    choices = ["a", "b", "c", "d"]
    runs = {"a": [2.0, 1.0], "b": [3.0, 2.0], "c": [2.5], "d": [3.5]}
    for seed in range(5):
        study = tl.create_study(
            sampler=MultiFidelityGPSampler(seed=seed, min_points_in_model=1),
            heartbeat_interval=None,
        )
        for choice, reports in runs.items():
            study.enqueue_trial({"k": choice})
            trial = study.ask()
            trial.suggest_categorical("k", choices)
            for step, value in zip((1, 3), reports, strict=False):
                trial.report(value, step)
            if len(reports) == 2:
                study.tell(trial, reports[-1])
            else:
                study.tell(trial, state=TrialState.PRUNED)
        trial = study.ask()
        assert trial.suggest_categorical("k", choices) in ("c", "d")


def test_enumeration_covers_every_configuration() -> None:
    space = {
        "a": tl.distributions.CategoricalDistribution([0, 1, 2]),
        "b": tl.distributions.IntDistribution(0, 3),
    }
    input_space = mf.InputSpace(space)
    points = mf._enumerate(input_space, space, 100)
    assert points is not None and len(points) == 12
    decoded = {tuple(input_space.decode(p).values()) for p in points}
    assert len(decoded) == 12
    assert mf._enumerate(input_space, space, 11) is None
    continuous = {"x": tl.distributions.FloatDistribution(0.0, 1.0)}
    assert mf._enumerate(mf.InputSpace(continuous), continuous, 100) is None


# -- reproducibility and arguments ----------------------------------------------------------------


def test_same_seed_same_proposals_under_pruning() -> None:
    def params(seed: int) -> list[dict[str, Any]]:
        study = _under_asha(MultiFidelityGPSampler(seed=seed))
        study.optimize(_multi_fidelity, n_trials=15)
        return [t.params for t in study.trials]

    assert params(5) == params(5)
    assert params(5) != params(6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_points_in_model": 0}, "min_points_in_model"),
        ({"n_candidates": 0}, "n_candidates"),
        ({"n_restarts": 0}, "n_restarts"),
        ({"max_enumerated": -1}, "max_enumerated"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultiFidelityGPSampler(**kwargs)


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        MultiFidelityGPSampler(0)  # type: ignore[misc]
