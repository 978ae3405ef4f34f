"""Parameter importances: right ranking on known studies, agreement with Optuna, contract."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import optuna.importance as oi
import pytest
from scipy.stats import spearmanr

import tunelab as tl
from tests.importance.peer import optuna_copy
from tests.importance.studies import IRRELEVANT, conditional, graded, strong_weak_noise
from tunelab.importance import (
    BaseImportanceEvaluator,
    FanovaImportanceEvaluator,
    MeanDecreaseImpurityImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from tunelab.importance._fanova import leaf_boxes, tree_main_effects
from tunelab.importance._hypervolume import best_first, dominated, hypervolume
from tunelab.samplers import RandomSampler

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EVALUATORS: dict[str, Callable[[], BaseImportanceEvaluator]] = {
    "ped_anova": PedAnovaImportanceEvaluator,
    "fanova": lambda: FanovaImportanceEvaluator(seed=0),
    "mdi": lambda: MeanDecreaseImpurityImportanceEvaluator(seed=0),
}
# Optuna's fANOVA walks its trees in Python: small forests keep the comparison quick.
SMALL_FOREST = {"n_trees": 16, "max_depth": 8, "seed": 0}
PAIRS: dict[str, tuple[Callable[[], BaseImportanceEvaluator], Callable[[], Any]]] = {
    "ped_anova": (PedAnovaImportanceEvaluator, oi.PedAnovaImportanceEvaluator),
    "fanova": (
        lambda: FanovaImportanceEvaluator(**SMALL_FOREST),
        lambda: oi.FanovaImportanceEvaluator(**SMALL_FOREST),
    ),
    "mdi": (
        lambda: MeanDecreaseImpurityImportanceEvaluator(**SMALL_FOREST),
        lambda: oi.MeanDecreaseImpurityImportanceEvaluator(**SMALL_FOREST),
    ),
}


@pytest.fixture(scope="module")
def noise_study() -> tl.Study:
    return strong_weak_noise()


@pytest.fixture(scope="module")
def graded_study() -> tl.Study:
    return graded()


def shuffled_target(study: tl.Study, seed: int = 0) -> Callable[[tl.FrozenTrial], float]:
    """A target that pairs each trial with another trial's value: the labels of a broken run."""
    trials = study.get_trials(states=(tl.TrialState.COMPLETE,))
    values = np.array([t.values[0] for t in trials])
    np.random.default_rng(seed).shuffle(values)
    by_number = dict(zip((t.number for t in trials), values, strict=True))
    return lambda t: float(by_number[t.number])


def ranks_strong_weak_noise(importances: dict[str, float]) -> bool:
    """x1 first with a large share, and no irrelevant parameter near it."""
    ordered = list(importances)
    return (
        ordered[0] == "x1"
        and importances["x1"] > 0.4
        and all(importances[name] < 0.05 for name in IRRELEVANT)
    )


def agrees(ours: dict[str, float], theirs: dict[str, float]) -> bool:
    assert set(ours) == set(theirs)
    names = sorted(ours)
    rho = spearmanr([ours[n] for n in names], [theirs[n] for n in names]).statistic
    return bool(rho > 0.8)


# -- ranking on a study with one strong, one weak and eight irrelevant parameters --


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EVALUATORS))
def test_each_evaluator_finds_the_strong_parameter_and_ignores_the_irrelevant(
    noise_study: tl.Study, name: str
) -> None:
    importances = get_param_importances(noise_study, evaluator=EVALUATORS[name]())
    assert set(importances) == {f"x{i}" for i in range(1, 11)}
    assert ranks_strong_weak_noise(importances), importances
    assert list(importances.values()) == sorted(importances.values(), reverse=True)
    assert math.isclose(sum(importances.values()), 1.0)
    # The weak parameter still beats every irrelevant one.
    assert all(importances["x2"] > importances[n] for n in IRRELEVANT)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EVALUATORS))
def test_shuffled_labels_fail_the_same_check(noise_study: tl.Study, name: str) -> None:
    broken = get_param_importances(
        noise_study, evaluator=EVALUATORS[name](), target=shuffled_target(noise_study)
    )
    assert not ranks_strong_weak_noise(broken), broken


