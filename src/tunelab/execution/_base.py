"""The executor contract: where the objective runs, while the coordinator keeps the study.

The coordinator (:func:`tunelab.execution.run_optimize`, in the process that
called ``optimize``) asks the sampler for every trial, hands trials to an
executor, answers what remote trials ask (suggestions, reports, pruning) and
tells the study every outcome. An executor only runs objectives and reports
back through :meth:`Executor.poll`. ``docs/execution.md`` describes the protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.exceptions import TunelabError
from tunelab.execution._outcome import Outcome

if TYPE_CHECKING:
    from tunelab.study import ObjectiveFunc
    from tunelab.trial import Trial

#: The kinds of request a remote trial sends; each is answered with an :data:`Answer`.
REQUEST_KINDS = ("suggest", "report", "should_prune", "set_user_attr")

#: ``(True, value)`` or ``(False, exception)``: the exception is raised in the objective.
Answer = tuple[bool, Any]


@dataclass(frozen=True)
class RunSpec:
    """What every trial of one ``optimize`` call runs.

    Attributes:
        func: The objective.
        n_objectives: Values the objective returns (checked where it runs).
        gc_after_trial: Run a garbage collection after each trial, where it ran.
        n_trials: How many trials this call runs at most (None: no limit), so
            an executor starts no more workers than it can use.
        lease_interval: Seconds between lease renewals (the study's heartbeat
            interval), None when the study keeps no leases. Remote workers
            ping at least this often.
    """

    func: ObjectiveFunc
    n_objectives: int
    gc_after_trial: bool
    n_trials: int | None
    lease_interval: float | None


@dataclass(frozen=True)
class Request:
    """A running trial asks the coordinator something (one of :data:`REQUEST_KINDS`).

    The coordinator answers each with :meth:`Executor.respond`, in order.
    """

    trial_id: int
    kind: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Finished:
    """The objective of a trial returned, raised or was pruned."""

    trial_id: int
    outcome: Outcome


@dataclass(frozen=True)
class Lost:
    """A trial's run ended without an outcome (its worker died, its task failed).

    ``reason`` names the worker where known; it becomes the trial's fail reason.
    """

    trial_id: int
    reason: str


Event = Request | Finished | Lost


class Executor(ABC):
    """Runs objectives for the coordinator: in threads, local processes, Dask or Ray.

    Lifecycle, all from the coordinator's thread: :meth:`start` once per
    ``optimize`` call, then :meth:`submit` up to :meth:`free_slots` trials,
    :meth:`poll` for events, :meth:`respond` to every :class:`Request`,
    :meth:`cancel` for trials the coordinator gave up on, and :meth:`close`
    at the end (also after an exception). After a trial's :class:`Finished`
    or :class:`Lost` event, or its :meth:`cancel`, nothing more comes for it.
    One instance may serve several ``optimize`` calls one after another.

    :meth:`alive` is the exception: the lease thread calls it, so it must be
    safe to call from another thread.
    """

    #: Whether :meth:`cancel` really stops a running objective (so a trial
    #: overdue after ``optimize``'s timeout can be ended and failed).
    stops_running_trials: bool = False

    @abstractmethod
    def start(self, spec: RunSpec) -> None:
        """Get ready to run ``spec``'s objective (start workers, ship the objective).

        Raises:
            TunelabError: The objective cannot be sent where it would run.
        """

    @abstractmethod
    def free_slots(self) -> int:
        """How many more trials :meth:`submit` takes now."""

    @abstractmethod
    def submit(self, trial: Trial) -> None:
        """Start running the objective on ``trial`` (the coordinator's live trial).

        In-process executors call the objective with ``trial`` itself; remote
        ones send ``trial.number`` and ``trial.params`` and turn the remote
        trial's calls into :class:`Request` events.
        """

    @abstractmethod
    def poll(self, timeout: float | None) -> list[Event]:
        """Events that happened, waiting up to ``timeout`` seconds (None: until one)."""

    def respond(self, trial_id: int, answer: Answer) -> None:
        """Answer the oldest unanswered :class:`Request` of ``trial_id``.

        Executors whose objectives run on the live trial send no requests and
        keep this default.
        """
        raise TunelabError(f"{type(self).__name__} sent no request for trial {trial_id}")

    @abstractmethod
    def alive(self, trial_id: int) -> bool:
        """Whether the worker running ``trial_id`` is known to be alive now.

        The coordinator renews a trial's lease (its heartbeat) only while this
        is True; once it is False for the study's grace period the trial is
        FAIL (and retried when the study's ``retry_failed`` says so).
        """

    @abstractmethod
    def cancel(self, trial_id: int) -> None:
        """Stop caring about ``trial_id``; stop its objective if :attr:`stops_running_trials`."""

    @abstractmethod
    def close(self) -> None:
        """End this ``optimize`` call's work: stop workers this executor started."""


def check_executor(executor: object) -> Executor:
    """``executor`` if it implements :class:`Executor`, else a clear error."""
    if not isinstance(executor, Executor):
        raise TypeError(
            "executor must be a tunelab.execution.Executor (ThreadExecutor, ProcessExecutor, "
            f"DaskExecutor, RayExecutor), got {type(executor).__name__}"
        )
    return executor
