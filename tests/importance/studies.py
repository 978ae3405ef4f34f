"""Synthetic studies whose true parameter importances are known."""

from __future__ import annotations

import math

import numpy as np

import tunelab as tl
from tunelab.samplers import RandomSampler

IRRELEVANT = [f"x{i}" for i in range(3, 11)]


def strong_weak_noise(n_trials: int = 400, seed: int = 0) -> tl.Study:
    """y depends strongly on x1, weakly on x2 and not at all on x3..x10 (of every kind)."""
    rng = np.random.default_rng(seed)
    study = tl.create_study(sampler=RandomSampler(seed=seed))

    def objective(trial: tl.Trial) -> float:
        x1 = trial.suggest_float("x1", -1.0, 1.0)
        x2 = trial.suggest_float("x2", -1.0, 1.0)
        trial.suggest_float("x3", 1e-3, 1.0, log=True)
        trial.suggest_int("x4", 0, 10)
        trial.suggest_categorical("x5", ["a", "b", "c"])
        for i in range(6, 11):
            trial.suggest_float(f"x{i}", 0.0, 1.0)
        return 3.0 * x1**2 + 0.3 * x2 + 0.01 * float(rng.normal())

    study.optimize(objective, n_trials=n_trials)
    return study


def graded(n_trials: int = 500, seed: int = 1) -> tl.Study:
    """Six parameters whose effects halve one after the other: a known full ranking."""
    study = tl.create_study(sampler=RandomSampler(seed=seed))

    def objective(trial: tl.Trial) -> float:
        xs = [trial.suggest_float(f"g{i}", -1.0, 1.0) for i in range(6)]
        return sum(0.5**i * x**2 for i, x in enumerate(xs))

    study.optimize(objective, n_trials=n_trials)
    return study


def conditional(n_trials: int = 400, seed: int = 2) -> tl.Study:
    """A branch choice with a parameter of its own per branch; only 'svm_c' matters much."""
    study = tl.create_study(sampler=RandomSampler(seed=seed))

    def objective(trial: tl.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        model = trial.suggest_categorical("model", ["svm", "tree"])
        if model == "svm":
            c = trial.suggest_float("svm_c", 1e-2, 1e2, log=True)
            return abs(math.log10(c)) + 0.05 * abs(math.log10(lr) + 2)
        depth = trial.suggest_int("tree_depth", 1, 16)
        return 1.0 + 0.001 * depth + 0.05 * abs(math.log10(lr) + 2)

    study.optimize(objective, n_trials=n_trials)
    return study
