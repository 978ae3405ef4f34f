"""Unit-cube encoding: round trips, decoding into the domain, the from_unit mapping."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    SearchSpaceTransform,
    from_unit,
)

# Timing on a shared machine is noisy; correctness is what these properties check.
PROFILE = settings(deadline=None, max_examples=150)

DistValue = tuple[BaseDistribution, Any]

_CHOICE_POOL: list[Any] = [None, True, False, 0, 1, 2, -3, 0.5, 1.0, -2.25, "a", "b", "1", ""]


@st.composite
def float_and_value(draw: st.DrawFn) -> DistValue:
    low = draw(st.floats(-1e3, 1e3))
    high = low + draw(st.floats(0.0, 1e3))
    t = draw(st.floats(0.0, 1.0))
    return FloatDistribution(low, high), min(low + t * (high - low), high)


@st.composite
def log_float_and_value(draw: st.DrawFn) -> DistValue:
    low = draw(st.floats(1e-8, 1e4))
    high = low * draw(st.floats(1.0, 1e8))
    t = draw(st.floats(0.0, 1.0))
    return FloatDistribution(low, high, log=True), min(low * (high / low) ** t, high)


@st.composite
def step_float_and_value(draw: st.DrawFn) -> DistValue:
    step = draw(st.sampled_from([0.001, 0.01, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]))
    low = draw(st.integers(-1000, 1000)) * step
    n = draw(st.integers(0, 500))
    k = draw(st.integers(0, n))
    # low + n * step can land a hair above the last whole step in binary (0.105 + 0.008 is
    # 0.11299999999999999), and the distribution then lowers high by a step: keep the
    # value on the domain it really has.
    dist = FloatDistribution(low, low + n * step, step=step)
    return dist, min(low + k * step, dist.high)


@st.composite
def int_and_value(draw: st.DrawFn) -> DistValue:
    step = draw(st.integers(1, 10))
    low = draw(st.integers(-1000, 1000))
    n = draw(st.integers(0, 300))
    k = draw(st.integers(0, n))
    return IntDistribution(low, low + n * step, step=step), low + k * step


@st.composite
def log_int_and_value(draw: st.DrawFn) -> DistValue:
    low = draw(st.integers(1, 1000))
    high = low + draw(st.integers(0, 100_000))
    return IntDistribution(low, high, log=True), draw(st.integers(low, high))


@st.composite
def categorical_and_value(draw: st.DrawFn) -> DistValue:
    # Unique by (type, value): True, 1 and 1.0 are distinct choices.
    picks = draw(st.lists(st.sampled_from(range(len(_CHOICE_POOL))), min_size=1, unique=True))
    choices = [_CHOICE_POOL[i] for i in picks]
    return CategoricalDistribution(choices), choices[draw(st.integers(0, len(choices) - 1))]


ANY_PARAM = st.one_of(
    float_and_value(),
    log_float_and_value(),
    step_float_and_value(),
    int_and_value(),
    log_int_and_value(),
    categorical_and_value(),
)


def _same_value(dist: BaseDistribution, got: Any, expected: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return type(got) is type(expected) and got == expected
    if isinstance(dist, IntDistribution):
        return type(got) is int and got == expected
    assert isinstance(dist, FloatDistribution)
    scale = max(1.0, abs(dist.low), abs(dist.high))
    return type(got) is float and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12 * scale)


def _on_domain(dist: BaseDistribution, value: Any) -> bool:
    if isinstance(dist, IntDistribution) and type(value) is not int:
        return False
    if isinstance(dist, FloatDistribution) and type(value) is not float:
        return False
    return dist.contains(dist.to_internal(value))


@PROFILE
@given(
    params=st.lists(ANY_PARAM, min_size=1, max_size=6),
    categorical=st.sampled_from(["onehot", "index"]),
)
@example(params=[(FloatDistribution(0.105, 0.112, step=0.001), 0.112)], categorical="onehot")
def test_encode_decode_round_trip(params: list[DistValue], categorical: Any) -> None:
    space = {f"p{i}": dist for i, (dist, _) in enumerate(params)}
    values = {f"p{i}": value for i, (_, value) in enumerate(params)}
    transform = SearchSpaceTransform(space, categorical=categorical)
    x = transform.encode(values)
    assert x.shape == (transform.n_columns,)
    assert np.all((x >= 0.0) & (x <= 1.0))
    decoded = transform.decode(x)
    assert list(decoded) == list(space)
    for name, dist in space.items():
        assert _same_value(dist, decoded[name], values[name]), (name, dist, decoded[name])
        assert _on_domain(dist, decoded[name])


@PROFILE
@given(
    params=st.lists(ANY_PARAM, min_size=1, max_size=6),
    categorical=st.sampled_from(["onehot", "index"]),
    data=st.data(),
)
def test_decode_of_any_point_lands_in_the_domain(
    params: list[DistValue], categorical: Any, data: st.DataObject
) -> None:
    space = {f"p{i}": dist for i, (dist, _) in enumerate(params)}
    transform = SearchSpaceTransform(space, categorical=categorical)
    # Points slightly outside the cube too: optimisers overshoot, decode must clip.
    coords = st.floats(-0.25, 1.25, allow_nan=False)
    x = np.array(
        data.draw(st.lists(coords, min_size=transform.n_columns, max_size=transform.n_columns))
    )
    decoded = transform.decode(x)
    for name, dist in space.items():
        assert _on_domain(dist, decoded[name]), (name, dist, decoded[name])


def test_onehot_and_index_column_counts() -> None:
    space = {
        "x": FloatDistribution(0.0, 1.0),
        "c": CategoricalDistribution(["a", "b", "c"]),
        "n": IntDistribution(1, 5),
    }
    assert SearchSpaceTransform(space).n_columns == 5
    assert SearchSpaceTransform(space, categorical="index").n_columns == 3
    x = SearchSpaceTransform(space).encode({"x": 0.25, "c": "b", "n": 3})
    np.testing.assert_allclose(x, [0.25, 0.0, 1.0, 0.0, 0.5])


def test_onehot_decodes_by_argmax() -> None:
    transform = SearchSpaceTransform({"c": CategoricalDistribution([None, 1, "z"])})
    assert transform.decode(np.array([0.2, 0.1, 0.7])) == {"c": "z"}
    assert transform.decode(np.array([0.2, 0.9, 0.7])) == {"c": 1}


@pytest.mark.parametrize("u", [0.0, 0.1, 0.37, 0.5, 0.99, 1.0])
def test_from_unit_is_linear_on_a_plain_float(u: float) -> None:
    assert from_unit(FloatDistribution(-2.0, 6.0), u) == pytest.approx(-2.0 + 8.0 * u)


@pytest.mark.parametrize("u", [0.0, 0.1, 0.37, 0.5, 0.99, 1.0])
def test_from_unit_is_geometric_on_a_log_float(u: float) -> None:
    assert from_unit(FloatDistribution(1e-4, 1e2, log=True), u) == pytest.approx(1e-4 * 1e6**u)


def test_from_unit_clips_outside_the_unit_interval() -> None:
    dist = FloatDistribution(1.0, 3.0)
    assert from_unit(dist, -0.5) == 1.0
    assert from_unit(dist, 1.5) == 3.0
    assert from_unit(IntDistribution(0, 4), 2.0) == 4


def _masses(dist: BaseDistribution, n: int = 100_000) -> dict[str, float]:
    """The share of the unit interval that maps to each value (midpoint rule), by repr.

    Keys are reprs so that True, 1 and 1.0 (equal as dict keys) count apart.
    """
    counts = Counter(repr(from_unit(dist, (i + 0.5) / n)) for i in range(n))
    return {value: count / n for value, count in counts.items()}


@pytest.mark.parametrize(
    ("dist", "values"),
    [
        (IntDistribution(0, 9), list(range(10))),
        (IntDistribution(-3, 3), list(range(-3, 4))),
        (IntDistribution(2, 20, step=3), [2, 5, 8, 11, 14, 17, 20]),
        (FloatDistribution(0.0, 1.0, step=0.25), [0.0, 0.25, 0.5, 0.75, 1.0]),
        (CategoricalDistribution([None, True, 1, "1"]), [None, True, 1, "1"]),
    ],
    ids=repr,
)
def test_from_unit_gives_every_value_of_a_finite_domain_equal_mass(
    dist: BaseDistribution, values: list[Any]
) -> None:
    masses = _masses(dist)
    assert sorted(masses) == sorted(repr(v) for v in values)
    for mass in masses.values():
        assert mass == pytest.approx(1 / len(values), abs=2e-5)


def test_from_unit_gives_log_int_values_log_uniform_mass() -> None:
    # Each integer k owns [k - 1/2, k + 1/2] on the log axis.
    low, high = 1, 8
    masses = _masses(IntDistribution(low, high, log=True))
    total = math.log((high + 0.5) / (low - 0.5))
    for k in range(low, high + 1):
        expected = math.log((k + 0.5) / (k - 0.5)) / total
        assert masses[repr(k)] == pytest.approx(expected, abs=2e-5)


def test_from_unit_of_uniform_draws_is_uniform_on_the_log_axis() -> None:
    from scipy import stats

    u = np.random.default_rng(0).random(2000)
    logs = [math.log10(from_unit(FloatDistribution(1e-3, 1e3, log=True), v)) for v in u]
    assert stats.kstest(logs, stats.uniform(loc=-3, scale=6).cdf).pvalue > 0.01
    linear = [from_unit(FloatDistribution(1e-3, 1e3), v) for v in u]
    # The same check rejects a linear draw on that range.
    assert stats.kstest(np.log10(linear), stats.uniform(loc=-3, scale=6).cdf).pvalue < 1e-6


@pytest.mark.parametrize("value", [-1e308, -3e307, 0.0, 1.0, 5e307, 1e308])
def test_ranges_whose_width_overflows_encode_and_decode(value: float) -> None:
    transform = SearchSpaceTransform({"x": FloatDistribution(-1e308, 1e308)})
    u = transform.encode({"x": value})
    assert 0.0 <= u[0] <= 1.0 and math.isfinite(u[0])
    assert transform.decode(u)["x"] == pytest.approx(value, rel=1e-12, abs=1e294)
    assert transform.decode(np.array([0.75]))["x"] == pytest.approx(5e307)
