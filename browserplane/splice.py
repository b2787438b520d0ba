"""Byte splicing between two transports: the data path of both CDP relays (node and gateway).

Once a WebSocket upgrade has been authenticated and routed, frames are not parsed: each chunk a
side receives is written to the other side as it is. No per-message work, no size cap; flow
control pauses the reading side when the writing side's buffer is full.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import Callable

from browserplane.http_head import json_response

WRITE_BUFFER_HIGH = 8 * 1024 * 1024
READ_SIZE_HINT = 256 * 1024


class _Half(asyncio.Protocol):
    """One direction: what `transport` receives is written to `peer`."""

    def __init__(self, splice: Splice, name: str) -> None:
        self.splice = splice
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.count += len(data)
        if self.splice.on_first_response is not None and self.name == "up":
            callback, self.splice.on_first_response = self.splice.on_first_response, None
            callback(data)
        self.peer.write(data)  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        # WebSocket peers never half-close on purpose: EOF means gone, so close both sides
        # (returning False closes this transport; connection_lost then closes the peer).
        return False

    # Our transport's write buffer filled up: stop reading from the side that feeds it.
    def pause_writing(self) -> None:
        if self.peer:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer:
            self.peer.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer and not self.peer.is_closing():
            self.peer.close()
        self.splice.closed_half()


class Splice:
    """A client transport joined to an upstream transport."""

    def __init__(
        self,
        on_first_response: Callable[[bytes], None] | None = None,
        on_close: Callable[[int, int], None] | None = None,
    ) -> None:
        self.on_first_response = on_first_response
        self.on_close = on_close
        self.down = _Half(self, "down")  # client -> upstream
        self.up = _Half(self, "up")      # upstream -> client
        self._closed = 0

    def closed_half(self) -> None:
        self._closed += 1
        if self._closed == 2 and self.on_close is not None:
            callback, self.on_close = self.on_close, None
            callback(self.down.count, self.up.count)

    async def open(self, client: asyncio.Transport, host: str, port: int, first: bytes,
                   ssl: ssl_module.SSLContext | None = None) -> bool:
        """Connects upstream (over TLS with `ssl`), sends `first` (the rewritten head and any
        early bytes), splices.

        Answers 502 to the client and returns False when the upstream cannot be reached.
        """
        loop = asyncio.get_running_loop()
        client.pause_reading()
        try:
            upstream, _ = await loop.create_connection(lambda: self.up, host, port, ssl=ssl)
        except OSError as err:
            client.write(json_response(502, {"error": "upstream unreachable", "detail": str(err)}))
            client.close()
            return False
        for transport in (client, upstream):
            transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.down.transport, self.down.peer = client, upstream
        self.up.peer = client
        client.set_protocol(self.down)
        if client.is_closing():
            upstream.close()
            self.down.connection_lost(None)
            return False
        upstream.write(first)
        client.resume_reading()
        return True
