"""uvicorn's HTTP protocol with the connection-level guards the server needs.

* Nagle's algorithm is always off. asyncio only turns it off on sockets it recognises
  as TCP, and the listening socket uvicorn binds itself for several workers does not
  qualify: its connections then send a response's body after its headers only once
  the client acknowledges them, about 40 ms later on Linux.
* Slow clients cannot hold connections: uvicorn times out idle keep-alive connections
  only after a response, and never a request whose head or body stalls. Here a
  request's head must arrive within ``header_timeout`` of its first byte (or of the
  connection opening), and its body within ``body_timeout`` of the head; otherwise
  the client gets 408 (when no answer has started) and the connection is closed.
  The body's clock stops while the server itself is not reading (flow control).
* A head over ``max_header_bytes`` gets 431, and connections beyond
  ``max_connections`` get 503; both are then closed.

The limits come from the served app (its ``limits`` attribute), so one object
configures the request path and the connections. Imported by uvicorn from its dotted
name, in each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from tunelab.deploy.serve._limits import Limits


def _reply(status: str, message: str) -> bytes:
    body = ('{"error":"' + message + '"}').encode("ascii")
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_TIMEOUT_HEAD = _reply("408 Request Timeout", "request head not received in time")
_TIMEOUT_BODY = _reply("408 Request Timeout", "request body not received in time")
_TOO_LARGE_HEAD = _reply("431 Request Header Fields Too Large", "request head too large")
_PAUSED_RECHECK = 0.25
_TOO_MANY = _reply("503 Service Unavailable", "too many open connections")


def limits_of(app: Any) -> Limits:
    """The limits of the served app, looking through the middleware uvicorn wraps it in."""
    for _ in range(8):
        limits = getattr(app, "limits", None)
        if isinstance(limits, Limits):
            return limits
        app = getattr(app, "app", None)
        if app is None:
            break
    return Limits()


class GuardedProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """httptools' or h11's protocol, whichever uvicorn picks, with the guards above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits_of(self.config.loaded_app)
        self._timer: asyncio.TimerHandle | None = None
        # The request cycle whose end we wait past: a new cycle means a new head is in.
        self._awaited: Any = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Refuse connections over the cap, turn Nagle off, and start the head clock."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # A transport's socket may refuse options (uvloop's pseudo-sockets).
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            self._close_with(_TOO_MANY)
            return
        self._arm(self._limits.header_timeout, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock, then let uvicorn tidy up."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed uvicorn's parser, then move the clock to the request's new state."""
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting:
            if self._timer is None:
                self._awaited = self.cycle
                self._head_bytes = 0
                self._arm(self._limits.header_timeout, self._head_expired)
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
            return
        if waiting and self.cycle is not self._awaited:
            # A new head came in: the body clock starts while its body is still coming.
            self._awaited = self.cycle
            self._disarm()
            if self.cycle.more_body:
                self._arm(self._limits.body_timeout, self._body_expired)
        elif waiting and self._head_bytes > self._limits.max_header_bytes:
            self._close_with(_TOO_LARGE_HEAD)
        elif not waiting and not self.cycle.more_body and self._timer is not None:
            self._disarm()  # the whole body is in

    def on_response_complete(self) -> None:
        """The next request's head clock starts with its first byte (idle: keep-alive)."""
        self._disarm()
        super().on_response_complete()

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_expired(self) -> None:
        self._timer = None
        if self.cycle is self._awaited:
            self._close_with(_TIMEOUT_HEAD)

    def _body_expired(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is None or not cycle.more_body or cycle.response_complete:
            return
        if self.flow.read_paused:
            # The server is not reading (the app waits for room, or has a full buffer):
            # the client is not the slow one, so its clock waits too.
            self._arm(_PAUSED_RECHECK, self._body_expired)
            return
        self._close_with(None if cycle.response_started else _TIMEOUT_BODY)

    def _close_with(self, reply: bytes | None) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if reply is not None:
            self.transport.write(reply)
        self.transport.close()
