"""Worker processes for ``optimize(n_jobs=k, backend="process")``.

The parent process keeps the study: it asks for trials, answers every
suggestion with its one sampler (so parallel trials never get the same seeded
values), stores results and heartbeats. Workers only run the objective; a
trial in a worker reaches the parent through a pipe for every call.

Workers are started by a fork server (or spawned), never forked from the
parent: a parent whose OpenMP, BLAS or torch runtime already has threads would
hand its children locks that no thread will ever release. The objective
therefore travels pickled. Each side watches the other: a worker exits as soon
as its parent is gone, and the parent fails only the trial of a worker that
died, starts another in its place and goes on.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from tunelab._outcome import (
    Outcome,
    RemoteError,
    call_objective,
    fail_if_running,
    interrupted,
    record_outcome,
)
from tunelab.exceptions import TunelabError
from tunelab.space import BaseDistribution
from tunelab.trial import BaseTrial, FrozenTrial, Trial

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from tunelab._optimize import Budget, Heartbeat
    from tunelab.study import ObjectiveFunc, Study

_START_METHOD = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
_PARENT_GONE_EXIT = 75  # a worker's exit code when it stops because its parent died


def pickle_objective(func: ObjectiveFunc) -> bytes:
    """The objective as bytes a fresh worker process can load.

    Importable functions and objects travel by reference; closures, lambdas and
    functions of an interactive ``__main__`` travel by value with cloudpickle
    when it is installed.

    Raises:
        TunelabError: The objective cannot be sent to another process.
    """
    main = sys.modules.get("__main__")
    by_value = getattr(func, "__module__", None) == "__main__" and not hasattr(main, "__file__")
    problem = "it is defined in an interactive session"
    if not by_value:
        try:
            return pickle.dumps(func)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
    try:
        import cloudpickle
    except ImportError:
        raise TunelabError(
            f"the objective cannot be sent to worker processes ({problem}); define it at "
            "module level, install cloudpickle, or run optimize(..., backend='thread')"
        ) from None
    try:
        return bytes(cloudpickle.dumps(func))
    except Exception as exc:
        raise TunelabError(
            f"the objective cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
            "run optimize(..., backend='thread') to keep it in this process"
        ) from None


class RemoteTrial(BaseTrial):
    """The trial an objective sees inside a worker: every call goes to the parent."""

    def __init__(self, conn: Connection, number: int, params: dict[str, Any]) -> None:
        self._conn = conn
        self._number = number
        self._params = params

    def _call(self, *request: Any) -> Any:
        self._conn.send(request)
        ok, payload = self._conn.recv()
        if not ok:
            raise payload
        return payload

    @property
    def number(self) -> int:
        return self._number

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def study(self) -> Study:
        """Not available: the study lives in the parent process."""
        raise AttributeError(
            "trial.study is not available in a worker process; run optimize(..., "
            "backend='thread') for objectives that read or change the study"
        )

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        value = self._call("suggest", name, distribution)
        self._params[name] = value
        return value

    def report(self, value: float, step: int) -> None:
        self._call("report", value, step)

    def should_prune(self) -> bool:
        return bool(self._call("should_prune"))

    def set_user_attr(self, key: str, value: Any) -> None:
        self._call("set_user_attr", key, value)


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
        conn.send(("done", _to_wire(outcome)))
        if collect:
            gc.collect()


def _to_wire(outcome: Outcome) -> Outcome:
    """The outcome with its exception pickled apart, so the message itself always loads."""
    if outcome.error is None:
        return outcome
    try:
        blob: bytes | None = pickle.dumps(outcome.error)
    except Exception:
        blob = None
    return Outcome(
        error=_PickledError(blob) if blob is not None else None,
        error_text=outcome.error_text,
        error_traceback=outcome.error_traceback,
    )


class _PickledError(Exception):
    """An objective's exception still in pickled form (it may not load in the parent)."""

    def __init__(self, blob: bytes) -> None:
        super().__init__("pickled exception")
        self.blob = blob


def _from_wire(outcome: Outcome) -> Outcome:
    if not isinstance(outcome.error, _PickledError):
        return outcome
    try:
        error: BaseException = pickle.loads(outcome.error.blob)
    except Exception:
        error = RemoteError(f"{outcome.error_text}\n{outcome.error_traceback}")
    return Outcome(
        error=error, error_text=outcome.error_text, error_traceback=outcome.error_traceback
    )


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
        self.trial: Trial | None = None

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


