"""Small studies for the plot tests, and independent brute-force answers to check plots against."""

from __future__ import annotations

import itertools
import math

import numpy as np

import tunelab as tl
from tunelab.samplers import RandomSampler


def mixed(seed: int = 0, n_trials: int = 30, direction: str = "minimize") -> tl.Study:
    """A float, a log float, an int and a categorical; a few trials report steps or fail."""
    study = tl.create_study(direction=direction, sampler=RandomSampler(seed=seed))

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", -2.0, 2.0)
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        n = trial.suggest_int("n", 1, 5)
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        for step in range(3):
            trial.report(x * x + 1.0 / (step + 1), step)
        if trial.number % 7 == 6:
            raise RuntimeError("a failing trial")
        return x * x + abs(math.log10(lr) + 2.0) + 0.1 * n + (kind == "a")

    study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))
    return study


def two_objectives(seed: int = 0, n_trials: int = 40) -> tl.Study:
    """Minimise the first objective, maximise the second."""
    study = tl.create_study(directions=["minimize", "maximize"], sampler=RandomSampler(seed=seed))

    def objective(trial: tl.Trial) -> tuple[float, float]:
        a = trial.suggest_float("a", 0.0, 1.0)
        b = trial.suggest_float("b", 0.0, 1.0)
        return a + 0.2 * b, 1.0 - (1.0 - a) ** 2 + 0.1 * b

    study.optimize(objective, n_trials=n_trials)
    return study


def non_dominated(points: np.ndarray, signs: np.ndarray) -> set[int]:
    """Indices no other point beats, by a double loop (independent of the library's code)."""
    loss = points * signs
    out = set()
    for i, p in enumerate(loss):
        if not any(
            all(q[k] <= p[k] for k in range(len(p))) and any(q[k] < p[k] for k in range(len(p)))
            for j, q in enumerate(loss)
            if j != i
        ):
            out.add(i)
    return out


def inclusion_exclusion_volume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume (minimisation) by inclusion-exclusion over subsets of ``points``."""
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(range(len(points)), size):
            corner = points[list(subset)].max(axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.clip(reference - corner, 0, None)))
    return total
