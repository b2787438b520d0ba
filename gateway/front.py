"""The gateway's front door: one listening socket for the HTTP APIs and the CDP endpoint.

It reads the first request head of a connection. A CDP path goes to the CDP endpoint (which
splices bytes from then on); anything else is handed, with the bytes read so far, to aiohttp's
request handler for the rest of the connection's life.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from browserplane.http_head import HeadError, json_response, split_head
from gateway import cdp_endpoint

log = logging.getLogger(__name__)


class FrontDoor(asyncio.Protocol):
    def __init__(self, http_factory: Callable[[], asyncio.Protocol],
                 cdp: cdp_endpoint.CdpEndpoint) -> None:
        self.http_factory = http_factory
        self.cdp = cdp
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.decided = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.decided:
            return
        try:
            parsed = split_head(self.buffer)
        except HeadError as err:
            self.transport.write(json_response(400, {"error": str(err)}))
            self.transport.close()
            return
        if parsed is None:
            return
        self.decided = True
        head, rest = parsed
        if cdp_endpoint.claims(head):
            self.buffer = b""  # from here on: bytes that arrive after the head
            self.transport.pause_reading()
            asyncio.get_running_loop().create_task(self._cdp(head, rest))
            return
        handler = self.http_factory()
        buffered, self.buffer = self.buffer, b""
        self.transport.set_protocol(handler)
        handler.connection_made(self.transport)
        handler.data_received(buffered)

    async def _cdp(self, head: object, rest: bytes) -> None:
        try:
            await self.cdp.handle(self.transport, head, rest + self._late())  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a failed connection must not take the gateway down
            log.exception("CDP endpoint failed")
            if self.transport and not self.transport.is_closing():
                self.transport.write(json_response(502, {"error": "gateway error"}))
                self.transport.close()

    def _late(self) -> bytes:
        # Bytes that arrived after the head (reading is paused, so rarely any); `rest` holds
        # the ones that came with it.
        late, self.buffer = self.buffer, b""
        return late

    def connection_lost(self, exc: Exception | None) -> None:
        pass
