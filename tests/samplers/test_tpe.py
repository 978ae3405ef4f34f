"""TPESampler: search quality against random search (and broken TPEs), conditional and
multi-objective studies, constant liar, the observation cache, reproducibility, arguments."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tests.samplers import quality
from tests.samplers.contract import SamplerContract
from tunelab.samplers import RandomSampler
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._tpe import TPESampler, _axes, _draw
from tunelab.samplers._tpe._history import History
from tunelab.samplers._tpe._parzen import Kernels, Observations, ParzenEstimator
from tunelab.samplers._tpe._ranking import best_rows_multi, nondominated
from tunelab.space import BaseDistribution
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial, Trial, TrialState


class TestTPEContract(SamplerContract):
    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return TPESampler(seed=seed)


SEEDS = range(7)
# Trials per study in the search-quality checks: 10 random, then 70 by the model.
BUDGET = 80
N_TRIALS = 40


def quadratic(trial: Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_float("y", -5.0, 5.0)
    return (x - 1.3) ** 2 + (y + 0.7) ** 2


def branin(trial: Trial) -> float:
    """Branin-Hoo shifted so its minimum is 0."""
    x = trial.suggest_float("x", -5.0, 10.0)
    y = trial.suggest_float("y", 0.0, 15.0)
    a = y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6
    return a**2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10 - 0.397887


def activation_and_rates(trial: Trial) -> float:
    """A categorical choice plus a float and a log-scaled float; the minimum is 0."""
    act = trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
    x = trial.suggest_float("x", -5.0, 5.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    return (
        {"relu": 0.0, "tanh": 1.5, "gelu": 3.0}[act]
        + (x - 2) ** 2 / 4
        + (math.log10(lr) + 3) ** 2 / 4
    )


def model_choice(trial: Trial) -> float:
    """A conditional space: each model has its own parameters; the minimum is 0."""
    model = trial.suggest_categorical("model", ["linear", "tree"])
    if model == "linear":
        c = trial.suggest_float("c", 1e-3, 1e3, log=True)
        return 1.0 + 0.5 * (math.log10(c) - 1) ** 2
    depth = trial.suggest_int("depth", 1, 16)
    rate = trial.suggest_float("rate", 0.0, 1.0)
    return 0.2 * abs(depth - 11) + 4 * (rate - 0.2) ** 2


PROBLEMS = [quadratic, branin, activation_and_rates, model_choice]


def best_values(
    make: Callable[[int], BaseSampler], objective: Callable[[Trial], float]
) -> list[float]:
    return quality.best_values(make, objective, seeds=SEEDS, n_trials=BUDGET)


def clearly_better(candidate: list[float], baseline: list[float]) -> bool:
    """A median below a third of the baseline's, and better on 6 seeds of 7 at least.

    TPE clears both by far (medians 6x to 1000x lower on these problems); random
    search with another stream, or a TPE blind to the history, wins about half
    the seeds with a median within 2x.
    """
    wins = sum(c < b for c, b in zip(candidate, baseline, strict=True))
    return float(np.median(candidate)) < float(np.median(baseline)) / 3 and wins >= 6


class HistoryBlindTPE(TPESampler):
    """Broken on purpose: it ignores the history and returns a random candidate."""

    def _sample(
        self, study_name: str, history: History, trial: FrozenTrial, space: Any
    ) -> dict[str, Any]:
        return _draw.draw_uniform(space, self._rng)


@pytest.fixture
def good_and_bad_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken on purpose: l(x) is fitted to the worst trials and g(x) to the best."""
    split = History.split

    def swapped(self: History, rows: np.ndarray, n_good: int) -> tuple[np.ndarray, np.ndarray]:
        good, bad = split(self, rows, max(len(rows) - n_good, 1))
        return bad, good

    monkeypatch.setattr(History, "split", swapped)


@pytest.fixture(scope="module")
def random_results() -> dict[str, list[float]]:
    return {f.__name__: best_values(lambda s: RandomSampler(seed=s), f) for f in PROBLEMS}