class WorkerPool:
    """Worker processes that run trials handed out by the parent.

    Args:
        func: The objective.
        n_workers: How many trials run at once.
        n_objectives: Values the objective returns (checked in the worker).
        gc_after_trial: Run a garbage collection in the worker after each trial.

    Raises:
        TunelabError: The objective cannot be sent to another process.
    """

    def __init__(
        self, func: ObjectiveFunc, n_workers: int, *, n_objectives: int, gc_after_trial: bool
    ) -> None:
        self._args = (pickle_objective(func), n_objectives, gc_after_trial)
        self._n_workers = n_workers
        self._context = _context()
        self._any_ready = False
        self._workers: list[_Worker] = []

    def run(
        self,
        study: Study,
        budget: Budget,
        catch: tuple[type[BaseException], ...],
        heartbeat: Heartbeat,
        finished: Callable[[FrozenTrial], None],
    ) -> None:
        """Start the workers and hand out trials until the budget ends.

        Trials still running ``budget.grace`` seconds after the timeout are
        ended with their workers and stored as FAIL. The first exception an
        objective raised that is not in ``catch`` is raised at the end.
        """
        self._study, self._budget, self._catch = study, budget, catch
        self._heartbeat, self._finished = heartbeat, finished
        self._errors: list[BaseException] = []
        try:
            for _ in range(self._n_workers):
                self._workers.append(_Worker(self._context, self._args))
            self._loop()
        except BaseException as exc:
            for worker in self._workers:
                if worker.trial is not None:
                    heartbeat.remove(worker.trial.trial_id)
                    fail_if_running(study, worker.trial, interrupted(exc))
            for worker in self._workers:
                worker.stop()
            raise
        self._shutdown()
        if self._errors:
            raise self._errors[0]

    def _loop(self) -> None:
        budget = self._budget
        while True:
            for worker in list(self._workers):
                if worker.ready and worker.trial is None and not self._errors and budget.take():
                    self._start(worker)
            busy = [w for w in self._workers if w.trial is not None]
            if not busy and (self._errors or not budget.open()):
                return
            wake = budget.deadline + budget.grace if busy and not budget.open() else budget.deadline
            timeout = None if wake == float("inf") else max(0.0, wake - time.monotonic())
            waiting = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
            ready = wait(waiting, timeout)
            for worker in list(self._workers):
                if worker.conn in ready or worker.process.sentinel in ready:
                    self._serve(worker)
            if time.monotonic() >= budget.deadline + budget.grace:
                self._end_overdue()

    def _start(self, worker: _Worker) -> None:
        trial = self._study.ask()
        worker.trial = trial
        self._heartbeat.add(trial.trial_id)
        if not worker.send((trial.number, trial.params)):
            self._lost(worker)

    def _serve(self, worker: _Worker) -> None:
        """Read everything a worker sent; notice when it has died."""
        while True:
            try:
                if not worker.conn.poll():
                    break
                message = worker.conn.recv()
            except Exception:  # end of file or a message cut short: the worker is gone
                self._lost(worker)
                return
            if not self._handle(worker, message):
                return
        if not worker.process.is_alive():
            self._lost(worker)

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> bool:
        """Act on one message; False when the worker is no longer in the pool."""
        kind, *args = message
        if kind == "ready":
            worker.ready = self._any_ready = True
            return True
        if kind == "error":
            raise TunelabError(f"the objective could not be loaded in a worker process: {args[0]}")
        trial = worker.trial
        if trial is None:
            raise TunelabError(f"worker process sent {kind!r} while running no trial")
        if kind == "done":
            worker.trial = None
            self._heartbeat.remove(trial.trial_id)
            frozen, error = record_outcome(self._study, trial, _from_wire(args[0]), self._catch)
            if error is not None:
                self._errors.append(error)
            self._finished(frozen)
            return True
        answer = _answer(trial, kind, args)
        try:
            worker.conn.send(answer)
        except (OSError, ValueError):
            self._lost(worker)
            return False
        except Exception as exc:  # the answer (an exception of the sampler) does not pickle
            text = f"{type(answer[1]).__name__}: {answer[1]}"
            if not worker.send((False, TunelabError(f"{text} ({type(exc).__name__}: {exc})"))):
                self._lost(worker)
                return False
        return True

    def _lost(self, worker: _Worker) -> None:
        """A worker died: fail its trial (only that one) and start another worker."""
        worker.stop()
        trial = worker.trial
        code = worker.process.exitcode
        if trial is not None:
            self._heartbeat.remove(trial.trial_id)
            reason = f"the worker process running the trial died ({_describe_exit(code)})"
            frozen = fail_if_running(self._study, trial, reason)
            if frozen is not None:
                self._finished(frozen)
        elif not worker.ready and not self._any_ready:
            raise TunelabError(
                f"a worker process exited while starting ({_describe_exit(code)}); if the "
                "objective is defined in a script, guard the script's entry point with "
                "`if __name__ == '__main__':`"
            )
        index = self._workers.index(worker)
        if self._budget.open() and not self._errors:
            self._workers[index] = _Worker(self._context, self._args)
        else:
            del self._workers[index]

    def _end_overdue(self) -> None:
        """Stop the workers whose trials outlived the timeout and its grace."""
        budget = self._budget
        for worker in [w for w in self._workers if w.trial is not None]:
            trial = worker.trial
            assert trial is not None
            worker.stop()
            self._workers.remove(worker)
            self._heartbeat.remove(trial.trial_id)
            reason = (
                f"timeout: still running {budget.grace:g} s after optimize's timeout of "
                f"{budget.timeout:g} s, so its worker process was stopped"
            )
            frozen = fail_if_running(self._study, trial, reason)
            if frozen is not None:
                self._finished(frozen)

    def _shutdown(self) -> None:
        for worker in self._workers:
            if worker.ready:  # one still loading the objective has nothing to finish
                worker.send(None)
        for worker in self._workers:
            if worker.ready:
                worker.process.join(timeout=10)
            worker.stop()


def _answer(trial: Trial, kind: str, args: list[Any]) -> tuple[bool, Any]:
    """Run a worker's request against the real trial; errors travel back to be raised there."""
    try:
        if kind == "suggest":
            return True, trial._suggest(*args)
        if kind == "report":
            trial.report(*args)
            return True, None
        if kind == "should_prune":
            return True, trial.should_prune()
        if kind == "set_user_attr":
            trial.set_user_attr(*args)
            return True, None
        raise TunelabError(f"unknown request {kind!r} from a worker")
    except Exception as exc:
        return False, exc
