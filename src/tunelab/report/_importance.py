"""Parameter importance: how much of the objective's variation each parameter explains alone.

Method — functional-ANOVA main effects measured on a random-forest surrogate:

1. Encode the parameters of the complete trials as numbers (a categorical choice by
   its index, a log-scaled parameter by its log10, others as they are).
2. Fit a small, seeded scikit-learn random forest that predicts the objective.
3. The main effect of parameter ``j`` at value ``v`` is the forest's prediction with
   ``j`` set to ``v``, averaged over the observed values of all other parameters (a
   partial dependence). It is evaluated at the observed values of ``j`` (or at 32 of
   their quantiles when there are more distinct values).
4. The importance of ``j`` is the variance of its main effect over the observed
   distribution of ``j``; importances are normalised to sum to 1.

A parameter that moves the objective only together with another (a pure interaction)
scores low, as in fANOVA's first-order indices. Parameters missing from some complete
trials (conditional spaces) are left out; the report says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunelab.report._params import ParamSpec, param_specs
from tunelab.trial import FrozenTrial, TrialState

MIN_TRIALS = 3
_MAX_GRID = 32
_MAX_BACKGROUND = 128


def param_importances(
    study: Any, *, objective: int = 0, seed: int = 0, n_trees: int = 64
) -> dict[str, float]:
    """Importance of each parameter for one objective, highest first, summing to 1.

    Args:
        study: A :class:`~tunelab.Study`, or a sequence of :class:`~tunelab.FrozenTrial`.
        objective: Index of the objective to explain.
        seed: Seed of the random forest and of the background sample (same seed,
            same importances).
        n_trees: Trees in the forest.

    Returns:
        Parameter name to importance, sorted from most to least important.

    Raises:
        ValueError: Fewer than 3 complete trials with a finite value, no parameter
            shared by all of them, or all values equal (nothing to explain).
    """
    if n_trees < 1:
        raise ValueError(f"n_trees must be >= 1, got {n_trees!r}")
    trials = _complete(study, objective)
    if len(trials) < MIN_TRIALS:
        raise ValueError(
            f"importance needs at least {MIN_TRIALS} complete trials with a finite "
            f"objective {objective}, got {len(trials)}"
        )
    specs = shared_params(trials)
    if not specs:
        raise ValueError("no parameter appears in every complete trial")
    x = np.array([[s.encode(t.params[s.name]) for s in specs] for t in trials], dtype=float)
    y = np.array([(t.values or [])[objective] for t in trials], dtype=float)
    keep = np.isfinite(x).all(axis=1)
    x, y = x[keep], y[keep]
    if len(y) < MIN_TRIALS or np.ptp(y) == 0.0:
        raise ValueError("the objective values are all equal; there is nothing to explain")
    variances = _main_effect_variances(x, y, seed=seed, n_trees=n_trees)
    total = float(variances.sum())
    shares = variances / total if total > 0 else np.zeros_like(variances)
    ranked = sorted(zip(specs, shares, strict=True), key=lambda p: -p[1])
    return {spec.name: float(share) for spec, share in ranked}


def _complete(study: Any, objective: int) -> list[FrozenTrial]:
    trials = study.get_trials() if hasattr(study, "get_trials") else list(study)
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.values is not None
        and len(t.values) > objective
        and math.isfinite(t.values[objective])
    ]


def shared_params(trials: Sequence[FrozenTrial]) -> list[ParamSpec]:
    """Specs of the parameters present in every one of ``trials``."""
    return [s for s in param_specs(trials) if all(s.name in t.params for t in trials)]


def _main_effect_variances(x: np.ndarray, y: np.ndarray, *, seed: int, n_trees: int) -> np.ndarray:
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=2, random_state=seed)
    forest.fit(x, y)
    rng = np.random.default_rng(seed)
    background = x
    if len(x) > _MAX_BACKGROUND:
        background = x[rng.choice(len(x), _MAX_BACKGROUND, replace=False)]
    out = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        grid, weights = _grid(x[:, j])
        batch = np.repeat(background[None, :, :], len(grid), axis=0)
        batch[:, :, j] = grid[:, None]
        effect = forest.predict(batch.reshape(-1, x.shape[1])).reshape(len(grid), -1).mean(axis=1)
        mean = float(weights @ effect)
        out[j] = float(weights @ (effect - mean) ** 2)
    return out


def _grid(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values at which to evaluate a main effect, with their probability weights."""
    values, counts = np.unique(column, return_counts=True)
    if len(values) <= _MAX_GRID:
        return values, counts / counts.sum()
    quantiles = np.quantile(column, (np.arange(_MAX_GRID) + 0.5) / _MAX_GRID)
    return quantiles, np.full(_MAX_GRID, 1.0 / _MAX_GRID)
