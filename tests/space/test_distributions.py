"""Distributions: validation, internal form, JSON round trip, membership."""

from __future__ import annotations

import math
from typing import Any

import pytest

import tunelab as tl
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
    distribution_from_json,
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"low": 2.0, "high": 1.0}, "low=2.0 must be <= high=1.0"),
        ({"low": 0.0, "high": math.inf}, "high=inf must be a finite number"),
        ({"low": math.nan, "high": 1.0}, "low=nan must be a finite number"),
        ({"low": 0.0, "high": 1.0, "log": True}, "low=0.0 must be > 0 when log=True"),
        ({"low": -1.0, "high": 1.0, "log": True}, "must be > 0 when log=True"),
        ({"low": 0.0, "high": 1.0, "step": 0.0}, "step=0.0 must be a positive"),
        ({"low": 0.0, "high": 1.0, "step": -0.5}, "step=-0.5 must be a positive"),
        ({"low": 1.0, "high": 2.0, "step": 0.5, "log": True}, "step and log=True"),
        ({"low": "a", "high": 1.0}, "low='a' must be a number"),
        ({"low": 0.0, "high": None}, "high=None must be a number"),
        ({"low": 1.0, "high": 2.0, "log": "no"}, "log='no' must be True or False"),
    ],
)
def test_float_distribution_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        FloatDistribution(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"low": 5, "high": 1}, "low=5 must be <= high=1"),
        ({"low": 1.5, "high": 3}, "low=1.5 must be an integer"),
        ({"low": 0, "high": True}, "high=True must be an integer"),
        ({"low": None, "high": 3}, "low=None must be an integer"),
        ({"low": "a", "high": 3}, "low='a' must be an integer"),
        ({"low": 0, "high": 10, "step": 0}, "step=0 must be >= 1"),
        ({"low": 0, "high": 10, "log": True}, "low=0 must be >= 1 when log=True"),
        ({"low": 1, "high": 9, "log": True, "step": 2}, "step other than 1 and log=True"),
        ({"low": 1, "high": 9, "log": 2}, "log=2 must be True or False"),
    ],
)
def test_int_distribution_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IntDistribution(**kwargs)


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ([], "choices must not be empty"),
        ((), "choices must not be empty"),
        ("abc", "choices must be a list or tuple, got str"),
        ({"a", "b"}, "choices must be a list or tuple, got set"),
        ([1, [2, 3]], r"choice \[2, 3\] has type list"),
        (["a", object], "has type type"),
        ([{"k": 1}], "has type dict"),
    ],
)
def test_categorical_distribution_rejects_invalid_choices(choices: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CategoricalDistribution(choices)


@pytest.mark.parametrize(
    ("suggest", "name"),
    [
        (lambda t: t.suggest_float("lr", 1.0, 0.1), "lr"),
        (lambda t: t.suggest_float("alpha", 0.0, 1.0, log=True), "alpha"),
        (lambda t: t.suggest_float("drop", 0.0, 1.0, step=-0.3), "drop"),
        (lambda t: t.suggest_float("beta", None, 1.0), "beta"),
        (lambda t: t.suggest_int("depth", 5, 1), "depth"),
        (lambda t: t.suggest_int("width", None, 8), "width"),
        (lambda t: t.suggest_int("units", 0, 100, log=True), "units"),
        (lambda t: t.suggest_categorical("act", []), "act"),
        (lambda t: t.suggest_categorical("opt", [[1]]), "opt"),
    ],
)
def test_trial_suggest_errors_name_the_parameter(suggest: Any, name: str) -> None:
    trial = tl.create_study().ask()
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        suggest(trial)
    assert name not in trial.params


def test_step_that_does_not_divide_the_range_lowers_high_with_a_warning() -> None:
    # Optuna's rule: the range is cut to the last whole step, with a warning.
    with pytest.warns(UserWarning, match="high is lowered to 0.9"):
        assert FloatDistribution(0.0, 1.0, step=0.3).high == 0.9
    with pytest.warns(UserWarning, match="high is lowered to 9"):
        assert IntDistribution(0, 10, step=3).high == 9


def test_suggesting_a_name_again_with_another_range_warns_and_keeps_the_value() -> None:
    trial = tl.create_study().ask()
    first = trial.suggest_int("n", 0, 3)
    with pytest.warns(RuntimeWarning, match="parameter 'n' was already suggested"):
        assert trial.suggest_int("n", 0, 4) == first
    assert trial.distributions["n"] == IntDistribution(0, 3)


def test_suggesting_a_name_again_as_another_kind_fails() -> None:
    trial = tl.create_study().ask()
    trial.suggest_int("n", 0, 3)
    with pytest.raises(ValueError, match="parameter 'n' was already suggested"):
        trial.suggest_float("n", 0.0, 3.0)
    with pytest.raises(ValueError, match="parameter 'n' was already suggested"):
        trial.suggest_int("n", 1, 3, log=True)
    trial.suggest_categorical("c", ["a", "b"])
    with pytest.raises(ValueError, match="parameter 'c' was already suggested"):
        trial.suggest_categorical("c", ["a", "b", "c"])


def test_categorical_equality_distinguishes_bools_from_ints() -> None:
    bools = CategoricalDistribution([False, True])
    ints = CategoricalDistribution([0, 1])
    assert bools != ints
    assert bools == CategoricalDistribution((False, True))
    assert hash(bools) == hash(CategoricalDistribution([False, True]))
    with pytest.raises(ValueError, match="already suggested"):
        check_compatible("flag", bools, ints)


def test_categorical_equality_holds_once_compared_and_after_pickling() -> None:
    import pickle

    # Comparing caches each instance's typed choices: later comparisons, and a copy
    # pickled without the cache (as by an earlier version), must answer the same.
    a, b = (
        CategoricalDistribution([True, 1, math.nan]),
        CategoricalDistribution([1, True, math.nan]),
    )
    for _ in range(2):
        assert a != b and hash(a) != hash(b)
        assert a == CategoricalDistribution([True, 1, math.nan])
    bare = CategoricalDistribution([True, 1, math.nan])
    bare.__dict__.pop("_typed_choices", None)
    restored = pickle.loads(pickle.dumps(bare))
    assert restored == a and hash(restored) == hash(a) and restored != b


@pytest.mark.parametrize(
    "dist",
    [
        FloatDistribution(-1.5, 2.25),
        FloatDistribution(1e-5, 1.0, log=True),
        FloatDistribution(0.0, 1.0, step=0.1),
        FloatDistribution(3.0, 3.0),
        IntDistribution(-4, 12),
        IntDistribution(1, 1024, log=True),
        IntDistribution(0, 100, step=5),
        CategoricalDistribution([None, True, 0, 1.0, "1", -2.5]),
        CategoricalDistribution(["only"]),
    ],
    ids=repr,
)
def test_json_round_trip(dist: BaseDistribution) -> None:
    text = dist.to_json()
    back = distribution_from_json(text)
    assert back == dist
    assert type(back) is type(dist)
    assert back.to_json() == text


def test_json_round_trip_keeps_choice_types() -> None:
    choices = [None, True, 1, 1.0, "1"]
    back = distribution_from_json(CategoricalDistribution(choices).to_json())
    assert isinstance(back, CategoricalDistribution)
    assert [type(c) for c in back.choices] == [type(c) for c in choices]


def test_float_contains() -> None:
    dist = FloatDistribution(-1.0, 2.0)
    assert dist.contains(-1.0) and dist.contains(2.0) and dist.contains(0.123)
    assert not dist.contains(-1.0001) and not dist.contains(2.5)
    assert not dist.contains(math.nan) and not dist.contains(math.inf)


def test_float_step_contains_only_grid_points() -> None:
    dist = FloatDistribution(0.0, 1.0, step=0.1)
    assert all(dist.contains(k * 0.1) for k in range(11))
    assert dist.contains(0.30000000000000004)  # 3 * 0.1 in binary floating point
    assert not dist.contains(0.15) and not dist.contains(1.1) and not dist.contains(-0.1)


def test_int_contains() -> None:
    dist = IntDistribution(2, 20, step=3)
    assert [v for v in range(0, 25) if dist.contains(float(v))] == [2, 5, 8, 11, 14, 17, 20]
    assert not dist.contains(2.5)
    assert not dist.contains(math.nan)
    assert not dist.contains(math.inf)


def test_categorical_contains_indices() -> None:
    dist = CategoricalDistribution(["a", "b", "c"])
    assert [dist.contains(float(i)) for i in range(-1, 4)] == [False, True, True, True, False]
    assert not dist.contains(0.5)
    assert not dist.contains(math.nan)


def test_categorical_internal_form_keeps_types_apart() -> None:
    dist = CategoricalDistribution([1, True, 1.0, "1", None])
    assert [dist.to_internal(v) for v in (1, True, 1.0, "1", None)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [type(dist.to_external(float(i))) for i in range(5)] == [
        int,
        bool,
        float,
        str,
        type(None),
    ]
    with pytest.raises(ValueError, match="is not one of the choices"):
        dist.to_internal(False)


def test_nan_choice_maps_to_its_index_and_survives_json() -> None:
    dist = CategoricalDistribution(["a", math.nan])
    assert dist.to_internal(math.nan) == 1.0
    back = distribution_from_json(dist.to_json())
    assert back == dist and hash(back) == hash(dist)
    assert dist != CategoricalDistribution(["a", "nan"])


@pytest.mark.parametrize(
    ("dist", "single"),
    [
        (FloatDistribution(1.0, 1.0), True),
        (FloatDistribution(1.0, 1.5), False),
        (FloatDistribution(1.0, 1.0, step=0.5), True),
        (IntDistribution(3, 3), True),
        (IntDistribution(3, 4), False),
        (IntDistribution(3, 3, step=2), True),
        (CategoricalDistribution([None]), True),
        (CategoricalDistribution([None, 0]), False),
    ],
    ids=repr,
)
def test_single(dist: BaseDistribution, single: bool) -> None:
    assert dist.single() is single
