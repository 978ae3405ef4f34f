"""Asynchronous successive halving: promote only the best fraction of trials at each rung."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from tunelab._validation import check_int
from tunelab.pruners._base import BasePruner
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


def rung_value(trial: FrozenTrial, rung_step: int, *, before: int | None = None) -> float | None:
    """The value ``trial`` entered a rung with: its first non-NaN report at ``rung_step`` or later.

    Rungs are derived from the stored reports rather than written by the
    pruner (pruners never write storage); for a trial that is judged after
    every report this is the value Optuna records as ``completed_rung_<i>``.

    Args:
        trial: The trial.
        rung_step: The step that completes the rung.
        before: Only look at steps below this one.
    """
    values = trial.intermediate_values
    if before is None or rung_step < before:
        exact = values.get(rung_step)
        if exact is not None and not math.isnan(exact):
            return exact  # the usual case, a report at every step: no scan
    first = min(
        (
            s
            for s, v in values.items()
            if s >= rung_step and (before is None or s < before) and not math.isnan(v)
        ),
        default=None,
    )
    return None if first is None else values[first]


class SuccessiveHalvingPruner(BasePruner):
    """Prune a trial at a rung unless it is in the top ``1 / reduction_factor`` there.

    Rung ``i`` is completed at step ``min_resource * reduction_factor **
    (min_early_stopping_rate + i)``. A trial reaching it is compared with every
    trial of the study that reached the same rung, on the value each reported
    there, and goes on only if it ranks in the best ``1 / reduction_factor``
    (the first ``reduction_factor - 1`` trials at a rung go on only if they
    are the best so far). Trials are never paused, so this is the
    asynchronous variant (ASHA).

    A trial's value at a rung is read from its stored reports (its first
    non-NaN report at or after the rung's step) instead of being written to
    ``system_attrs`` as Optuna's ``completed_rung_<i>``: pruners never write
    storage. When the objective asks after every report, as usual, the
    decisions are Optuna's; when it reports several rungs' steps between
    two questions, a trial pruned at a lower rung still counts at the
    higher ones it reported.

    Choosing ``min_resource``: with ``reduction_factor=3``, a first rung at a
    ninth of the full training (``max_steps // 9``) ranks trials at 1/9 and 1/3
    of it. On tabulated learning curves of small networks and of scikit-learn
    learners (``benchmarks/README.md``, Multi-fidelity) that reached the quality
    of an unpruned search on every task; a first rung at the first step was
    faster where one step already ranks configurations and never found the
    slow starters (full-batch training, small learning rates) where they won.

    Args:
        min_resource: Steps of the first rung (``r`` in the paper), or
            ``"auto"``: a hundredth of the last step of the first trial that
            completed with reports (the same in every process sharing the
            storage, whenever it starts), fixed from then on.
        reduction_factor: ``eta``: about one trial in this many is promoted.
        min_early_stopping_rate: ``s``: the first rung is at
            ``min_resource * reduction_factor ** s``.
        bootstrap_count: Prune every trial reaching a rung until more than this
            many trials reached it.

    Raises:
        ValueError: An argument is out of its range, or ``bootstrap_count > 0``
            with ``min_resource="auto"``.
    """

    def __init__(
        self,
        min_resource: str | int = "auto",
        reduction_factor: int = 4,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        if min_resource != "auto":
            if isinstance(min_resource, str):
                raise ValueError(
                    f"min_resource must be 'auto' or an integer >= 1, got {min_resource!r}"
                )
            check_int("min_resource", min_resource, 1)
        check_int("reduction_factor", reduction_factor, 2)
        check_int("min_early_stopping_rate", min_early_stopping_rate, 0)
        check_int("bootstrap_count", bootstrap_count, 0)
        if bootstrap_count > 0 and min_resource == "auto":
            raise ValueError(
                "bootstrap_count > 0 needs an integer min_resource, not 'auto', "
                f"got bootstrap_count={bootstrap_count}"
            )
        self._auto = min_resource == "auto"
        self.min_resource: int | None = None if self._auto else int(min_resource)
        self.reduction_factor = reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate
        self.bootstrap_count = bootstrap_count

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        if self._auto:
            config["settings"]["min_resource"] = "auto"
        return config

    def rung_step(self, rung: int) -> int:
        """The step that completes ``rung`` (``min_resource`` must be known)."""
        assert self.min_resource is not None
        return self.min_resource * self.reduction_factor ** (self.min_early_stopping_rate + rung)

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        if trial.last_step is None:
            return False
        unjudged_until = None
        if self._auto:
            trials = study.get_trials()
            if self.min_resource is None:
                self.min_resource = _estimate_min_resource(trials)
                if self.min_resource is None:
                    return False
            unjudged_until = first_completion(trials)
        return self.judge(study, trial, unjudged_until)

    def judge(
        self, study: StudyView, trial: FrozenTrial, unjudged_until: dt.datetime | None
    ) -> bool:
        """Prune ``trial`` unless it is promotable at every rung it has just reached.

        Args:
            study: The trials to compete with.
            trial: The trial to judge.
            unjudged_until: Trials that finished at or before this time have no
                rungs: they ran before the rung steps were known (the first
                completed trial when steps are derived from it), and Optuna
                records rungs only for trials it judged.
        """
        step = trial.last_step
        assert step is not None and self.min_resource is not None
        value = trial.intermediate_values[step]
        trials: list[FrozenTrial] | None = None
        rung = 0
        while step >= (rung_step := self.rung_step(rung)):
            if rung_value(trial, rung_step, before=step) is not None:
                rung += 1  # entered at an earlier report and judged then
                continue
            if math.isnan(value):
                return True
            if trials is None:
                trials = [
                    t
                    for t in study.get_trials()
                    if t.number != trial.number and not _finished_by(t, unjudged_until)
                ]
            rivals = [v for t in trials if (v := rung_value(t, rung_step)) is not None]
            if len(rivals) + 1 <= self.bootstrap_count:
                return True
            if not _promotable(value, rivals, self.reduction_factor, study.direction):
                return True
            rung += 1
        return False


def first_completion(trials: list[FrozenTrial]) -> dt.datetime | None:
    """When the first of ``trials`` completed, if any did."""
    return min(
        (
            t.datetime_complete
            for t in trials
            if t.state == TrialState.COMPLETE and t.datetime_complete is not None
        ),
        default=None,
    )


def _finished_by(trial: FrozenTrial, moment: dt.datetime | None) -> bool:
    return (
        moment is not None
        and trial.datetime_complete is not None
        and trial.datetime_complete <= moment
    )


def first_completed_run(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The first of ``trials`` to complete with reports (the lowest number among ties).

    Resources derived from it agree between processes that share a storage,
    unlike the longest run seen so far, which depends on when one asks.
    """
    runs = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.last_step is not None
        and t.datetime_complete is not None
    ]
    return min(runs, key=lambda t: (t.datetime_complete, t.number), default=None)


def _estimate_min_resource(trials: list[FrozenTrial]) -> int | None:
    """A hundredth of the first completed run's last step (at least 1)."""
    run = first_completed_run(trials)
    if run is None or run.last_step is None:
        return None
    return auto_min_resource(run.last_step)


def auto_min_resource(last_step: int) -> int:
    """``min_resource="auto"`` resolved from the first completed run's last step."""
    return max(last_step // 100, 1)


def _promotable(
    value: float, rivals: list[float], reduction_factor: int, direction: StudyDirection
) -> bool:
    """Whether ``value`` ranks in the top ``1 / reduction_factor`` of itself and ``rivals``."""
    ranked = sorted([*rivals, value], reverse=direction == StudyDirection.MAXIMIZE)
    # With fewer than eta values nobody has earned a slot yet: only the best goes on.
    n_promoted = max(len(ranked) // reduction_factor, 1)
    cutoff = ranked[n_promoted - 1]
    return value >= cutoff if direction == StudyDirection.MAXIMIZE else value <= cutoff