@pytest.mark.parametrize("objective", PROBLEMS)
@pytest.mark.parametrize("multivariate", [True, False])
def test_beats_random_search(
    objective: Callable[[Trial], float],
    multivariate: bool,
    random_results: dict[str, list[float]],
) -> None:
    tpe = best_values(lambda s: TPESampler(seed=s, multivariate=multivariate), objective)
    rnd = random_results[objective.__name__]
    assert clearly_better(tpe, rnd), (tpe, rnd)


@pytest.mark.parametrize("objective", PROBLEMS)
def test_a_tpe_that_ignores_history_fails_the_same_check(
    objective: Callable[[Trial], float], random_results: dict[str, list[float]]
) -> None:
    blind = best_values(lambda s: HistoryBlindTPE(seed=s), objective)
    rnd = random_results[objective.__name__]
    assert not clearly_better(blind, rnd), (blind, rnd)


@pytest.mark.parametrize("objective", PROBLEMS)
def test_a_tpe_with_good_and_bad_swapped_fails_the_same_check(
    objective: Callable[[Trial], float],
    random_results: dict[str, list[float]],
    good_and_bad_swapped: None,
) -> None:
    swapped = best_values(lambda s: TPESampler(seed=s), objective)
    rnd = random_results[objective.__name__]
    assert not clearly_better(swapped, rnd), (swapped, rnd)


def test_maximisation_is_minimisation_of_the_negated_objective() -> None:
    values = []
    for seed in SEEDS:
        study = tl.create_study(sampler=TPESampler(seed=seed), direction="maximize")
        study.optimize(lambda t: -quadratic(t), n_trials=BUDGET)
        values.append(-study.best_value)
    rnd = best_values(lambda s: RandomSampler(seed=s), quadratic)
    assert clearly_better(values, rnd), (values, rnd)


# -- conditional spaces ---------------------------------------------------------------------------
def relative_space(sampler: TPESampler, study: tl.Study) -> dict[str, BaseDistribution]:
    trial = study.ask()
    space = sampler.infer_relative_search_space(StudyView(study), trial._snapshot())
    study.tell(trial, state=TrialState.FAIL)
    return space


def test_groups_make_every_conditional_parameter_relative() -> None:
    grouped, flat = TPESampler(seed=0), TPESampler(seed=0, group=False)
    spaces = []
    for sampler in (grouped, flat):
        study = tl.create_study(sampler=sampler)
        study.optimize(model_choice, n_trials=20)
        assert {t.params["model"] for t in study.trials} == {"linear", "tree"}
        spaces.append(relative_space(sampler, study))
    assert sorted(spaces[0]) == ["c", "depth", "model", "rate"]
    assert sorted(spaces[1]) == ["model"]  # only what every trial has


def test_each_branch_is_modelled_on_the_trials_that_took_it() -> None:
    sampler = TPESampler(seed=1)
    study = tl.create_study(sampler=sampler)
    study.optimize(model_choice, n_trials=N_TRIALS)
    late = [t for t in study.trials[20:] if t.params["model"] == "tree"]
    assert len(late) >= 10
    # Within the tree branch, depth and rate close in on (11, 0.2) together.
    assert np.median([abs(t.params["depth"] - 11) for t in late]) <= 2
    assert np.median([abs(t.params["rate"] - 0.2) for t in late]) <= 0.15
    view = StudyView(study)
    trial = study.ask()._snapshot()
    joint = sampler.sample_relative(view, trial, sampler.infer_relative_search_space(view, trial))
    assert set(joint) == {"model", "c", "depth", "rate"}


# -- categorical, log, integer and step parameters ------------------------------------------------
def test_categorical_kernels_keep_every_choice_possible() -> None:
    kernels = Kernels(
        n_choices=[4], min_bandwidth=np.zeros(0), consider_endpoints=False, prior_weight=1.0
    )
    observed = np.zeros((1, 30), dtype=np.intp)  # always choice 0
    estimator = ParzenEstimator(Observations(np.zeros((0, 30)), observed, np.ones(30)), kernels)
    log_p = estimator.log_pdf(np.zeros((0, 4)), np.arange(4)[None, :])
    assert np.isclose(np.exp(log_p).sum(), 1.0)
    assert log_p[0] > np.log(0.8) and np.all(np.isfinite(log_p)) and np.all(log_p[1:] > -6)
    _, drawn = estimator.sample(np.random.default_rng(0), 4000)
    assert set(np.unique(drawn)) == {0, 1, 2, 3}


