"""``tunelab.distributions`` against ``optuna.distributions``, property by property.

Hypothesis draws distributions and values; each property compares what the two
libraries do with the same input, so a difference in either direction fails.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tunelab.distributions as tld

od = pytest.importorskip("optuna.distributions")

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
choice = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), finite, st.text(max_size=3))


@st.composite
def float_args(draw: st.DrawFn) -> dict[str, Any]:
    log = draw(st.booleans())
    low = draw(positive if log else finite)
    high = low + draw(st.floats(0, 1e3, allow_nan=False))
    step = None if log else draw(st.one_of(st.none(), st.sampled_from([0.1, 0.25, 0.5, 1.0, 3.0])))
    return {"low": low, "high": high, "log": log, "step": step}


@st.composite
def int_args(draw: st.DrawFn) -> dict[str, Any]:
    log = draw(st.booleans())
    low = draw(st.integers(1, 100) if log else st.integers(-100, 100))
    high = low + draw(st.integers(0, 200))
    step = 1 if log else draw(st.integers(1, 7))
    return {"low": low, "high": high, "log": log, "step": step}


def both(kind: str, **kwargs: Any) -> tuple[Any, Any]:
    """The same distribution built by each library (warnings about the range are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(tld, kind)(**kwargs), getattr(od, kind)(**kwargs)


def assert_same(ours: Any, theirs: Any) -> None:
    assert type(ours).__name__ == type(theirs).__name__
    assert ours._asdict().keys() == theirs._asdict().keys()
    for key, value in theirs._asdict().items():
        mine = ours._asdict()[key]
        if isinstance(value, float):
            assert mine == pytest.approx(value, rel=1e-12, abs=1e-12), key
        else:
            assert list(mine) == list(value) if key == "choices" else mine == value, key


@PROPERTY
@given(float_args(), st.lists(finite, max_size=5))
# One whole step in decimal, a hair less in binary: single() must count in decimal.
@example({"low": 0.99999, "high": 1.49999, "log": False, "step": 0.5}, [])
def test_float_distribution_matches(args: dict[str, Any], probes: list[float]) -> None:
    ours, theirs = both("FloatDistribution", **args)
    assert_same(ours, theirs)  # including the high lowered to the last whole step
    assert ours.single() == theirs.single()
    for value in [ours.low, ours.high, *probes]:
        if args["log"] and value <= 0:
            continue
        internal = theirs.to_internal_repr(value)
        assert ours.to_internal_repr(value) == internal
        assert ours._contains(internal) == theirs._contains(internal)
        assert ours.to_external_repr(internal) == theirs.to_external_repr(internal)


@PROPERTY
@given(int_args(), st.lists(st.integers(-300, 300), max_size=5))
def test_int_distribution_matches(args: dict[str, Any], probes: list[int]) -> None:
    ours, theirs = both("IntDistribution", **args)
    assert_same(ours, theirs)
    assert ours.single() == theirs.single()
    for value in [ours.low, ours.high, *probes]:
        if args["log"] and value <= 0:
            continue
        internal = theirs.to_internal_repr(value)
        assert ours.to_internal_repr(value) == internal
        assert ours._contains(internal) == theirs._contains(internal)
        assert ours.to_external_repr(internal) == theirs.to_external_repr(internal)


@PROPERTY
@given(st.lists(choice, min_size=1, max_size=6, unique_by=lambda c: (type(c), repr(c))))
def test_categorical_distribution_matches(choices: list[Any]) -> None:
    ours, theirs = both("CategoricalDistribution", choices=choices)
    assert ours.choices == theirs.choices
    assert ours.single() == theirs.single()
    for index in range(-1, len(choices) + 1):
        assert ours._contains(float(index)) == theirs._contains(float(index))
    for index, value in enumerate(choices):
        assert ours.to_external_repr(float(index)) is theirs.to_external_repr(float(index))
        # Optuna finds the first equal choice (True == 1); tunelab keeps types apart.
        if not any(c == value and type(c) is not type(value) for c in choices):
            assert ours.to_internal_repr(value) == theirs.to_internal_repr(value)


def _any_distribution() -> st.SearchStrategy[tuple[Any, Any]]:
    return st.one_of(
        float_args().map(lambda a: both("FloatDistribution", **a)),
        int_args().map(lambda a: both("IntDistribution", **a)),
        st.lists(choice, min_size=1, max_size=5, unique_by=lambda c: (type(c), repr(c))).map(
            lambda c: both("CategoricalDistribution", choices=c)
        ),
    )


@PROPERTY
@given(_any_distribution())
def test_json_is_optunas_and_reads_both_ways(pair: tuple[Any, Any]) -> None:
    ours, theirs = pair
    ours_text, theirs_text = tld.distribution_to_json(ours), od.distribution_to_json(theirs)
    assert _canonical(ours_text) == _canonical(theirs_text)
    with warnings.catch_warnings():
        # A lowered high can be lowered again on reading, in Optuna as here.
        warnings.simplefilter("ignore")
        assert od.json_to_distribution(ours_text) == od.json_to_distribution(theirs_text)
        assert tld.json_to_distribution(theirs_text) == tld.json_to_distribution(ours_text)
        back = tld.json_to_distribution(theirs_text)
    assert _canonical(tld.distribution_to_json(back)) == _canonical(
        od.distribution_to_json(od.json_to_distribution(theirs_text))
    )


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True)


