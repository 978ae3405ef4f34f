"""One TPE draw: fit l(x) to the good rows and g(x) to the rest, keep the best candidate."""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.samplers._threads import single_blas_thread
from tunelab.samplers._tpe._axes import Axis, axis_for
from tunelab.samplers._tpe._history import History
from tunelab.samplers._tpe._parzen import Kernels, Observations, ParzenEstimator
from tunelab.space import BaseDistribution, from_unit

WeightsFunc = Callable[[int], Any]

# Sets larger than this reuse the history's sorted columns instead of sorting,
# unless they are under 1/_PRESORTED_SHARE of the history (a windowed g(x) in a
# long study), where filtering the whole sorted column costs more than a sort.
_PRESORTED_MIN = 256
_PRESORTED_SHARE = 16


@dataclass(frozen=True)
class DrawSettings:
    """The sampler options a draw needs (see :class:`TPESampler`)."""

    n_candidates: int
    prior_weight: float
    consider_endpoints: bool
    weights: WeightsFunc | None


def draw(
    history: History,
    space: Mapping[str, BaseDistribution],
    sets: tuple[np.ndarray, np.ndarray],
    lies: np.ndarray,
    rng: np.random.Generator,
    settings: DrawSettings,
) -> dict[str, Any]:
    """The candidate from l(x) with the largest log l(x) - log g(x), as external values.

    Args:
        history: Where the rows live.
        space: The parameters to draw, jointly.
        sets: Rows of the good and of the other observations that have all of ``space``.
        lies: ``(k, len(space))`` encoded points counted as the worst observations.
        rng: The random stream.
        settings: Sampler options.
    """
    axes, numeric, categorical, score = _scored_candidates(
        history, space, sets, lies, rng, settings
    )
    best = int(np.argmax(score))
    return decode(space, axes, numeric[:, best], categorical[:, best])


def draw_new(
    history: History,
    space: Mapping[str, BaseDistribution],
    sets: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
    settings: DrawSettings,
    seen: Container[tuple[Any, ...]],
) -> dict[str, Any] | None:
    """As :func:`draw`, but the best candidate that is not in ``seen``; None if all are.

    Args:
        history: Where the rows live.
        space: The parameters to draw, jointly.
        sets: Rows of the good and of the other observations that have all of ``space``.
        rng: The random stream.
        settings: Sampler options.
        seen: Configurations to pass over, each the tuple of its external values in
            ``space`` order.
    """
    no_lies = np.empty((0, len(space)))
    axes, numeric, categorical, score = _scored_candidates(
        history, space, sets, no_lies, rng, settings
    )
    for index in np.argsort(-score, kind="stable"):
        params = decode(space, axes, numeric[:, index], categorical[:, index])
        if tuple(params.values()) not in seen:
            return params
    return None


def _scored_candidates(
    history: History,
    space: Mapping[str, BaseDistribution],
    sets: tuple[np.ndarray, np.ndarray],
    lies: np.ndarray,
    rng: np.random.Generator,
    settings: DrawSettings,
) -> tuple[list[Axis], np.ndarray, np.ndarray, np.ndarray]:
    """The axes, the candidates drawn from l(x) (numeric, categorical) and their scores."""
    axes = [axis_for(d) for d in space.values()]
    kernels = Kernels(
        n_choices=[a.n_choices for a in axes if a.categorical],
        min_bandwidth=np.array([a.min_bandwidth for a in axes if not a.categorical]),
        consider_endpoints=settings.consider_endpoints,
        prior_weight=settings.prior_weight,
    )
    keys = list(space.items())
    good, bad = sets
    below = ParzenEstimator(_observations(history, keys, axes, good, None, settings), kernels)
    above = ParzenEstimator(_observations(history, keys, axes, bad, lies, settings), kernels)
    numeric, categorical = below.sample(rng, settings.n_candidates)
    for d, axis in enumerate(a for a in axes if not a.categorical):
        numeric[d] = axis.snap(numeric[d])
    # The density matrices are small: BLAS threads would only wait on each other.
    with single_blas_thread():
        score = below.log_pdf(numeric, categorical) - above.log_pdf(numeric, categorical)
    return axes, numeric, categorical, score