def test_numeric_density_integrates_to_one_and_matches_its_samples() -> None:
    kernels = Kernels(
        n_choices=[], min_bandwidth=np.zeros(1), consider_endpoints=False, prior_weight=1.0
    )
    mu = np.array([[0.02, 0.3, 0.35, 0.9]])
    estimator = ParzenEstimator(Observations(mu, np.zeros((0, 4)), np.ones(4)), kernels)
    grid = (np.arange(2000) + 0.5) / 2000
    density = np.exp(estimator.log_pdf(grid[None, :], np.zeros((0, 2000), dtype=np.intp)))
    assert abs(density.mean() - 1.0) < 1e-3  # truncated kernels keep their whole mass
    drawn, _ = estimator.sample(np.random.default_rng(0), 100_000)
    histogram, _ = np.histogram(drawn[0], bins=10, range=(0.0, 1.0))
    expected = density.reshape(10, 200).mean(axis=1) / 10
    assert np.allclose(histogram / 100_000, expected, atol=0.01)


def test_integer_log_and_step_parameters_converge_on_their_grids() -> None:
    def objective(trial: Trial) -> float:
        units = trial.suggest_int("units", 1, 1024, log=True)
        drop = trial.suggest_float("drop", 0.0, 0.5, step=0.05)
        layers = trial.suggest_int("layers", 0, 12, step=3)
        return abs(math.log2(units) - 6) + 10 * abs(drop - 0.2) + abs(layers - 6)

    hits = 0
    for seed in range(3):
        study = tl.create_study(sampler=TPESampler(seed=seed))
        study.optimize(objective, n_trials=60)
        for t in study.trials:
            assert type(t.params["units"]) is int and 1 <= t.params["units"] <= 1024
            assert t.params["layers"] in {0, 3, 6, 9, 12}
            assert abs(t.params["drop"] / 0.05 - round(t.params["drop"] / 0.05)) < 1e-9
        hits += study.best_value < 0.5
        late = study.trials[30:]
        assert np.median([t.params["layers"] for t in late]) == 6
        assert 16 <= np.median([t.params["units"] for t in late]) <= 256
    # Random search reaches 0.5 in about one run in ten.
    assert hits >= 2


# -- pruned trials and several objectives ---------------------------------------------------------
def test_pruned_trials_rank_after_completed_ones() -> None:
    study = tl.create_study()
    for value in [5.0, 3.0, 9.0, 1.0]:
        study.tell(study.ask({"x": tl.space.FloatDistribution(0, 1)}), value)
    for step, value in [(2, -100.0), (7, 50.0), (7, 40.0)]:
        trial = study.ask({"x": tl.space.FloatDistribution(0, 1)})
        for s in range(step + 1):
            trial.report(value, s)
        study.tell(trial, state=TrialState.PRUNED)
    history = History(study.directions)
    history.sync(study.trials)
    rows = np.arange(history.n_rows)  # every trial is a row: row i is trial i
    good, _ = history.split(rows, 2)
    assert sorted(good) == [1, 3]  # values 3 and 1, not the pruned -100
    good, _ = history.split(rows, 6)
    # Then pruned trials that got further first (step 7: 40 before 50), -100 (step 2) last.
    assert sorted(good) == [0, 1, 2, 3, 5, 6]


def test_nondominated_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for n, m in [(1, 2), (50, 2), (300, 3), (200, 2)]:
        points = rng.integers(0, 12, size=(n, m)).astype(float)  # with ties
        brute = [not any(np.all(q <= p) and np.any(q < p) for q in points) for p in points]
        assert nondominated(points).tolist() == brute


