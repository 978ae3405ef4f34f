"""Random, QMC and grid samplers: the shared contract plus what is special to each."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

import tunelab as tl
from tests.samplers.contract import SamplerContract, Space, suggest
from tunelab.samplers import BaseSampler, GridSampler, QMCSampler, RandomSampler
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    from_unit,
    grid_values,
)
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial

# -- the contract ------------------------------------------------------------------------------


class TestRandomSamplerContract(SamplerContract):
    def make_sampler(self, seed: int | None) -> BaseSampler:
        return RandomSampler(seed=seed)


class TestQMCSamplerContract(SamplerContract):
    """QMC learning its space from the first finished trial."""

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return QMCSampler(seed=seed)


class TestQMCSamplerWithSpaceContract(SamplerContract):
    """QMC told its space up front: every parameter comes from the Sobol sequence."""

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return QMCSampler(search_space={"x": FloatDistribution(0.0, 1.0)}, seed=seed)

    def make_sampler_for_space(
        self, space: Mapping[str, BaseDistribution], seed: int
    ) -> BaseSampler:
        return QMCSampler(search_space=space, seed=seed)


def thin_values(dist: BaseDistribution, k: int) -> list[Any]:
    """At most ``k`` values of ``dist`` spread over its domain (log-spaced on log scales)."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, FloatDistribution) and dist.step is None:
        return grid_values(dist, n_float=k)
    if isinstance(dist, IntDistribution) and dist.log:
        return sorted({round(v) for v in np.geomspace(dist.low, dist.high, k)})
    values = grid_values(dist)
    picks = sorted({round(i) for i in np.linspace(0, len(values) - 1, min(k, len(values)))})
    return [values[i] for i in picks]


def grid_for(space: Mapping[str, BaseDistribution], budget: int = 4096) -> dict[str, list[Any]]:
    """A grid over ``space`` with at most about ``budget`` points."""
    k = max(2, int(budget ** (1 / len(space))))
    return {name: thin_values(dist, k) for name, dist in space.items()}


class TestGridSamplerContract(SamplerContract):
    """The grid covers each contract objective's space with a few values per parameter.

    Every contract check applies: a grid's draws are spread over the domain
    (log-spaced on log scales), different seeds visit the grid in different
    orders, and the study stops early when the grid is used up.
    """

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return GridSampler({"x": [0.0, 0.5, 1.0]}, seed=seed)

    def make_sampler_for_space(
        self, space: Mapping[str, BaseDistribution], seed: int
    ) -> BaseSampler:
        return GridSampler(grid_for(space), seed=seed)


# -- RandomSampler -----------------------------------------------------------------------------

UNIFORMITY_SPACE: Space = {
    "i": IntDistribution(0, 9),
    "s": FloatDistribution(0.0, 1.0, step=0.125),
    "c": CategoricalDistribution(["a", "b", "c", "d", "e"]),
    "x": FloatDistribution(-2.0, 2.0),
    "lr": FloatDistribution(1e-6, 1.0, log=True),
}


class LowerHalfSampler(RandomSampler):
    """A broken sampler: it only ever draws from the lower half of each domain."""

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return from_unit(distribution, 0.5 * float(self._rng.random()))


def draws(sampler: BaseSampler, n_trials: int = 400) -> list[dict[str, Any]]:
    study = tl.create_study(sampler=sampler)
    received: list[dict[str, Any]] = []

    def objective(trial: tl.Trial) -> float:
        received.append({name: suggest(trial, name, d) for name, d in UNIFORMITY_SPACE.items()})
        return 0.0

    study.optimize(objective, n_trials=n_trials)
    return received


def uniformity_pvalues(samples: list[dict[str, Any]]) -> dict[str, float]:
    """p-values of chi-square (finite domains) and KS (continuous) tests of uniformity."""
    pvalues = {}
    for name in ("i", "s", "c"):
        counts = [sum(p[name] == v for p in samples) for v in grid_values(UNIFORMITY_SPACE[name])]
        assert sum(counts) == len(samples)  # every draw is one of the domain's values
        pvalues[name] = float(stats.chisquare(counts).pvalue)
    xs = [p["x"] for p in samples]
    pvalues["x"] = float(stats.kstest(xs, stats.uniform(loc=-2.0, scale=4.0).cdf).pvalue)
    logs = [math.log10(p["lr"]) for p in samples]
    pvalues["lr"] = float(stats.kstest(logs, stats.uniform(loc=-6.0, scale=6.0).cdf).pvalue)
    return pvalues


