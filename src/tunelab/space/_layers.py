"""A network's hidden layers as trial parameters: a depth, then one width per layer.

The structure is ``<prefix>n_layers`` and ``<prefix>width_{i}`` for each layer
``i < n_layers``, so a shallow trial holds no width for deeper layers. Both
:func:`tunelab.torch.suggest_mlp` (asked one parameter at a time) and study configs
(declared up front as a conditional space) use these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.space._declarative import SearchSpace
from tunelab.space._distributions import BaseDistribution, IntDistribution


def n_layers_param(prefix: str) -> str:
    """The name of the number of hidden layers."""
    return f"{prefix}n_layers"


def width_param(prefix: str, layer: int) -> str:
    """The name of hidden layer ``layer``'s width (counting from 0)."""
    return f"{prefix}width_{layer}"


def layers_space(prefix: str, depth: IntDistribution, width: BaseDistribution) -> SearchSpace:
    """The depth, then each layer's width, present only in trials deep enough to have it.

    Args:
        prefix: Prepended to ``n_layers`` and ``width_{i}``.
        depth: The range of the number of hidden layers.
        width: The distribution every layer's width is drawn from.
    """
    depth_name = n_layers_param(prefix)
    distributions: dict[str, BaseDistribution] = {depth_name: depth}
    conditions: dict[str, dict[str, tuple[Any, ...]]] = {}
    for layer in range(depth.high):
        name = width_param(prefix, layer)
        distributions[name] = width
        deep_enough = tuple(range(max(layer + 1, depth.low), depth.high + 1))
        if deep_enough != tuple(range(depth.low, depth.high + 1)):
            conditions[name] = {depth_name: deep_enough}
    return SearchSpace(distributions, conditions)


def layer_widths(params: Mapping[str, Any], prefix: str) -> tuple[int, ...]:
    """The hidden widths a trial's ``params`` describe, first layer first.

    Raises:
        ValueError: The depth is missing or not a count, or a layer has no width.
    """
    depth = params.get(n_layers_param(prefix))
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"{n_layers_param(prefix)} must be a count of layers, got {depth!r}")
    missing = [width_param(prefix, i) for i in range(depth) if width_param(prefix, i) not in params]
    if missing:
        raise ValueError(f"{depth} hidden layers but no value for {', '.join(missing)}")
    return tuple(int(params[width_param(prefix, i)]) for i in range(depth))
