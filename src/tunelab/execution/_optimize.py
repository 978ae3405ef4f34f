"""The coordinator: the optimize loop that asks, hands trials to an executor and tells.

It runs in the process that called ``optimize`` and is the only place that
touches the sampler and the pruner, whichever executor runs the objectives.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tunelab._validation import is_int
from tunelab.execution._base import (
    Event,
    Executor,
    Finished,
    Lost,
    Request,
    RunSpec,
    check_executor,
)
from tunelab.execution._outcome import fail_if_running, interrupted, record_outcome
from tunelab.execution._process import ProcessExecutor
from tunelab.execution._progress import ProgressBar
from tunelab.execution._remote import answer
from tunelab.execution._thread import ThreadExecutor
from tunelab.logging import get_logger
from tunelab.trial import FrozenTrial, Trial, current_trial

if TYPE_CHECKING:
    from tunelab.study import Callback, ObjectiveFunc, Study


@dataclass
class Budget:
    """When to stop starting trials: a count, a deadline, or the study's stop flag.

    ``grace`` is how long a trial in a worker process may run past the
    deadline before it is ended: 5% of the timeout, between 2 and 60 seconds.
    """

    study: Study
    n_trials: int | None
    timeout: float | None
    started: int = 0
    deadline: float = field(init=False)
    grace: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout if self.timeout else float("inf")
        self.grace = min(max(2.0, 0.05 * self.timeout), 60.0) if self.timeout else 0.0

    def open(self) -> bool:
        """Whether another trial may start."""
        if self.study._stop_flag.is_set() or time.monotonic() >= self.deadline:
            return False
        return self.n_trials is None or self.started < self.n_trials

    def take(self) -> bool:
        """Reserve one more trial, if the budget allows it."""
        if not self.open():
            return False
        self.started += 1
        return True


class Leases:
    """A daemon thread that renews the leases (heartbeats) of trials whose workers are alive.

    A trial whose executor no longer vouches for its worker is not renewed, so
    after the study's grace period any stale-trial check fails it.
    """

    def __init__(self, study: Study, executor: Executor) -> None:
        self._study = study
        self._executor = executor
        interval = study.settings.get("heartbeat_interval")
        self.interval = None if interval is None else float(interval)
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        with self._lock:
            self._ids.add(trial_id)

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def __enter__(self) -> Leases:
        if self.interval:
            self._thread = threading.Thread(target=self._run, name="tunelab-leases", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = sorted(self._ids)
            try:
                alive = [i for i in ids if self._executor.alive(i)]
                if alive:
                    self._study.storage.record_heartbeat(alive)
            except Exception as exc:  # a missed beat must not kill the run
                get_logger(__name__).warning("could not renew trial leases: %s", exc)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _check_args(
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int,
    backend: str,
    catch: Iterable[type[BaseException]] | type[BaseException],
) -> tuple[int, tuple[type[BaseException], ...]]:
    if n_trials is not None and (not is_int(n_trials) or n_trials < 0):
        raise ValueError(f"n_trials must be a non-negative integer or None, got {n_trials!r}")
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if not is_int(n_jobs) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (all CPUs), got {n_jobs!r}")
    if backend not in ("process", "thread"):
        raise ValueError(f"backend must be 'thread' or 'process', got {backend!r}")
    catch_types = (catch,) if isinstance(catch, type) else tuple(catch)
    for kind in catch_types:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(f"catch must hold exception classes, got {kind!r}")
    return (os.cpu_count() or 1 if n_jobs == -1 else n_jobs), catch_types


def _choose_executor(n_jobs: int, backend: str, executor: object) -> Executor:
    if executor is None:
        if n_jobs > 1 and backend == "process":
            return ProcessExecutor(n_jobs)
        return ThreadExecutor(n_jobs)
    if n_jobs != 1 or backend != "thread":
        raise ValueError(
            "optimize takes either executor= or n_jobs=/backend=, not both: the executor "
            f"decides how many trials run at once and where (got n_jobs={n_jobs!r}, "
            f"backend={backend!r})"
        )
    return check_executor(executor)


def run_optimize(
    study: Study,
    func: ObjectiveFunc,
    *,
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int,
    catch: Iterable[type[Exception]] | type[Exception],
    callbacks: list[Callback],
    gc_after_trial: bool,
    show_progress_bar: bool | None,
    backend: str,
    executor: Executor | None,
) -> None:
    """Run :meth:`Study.optimize` (see there for the arguments).

    Raises:
        RuntimeError: Called from an objective of the same study (a nested loop
            would start trials inside a trial), as Optuna refuses it.
    """
    current = current_trial()
    if isinstance(current, Trial) and current.study is study:
        raise RuntimeError(
            f"study.optimize() called from inside trial {current.number} of the same study "
            f"{study.study_name!r}: nested optimization is not supported (optimize another study)"
        )
    if not callable(func):
        raise TypeError(f"the objective must be callable, got {type(func).__name__}")
    n_jobs, catch_types = _check_args(n_trials, timeout, n_jobs, backend, catch)
    chosen = _choose_executor(n_jobs, backend, executor)
    interval = study.settings.get("heartbeat_interval")
    spec = RunSpec(
        func=func,
        n_objectives=len(study.directions),
        gc_after_trial=gc_after_trial,
        n_trials=n_trials,
        lease_interval=None if interval is None else float(interval),
    )
    study._stop_flag.clear()
    budget = Budget(study, n_trials, timeout)
    study._optimizing += 1
    try:
        with ProgressBar(study, n_trials, timeout, show_progress_bar) as progress:

            def finished(frozen: FrozenTrial) -> None:
                progress.update(frozen)
                for callback in callbacks:
                    callback(study, frozen)

            _Coordinator(study, chosen, budget, catch_types, finished).run(spec)
    finally:
        study._optimizing -= 1


class _Coordinator:
    """Hands out trials while the budget lasts and acts on what the executor reports."""

    def __init__(
        self,
        study: Study,
        executor: Executor,
        budget: Budget,
        catch: tuple[type[BaseException], ...],
        finished: Callable[[FrozenTrial], None],
    ) -> None:
        self._study = study
        self._executor = executor
        self._budget = budget
        self._catch = catch
        self._finished = finished
        self._running: dict[int, Trial] = {}
        self._errors: list[BaseException] = []
        self._leases = Leases(study, executor)
        self._next_lease_check = float("inf")

    def run(self, spec: RunSpec) -> None:
        """Run trials until the budget ends; raise the first uncaught objective error."""
        executor = self._executor
        try:
            executor.start(spec)
            with self._leases:
                self._loop()
        except BaseException as exc:
            for trial in list(self._running.values()):
                self._leases.remove(trial.trial_id)
                fail_if_running(self._study, trial, interrupted(exc))
            self._running.clear()
            executor.close()
            raise
        executor.close()
        if self._errors:
            raise self._errors[0]

    def _loop(self) -> None:
        budget, executor = self._budget, self._executor
        interval = self._leases.interval
        while True:
            while not self._errors and executor.free_slots() > 0 and budget.take():
                self._submit()
            if not self._running and (self._errors or not budget.open()):
                return
            wake = float("inf")
            if self._running and executor.stops_running_trials:
                wake = budget.deadline + budget.grace
            if self._running and interval:
                if self._next_lease_check == float("inf"):
                    self._next_lease_check = time.monotonic() + interval
                wake = min(wake, self._next_lease_check)
            timeout = None if wake == float("inf") else max(0.0, wake - time.monotonic())
            for event in executor.poll(timeout):
                self._handle(event)
            now = time.monotonic()
            if executor.stops_running_trials and now >= budget.deadline + budget.grace:
                self._end_overdue()
            if interval and now >= self._next_lease_check:
                self._next_lease_check = now + interval
                self._check_leases()

    def _submit(self) -> None:
        trial = self._study.ask()
        self._running[trial.trial_id] = trial
        self._leases.add(trial.trial_id)
        self._executor.submit(trial)

    def _release(self, trial_id: int) -> Trial:
        self._leases.remove(trial_id)
        return self._running.pop(trial_id)

    def _handle(self, event: Event) -> None:
        trial = self._running.get(event.trial_id)
        if trial is None:
            return  # a late event of a trial already finished or given up
        if isinstance(event, Request):
            self._executor.respond(event.trial_id, answer(trial, event.kind, event.args))
        elif isinstance(event, Finished):
            self._release(event.trial_id)
            frozen, error = record_outcome(self._study, trial, event.outcome, self._catch)
            if error is not None:
                self._errors.append(error)
            self._finished(frozen)
        elif isinstance(event, Lost):
            self._release(event.trial_id)
            failed = fail_if_running(self._study, trial, event.reason)
            if failed is not None:
                self._study._retry_if_asked(failed)
                self._finished(failed)

    def _end_overdue(self) -> None:
        """Stop the trials that outlived the timeout and its grace."""
        budget = self._budget
        for trial_id in list(self._running):
            trial = self._release(trial_id)
            self._executor.cancel(trial_id)
            reason = (
                f"timeout: still running {budget.grace:g} s after optimize's timeout of "
                f"{budget.timeout:g} s, so its worker was stopped"
            )
            frozen = fail_if_running(self._study, trial, reason)
            if frozen is not None:
                self._finished(frozen)

    def _check_leases(self) -> None:
        """Give up on trials whose leases lapsed (their workers stopped answering)."""
        lapsing = [i for i in self._running if not self._executor.alive(i)]
        if not lapsing:
            return
        self._study._fail_stale_trials()
        for trial_id in lapsing:
            frozen = self._study.storage.get_trial(trial_id)
            if frozen.state.is_finished():
                self._release(trial_id)
                self._executor.cancel(trial_id)
                self._finished(frozen)