def test_random_sampler_is_uniform() -> None:
    pvalues = uniformity_pvalues(draws(RandomSampler(seed=0)))
    assert min(pvalues.values()) > 0.01, pvalues


def test_uniformity_check_rejects_a_biased_sampler() -> None:
    pvalues = uniformity_pvalues(draws(LowerHalfSampler(seed=0)))
    assert max(pvalues.values()) < 1e-6, pvalues


def test_random_reseed_restarts_the_stream() -> None:
    sampler = RandomSampler(seed=3)
    first = draws(sampler, n_trials=5)
    sampler.reseed_rng(3)
    assert draws(sampler, n_trials=5) == first


# -- QMCSampler --------------------------------------------------------------------------------

UNIT_SQUARE: Space = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}


def unit_points(sampler: BaseSampler, n: int = 64, *, fail_first: bool = False) -> np.ndarray:
    """``n`` points of the unit square chosen by ``sampler`` in a study."""
    study = tl.create_study(sampler=sampler)

    def objective(trial: tl.Trial) -> float:
        x, y = (suggest(trial, name, d) for name, d in UNIT_SQUARE.items())
        if fail_first and trial.number == 0:
            raise ValueError("the first trial fails")
        return x + y

    study.optimize(objective, n_trials=n + int(fail_first), catch=(ValueError,))
    trials = [t for t in study.trials if t.state == tl.TrialState.COMPLETE]
    return np.array([[t.params["x"], t.params["y"]] for t in trials])


@functools.cache
def random_discrepancy_median() -> float:
    """Median L2-star discrepancy of 64 random-search points over 11 seeds."""
    values = [
        qmc.discrepancy(unit_points(RandomSampler(seed=s)), method="L2-star") for s in range(11)
    ]
    return float(np.median(values))


@pytest.mark.parametrize("declared", [True, False])
def test_qmc_points_are_more_uniform_than_random(declared: bool) -> None:
    points = unit_points(QMCSampler(search_space=UNIT_SQUARE if declared else None, seed=0))
    assert points.shape == (64, 2)
    discrepancy = qmc.discrepancy(points, method="L2-star")
    # Measured: about 0.010 for QMC against a random median of 0.046.
    assert discrepancy < 0.5 * random_discrepancy_median(), discrepancy


def test_qmc_learns_its_space_even_when_the_first_trial_fails() -> None:
    points = unit_points(QMCSampler(seed=0), fail_first=True)
    assert points.shape == (64, 2)
    assert qmc.discrepancy(points, method="L2-star") < 0.5 * random_discrepancy_median()


@pytest.mark.parametrize("declared", [True, False])
def test_qmc_parallel_asks_get_distinct_points(declared: bool) -> None:
    space = UNIT_SQUARE if declared else None
    study = tl.create_study(sampler=QMCSampler(search_space=space, seed=0))
    if not declared:  # the space is learnt from the first finished trial
        first = study.ask()
        study.tell(first, sum(suggest(first, n, d) for n, d in UNIT_SQUARE.items()))
    trials = [study.ask() for _ in range(8)]
    points = [tuple(suggest(t, n, d) for n, d in UNIT_SQUARE.items()) for t in trials]
    for trial, (x, y) in zip(trials, points, strict=True):
        study.tell(trial, x + y)
    assert len(set(points)) == len(points)
    # Distinct and well spread: the 8 points hit every half of each axis.
    for axis in range(2):
        halves = {int(p[axis] >= 0.5) for p in points}
        assert halves == {0, 1}


def test_qmc_same_seed_same_points_across_studies() -> None:
    a = unit_points(QMCSampler(search_space=UNIT_SQUARE, seed=5), n=16)
    b = unit_points(QMCSampler(search_space=UNIT_SQUARE, seed=5), n=16)
    c = unit_points(QMCSampler(search_space=UNIT_SQUARE, seed=6), n=16)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# -- GridSampler -------------------------------------------------------------------------------

