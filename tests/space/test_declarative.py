"""Search spaces declared as dicts: parsing, conditions, and errors naming the field."""

from __future__ import annotations

import re
from typing import Any

import pytest

import tunelab as tl
from tunelab.samplers import RandomSampler
from tunelab.space import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    SearchSpace,
    space_from_dict,
)

SPEC: dict[str, Any] = {
    "lr": {"float": [1e-5, 1e-1], "log": True},
    "dropout": {"float": [0.0, 0.5], "step": 0.1},
    "depth": {"int": [2, 32]},
    "width": {"int": [16, 256], "step": 16},
    "units": {"int": [1, 1024], "log": True},
    "kernel": {"categorical": ["linear", "rbf", "poly"]},
    "degree": {"int": [2, 5], "when": {"kernel": "poly"}},
    "gamma": {"float": [1e-4, 1.0], "log": True, "when": {"kernel": ["rbf", "poly"]}},
}


def test_happy_path_builds_each_distribution_in_order() -> None:
    space = space_from_dict(SPEC)
    assert list(space.distributions) == list(SPEC)
    assert space.distributions == {
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "dropout": FloatDistribution(0.0, 0.5, step=0.1),
        "depth": IntDistribution(2, 32),
        "width": IntDistribution(16, 256, step=16),
        "units": IntDistribution(1, 1024, log=True),
        "kernel": CategoricalDistribution(["linear", "rbf", "poly"]),
        "degree": IntDistribution(2, 5),
        "gamma": FloatDistribution(1e-4, 1.0, log=True),
    }
    assert space.conditions == {
        "degree": {"kernel": ("poly",)},
        "gamma": {"kernel": ("rbf", "poly")},
    }
    assert space.is_conditional


def test_unconditional_space_is_not_conditional() -> None:
    space = space_from_dict({"x": {"float": [0, 1]}, "c": {"categorical": [None, True, 2]}})
    assert not space.is_conditional
    assert space.distributions["c"] == CategoricalDistribution([None, True, 2])


@pytest.mark.parametrize(
    ("params", "active"),
    [
        ({"kernel": "poly"}, {"degree": True, "gamma": True}),
        ({"kernel": "rbf"}, {"degree": False, "gamma": True}),
        ({"kernel": "linear"}, {"degree": False, "gamma": False}),
        ({}, {"degree": False, "gamma": False}),
    ],
)
def test_active_follows_when(params: dict[str, Any], active: dict[str, bool]) -> None:
    space = space_from_dict(SPEC)
    assert {name: space.active(name, params) for name in active} == active
    assert space.active("lr", params)


def test_condition_on_a_bool_is_not_met_by_an_int() -> None:
    space = space_from_dict(
        {"mode": {"categorical": [True, False, 1, 0]}, "x": {"float": [0, 1], "when": {"mode": 1}}}
    )
    assert space.active("x", {"mode": 1})
    assert not space.active("x", {"mode": True})


def test_suggest_through_a_study_asks_only_active_parameters() -> None:
    space = space_from_dict(SPEC)
    study = tl.create_study(sampler=RandomSampler(seed=0))
    seen_kernels = set()
    for _ in range(30):
        trial = study.ask()
        params = space.suggest(trial)
        study.tell(trial, 0.0)
        seen_kernels.add(params["kernel"])
        assert ("degree" in params) == (params["kernel"] == "poly")
        assert ("gamma" in params) == (params["kernel"] in ("rbf", "poly"))
        assert trial.params == params
        for name, value in params.items():
            dist = space.distributions[name]
            assert dist.contains(dist.to_internal(value))
    assert seen_kernels == {"linear", "rbf", "poly"}


def test_where_prefixes_error_paths() -> None:
    with pytest.raises(ValueError, match=re.escape("study.yaml:space.lr.float:")):
        space_from_dict({"lr": {"float": [1, 0]}}, where="study.yaml:space")


