"""uvicorn's HTTP protocol with Nagle's algorithm always off.

asyncio only turns Nagle off on sockets it recognises as TCP, and the listening socket
uvicorn binds itself for several workers does not qualify: its connections then send a
response's body after its headers only once the client acknowledges them, about 40 ms
later on Linux. Imported by uvicorn from its dotted name, in each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """httptools' or h11's protocol, whichever uvicorn picks, sending without delay."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Set ``TCP_NODELAY`` on the connection's socket, then start as usual."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # A transport's socket may refuse options (uvloop's pseudo-sockets).
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
