"""NSGAIISampler: Pareto fronts against random search, selection, constraints, history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tests.samplers.contract import SamplerContract
from tunelab.samplers import RandomSampler
from tunelab.samplers import _nsga2 as nsga2
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._nsga2 import (
    NSGAIISampler,
    crowding_distances,
    dominance_ranks,
    select_survivors,
)
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial, Trial, TrialState

SEEDS = range(5)


class TestNSGAIIContract(SamplerContract):
    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        # Small generations, so that most of the contract's 30 trials are children.
        return NSGAIISampler(seed=seed, population_size=8)


REFERENCE = np.array([1.1, 1.1])


def zdt1(trial: Trial) -> tuple[float, float]:
    x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)])
    g = 1.0 + 9.0 * float(np.mean(x[1:]))
    return float(x[0]), g * (1.0 - np.sqrt(x[0] / g))


def hypervolume(points: np.ndarray, reference: np.ndarray = REFERENCE) -> float:
    """Area dominated by ``points`` (both objectives minimised) and bounded by ``reference``."""
    inside = points[(points < reference).all(axis=1)]
    inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]
    area, ceiling = 0.0, float(reference[1])
    for f1, f2 in inside:
        if f2 < ceiling:
            area += (reference[0] - f1) * (ceiling - f2)
            ceiling = f2
    return area


def test_hypervolume_of_a_known_front() -> None:
    points = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.6, 0.6], [2.0, 2.0]])
    assert hypervolume(points, np.array([1.0, 1.0])) == pytest.approx(0.25)


def zdt1_hypervolumes(make: Callable[[int], BaseSampler], n_trials: int = 600) -> list[float]:
    out = []
    for seed in SEEDS:
        study = tl.create_study(directions=["minimize", "minimize"], sampler=make(seed))
        study.optimize(zdt1, n_trials=n_trials)
        out.append(hypervolume(np.array([t.values for t in study.trials])))
    return out


def clearly_better(candidate: list[float], baseline: list[float], margin: float = 0.25) -> bool:
    """Ahead of the baseline by ``margin`` on every seed (0.25: a quarter of the reachable area)."""
    return all(c > b + margin for c, b in zip(candidate, baseline, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("crossover", ["uniform", "sbx"])
def test_zdt1_front_beats_random_search(crossover: str) -> None:
    nsga = zdt1_hypervolumes(lambda seed: NSGAIISampler(seed=seed, crossover=crossover))
    rnd = zdt1_hypervolumes(lambda seed: RandomSampler(seed=seed))
    assert clearly_better(nsga, rnd), (nsga, rnd)


@pytest.mark.slow
def test_a_sampler_blind_to_dominance_fails_the_same_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nsga2, "dominance_ranks", lambda values, violation=None: 0 * values[:, 0])
    broken = zdt1_hypervolumes(lambda seed: NSGAIISampler(seed=seed))
    rnd = zdt1_hypervolumes(lambda seed: RandomSampler(seed=seed))
    assert not clearly_better(broken, rnd), (broken, rnd)


def test_directions_are_respected() -> None:
    def flipped(trial: Trial) -> tuple[float, float]:
        f1, f2 = zdt1(trial)
        return -f1, f2

    def front_area(make: Callable[[int], BaseSampler]) -> list[float]:
        areas = []
        for seed in range(3):
            study = tl.create_study(directions=["maximize", "minimize"], sampler=make(seed))
            study.optimize(flipped, n_trials=300)
            points = np.array([[-v[0], v[1]] for v in _values(study)])
            areas.append(hypervolume(points, np.array([1.1, 4.0])))
        return areas

    nsga = front_area(lambda seed: NSGAIISampler(seed=seed, population_size=30))
    rnd = front_area(lambda seed: RandomSampler(seed=seed))
    # Minimising the first objective instead scores below random search (about 2.0 vs 2.3).
    assert clearly_better(nsga, rnd, margin=0.5), (nsga, rnd)


def _values(study: tl.Study) -> list[list[float]]:
    return [t.values for t in study.trials if t.values is not None]


def test_define_by_run_objective_with_conditional_parameters() -> None:
    def objective(trial: Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        shared = sum(trial.suggest_float(f"z{i}", 0.0, 1.0) for i in range(3))
        kind = trial.suggest_categorical("kind", ["good", "bad"])
        if kind == "good":
            penalty = trial.suggest_float("slack", 0.0, 1.0)
        else:
            penalty = 1.0 + trial.suggest_int("level", 0, 10)
        return x, (1.0 + shared + penalty) * (1.0 - np.sqrt(x))

    study = tl.create_study(
        directions=["minimize", "minimize"], sampler=NSGAIISampler(seed=0, population_size=20)
    )
    study.optimize(objective, n_trials=200)
    for t in study.trials:
        assert 0.0 <= t.params["x"] <= 1.0
        common = {"x", "z0", "z1", "z2", "kind"}
        if t.params["kind"] == "good":
            assert set(t.params) == common | {"slack"} and 0.0 <= t.params["slack"] <= 1.0
        else:
            assert set(t.params) == common | {"level"} and t.params["level"] in range(11)
    # "bad" is dominated by "good" at the same x: selection should all but remove it.
    late = [t.params["kind"] for t in study.trials[-40:]]
    assert late.count("good") >= 34  # random draws give about 20


def test_constraints_steer_children_into_the_feasible_region() -> None:
    def share_feasible(constraints: Callable[[FrozenTrial], list[float]] | None) -> float:
        study = tl.create_study(
            directions=["minimize", "minimize"],
            sampler=NSGAIISampler(seed=1, population_size=30, constraints_func=constraints),
        )
        study.optimize(zdt1, n_trials=300)
        late = study.trials[-60:]
        return sum(t.params["x0"] <= 0.3 for t in late) / len(late)

    assert share_feasible(lambda t: [t.params["x0"] - 0.3]) > 0.8
    assert share_feasible(None) < 0.6


def nsga_params(sampler: NSGAIISampler, study: tl.Study, trial: FrozenTrial) -> dict[str, Any]:
    view = StudyView(study)
    return sampler.sample_relative(view, trial, sampler.infer_relative_search_space(view, trial))


def test_a_fresh_sampler_rebuilds_every_child_from_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nsga.db'}"
    study = tl.create_study(
        study_name="s",
        storage=url,
        directions=["minimize", "minimize"],
        sampler=NSGAIISampler(seed=5, population_size=10),
    )
    rng = np.random.default_rng(0)
    in_flight: list[Trial] = []
    # Four workers finishing out of order, with some failures.
    for _ in range(60):
        in_flight.append(study.ask())
        zdt1(in_flight[-1])
        if len(in_flight) == 4:
            trial = in_flight.pop(int(rng.integers(4)))
            if rng.random() < 0.1:
                study.tell(trial, state=tl.TrialState.FAIL)
            else:
                study.tell(trial, zdt1(trial))
    fresh = NSGAIISampler(seed=5, population_size=10)
    reloaded = tl.load_study(study_name="s", storage=url, sampler=fresh)
    rebuilt = 0
    for trial in reloaded.trials:
        child = nsga_params(fresh, reloaded, trial)
        assert child == {name: trial.params[name] for name in child}
        rebuilt += bool(child)
    assert rebuilt == 50  # every trial after generation 0
    last = reloaded.trials[-1]
    other = NSGAIISampler(seed=6, population_size=10)
    assert nsga_params(other, reloaded, last) != nsga_params(fresh, reloaded, last)


def test_parallel_asks_get_different_children() -> None:
    study = tl.create_study(
        directions=["minimize", "minimize"], sampler=NSGAIISampler(seed=0, population_size=10)
    )
    study.optimize(zdt1, n_trials=10)
    children = [study.ask() for _ in range(10)]
    points = {tuple(round(v, 12) for v in zdt1(t)) for t in children}
    assert len(points) == 10


def test_dominance_ranks_peel_fronts() -> None:
    values = np.array([[0.0, 3.0], [1.0, 1.0], [3.0, 0.0], [2.0, 2.0], [3.0, 3.0], [1.0, 1.0]])
    assert dominance_ranks(values).tolist() == [0, 0, 0, 1, 2, 0]


def test_constraint_violation_outranks_objectives() -> None:
    values = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 1.0], [0.5, 0.5]])
    violation = np.array([2.0, 0.0, 0.5, 0.5])
    # The feasible point first, then infeasible ones by violation alone.
    assert dominance_ranks(values, violation).tolist() == [2, 0, 1, 1]


def test_crowding_distance_prefers_isolated_points() -> None:
    front = np.array([[0.0, 4.0], [1.0, 3.0], [1.1, 2.9], [2.0, 2.0], [4.0, 0.0]])
    distances = crowding_distances(front)
    assert np.isinf(distances[[0, 4]]).all()
    assert distances[1:4] == pytest.approx([0.55, 0.5, 1.45])


def test_survivors_fill_by_front_then_crowding() -> None:
    values = np.array([[0.0, 4.0], [1.0, 3.0], [1.1, 2.9], [2.0, 2.0], [4.0, 0.0], [5.0, 5.0]])
    order, ranks, _ = select_survivors(values, None, 3)
    assert sorted(order.tolist()) == [0, 3, 4]
    assert ranks.tolist() == [0, 0, 0]
    order, ranks, _ = select_survivors(values, None, 6)
    assert order[-1] == 5 and ranks[-1] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"population_size": 1}, "population_size must be an integer >= 2"),
        ({"population_size": 10.0}, "population_size"),
        ({"mutation_prob": 1.5}, r"mutation_prob must be in \[0, 1\]"),
        ({"crossover": "blx"}, r"crossover must be one of \['uniform', 'sbx'\]"),
        ({"crossover_prob": -0.1}, "crossover_prob"),
        ({"swapping_prob": float("nan")}, "swapping_prob"),
        ({"constraints_func": 3}, "constraints_func must be callable"),
    ],
)
def test_invalid_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NSGAIISampler(**kwargs)


def test_nan_constraints_are_reported_as_the_trial_finishes() -> None:
    study = tl.create_study(
        directions=["minimize", "minimize"],
        sampler=NSGAIISampler(population_size=4, constraints_func=lambda t: [float("nan")]),
    )
    with pytest.raises(ValueError, match="constraints_func returned NaN for trial 0"):
        study.optimize(zdt1, n_trials=4)
    (trial,) = study.trials  # finished as told, without constraints
    assert trial.state == TrialState.COMPLETE
    assert "constraints" not in trial.system_attrs
