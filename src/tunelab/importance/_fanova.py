"""fANOVA on a random forest, and mean decrease in impurity from the same forest.

A regression tree is a sum of boxes: leaf ``l`` predicts ``v_l`` on an axis-aligned box
of the search space. Under the uniform measure on the (encoded) space, with box side
fractions ``w_lk``:

- the mean is ``f0 = Σ_l v_l vol_l`` and the variance ``V = Σ_l vol_l (v_l - f0)²``,
  with ``vol_l = Π_k w_lk``;
- the main effect of parameter ``j`` at ``x`` is ``f_j(x) = Σ_{l: x ∈ side_lj} v_l Π_{k≠j} w_lk``,
  a step function whose steps are the boxes' edges along ``j``.

The importance of ``j`` is ``Var(f_j) / V``, averaged over the trees with ``V > 0``
(Hutter et al., 2014, first-order indices). Every step function is built for all
parameters at once with one difference array over the concatenated edges, so a tree
costs a handful of numpy calls whatever its size.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from tunelab.importance._base import (
    BaseImportanceEvaluator,
    Target,
    check_params,
    complete_trials,
    encode,
    encoded_bounds,
    shared_specs,
    single_target,
    sort_desc,
    varies,
)


class _ForestEvaluator(BaseImportanceEvaluator):
    """Shared by fANOVA and MDI: fit a random forest to the trials that have every parameter."""

    def __init__(self, *, n_trees: int = 64, max_depth: int = 64, seed: int | None = None) -> None:
        if not isinstance(n_trees, int) or n_trees < 1:
            raise ValueError(f"n_trees must be an integer >= 1, got {n_trees!r}")
        if not isinstance(max_depth, int) or max_depth < 1:
            raise ValueError(f"max_depth must be an integer >= 1, got {max_depth!r}")
        self._n_trees = n_trees
        self._max_depth = max_depth
        self._seed = seed

    def evaluate(
        self, study: Any, params: list[str] | None = None, *, target: Target | None = None
    ) -> dict[str, float]:
        params = check_params(params)
        if params == []:
            return {}
        trials = complete_trials(study, target)
        specs = shared_specs(trials, params) if trials else []
        if params is not None and not trials:
            raise ValueError(f"no complete trial to assess params {params!r}")
        names = [s.name for s in specs]
        trials = [t for t in trials if all(n in t.params for n in names)]
        y = single_target(study, trials, target)
        live = [s for s in specs if varies(trials, s.name)]
        out = dict.fromkeys(names, 0.0)
        if len(trials) < 2 or not live:
            return out
        x = encode(trials, live)
        shares = self._importances(x, y, encoded_bounds(live, x))
        out.update({s.name: float(v) for s, v in zip(live, shares, strict=True)})
        return sort_desc(out)

    def _forest(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        forest = RandomForestRegressor(
            n_estimators=self._n_trees,
            max_depth=self._max_depth,
            min_samples_split=2,
            min_samples_leaf=1,
            random_state=self._seed,
        )
        return forest.fit(x, y)

    @abstractmethod
    def _importances(self, x: np.ndarray, y: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """One non-negative importance per column of ``x`` (encoded within ``bounds``)."""


class FanovaImportanceEvaluator(_ForestEvaluator):
    """fANOVA: the share of a random forest's variance each parameter explains alone.

    Log-scaled parameters are measured by their log10 and categorical ones by their
    index, every choice given the same width, so the uniform measure over the space
    matches how samplers draw them (Optuna measures log parameters on a linear scale).
    Without ``params``, only parameters present in every complete trial are assessed
    (conditional ones are left out, as in Optuna).

    Args:
        n_trees: Trees in the forest.
        max_depth: Maximum depth of each tree.
        seed: Seed of the forest (same seed, same importances).
    """

    def _importances(self, x: np.ndarray, y: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        forest = self._forest(x, y)
        shares = [tree_main_effects(e.tree_, bounds) for e in forest.estimators_]
        kept = [s for s in shares if s is not None]
        if not kept:
            return np.zeros(x.shape[1])
        return np.mean(kept, axis=0)


class MeanDecreaseImpurityImportanceEvaluator(_ForestEvaluator):
    """Mean decrease in impurity of a random forest (scikit-learn's ``feature_importances_``).

    Args:
        n_trees: Trees in the forest.
        max_depth: Maximum depth of each tree.
        seed: Seed of the forest (same seed, same importances).
    """

    def _importances(self, x: np.ndarray, y: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        return np.asarray(self._forest(x, y).feature_importances_, dtype=float)


def leaf_boxes(tree: Any, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper corners and prediction of every leaf of a fitted sklearn tree.

    Nodes are visited one depth at a time, so the loop runs once per level, not per node.
    """
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    lo = np.empty((tree.node_count, len(bounds)))
    hi = np.empty_like(lo)
    lo[0], hi[0] = bounds[:, 0], bounds[:, 1]
    level = np.array([0])
    while level.size:
        inner = level[left[level] >= 0]
        if not inner.size:
            break
        f = feature[inner]
        cut = np.clip(threshold[inner], lo[inner, f], hi[inner, f])
        kids_l, kids_r = left[inner], right[inner]
        lo[kids_l], hi[kids_l] = lo[inner], hi[inner]
        lo[kids_r], hi[kids_r] = lo[inner], hi[inner]
        hi[kids_l, f] = cut
        lo[kids_r, f] = cut
        level = np.concatenate([kids_l, kids_r])
    leaves = np.flatnonzero(left < 0)
    return lo[leaves], hi[leaves], np.asarray(tree.value)[leaves, 0, 0].astype(float)


def tree_main_effects(tree: Any, bounds: np.ndarray) -> np.ndarray | None:
    """Each parameter's main-effect variance over the tree's variance; None if that is 0."""
    lo, hi, values = leaf_boxes(tree, bounds)
    width = bounds[:, 1] - bounds[:, 0]
    width = np.where(width > 0, width, 1.0)
    start = (lo - bounds[:, 0]) / width
    end = (hi - bounds[:, 0]) / width
    side = end - start
    volume = side.prod(axis=1)
    mean = float(volume @ values)
    total = float(volume @ (values - mean) ** 2)
    if total <= 0.0:
        return None
    n_leaves, dim = side.shape
    # Product of the other sides, without dividing (a side can be 0 after clipping).
    before = np.cumprod(np.hstack([np.ones((n_leaves, 1)), side[:, :-1]]), axis=1)
    after = np.cumprod(np.hstack([np.ones((n_leaves, 1)), side[:, :0:-1]]), axis=1)[:, ::-1]
    height = (before * after) * values[:, None]
    # Parameter j lives on [2j, 2j + 1]: one sorted edge list serves every parameter.
    offset = 2.0 * np.arange(dim)
    start, end = start + offset, end + offset
    edges = np.unique(np.concatenate([start.ravel(), end.ravel(), offset, offset + 1.0]))
    steps = np.bincount(
        np.searchsorted(edges, start.ravel()), height.ravel(), minlength=edges.size
    ) - np.bincount(np.searchsorted(edges, end.ravel()), height.ravel(), minlength=edges.size)
    effect = np.cumsum(steps)[:-1]
    size = np.diff(edges)
    owner = np.floor(edges[:-1] / 2.0).astype(int)
    inside = edges[1:] <= 2.0 * owner + 1.0
    spread = np.bincount(owner[inside], size[inside] * (effect[inside] - mean) ** 2, minlength=dim)
    return np.asarray(spread / total)