DEPRECATED = [
    ("UniformDistribution", {"low": 0.5, "high": 2.0}),
    ("LogUniformDistribution", {"low": 1e-3, "high": 1.0}),
    ("DiscreteUniformDistribution", {"low": 0.0, "high": 1.0, "q": 0.25}),
    ("IntUniformDistribution", {"low": 0, "high": 10, "step": 2}),
    ("IntLogUniformDistribution", {"low": 1, "high": 64}),
]


@pytest.mark.parametrize(("name", "kwargs"), DEPRECATED, ids=[d[0] for d in DEPRECATED])
def test_deprecated_distributions_warn_and_match(name: str, kwargs: dict[str, Any]) -> None:
    with pytest.warns(FutureWarning):
        ours = getattr(tld, name)(**kwargs)
    with pytest.warns(FutureWarning):
        theirs = getattr(od, name)(**kwargs)
    assert_same(ours, theirs)
    assert isinstance(ours, tld.FloatDistribution | tld.IntDistribution)
    assert (ours.low, ours.high, ours.log, ours.step) == (
        theirs.low,
        theirs.high,
        theirs.log,
        theirs.step,
    )
    with pytest.warns(FutureWarning):
        assert type(tld.json_to_distribution(od.distribution_to_json(theirs))).__name__ == name
    with pytest.warns(FutureWarning):
        assert od.json_to_distribution(tld.distribution_to_json(ours)) == theirs


def test_discrete_uniform_q_is_the_step() -> None:
    with pytest.warns(FutureWarning):
        dist = tld.DiscreteUniformDistribution(0.0, 1.0, q=0.5)
    assert dist.q == dist.step == 0.5


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"kind": "FloatDistribution", "low": 0, "high": 1}, {"low": 0, "high": 2}),
        ({"kind": "IntDistribution", "low": 0, "high": 3}, {"low": 1, "high": 9, "step": 2}),
        ({"kind": "FloatDistribution", "low": 1, "high": 2}, {"low": 1, "high": 2, "log": True}),
        ({"kind": "IntDistribution", "low": 1, "high": 3}, {"low": 1, "high": 3, "log": True}),
        ({"kind": "CategoricalDistribution", "choices": ["a"]}, {"choices": ["a", "b"]}),
        ({"kind": "CategoricalDistribution", "choices": ["a"]}, {"choices": ["a"]}),
    ],
)
def test_check_distribution_compatibility_agrees(old: dict[str, Any], new: dict[str, Any]) -> None:
    kind = old.pop("kind")
    ours_old, theirs_old = both(kind, **old)
    ours_new, theirs_new = both(kind, **new)
    theirs_error = _raises(od.check_distribution_compatibility, theirs_old, theirs_new)
    ours_error = _raises(tld.check_distribution_compatibility, ours_old, ours_new)
    assert ours_error == theirs_error
    other = tld.IntDistribution(0, 1) if kind != "IntDistribution" else tld.FloatDistribution(0, 1)
    with pytest.raises(ValueError, match="another kind"):
        tld.check_distribution_compatibility(ours_old, other)


def _raises(check: Any, old: Any, new: Any) -> bool:
    try:
        check(old, new)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "float", "low": 0.0, "high": 1.0, "log": false}',
        '{"type": "int", "low": 1, "high": 9, "step": 2}',
        '{"type": "categorical", "choices": ["x", 1, null]}',
    ],
)
def test_short_json_form_reads_like_optuna(text: str) -> None:
    assert _canonical(tld.distribution_to_json(tld.json_to_distribution(text))) == _canonical(
        od.distribution_to_json(od.json_to_distribution(text))
    )


def test_json_to_distribution_names_an_unknown_distribution() -> None:
    with pytest.raises(ValueError, match="unknown distribution 'BetaDistribution'"):
        tld.json_to_distribution('{"name": "BetaDistribution", "attributes": {}}')
    with pytest.raises(ValueError, match="expected a JSON object"):
        tld.json_to_distribution("[1, 2]")


def test_module_exports_optunas_public_names() -> None:
    wanted = {n for n in dir(od) if n.endswith("Distribution") or n.endswith("_json")}
    wanted |= {"check_distribution_compatibility", "CategoricalChoiceType", "DISTRIBUTION_CLASSES"}
    assert wanted <= set(tld.__all__)
    assert [c.__name__ for c in tld.DISTRIBUTION_CLASSES] == [
        c.__name__ for c in od.DISTRIBUTION_CLASSES
    ]
