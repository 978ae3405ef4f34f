"""NSGAIIISampler: reference points, normalisation, niching, and a spread front on DTLZ2."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tunelab as tl
from tests.samplers.contract import SamplerContract
from tunelab.samplers import _nsga3 as nsga3
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._nsga3 import (
    NSGAIIISampler,
    associate,
    das_dennis_points,
    niching,
    normalize,
    select_survivors_nsga3,
)
from tunelab.trial import Trial

DIVISIONS = 4  # 15 reference directions for 3 objectives
POPULATION = 16
N_TRIALS = 400  # 25 generations
SEEDS = range(3)


class TestNSGAIIIContract(SamplerContract):
    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        # Small generations, so that most of the contract's 30 trials are children.
        return NSGAIIISampler(seed=seed, population_size=8)


def test_exported_under_optunas_name() -> None:
    import tunelab as optuna

    sampler = optuna.samplers.NSGAIIISampler(population_size=20, dividing_parameter=2, seed=1)
    assert isinstance(sampler, tl.samplers.NSGAIISampler)
    assert "NSGAIIISampler" in optuna.samplers.__all__


@pytest.mark.parametrize(("m", "p"), [(2, 5), (3, 4), (4, 3), (5, 1)])
def test_das_dennis_points_cover_the_simplex_grid(m: int, p: int) -> None:
    points = das_dennis_points(m, p)
    assert points.shape == (math.comb(m + p - 1, p), m)
    np.testing.assert_allclose(points.sum(axis=1), 1.0)
    assert np.allclose(points * p, np.round(points * p)) and points.min() >= 0
    assert len({tuple(row) for row in points}) == len(points)


def test_normalize_maps_a_tilted_front_onto_the_unit_simplex() -> None:
    # A plane f1/2 + f2/4 + f3/1 = 1, shifted by an ideal point of (1, -3, 5).
    simplex = das_dennis_points(3, 5)
    front = simplex * np.array([2.0, 4.0, 1.0]) + np.array([1.0, -3.0, 5.0])
    np.testing.assert_allclose(normalize(front), simplex, atol=1e-9)


def test_normalize_survives_a_degenerate_front_and_infinite_values() -> None:
    values = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.5, 1.0, 1.0], [np.inf, 1.0, 1.0]])
    out = normalize(values)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, 0], [0.0, 1.0, 0.5, 1.0])


def test_associate_finds_the_nearest_reference_line() -> None:
    references = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    points = np.array([[2.0, 0.1], [1.0, 1.2], [0.0, 3.0]])
    nearest, distance = associate(points, references)
    assert nearest.tolist() == [0, 1, 2]
    np.testing.assert_allclose(distance, [0.1, 0.2 / math.sqrt(2), 0.0])


def test_niching_gives_each_empty_direction_its_closest_point_first() -> None:
    # Two candidates per direction; direction 0 is already held by a kept point.
    nearest = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    distance = np.array([0.1, 0.2, 0.5, 0.3, 0.4, 0.6, 0.9, 0.8])
    picked = niching(np.array([0]), nearest, distance, 3, 4, np.random.default_rng(0))
    assert sorted(picked.tolist()) == [3, 4, 7]
    # Once every direction holds one, the next places go round again: one more each.
    picked = niching(np.array([0]), nearest, distance, 7, 4, np.random.default_rng(0))
    assert set(picked[:3].tolist()) == {3, 4, 7}
    assert {2, 5, 6} <= set(picked[3:].tolist()) and len(set(picked.tolist())) == 7


def test_whole_fronts_survive_before_niching_and_feasible_points_first() -> None:
    references = das_dennis_points(2, 3)
    values = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [0.5, 0.5], [3.0, 3.0]])
    chosen, ranks = select_survivors_nsga3(values, None, 3, references, np.random.default_rng(0))
    assert sorted(chosen.tolist()) == [0, 1, 3] and ranks.tolist() == [0, 0, 0]
    violation = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    chosen, _ = select_survivors_nsga3(values, violation, 3, references, np.random.default_rng(0))
    assert sorted(chosen.tolist()) == [0, 1, 2]  # the infeasible point goes, though non-dominated


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="dividing_parameter must be an integer >= 1, got 0"):
        NSGAIIISampler(dividing_parameter=0)
    with pytest.raises(ValueError, match="must not hold the origin"):
        NSGAIIISampler(reference_points=[[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"2-D array .* got shape \(3,\)"):
        NSGAIIISampler(reference_points=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="after_trial_strategy=...\\) is not supported"):
        NSGAIIISampler(after_trial_strategy=lambda *args: None)
    with pytest.raises(ValueError, match="population_size"):
        NSGAIIISampler(population_size=1)


def test_reference_points_need_one_column_per_objective() -> None:
    sampler = NSGAIIISampler(population_size=4, reference_points=[[1.0, 0.0], [0.0, 1.0]], seed=0)
    study = tl.create_study(directions=["minimize"] * 3, sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0, 2.0), n_trials=4)
    with pytest.raises(ValueError, match=r"one column per objective \(3\), got 2"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0, 2.0), n_trials=1)


def dtlz2(trial: Trial) -> tuple[float, float, float]:
    """DTLZ2 with 3 objectives: the Pareto front is the unit sphere's positive octant."""
    x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)])
    g = float(np.sum((x[2:] - 0.5) ** 2))
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return (
        (1 + g) * math.cos(a) * math.cos(b),
        (1 + g) * math.cos(a) * math.sin(b),
        (1 + g) * math.sin(a),
    )


