"""CmaEsSampler: search quality against random search, state rebuilt from history, options."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cmaes
import numpy as np
import pytest

import tunelab as tl
from tests.samplers import quality
from tests.samplers.contract import SEED_SPACE, SamplerContract, suggest
from tests.samplers.quality import better_on_every_seed_by_5x
from tunelab.samplers import RandomSampler
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._cmaes import CmaEsSampler
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial, Trial

SEEDS = range(5)


class TestCmaEsContract(SamplerContract):
    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return CmaEsSampler(seed=seed)

    def test_multi_objective_study(self) -> None:
        # CMA-ES ranks single values: a multi-objective study is refused, not mishandled.
        def objective(trial: Trial) -> tuple[float, float]:
            return suggest(trial, "x", SEED_SPACE["x"]), 0.0

        with pytest.raises(ValueError, match="CmaEsSampler optimises a single objective"):
            self.run(SEED_SPACE, objective, directions=("minimize", "maximize"))


N_TRIALS = 150


def rosenbrock4(trial: Trial) -> float:
    # The domain's centre (3, 3, 3, 3) is far from the optimum (1, 1, 1, 1).
    x = np.array([trial.suggest_float(f"x{i}", -2.0, 8.0) for i in range(4)])
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


SPHERE_CENTRE = np.array([4.0, -4.0, 3.5, -3.5, 4.0, -3.0])


def shifted_sphere6(trial: Trial) -> float:
    x = np.array([trial.suggest_float(f"x{i}", -5.0, 5.0) for i in range(6)])
    return float(np.sum((x - SPHERE_CENTRE) ** 2))


def best_values(
    make: Callable[[int], BaseSampler], objective: Callable[[Trial], float], **study: Any
) -> list[float]:
    return quality.best_values(make, objective, seeds=SEEDS, n_trials=N_TRIALS, **study)


@pytest.fixture
def cma_tells_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken CmaEsSampler: its optimizer never learns from the trials told."""
    monkeypatch.setattr(cmaes.CMA, "tell", lambda self, solutions: None)
    monkeypatch.setattr(cmaes.CMAwM, "tell", lambda self, solutions: None)


@pytest.mark.parametrize("objective", [rosenbrock4, shifted_sphere6])
def test_beats_random_search(objective: Callable[[Trial], float]) -> None:
    cma = best_values(lambda seed: CmaEsSampler(seed=seed), objective)
    rnd = best_values(lambda seed: RandomSampler(seed=seed), objective)
    assert better_on_every_seed_by_5x(cma, rnd), (cma, rnd)


@pytest.mark.parametrize("objective", [rosenbrock4, shifted_sphere6])
def test_a_sampler_that_tells_nothing_fails_the_same_check(
    objective: Callable[[Trial], float], cma_tells_nothing: None
) -> None:
    broken = best_values(lambda seed: CmaEsSampler(seed=seed), objective)
    rnd = best_values(lambda seed: RandomSampler(seed=seed), objective)
    assert not better_on_every_seed_by_5x(broken, rnd), (broken, rnd)


@pytest.mark.parametrize("variant", ["use_separable_cma", "lr_adapt"])
def test_optunas_cma_variants_beat_random_search_with_their_own_optimizer(variant: str) -> None:
    cma = best_values(lambda seed: CmaEsSampler(seed=seed, **{variant: True}), shifted_sphere6)
    rnd = best_values(lambda seed: RandomSampler(seed=seed), shifted_sphere6)
    # LRA-CMA-ES trades speed on easy objectives for robustness (Optuna's too reaches only
    # about 4 here in 150 trials): a looser bar than plain CMA-ES's.
    wins = sum(c < r for c, r in zip(cma, rnd, strict=True))
    assert wins >= 4 and np.median(cma) < 0.4 * np.median(rnd), (cma, rnd)
    sampler = CmaEsSampler(seed=0, **{variant: True})
    study = tl.create_study(sampler=sampler)
    study.optimize(shifted_sphere6, n_trials=12)
    optimizer = run_of(sampler).optimizer
    if variant == "use_separable_cma":
        assert isinstance(optimizer, cmaes.SepCMA)
    else:
        plain = CmaEsSampler(seed=0, with_margin=False)
        study.sampler = plain
        study.ask()
        assert isinstance(optimizer, cmaes.CMA)
        # The adapted learning rates move the mean differently from plain CMA-ES's.
        assert not np.allclose(optimizer.mean, run_of(plain).optimizer.mean)