def test_good_set_takes_whole_pareto_fronts_first() -> None:
    values = np.array([[0, 3], [1, 1], [3, 0], [2, 2], [4, 4], [1, 2], [5, 5]], dtype=float)
    kind = np.zeros(len(values), dtype=np.int8)
    assert sorted(best_rows_multi(kind, values, 3)) == [0, 1, 2]
    assert sorted(best_rows_multi(kind, values, 5)) == [0, 1, 2, 3, 5]
    kind[0] = 1  # pruned: after every completed trial
    assert 0 not in best_rows_multi(kind, values, 6)


def hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    front = points[nondominated(points)]
    front = front[np.argsort(front[:, 0])]
    volume, previous = 0.0, reference[1]
    for x, y in front:
        volume += max(reference[0] - x, 0.0) * max(previous - y, 0.0)
        previous = min(previous, y)
    return volume


def test_multi_objective_front_beats_random_search() -> None:
    def objective(trial: Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", -5.0, 5.0)
        y = trial.suggest_float("y", -5.0, 5.0)
        return x**2 + y**2, (x - 2) ** 2 + y**2

    def volumes(make: Callable[[int], BaseSampler]) -> list[float]:
        out = []
        for seed in SEEDS:
            study = tl.create_study(sampler=make(seed), directions=["minimize", "minimize"])
            study.optimize(objective, n_trials=N_TRIALS)
            points = np.array([t.values for t in study.trials])
            out.append(hypervolume_2d(points, np.array([8.0, 8.0])))
        return out

    tpe, rnd = volumes(lambda s: TPESampler(seed=s)), volumes(lambda s: RandomSampler(seed=s))
    assert sum(t > r for t, r in zip(tpe, rnd, strict=True)) >= 6, (tpe, rnd)
    assert np.median(tpe) > np.median(rnd) + 3.0, (tpe, rnd)


# -- constant liar --------------------------------------------------------------------------------
def closest_pair(points: np.ndarray) -> float:
    gaps = np.sqrt(((points[:, None] - points[None]) ** 2).sum(axis=-1))
    return float(gaps[np.triu_indices(len(points), 1)].min())


def asked_ahead(constant_liar: bool, seed: int) -> np.ndarray:
    """Six trials asked in a row before any is told, on [0, 1]^2."""
    study = tl.create_study(sampler=TPESampler(seed=seed, constant_liar=constant_liar))
    study.optimize(quadratic, n_trials=N_TRIALS)
    # The objective only asks for its parameters after all six trials started:
    # the liar has to count what it chose for the others, not what storage holds.
    trials = [study.ask() for _ in range(6)]
    return (
        np.array([[t.suggest_float("x", -5, 5), t.suggest_float("y", -5, 5)] for t in trials]) / 10
    )


def test_constant_liar_spreads_trials_asked_before_any_is_told() -> None:
    with_liar = [closest_pair(asked_ahead(True, seed)) for seed in SEEDS]
    without = [closest_pair(asked_ahead(False, seed)) for seed in SEEDS]
    assert min(with_liar) > 0.04, with_liar
    assert np.median(with_liar) > 3 * np.median(without), (with_liar, without)


def test_constant_liar_counts_stored_parameters_of_running_trials() -> None:
    sampler = TPESampler(seed=0, constant_liar=True)
    study = tl.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=N_TRIALS)
    space = {"x": tl.space.FloatDistribution(-5, 5), "y": tl.space.FloatDistribution(-5, 5)}
    points = np.array([list(study.ask(space).params.values()) for _ in range(6)]) / 10
    assert closest_pair(points) > 0.04
    for trial in study.trials[-6:]:
        study.tell(trial.number, 1.0)
    assert not sampler._pending  # forgotten once told


# -- the observation cache and reproducibility ----------------------------------------------------
def test_each_finished_trial_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    encode = _axes.Axis.encode

    def counting(self: _axes.Axis, internal: float) -> float:
        nonlocal calls
        calls += 1
        return encode(self, internal)

    monkeypatch.setattr(_axes.Axis, "encode", counting)
    study = tl.create_study(sampler=TPESampler(seed=0))
    study.optimize(activation_and_rates, n_trials=60)
    assert 0 < calls <= 3 * 60  # re-encoding the history on every ask would take ~5,000


