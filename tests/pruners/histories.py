"""Synthetic trial histories for pruner tests: learning curves whose quality is known."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curve:
    """One trial's reports, in the order it makes them, and whether its configuration is good."""

    reports: list[tuple[int, float]]
    good: bool
    final: float


def learning_curves(
    seed: int,
    *,
    n_trials: int,
    n_steps: int,
    maximize: bool = False,
    good_share: float = 0.3,
    noise: float = 0.02,
    nan_rate: float = 0.0,
    sparse: bool = False,
    ragged: bool = False,
) -> list[Curve]:
    """Losses ``level + 1 / (step + 1) + noise`` (negated to maximise).

    Good configurations have ``level`` in ``[0, 0.2]``, bad ones in ``[0.5,
    1]``: a good run is below every bad run from the first step on, so a
    pruner that compares runs at the same step can tell them apart.

    Args:
        seed: Seed of the history.
        n_trials: Curves to make.
        n_steps: Steps of a full run.
        maximize: Negate the values (a score to maximise).
        good_share: Chance that a configuration is good.
        noise: Standard deviation of the per-step noise.
        nan_rate: Chance that a report is NaN.
        sparse: Report only a random subset of the steps.
        ragged: Let runs stop at different lengths.
    """
    rng = np.random.default_rng(seed)
    sign = -1.0 if maximize else 1.0
    curves = []
    for _ in range(n_trials):
        good = bool(rng.random() < good_share)
        level = rng.uniform(0.0, 0.1) if good else rng.uniform(0.4, 1.0)
        length = int(rng.integers(n_steps // 2, n_steps + 1)) if ragged else n_steps
        steps = np.arange(length)
        if sparse:
            steps = np.sort(rng.choice(steps, size=max(1, length // 2), replace=False))
        reports = []
        for step in steps:
            value = float(sign * (level + 1.0 / (step + 1) + noise * rng.standard_normal()))
            if rng.random() < nan_rate:
                value = math.nan
            reports.append((int(step), float(value)))
        finite = [v for _, v in reports if not math.isnan(v)]
        curves.append(Curve(reports, good, finite[-1] if finite else sign * 2.0))
    return curves


def instance_scores(
    seed: int,
    *,
    n_trials: int,
    n_instances: int,
    maximize: bool = False,
    good_share: float = 0.3,
) -> list[Curve]:
    """Per-instance losses in a shuffled order, for the Wilcoxon pruner.

    Each instance has its own difficulty (shared by all trials, larger than
    the gap between configurations) so only a paired comparison sees the
    gap; a good configuration scores 0.1 better than a bad one on average.
    The final value is the mean over instances.
    """
    rng = np.random.default_rng(seed)
    sign = -1.0 if maximize else 1.0
    difficulty = rng.uniform(0.0, 1.0, n_instances)
    curves = []
    for _ in range(n_trials):
        good = bool(rng.random() < good_share)
        level = rng.uniform(0.0, 0.01) if good else rng.uniform(0.15, 0.3)
        order = rng.permutation(n_instances)
        values = sign * (level + difficulty[order] + 0.05 * rng.standard_normal(n_instances))
        reports = [(int(i), float(v)) for i, v in zip(order, values, strict=True)]
        curves.append(Curve(reports, good, float(np.mean(values))))
    return curves
