"""The behaviour every sampler must show, checked through real studies.

Use it by subclassing in a test module::

    class TestMySampler(SamplerContract):
        model_based = True

        def make_sampler(self, seed: int | None) -> BaseSampler:
            return MySampler(seed=seed)

``SamplerContract`` itself has no ``Test`` prefix, so pytest collects it only
through such subclasses. Samplers that must be told their space up front (a
grid, a QMC sampler with a fixed space) override :meth:`make_sampler_for_space`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
from scipy import stats

import tunelab as tl
from tunelab.samplers import BaseSampler
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    SearchSpaceTransform,
)

Space = dict[str, BaseDistribution]
Objective = Callable[[tl.Trial], Any]

BOUNDS_SPACE: Space = {
    "x": FloatDistribution(-3.0, 5.0),
    "n": IntDistribution(-4, 7),
    "fs": FloatDistribution(-0.3, 0.9, step=0.4),
    "is": IntDistribution(3, 23, step=5),
    "lf": FloatDistribution(1e-4, 1e2, log=True),
    "li": IntDistribution(1, 1000, log=True),
}
LOG_SPACE: Space = {
    "lr": FloatDistribution(1e-4, 1e2, log=True),
    "units": IntDistribution(1, 1000, log=True),
}
CATEGORICAL_SPACE: Space = {
    "flag": CategoricalDistribution([False, True]),
    "bit": CategoricalDistribution([0, 1]),
    "rate": CategoricalDistribution([0.1, 0.5, 1.0]),
    "act": CategoricalDistribution(["relu", "tanh", "gelu"]),
    "mixed": CategoricalDistribution([None, True, 0, 1, 1.0, "1"]),
}
CONDITIONAL_SPACE: Space = {
    "model": CategoricalDistribution(["linear", "tree", "none"]),
    "c": FloatDistribution(1e-3, 1e3, log=True),
    "depth": IntDistribution(1, 8),
}
BRANCH_PARAMS = {"linear": {"model", "c"}, "tree": {"model", "depth"}, "none": {"model"}}
SINGLE_SPACE: Space = {
    "x": FloatDistribution(0.0, 1.0),
    "f1": FloatDistribution(0.5, 0.5),
    "f2": FloatDistribution(2.0, 2.0, log=True),
    "f3": FloatDistribution(1.5, 1.5, step=0.25),
    "i1": IntDistribution(7, 7),
    "i2": IntDistribution(4, 4, log=True),
    "c1": CategoricalDistribution(["only"]),
    "c2": CategoricalDistribution([None]),
}
SEED_SPACE: Space = {
    "x": FloatDistribution(-1.0, 1.0),
    "n": IntDistribution(0, 20),
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "drop": FloatDistribution(0.0, 0.5, step=0.05),
    "act": CategoricalDistribution([None, True, 2, 0.5, "relu"]),
}


def suggest(trial: tl.Trial, name: str, dist: BaseDistribution) -> Any:
    """Ask ``trial`` for ``name`` through the public ``suggest_*`` method of its kind."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)


def score(params: Mapping[str, Any], space: Space) -> float:
    """A smooth objective of the parameters present: squared distance to a corner region."""
    present = {name: space[name] for name in params}
    x = SearchSpaceTransform(present, categorical="index").encode(params)
    return float(np.sum((x - 0.3) ** 2))


def same_typed(value: Any, choice: Any) -> bool:
    """Equal and of the same type: True, 1 and 1.0 are different choices."""
    return type(value) is type(choice) and value == choice


def assert_in_domain(params: Mapping[str, Any], space: Space) -> None:
    """Every value lies in its distribution, on its step grid, with the right Python type."""
    for name, value in params.items():
        dist = space[name]
        if isinstance(dist, CategoricalDistribution):
            assert any(same_typed(value, c) for c in dist.choices), (name, value)
            continue
        expected = int if isinstance(dist, IntDistribution) else float
        assert type(value) is expected, (name, value, type(value))
        assert dist.low <= value <= dist.high, (name, value, dist)
        if dist.step is not None:
            k = (value - dist.low) / dist.step
            assert abs(k - round(k)) < 1e-8, (name, value, dist)
        assert dist.contains(dist.to_internal(value)), (name, value, dist)


