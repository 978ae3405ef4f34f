"""Same history, same decisions: tunelab's pruners against Optuna's, report by report.

Each case builds an Optuna study and a tunelab study with the same name and
direction, reports the same intermediate values to both through ask/report,
and asks both pruners after every report. Histories vary the seed, the
direction, sparse and ragged reporting and NaN reports.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

import tunelab.pruners as ours
from tests.pruners.histories import Curve, instance_scores, learning_curves
from tests.pruners.replay import replay_both

optuna = pytest.importorskip("optuna")

Make = Callable[[Any], Any]

# (id, builder taking the pruners module, history options)
CURVE_CASES: list[tuple[str, Make, dict[str, Any]]] = [
    ("median", lambda m: m.MedianPruner(), {}),
    ("median-warmup-interval", lambda m: m.MedianPruner(2, 3, 4, n_min_trials=4), {"sparse": True}),
    ("percentile-25", lambda m: m.PercentilePruner(25.0), {}),
    (
        "percentile-75-sparse",
        lambda m: m.PercentilePruner(75.0, 3, 2, 3, n_min_trials=3),
        {"sparse": True},
    ),
    (
        "percentile-40-nan-ragged",
        lambda m: m.PercentilePruner(40.0, 2, 1, 2),
        {"nan_rate": 0.1, "ragged": True},
    ),
    ("sh-auto", lambda m: m.SuccessiveHalvingPruner(), {}),
    ("sh-rate", lambda m: m.SuccessiveHalvingPruner(2, 3, 1), {"ragged": True}),
    ("sh-bootstrap-nan", lambda m: m.SuccessiveHalvingPruner(1, 2, 0, 2), {"nan_rate": 0.05}),
    ("hyperband-auto", lambda m: m.HyperbandPruner(), {}),
    ("hyperband-27", lambda m: m.HyperbandPruner(1, 27, 3), {"ragged": True}),
    ("hyperband-bootstrap-nan", lambda m: m.HyperbandPruner(2, 30, 2, 1), {"nan_rate": 0.05}),
    ("threshold-lower", lambda m: m.ThresholdPruner(lower=0.3), {}),
    (
        "threshold-upper-interval-nan",
        lambda m: m.ThresholdPruner(upper=-0.5, n_warmup_steps=2, interval_steps=2),
        {"sparse": True, "nan_rate": 0.1},
    ),
    ("patient-alone", lambda m: m.PatientPruner(None, 2), {}),
    (
        "patient-median-delta-nan",
        lambda m: m.PatientPruner(m.MedianPruner(), 1, min_delta=0.01),
        {"nan_rate": 0.05},
    ),
]

WILCOXON_CASES: list[tuple[str, Make]] = [
    ("wilcoxon", lambda m: m.WilcoxonPruner()),
    ("wilcoxon-strict-startup", lambda m: m.WilcoxonPruner(p_threshold=0.02, n_startup_steps=5)),
]

DIRECTIONS = ["minimize", "maximize"]
SEEDS = [0, 1, 2]


def _assert_same(make: Make, curves: list[Curve], direction: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature and NaN warnings
        mine, theirs = replay_both(make(ours), make(optuna.pruners), curves, direction)
    differ = [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]
    assert not differ, (
        f"{len(differ)} of {len(theirs)} decisions differ, first at report {differ[0]}"
    )
    # A history where nothing is pruned would not test much.
    assert any(theirs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize(
    ("make", "options"), [c[1:] for c in CURVE_CASES], ids=[c[0] for c in CURVE_CASES]
)
def test_learning_curve_pruners_agree_with_optuna(
    make: Make, options: dict[str, Any], direction: str, seed: int
) -> None:
    curves = learning_curves(
        seed,
        n_trials=30,
        n_steps=24,
        maximize=direction == "maximize",
        good_share=0.3,
        noise=0.15,
        **options,
    )
    _assert_same(make, curves, direction)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("make", [c[1] for c in WILCOXON_CASES], ids=[c[0] for c in WILCOXON_CASES])
def test_wilcoxon_agrees_with_optuna(make: Make, direction: str, seed: int) -> None:
    curves = instance_scores(seed, n_trials=12, n_instances=10, maximize=direction == "maximize")
    _assert_same(make, curves, direction)
