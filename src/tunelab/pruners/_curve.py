"""Stop a trial whose extrapolated learning curve is unlikely to beat the best finished run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab._validation import check_int, is_int, is_real
from tunelab.pruners._base import BasePruner
from tunelab.pruners._curve_models import forecast
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


class LearningCurvePruner(BasePruner):
    """Prune a trial when its learning curve, extrapolated, is unlikely to win.

    Once a trial has ``min_points`` finite reports, four parametric curve
    families are fitted to them by least squares within bounds: a power law
    ``a + b * x**-c``, an exponential saturation ``a + b * exp(-c * x)``,
    Janoschek's ``a + b * exp(-c * x**d)`` and the Morgan-Mercer-Flodin
    sigmoid in ``log x``. Each family predicts the value at ``max_resource``
    as a Student t whose variance is the residual noise (never below a
    robust estimate of the noise in the reports) plus the uncertainty of the
    fitted parameters carried to ``max_resource``, with as many degrees of
    freedom as points beyond the family's parameters; the families are mixed
    with weights ``exp(-BIC / 2)``. The trial is pruned when the mixture
    gives less than ``threshold`` probability to ending better than the
    target: the best final value of the completed trials, or, with
    ``percentile``, the value that the best ``percentile`` percent of them
    reached.

    A curve that is short, flat or erratic leaves the parameters poorly
    determined and the prediction wide, so such a trial runs on; a trial
    whose best report already beats the target is never pruned; and when no
    family can be fitted (too few finite reports, a failed or non-finite
    fit) the trial runs on. NaN and infinite reports are ignored. Each
    decision costs a few small fits (milliseconds), so the pruner suits
    expensive trials with tens to thousands of reports.

    Args:
        max_resource: The step of a full run's last report, or ``"auto"``
            (the default): the last step of the longest completed trial.
            Predictions are made for this step.
        min_points: Judge a trial only once it has this many finite reports
            (at least 3; 5 by default). Families with as many parameters as
            there are points are left out of the fit.
        n_startup_trials: Judge only once this many trials completed with a
            finite value (at least 1; 3 by default).
        threshold: In ``(0, 1)``: prune when the chance of beating the target
            is below this (0.05 by default). Smaller prunes less.
        percentile: In ``[0, 100]``: the target is the value that the best
            ``percentile`` percent of completed trials reached; 0 (the
            default) is the best completed value. A larger one prunes less.

    Raises:
        ValueError: An argument is out of its range.
    """

    def __init__(
        self,
        *,
        max_resource: int | str = "auto",
        min_points: int = 5,
        n_startup_trials: int = 3,
        threshold: float = 0.05,
        percentile: float = 0.0,
    ) -> None:
        if max_resource != "auto" and (not is_int(max_resource) or max_resource < 1):
            raise ValueError(
                f"max_resource must be 'auto' or an integer >= 1, got {max_resource!r}"
            )
        check_int("min_points", min_points, 3)
        check_int("n_startup_trials", n_startup_trials, 1)
        if not is_real(threshold) or not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a number in (0, 1), got {threshold!r}")
        if not is_real(percentile) or not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be a number in [0, 100], got {percentile!r}")
        self.max_resource: int | None = None if max_resource == "auto" else int(max_resource)
        self.min_points = min_points
        self.n_startup_trials = n_startup_trials
        self.threshold = float(threshold)
        self.percentile = float(percentile)

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        if self.max_resource is None:
            config["settings"]["max_resource"] = "auto"
        return config

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        if trial.last_step is None:
            return False
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        steps, values = _finite_reports(trial, sign)
        if steps.size < self.min_points:
            return False
        completed = study.get_trials(states=(TrialState.COMPLETE,))
        finals = np.asarray(
            [sign * t.value for t in completed if t.value is not None and math.isfinite(t.value)]
        )
        if finals.size < self.n_startup_trials:
            return False
        target = float(np.percentile(finals, self.percentile))
        if values.min() <= target:
            return False
        horizon = self._horizon(completed, trial)
        if horizon is None:
            return False
        prediction = forecast(steps, values, max(horizon, float(steps[-1])))
        return prediction is not None and prediction.prob_below(target) < self.threshold

    def _horizon(self, completed: list[FrozenTrial], trial: FrozenTrial) -> float | None:
        """The step to predict: ``max_resource``, or the longest completed run's last step."""
        if self.max_resource is not None:
            return float(self.max_resource)
        last_steps = [t.last_step for t in completed if t.last_step is not None]
        return float(max(last_steps)) if last_steps else None


def _finite_reports(trial: FrozenTrial, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """The trial's finite reports in step order, as losses (``sign`` flips a score)."""
    pairs = sorted(
        (step, sign * value)
        for step, value in trial.intermediate_values.items()
        if math.isfinite(value)
    )
    steps = np.asarray([s for s, _ in pairs], dtype=float)
    values = np.asarray([v for _, v in pairs], dtype=float)
    return steps, values