def final_generations() -> list[np.ndarray]:
    """The objective values of the last generation of a DTLZ2 run, per seed."""
    out = []
    for seed in SEEDS:
        sampler = NSGAIIISampler(
            seed=seed, population_size=POPULATION, dividing_parameter=DIVISIONS
        )
        study = tl.create_study(directions=["minimize"] * 3, sampler=sampler)
        study.optimize(dtlz2, n_trials=N_TRIALS)
        out.append(np.array([t.values for t in study.trials[-POPULATION:]]))
    return out


def spread(points: np.ndarray) -> tuple[int, float]:
    """Reference directions covered (nearest to some point) and IGD to the true front's points."""
    directions = das_dennis_points(3, DIVISIONS)
    front = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    covered = len(set(associate(points, directions)[0].tolist()))
    igd = float(np.mean(np.linalg.norm(front[:, None] - points[None], axis=2).min(axis=1)))
    return covered, igd


def spreads_over_the_front(generations: list[np.ndarray]) -> bool:
    # Over seeds 0-29 in threes, a correct NSGA-III covers 9.3 to 10.7 of the 15
    # directions on average (IGD 0.14 to 0.17); random survivors from the last
    # front cover 4 to 5.3 (IGD 0.34 to 0.45).
    covered, igd = zip(*(spread(points) for points in generations), strict=True)
    return float(np.mean(covered)) >= 8 and float(np.mean(igd)) < 0.25


@pytest.mark.slow
def test_dtlz2_front_is_reached_and_spread_over_the_reference_directions() -> None:
    generations = final_generations()
    assert spreads_over_the_front(generations), [spread(p) for p in generations]
    distance_to_front = np.mean([np.linalg.norm(p, axis=1) - 1 for p in generations])
    assert distance_to_front < 0.05  # random points lie about 0.17 off the sphere


@pytest.mark.slow
def test_random_survivors_of_the_last_front_fail_the_same_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def random_niching(
        kept: np.ndarray,
        nearest: np.ndarray,
        distance: np.ndarray,
        n_pick: int,
        n_references: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        return rng.choice(len(nearest), size=n_pick, replace=False)

    monkeypatch.setattr(nsga3, "niching", random_niching)
    generations = final_generations()
    assert not spreads_over_the_front(generations), [spread(p) for p in generations]