GRID: dict[str, list[Any]] = {"x": [1, 2, 3], "act": ["relu", "tanh", None, True]}
GRID_POINTS = {(x, a) for x in GRID["x"] for a in GRID["act"]}


def grid_objective(trial: tl.Trial) -> float:
    """Module-level so that worker processes can run it."""
    x = trial.suggest_int("x", 1, 3)
    act = trial.suggest_categorical("act", ["relu", "tanh", None, True])
    return float(x) + (0.5 if act is None else 0.0)


def visited(study: tl.Study) -> list[tuple[Any, Any]]:
    return [(t.params["x"], t.params["act"]) for t in study.trials]


def test_grid_visits_every_point_once_then_stops() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=0))
    study.optimize(grid_objective, n_trials=100)
    points = visited(study)
    assert len(points) == 12
    assert set(points) == GRID_POINTS


def test_grid_stops_a_parallel_process_run_after_every_point() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=0))
    study.optimize(grid_objective, n_trials=100, n_jobs=2, backend="process")
    points = visited(study)
    assert len(points) == 12
    assert set(points) == GRID_POINTS


def _suggest_point(trial: tl.Trial) -> tuple[Any, Any]:
    return trial.suggest_int("x", 1, 3), trial.suggest_categorical("act", GRID["act"])


def _ask_point(study: tl.Study) -> tuple[tl.Trial, tuple[Any, Any]]:
    trial = study.ask()
    return trial, _suggest_point(trial)


def test_grid_has_no_duplicates_when_asks_run_ahead_of_tells() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=1))
    points: list[tuple[Any, Any]] = []
    pending: list[tl.Trial] = []
    for n_asks, n_tells in ((5, 2), (4, 5), (3, 5)):
        for _ in range(n_asks):
            trial, point = _ask_point(study)
            pending.append(trial)
            points.append(point)
        for trial in pending[:n_tells]:
            study.tell(trial, 0.0)
        pending = pending[n_tells:]
    assert len(points) == 12
    assert set(points) == GRID_POINTS


def test_grid_revisits_a_failed_point() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=0))

    def objective(trial: tl.Trial) -> float:
        value = grid_objective(trial)
        if trial.number == 3:
            raise ValueError("transient failure")
        return value

    study.optimize(objective, n_trials=100, catch=(ValueError,))
    complete = [t for t in study.trials if t.state == tl.TrialState.COMPLETE]
    assert len(study.trials) == 13
    assert {(t.params["x"], t.params["act"]) for t in complete} == GRID_POINTS


def test_grid_gives_freed_points_to_asks_that_run_ahead() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=2))
    first_round = [_ask_point(study) for _ in range(12)]
    for trial, _ in first_round:
        if trial.number in (3, 7):
            study.tell(trial, state=tl.TrialState.FAIL)
        else:
            study.tell(trial, 0.0)
    # Two retries asked before either suggests: each must take a different freed point.
    retries = [study.ask() for _ in range(2)]
    points = [_suggest_point(trial) for trial in retries]
    freed = {point for trial, point in first_round if trial.number in (3, 7)}
    assert set(points) == freed


@pytest.mark.parametrize("seeds", [(4, 4), (None, None)], ids=["seeded", "unseeded"])
def test_grid_two_studies_on_one_sqlite_file_share_the_grid(
    seeds: tuple[int | None, int | None], storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory("sqlite")
    a = tl.create_study(study_name="grid", storage=url, sampler=GridSampler(GRID, seed=seeds[0]))
    b = tl.load_study(study_name="grid", storage=url, sampler=GridSampler(GRID, seed=seeds[1]))
    points: list[tuple[Any, Any]] = []
    # Both workers ask before either suggests or tells: neither sees the other's choice.
    for _ in range(3):
        asked = [(a, a.ask()), (b, b.ask()), (b, b.ask()), (a, a.ask())]
        points.extend(_suggest_point(trial) for _, trial in asked)
        for study, trial in asked:
            study.tell(trial, 0.0)
    assert len(points) == 12
    assert set(points) == GRID_POINTS


def test_grid_fallback_does_not_take_a_point_another_process_holds(
    storage_url_factory: Callable[[str], str],
) -> None:
    """Two workers on one database: the second falls back onto the first's unsuggested point.

    Trial 1 finds its preferred point taken and falls back to the next one, which is
    trial 2's preferred point. Neither has stored a parameter yet, so only the claim
    trial 1 published tells the other worker that the point is held.
    """
    url = storage_url_factory("sqlite")
    a = tl.create_study(study_name="grid", storage=url, sampler=GridSampler(GRID, seed=0))
    b = tl.load_study(study_name="grid", storage=url, sampler=GridSampler(GRID, seed=0))
    order = a.sampler._order  # type: ignore[attr-defined]
    points = a.sampler._grid  # type: ignore[attr-defined]
    a.enqueue_trial(points[int(order[1])])
    a.optimize(grid_objective, n_trials=1)
    first, second = a.ask(), b.ask()
    assert _suggest_point(first) != _suggest_point(second)


def test_grid_counts_an_enqueued_point_as_visited() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=0))
    study.enqueue_trial({"x": 2, "act": None})
    study.optimize(grid_objective, n_trials=100)
    points = visited(study)
    assert points[0] == (2, None)
    assert len(points) == 12
    assert set(points) == GRID_POINTS