def pruned_sphere(trial: Trial) -> float:
    value = shifted_sphere6(trial)
    trial.report(value, 1)
    raise tl.TrialPruned()


@pytest.mark.parametrize("consider", [True, False])
def test_pruned_trials_count_with_their_last_report_when_asked(consider: bool) -> None:
    sampler = CmaEsSampler(seed=0, consider_pruned_trials=consider)
    study = tl.create_study(sampler=sampler)
    study.optimize(pruned_sphere, n_trials=80)
    study.ask()
    if not consider:
        assert run_of(sampler) is None  # no completed trial: CMA-ES never starts
        return
    late = [t.intermediate_values[1] for t in study.trials[-21:-1]]
    early = [t.intermediate_values[1] for t in study.trials[:20]]
    assert np.median(late) < 0.3 * np.median(early)


def test_parameters_left_to_the_independent_sampler_are_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def objective(trial: Trial) -> float:
        trial.suggest_categorical("kind", ["a", "b"])
        return shifted_sphere6(trial)

    logger = logging.getLogger("tunelab")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="tunelab")
    try:
        for warn in (True, False):
            caplog.clear()
            study = tl.create_study(sampler=CmaEsSampler(seed=0, warn_independent_sampling=warn))
            study.optimize(objective, n_trials=6)
            messages = [r.getMessage() for r in caplog.records if "'kind'" in r.getMessage()]
            assert len(messages) == (1 if warn else 0), messages
    finally:
        logger.removeHandler(caplog.handler)


def test_maximisation_is_minimisation_of_the_negated_objective() -> None:
    cma = best_values(
        lambda seed: CmaEsSampler(seed=seed),
        lambda t: -shifted_sphere6(t),
        direction="maximize",
    )
    rnd = best_values(
        lambda seed: RandomSampler(seed=seed), lambda t: -shifted_sphere6(t), direction="maximize"
    )
    assert better_on_every_seed_by_5x([-v for v in cma], [-v for v in rnd]), (cma, rnd)


def mixed_objective(trial: Trial) -> float:
    a = trial.suggest_int("a", -10, 10)
    b = trial.suggest_int("b", 0, 30, step=3)
    c = trial.suggest_int("c", 1, 1000, log=True)
    x = trial.suggest_float("x", -3.0, 3.0)
    y = trial.suggest_float("y", 0.0, 1.0, step=0.1)
    return (a - 7) ** 2 + (b - 21) ** 2 / 9 + np.log(c / 50) ** 2 + x**2 + 10 * (y - 0.3) ** 2


@pytest.mark.parametrize("with_margin", [True, False])
def test_integer_and_step_parameters_stay_on_their_grids(with_margin: bool) -> None:
    for seed in range(3):
        study = tl.create_study(sampler=CmaEsSampler(seed=seed, with_margin=with_margin))
        study.optimize(mixed_objective, n_trials=N_TRIALS)
        for t in study.trials:
            assert isinstance(t.params["a"], int) and -10 <= t.params["a"] <= 10
            assert isinstance(t.params["b"], int) and t.params["b"] % 3 == 0
            assert isinstance(t.params["c"], int) and 1 <= t.params["c"] <= 1000
            assert abs(t.params["y"] * 10 - round(t.params["y"] * 10)) < 1e-9
        # Random search finds a=7 and b=21 together in about 1 of 5 such runs.
        assert (study.best_params["a"], study.best_params["b"]) == (7, 21)


