"""The node's CDP relay: routes a WebSocket for a session to that session's Chromium.

Paths (all need the session's CDP token, as `?token=` or `Authorization: Bearer`):
  /session/<id>/devtools/browser          the browser target (what Playwright/Puppeteer use)
  /session/<id>/devtools/page/<targetId>  one page target
  /session/<id>/json/version | /json/list discovery, URLs rewritten to this relay

Behind a gateway, `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Prefix` decide the
URLs that discovery hands out. After the upgrade the relay only splices bytes. A request head
that is not whole within the head timeout is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import urllib.parse
from collections.abc import Callable

from browserplane.credentials import check_cdp_token, is_cluster_secret
from browserplane.http_head import (
    HEAD_TIMEOUT_S,
    HeadReader,
    RequestHead,
    fetch,
    json_response,
    response,
)
from browserplane.splice import Splice
from node import metrics
from node.fleet import Fleet

log = logging.getLogger(__name__)

ROUTE = re.compile(r"^/session/(?P<sid>[A-Za-z0-9_-]{1,64})/(?P<rest>devtools/browser(?:/[^/]*)?"
                   r"|devtools/page/[A-Za-z0-9]+|json(?:/version|/list)?|attach)/?$")


class CdpRelay:
    def __init__(self, fleet: Fleet, secret: str, head_timeout: float = HEAD_TIMEOUT_S,
                 tls: ssl.SSLContext | None = None) -> None:
        self.fleet = fleet
        self.secret = secret
        self.head_timeout = head_timeout
        self.tls = tls
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: HeadReader(self._take, self.head_timeout),
                                              host, port, backlog=512, ssl=self.tls)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server:
            self.server.close()

    def _take(self, client: asyncio.Transport, head: RequestHead, rest: bytes,
              front: HeadReader) -> None:
        asyncio.get_running_loop().create_task(self.handle(client, head, rest, front))

    async def handle(self, client: asyncio.Transport, head: RequestHead, rest: bytes,
                     front: HeadReader) -> None:
        try:
            await self._handle(client, head, rest, front)
        except Exception:  # noqa: BLE001 - one bad request must not take the relay down
            log.exception("relay request failed")
            if not client.is_closing():
                client.write(json_response(502, {"error": "relay error"}))
                client.close()

    async def _handle(self, client: asyncio.Transport, head: RequestHead, rest: bytes,
                      front: HeadReader) -> None:
        match = ROUTE.match(head.path)
        if head.method != "GET" or not match:
            return self._reply(client, 404, {"error": "not found", "path": head.path})
        sid, what = match["sid"], match["rest"]
        slot = self.fleet.sessions.get(sid)
        if slot is None:
            return self._reply(client, 404, {"error": "session not found on this node",
                                             "sessionId": sid})
        token = head.query.get("token") or _bearer(head.header("authorization"))
        check = check_cdp_token(self.secret, token, sid, slot.project_id)
        if not check.ok:
            return self._reply(client, 401, {"error": "invalid CDP token", "detail": check.reason})
        await slot.watched()
        if self.fleet.sessions.get(sid) is not slot:  # it ended meanwhile
            return self._reply(client, 404, {"error": "session not found on this node",
                                             "sessionId": sid})
        browser = slot.browser
        if what == "attach":
            return self._attach(client, head, sid)
        if what.startswith("json"):
            return await self._discovery(client, head, sid, token, browser.port, what)
        if not head.is_websocket:
            return self._reply(client, 400, {"error": "expected a WebSocket upgrade"})
        target = browser.browser_path if what.startswith("devtools/browser") else "/" + what
        first = head.rewritten(target, f"127.0.0.1:{browser.port}") + rest + front.late()
        upgraded = False

        def on_first(data: bytes) -> None:
            nonlocal upgraded
            if data.startswith(b"HTTP/1.1 101"):
                upgraded = True
                metrics.CDP_CONNECTIONS.inc()
                self.fleet.client_connected(sid)

        def on_close(up_bytes: int, down_bytes: int) -> None:
            metrics.RELAYED_BYTES.labels("to_browser").inc(up_bytes)
            metrics.RELAYED_BYTES.labels("to_client").inc(down_bytes)
            if upgraded:
                metrics.CDP_CONNECTIONS.dec()
                self.fleet.client_disconnected(sid)

        await Splice(on_first, on_close).open(client, "127.0.0.1", browser.port, first)

    async def _discovery(self, client: asyncio.Transport, head: RequestHead, sid: str, token: str,
                         port: int, what: str) -> None:
        path = "/json/version" if what.startswith("json/version") else "/json/list"
        status, _, body = await fetch(
            "127.0.0.1", port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        if status != 200:
            return self._reply(client, 502, {"error": f"browser answered {status}"})
        data = json.loads(body)
        base = public_ws_base(head, f"/session/{sid}", secure=self.tls is not None)
        query = "?" + urllib.parse.urlencode({"token": token})
        entries = data if isinstance(data, list) else [data]
        for entry in entries:
            url = entry.get("webSocketDebuggerUrl", "")
            if "/devtools/browser/" in url:
                entry["webSocketDebuggerUrl"] = f"{base}/devtools/browser{query}"
            elif "/devtools/page/" in url:
                entry["webSocketDebuggerUrl"] = f"{base}/devtools/page/{entry.get('id')}{query}"
            entry.pop("devtoolsFrontendUrl", None)
        client.write(response(200, json.dumps(data, indent=1).encode()))
        client.close()

    def _attach(self, client: asyncio.Transport, head: RequestHead, sid: str) -> None:
        """For a gateway on this host: the browser's local address, so it can splice a client
        to Chromium in one hop. The connection stays open for as long as that client is
        connected, and counts as the client (idle and disconnect rules see it)."""
        if not is_cluster_secret(_bearer(head.header("x-browserplane-cluster")), self.secret):
            return self._reply(client, 403, {"error": "attach is for cluster members"})
        browser = self.fleet.sessions[sid].browser
        client.write(json_response(200, {"host": "127.0.0.1", "port": browser.port,
                                         "browserPath": browser.browser_path})
                     .replace(b"Connection: close", b"Connection: keep-alive"))
        metrics.CDP_CONNECTIONS.inc()
        self.fleet.client_connected(sid)
        client.set_protocol(_Presence(lambda: self._detached(sid)))
        client.resume_reading()

    def _detached(self, sid: str) -> None:
        metrics.CDP_CONNECTIONS.dec()
        self.fleet.client_disconnected(sid)

    @staticmethod
    def _reply(client: asyncio.Transport, status: int, payload: dict) -> None:
        client.write(json_response(status, payload))
        client.close()


class _Presence(asyncio.Protocol):
    """Holds an attach connection; its end means the gateway's client left."""

    def __init__(self, on_close: Callable[[], None]) -> None:
        self.on_close = on_close

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_close()


def public_ws_base(head: RequestHead, own_prefix: str, secure: bool = False) -> str:
    """ws(s)://host/prefix as the client sees us, honouring X-Forwarded-* from a gateway."""
    proto = head.header("x-forwarded-proto").split(",")[0].strip().lower() or \
        ("https" if secure else "")
    scheme = "wss" if proto in ("https", "wss") else "ws"
    host = head.header("x-forwarded-host").split(",")[0].strip() or head.header("host")
    prefix = head.header("x-forwarded-prefix").rstrip("/") if head.header("x-forwarded-prefix") \
        else own_prefix
    return f"{scheme}://{host}{prefix}"


def _bearer(value: str) -> str:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
