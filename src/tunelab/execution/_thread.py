"""Trials in this process: :class:`ThreadExecutor` (``backend="thread"``, the default)."""

from __future__ import annotations

import gc
import os
import queue
import threading
import traceback
from typing import TYPE_CHECKING

from tunelab.execution._base import Event, Executor, Finished, RunSpec
from tunelab.execution._outcome import Outcome, call_objective

if TYPE_CHECKING:
    from tunelab.study import ObjectiveFunc
    from tunelab.trial import Trial


class ThreadExecutor(Executor):
    """Runs the objective in this process, on the live trial.

    With ``max_workers=1`` it runs in the calling thread; with more, each
    trial runs in a thread of its own. The objective may use closures, change
    shared objects and read ``trial.study``. Running trials always finish (a
    thread cannot be stopped), also after ``optimize``'s timeout.

    Args:
        max_workers: How many trials run at once (-1: one per CPU).
    """

    def __init__(self, max_workers: int = 1) -> None:
        if not isinstance(max_workers, int) or max_workers == 0 or max_workers < -1:
            raise ValueError(
                f"max_workers must be a positive integer or -1 (all CPUs), got {max_workers!r}"
            )
        self.max_workers = os.cpu_count() or 1 if max_workers == -1 else max_workers
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._inbox: queue.SimpleQueue[Trial | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self, spec: RunSpec) -> None:
        self._spec = spec

    def free_slots(self) -> int:
        with self._lock:
            return self.max_workers - len(self._running)

    def submit(self, trial: Trial) -> None:
        with self._lock:
            self._running.add(trial.trial_id)
        if self.max_workers == 1:
            self._run(trial)
            return
        if len(self._threads) < self.max_workers:
            thread = threading.Thread(
                target=self._serve, name=f"tunelab-trial-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._inbox.put(trial)

    def _serve(self) -> None:
        while (trial := self._inbox.get()) is not None:
            self._run(trial)

    def _run(self, trial: Trial) -> None:
        spec = self._spec
        func: ObjectiveFunc = spec.func
        try:
            outcome = call_objective(func, trial, spec.n_objectives)  # type: ignore[arg-type]
        except BaseException as exc:
            if self.max_workers == 1:
                raise  # Ctrl-C in the calling thread: the coordinator fails the trial
            # SystemExit and the like in a trial thread: fail the trial, raise it from optimize
            outcome = Outcome(
                error=exc,
                error_text=f"{type(exc).__name__}: {exc}",
                error_traceback=traceback.format_exc(),
            )
        finally:
            if spec.gc_after_trial:
                gc.collect()
        self._events.put(Finished(trial.trial_id, outcome))

    def poll(self, timeout: float | None) -> list[Event]:
        try:
            events = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        # A slot frees when the coordinator sees the outcome, so it can stop on an
        # error before starting another trial.
        with self._lock:
            fresh = [e for e in events if e.trial_id in self._running]
            self._running.difference_update(e.trial_id for e in fresh)
        return fresh

    def alive(self, trial_id: int) -> bool:
        # Its thread lives as long as this process, which is what renews the lease.
        return True

    def cancel(self, trial_id: int) -> None:
        with self._lock:
            self._running.discard(trial_id)

    def close(self) -> None:
        # Threads still running a trial (after Ctrl-C) end when it does; idle ones now.
        for _ in self._threads:
            self._inbox.put(None)
        self._threads = []
        with self._lock:
            self._running.clear()