# -- agreement with Optuna's evaluators on the same trials --


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_rank_agreement_with_optuna(graded_study: tl.Study, name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ours_factory, theirs_factory = PAIRS[name]
    theirs = oi.get_param_importances(optuna_copy(graded_study), evaluator=theirs_factory())
    ours = get_param_importances(graded_study, evaluator=ours_factory())
    assert agrees(ours, theirs), (ours, theirs)
    broken = get_param_importances(
        graded_study, evaluator=ours_factory(), target=shuffled_target(graded_study)
    )
    assert not agrees(broken, theirs), (broken, theirs)


def test_ped_anova_equals_optuna_including_conditional_parameters() -> None:
    # Same estimator, same grid: the values themselves match, not just the ranks.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = conditional()
    for kwargs in ({}, {"evaluate_on_local": False}, {"target_quantile": 0.2}):
        ours = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(**kwargs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = oi.get_param_importances(
                optuna_copy(study), evaluator=oi.PedAnovaImportanceEvaluator(**kwargs)
            )
        assert list(ours) == list(theirs)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    assert next(iter(ours)) == "svm_c"


# -- conditional parameters --


def test_conditional_parameters_are_handled_by_every_evaluator() -> None:
    study = conditional()
    ped = get_param_importances(study)
    assert set(ped) == {"lr", "model", "svm_c", "tree_depth"}
    assert next(iter(ped)) == "svm_c"
    for name in ("fanova", "mdi"):
        # Without params, only parameters in every trial; with them, the trials having them.
        assert set(get_param_importances(study, evaluator=EVALUATORS[name]())) == {"lr", "model"}
        branch = get_param_importances(study, evaluator=EVALUATORS[name](), params=["svm_c", "lr"])
        assert next(iter(branch)) == "svm_c"


# -- fANOVA decomposition against brute force --


def test_tree_main_effects_match_a_dense_grid_evaluation() -> None:
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    x = rng.uniform([0.0, -2.0], [1.0, 2.0], size=(300, 2))
    y = np.sin(6 * x[:, 0]) + 0.5 * x[:, 1] + x[:, 0] * x[:, 1] + 0.1 * rng.normal(size=300)
    bounds = np.array([[0.0, 1.0], [-2.0, 2.0]])
    tree = DecisionTreeRegressor(max_depth=8, random_state=0).fit(x, y)
    # Cell centres of a fine grid: the uniform measure on the box, up to grid resolution.
    n = 600
    g0 = (np.arange(n) + 0.5) / n
    g1 = -2.0 + 4.0 * (np.arange(n) + 0.5) / n
    grid = np.array(list(itertools.product(g0, g1)))
    f = tree.predict(grid).reshape(n, n)
    total = f.var()
    expected = np.array([f.mean(axis=1).var() / total, f.mean(axis=0).var() / total])
    shares = tree_main_effects(tree.tree_, bounds)
    assert shares is not None
    np.testing.assert_allclose(shares, expected, rtol=0.02, atol=1e-3)
    lo, hi, values = leaf_boxes(tree.tree_, bounds)
    assert math.isclose(float(np.prod(hi - lo, axis=1).sum()), 4.0)
    np.testing.assert_allclose(tree.predict((lo + hi) / 2), values)


def test_a_constant_tree_has_no_shares() -> None:
    from sklearn.tree import DecisionTreeRegressor

    tree = DecisionTreeRegressor().fit(np.arange(10.0)[:, None], np.ones(10))
    assert tree_main_effects(tree.tree_, np.array([[0.0, 9.0]])) is None


# -- multi-objective --


def test_ped_anova_on_two_objectives_without_target() -> None:
    study = tl.create_study(directions=["minimize", "maximize"], sampler=RandomSampler(seed=3))

    def objective(trial: tl.Trial) -> tuple[float, float]:
        a = trial.suggest_float("a", 0.0, 1.0)
        trial.suggest_float("noise", 0.0, 1.0)
        b = trial.suggest_float("b", 0.0, 1.0)
        return a + 0.1 * b, -(a**2) + b

    study.optimize(objective, n_trials=300)
    importances = get_param_importances(study)
    assert importances["noise"] < min(importances["a"], importances["b"])
    with pytest.raises(ValueError, match="target="):
        get_param_importances(study, evaluator=FanovaImportanceEvaluator())
    single = get_param_importances(
        study, evaluator=FanovaImportanceEvaluator(seed=0), target=lambda t: t.values[0]
    )
    assert next(iter(single)) == "a"


def _brute_force_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    # Inclusion-exclusion over subsets: exact, exponential, independent of the sweep.
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(range(len(points)), size):
            corner = points[list(subset)].max(axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.clip(reference - corner, 0, None)))
    return total


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_hypervolume_matches_inclusion_exclusion(dim: int) -> None:
    rng = np.random.default_rng(dim)
    for _ in range(5):
        points = rng.uniform(size=(7, dim))
        reference = np.full(dim, 1.1)
        assert math.isclose(
            hypervolume(points, reference), _brute_force_hypervolume(points, reference)
        )


def test_best_first_orders_by_front_and_keeps_nesting() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(size=(60, 2))
    order = best_first(points, [6, 20])
    assert sorted(order.tolist()) == list(range(60))
    first_front = np.flatnonzero(~dominated(points))
    assert set(order[: len(first_front)].tolist()) == set(first_front.tolist())


# -- the contract --


def test_normalize_false_returns_raw_values_and_true_sums_to_one(noise_study: tl.Study) -> None:
    raw = get_param_importances(noise_study, normalize=False)
    shares = get_param_importances(noise_study)
    assert sum(raw.values()) != pytest.approx(1.0)
    total = sum(raw.values())
    assert shares == pytest.approx({k: v / total for k, v in raw.items()})


def test_params_select_and_order_is_descending(noise_study: tl.Study) -> None:
    assert get_param_importances(noise_study, params=[]) == {}
    chosen = get_param_importances(noise_study, params=["x3", "x1"])
    assert list(chosen) == ["x1", "x3"]


def test_baseline_quantile_is_the_old_name_of_target_quantile(noise_study: tl.Study) -> None:
    old = PedAnovaImportanceEvaluator(baseline_quantile=0.2)
    new = PedAnovaImportanceEvaluator(target_quantile=0.2)
    assert get_param_importances(noise_study, evaluator=old) == get_param_importances(
        noise_study, evaluator=new
    )


def test_too_few_trials_give_equal_shares() -> None:
    study = tl.create_study()
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + t.suggest_float("b", 0, 1), n_trials=1)
    for name in sorted(EVALUATORS):
        assert get_param_importances(study, evaluator=EVALUATORS[name]()) == {"a": 0.5, "b": 0.5}