def test_grid_fills_in_a_partly_enqueued_trial_with_an_agreeing_point() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=0))
    study.enqueue_trial({"x": 2})
    study.optimize(grid_objective, n_trials=100)
    points = visited(study)
    assert points[0][0] == 2
    assert len(points) == 12
    assert set(points) == GRID_POINTS


def test_grid_keeps_categorical_types_apart() -> None:
    choices = [0, 1, 1.0, "1", False, True, None]
    study = tl.create_study(sampler=GridSampler({"c": choices}, seed=0))
    study.optimize(lambda t: float(t.suggest_categorical("c", choices) is None), n_trials=100)
    got = [t.params["c"] for t in study.trials]
    assert sorted(repr(v) for v in got) == sorted(repr(v) for v in choices)


def test_grid_values_of_a_float_step_stay_in_range() -> None:
    dist = FloatDistribution(-0.3, 0.9, step=0.4)
    values = grid_values(dist)
    assert len(values) == 4 and values[-1] == 0.9
    assert all(dist.low <= v <= dist.high and dist.contains(v) for v in values)


def test_grid_rejects_a_parameter_outside_its_space() -> None:
    study = tl.create_study(sampler=GridSampler(GRID, seed=0))
    trial = study.ask()
    with pytest.raises(ValueError, match="'depth' is not in the GridSampler's search space"):
        trial.suggest_int("depth", 1, 4)


def test_grid_uses_a_grid_value_outside_the_distribution_with_a_warning() -> None:
    study = tl.create_study(sampler=GridSampler({"x": [1, 5]}, seed=0))
    with pytest.warns(UserWarning, match="grid value 5 of 'x' is outside"):
        drawn = {study.ask().suggest_int("x", 1, 3) for _ in range(2)}
    assert drawn == {1, 5}


@pytest.mark.parametrize("values", [[], "abc"])
def test_grid_rejects_empty_or_string_values(values: Any) -> None:
    with pytest.raises(ValueError, match=r"search_space\['x'\] must be a non-empty list"):
        GridSampler({"x": values})


@pytest.mark.parametrize("values", [[1, 2, 1], [0.5, 1.0, 0.5], [True, None, True]])
def test_grid_rejects_repeated_values(values: list[Any]) -> None:
    with pytest.raises(ValueError, match=r"search_space\['x'\] lists a value twice"):
        GridSampler({"x": values})


class TestGridHelpers:
    """The test grid builder itself must spread values the way the contract expects."""

    n_points: ClassVar[int] = 5

    def test_log_values_are_log_spaced(self) -> None:
        values = thin_values(FloatDistribution(1e-4, 1e2, log=True), self.n_points)
        np.testing.assert_allclose(np.diff(np.log10(values)), 1.5)
        assert thin_values(IntDistribution(1, 10_000, log=True), self.n_points) == [
            1,
            10,
            100,
            1000,
            10_000,
        ]

    def test_finite_domains_keep_their_ends(self) -> None:
        assert thin_values(IntDistribution(3, 23, step=5), self.n_points) == [3, 8, 13, 18, 23]
        assert thin_values(IntDistribution(0, 100), 3) == [0, 50, 100]
