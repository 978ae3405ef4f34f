"""Hyperband: successive halving run in several brackets of different aggressiveness."""

from __future__ import annotations

import math
import zlib
from collections.abc import Container
from typing import TYPE_CHECKING, Any, cast

from tunelab._validation import check_int
from tunelab.pruners._base import BasePruner
from tunelab.pruners._successive_halving import (
    SuccessiveHalvingPruner,
    first_completed_run,
    first_completion,
)
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


class HyperbandPruner(BasePruner):
    """Hyperband over asynchronous successive halving.

    Each trial is assigned to a bracket by hashing the study name and its
    number; bracket ``b`` is a :class:`SuccessiveHalvingPruner` whose first
    rung is at ``min_resource * reduction_factor ** b``, so low brackets
    prune early and hard, high ones late. A trial competes only with
    trials of its own bracket, and the sampler learns only from them too
    (as in Optuna), so that every bracket's sampler sees a comparable
    history. There are ``floor(log_eta(max_resource / min_resource)) + 1``
    brackets; bracket ``b`` receives a share of the trials proportional to
    ``ceil(n_brackets * eta ** s / (s + 1))`` with ``s = n_brackets - 1 - b``.

    Args:
        min_resource: Steps of the first rung of the most aggressive bracket.
        max_resource: Steps a trial runs at most, or ``"auto"``: one more than
            the last step of the first trial that completed with reports (the
            same in every process sharing the storage, whenever it starts;
            the brackets are fixed from then on).
        reduction_factor: ``eta``: about one trial in this many is promoted.
        bootstrap_count: Passed to each bracket's successive halving.

    Raises:
        ValueError: An argument is out of its range, or ``bootstrap_count > 0``
            with ``max_resource="auto"``.
    """

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: str | int = "auto",
        reduction_factor: int = 3,
        bootstrap_count: int = 0,
    ) -> None:
        check_int("min_resource", min_resource, 1)
        if max_resource != "auto":
            if isinstance(max_resource, str):
                raise ValueError(
                    f"max_resource must be 'auto' or an integer >= 1, got {max_resource!r}"
                )
            check_int("max_resource", max_resource, 1)
        check_int("reduction_factor", reduction_factor, 2)
        check_int("bootstrap_count", bootstrap_count, 0)
        if bootstrap_count > 0 and max_resource == "auto":
            raise ValueError(
                "bootstrap_count > 0 needs an integer max_resource, not 'auto', "
                f"got bootstrap_count={bootstrap_count}"
            )
        self.min_resource = min_resource
        self._auto = max_resource == "auto"
        self.max_resource: int | None = None if self._auto else int(max_resource)
        self.reduction_factor = reduction_factor
        self.bootstrap_count = bootstrap_count
        self._brackets: list[SuccessiveHalvingPruner] = []
        self._budgets: list[int] = []

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        if self._auto:
            config["settings"]["max_resource"] = "auto"
        return config

    @property
    def brackets(self) -> list[SuccessiveHalvingPruner]:
        """Each bracket's successive halving, most aggressive first ([] until
        ``max_resource`` is known)."""
        if not self._brackets and self.max_resource is not None:
            self._make_brackets(self.max_resource)
        return list(self._brackets)

    @property
    def n_brackets(self) -> int | None:
        """How many brackets there are (None until ``max_resource`` is known)."""
        return len(self._brackets) or None

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        if not self._brackets:
            self._set_up(study)
            if not self._brackets:
                return False
        if trial.last_step is None:
            return False
        bracket = self.bracket_of(study.study_name, trial.number)
        # With max_resource derived from the first completed trial, the trials
        # finished by then ran before any bracket existed and were never judged.
        unjudged_until = (
            first_completion(study.get_trials(states=(TrialState.COMPLETE,)))
            if self._auto
            else None
        )
        return self._brackets[bracket].judge(
            self._bracket_view(study, bracket), trial, unjudged_until
        )

    def _sampler_view(self, study: StudyView, trial: FrozenTrial) -> StudyView:
        return self._bracket_view(study, self.bracket_of(study.study_name, trial.number))

    def _bracket_view(self, study: StudyView, bracket: int) -> StudyView:
        # The bracket view offers the read-only surface of StudyView; it is not
        # a subclass because the study layer sits below the pruners.
        return cast("StudyView", _BracketView(study, self, bracket))

    def bracket_of(self, study_name: str, number: int) -> int:
        """The bracket of trial ``number`` (0 before the brackets are set up)."""
        if not self._brackets:
            return 0
        # CRC-32 of "<study>_<number>", as Optuna hashes it, so both assign the same brackets.
        ticket = zlib.crc32(f"{study_name}_{number}".encode()) % sum(self._budgets)
        for bracket, budget in enumerate(self._budgets):
            ticket -= budget
            if ticket < 0:
                return bracket
        raise AssertionError("the bracket budgets do not cover the ticket")

    def _set_up(self, study: StudyView) -> None:
        if self.max_resource is None:
            run = first_completed_run(study.get_trials(states=(TrialState.COMPLETE,)))
            if run is None or run.last_step is None:
                return
            self.max_resource = auto_max_resource(run.last_step)
        self._make_brackets(self.max_resource)

    def _make_brackets(self, max_resource: int) -> None:
        n_brackets = (
            math.floor(math.log(max_resource / self.min_resource, self.reduction_factor)) + 1
        )
        # A max_resource below min_resource still gets one bracket rather than none.
        n_brackets = max(n_brackets, 1)
        for bracket in range(n_brackets):
            s = n_brackets - 1 - bracket
            self._budgets.append(math.ceil(n_brackets * self.reduction_factor**s / (s + 1)))
            self._brackets.append(
                SuccessiveHalvingPruner(
                    min_resource=self.min_resource,
                    reduction_factor=self.reduction_factor,
                    min_early_stopping_rate=bracket,
                    bootstrap_count=self.bootstrap_count,
                )
            )


def auto_max_resource(last_step: int) -> int:
    """``max_resource="auto"`` resolved from the first completed run's last step."""
    return last_step + 1


class _BracketView:
    """A study view that shows only the trials of one Hyperband bracket."""

    def __init__(self, study: StudyView, pruner: HyperbandPruner, bracket: int) -> None:
        self._view = study
        self._pruner = pruner
        self._bracket = bracket

    @property
    def study_name(self) -> str:
        """Name of the study."""
        return self._view.study_name

    @property
    def directions(self) -> list[StudyDirection]:
        """Direction of each objective."""
        return self._view.directions

    @property
    def direction(self) -> StudyDirection:
        """Direction of a single-objective study."""
        return self._view.direction

    def get_trials(
        self, deepcopy: bool = False, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """The bracket's trials ordered by number (Optuna's signature)."""
        name = self._view.study_name
        return [
            t
            for t in self._view.get_trials(deepcopy=deepcopy, states=states)
            if self._pruner.bracket_of(name, t.number) == self._bracket
        ]

    @property
    def trials(self) -> list[FrozenTrial]:
        """The bracket's trials ordered by number (shared snapshots: do not modify)."""
        return self.get_trials()

    def __getattr__(self, name: str) -> Any:
        # Everything else a sampler may read (metric names, attributes) is the whole study's.
        return getattr(self._view, name)

    def stop(self) -> None:
        """Ask the running optimize loop of the whole study to start no further trials."""
        self._view.stop()