def test_categorical_parameters_are_sampled_independently() -> None:
    sampler = CmaEsSampler(seed=0)
    study = tl.create_study(sampler=sampler)

    def objective(trial: Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        return shifted_sphere6(trial) + (0.0 if kind == "a" else 1.0)

    study.optimize(objective, n_trials=60)
    study.ask()
    space = sampler.infer_relative_search_space(StudyView(study), study.trials[-1])
    assert sorted(space) == [f"x{i}" for i in range(6)]
    assert {t.params["kind"] for t in study.trials if "kind" in t.params} == {"a", "b", "c"}


def cma_params(sampler: CmaEsSampler, study: tl.Study, trial: FrozenTrial) -> dict[str, Any]:
    """What ``sampler`` gives ``trial`` as its joint parameters, from the study's history."""
    view = StudyView(study)
    return sampler.sample_relative(view, trial, sampler.infer_relative_search_space(view, trial))


@pytest.mark.parametrize("with_margin", [True, False])
def test_a_fresh_sampler_rebuilds_every_trial_from_storage(
    tmp_path: Path, with_margin: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'cma.db'}"
    study = tl.create_study(
        study_name="s", storage=url, sampler=CmaEsSampler(seed=3, with_margin=with_margin)
    )
    rng = np.random.default_rng(0)
    in_flight: list[Trial] = []
    # Three workers: trials finish out of order, some fail, some are pruned.
    for _ in range(60):
        in_flight.append(study.ask())
        mixed_objective(in_flight[-1])
        if len(in_flight) == 3:
            trial = in_flight.pop(int(rng.integers(3)))
            outcome = rng.choice(["ok"] * 8 + ["fail", "prune"])
            if outcome == "ok":
                study.tell(trial, mixed_objective(trial))
            else:
                failed = outcome == "fail"
                study.tell(trial, state=tl.TrialState.FAIL if failed else tl.TrialState.PRUNED)
    fresh = CmaEsSampler(seed=3, with_margin=with_margin)
    reloaded = tl.load_study(study_name="s", storage=url, sampler=fresh)
    rebuilt = 0
    for trial in reloaded.trials:
        joint = cma_params(fresh, reloaded, trial)
        assert joint == {name: trial.params[name] for name in joint}
        rebuilt += bool(joint)
    assert rebuilt >= 50  # all but the startup trials
    other_seed = CmaEsSampler(seed=4, with_margin=with_margin)
    last = reloaded.trials[-1]
    assert cma_params(other_seed, reloaded, last) != cma_params(fresh, reloaded, last)


def test_parallel_asks_get_different_points_of_one_generation() -> None:
    study = tl.create_study(sampler=CmaEsSampler(seed=0, popsize=8))
    first = study.ask()
    study.tell(first, shifted_sphere6(first))
    trials = [study.ask() for _ in range(8)]
    points = {tuple(round(v, 12) for v in (shifted_sphere6(t), *t.params.values())) for t in trials}
    assert len(points) == 8


def run_of(sampler: CmaEsSampler) -> Any:
    assert sampler._cache is not None
    return sampler._cache[1].run


def test_generation_is_told_once_popsize_trials_complete() -> None:
    sampler = CmaEsSampler(seed=0, popsize=6)
    study = tl.create_study(sampler=sampler)
    study.optimize(shifted_sphere6, n_trials=1)
    gen0 = [study.ask() for _ in range(6)]
    for trial in gen0[:5]:
        study.tell(trial, shifted_sphere6(trial))
    study.ask()
    assert run_of(sampler).current == 0
    mean0 = run_of(sampler).optimizer.mean.copy()
    study.tell(gen0[5], shifted_sphere6(gen0[5]))
    study.ask()
    assert run_of(sampler).current == 1
    assert not np.allclose(run_of(sampler).optimizer.mean, mean0)


def constant(trial: Trial) -> float:
    trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_float("y", 0.0, 1.0)
    return 1.0


@pytest.mark.parametrize(
    ("strategy", "expected"), [(None, (0, 4)), ("ipop", (1, 8)), ("bipop", (1, 4))]
)
def test_restart_strategies_change_the_population_when_progress_stops(
    strategy: str | None, expected: tuple[int, int]
) -> None:
    # On a flat objective CMA-ES stops after 26 generations of 4 (its tolfun criterion).
    sampler = CmaEsSampler(seed=0, popsize=4, restart_strategy=strategy)
    study = tl.create_study(sampler=sampler)
    study.optimize(constant, n_trials=120)
    run = run_of(sampler)
    assert (run.restart, run.optimizer.population_size) == expected


@pytest.mark.parametrize("keyword", ["warm_start_trials", "source_trials"])
def test_warm_start_moves_the_initial_mean_toward_the_source_optimum(keyword: str) -> None:
    optimum = np.array([0.8, 0.15])

    def objective(trial: Trial) -> float:
        x = np.array([trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("y", 0.0, 1.0)])
        return float(np.sum((x - optimum) ** 2))

    source = tl.create_study(sampler=RandomSampler(seed=0))
    source.optimize(objective, n_trials=50)

    def first_generation_mean(sampler: CmaEsSampler) -> np.ndarray:
        study = tl.create_study(sampler=sampler)
        study.optimize(objective, n_trials=1)
        trials = [study.ask() for _ in range(20)]
        for trial in trials:
            objective(trial)
        return np.mean([[t.params["x"], t.params["y"]] for t in trials], axis=0)

    warm = first_generation_mean(CmaEsSampler(seed=1, **{keyword: source.trials}))
    cold = first_generation_mean(CmaEsSampler(seed=1))
    assert np.linalg.norm(warm - optimum) < 0.12
    assert np.linalg.norm(cold - optimum) > 0.3


def test_x0_and_sigma0_set_the_initial_distribution() -> None:
    sampler = CmaEsSampler(seed=0, x0={"x0": 4.0, "x1": -4.0}, sigma0=0.01)
    study = tl.create_study(sampler=sampler)
    study.optimize(shifted_sphere6, n_trials=1)
    trial = study.ask()
    shifted_sphere6(trial)
    assert abs(trial.params["x0"] - 4.0) < 0.5 and abs(trial.params["x1"] + 4.0) < 0.5
    assert abs(trial.params["x2"]) < 0.5  # the centre for parameters x0 does not name


def test_multi_objective_studies_are_refused_at_first_sample() -> None:
    study = tl.create_study(directions=["minimize", "minimize"], sampler=CmaEsSampler())
    with pytest.raises(ValueError, match="single objective.*NSGAIISampler"):
        study.ask()


def test_x0_outside_the_domain_is_reported_at_first_joint_sample() -> None:
    study = tl.create_study(sampler=CmaEsSampler(x0={"x0": 99.0}))
    study.optimize(shifted_sphere6, n_trials=1)
    with pytest.raises(ValueError, match=r"x0\['x0'\]=99.0"):
        study.ask()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials"),
        ({"sigma0": 0.0}, "sigma0"),
        ({"sigma0": float("nan")}, "sigma0"),
        ({"x0": [1.0]}, "x0"),
        ({"popsize": 3}, "popsize must be an integer >= 4"),
        ({"popsize": 5.0}, "popsize"),
        ({"restart_strategy": "sep"}, r"restart_strategy must be one of \[None, 'ipop', 'bipop'\]"),
        ({"inc_popsize": 1}, "inc_popsize"),
        ({"warm_start_trials": []}, "warm_start_trials must hold at least 10"),
        ({"source_trials": [1]}, "source_trials must be a sequence of FrozenTrial"),
        ({"source_trials": [], "warm_start_trials": []}, "not both"),
        ({"use_separable_cma": True, "lr_adapt": True}, "cannot be combined"),
        ({"use_separable_cma": True, "with_margin": True}, "with_margin=True"),
        ({"lr_adapt": True, "with_margin": True}, "with_margin=True"),
    ],
)
def test_invalid_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CmaEsSampler(**kwargs)


def test_warm_start_excludes_x0_and_sigma0() -> None:
    source = tl.create_study()
    source.optimize(shifted_sphere6, n_trials=10)
    with pytest.raises(ValueError, match="neither x0 nor sigma0"):
        CmaEsSampler(warm_start_trials=source.trials, sigma0=0.1)
