"""Worker processes for ``optimize(n_jobs=k)``.

The parent process keeps the study: it asks for trials, answers every
suggestion with its one sampler (so parallel trials never get the same seeded
values), stores results and heartbeats. Workers only run the objective; a
trial in a worker reaches the parent through a pipe for every call.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from tunelab._outcome import (
    INTERRUPTED,
    Outcome,
    call_objective,
    fail_if_running,
    record_outcome,
)
from tunelab.exceptions import TunelabError
from tunelab.space import BaseDistribution
from tunelab.trial import BaseTrial, FrozenTrial, Trial, TrialState

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from tunelab._optimize import Budget, Heartbeat
    from tunelab.study import ObjectiveFunc, Study


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


def _worker_main(conn: Connection, func: ObjectiveFunc) -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        message = conn.recv()
        if message is None:
            return
        number, params = message
        outcome = call_objective(func, RemoteTrial(conn, number, params))  # type: ignore[arg-type]
        try:
            conn.send(("done", outcome))
        except (pickle.PicklingError, TypeError, AttributeError):
            conn.send(("done", _portable(outcome)))


def _portable(outcome: Outcome) -> Outcome:
    """The outcome without what cannot be pickled (the exception object, odd return values)."""
    if outcome.error is not None:
        return Outcome(error_text=outcome.error_text, error_traceback=outcome.error_traceback)
    return Outcome(
        error_text=f"TypeError: the objective returned an unpicklable {outcome.values!r}"
    )


class _Worker:
    def __init__(self, context: Any, func: ObjectiveFunc) -> None:
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, args=(child, func), daemon=True, name="tunelab-worker"
        )
        try:
            self.process.start()
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TunelabError(
                f"the objective cannot be sent to worker processes ({exc}); define it at module "
                "level, or run optimize(..., backend='thread')"
            ) from None
        child.close()
        self.trial: Trial | None = None


class WorkerPool:
    """k worker processes that run trials handed out by the parent."""

    def __init__(self, func: ObjectiveFunc, n_workers: int) -> None:
        self._func = func
        self._context = mp.get_context()
        self._workers = [_Worker(self._context, func) for _ in range(n_workers)]

    def run(
        self,
        study: Study,
        budget: Budget,
        catch: tuple[type[BaseException], ...],
        heartbeat: Heartbeat,
        finished: Callable[[FrozenTrial], None],
    ) -> None:
        """Hand out trials until the budget ends; raise the first uncaught objective error."""
        errors: list[BaseException] = []
        try:
            while True:
                for worker in self._workers:
                    if worker.trial is None and not errors and budget.take():
                        self._start(study, worker, heartbeat)
                busy = [w for w in self._workers if w.trial is not None]
                if not busy:
                    break
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self._serve(study, worker, catch, heartbeat, finished, errors)
        except BaseException:
            for worker in self._workers:
                if worker.trial is not None:
                    fail_if_running(study, worker.trial, INTERRUPTED)
            self._shutdown(force=True)
            raise
        self._shutdown(force=False)
        if errors:
            raise errors[0]

    def _start(self, study: Study, worker: _Worker, heartbeat: Heartbeat) -> None:
        trial = study.ask()
        worker.trial = trial
        heartbeat.add(trial.trial_id)
        worker.conn.send((trial.number, trial.params))

    def _serve(
        self,
        study: Study,
        worker: _Worker,
        catch: tuple[type[BaseException], ...],
        heartbeat: Heartbeat,
        finished: Callable[[FrozenTrial], None],
        errors: list[BaseException],
    ) -> None:
        """Answer one request of a worker, or record its finished or dead trial."""
        trial = worker.trial
        assert trial is not None
        try:
            message = worker.conn.recv() if worker.conn.poll() else None
        except (EOFError, OSError):
            message = None
        if message is None:
            if worker.process.is_alive():
                return
            self._replace_dead(study, worker, heartbeat, finished)
            return
        kind, *args = message
        if kind != "done":
            worker.conn.send(_answer(trial, kind, args))
            return
        worker.trial = None
        heartbeat.remove(trial.trial_id)
        frozen, error = record_outcome(study, trial, args[0], catch)
        if error is not None:
            errors.append(error)
        finished(frozen)

    def _replace_dead(
        self,
        study: Study,
        worker: _Worker,
        heartbeat: Heartbeat,
        finished: Callable[[FrozenTrial], None],
    ) -> None:
        trial = worker.trial
        assert trial is not None
        worker.process.join()
        heartbeat.remove(trial.trial_id)
        code = worker.process.exitcode
        reason = f"the worker process running the trial died (exit code {code})"
        finished(study.tell(trial, state=TrialState.FAIL, fail_reason=reason))
        index = self._workers.index(worker)
        self._workers[index] = _Worker(self._context, self._func)

    def _shutdown(self, *, force: bool) -> None:
        for worker in self._workers:
            if force:
                worker.process.terminate()
            else:
                try:
                    worker.conn.send(None)
                except (BrokenPipeError, OSError):
                    worker.process.terminate()
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


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