def test_one_sampler_moved_between_studies_keeps_them_apart() -> None:
    sampler = TPESampler(seed=0)
    one, two = tl.create_study(sampler=sampler), tl.create_study(sampler=sampler)
    for _ in range(30):
        one.optimize(quadratic, n_trials=1)
        two.optimize(lambda t: -quadratic(t), n_trials=1)
    # Each study's late trials move towards its own optimum: (1.3, -0.7) or a corner.
    late_one = [abs(t.params["x"] - 1.3) for t in one.trials[15:]]
    late_two = [abs(t.params["x"] - 1.3) for t in two.trials[15:]]
    assert np.median(late_one) < 2.0 < np.median(late_two)


def test_a_parameter_seen_with_two_distributions_is_sampled_on_its_own() -> None:
    def objective(trial: Trial, high: float) -> float:
        return trial.suggest_float("w", 0.0, high) + trial.suggest_float("y", -5.0, 5.0) ** 2

    sampler = TPESampler(seed=0)
    study = tl.create_study(sampler=sampler)
    for high in [1.0] * 8 + [2.0] * 8:
        study.optimize(lambda t, h=high: objective(t, h), n_trials=1)
    assert sorted(relative_space(sampler, study)) == ["y"]  # w's distribution changed
    study.optimize(lambda t: objective(t, 2.0), n_trials=10)
    assert all(0.0 <= t.params["w"] <= 2.0 for t in study.trials[-10:])
    assert np.median([t.params["w"] for t in study.trials[-10:]]) < 1.0


def messy_history(sampler: TPESampler) -> tl.Study:
    """Trials finished out of order, some failed, some pruned, some still running."""
    study = tl.create_study(sampler=sampler)
    rng = np.random.default_rng(1)
    running: list[Trial] = []
    for _ in range(45):
        running.append(study.ask())
        activation_and_rates(running[-1])
        if len(running) == 3:
            trial = running.pop(int(rng.integers(3)))
            outcome = rng.choice(["ok"] * 7 + ["fail", "prune"])
            if outcome == "ok":
                study.tell(trial, activation_and_rates(trial))
            else:
                trial.report(activation_and_rates(trial), 0)
                state = TrialState.FAIL if outcome == "fail" else TrialState.PRUNED
                study.tell(trial, state=state)
    return study


def next_joint(sampler: TPESampler, study: tl.Study) -> dict[str, Any]:
    view = StudyView(study)
    trial = study.trials[-1]
    sampler.reseed_rng(5)
    return sampler.sample_relative(view, trial, sampler.infer_relative_search_space(view, trial))


@pytest.mark.parametrize("constant_liar", [False, True])
def test_a_fresh_sampler_samples_what_the_incremental_one_does(constant_liar: bool) -> None:
    watching = TPESampler(seed=3, constant_liar=constant_liar)
    study = messy_history(watching)
    fresh = TPESampler(seed=3, constant_liar=constant_liar)
    expected = next_joint(watching, study)
    assert expected and next_joint(fresh, study) == expected


