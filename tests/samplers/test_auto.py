"""AutoSampler: the contract, its routing rules, and that it beats random search."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tunelab as tl
from tests.samplers.contract import SamplerContract
from tunelab.samplers import AutoSampler, BaseSampler, RandomSampler
from tunelab.space import CategoricalDistribution
from tunelab.storage import InMemoryStorage
from tunelab.trial import TrialState


class TestAutoContract(SamplerContract):
    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return AutoSampler(seed=seed, n_startup_trials=4)


class _Recording(AutoSampler):
    """AutoSampler that remembers which algorithm ran each trial."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.used: list[str] = []

    def before_trial(self, study: tl.StudyView, trial: tl.FrozenTrial) -> None:
        super().before_trial(study, trial)
        self.used.append(self._choice[trial.number])


def _run(sampler: BaseSampler, objective: object, n: int, **kwargs: object) -> tl.Study:
    study = tl.create_study(sampler=sampler, heartbeat_interval=None, **kwargs)  # type: ignore[arg-type]
    study.optimize(objective, n_trials=n)  # type: ignore[arg-type]
    return study


def _numeric(trial: tl.Trial) -> float:
    return (trial.suggest_float("x", -5, 5) - 1) ** 2 + (trial.suggest_float("y", -5, 5) + 2) ** 2


def test_numeric_space_starts_quasi_random_then_uses_the_gp() -> None:
    sampler = _Recording(seed=0, n_startup_trials=5, gp_max_trials=12)
    _run(sampler, _numeric, 20)
    assert sampler.used[:5] == ["qmc"] * 5
    assert set(sampler.used[5:13]) == {"gp"}
    assert set(sampler.used[14:]) == {"tpe"}


def test_conditional_and_categorical_spaces_use_tpe() -> None:
    def conditional(trial: tl.Trial) -> float:
        if trial.suggest_categorical("kind", ["a", "b"]) == "a":
            return trial.suggest_float("x", 0, 1)
        return trial.suggest_float("z", 0, 1)

    sampler = _Recording(seed=0, n_startup_trials=4)
    _run(sampler, conditional, 12)
    assert set(sampler.used[4:]) == {"tpe"}

    def categorical(trial: tl.Trial) -> float:
        a = trial.suggest_categorical("a", ["p", "q", "r"])
        b = trial.suggest_categorical("b", ["p", "q"])
        return float(a == "p") + float(b == "q") + trial.suggest_float("x", 0, 1)

    sampler = _Recording(seed=0, n_startup_trials=4)
    _run(sampler, categorical, 10)
    assert set(sampler.used[4:]) == {"tpe"}


def _hidden_branch(trial: tl.Trial) -> float:
    """The best branch ("slope", 0.1 at z = 0.8) is the worst one almost everywhere else."""
    kind = trial.suggest_categorical("kind", ["flat", "bowl", "slope"])
    if kind == "flat":
        return 0.3 + 0.1 * trial.suggest_float("x", 0, 1)
    if kind == "bowl":
        return 0.2 + (trial.suggest_float("y", 0, 1) - 0.5) ** 2
    return 1.1 - math.exp(-((trial.suggest_float("z", 0, 1) - 0.8) ** 2) / 0.05)


@pytest.mark.slow
def test_branches_are_kept_in_play_and_tuned_by_their_own_gp() -> None:
    class BranchBlind(AutoSampler):
        """Leaves the branch choice and the branch parameters to TPE."""

        def _keep_branches_in_play(
            self,
            study: tl.StudyView,
            trial: tl.FrozenTrial,
            search_space: dict[str, object],
            params: dict[str, object],
        ) -> dict[str, object]:
            return params

        def _propose_in_branch(
            self, study: tl.StudyView, trial: tl.FrozenTrial
        ) -> dict[str, object]:
            return {}

    def tuned(factory: type[AutoSampler]) -> int:
        """Seeds whose best trial is within 0.001 of the optimum (the tuned best branch)."""
        best = [
            _run(factory(seed=seed, n_startup_trials=4), _hidden_branch, 24).best_value
            for seed in range(10)
        ]
        return sum(value < 0.101 for value in best)

    assert tuned(AutoSampler) >= 5
    assert tuned(BranchBlind) <= 3