def typed(params: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """Parameters with their type names, in name order (so True and 1 differ)."""
    return [(name, type(value).__name__, value) for name, value in sorted(params.items())]


def typed_sequence(study: tl.Study) -> list[list[tuple[str, str, Any]]]:
    """Each trial's parameters, typed."""
    return [typed(t.params) for t in study.trials]


def assert_history_in_domain(study: tl.Study, space: Space) -> None:
    """Every stored trial's parameters lie in their domains."""
    for trial in study.trials:
        assert_in_domain(trial.params, space)


class SamplerContract:
    """Contract tests that every sampler passes; subclass with a ``Test`` name.

    Attributes:
        n_trials: Trials per study in most checks (raise it for samplers that
            only start to act after many trials).
        n_spread_trials: Trials in the statistical check of log-scale spread.
        supports_conditional: Whether define-by-run conditional spaces apply.
        model_based: Whether the sampler concentrates on good regions; the
            spread check expects log-uniform draws only when it does not.
    """

    n_trials: ClassVar[int] = 30
    n_spread_trials: ClassVar[int] = 200
    supports_conditional: ClassVar[bool] = True
    model_based: ClassVar[bool] = False

    def make_sampler(self, seed: int | None) -> BaseSampler:
        """A fresh sampler seeded with ``seed``."""
        raise NotImplementedError

    def make_sampler_for_space(
        self, space: Mapping[str, BaseDistribution], seed: int
    ) -> BaseSampler:
        """A sampler for an objective that suggests (some of) ``space``."""
        return self.make_sampler(seed)

    # -- helpers -------------------------------------------------------------------------------
    def run(
        self,
        space: Space,
        objective: Objective,
        *,
        seed: int = 0,
        n_trials: int | None = None,
        storage: str | None = None,
        directions: Sequence[str] = ("minimize",),
        catch: tuple[type[Exception], ...] = (),
        enqueue: Sequence[Mapping[str, Any]] = (),
    ) -> tl.Study:
        """Optimise ``objective`` in a fresh study with this class's sampler."""
        study = tl.create_study(
            sampler=self.make_sampler_for_space(space, seed),
            storage=storage,
            directions=list(directions),
        )
        for params in enqueue:
            study.enqueue_trial(params)
        study.optimize(objective, n_trials=n_trials or self.n_trials, catch=catch)
        return study

    @staticmethod
    def flat_objective(space: Space, received: list[dict[str, Any]] | None = None) -> Objective:
        """Suggest every parameter of ``space`` and score them; record what was received."""

        def objective(trial: tl.Trial) -> float:
            params = {name: suggest(trial, name, dist) for name, dist in space.items()}
            if received is not None:
                received.append(params)
            return score(params, space)

        return objective

    # -- the contract ---------------------------------------------------------------------------
    def test_suggestions_lie_in_bounds_and_on_steps(self) -> None:
        received: list[dict[str, Any]] = []
        study = self.run(BOUNDS_SPACE, self.flat_objective(BOUNDS_SPACE, received))
        assert len(received) == len(study.trials) > 1
        for params in received:
            assert set(params) == set(BOUNDS_SPACE)
            assert_in_domain(params, BOUNDS_SPACE)
        assert_history_in_domain(study, BOUNDS_SPACE)
        for name in BOUNDS_SPACE:
            assert len({p[name] for p in received}) > 1, f"{name} never varied"

    def test_the_widest_float_range_is_searched(self) -> None:
        # ±1e308: the width of the range overflows a float.
        wide = FloatDistribution(-1e308, 1e308)
        space: Space = {"x": wide, "y": wide}
        received: list[dict[str, Any]] = []
        study = self.run(space, self.flat_objective(space, received))
        assert {t.state for t in study.trials} == {tl.TrialState.COMPLETE}
        for params in received:
            assert_in_domain(params, space)
            assert all(math.isfinite(v) for v in params.values())
        assert len({p["x"] for p in received}) > 1

    def test_log_scale_draws_respect_bounds(self) -> None:
        received: list[dict[str, Any]] = []
        self.run(LOG_SPACE, self.flat_objective(LOG_SPACE, received))
        for params in received:
            assert_in_domain(params, LOG_SPACE)

    def test_log_scale_spread_is_log_uniform(self) -> None:
        if self.model_based:
            pytest.skip("a model-based sampler concentrates its draws where the objective is good")
        received: list[dict[str, Any]] = []
        self.run(LOG_SPACE, self.flat_objective(LOG_SPACE, received), n_trials=self.n_spread_trials)
        assert len(received) >= 50
        logs = [math.log10(p["lr"]) for p in received]
        assert stats.kstest(logs, stats.uniform(loc=-4.0, scale=6.0).cdf).pvalue > 1e-3
        # Log-uniform on [1, 1000] has its median near sqrt(1000); uniform near 500.
        assert 10 <= float(np.median([p["units"] for p in received])) <= 100

    @pytest.mark.parametrize("kind", ["memory", "sqlite"])
    def test_categorical_values_keep_their_types(
        self, kind: str, storage_url_factory: Callable[[str], str]
    ) -> None:
        storage = storage_url_factory("sqlite") if kind == "sqlite" else None
        received: list[dict[str, Any]] = []
        study = self.run(
            CATEGORICAL_SPACE, self.flat_objective(CATEGORICAL_SPACE, received), storage=storage
        )
        for params in received:
            assert_in_domain(params, CATEGORICAL_SPACE)
        stored = [t.params for t in study.trials]
        assert [typed(p) for p in stored] == [typed(p) for p in received]
        assert len({type(p["mixed"]) for p in received}) >= 2
        assert {type(p["bit"]) for p in received} == {int}

    def test_conditional_parameters(self) -> None:
        if not self.supports_conditional:
            pytest.skip("this sampler does not support define-by-run conditional spaces")
        received: list[dict[str, Any]] = []

        def objective(trial: tl.Trial) -> float:
            params = {"model": suggest(trial, "model", CONDITIONAL_SPACE["model"])}
            if params["model"] == "linear":
                params["c"] = suggest(trial, "c", CONDITIONAL_SPACE["c"])
            elif params["model"] == "tree":
                params["depth"] = suggest(trial, "depth", CONDITIONAL_SPACE["depth"])
            received.append(params)
            return score(params, CONDITIONAL_SPACE)

        study = self.run(CONDITIONAL_SPACE, objective)
        for params, trial in zip(received, study.trials, strict=True):
            assert set(params) == BRANCH_PARAMS[params["model"]]
            assert trial.params == params
            assert set(trial.distributions) == set(params)
            assert_in_domain(params, CONDITIONAL_SPACE)
        assert {p["model"] for p in received} == set(BRANCH_PARAMS)

    def test_same_seed_same_sequence_on_memory_and_sqlite(
        self, storage_url_factory: Callable[[str], str]
    ) -> None:
        objective = self.flat_objective(SEED_SPACE)
        runs = [
            self.run(SEED_SPACE, objective, seed=7, storage=storage)
            for storage in (None, storage_url_factory("sqlite"), None)
        ]
        first = typed_sequence(runs[0])
        assert len(first) > 1
        assert typed_sequence(runs[1]) == first
        assert typed_sequence(runs[2]) == first

    def test_different_seeds_give_different_sequences(self) -> None:
        objective = self.flat_objective(SEED_SPACE)
        one = self.run(SEED_SPACE, objective, seed=1)
        two = self.run(SEED_SPACE, objective, seed=2)
        assert typed_sequence(one) != typed_sequence(two)

    def test_failed_and_nan_trials_in_history(self) -> None:
        space = SEED_SPACE

        def objective(trial: tl.Trial) -> float:
            if trial.number % 5 == 0:
                raise ValueError("failed before suggesting")
            params = {name: suggest(trial, name, dist) for name, dist in space.items()}
            if trial.number % 5 == 1:
                return math.nan
            if trial.number % 5 == 2:
                raise ValueError("failed after suggesting")
            return score(params, space)

        study = self.run(space, objective, catch=(ValueError,))
        states = [t.state for t in study.trials]
        assert all(t.state == tl.TrialState.FAIL for t in study.trials if t.number % 5 < 3)
        assert states.count(tl.TrialState.FAIL) >= 3
        assert states.count(tl.TrialState.COMPLETE) >= 2
        assert_history_in_domain(study, space)
        late = [t for t in study.trials if t.number >= 5 and t.number % 5 >= 3]
        assert late and all(set(t.params) == set(space) for t in late)

    def test_pruned_trials_in_history(self) -> None:
        space = SEED_SPACE

        def objective(trial: tl.Trial) -> float:
            if trial.number % 6 == 0:
                raise tl.TrialPruned()  # pruned before suggesting or reporting anything
            params = {name: suggest(trial, name, dist) for name, dist in space.items()}
            value = score(params, space)
            trial.report(value, 0)
            if trial.number % 3 == 1:
                raise tl.TrialPruned()
            return value

        study = self.run(space, objective)
        states = [t.state for t in study.trials]
        assert states.count(tl.TrialState.PRUNED) >= 3
        assert states.count(tl.TrialState.COMPLETE) >= 2
        assert_history_in_domain(study, space)

    def test_multi_objective_study(self) -> None:
        space = SEED_SPACE

        def objective(trial: tl.Trial) -> tuple[float, float]:
            params = {name: suggest(trial, name, dist) for name, dist in space.items()}
            return score(params, space), params["x"]

        study = self.run(space, objective, directions=("minimize", "maximize"))
        assert len(study.trials) > 1
        assert all(t.state == tl.TrialState.COMPLETE for t in study.trials)
        assert all(t.values is not None and len(t.values) == 2 for t in study.trials)
        assert_history_in_domain(study, space)
        assert study.best_trials

    def test_single_value_distributions(self) -> None:
        received: list[dict[str, Any]] = []
        study = self.run(SINGLE_SPACE, self.flat_objective(SINGLE_SPACE, received))
        expected = {"f1": 0.5, "f2": 2.0, "f3": 1.5, "i1": 7, "i2": 4, "c1": "only", "c2": None}
        for params in [*received, *(t.params for t in study.trials)]:
            assert_in_domain(params, SINGLE_SPACE)
            for name, value in expected.items():
                assert same_typed(params[name], value), (name, params[name])

    def test_enqueued_trials_are_respected(self) -> None:
        space = SEED_SPACE
        full = {"x": 0.25, "n": 13, "lr": 3e-3, "drop": 0.35, "act": True}
        received: list[dict[str, Any]] = []
        self.run(
            space,
            self.flat_objective(space, received),
            enqueue=[full, {"x": -0.5, "act": 2}],
        )
        assert [typed(p) for p in received[:1]] == [typed(full)]
        assert received[1]["x"] == -0.5 and same_typed(received[1]["act"], 2)
        for params in received:
            assert_in_domain(params, space)
        assert len(received) > 2
