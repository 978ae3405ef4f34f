"""The optimize loop: ask, run the objective, tell — sequentially, in threads or processes."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tunelab._outcome import call_objective, fail_if_running, interrupted, record_outcome
from tunelab._progress import ProgressBar
from tunelab._validation import is_int
from tunelab.trial import FrozenTrial

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


class Heartbeat:
    """A daemon thread that keeps the heartbeats of running trials fresh."""

    def __init__(self, study: Study) -> None:
        self._study = study
        interval = study.settings.get("heartbeat_interval")
        self._interval = None if interval is None else float(interval)
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

    def __enter__(self) -> Heartbeat:
        if self._interval:
            self._thread = threading.Thread(target=self._run, name="tunelab-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            with self._lock:
                ids = sorted(self._ids)
            try:
                self._study.storage.record_heartbeat(ids)
            except Exception as exc:  # a missed beat must not kill the run
                from tunelab.logging import get_logger

                get_logger(__name__).warning("could not record heartbeat: %s", exc)

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
) -> None:
    """Run :meth:`Study.optimize` (see there for the arguments)."""
    if not callable(func):
        raise TypeError(f"the objective must be callable, got {type(func).__name__}")
    n_jobs, catch_types = _check_args(n_trials, timeout, n_jobs, backend, catch)
    pool = None
    if n_jobs > 1 and backend == "process":
        from tunelab._workers import WorkerPool

        pool = WorkerPool(
            func,
            n_jobs if n_trials is None else max(1, min(n_jobs, n_trials)),
            n_objectives=len(study.directions),
            gc_after_trial=gc_after_trial,
        )
    study._stop_flag.clear()
    budget = Budget(study, n_trials, timeout)
    study._optimizing += 1
    try:
        with (
            ProgressBar(study, n_trials, timeout, show_progress_bar) as progress,
            Heartbeat(study) as heartbeat,
        ):

            def finished(frozen: FrozenTrial) -> None:
                progress.update(frozen)
                for callback in callbacks:
                    callback(study, frozen)

            if pool is not None:
                pool.run(study, budget, catch_types, heartbeat, finished)
                return
            runner = _Runner(study, func, catch_types, heartbeat, finished, gc_after_trial)
            if n_jobs > 1:
                _run_threads(runner, budget, n_jobs)
            else:
                while budget.take():
                    runner.run_one()
    finally:
        study._optimizing -= 1


@dataclass
class _Runner:
    """Runs trials in this process, in the calling thread."""

    study: Study
    func: ObjectiveFunc
    catch: tuple[type[BaseException], ...]
    heartbeat: Heartbeat
    finished: Callable[[FrozenTrial], None]
    gc_after_trial: bool

    def run_one(self) -> None:
        """Ask for a trial, run the objective on it, and tell the result."""
        study = self.study
        trial = study.ask()
        self.heartbeat.add(trial.trial_id)
        try:
            outcome = call_objective(self.func, trial, len(study.directions))  # type: ignore[arg-type]
        except BaseException as exc:
            fail_if_running(study, trial, interrupted(exc))
            raise
        finally:
            self.heartbeat.remove(trial.trial_id)
            if self.gc_after_trial:
                gc.collect()
        frozen, error = record_outcome(study, trial, outcome, self.catch)
        self.finished(frozen)
        if error is not None:
            raise error


def _run_threads(runner: _Runner, budget: Budget, n_jobs: int) -> None:
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if errors or not budget.take():
                    return
            try:
                runner.run_one()
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=worker, name=f"tunelab-trial-{i}") for i in range(n_jobs)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)
    except KeyboardInterrupt:
        runner.study._stop_flag.set()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]