def draw_uniform(space: Mapping[str, BaseDistribution], rng: np.random.Generator) -> dict[str, Any]:
    """Every parameter uniform on its (transformed) axis, as RandomSampler draws it."""
    axes = [axis_for(d) for d in space.values()]
    numeric = np.array([rng.random() for a in axes if not a.categorical])
    categorical = np.array([rng.integers(a.n_choices) for a in axes if a.categorical])
    return decode(space, axes, numeric, categorical)


def encode(space: Mapping[str, BaseDistribution], params: Mapping[str, Any]) -> list[float]:
    """The encoded point of one parameter dict (external values), in ``space`` order."""
    return [axis_for(d).encode(d.to_internal(params[n])) for n, d in space.items()]


def decode(
    space: Mapping[str, BaseDistribution],
    axes: Sequence[Axis],
    numeric: np.ndarray,
    categorical: np.ndarray,
) -> dict[str, Any]:
    """External values of one encoded point."""
    params: dict[str, Any] = {}
    i_num = i_cat = 0
    for name, axis in zip(space, axes, strict=True):
        if axis.categorical:
            params[name] = axis.external(float(categorical[i_cat]))
            i_cat += 1
        else:
            params[name] = from_unit(axis.dist, float(numeric[i_num]))
            i_num += 1
    return params


def _observations(
    history: History,
    keys: Sequence[tuple[str, BaseDistribution]],
    axes: Sequence[Axis],
    rows: np.ndarray,
    lies: np.ndarray | None,
    settings: DrawSettings,
) -> Observations:
    """The encoded rows, then the lies (newest of all), as estimator input."""
    is_cat = np.array([a.categorical for a in axes], dtype=bool)
    numeric_keys = [k for k, c in zip(keys, is_cat, strict=True) if not c]
    numeric = np.empty((len(numeric_keys), len(rows)))
    for d, key in enumerate(numeric_keys):
        numeric[d] = history.column(key, rows)
    categorical = np.array(
        [history.column(k, rows) for k, c in zip(keys, is_cat, strict=True) if c], dtype=np.intp
    ).reshape(int(is_cat.sum()), len(rows))
    orders = None
    if len(rows) >= max(_PRESORTED_MIN, history.n_rows // _PRESORTED_SHARE):
        orders = _sorted_orders(history, numeric_keys, rows)
    if lies is not None and len(lies):
        lie_numeric, lie_categorical = lies[:, ~is_cat].T, lies[:, is_cat].T.astype(np.intp)
        if orders is not None:
            orders = [
                _merge_order(numeric[d], order, lie_numeric[d]) for d, order in enumerate(orders)
            ]
        numeric = np.hstack([numeric, lie_numeric])
        categorical = np.hstack([categorical, lie_categorical])
    return Observations(numeric, categorical, _weights(settings.weights, numeric.shape[1]), orders)


def _sorted_orders(
    history: History, keys: Sequence[tuple[str, BaseDistribution]], rows: np.ndarray
) -> list[np.ndarray]:
    """For each key, the permutation of ``rows`` (sorted) that sorts its values.

    Filters the history's presorted column instead of sorting: linear time.
    """
    in_set = np.zeros(history.n_rows, dtype=bool)
    in_set[rows] = True
    position = np.cumsum(in_set) - 1
    orders = []
    for key in keys:
        ranked = history.sorted_rows(key)
        orders.append(position[ranked[in_set[ranked]]])
    return orders


def _merge_order(values: np.ndarray, order: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """The order of ``values`` with ``extra`` appended, given the order of ``values``."""
    extra_order = np.argsort(extra, kind="stable")
    where = np.searchsorted(values[order], extra[extra_order], side="right")
    return np.insert(order, where, len(values) + extra_order)


def _weights(func: WeightsFunc | None, n: int) -> np.ndarray:
    if func is None:
        return np.ones(n)
    weights = np.asarray(func(n), dtype=float)
    if weights.shape != (n,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"weights({n}) must return {n} finite non-negative numbers, got {weights!r}"
        )
    return weights