def test_a_starved_branch_gets_the_next_trials_while_a_batch_is_asked() -> None:
    sampler = AutoSampler(seed=0, n_startup_trials=3)
    study = tl.create_study(sampler=sampler, heartbeat_interval=None)
    for _ in range(3):
        trial = study.ask()
        study.tell(trial, _hidden_branch(trial))
    for _ in range(12):  # asked at once, as parallel workers would
        _hidden_branch(study.ask())
    kinds = [trial.params["kind"] for trial in study.trials]
    counts = [kinds.count(kind) for kind in ("flat", "bowl", "slope")]
    # Each branch keeps at least half an equal share of the first 14 trials when the
    # 15th is asked (2.33); TPE alone gives "bowl" nearly all and starves "flat".
    assert min(counts) >= 2, counts


def test_only_categoricals_that_decide_other_parameters_are_branches() -> None:
    def objective(trial: tl.Trial) -> float:
        act = trial.suggest_categorical("act", ["relu", "tanh"])  # every trial has the same rest
        if trial.suggest_categorical("kind", ["a", "b"]) == "a":
            return trial.suggest_float("x", 0, 1) + (act == "relu")
        return trial.suggest_int("n", 0, 3) + (act == "relu")

    sampler = AutoSampler(seed=0, n_startup_trials=4)
    _run(sampler, objective, 10)
    assert sampler._finished is not None
    assert sampler._finished.branching() == ["kind"]


def test_several_objectives_use_tpe() -> None:
    sampler = _Recording(seed=0, n_startup_trials=3)
    study = tl.create_study(
        sampler=sampler, directions=["minimize", "minimize"], heartbeat_interval=None
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1 - t.suggest_float("x", 0, 1)), 8)
    assert set(sampler.used[3:]) == {"tpe"}


def _front_in_the_small_branch(trial: tl.Trial) -> tuple[float, float]:
    if trial.suggest_categorical("kind", ["small", "wide"]) == "small":
        s = trial.suggest_float("s", 0, 1)
        return s, 1 - s
    xs = [trial.suggest_float(f"x{i}", 0, 1) for i in range(6)]
    return 0.5 + 0.5 * xs[0], 1.0 + sum(xs[1:])


def test_several_objectives_keep_only_the_floor_for_a_branch() -> None:
    # The 6-parameter branch is dominated everywhere. With one objective it would be owed
    # an equal share until it had 35 trials (for its GP); with several there is no branch
    # GP, so it keeps only half an equal share (10 of 40), not half the study (20).
    for seed in range(3):
        sampler = AutoSampler(seed=seed)
        study = tl.create_study(
            sampler=sampler, directions=["minimize", "minimize"], heartbeat_interval=None
        )
        study.optimize(_front_in_the_small_branch, n_trials=40)
        wide = [trial.params["kind"] for trial in study.trials].count("wide")
        assert 9 <= wide <= 13, (seed, wide)


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="n_startup_trials"):
        AutoSampler(n_startup_trials=-1)
    with pytest.raises(ValueError, match="max_categorical_share"):
        AutoSampler(max_categorical_share=2)


def _branin(trial: tl.Trial) -> float:
    x1 = trial.suggest_float("x1", -5, 10)
    x2 = trial.suggest_float("x2", 0, 15)
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


@pytest.mark.slow
def test_beats_random_search_and_a_history_blind_variant_does_not() -> None:
    class Blind(AutoSampler):
        def choose(self, study: tl.StudyView, trial: tl.FrozenTrial) -> str:
            return "qmc"

    def regret(factory: type[BaseSampler]) -> float:
        best = [
            _run(factory(seed=seed), _branin, 30).best_value - 0.397887  # type: ignore[call-arg]
            for seed in range(3)
        ]
        return float(np.median(best))

    random, auto, blind = regret(RandomSampler), regret(AutoSampler), regret(Blind)
    assert auto < 0.2 * random
    assert not blind < 0.2 * random


def test_pruned_and_failed_history_is_fine() -> None:
    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number % 5 == 3:
            raise tl.TrialPruned()
        return math.nan if trial.number % 7 == 4 else x

    study = _run(AutoSampler(seed=1, n_startup_trials=3), objective, 20)
    states = {t.state for t in study.trials}
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL} <= states


def _reference_choice(sampler: AutoSampler, study: tl.Study) -> str:
    """AutoSampler's rules applied to the whole history from scratch."""
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    if len(finished) < sampler.n_startup_trials:
        return "qmc"
    if len({frozenset(t.distributions) for t in finished}) > 1:
        return "tpe"
    if len(finished) > sampler.gp_max_trials:
        return "tpe"
    kinds = [isinstance(d, CategoricalDistribution) for d in finished[-1].distributions.values()]
    return "tpe" if kinds and np.mean(kinds) > sampler.max_categorical_share else "gp"


