"""Helpers of the statistical sampler tests: best values over seeds and a strict comparison."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import tunelab as tl
from tunelab.samplers import BaseSampler
from tunelab.trial import Trial


def best_values(
    make: Callable[[int], BaseSampler],
    objective: Callable[[Trial], float],
    *,
    seeds: Iterable[int],
    n_trials: int,
    **study: Any,
) -> list[float]:
    """The best value of one study per seed, each with ``make(seed)`` as its sampler."""
    out = []
    for seed in seeds:
        s = tl.create_study(sampler=make(seed), **study)
        s.optimize(objective, n_trials=n_trials)
        out.append(s.best_value)
    return out


def better_on_every_seed_by_5x(candidate: list[float], baseline: list[float]) -> bool:
    """Better than the baseline on every seed, and by 5x on the median."""
    paired = all(c < b for c, b in zip(candidate, baseline, strict=True))
    return paired and float(np.median(candidate)) < 0.2 * float(np.median(baseline))
