"""What running an objective produced, and how a study records it.

The same three functions serve every backend (in-process, threads, worker
processes), so one objective return value ends the same way wherever it ran.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.exceptions import (
    TunelabError,
    UpdateFinishedTrialError,
    is_trial_pruned,
)
from tunelab.logging import get_logger
from tunelab.trial import BaseTrial, FrozenTrial, Trial, TrialState, running

if TYPE_CHECKING:
    from tunelab.study import Study


@dataclass(frozen=True)
class Outcome:
    """The result of one call of the objective.

    Exactly one of ``values`` (checked, one float per objective), ``pruned``,
    ``invalid`` (why the returned value is not usable) or ``error_text`` (the
    objective raised) describes it.
    """

    values: list[float] | None = None
    pruned: bool = False
    invalid: str | None = None
    error: BaseException | None = None  # None when the exception could not travel
    error_text: str | None = None  # "Type: message"
    error_traceback: str | None = None


def call_objective(
    func: Callable[[BaseTrial], Any], trial: BaseTrial, n_objectives: int
) -> Outcome:
    """Run the objective and capture what it did (KeyboardInterrupt propagates)."""
    try:
        with running(trial):
            returned = func(trial)
    except Exception as exc:
        if is_trial_pruned(exc):
            return Outcome(pruned=True)
        return Outcome(
            error=exc,
            error_text=f"{type(exc).__name__}: {exc}",
            error_traceback=traceback.format_exc(),
        )
    return check_returned(returned, n_objectives)


def check_returned(returned: Any, n_objectives: int) -> Outcome:
    """Turn what the objective returned into checked floats, or the reason it is unusable.

    Checked where the objective ran, so a value that cannot cross a process
    boundary (a lambda, an int too large for a float) fails its trial the same
    way on every backend.
    """
    from tunelab.study import check_objective_values

    try:
        return Outcome(values=check_objective_values(returned, n_objectives))
    except ValueError as exc:
        return Outcome(invalid=str(exc))
    except Exception as exc:  # a user type whose __float__ or __len__ raises anything
        return Outcome(
            invalid=f"the objective returned a {type(returned).__name__} that could not be read "
            f"as {n_objectives} number(s): {type(exc).__name__}: {exc}"
        )


class RemoteError(TunelabError):
    """An objective in a worker process raised an exception that could not be sent back."""


def record_outcome(
    study: Study, trial: Trial, outcome: Outcome, catch: tuple[type[BaseException], ...]
) -> tuple[FrozenTrial, BaseException | None]:
    """Finish ``trial`` from ``outcome``.

    Returns the stored trial and the exception to raise afterwards, if the
    objective raised one that is not in ``catch``. A trial that another
    process already failed (its heartbeats lapsed) stays as stored.
    """
    try:
        return _tell(study, trial, outcome, catch)
    except UpdateFinishedTrialError:
        frozen = study.storage.get_trial(trial.trial_id)
        get_logger(__name__).warning(
            "Trial %d was already finished as %s (%s); its result is dropped",
            trial.number,
            frozen.state.name,
            frozen.fail_reason,
        )
        return frozen, None


def _tell(
    study: Study, trial: Trial, outcome: Outcome, catch: tuple[type[BaseException], ...]
) -> tuple[FrozenTrial, BaseException | None]:
    if outcome.pruned:
        return study.tell(trial, state=TrialState.PRUNED), None
    if outcome.invalid is not None:
        return study.tell(trial, state=TrialState.FAIL, fail_reason=outcome.invalid), None
    if outcome.error_text is not None:
        frozen = study.tell(trial, state=TrialState.FAIL, fail_reason=outcome.error_text)
        error = outcome.error or RemoteError(f"{outcome.error_text}\n{outcome.error_traceback}")
        return frozen, None if isinstance(error, catch) else error
    return study.tell(trial, outcome.values), None


def interrupted(exc: BaseException) -> str:
    """The fail reason of a trial cut short because optimize itself stopped on ``exc``."""
    return f"interrupted ({type(exc).__name__}) while running"


def fail_if_running(study: Study, trial: Trial, reason: str) -> FrozenTrial | None:
    """Mark a trial FAIL unless something (a stale-trial check elsewhere) already finished it."""
    if study.storage.get_trial(trial.trial_id).state.is_finished():
        return None
    return study.tell(trial, state=TrialState.FAIL, fail_reason=reason)
