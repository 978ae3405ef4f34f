"""What every out-of-process executor shares: the objective on the wire and the remote trial.

A remote trial holds a connection to the coordinator. Each of its calls
(suggest, report, should_prune, set_user_attr) is one request message
``(kind, *args)`` answered by one ``(ok, payload)`` message; a worker may also
send ``("ping",)`` at any time to renew its trial's lease (never answered).
"""

from __future__ import annotations

import pickle
import sys
import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from tunelab.exceptions import TunelabError
from tunelab.execution._base import Answer
from tunelab.execution._outcome import Outcome, RemoteError
from tunelab.space import BaseDistribution
from tunelab.trial import BaseTrial, Trial

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from tunelab.study import ObjectiveFunc, Study


class Channel(Protocol):
    """The two calls of :class:`multiprocessing.connection.Connection` a remote trial uses."""

    def send(self, obj: Any) -> None: ...

    def recv(self) -> Any: ...


def pickle_objective(func: ObjectiveFunc, *, by_value: bool = False) -> bytes:
    """The objective as bytes a fresh worker process can load.

    Importable functions and objects travel by reference; closures, lambdas,
    functions of an interactive ``__main__`` (and everything when
    ``by_value``, for workers that may not import the caller's modules) travel
    by value with cloudpickle when it is installed.

    Raises:
        TunelabError: The objective cannot be sent to another process.
    """
    main = sys.modules.get("__main__")
    interactive = getattr(func, "__module__", None) == "__main__" and not hasattr(main, "__file__")
    problem = "it is defined in an interactive session"
    if not (by_value or interactive):
        try:
            return pickle.dumps(func)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
    try:
        import cloudpickle
    except ImportError:
        if by_value:
            raise TunelabError(
                "sending the objective to remote workers needs cloudpickle "
                "(pip install cloudpickle)"
            ) from None
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
    """The trial an objective sees inside a worker: every call goes to the coordinator.

    Args:
        conn: The connection to the coordinator.
        number: The trial's number.
        params: Parameters already sampled (relative sampling, fixed params).
        send_lock: Held around each send when another thread (a lease pinger)
            sends on the same connection.
    """

    def __init__(
        self,
        conn: Channel,
        number: int,
        params: dict[str, Any],
        send_lock: threading.Lock | None = None,
    ) -> None:
        self._conn = conn
        self._number = number
        self._params = params
        self._send_lock: AbstractContextManager[Any] = (
            send_lock if send_lock is not None else nullcontext()
        )

    def _call(self, *request: Any) -> Any:
        with self._send_lock:
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
        """Not available: the study lives in the coordinating process."""
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


def to_wire(outcome: Outcome) -> Outcome:
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
    """An objective's exception still in pickled form (it may not load in the coordinator)."""

    def __init__(self, blob: bytes) -> None:
        super().__init__("pickled exception")
        self.blob = blob


def from_wire(outcome: Outcome) -> Outcome:
    """The outcome :func:`to_wire` sent, its exception loaded where possible."""
    if not isinstance(outcome.error, _PickledError):
        return outcome
    try:
        error: BaseException = pickle.loads(outcome.error.blob)
    except Exception:
        error = RemoteError(f"{outcome.error_text}\n{outcome.error_traceback}")
    return Outcome(
        error=error, error_text=outcome.error_text, error_traceback=outcome.error_traceback
    )


def answer(trial: Trial, kind: str, args: tuple[Any, ...]) -> Answer:
    """Run a remote trial's request against the live trial; errors travel back to be raised."""
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


def send_answer(conn: Channel, answer: Answer) -> None:
    """Send ``answer``; an exception that does not pickle goes as a plain TunelabError.

    Raises:
        OSError, ValueError, EOFError: The connection is gone.
    """
    try:
        conn.send(answer)
    except (OSError, ValueError, EOFError):
        raise
    except Exception as exc:  # pickling failed before anything was written
        text = f"{type(answer[1]).__name__}: {answer[1]}"
        conn.send((False, TunelabError(f"{text} ({type(exc).__name__}: {exc})")))
