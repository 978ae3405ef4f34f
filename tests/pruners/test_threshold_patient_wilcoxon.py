"""ThresholdPruner, PatientPruner and WilcoxonPruner: rules and arguments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.pruners.replay import complete, judge, make_study
from tunelab.pruners import MedianPruner, PatientPruner, ThresholdPruner, WilcoxonPruner

NAN = math.nan


def test_threshold_prunes_outside_the_band_and_on_nan() -> None:
    study = make_study(ThresholdPruner(lower=0.0, upper=1.0))
    assert not judge(study, {0: 0.5})
    assert not judge(study, {0: 0.0, 1: 1.0})  # the bounds themselves are inside
    assert judge(study, {0: 1.5})
    assert judge(study, {0: -0.5})
    assert judge(study, {0: NAN})
    assert not judge(study, {0: 5.0, 1: 0.5})  # only the latest value counts


def test_threshold_one_sided() -> None:
    assert judge(make_study(ThresholdPruner(upper=1.0)), {0: 2.0})
    assert not judge(make_study(ThresholdPruner(upper=1.0)), {0: -1e9})
    assert judge(make_study(ThresholdPruner(lower=1.0)), {0: 0.0})


def test_threshold_warmup_and_interval() -> None:
    study = make_study(ThresholdPruner(upper=1.0, n_warmup_steps=2, interval_steps=3))
    assert not judge(study, {0: 9.0, 1: 9.0})
    assert judge(study, {0: 9.0, 1: 9.0, 2: 9.0})
    assert not judge(study, dict.fromkeys(range(4), 9.0))  # step 3 is not a check step
    assert judge(study, dict.fromkeys(range(6), 9.0))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, TypeError, "needs lower or upper"),
        ({"lower": "low"}, TypeError, "lower must be a number or None, got 'low'"),
        ({"upper": [1]}, TypeError, r"upper must be a number or None, got \[1\]"),
        ({"lower": NAN}, ValueError, "lower must not be NaN"),
        ({"lower": 2.0, "upper": 1.0}, ValueError, "lower must not exceed upper"),
        ({"lower": 0.0, "n_warmup_steps": -1}, ValueError, "n_warmup_steps must be an integer"),
        ({"lower": 0.0, "interval_steps": 0}, ValueError, "interval_steps must be an integer >= 1"),
    ],
)
def test_threshold_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ThresholdPruner(**kwargs)


def test_patient_prunes_after_patience_reports_without_improvement() -> None:
    study = make_study(PatientPruner(None, patience=2))
    assert not judge(study, {0: 1.0, 1: 2.0, 2: 2.0})  # needs patience + 2 reports
    assert judge(study, {0: 1.0, 1: 2.0, 2: 2.0, 3: 2.0})
    assert not judge(study, {0: 1.0, 1: 2.0, 2: 2.0, 3: 0.9})  # improved in the window
    maximize = make_study(PatientPruner(None, patience=1), direction="maximize")
    assert judge(maximize, {0: 1.0, 1: 0.5, 2: 0.5})
    assert not judge(maximize, {0: 1.0, 1: 0.5, 2: 1.5})


def test_patient_min_delta_tolerates_small_regressions() -> None:
    study = make_study(PatientPruner(None, patience=1, min_delta=0.1))
    assert not judge(study, {0: 1.0, 1: 1.05, 2: 1.05})
    assert judge(study, {0: 1.0, 1: 1.2, 2: 1.2})


def test_patient_asks_the_wrapped_pruner_only_once_stagnated() -> None:
    study = make_study(PatientPruner(MedianPruner(n_startup_trials=1), patience=1))
    complete(study, [1.0, 1.0, 1.0])
    # Stagnating and worse than the median: pruned.
    assert judge(study, {0: 5.0, 1: 6.0, 2: 6.0})
    # Improving though worse than the median: the wrapped pruner is not asked.
    assert not judge(study, {0: 9.0, 1: 8.0, 2: 7.0})
    # Stagnating but better than the median: the wrapped pruner keeps it.
    assert not judge(study, {0: 0.1, 1: 0.5, 2: 0.5})


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((None, -1), ValueError, "patience must be an integer >= 0, got -1"),
        ((None, 1, -0.5), ValueError, "min_delta must be a number >= 0, got -0.5"),
        ((None, 1, NAN), ValueError, "min_delta must be a number >= 0, got nan"),
        (("median", 1), TypeError, "wrapped_pruner must be a pruner or None, got str"),
    ],
)
def test_patient_rejects_bad_arguments(
    args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PatientPruner(*args)


def _instances(level: float, n: int, seed: int) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    difficulty = np.linspace(0.0, 1.0, n)
    return {i: float(level + difficulty[i] + 0.01 * rng.standard_normal()) for i in range(n)}


def _wilcoxon_study(direction: str = "minimize", **kwargs: Any) -> Any:
    study = make_study(WilcoxonPruner(**kwargs), direction=direction)
    best = _instances(0.0, 10, seed=0)
    trial = study.ask()
    for step, value in best.items():
        trial.report(value, step)
    study.tell(trial, sum(best.values()) / len(best))
    return study


def test_wilcoxon_prunes_a_trial_worse_on_the_same_instances() -> None:
    study = _wilcoxon_study()
    assert judge(study, _instances(0.1, 10, seed=1))
    assert not judge(study, _instances(-0.1, 10, seed=1))
    assert not judge(study, _instances(0.0, 10, seed=1))  # same level: no evidence


def test_wilcoxon_maximize() -> None:
    study = _wilcoxon_study("maximize")
    assert not judge(study, _instances(0.1, 10, seed=1))
    assert judge(study, _instances(-0.1, 10, seed=1))


def test_wilcoxon_pairs_instances_not_report_order() -> None:
    study = _wilcoxon_study()
    worse = _instances(0.1, 10, seed=1)
    shuffled = {i: worse[i] for i in [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]}
    assert judge(study, shuffled)
    better = _instances(-0.1, 10, seed=1)
    assert not judge(study, {i: better[i] for i in reversed(range(10))})


def test_wilcoxon_waits_for_n_startup_steps() -> None:
    study = _wilcoxon_study(n_startup_steps=6)
    worse = _instances(0.5, 10, seed=1)
    assert not judge(study, {i: worse[i] for i in range(5)})
    assert judge(study, {i: worse[i] for i in range(6)})


def test_wilcoxon_keeps_a_trial_whose_mean_is_no_worse() -> None:
    # Worse on most instances, yet its mean over its own reports beats the best
    # trial's mean (over all instances): kept, as Optuna's safety rule says.
    study = _wilcoxon_study(p_threshold=0.5)
    hard_half = {i: v + 0.01 for i, v in _instances(0.0, 10, seed=0).items() if i < 5}
    assert not judge(study, hard_half)


def test_wilcoxon_never_prunes_non_finite_reports() -> None:
    study = _wilcoxon_study()
    worse = _instances(0.5, 10, seed=1)
    worse[3] = NAN
    with pytest.warns(UserWarning, match="reported NaN or infinity"):
        assert not judge(study, worse)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_threshold": 1.5}, r"p_threshold must be a number in \[0, 1\], got 1.5"),
        ({"p_threshold": "0.1"}, r"p_threshold must be a number in \[0, 1\], got '0.1'"),
        ({"n_startup_steps": -1}, "n_startup_steps must be an integer >= 0, got -1"),
    ],
)
def test_wilcoxon_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WilcoxonPruner(**kwargs)
    with pytest.raises(TypeError):
        WilcoxonPruner(0.1)  # keyword-only, as in Optuna
