"""Optuna's private ``_SearchSpaceTransform``, which OptunaHub samplers use, beside Optuna's."""

from __future__ import annotations

import importlib
import types

import numpy as np
import pytest

import tunelab
import tunelab._transform
from tests.optuna_compat.libraries import LIBRARIES, optuna_ref


def _space(optuna: types.ModuleType) -> dict[str, object]:
    d = optuna.distributions
    return {
        "f": d.FloatDistribution(-1.0, 3.0),
        "flog": d.FloatDistribution(1e-3, 10.0, log=True),
        "fstep": d.FloatDistribution(0.0, 1.0, step=0.25),
        "i": d.IntDistribution(1, 9, step=2),
        "ilog": d.IntDistribution(1, 100, log=True),
        "c": d.CategoricalDistribution(["a", None, 3]),
    }


@pytest.mark.parametrize("transform_0_1", [False, True])
@pytest.mark.parametrize("transform_step", [False, True])
@pytest.mark.parametrize("transform_log", [False, True])
def test_bounds_and_columns_match_optuna(
    transform_log: bool, transform_step: bool, transform_0_1: bool
) -> None:
    ours = tunelab._transform._SearchSpaceTransform(
        _space(tunelab), transform_log, transform_step, transform_0_1
    )
    theirs = optuna_ref._transform._SearchSpaceTransform(
        _space(optuna_ref), transform_log, transform_step, transform_0_1
    )
    np.testing.assert_allclose(ours.bounds, theirs.bounds)
    np.testing.assert_array_equal(ours.encoded_column_to_column, theirs.encoded_column_to_column)
    params = {"f": 0.5, "flog": 0.1, "fstep": 0.75, "i": 5, "ilog": 10, "c": None}
    np.testing.assert_allclose(ours.transform(params), theirs.transform(params))


@pytest.mark.parametrize("optuna", LIBRARIES)
@pytest.mark.parametrize("seed", range(5))
def test_untransform_lands_in_the_space(optuna: types.ModuleType, seed: int) -> None:
    space = _space(optuna)
    transform = importlib.import_module(f"{optuna.__name__}._transform")._SearchSpaceTransform(
        space
    )
    bounds = transform.bounds
    point = np.random.default_rng(seed).uniform(bounds[:, 0], bounds[:, 1])
    params = transform.untransform(point)
    for name, dist in space.items():
        assert dist._contains(dist.to_internal_repr(params[name]))
    assert transform.untransform(transform.transform(params)) == params
