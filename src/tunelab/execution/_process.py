"""Local worker processes: :class:`ProcessExecutor` (``optimize(n_jobs=k, backend="process")``).

The parent process keeps the study: the coordinator asks for trials, answers
every suggestion with its one sampler (so parallel trials never get the same
seeded values), stores results and heartbeats. Workers only run the objective;
a trial in a worker reaches the parent through a pipe for every call.

Workers are started by a fork server (or spawned), never forked from the
parent: a parent whose OpenMP, BLAS or torch runtime already has threads would
hand its children locks that no thread will ever release. The objective
therefore travels pickled. Each side watches the other: a worker exits as soon
as its parent is gone, and the parent fails only the trial of a worker that
died, starts another in its place and goes on.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from tunelab.exceptions import TunelabError
from tunelab.execution._base import Answer, Event, Executor, Finished, Lost, Request, RunSpec
from tunelab.execution._outcome import call_objective
from tunelab.execution._remote import (
    RemoteTrial,
    from_wire,
    pickle_objective,
    send_answer,
    to_wire,
)

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from tunelab.trial import Trial

_START_METHOD = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
_PARENT_GONE_EXIT = 75  # a worker's exit code when it stops because its parent died


def _exit_with_parent() -> None:
    """Leave at once when the parent dies, whatever the objective is doing."""
    parent = mp.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        wait([sentinel])
        os._exit(_PARENT_GONE_EXIT)

    threading.Thread(target=watch, name="tunelab-parent-watch", daemon=True).start()


def _worker_main(conn: Connection, payload: bytes, n_objectives: int, collect: bool) -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    try:
        func = pickle.loads(payload)
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        number, params = message
        outcome = call_objective(func, RemoteTrial(conn, number, params), n_objectives)
        conn.send(("done", to_wire(outcome)))
        if collect:
            gc.collect()


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


_PRELOADABLE = ("numpy", "scipy", "sklearn", "pandas")


def _context() -> Any:
    context = mp.get_context(_START_METHOD)
    if _START_METHOD == "forkserver":
        # The fork server imports these once, so workers start as forks of it. Not the
        # user's modules (or __main__): code they run at import could start OpenMP threads
        # there, and every worker forked after that would hang. The numeric libraries this
        # process already uses are safe to preload (their thread pools start on first use,
        # not at import) and are most of a worker's start-up time.
        preload = [name for name in _PRELOADABLE if name in sys.modules]
        context.set_forkserver_preload([__name__, *preload])
    return context


class _Worker:
    """One worker process, whether it has loaded the objective, and the trial it runs."""

    def __init__(self, context: Any, args: tuple[Any, ...]) -> None:
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, args=(child, *args), daemon=True, name="tunelab-worker"
        )
        self.process.start()
        child.close()
        self.ready = False
        self.trial_id: int | None = None

    def send(self, message: Any) -> bool:
        """Send ``message``; False when the worker is gone."""
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            return False
        return True

    def stop(self) -> None:
        """Kill the process (if it still runs) and release the pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class ProcessExecutor(Executor):
    """Runs trials in worker processes on this machine, one trial per worker at a time.

    Workers start with a fork server (or are spawned), so the objective is
    pickled: closures and lambdas need cloudpickle. A worker that dies fails
    only its own trial and another starts in its place; workers exit with
    this process. A script using it must guard its entry point with
    ``if __name__ == "__main__":``.

    Args:
        max_workers: How many trials run at once (-1: one per CPU).
    """

    stops_running_trials = True

    def __init__(self, max_workers: int = -1) -> None:
        if not isinstance(max_workers, int) or max_workers == 0 or max_workers < -1:
            raise ValueError(
                f"max_workers must be a positive integer or -1 (all CPUs), got {max_workers!r}"
            )
        self.max_workers = os.cpu_count() or 1 if max_workers == -1 else max_workers
        self._workers: list[_Worker] = []
        self._by_trial: dict[int, _Worker] = {}
        self._any_ready = False
        self._args: tuple[Any, ...] = ()

    def start(self, spec: RunSpec) -> None:
        self._args = (pickle_objective(spec.func), spec.n_objectives, spec.gc_after_trial)
        self._context = _context()
        self._any_ready = False
        n = (
            self.max_workers
            if spec.n_trials is None
            else max(1, min(self.max_workers, spec.n_trials))
        )
        self._workers = [_Worker(self._context, self._args) for _ in range(n)]
        self._by_trial = {}

    def free_slots(self) -> int:
        return sum(1 for w in self._workers if w.ready and w.trial_id is None)

    def submit(self, trial: Trial) -> None:
        worker = next(w for w in self._workers if w.ready and w.trial_id is None)
        worker.trial_id = trial.trial_id
        self._by_trial[trial.trial_id] = worker
        worker.send((trial.number, trial.params))

    def poll(self, timeout: float | None) -> list[Event]:
        waiting = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        ready = wait(waiting, timeout)
        events: list[Event] = []
        for worker in list(self._workers):
            if worker.conn in ready or worker.process.sentinel in ready:
                self._serve(worker, events)
        return events

    def _serve(self, worker: _Worker, events: list[Event]) -> None:
        """Read everything a worker sent; notice when it has died."""
        while True:
            try:
                if not worker.conn.poll():
                    break
                message = worker.conn.recv()
            except Exception:  # end of file or a message cut short: the worker is gone
                self._lost(worker, events)
                return
            kind, *args = message
            if kind == "ready":
                worker.ready = self._any_ready = True
                continue
            if kind == "error":
                raise TunelabError(
                    f"the objective could not be loaded in a worker process: {args[0]}"
                )
            trial_id = worker.trial_id
            if trial_id is None:
                raise TunelabError(f"worker process sent {kind!r} while running no trial")
            if kind == "done":
                worker.trial_id = None
                del self._by_trial[trial_id]
                events.append(Finished(trial_id, from_wire(args[0])))
            else:
                events.append(Request(trial_id, kind, tuple(args)))
        if not worker.process.is_alive():
            self._lost(worker, events)

    def _lost(self, worker: _Worker, events: list[Event]) -> None:
        """A worker died: report its trial (only that one) and start another worker."""
        worker.stop()
        code = worker.process.exitcode
        if worker.trial_id is not None:
            del self._by_trial[worker.trial_id]
            reason = f"the worker process running the trial died ({_describe_exit(code)})"
            events.append(Lost(worker.trial_id, reason))
        elif not worker.ready and not self._any_ready:
            raise TunelabError(
                f"a worker process exited while starting ({_describe_exit(code)}); if the "
                "objective is defined in a script, guard the script's entry point with "
                "`if __name__ == '__main__':`"
            )
        self._workers[self._workers.index(worker)] = _Worker(self._context, self._args)

    def respond(self, trial_id: int, answer: Answer) -> None:
        worker = self._by_trial.get(trial_id)
        if worker is None:
            return
        # A worker gone meanwhile: the next poll sees it and reports its trial lost.
        with contextlib.suppress(OSError, ValueError, EOFError):
            send_answer(worker.conn, answer)

    def alive(self, trial_id: int) -> bool:
        # Deaths are seen by poll (the worker's sentinel), which drops the trial from here.
        return trial_id in self._by_trial

    def cancel(self, trial_id: int) -> None:
        worker = self._by_trial.pop(trial_id, None)
        if worker is None:
            return
        worker.stop()
        self._workers.remove(worker)

    def close(self) -> None:
        for worker in self._workers:
            if worker.ready and worker.trial_id is None:
                worker.send(None)  # let an idle worker finish its garbage collection and exit
        for worker in self._workers:
            if worker.ready and worker.trial_id is None:
                worker.process.join(timeout=10)
            worker.stop()
        self._workers = []
        self._by_trial = {}
