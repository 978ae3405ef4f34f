"""The TCP channel remote trials use, over real sockets on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from multiprocessing import AuthenticationError
from typing import Any

import pytest

import tunelab as tl
from tunelab.execution import Finished, Request, pickle_objective
from tunelab.execution._channel import Ticket, TrialChannel, _connect, run_remote_trial

pytestmark = pytest.mark.timeout(60)

_calls: list[int] = []


def _counting(trial: tl.BaseTrial) -> float:
    _calls.append(trial.number)
    return trial.suggest_float("x", 0, 1)


def _ticket(channel: TrialChannel, study: tl.Study | None = None) -> Ticket:
    trial = (study or tl.create_study()).ask()
    return channel.ticket(trial, n_objectives=1, gc_after_trial=False)


def _run_in_thread(ticket: Ticket) -> threading.Thread:
    payload = pickle_objective(_counting, by_value=True)
    thread = threading.Thread(target=run_remote_trial, args=(ticket, payload, "test worker"))
    thread.start()
    return thread


def test_a_trial_runs_and_its_requests_are_answered() -> None:
    channel = TrialChannel("127.0.0.1", None)
    try:
        ticket = _ticket(channel)
        _calls.clear()
        thread = _run_in_thread(ticket)
        (request,) = channel.poll(10)
        assert isinstance(request, Request) and request.kind == "suggest"
        channel.respond(ticket.trial_id, (True, 0.25))
        (finished,) = channel.poll(10)
        thread.join(10)
        assert isinstance(finished, Finished) and finished.outcome.values == [0.25]
        assert _calls == [ticket.number]
    finally:
        channel.close()


def test_a_dropped_trials_rerun_is_turned_away_before_the_objective_runs() -> None:
    # What a cluster re-running a lost task meets: the configuration never runs twice.
    channel = TrialChannel("127.0.0.1", None)
    try:
        ticket = _ticket(channel)
        channel.drop(ticket.trial_id)
        _calls.clear()
        thread = _run_in_thread(ticket)
        thread.join(10)
        assert not thread.is_alive()
        assert _calls == []
        assert channel.poll(0.2) == []
    finally:
        channel.close()


def test_a_peer_without_the_key_is_refused_and_the_channel_goes_on() -> None:
    channel = TrialChannel("127.0.0.1", None)
    try:
        with pytest.raises(AuthenticationError):
            _connect(channel.address, b"not the key")
        ticket = _ticket(channel)
        thread = _run_in_thread(ticket)
        (request,) = channel.poll(10)
        channel.respond(request.trial_id, (True, 0.5))
        assert isinstance(channel.poll(10)[0], Finished)
        thread.join(10)
    finally:
        channel.close()


def test_a_silent_worker_goes_stale_and_a_pinging_one_stays_fresh() -> None:
    channel = TrialChannel("127.0.0.1", lease_interval=0.3)
    try:
        study = tl.create_study()
        silent, pinging = _ticket(channel, study), _ticket(channel, study)
        assert channel.connected_and_fresh(silent.trial_id) is None  # not connected yet
        conns: list[Any] = []
        for ticket in (silent, pinging):
            conn = _connect(channel.address, ticket.authkey)
            conn.send(("hello", ticket.trial_id, "test worker"))
            assert conn.recv() is True
            conns.append(conn)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            conns[1].send(("ping",))
            time.sleep(0.05)
        assert channel.connected_and_fresh(silent.trial_id) is False
        assert channel.connected_and_fresh(pinging.trial_id) is True
        for conn in conns:
            conn.close()
    finally:
        channel.close()
