"""User-defined samplers and pruners written against Optuna's base classes, run unchanged.

The sampler and pruner below follow Optuna's "user-defined sampler/pruner" tutorials:
they only use what those tutorials use (``study.trials``, ``study.get_trials``,
``trial.intermediate_values``, ``trial.last_step``, ``search_space`` helpers and a
``RandomSampler`` fallback). Each class is defined against the module it is given.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tunelab
import tunelab.testing
from tests.optuna_compat.libraries import LIBRARIES


def simulated_annealing_sampler(optuna: types.ModuleType) -> type:
    class SimulatedAnnealingSampler(optuna.samplers.BaseSampler):  # type: ignore[name-defined,misc]
        def __init__(self, temperature: float = 100, seed: int = 0) -> None:
            self._rng = np.random.RandomState(seed)
            self._temperature = temperature
            self._current_trial: Any = None
            self._random = optuna.samplers.RandomSampler(seed=seed)

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            if search_space == {}:
                return {}
            prev_trial = study.trials[-2]
            if self._current_trial is None or prev_trial.value <= self._current_trial.value:
                probability = 1.0
            else:
                probability = np.exp(
                    (self._current_trial.value - prev_trial.value) / self._temperature
                )
            self._temperature *= 0.9
            if self._rng.uniform(0, 1) < probability:
                self._current_trial = prev_trial
            params = {}
            for name, distribution in search_space.items():
                if not isinstance(distribution, optuna.distributions.FloatDistribution):
                    raise NotImplementedError("only float parameters")
                current = self._current_trial.params[name]
                width = (distribution.high - distribution.low) * 0.1
                low = max(current - width, distribution.low)
                high = min(current + width, distribution.high)
                params[name] = self._rng.uniform(low, high)
            return params

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return optuna.search_space.intersection_search_space(study.get_trials(deepcopy=False))

        def sample_independent(
            self, study: Any, trial: Any, param_name: str, param_distribution: Any
        ) -> Any:
            return self._random.sample_independent(study, trial, param_name, param_distribution)

    return SimulatedAnnealingSampler


def last_place_pruner(optuna: types.ModuleType) -> type:
    state = optuna.trial.TrialState

    class LastPlacePruner(optuna.pruners.BasePruner):  # type: ignore[name-defined,misc]
        def __init__(self, warmup_steps: int, warmup_trials: int) -> None:
            self._warmup_steps = warmup_steps
            self._warmup_trials = warmup_trials

        def prune(self, study: Any, trial: Any) -> bool:
            step = trial.last_step
            if step:
                this_score = trial.intermediate_values[step]
                completed = study.get_trials(deepcopy=False, states=(state.COMPLETE,))
                others = sorted(
                    t.intermediate_values[step] for t in completed if step in t.intermediate_values
                )
                if step >= self._warmup_steps and len(others) > self._warmup_trials:
                    return bool(this_score < others[0])
            return False

    return LastPlacePruner


def _sphere(trial: Any) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_float("y", -10, 10)
    return x**2 + y**2


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_user_defined_simulated_annealing_sampler(optuna: types.ModuleType) -> None:
    sampler = simulated_annealing_sampler(optuna)()
    study = optuna.create_study(sampler=sampler)
    study.optimize(_sphere, n_trials=60)
    values = [t.value for t in study.trials]
    # Annealing walks downhill from the random start: the best of the last
    # 30 trials is far below the first trial's value, and it moved by small steps.
    assert min(values[30:]) < values[0] / 10
    steps = [abs(a.params["x"] - b.params["x"]) for a, b in itertools.pairwise(study.trials[2:])]
    assert float(np.median(steps)) <= 2.0 + 1e-9


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_user_defined_last_place_pruner(optuna: types.ModuleType) -> None:
    pruner = last_place_pruner(optuna)(warmup_steps=1, warmup_trials=2)

    def objective(trial: Any) -> float:
        quality = trial.suggest_float("quality", 0, 1)
        score = 0.0
        for step in range(5):
            score = quality * (step + 1)
            trial.report(score, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    study = optuna.create_study(direction="maximize", pruner=pruner)
    for quality in (0.5, 0.6, 0.7, 0.1, 0.9):
        study.enqueue_trial({"quality": quality})
    study.optimize(objective, n_trials=5)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]
    assert study.trials[3].last_step == 1


def test_deterministic_sampler_and_pruner_from_tunelab_testing() -> None:
    from tunelab.testing.pruners import DeterministicPruner
    from tunelab.testing.samplers import DeterministicSampler

    study = tunelab.create_study(
        sampler=DeterministicSampler({"x": 0.25, "n": 3}), pruner=DeterministicPruner(True)
    )

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.report(x, 0)
        if trial.should_prune():
            raise tunelab.TrialPruned()
        return x + trial.suggest_int("n", 0, 5)

    study.optimize(objective, n_trials=2)
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED"]
    assert all(t.params == {"x": 0.25} for t in study.trials)
    study.pruner = DeterministicPruner(False)
    study.optimize(objective, n_trials=1)
    assert study.trials[-1].value == 3.25
    with pytest.raises(ValueError, match="no value for parameter 'z'"):
        study.optimize(lambda t: t.suggest_float("z", 0, 1), n_trials=1)


@pytest.mark.parametrize("mode", tunelab.testing.STORAGE_MODES)
def test_storage_supplier_gives_fresh_storages(mode: str) -> None:
    from tunelab.testing.objectives import fail_objective, pruned_objective
    from tunelab.testing.storages import StorageSupplier

    with StorageSupplier(mode) as storage:
        study = tunelab.create_study(storage=storage)
        study.optimize(pruned_objective, n_trials=1)
        study.optimize(fail_objective, n_trials=1, catch=(ValueError,))
        assert [t.state.name for t in study.trials] == ["PRUNED", "FAIL"]
    with StorageSupplier(mode) as storage:
        assert tunelab.get_all_study_names(storage) == []
    with pytest.raises(ValueError, match="storage_specifier must be one of"):
        StorageSupplier("redis")


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_intersection_search_space_class(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 1, 3), n_trials=2)
    space = optuna.search_space.IntersectionSearchSpace().calculate(study)
    assert list(space) == ["n", "x"]
    assert space["x"] == optuna.distributions.FloatDistribution(0, 1)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_public_functions_have_real_types_for_type_checkers(tmp_path: Path) -> None:
    # Without py.typed, mypy treats an installed tunelab as untyped: every name is Any.
    program = tmp_path / "uses_tunelab.py"
    program.write_text(
        textwrap.dedent(
            """
            import tunelab as optuna
            reveal_type(optuna.create_study)
            reveal_type(optuna.create_study().best_trial)
            reveal_type(optuna.distributions.FloatDistribution(0, 1).high)
            """
        )
    )
    source = Path(tunelab.__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", str(program)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = result.stdout
    assert "-> tunelab.study.Study" in out, out
    assert 'Revealed type is "tunelab.trial.FrozenTrial"' in out, out
    assert 'Revealed type is "float"' in out, out


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_single_objective_sampler_guard_from_the_base_class(optuna: types.ModuleType) -> None:
    class FirstValueSampler(optuna.samplers.BaseSampler):  # type: ignore[name-defined,misc]
        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return {}

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            return {}

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            self._raise_error_if_multi_objective(study)
            return dist.low

    single = optuna.create_study(sampler=FirstValueSampler())
    single.optimize(lambda t: t.suggest_float("x", 1, 2), n_trials=1)
    assert single.best_params == {"x": 1.0}
    multi = optuna.create_study(directions=["minimize"] * 2, sampler=FirstValueSampler())
    with pytest.raises(ValueError):
        multi.optimize(lambda t: (t.suggest_float("x", 1, 2), 0.0), n_trials=1)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_samplers_ask_whether_the_study_has_several_objectives(optuna: types.ModuleType) -> None:
    seen: list[bool] = []

    class Asking(optuna.samplers.RandomSampler):  # type: ignore[name-defined,misc]
        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            seen.append(study._is_multi_objective())
            return super().sample_independent(study, trial, name, dist)

    single = optuna.create_study(sampler=Asking())
    single.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    double = optuna.create_study(sampler=Asking(), directions=["minimize", "maximize"])
    double.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)
    assert seen == [False, True]
    assert not single._is_multi_objective() and double._is_multi_objective()


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_intersection_search_space_takes_include_pruned_by_position(
    optuna: types.ModuleType,
) -> None:
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    trial = study.ask()
    trial.suggest_int("n", 0, 3)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False)
    assert optuna.search_space.intersection_search_space(trials, True) == {}
    assert list(optuna.search_space.intersection_search_space(trials, False)) == ["x"]