def test_the_fanova_forest_is_reproducible_for_a_seed(noise_study: tl.Study) -> None:
    first = get_param_importances(noise_study, evaluator=FanovaImportanceEvaluator(seed=5))
    assert first == get_param_importances(noise_study, evaluator=FanovaImportanceEvaluator(seed=5))


def test_bad_input_gets_a_clear_error(noise_study: tl.Study) -> None:
    with pytest.raises(TypeError, match="evaluator must be"):
        get_param_importances(noise_study, evaluator=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params must be a list"):
        get_param_importances(noise_study, params="x1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"parameter names \(str\)"):
        get_param_importances(noise_study, params=[1])  # type: ignore[list-item]
    for evaluator in (PedAnovaImportanceEvaluator(), FanovaImportanceEvaluator()):
        with pytest.raises(ValueError, match=r"\['nope'\] appear in no complete trial"):
            get_param_importances(noise_study, evaluator=evaluator, params=["nope"])
    with pytest.raises(ValueError, match="target_quantile < region_quantile"):
        PedAnovaImportanceEvaluator(target_quantile=0.5, region_quantile=0.3)
    with pytest.raises(ValueError, match="not both"):
        PedAnovaImportanceEvaluator(target_quantile=0.1, baseline_quantile=0.1)
    with pytest.raises(ValueError, match="n_trees"):
        FanovaImportanceEvaluator(n_trees=0)


def test_the_default_evaluator_is_ped_anova(noise_study: tl.Study) -> None:
    assert get_param_importances(noise_study) == get_param_importances(
        noise_study, evaluator=PedAnovaImportanceEvaluator()
    )


@pytest.mark.parametrize("name", sorted(EVALUATORS))
def test_a_categorical_or_log_parameter_can_be_the_important_one(name: str) -> None:
    study = tl.create_study(sampler=RandomSampler(seed=4))

    def objective(trial: tl.Trial) -> float:
        # One good choice in eight: reaching the top 10% is mostly a matter of picking it.
        kind = trial.suggest_categorical("kind", [True, 1, "one", None, 2, 3, 4, 5])
        lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
        trial.suggest_float("noise", 0.0, 1.0)
        # True and 1 are different choices: only the bool is good.
        return (0.0 if kind is True else 1.0) + 0.1 * abs(math.log10(lr) + 4.0)

    study.optimize(objective, n_trials=240)
    importances = get_param_importances(study, evaluator=EVALUATORS[name]())
    assert next(iter(importances)) == "kind", importances
    if name != "ped_anova":
        # PED-ANOVA sees lr only in which of the good-choice trials make the top 10%,
        # too few to tell it from noise; the forests see its whole effect.
        assert importances["lr"] > 5 * importances["noise"], importances


def test_choice_indices_keep_bools_ints_and_nan_apart() -> None:
    from tunelab.importance._base import choice_indices

    choices = [True, 1, math.nan, "a", None]
    values = [1, True, None, math.nan, "a", "missing"]
    np.testing.assert_array_equal(
        choice_indices(choices, values), [1.0, 0.0, 4.0, 2.0, 3.0, math.nan]
    )
