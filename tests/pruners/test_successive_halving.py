"""SuccessiveHalvingPruner and HyperbandPruner: rungs, promotion, brackets, arguments."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import tunelab as tl
from tests.pruners.replay import complete, judge, make_study
from tunelab.pruners import HyperbandPruner, SuccessiveHalvingPruner
from tunelab.samplers import RandomSampler
from tunelab.space import BaseDistribution
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial


def test_nothing_is_pruned_before_the_first_rung() -> None:
    # Rungs at 1 * 2 ** (1 + i): steps 2, 4, 8...
    study = make_study(SuccessiveHalvingPruner(1, 2, 1))
    for level in (1.0, 2.0, 3.0):
        complete(study, [level] * 9)
    assert not judge(study, {0: 99.0, 1: 99.0})
    assert judge(study, {0: 99.0, 1: 99.0, 2: 99.0})


def test_a_trial_goes_on_only_in_the_top_fraction_of_its_rung() -> None:
    # reduction_factor 2: among 8 rivals and itself, the best 9 // 2 = 4 go on.
    study = make_study(SuccessiveHalvingPruner(1, 2))
    for level in range(1, 9):
        complete(study, [float(level)] * 2)
    assert not judge(study, {0: 50.0, 1: 4.0})  # 4th best of 1, 2, 3, 4, 4, ...
    assert judge(study, {0: 50.0, 1: 4.5})
    maximize = make_study(SuccessiveHalvingPruner(1, 2), direction="maximize")
    for level in range(1, 9):
        complete(maximize, [float(level)] * 2)
    assert not maximize_judge(maximize, 5.0)
    assert maximize_judge(maximize, 4.5)


def maximize_judge(study: tl.Study, value: float) -> bool:
    return judge(study, {0: -50.0, 1: value})


def test_the_value_at_the_rung_counts_not_the_best_so_far() -> None:
    study = make_study(SuccessiveHalvingPruner(1, 2))
    for level in range(1, 9):
        complete(study, [float(level)] * 2)
    assert judge(study, {0: 0.0, 1: 7.0})


def test_before_reduction_factor_rivals_only_the_best_goes_on() -> None:
    study = make_study(SuccessiveHalvingPruner(1, 4))
    complete(study, [5.0, 5.0])
    complete(study, [3.0, 3.0])
    assert judge(study, {0: 1.0, 1: 4.0})  # 3 values < 4: only the best is promoted
    assert not judge(study, {0: 1.0, 1: 2.0})


def test_a_trial_is_judged_once_per_rung() -> None:
    study = make_study(SuccessiveHalvingPruner(1, 2))
    for level in range(1, 9):
        complete(study, [float(level)] * 4)
    # Promoted at rung 0 (step 1); step 2 is no rung, so nothing is judged there
    # even though the trial now ranks badly; at step 2 ** 1 = 2 it is rung 1.
    assert not judge(study, {0: 9.0, 1: 1.0})
    assert judge(study, {0: 9.0, 1: 1.0, 2: 9.0})
    assert not judge(study, {0: 9.0, 1: 1.0, 2: 1.0, 3: 9.0})


def test_bootstrap_count_prunes_until_enough_trials_reached_the_rung() -> None:
    study = make_study(SuccessiveHalvingPruner(1, 2, bootstrap_count=3))
    assert judge(study, {0: 1.0, 1: 1.0})  # alone at the rung
    complete(study, [5.0])  # never reaches step 1: not at the rung
    complete(study, [5.0, 5.0])
    # Itself, the completed trial and the first judged one (its rung stays, as
    # in Optuna, whatever its final state): 3 <= bootstrap_count.
    assert judge(study, {0: 1.0, 1: 1.0})
    complete(study, [6.0, 6.0])
    assert not judge(study, {0: 1.0, 1: 1.0})


def test_nan_at_a_rung_is_pruned() -> None:
    study = make_study(SuccessiveHalvingPruner(1, 2))
    complete(study, [1.0, 1.0])
    assert judge(study, {0: 0.0, 1: math.nan})
    assert not judge(study, {0: math.nan})  # before the first rung NaN is not judged


def test_auto_min_resource_is_a_hundredth_of_the_first_completed_run() -> None:
    pruner = SuccessiveHalvingPruner()
    study = make_study(pruner)
    assert not judge(study, {0: 99.0, 1: 99.0})  # no completed trial: no rungs yet
    assert pruner.min_resource is None
    complete(study, [1.0] * 400)  # last step 399
    complete(study, [2.0] * 400)
    assert not judge(study, {s: 99.0 for s in range(3)})
    assert pruner.min_resource == 3
    assert judge(study, {s: 99.0 for s in range(4)})


def test_rungs_come_from_stored_reports(storage_url_factory: Callable[[str], str]) -> None:
    url = storage_url_factory("sqlite")
    study = tl.create_study(study_name="s", storage=url, pruner=SuccessiveHalvingPruner(1, 2))
    for level in range(1, 9):
        complete(study, [float(level)] * 2)
    # A new process with a fresh pruner sees the same rivals at the rung.
    reloaded = tl.load_study(study_name="s", storage=url, pruner=SuccessiveHalvingPruner(1, 2))
    assert judge(reloaded, {0: 9.0, 1: 4.5})
    assert not judge(reloaded, {0: 9.0, 1: 3.5})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"min_resource": "big"}, ValueError, "min_resource must be 'auto' or an integer >= 1"),
        ({"min_resource": 0}, ValueError, "min_resource must be an integer >= 1, got 0"),
        ({"reduction_factor": 1}, ValueError, "reduction_factor must be an integer >= 2, got 1"),
        (
            {"min_early_stopping_rate": -1},
            ValueError,
            "min_early_stopping_rate must be an integer >= 0, got -1",
        ),
        ({"bootstrap_count": -1}, ValueError, "bootstrap_count must be an integer >= 0, got -1"),
        ({"bootstrap_count": 2}, ValueError, "bootstrap_count > 0 needs an integer min_resource"),
    ],
)
def test_successive_halving_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        SuccessiveHalvingPruner(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_resource": 0}, "min_resource must be an integer >= 1, got 0"),
        ({"max_resource": "all"}, "max_resource must be 'auto' or an integer >= 1, got 'all'"),
        ({"reduction_factor": 1}, "reduction_factor must be an integer >= 2, got 1"),
        ({"bootstrap_count": 1}, "bootstrap_count > 0 needs an integer max_resource"),
    ],
)
def test_hyperband_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HyperbandPruner(**kwargs)


@pytest.mark.parametrize(
    ("min_resource", "max_resource", "factor", "n_brackets"),
    [(1, 27, 3, 4), (1, 26, 3, 3), (2, 32, 2, 5), (1, 1, 3, 1), (5, 3, 3, 1)],
)
def test_number_of_brackets(
    min_resource: int, max_resource: int, factor: int, n_brackets: int
) -> None:
    pruner = HyperbandPruner(min_resource, max_resource, factor)
    assert pruner.n_brackets is None
    judge(make_study(pruner), {0: 1.0})
    assert pruner.n_brackets == n_brackets


def test_auto_max_resource_waits_for_a_completed_trial() -> None:
    pruner = HyperbandPruner()
    study = make_study(pruner)
    assert not judge(study, {0: 1.0})
    assert pruner.n_brackets is None
    complete(study, [1.0] * 81)  # max_resource 81: log3(81) + 1 = 5 brackets
    judge(study, {0: 1.0})
    assert pruner.n_brackets == 5


class _RecordingSampler(RandomSampler):
    """Records which trials the study view showed for each sampled trial."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.seen: dict[int, list[int]] = {}

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        self.seen[trial.number] = [t.number for t in study.get_trials()]
        return super().sample_independent(study, trial, name, distribution)


def test_hyperband_sampler_learns_only_from_the_trial_s_bracket() -> None:
    pruner = HyperbandPruner(1, 27, 3)
    sampler = _RecordingSampler()
    study = tl.create_study(study_name="brackets", pruner=pruner, sampler=sampler)

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(27):
            trial.report(x + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise tl.TrialPruned()
        return x

    study.optimize(objective, n_trials=30)
    brackets = {t.number: pruner.bracket_of("brackets", t.number) for t in study.trials}
    assert len(set(brackets.values())) > 1
    for number, seen in sampler.seen.items():
        if number == 0:
            continue  # the brackets exist once a trial has been judged
        expected = [n for n in range(number + 1) if brackets[n] == brackets[number]]
        assert seen == expected
