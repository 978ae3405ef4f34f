"""PED-ANOVA: importance as the Pearson divergence between good and all trials, per parameter.

Watanabe et al. (IJCAI 2023) show that the local variance a parameter explains within
the top-γ' of trials, relative to the top-γ region, equals (γ'/γ)² times the Pearson
divergence ``Σ p_region (p_top / p_region - 1)²`` between the parameter's density among
the top trials and in the region. Densities are Parzen estimators on a grid of at most
50 cells per parameter (Scott's bandwidth, one wide prior kernel), so the cost is a
few array operations per parameter whatever the number of trials.

Conditional parameters (Conditional PED-ANOVA, KDD 2026): the region's trials are split
by the distribution each one drew the parameter from (absent is a regime of its own and
contributes nothing); regime ``i`` adds ``α_i² / β_i × D_i``, with ``α_i`` and ``β_i`` its
shares of the top and region trials and ``D_i`` the divergence inside it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr

from tunelab.importance._base import (
    BaseImportanceEvaluator,
    Target,
    check_params,
    choice_indices,
    columns,
    complete_trials,
    is_multi_objective,
    loss,
    sort_desc,
)
from tunelab.importance._hypervolume import best_first
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunelab.trial import FrozenTrial, StudyDirection

_N_CELLS = 50
_PRIOR_WEIGHT = 1.0
_MIN_REGIME = 2
# Narrowest kernel: 1.64 sigma (90% of its mass) fits within half a cell.
_MIN_SIGMA = 0.5 / 1.64
_TINY = 1e-12


class PedAnovaImportanceEvaluator(BaseImportanceEvaluator):
    """PED-ANOVA: which parameters it takes to reach the top ``target_quantile`` of trials.

    Every parameter that appears in a complete trial is assessed, conditional ones
    included. A ``target`` is minimised; without one, the study's direction is used, and a
    multi-objective study ranks trials by non-domination, then by hypervolume contribution.

    Args:
        target_quantile: Share of the best trials that count as "top" (γ' in the paper).
        region_quantile: Share of the best trials the importance is measured within (γ);
            1.0 is all trials.
        evaluate_on_local: Compare the top trials with the region's trials (True) or with
            a uniform density over the search space (False).
        baseline_quantile: Optuna 4's name for ``target_quantile``; give one or the other.
    """

    def __init__(
        self,
        *,
        target_quantile: float | None = None,
        region_quantile: float = 1.0,
        evaluate_on_local: bool = True,
        baseline_quantile: float | None = None,
    ) -> None:
        if target_quantile is not None and baseline_quantile is not None:
            raise ValueError("give target_quantile or baseline_quantile (its old name), not both")
        chosen = target_quantile if target_quantile is not None else baseline_quantile
        top = 0.1 if chosen is None else chosen
        if not 0.0 < top < region_quantile <= 1.0:
            raise ValueError(
                "need 0 < target_quantile < region_quantile <= 1, got "
                f"target_quantile={top!r}, region_quantile={region_quantile!r}"
            )
        self._top = float(top)
        self._region = float(region_quantile)
        self._local = bool(evaluate_on_local)

    def evaluate(
        self, study: Any, params: list[str] | None = None, *, target: Target | None = None
    ) -> dict[str, float]:
        params = check_params(params)
        trials = complete_trials(study, target)
        names = _names(trials, params)
        out = dict.fromkeys(names, 0.0)
        if len(trials) < 2 or not names:
            return out
        cuts = [max(1, math.ceil(q * len(trials))) for q in (self._top, self._region)]
        order, ranked_loss = _best_first(study, trials, target, cuts)
        n_region = _count(ranked_loss, len(trials), self._region)
        n_top = min(_count(ranked_loss, len(trials), self._top), n_region)
        region = [trials[i] for i in order[:n_region]]
        is_top = np.zeros(n_region, dtype=bool)
        is_top[:n_top] = True
        if n_top == n_region:
            warnings.warn(
                "the top and region quantiles select the same trials; importances are all 0",
                stacklevel=3,
            )
        # Row by row, each trial's dicts are read once while in cache: reading them
        # column by column was most of the time at 10,000 trials.
        values = columns([t.params for t in region], names)
        shared = region[0].distributions
        # Without conditional parameters every trial has the same distributions: one
        # regime per parameter, found without reading them trial by trial.
        if all(t.distributions == shared for t in region):
            regimes = [[(shared.get(n), np.arange(len(region)))] for n in names]
        else:
            regimes = [_regimes(c) for c in columns([t.distributions for t in region], names)]
        for name, groups, column in zip(names, regimes, values, strict=True):
            out[name] = float(self._importance(groups, column, is_top))
        scale = (n_top / n_region) ** 2
        return sort_desc({k: v * scale for k, v in out.items()})

    def _importance(
        self,
        regimes: list[tuple[BaseDistribution | None, np.ndarray]],
        values: Sequence[Any],
        is_top: np.ndarray,
    ) -> float:
        n_top = int(is_top.sum())
        total = 0.0
        for dist, members in regimes:
            if dist is None or dist.single() or members.size < _MIN_REGIME:
                continue
            top = is_top[members]
            if not top.any():
                continue
            whole = members.size == len(values)
            chosen = values if whole else [values[i] for i in members.tolist()]
            cells = _cells(dist, chosen)
            n_cells = _n_cells(dist)
            p_top = _parzen(np.bincount(cells[top], minlength=n_cells), dist)
            if self._local:
                p_region = _parzen(np.bincount(cells, minlength=n_cells), dist)
            else:
                p_region = np.full(n_cells, 1.0 / n_cells)
            divergence = float(p_region @ ((p_top / p_region - 1.0) ** 2))
            alpha = top.sum() / n_top
            beta = members.size / len(values)
            total += alpha**2 / beta * divergence
        return total


def _regimes(
    dists: Sequence[BaseDistribution | None],
) -> list[tuple[BaseDistribution | None, np.ndarray]]:
    """Trial indices grouped by the distribution each drew the parameter from (None: absent).

    Trials mostly share distribution objects, so grouping is by identity first (cheap)
    and only the few distinct objects are compared by value.
    """
    ids = np.fromiter(map(id, dists), dtype=np.int64, count=len(dists))
    unique_ids, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    merged: dict[BaseDistribution | None, list[int]] = {}
    for k, i in enumerate(first):
        merged.setdefault(dists[i], []).append(k)
    if len(unique_ids) == 1:
        return [(dists[0], np.arange(len(dists)))]
    return [(dist, np.flatnonzero(np.isin(inverse, groups))) for dist, groups in merged.items()]


def _names(trials: Sequence[FrozenTrial], params: list[str] | None) -> list[str]:
    # Trials share a few layouts of parameters; names are read from each layout once.
    layouts = dict.fromkeys(tuple(t.distributions) for t in trials)
    seen = list(dict.fromkeys(n for layout in layouts for n in layout))
    if params is None:
        return seen
    missing = [p for p in params if p not in seen]
    if missing:
        raise ValueError(f"params {missing!r} appear in no complete trial; known: {sorted(seen)!r}")
    return params


def _best_first(
    study: Any, trials: Sequence[FrozenTrial], target: Target | None, cuts: list[int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Trial indices from best to worst, and their losses when there is one objective."""
    if target is None and is_multi_objective(study):
        values = np.array([t.values for t in trials], dtype=float)
        signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
        return best_first(values * signs, cuts), None
    raw = np.array(
        [target(t) if target else (t.values or [math.nan])[0] for t in trials], dtype=float
    )
    losses = loss(study, raw, target)
    # Stable, so equal values keep trial order and the top set is reproducible.
    order = np.argsort(losses, kind="stable")
    return order, losses[order]


def _count(ranked_loss: np.ndarray | None, n_trials: int, quantile: float) -> int:
    """How many of the best trials the top ``quantile`` holds (ties with the last one too)."""
    n = max(1, math.ceil(quantile * n_trials))
    if ranked_loss is None or n >= n_trials:
        return min(n, n_trials)
    return int(np.searchsorted(ranked_loss, ranked_loss[n - 1], side="right"))


def _n_cells(dist: BaseDistribution) -> int:
    if isinstance(dist, CategoricalDistribution):
        return len(dist.choices)
    assert isinstance(dist, FloatDistribution | IntDistribution)
    if isinstance(dist, IntDistribution) and dist.log:
        # About one cell per doubling: finer cells would mostly stay empty.
        return min(math.ceil(math.log2(dist.high - dist.low + 1)) + 1, _N_CELLS)
    if dist.step is not None:
        return min(round((dist.high - dist.low) / dist.step) + 1, _N_CELLS)
    return _N_CELLS


def _cells(dist: BaseDistribution, values: Sequence[Any]) -> np.ndarray:
    """Grid cell of each value: the nearest of ``_n_cells`` evenly spaced points."""
    if isinstance(dist, CategoricalDistribution):
        return choice_indices(dist.choices, values).astype(np.intp)
    assert isinstance(dist, FloatDistribution | IntDistribution)
    n = _n_cells(dist)
    x = np.fromiter(values, dtype=float, count=len(values))
    low, high = float(dist.low), float(dist.high)
    if dist.log:
        x, low, high = np.log(x), math.log(low), math.log(high)
    position = (x - low) / (high - low) * (n - 1)
    # A value half-way between two points goes to the lower one.
    return np.clip(np.ceil(position - 0.5), 0, n - 1).astype(np.intp)


def _parzen(counts: np.ndarray, dist: BaseDistribution) -> np.ndarray:
    """Parzen density over the cells, from the number of trials in each, plus a prior."""
    n = counts.size
    where = np.flatnonzero(counts)
    weights = np.append(counts[where].astype(float), _PRIOR_WEIGHT)
    weights /= weights.sum()
    if isinstance(dist, CategoricalDistribution):
        kernels = np.full((where.size + 1, n), _PRIOR_WEIGHT / (where.size + 1))
        kernels[np.arange(where.size), where] += 1.0
        kernels /= kernels.sum(axis=1, keepdims=True)
    else:
        sigma = _scott_bandwidth(where.astype(float), counts[where].astype(float))
        centres = np.append(where.astype(float), (n - 1) / 2.0)
        sigmas = np.append(np.full(where.size, sigma), float(n))
        kernels = _discrete_normal(centres, sigmas, n)
    return weights @ kernels + _TINY


def _scott_bandwidth(cells: np.ndarray, counts: np.ndarray) -> float:
    if cells.size == 0:
        return _MIN_SIGMA
    total = counts.sum()
    mean = float(counts @ cells) / total
    std = math.sqrt(float(counts @ (cells - mean) ** 2) / max(1.0, total - 1.0))
    cumulative = np.cumsum(counts)
    q1 = cells[min(int(np.searchsorted(cumulative, total // 4)), cells.size - 1)]
    q3 = cells[min(int(np.searchsorted(cumulative, total * 3 // 4, side="right")), cells.size - 1)]
    sigma = 1.059 * min((q3 - q1) / 1.34, std) * total**-0.2
    return max(float(sigma), _MIN_SIGMA)


def _discrete_normal(centres: np.ndarray, sigmas: np.ndarray, n: int) -> np.ndarray:
    """Normal kernels truncated to the cells 0..n-1, each integrated over its unit cell."""
    edges = np.arange(n + 1) - 0.5
    cdf = ndtr((edges[None, :] - centres[:, None]) / sigmas[:, None])
    mass = np.diff(cdf, axis=1)
    return mass / np.maximum(cdf[:, -1:] - cdf[:, :1], _TINY)