def test_choices_read_incrementally_match_the_rules_on_the_whole_history() -> None:
    # Trials finish out of order, some fail or are pruned, and a second handle on
    # the same storage adds trials: the incremental reading must see them all.
    storage = InMemoryStorage()
    study = tl.create_study(storage=storage, heartbeat_interval=None)
    other = tl.load_study(study_name=study.study_name, storage=storage)
    sampler = AutoSampler(seed=0, n_startup_trials=3, gp_max_trials=9)
    rng = np.random.default_rng(0)
    waiting: list[tl.Trial] = []
    for step in range(40):
        trial = other.ask() if step % 7 == 3 else study.ask()
        trial.suggest_float("x", 0, 1)
        if step == 25:
            trial.suggest_categorical("c", ["a", "b", "c"])  # the space becomes conditional
        waiting.append(trial)
        if rng.random() < 0.6:
            done = waiting.pop(int(rng.integers(len(waiting))))
            states = [TrialState.COMPLETE] * 3 + [TrialState.PRUNED, TrialState.FAIL]
            state = states[int(rng.integers(len(states)))]
            study.tell(done, 1.0 if state == TrialState.COMPLETE else None, state=state)
        probe = study.trials[-1]
        assert sampler.choose(study._view, probe) == _reference_choice(sampler, study), step


def test_long_studies_model_a_window_of_the_history() -> None:
    from tunelab.samplers._auto import TPE_HISTORY_WINDOW

    sampler = AutoSampler(seed=0)
    tpe = sampler._get("tpe")
    assert isinstance(tpe, tl.samplers.TPESampler)
    assert tpe.history_window == TPE_HISTORY_WINDOW


def _curve_objective(trial: tl.Trial) -> float:
    x, y = trial.suggest_float("x", -5, 5), trial.suggest_float("y", -5, 5)
    final = (x - 1) ** 2 + (y + 2) ** 2
    for step in range(1, 10):
        trial.report(final + 4.0 / step, step)
        if trial.should_prune():
            raise tl.TrialPruned()
    return final


@pytest.mark.parametrize(
    "pruner",
    [
        tl.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        tl.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3),
    ],
    ids=["successive_halving", "hyperband"],
)
def test_pruners_with_budgets_use_the_multi_fidelity_gp_from_the_first_trial(
    pruner: tl.pruners.BasePruner,
) -> None:
    # It starts on its own rule: the quasi-random start would delay its model. (One study
    # name for both: Hyperband assigns brackets by hashing it.)
    sampler = _Recording(seed=0, n_startup_trials=4)
    study = _run(sampler, _curve_objective, 14, pruner=pruner, study_name="budgets")
    assert set(sampler.used) == {"mfgp"}
    alone = tl.create_study(
        study_name="budgets",
        sampler=tl.samplers.MultiFidelityGPSampler(seed=0),
        pruner=pruner,
        heartbeat_interval=None,
    )
    alone.optimize(_curve_objective, n_trials=14)
    assert [t.params for t in study.trials] == [t.params for t in alone.trials]


def test_budget_pruned_studies_go_to_bohb_when_long_or_conditional() -> None:
    pruner = tl.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    sampler = _Recording(seed=0, gp_max_trials=6)
    _run(sampler, _curve_objective, 10, pruner=pruner)
    assert sampler.used[:7] == ["mfgp"] * 7
    assert set(sampler.used[7:]) == {"bohb"}

    def conditional(trial: tl.Trial) -> float:
        if trial.suggest_categorical("kind", ["a", "b"]) == "a":
            return trial.suggest_float("x", 0, 1)
        return trial.suggest_float("y", 0, 1)

    sampler = _Recording(seed=0)
    study = _run(sampler, conditional, 12, pruner=pruner)
    branches = {frozenset(t.params) for t in study.trials}
    assert len(branches) == 2
    first_second_branch = min(
        t.number for t in study.trials if frozenset(t.params) != frozenset(study.trials[0].params)
    )
    assert set(sampler.used[first_second_branch + 1 :]) == {"bohb"}


def test_pruners_without_budgets_and_several_objectives_keep_their_rules() -> None:
    sampler = _Recording(seed=0, n_startup_trials=4)
    _run(sampler, _curve_objective, 8, pruner=tl.pruners.MedianPruner())
    assert set(sampler.used[4:]) == {"gp"}
    sampler = _Recording(seed=0, n_startup_trials=3)
    study = tl.create_study(
        sampler=sampler,
        directions=["minimize", "minimize"],
        pruner=tl.pruners.SuccessiveHalvingPruner(min_resource=1),
        heartbeat_interval=None,
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1 - t.suggest_float("x", 0, 1)), 8)
    assert set(sampler.used[3:]) == {"tpe"}
