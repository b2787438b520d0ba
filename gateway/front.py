"""The gateway's front door: one listening socket for the HTTP APIs and the CDP endpoint.

The first request head of a connection decides: a CDP path goes to the CDP endpoint (which
splices bytes from then on); anything else is handed, with the bytes read so far, to aiohttp's
request handler for the rest of the connection's life. A head that does not arrive whole within
the head timeout is answered 408 and the connection closed (aiohttp's keep-alive timeout, set
to the same, does it for the heads of later requests on the connection).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from browserplane.http_head import HEAD_TIMEOUT_S, HeadReader, RequestHead, json_response
from gateway import cdp_endpoint

log = logging.getLogger(__name__)


def front_door(http_factory: Callable[[], asyncio.Protocol],
               cdp: cdp_endpoint.CdpEndpoint, head_timeout: float = HEAD_TIMEOUT_S) -> HeadReader:
    def decide(transport: asyncio.Transport, head: RequestHead, rest: bytes,
               reader: HeadReader) -> asyncio.Protocol | None:
        if cdp.route(head) is not None:
            asyncio.get_running_loop().create_task(_cdp(cdp, transport, head, rest, reader))
            return None
        return http_factory()

    return HeadReader(decide, head_timeout)


async def _cdp(cdp: cdp_endpoint.CdpEndpoint, transport: asyncio.Transport, head: RequestHead,
               rest: bytes, reader: HeadReader) -> None:
    try:
        await cdp.handle(transport, head, rest + reader.late())
    except Exception:  # noqa: BLE001 - a failed connection must not take the gateway down
        log.exception("CDP endpoint failed")
        if not transport.is_closing():
            transport.write(json_response(502, {"error": "gateway error"}))
            transport.close()
