"""The deploy-aware benchmark's hypervolume ratio and replay, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.deploy_aware import generate, hv, run, space


def test_ratio_in_two_dimensions_with_a_maximised_objective() -> None:
    # Quality (maximised) and size (minimised); normalised, the grid is (0, 1), (1, 0), (1, 1).
    grid = hv.as_losses(np.array([[1.0, 10.0], [0.0, 0.0], [0.0, 10.0]]), [True, False])
    norm = hv.Normaliser(grid)
    # Reference 1.1: each front point owns a 1.1 x 0.1 box; they overlap in 0.1 x 0.1.
    assert norm.grid_volume == pytest.approx(0.11 + 0.11 - 0.01)
    assert norm.ratio(grid[:1]) == pytest.approx(0.11 / 0.21)
    assert norm.ratio(grid[2:]) == pytest.approx(0.01 / 0.21)
    assert norm.ratio(grid) == pytest.approx(1.0)
    assert norm.ratio(grid[:0]) == 0.0


def test_ratio_in_three_dimensions() -> None:
    corners = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    grid = corners * np.array([2.0, 4.0, 8.0]) + 3.0  # the scaling must not matter
    norm = hv.Normaliser(grid)
    # Inclusion-exclusion: three 1.1 x 0.1 x 0.1 boxes, every overlap is the 0.1 cube.
    whole = 3 * 0.011 - 3 * 0.001 + 0.001
    assert norm.grid_volume == pytest.approx(whole)
    assert norm.ratio(grid[:2]) == pytest.approx((2 * 0.011 - 0.001) / whole)
    assert norm.ratio(grid[[0, 0, 3]]) == pytest.approx(0.011 / whole)


def test_front_box_ignores_a_dominated_outlier() -> None:
    grid = np.array([[0.0, 1.0], [1.0, 0.0], [10.0, 10.0]])
    # Grid box: the outlier shrinks the front to (0, 0.1) and (0.1, 0), so one of them
    # alone already holds 1.1 x 1.0 of the 1.1 x 1.0 + 1.0 x 1.1 - 1.0 x 1.0 union.
    assert hv.Normaliser(grid).ratio(grid[:1]) == pytest.approx(1.1 / 1.2)
    # Front box: the front spans [0, 1] and the outlier lies beyond the reference point.
    strict = hv.Normaliser(grid, box="front")
    assert strict.grid_volume == pytest.approx(0.21)
    assert strict.ratio(grid[:1]) == pytest.approx(0.11 / 0.21)
    assert strict.ratio(grid[2:]) == 0.0
    with pytest.raises(ValueError, match="box must be 'grid' or 'front'"):
        hv.Normaliser(grid, box="nadir")


def test_covered_counts_weak_domination() -> None:
    targets = np.array([[0.0, 1.0], [1.0, 0.0]])
    found = np.array([[0.0, 1.0], [0.5, 0.5]])
    assert hv.covered(targets, found).tolist() == [True, False]
    assert hv.covered(targets, found[:0]).tolist() == [False, False]


@pytest.mark.timeout(60)
def test_replay_stays_on_the_grid_and_counts_repeats() -> None:
    table = run.load("breast_cancer")
    assert len(table.configs) == len(space.grid())
    assert set(table.index()) == {space.key(c) for c in space.grid()}
    out = run.replay(("breast_cancer", "tunelab:random", 0, 60))
    # Every trial is an evaluation, repeated configurations included.
    assert len(out["rows"]) == 60
    norm = hv.Normaliser(table.losses)
    ratios = [norm.ratio(table.losses[out["rows"][:n]]) for n in (10, 30, 60)]
    assert 0.0 < ratios[0] <= ratios[1] <= ratios[2] <= 1.0


def test_quality_folds_are_the_products_stratified_folds_of_the_training_part() -> None:
    x_train, _, y_train, _ = generate.split("breast_cancer")
    folds = generate.folds("breast_cancer")
    assert len(folds) == 5
    validation = np.concatenate([val for _, val in folds])
    # Every training row is validated exactly once and never fitted on in its own fold.
    assert sorted(validation.tolist()) == list(range(len(x_train)))
    for fit, val in folds:
        assert not set(fit.tolist()) & set(val.tolist())
        # Stratified: each class's share in a fold is within one row of its share overall.
        for label in np.unique(y_train):
            expected = np.mean(y_train == label) * len(val)
            assert abs(np.sum(y_train[val] == label) - expected) <= 1


def test_committed_tables_carry_cross_validated_and_holdout_quality() -> None:
    for task in space.TASKS:
        kept = generate.kept_serving(task)
        assert set(kept) == {space.key(c) for c in space.grid()}
        table = run.load(task)
        f1 = table.values[:, 0]
        holdout = np.array([kept[space.key(c)]["f1_holdout"] for c in table.configs])
        assert np.all((f1 > 0) & (f1 <= 1)) and np.all((holdout > 0) & (holdout <= 1))
        # The searched quality is the CV mean, not the holdout score under another name.
        assert not np.allclose(f1, holdout)
