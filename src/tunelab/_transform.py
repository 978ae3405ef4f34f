"""Optuna's search-space encoding for samplers, under its private path ``optuna._transform``.

Samplers written for Optuna (many OptunaHub packages) encode parameters with
``optuna._transform._SearchSpaceTransform``: numeric parameters take one column
(log-scaled on request, widened by half a step so every grid value owns an
equal share), categorical ones one column per choice (one-hot, decoded by
argmax). tunelab's own samplers use :class:`tunelab.space.SearchSpaceTransform`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

Numeric = FloatDistribution | IntDistribution


def _transform_numerical_param(
    param: float, distribution: BaseDistribution, transform_log: bool
) -> float:
    """A numeric parameter's coordinate: its log where the distribution is log-scaled."""
    assert isinstance(distribution, Numeric), "categorical parameters are one-hot encoded"
    if distribution.log and transform_log:
        return math.log(param)
    return float(param)


def _untransform_numerical_param(
    trans_param: float, distribution: BaseDistribution, transform_log: bool
) -> float:
    """The parameter value at a coordinate: on the step grid and within the bounds."""
    assert isinstance(distribution, Numeric), "categorical parameters are one-hot encoded"
    low, high, step = distribution.low, distribution.high, distribution.step
    value = math.exp(trans_param) if distribution.log and transform_log else trans_param
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            return int(min(max(round(value), low), high))
        grid = distribution.step
        return int(min(max(low + math.floor((value - low) / grid + 0.5) * grid, low), high))
    if step is not None:
        value = low + round((value - low) / step) * step
    return float(min(max(value, low), high))


def _numeric_bounds(
    distribution: Numeric, transform_log: bool, transform_step: bool
) -> tuple[float, float]:
    half = 0.5 * distribution.step if transform_step and distribution.step is not None else 0.0
    if distribution.log and isinstance(distribution, IntDistribution):
        # Widen in value space, then take logs: each integer owns [n - 1/2, n + 1/2].
        low = _transform_numerical_param(distribution.low - half, distribution, transform_log)
        high = _transform_numerical_param(distribution.high + half, distribution, transform_log)
        return low, high
    low = _transform_numerical_param(distribution.low, distribution, transform_log)
    high = _transform_numerical_param(distribution.high, distribution, transform_log)
    return low - half, high + half


class _SearchSpaceTransform:
    """Encode parameter sets as vectors of a continuous box, and decode them back.

    Args:
        search_space: Parameter name to distribution, in column order (not empty).
        transform_log: Encode log-scaled parameters by their logarithm.
        transform_step: Widen stepped (and integer) bounds by half a step each side.
        transform_0_1: Scale every column to the unit interval.

    Attributes:
        bounds: One ``(low, high)`` row per encoded column (``[0, 1]`` rows with
            ``transform_0_1``).
        column_to_encoded_columns: For each parameter, its encoded columns.
        encoded_column_to_column: For each encoded column, its parameter's index.
    """

    def __init__(
        self,
        search_space: Mapping[str, BaseDistribution],
        transform_log: bool = True,
        transform_step: bool = True,
        transform_0_1: bool = False,
    ) -> None:
        assert len(search_space) > 0, "cannot encode an empty search space"
        self._search_space = dict(search_space)
        self._transform_log = transform_log
        self._transform_0_1 = transform_0_1
        rows: list[tuple[float, float]] = []
        self.column_to_encoded_columns: list[np.ndarray] = []
        owners: list[int] = []
        for index, distribution in enumerate(self._search_space.values()):
            if isinstance(distribution, CategoricalDistribution):
                width = len(distribution.choices)
                rows.extend([(0.0, 1.0)] * width)
            else:
                assert isinstance(distribution, Numeric)
                width = 1
                rows.append(_numeric_bounds(distribution, transform_log, transform_step))
            self.column_to_encoded_columns.append(np.arange(len(owners), len(owners) + width))
            owners.extend([index] * width)
        self._raw_bounds = np.array(rows, dtype=np.float64)
        self.encoded_column_to_column = np.array(owners, dtype=np.int64)

    @property
    def bounds(self) -> np.ndarray:
        """The box the encoded vectors live in, one ``(low, high)`` row per column."""
        if self._transform_0_1:
            return np.array([[0.0, 1.0]] * len(self._raw_bounds))
        return self._raw_bounds

    def transform(self, params: Mapping[str, Any]) -> np.ndarray:
        """The encoded vector of ``params``, which holds a value for every parameter."""
        encoded = np.zeros(len(self._raw_bounds), dtype=np.float64)
        for (name, distribution), columns in zip(
            self._search_space.items(), self.column_to_encoded_columns, strict=True
        ):
            assert name in params, "the parameters must cover the whole search space"
            if isinstance(distribution, CategoricalDistribution):
                encoded[columns[int(distribution.to_internal(params[name]))]] = 1.0
            else:
                encoded[columns[0]] = _transform_numerical_param(
                    params[name], distribution, self._transform_log
                )
        if self._transform_0_1:
            low, high = self._raw_bounds[:, 0], self._raw_bounds[:, 1]
            width = high - low
            with np.errstate(invalid="ignore", divide="ignore"):
                encoded = np.where(width > 0, (encoded - low) / width, 0.5)
        return encoded

    def untransform(self, trans_params: np.ndarray) -> dict[str, Any]:
        """The parameters at an encoded vector: the likeliest choice of each categorical."""
        assert trans_params.shape == (len(self._raw_bounds),)
        if self._transform_0_1:
            low, high = self._raw_bounds[:, 0], self._raw_bounds[:, 1]
            trans_params = low + trans_params * (high - low)
        params: dict[str, Any] = {}
        for (name, distribution), columns in zip(
            self._search_space.items(), self.column_to_encoded_columns, strict=True
        ):
            if isinstance(distribution, CategoricalDistribution):
                params[name] = distribution.to_external(int(trans_params[columns].argmax()))
            else:
                params[name] = _untransform_numerical_param(
                    float(trans_params[columns[0]]), distribution, self._transform_log
                )
        return params
