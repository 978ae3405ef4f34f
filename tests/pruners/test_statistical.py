"""Statistical checks: on histories where good and bad configurations are known, a
correct pruner keeps (nearly) every good one and prunes most bad ones, and the same
pruner judging in the wrong direction fails the same check.

Histories (tests/pruners/histories.py): good configurations are rare (one in
ten) and clearly better than bad ones at every step, under noise; four seeds
are pooled. Tolerances are per pruner because each keeps a different share
by design (the median half, successive halving a third per rung...).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import cast

import pytest

from tests.pruners.histories import Curve, instance_scores, learning_curves
from tests.pruners.replay import replay
from tunelab.pruners import (
    BasePruner,
    HyperbandPruner,
    LearningCurvePruner,
    MedianPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    WilcoxonPruner,
)
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial, StudyDirection, TrialState


class _FlippedView:
    """A study view that reports the opposite direction."""

    def __init__(self, view: StudyView) -> None:
        self._view = view

    @property
    def study_name(self) -> str:
        return self._view.study_name

    @property
    def direction(self) -> StudyDirection:
        if self._view.direction == StudyDirection.MINIMIZE:
            return StudyDirection.MAXIMIZE
        return StudyDirection.MINIMIZE

    @property
    def directions(self) -> list[StudyDirection]:
        return [self.direction]

    def get_trials(
        self, deepcopy: bool = False, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._view.get_trials(deepcopy=deepcopy, states=states)


def _inverted(cls: type[BasePruner]) -> type[BasePruner]:
    """A broken variant of ``cls`` that ranks trials in the wrong direction."""

    class Inverted(cls):
        def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
            return bool(super().prune(cast(StudyView, _FlippedView(study)), trial))

    return Inverted


@dataclass(frozen=True)
class Check:
    """A pruner, how to build it from its class, and the shares it must reach."""

    cls: type[BasePruner]
    build: Callable[[type[BasePruner]], BasePruner]
    min_kept_good: float
    min_pruned_bad: float


CHECKS = {
    "median": Check(MedianPruner, lambda c: c(), 0.9, 0.7),
    "percentile-25": Check(PercentilePruner, lambda c: c(25.0), 0.6, 0.8),
    "successive-halving": Check(
        SuccessiveHalvingPruner, lambda c: c(min_resource=1, reduction_factor=3), 0.5, 0.9
    ),
    "hyperband": Check(HyperbandPruner, lambda c: c(min_resource=1, max_resource=27), 0.6, 0.7),
    "learning-curve": Check(LearningCurvePruner, lambda c: c(), 0.85, 0.7),
}


def _shares(
    make: Callable[[], BasePruner], histories: list[list[Curve]], direction: str
) -> tuple[float, float]:
    """Share of good configurations kept and of bad ones pruned, over all histories."""
    kept_good = n_good = pruned_bad = n_bad = 0
    for curves in histories:
        outcome = replay(make(), curves, direction)  # a fresh pruner per study
        kept_good += outcome.kept_good
        n_good += outcome.n_good
        pruned_bad += outcome.pruned_bad
        n_bad += outcome.n_bad
    assert n_good >= 10 and n_bad >= 10  # enough of each to measure shares
    return kept_good / n_good, pruned_bad / n_bad


SEEDS = range(4)


@pytest.mark.parametrize("broken", [False, True], ids=["real", "inverted"])
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("name", list(CHECKS))
def test_pruner_keeps_good_and_prunes_bad_configurations(
    name: str, direction: str, broken: bool
) -> None:
    check = CHECKS[name]
    cls = _inverted(check.cls) if broken else check.cls
    histories = [
        learning_curves(
            seed, n_trials=40, n_steps=27, maximize=direction == "maximize", good_share=0.1
        )
        for seed in SEEDS
    ]
    kept, pruned = _shares(lambda: check.build(cls), histories, direction)
    passes = kept >= check.min_kept_good and pruned >= check.min_pruned_bad
    assert passes is not broken, f"kept {kept:.0%} of good, pruned {pruned:.0%} of bad"


@pytest.mark.slow
@pytest.mark.parametrize("broken", [False, True], ids=["real", "inverted"])
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_wilcoxon_keeps_good_and_prunes_bad_configurations(direction: str, broken: bool) -> None:
    # Per-instance difficulty dwarfs the gap between configurations: only a
    # paired test sees it. A strict threshold keeps the repeated tests of a
    # good trial (one per report) from pruning it by chance.
    cls = _inverted(WilcoxonPruner) if broken else WilcoxonPruner
    histories = [
        instance_scores(
            seed, n_trials=20, n_instances=12, maximize=direction == "maximize", good_share=0.4
        )
        for seed in range(2)
    ]
    kept, pruned = _shares(lambda: cls(p_threshold=0.01), histories, direction)
    passes = kept >= 0.8 and pruned >= 0.85
    assert passes is not broken, f"kept {kept:.0%} of good, pruned {pruned:.0%} of bad"
