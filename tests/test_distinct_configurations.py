"""No two running trials are given the same configuration (issue #12).

Several handles on one study (as independent worker processes hold) that ask at
the same moment see the same history: a model-based sampler then proposes the
same point to each of them, and the claim each trial publishes at ask must move
all but one elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tunelab as tl
from tunelab.samplers import AutoSampler, BaseSampler
from tunelab.space import BaseDistribution, FloatDistribution
from tunelab.storage import InMemoryStorage
from tunelab.study import CONFIGURATION_KEY
from tunelab.trial import FrozenTrial, TrialState

N_HANDLES = 3


def _open_handles(
    url: str | InMemoryStorage, sampler: Callable[[int], tl.samplers.BaseSampler | None]
) -> list[tl.Study]:
    tl.create_study(study_name="s", storage=url)
    return [
        tl.load_study(study_name="s", storage=url, sampler=sampler(i)) for i in range(N_HANDLES)
    ]


def _lockstep(handles: list[tl.Study], rounds: int) -> list[list[float]]:
    """Every handle asks, then every trial suggests, then every trial is told: x per round."""
    configurations = []
    for _ in range(rounds):
        trials = [study.ask() for study in handles]
        xs = [trial.suggest_float("x", -10.0, 10.0) for trial in trials]
        configurations.append(xs)
        for study, trial, x in zip(handles, trials, xs, strict=True):
            # The best value lies on the bound: a GP's acquisition optimum sits exactly there.
            study.tell(trial, x)
    return configurations


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
@pytest.mark.parametrize("seeded", [False, True], ids=["default", "seeded"])
def test_handles_asking_at_once_get_distinct_configurations(
    kind: str, seeded: bool, storage_url_factory: Callable[[str], str]
) -> None:
    url = InMemoryStorage() if kind == "memory" else storage_url_factory(kind)
    # Seeded: each handle its own seed, as the rule for workers asks (see BaseSampler).
    handles = _open_handles(url, lambda i: AutoSampler(seed=i) if seeded else None)
    rounds = _lockstep(handles, 6)  # 3 rounds fill the QMC start, then the GP proposes
    for xs in rounds:
        assert len(set(xs)) == len(xs), rounds
    trials = handles[0].get_trials()
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # The GP's trials published their configuration; the space-filling start sampled x alone.
    assert sum(CONFIGURATION_KEY in t.system_attrs for t in trials) >= 3 * N_HANDLES


def _first_x(sampler: tl.samplers.BaseSampler) -> float:
    study = tl.create_study(sampler=sampler)
    return study.ask().suggest_float("x", -10.0, 10.0)


def test_reseeded_auto_sampler_leaves_the_shared_seed() -> None:
    # `tunelab worker` reseeds a config's seeded sampler in each worker before any trial,
    # when AutoSampler has not yet made the samplers that will draw.
    assert _first_x(AutoSampler(seed=0)) == _first_x(AutoSampler(seed=0))
    reseeded = AutoSampler(seed=0)
    reseeded.reseed_rng()
    assert _first_x(reseeded) != _first_x(AutoSampler(seed=0))
    again = AutoSampler(seed=0)
    again.reseed_rng(7)
    assert _first_x(again) == _first_x(AutoSampler(seed=7))


class _OnePoint(BaseSampler):
    """Proposes x = 0.5 jointly every time, after running ``meanwhile`` once."""

    def __init__(self, meanwhile: Callable[[], None] | None = None) -> None:
        self.meanwhile = meanwhile

    def infer_relative_search_space(
        self, study: Any, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {"x": FloatDistribution(0.0, 1.0)}

    def sample_relative(
        self, study: Any, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if self.meanwhile is not None:
            self.meanwhile()
            self.meanwhile = None
        return {"x": 0.5}

    def sample_independent(
        self, study: Any, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return 0.5


def _run(study: tl.Study, trial: tl.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, x)
    return x


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("rival", ["earlier", "later"])
def test_a_trial_that_ran_while_the_sampler_worked_is_a_rival(
    kind: str, rival: str, storage_url_factory: Callable[[str], str]
) -> None:
    """A fast objective can finish a rival trial before this one's slow sampler returns."""
    url = InMemoryStorage() if kind == "memory" else storage_url_factory(kind)
    tl.create_study(study_name="s", storage=url)
    other = tl.load_study(study_name="s", storage=url, sampler=_OnePoint())
    rival_x: list[float] = []
    if rival == "earlier":  # asked before, finished while this trial's sampler worked
        first = other.ask()
        meanwhile = lambda: rival_x.append(_run(other, first))  # noqa: E731
    else:  # asked and finished while this trial's sampler worked
        meanwhile = lambda: rival_x.append(_run(other, other.ask()))  # noqa: E731
    study = tl.load_study(study_name="s", storage=url, sampler=_OnePoint(meanwhile))
    trial = study.ask()
    assert rival_x == [0.5]
    assert trial.suggest_float("x", 0.0, 1.0) != 0.5
