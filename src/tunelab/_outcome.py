"""What running an objective produced, and how a study records it."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.exceptions import TrialPruned, TunelabError
from tunelab.trial import BaseTrial, FrozenTrial, Trial, TrialState, running

if TYPE_CHECKING:
    from tunelab.study import Study


@dataclass(frozen=True)
class Outcome:
    """The result of one call of the objective, picklable across processes.

    Exactly one of ``values``, ``pruned`` or ``error`` describes it.
    """

    values: Any = None
    pruned: bool = False
    error: BaseException | None = None
    error_text: str | None = None  # "Type: message", kept when the exception cannot travel
    error_traceback: str | None = None


def call_objective(func: Callable[[BaseTrial], Any], trial: BaseTrial) -> Outcome:
    """Run the objective and capture what it did (KeyboardInterrupt propagates)."""
    try:
        with running(trial):
            return Outcome(values=func(trial))
    except TrialPruned:
        return Outcome(pruned=True)
    except Exception as exc:
        return Outcome(
            error=exc,
            error_text=f"{type(exc).__name__}: {exc}",
            error_traceback=traceback.format_exc(),
        )


class RemoteError(TunelabError):
    """An objective in a worker process raised an exception that could not be sent back."""


def record_outcome(
    study: Study, trial: Trial, outcome: Outcome, catch: tuple[type[BaseException], ...]
) -> tuple[FrozenTrial, BaseException | None]:
    """Finish ``trial`` from ``outcome``.

    Returns the stored trial and the exception to raise afterwards, if the
    objective raised one that is not in ``catch``.
    """
    from tunelab.study import check_objective_values

    if outcome.pruned:
        return study.tell(trial, state=TrialState.PRUNED), None
    if outcome.error is not None or outcome.error_text is not None:
        frozen = study.tell(trial, state=TrialState.FAIL, fail_reason=outcome.error_text)
        error = outcome.error or RemoteError(f"{outcome.error_text}\n{outcome.error_traceback}")
        return frozen, None if isinstance(error, catch) else error
    try:
        values = check_objective_values(outcome.values, len(study.directions))
    except ValueError as exc:
        return study.tell(trial, state=TrialState.FAIL, fail_reason=str(exc)), None
    return study.tell(trial, values), None


INTERRUPTED = "interrupted (KeyboardInterrupt) while running"


def fail_if_running(study: Study, trial: Trial, reason: str) -> None:
    """Mark an interrupted trial FAIL unless something already finished it."""
    if not study.storage.get_trial(trial.trial_id).state.is_finished():
        study.tell(trial, state=TrialState.FAIL, fail_reason=reason)
