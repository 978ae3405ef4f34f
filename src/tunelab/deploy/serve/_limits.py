"""The server's limits, and the budget that bounds the request bytes held in memory."""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass

from tunelab._validation import is_int, is_real

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BATCH_ROWS = 10_000
DEFAULT_MAX_BYTES_IN_FLIGHT = 4 * DEFAULT_MAX_BODY_BYTES
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """What one server accepts; every bound is checked where the request path reads.

    Attributes:
        max_body_bytes: Larger request bodies get 413.
        max_batch_rows: Requests with more rows get 413.
        max_bytes_in_flight: Request bodies held at once, from the first byte read to
            the answer sent; a request waits for room (up to half ``body_timeout``),
            then gets 503. Scoring holds a few times its body in memory, so this
            bounds the server's memory under load.
        max_connections: Open connections beyond this are answered 503 and closed.
        header_timeout: Seconds a request's head (line and headers) may take to arrive,
            counted from the connection's opening or its first byte after a response;
            then 408 and the connection is closed.
        body_timeout: Seconds a request's body may take to arrive once its head is in.
        max_header_bytes: A request head larger than this gets 431 and a close.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch_rows", "max_bytes_in_flight"):
            _positive_int(name, getattr(self, name))
        _positive_int("max_connections", self.max_connections)
        _positive_int("max_header_bytes", self.max_header_bytes)
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if not is_real(value) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _positive_int(name: str, value: object) -> None:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class ByteBudget:
    """Bytes that requests may hold at once; waiters are served first come, first served.

    A request larger than the whole budget takes all of it, so it runs alone rather
    than never. Used from one event loop only.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def try_take(self, size: int) -> int | None:
        """Take ``size`` bytes (capped at the capacity) if free now, without waiting."""
        size = min(size, self.capacity)
        if self._waiters or self.used + size > self.capacity:
            return None
        self.used += size
        return size

    async def take(self, size: int, timeout: float) -> int | None:
        """Take ``size`` bytes (capped at the capacity), waiting up to ``timeout`` seconds.

        Returns:
            The bytes taken (give them back with :meth:`give`), or None on timeout.
        """
        taken = self.try_take(size)
        if taken is not None:
            return taken
        size = min(size, self.capacity)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, waiter)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._drop(entry)
            return None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give(size)  # granted just as the request was cancelled
            else:
                self._drop(entry)
            raise
        return size

    def give(self, size: int) -> None:
        """Return bytes taken earlier and let waiters in."""
        self.used -= size
        self._wake()

    def _drop(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        if entry in self._waiters:
            self._waiters.remove(entry)
        self._wake()  # a large waiter leaving may let smaller ones in

    def _wake(self) -> None:
        while self._waiters:
            size, waiter = self._waiters[0]
            if waiter.done():
                self._waiters.popleft()
                continue
            if self.used + size > self.capacity:
                return
            self._waiters.popleft()
            self.used += size
            waiter.set_result(None)
