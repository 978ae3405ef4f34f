"""Long-lived remote workers that run trial after trial over one connection each.

A cluster task per trial (:class:`~tunelab.execution._channel.TrialChannel`)
pays, on every trial, for the cluster's scheduling, a fresh connection and its
authentication. Here a worker that holds one slot's resources for the whole
``optimize`` call (a Ray actor) connects once, says which slot it is, and
then waits: the coordinator sends it the next trial down the open connection
as soon as it is free, and the trial's requests, pings and outcome come back
on that connection as they would from a task.

Wire protocol (pickled messages over the authenticated connection)::

    worker → coord  ("worker", slot, name)                  once, after authentication
    coord → worker  ("trial", number, params)               a trial to run now
    worker → coord  (kind, *args) for kind in REQUEST_KINDS  answered (ok, value_or_exception)
    worker → coord  ("done", outcome)                       the trial ended; the worker is free
    worker → coord  ("ping",)                               every ping interval while connected
    worker → coord  ("error", "Type: message")              the objective did not load

A trial goes to exactly one worker, once: a worker that dies fails only the
trial it was running (the coordinator decides about a retry), and a trial
that could not be handed to a dying worker waits for the next free one.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from tunelab.exceptions import TunelabError
from tunelab.execution._base import Answer, Finished, Lost, Request
from tunelab.execution._channel import Listener, _connect, _nodelay, _ping
from tunelab.execution._outcome import call_objective
from tunelab.execution._remote import RemoteTrial, from_wire, send_answer, to_wire
from tunelab.trial import Trial


@dataclass(frozen=True)
class PoolTicket:
    """What every worker of one ``optimize`` call needs to reach the coordinator.

    Attributes:
        address: The coordinator's ``(host, port)``.
        authkey: The key of this ``optimize`` call's pool.
        n_objectives: Values the objective returns.
        gc_after_trial: Collect garbage after each trial.
        ping_interval: Seconds between lease pings (None: no pings).
    """

    address: tuple[str, int]
    authkey: bytes = field(repr=False)
    n_objectives: int
    gc_after_trial: bool
    ping_interval: float | None


def serve_trials(ticket: PoolTicket, slot: int, payload: bytes, worker: str) -> None:
    """Run trials the coordinator sends until it closes the connection (a worker's loop).

    Args:
        ticket: The way to the coordinator and what every trial needs.
        slot: The slot this worker fills, as the coordinator numbered it.
        payload: The objective, from :func:`~tunelab.execution.pickle_objective`.
        worker: Who runs the trials (host, process), named in fail reasons.
    """
    conn = _connect(ticket.address, ticket.authkey)
    lock = threading.Lock()
    stop = threading.Event()
    try:
        conn.send(("worker", slot, worker))
        try:
            func = pickle.loads(payload)
        except BaseException as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            return
        if ticket.ping_interval:
            threading.Thread(
                target=_ping, args=(conn, lock, stop, ticket.ping_interval), daemon=True
            ).start()
        while True:
            _, number, params = conn.recv()
            trial = RemoteTrial(conn, number, params, lock)
            outcome = call_objective(func, trial, ticket.n_objectives)
            with lock:
                conn.send(("done", to_wire(outcome)))
            if ticket.gc_after_trial:
                gc.collect()
    except (EOFError, OSError):
        return  # the coordinator closed the pool or is gone: nobody waits for a result
    finally:
        stop.set()
        with lock:  # not while the pinging thread sends
            conn.close()


@dataclass(eq=False)
class _Worker:
    """A connected worker, and the trial it runs (None: free).

    Only its reader thread closes the connection; other threads hang up
    (:meth:`hang_up`), which wakes that thread. ``lock`` serialises sends,
    the hang-up and the close, so no thread ever uses a closed descriptor
    whose number the system may have handed out again.
    """

    slot: int
    conn: Connection
    waker: socket.socket  # a duplicate of the connection's socket, to shut it down
    name: str
    last_seen: float
    trial_id: int | None = None
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: Any) -> None:
        """Send ``message``.

        Raises:
            OSError, ValueError: The connection is closed or broken.
        """
        with self.lock:
            if self.closed:
                raise OSError("the connection to the worker is closed")
            self.conn.send(message)

    def respond(self, answer: Answer) -> None:
        """Send ``answer`` to the running trial; a broken connection shows up as its loss."""
        with self.lock, contextlib.suppress(OSError, ValueError, EOFError):
            if not self.closed:
                send_answer(self.conn, answer)

    def hang_up(self) -> None:
        """End the connection for both sides now (its reader thread then closes it).

        Closing the descriptor alone would leave the socket open while the
        reader thread waits in ``recv`` on it: neither end would notice.
        """
        with self.lock:
            if not self.closed:
                with contextlib.suppress(OSError):
                    self.waker.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the connection (its reader thread only)."""
        with self.lock:
            self.closed = True
            self.waker.close()
            self.conn.close()


class TrialPool(Listener):
    """The coordinator's end: a listener, one reader thread per connected worker.

    Trials submitted while every worker is busy (or before any connected)
    wait in order for the next free one.

    Args:
        host: The address of this machine that workers can reach.
        lease_interval: The study's lease interval (None: no leases).
    """

    def __init__(self, host: str, lease_interval: float | None) -> None:
        self._workers: dict[int, _Worker] = {}  # connected and not gone, by slot
        self._connected: set[int] = set()  # every slot that ever connected
        self._waiting: deque[Trial] = deque()
        self._placed: dict[int, _Worker | None] = {}  # trial id -> its worker (None: waiting)
        super().__init__(host, lease_interval, "tunelab-pool")

    def ticket(self, *, n_objectives: int, gc_after_trial: bool) -> PoolTicket:
        """The ticket every worker of this pool starts with."""
        return PoolTicket(
            address=self.address,
            authkey=self._authkey,
            n_objectives=n_objectives,
            gc_after_trial=gc_after_trial,
            ping_interval=self._ping_interval,
        )

    def submit(self, trial: Trial) -> None:
        """Run ``trial`` on the next free worker."""
        with self._lock:
            self._placed[trial.trial_id] = None
            self._waiting.append(trial)
            self._dispatch()

    def _dispatch(self) -> None:
        """Hand waiting trials to free workers (called with ``_lock`` held)."""
        while self._waiting:
            worker = next((w for w in self._workers.values() if w.trial_id is None), None)
            if worker is None:
                return
            trial = self._waiting.popleft()
            worker.trial_id = trial.trial_id
            self._placed[trial.trial_id] = worker
            try:
                worker.send(("trial", trial.number, trial.params))
            except (OSError, ValueError):
                # It never got the trial: the next free worker runs it instead.
                worker.trial_id = None
                del self._workers[worker.slot]
                self._placed[trial.trial_id] = None
                self._waiting.appendleft(trial)

    def _read(self, sock: socket.socket) -> None:
        waker = sock.dup()
        conn = _nodelay(sock)
        hello = self._greet(conn)
        if hello is None:
            waker.close()
            return
        _, slot, name = hello
        worker = _Worker(slot, conn, waker, name, time.monotonic())
        try:
            with self._lock:
                if self._closed.is_set() or slot in self._connected:
                    return
                self._connected.add(slot)
                self._workers[slot] = worker
                self._dispatch()
            self._serve(worker)
        finally:
            worker.close()

    def _serve(self, worker: _Worker) -> None:
        conn = worker.conn
        while True:
            try:
                kind, *args = conn.recv()
            except Exception as exc:
                detail = f"{type(exc).__name__}{': ' + str(exc) if str(exc) else ''}"
                self._lose(
                    worker, f"lost the connection to {worker.name}, which ran the trial ({detail})"
                )
                return
            worker.last_seen = time.monotonic()
            if kind == "ping":
                continue
            if kind == "error":
                self._events.put(
                    TunelabError(f"the objective could not be loaded on {worker.name}: {args[0]}")
                )
                self._lose(worker, f"{worker.name} could not load the objective")
                return
            trial_id = worker.trial_id
            if trial_id is None:
                continue  # the rest of a trial the coordinator dropped
            if kind == "done":
                with self._lock:
                    if worker.trial_id != trial_id:
                        continue
                    worker.trial_id = None
                    self._placed.pop(trial_id, None)
                    # Free again before the coordinator hears of it: its next trial goes here.
                    self._dispatch()
                self._events.put(Finished(trial_id, from_wire(args[0])))
                continue
            self._events.put(Request(trial_id, kind, tuple(args)))

    def _lose(self, worker: _Worker, reason: str) -> None:
        """Mark ``worker`` gone and report its trial lost with ``reason``."""
        with self._lock:
            if self._workers.get(worker.slot) is worker:
                del self._workers[worker.slot]
            trial_id, worker.trial_id = worker.trial_id, None
            if trial_id is not None:
                self._placed.pop(trial_id, None)
        worker.hang_up()
        if trial_id is not None:
            self._events.put(Lost(trial_id, reason))

    def lose_slot(self, slot: int, reason: str) -> None:
        """The cluster says the worker of ``slot`` ended: fail its trial, naming it."""
        worker = self._workers.get(slot)
        if worker is not None:
            self._lose(worker, f"{reason} (on {worker.name})")

    def ever_connected(self, slot: int) -> bool:
        """Whether the worker of ``slot`` connected at some point."""
        return slot in self._connected

    def wake(self) -> None:
        """Make a waiting :meth:`poll` return (something outside the pool changed)."""
        self._events.put(None)

    def respond(self, trial_id: int, answer: Answer) -> None:
        """Send ``answer`` to the trial's worker; a broken connection shows up as its loss."""
        worker = self._placed.get(trial_id)
        if worker is not None:
            worker.respond(answer)

    def alive(self, trial_id: int) -> bool:
        """Whether ``trial_id`` waits for a worker or its worker was heard from lately."""
        if trial_id not in self._placed:
            return False
        worker = self._placed.get(trial_id)
        if worker is None or self._lease_interval is None:
            return True
        return time.monotonic() - worker.last_seen < self._lease_interval

    def drop(self, trial_id: int) -> int | None:
        """Forget ``trial_id``; the slot of the worker still running it, which must be ended.

        That worker gets no other trial: whatever it sends about this one is ignored.
        """
        with self._lock:
            if trial_id not in self._placed:
                return None
            worker = self._placed.pop(trial_id)
            if worker is None:
                self._waiting = deque(t for t in self._waiting if t.trial_id != trial_id)
                return None
            worker.trial_id = None
            if self._workers.get(worker.slot) is worker:
                del self._workers[worker.slot]
        worker.hang_up()
        return worker.slot

    def close(self) -> set[int]:
        """Stop listening and close every connection; the slots that were free then.

        A free worker ends its loop when its connection closes; a busy one
        runs its objective on, so whoever started it must end it.
        """
        with self._lock:
            self._closed.set()
            workers = list(self._workers.values())
            free = {w.slot for w in workers if w.trial_id is None}
            self._workers.clear()
            self._waiting.clear()
            self._placed.clear()
        self._stop_listening()
        for worker in workers:
            worker.hang_up()
        return free