def test_presorted_columns_sort_each_set_with_its_lies(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = TPESampler(seed=0, n_startup_trials=300, constant_liar=True)
    study = tl.create_study(sampler=sampler)
    study.optimize(activation_and_rates, n_trials=300)
    for _ in range(4):
        activation_and_rates(study.ask())  # running trials, counted as lies
    view, trial = StudyView(study), study.trials[-1]
    sampler.n_startup_trials = 10
    space = sampler.infer_relative_search_space(view, trial)
    history = sampler._history(view)
    sets = history.split(history.rows_with(list(space.items())), 25)
    lies = sampler._lies(study.study_name, history, trial, space)
    assert lies.shape == (3, 3)
    axes = [_axes.axis_for(d) for d in space.values()]
    monkeypatch.setattr(_draw, "_PRESORTED_MIN", 1)
    for rows in sets:
        obs = _draw._observations(history, list(space.items()), axes, rows, lies, sampler._settings)
        assert obs.orders is not None and len(obs.orders) == 2
        for values, order in zip(obs.numeric, obs.orders, strict=True):
            assert sorted(order.tolist()) == list(range(len(rows) + 3))
            assert np.all(np.diff(values[order]) >= 0)
    presorted = next_joint(sampler, study)
    monkeypatch.setattr(_draw, "_PRESORTED_MIN", 10**9)
    assert next_joint(sampler, study) == presorted


def test_same_seed_same_history_gives_same_sequence() -> None:
    runs = [messy_history(TPESampler(seed=11)) for _ in range(2)]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    other = messy_history(TPESampler(seed=12))
    assert [t.params for t in other.trials] != [t.params for t in runs[0].trials]


# -- arguments ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials must be an integer >= 0"),
        ({"n_startup_trials": 2.5}, "n_startup_trials must be an integer >= 0"),
        ({"n_ei_candidates": 0}, "n_ei_candidates must be an integer >= 1"),
        ({"n_ei_candidates": True}, "n_ei_candidates must be an integer >= 1"),
        ({"multivariate": "yes"}, "multivariate must be True or False"),
        ({"group": 1}, "group must be True or False"),
        ({"constant_liar": None}, "constant_liar must be True or False"),
        ({"consider_endpoints": "no"}, "consider_endpoints must be True or False"),
        ({"prior_weight": 0.0}, "prior_weight must be a positive finite number"),
        ({"prior_weight": -1}, "prior_weight must be a positive finite number"),
        ({"prior_weight": math.inf}, "prior_weight must be a positive finite number"),
        ({"prior_weight": math.nan}, "prior_weight must be a positive finite number"),
        ({"prior_weight": "1"}, "prior_weight must be a positive finite number"),
        ({"gamma": 0.1}, "gamma must be a callable"),
        ({"weights": [1.0]}, "weights must be a callable"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TPESampler(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": lambda n: n / 10}, r"gamma\(10\) must return an integer"),
        ({"weights": lambda n: np.ones(n + 1)}, r"weights\(\d+\) must return \d+ finite"),
        ({"weights": lambda n: -np.ones(n)}, r"weights\(\d+\) must return \d+ finite"),
    ],
)
def test_bad_gamma_or_weights_results_are_refused(kwargs: dict[str, Any], message: str) -> None:
    study = tl.create_study(sampler=TPESampler(seed=0, **kwargs))
    study.optimize(quadratic, n_trials=10)
    with pytest.raises(ValueError, match=message):
        study.optimize(quadratic, n_trials=1)


def test_custom_gamma_and_weights_are_used() -> None:
    seen: list[int] = []

    def weights(n: int) -> np.ndarray:
        seen.append(n)
        return np.linspace(0.5, 1.0, n)

    study = tl.create_study(sampler=TPESampler(seed=0, gamma=lambda n: 2, weights=weights))
    study.optimize(quadratic, n_trials=30)
    assert 2 in seen and 27 in seen  # l(x) over 2 trials, g(x) over the other 27 at the end
    assert study.best_value < 1.0


def test_history_window_bounds_the_observations_g_is_fitted_to() -> None:
    sizes: dict[int | None, list[int]] = {None: [], 40: []}
    for window, seen in sizes.items():

        def weights(n: int, seen: list[int] = seen) -> np.ndarray:
            seen.append(n)
            return np.ones(n)

        sampler = TPESampler(seed=0, weights=weights, history_window=window)
        tl.create_study(sampler=sampler).optimize(quadratic, n_trials=120)
    assert max(sizes[None]) > 100  # every non-good observation, as before
    assert max(sizes[40]) == 40  # only the latest ones in a long study


def test_a_windowed_tpe_still_beats_random_search() -> None:
    def windowed_tpe(seed: int) -> BaseSampler:
        return TPESampler(seed=seed, history_window=30)

    windowed = quality.best_values(windowed_tpe, quadratic, seeds=range(5), n_trials=150)
    random = quality.best_values(
        lambda seed: RandomSampler(seed=seed), quadratic, seeds=range(5), n_trials=150
    )
    assert quality.better_on_every_seed_by_5x(windowed, random)


def test_history_window_must_be_a_positive_integer() -> None:
    with pytest.raises(ValueError, match="history_window"):
        TPESampler(history_window=0)