@pytest.mark.parametrize(
    ("spec", "path", "detail"),
    [
        ({}, "space", "non-empty mapping"),
        ([("lr", {"float": [0, 1]})], "space", "non-empty mapping"),
        ({"lr": [0, 1]}, "space.lr", "expected a mapping"),
        ({"lr": {}}, "space.lr", "exactly one of"),
        ({"lr": {"float": [0, 1], "int": [0, 1]}}, "space.lr", "exactly one of"),
        ({"lr": {"floot": [0, 1]}}, "space.lr", "exactly one of"),
        ({"lr": {"float": [0, 1], "lg": True}}, "space.lr", "unknown key(s) ['lg']"),
        ({"act": {"categorical": ["a"], "log": True}}, "space.act", "unknown key(s) ['log']"),
        ({"lr": {"float": 0.1}}, "space.lr.float", "expected [low, high]"),
        ({"lr": {"float": [0, 1, 2]}}, "space.lr.float", "expected [low, high]"),
        ({"lr": {"float": "0..1"}}, "space.lr.float", "expected [low, high]"),
        ({"lr": {"float": [1, 0]}}, "space.lr.float", "low=1.0 must be <= high=0.0"),
        ({"lr": {"float": [0, 1], "log": True}}, "space.lr.float", "must be > 0 when log=True"),
        ({"lr": {"float": [1, 2], "log": "yes"}}, "space.lr.float", "log='yes' must be True"),
        ({"lr": {"float": ["a", 2]}}, "space.lr.float", "low='a' must be a number"),
        ({"lr": {"float": [None, 2]}}, "space.lr.float", "low=None must be a number"),
        ({"p": {"float": [0, 1], "step": 0.3}}, "space.p.float", "step=0.3 must divide"),
        ({"n": {"int": [0, 2.5]}}, "space.n.int", "high=2.5 must be an integer"),
        ({"n": {"int": [0, 10], "step": 3}}, "space.n.int", "step=3 must divide"),
        ({"n": {"int": [0, 10], "log": True}}, "space.n.int", "low=0 must be >= 1"),
        ({"n": {"int": [None, 10]}}, "space.n.int", "low=None must be an integer"),
        ({"act": {"categorical": []}}, "space.act.categorical", "must not be empty"),
        ({"act": {"categorical": "relu"}}, "space.act.categorical", "list or tuple, got str"),
        ({"act": {"categorical": [[1]]}}, "space.act.categorical", "has type list"),
        (
            {"k": {"categorical": ["a"]}, "d": {"int": [1, 2], "when": "k"}},
            "space.d.when",
            "expected a mapping",
        ),
        (
            {"k": {"categorical": ["a"]}, "d": {"int": [1, 2], "when": {}}},
            "space.d.when",
            "expected a mapping",
        ),
        (
            {"d": {"int": [1, 2], "when": {"k": "a"}}, "k": {"categorical": ["a"]}},
            "space.d.when",
            "parent 'k' must be a parameter declared before this one",
        ),
        (
            {"k": {"categorical": ["a", "b"]}, "d": {"int": [1, 2], "when": {"k": "c"}}},
            "space.d.when.k",
            "'c' is not one of the values of 'k'",
        ),
        (
            {"k": {"categorical": [True, False]}, "d": {"int": [1, 2], "when": {"k": [1]}}},
            "space.d.when.k",
            "1 is not one of the values of 'k'",
        ),
        (
            {"n": {"int": [1, 4]}, "d": {"int": [1, 2], "when": {"n": [2, 7]}}},
            "space.d.when.n",
            "7 is not one of the values of 'n'",
        ),
    ],
)
def test_malformed_spec_names_the_field(spec: Any, path: str, detail: str) -> None:
    with pytest.raises(ValueError) as info:
        space_from_dict(spec)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert detail in message, message


def test_search_space_defaults_to_no_conditions() -> None:
    space = SearchSpace({"x": FloatDistribution(0.0, 1.0)})
    assert not space.is_conditional
    assert space.active("x", {})
