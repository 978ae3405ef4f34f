"""Hidden layers searched in a config's space: ``NAME: {layers: [low, high], width: {...}}``.

The depth and each layer's width are trial parameters named as
:func:`tunelab.torch.suggest_mlp` names them, after ``NAME.``: ``NAME.n_layers`` and
``NAME.width_{i}`` for the layers the trial has. When the trial's estimator is built
they become one tuple, the estimator's ``NAME`` (``hidden_layer_sizes`` of
scikit-learn's MLPs, ``hidden`` of ``tunelab.torch``'s estimators).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.config._fields import ConfigError, Fields
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    IntDistribution,
    SearchSpace,
)
from tunelab.space._layers import layer_widths, layers_space, n_layers_param

LAYER_KEYS = ("layers", "width")
# Beyond this a typo (an extra digit) would declare a width parameter per layer for nothing.
MAX_LAYERS = 64
_DEPTH = n_layers_param("")
_WIDTH_FORM = "{int: [low, high]} (log, step allowed) or {categorical: [...]} of positive integers"


def is_layers(entry: Any) -> bool:
    """Whether a space entry declares hidden layers rather than one parameter."""
    return isinstance(entry, Mapping) and "layers" in entry


def layers_entry(
    check: Fields, name: str, spec: Mapping[str, Any], width: SearchSpace, path: str
) -> SearchSpace:
    """The trial parameters of a ``{layers, width}`` entry (``width`` parsed as a space).

    Raises:
        ConfigError: The layer range or the width is not usable; the field is named.
    """
    depth = _depth(check, spec["layers"], f"{path}.layers")
    if width.conditions:
        raise check.fail(f"{path}.width.when", "every layer's width is searched alike; remove it")
    return layers_space(f"{name}.", depth, _width(check, width.distributions["width"], path))


def _depth(check: Fields, value: Any, field: str) -> IntDistribution:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise check.fail(field, f"expected [fewest, most] hidden layers, got {value!r}")
    low = check.integer(value[0], f"{field}[0]", minimum=0, maximum=MAX_LAYERS)
    high = check.integer(value[1], f"{field}[1]", minimum=0, maximum=MAX_LAYERS)
    if low > high:
        raise check.fail(field, f"fewest layers {low} is more than most layers {high}")
    return IntDistribution(low, high)


def _width(check: Fields, dist: BaseDistribution, path: str) -> BaseDistribution:
    if isinstance(dist, IntDistribution):
        if dist.low < 1:
            raise check.fail(f"{path}.width.int", f"a layer is at least 1 wide, got {dist.low}")
        return dist
    if isinstance(dist, CategoricalDistribution) and all(
        isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in dist.choices
    ):
        return dist
    raise check.fail(f"{path}.width", f"expected {_WIDTH_FORM}, got {dist!r}")


def model_values(space: SearchSpace) -> dict[str, list[Any]]:
    """Each estimator parameter the space sets, and the values to check it with.

    A plain parameter gives its choices or the ends of its range; hidden layers give
    the shallowest network at the smallest width and the deepest at the largest.
    """
    values: dict[str, list[Any]] = {}
    for name, dist in space.distributions.items():
        base, dot, leaf = name.rpartition(".")
        if not dot:
            choices = getattr(dist, "choices", None)
            values[name] = list(choices) if choices is not None else [dist.low, dist.high]  # type: ignore[attr-defined]
        elif leaf == _DEPTH:
            assert isinstance(dist, IntDistribution)
            widths = _ends(space.distributions.get(f"{base}.width_0"))
            values[base] = [(widths[0],) * dist.low, (widths[1],) * dist.high]
    return values


def _ends(width: BaseDistribution | None) -> tuple[int, int]:
    if isinstance(width, CategoricalDistribution):
        # Checked when parsed: every choice is a positive int.
        widths = [c for c in width.choices if isinstance(c, int)]
        return min(widths), max(widths)
    if isinstance(width, IntDistribution):
        return width.low, width.high
    return 1, 1  # no layer at all: the widths never appear


def estimator_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's model parameters with each ``NAME.n_layers``/``NAME.width_{i}`` group
    joined into the tuple ``NAME``.

    Raises:
        ConfigError: A group lacks its depth or a width (the study's parameters were
            not written by this config), naming the parameter.
    """
    out = {k: v for k, v in params.items() if "." not in k}
    groups = {k.rpartition(".")[0] for k in params if "." in k}
    for base in groups:
        try:
            out[base] = layer_widths(params, f"{base}.")
        except ValueError as exc:
            raise ConfigError(str(exc), field=base) from None
    return out
