"""Grid and brute-force search visit each point once under HyperbandPruner, as in Optuna.

Hyperband shows a sampler only the trials of the current trial's bracket; a sampler
that enumerates a space must still see every bracket's trials, or each bracket
enumerates the space again.
"""

from __future__ import annotations

import types

import pytest

from tests.optuna_compat.libraries import LIBRARIES, quiet

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _objective(lib: types.ModuleType) -> object:
    def objective(trial: object) -> float:
        x = trial.suggest_int("x", 0, 2)  # type: ignore[attr-defined]
        y = trial.suggest_int("y", 0, 2)  # type: ignore[attr-defined]
        for step in range(10):
            trial.report(step * (x + y) / 10, step)  # type: ignore[attr-defined]
            if trial.should_prune():  # type: ignore[attr-defined]
                raise lib.TrialPruned()
        return float(x + y)

    return objective


@pytest.mark.parametrize("kind", ["brute_force", "grid"])
@pytest.mark.parametrize("lib", LIBRARIES)
def test_every_point_once_across_hyperband_brackets(lib: types.ModuleType, kind: str) -> None:
    quiet("ERROR")
    if kind == "grid":
        sampler = lib.samplers.GridSampler({"x": [0, 1, 2], "y": [0, 1, 2]}, seed=0)
    else:
        sampler = lib.samplers.BruteForceSampler(seed=0)
    study = lib.create_study(sampler=sampler, pruner=lib.pruners.HyperbandPruner())
    study.optimize(_objective(lib), n_trials=30)
    points = sorted((t.params["x"], t.params["y"]) for t in study.trials)
    assert points == [(x, y) for x in range(3) for y in range(3)]
