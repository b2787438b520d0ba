"""The live view (`/session/<id>/live?token=…`): watch a session's page and use it.

The link carries a live-view token (`Session.live_view_token`): it opens this session's live
view for a few minutes and nothing else; the CDP endpoint refuses it, and the connect URL's CDP
token does not open the live view. The page (`live_view.html`) talks to this gateway over one
WebSocket, `/session/<id>/live/ws`, and never holds a CDP token: the gateway opens the CDP
connection to the page being watched itself and passes on only what a screen and an input
device need (see ALLOWED). Every other CDP method is answered with an error, so the live view
cannot read cookies, run script or open pages. A view that is open keeps working after its
link expires; opening it again needs a fresh link. `navbar=false` hides the page picker
(Browserbase's `debuggerFullscreenUrl`); `page=<targetId>` picks the page to show;
`resize=false` shows frames at their own size and `width`/`height` fix the screen's size
(Airtop's `disableResize` and `screenResolution`).

Messages on the live WebSocket are CDP-shaped (`{id, method, params}`), plus two of the
gateway's own: `Live.pages` (the session's pages) and `Live.watch {page}` (switch to a page).
When the watched page goes away the gateway sends the event `Live.detached`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import pathlib
import ssl
from typing import Any

import aiohttp
import grpc
from aiohttp import web

from browserplane import errors
from browserplane.credentials import cluster_metadata
from browserplane.http_head import fetch
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc

log = logging.getLogger(__name__)
PAGE = pathlib.Path(__file__).with_name("live_view.html").read_bytes()
# The page runs its own inline script and talks only to this gateway; the token is in the
# URL, so it is never sent on as a referrer.
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                               "style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
}
# What a screen and an input device need; nothing that reads or changes the page otherwise.
ALLOWED = frozenset({
    "Page.startScreencast", "Page.stopScreencast", "Page.screencastFrameAck",
    "Input.dispatchMouseEvent", "Input.dispatchKeyEvent", "Input.insertText",
})
MAX_VIEWER_MESSAGE = 64 * 1024
MAX_BROWSER_MESSAGE = 64 * 1024 * 1024  # a screencast frame of a large screen
NOT_ALLOWED = -32601


def live_url(base: str, session_id: str, token: str, *, navbar: bool = True, page: str = "") -> str:
    """Where a session's live view is, for dialects to hand out (`base` is http(s)://host);
    `token` is the session's live_view_token."""
    url = f"{base}/session/{session_id}/live?token={token}"
    if not navbar:
        url += "&navbar=false"
    if page:
        url += f"&page={page}"
    return url


class LiveView:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub, secret: str,
                 relay_tls: ssl.SSLContext | None = None) -> None:
        self.relay_tls = relay_tls  # nodes' relays serve TLS
        self.control = control
        self.metadata = cluster_metadata(secret)
        self._http: aiohttp.ClientSession | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/session/{id}/live", self.page)
        app.router.add_get("/session/{id}/live/", self.page)
        app.router.add_get("/session/{id}/live/ws", self.socket)
        app.on_cleanup.append(self._close)

    async def _close(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()

    async def _resolve(self, session_id: str, token: str,
                       ) -> controlplane_pb2.ResolveSessionResponse | tuple[int, str]:
        """The session the live-view token opens, or (HTTP status, message)."""
        if not token:
            return 401, "This live-view link has no token. Use the link the session API returned."
        try:
            return await self.control.ResolveSession(controlplane_pb2.ResolveSessionRequest(
                session_id=session_id, token=token,
                access=controlplane_pb2.ResolveSessionRequest.LIVE_VIEW),
                metadata=self.metadata, timeout=10)
        except grpc.aio.AioRpcError as err:
            described = errors.describe(err)
            status = {errors.TOKEN_INVALID: 401, errors.SESSION_ENDED: 410,
                      errors.SESSION_NOT_FOUND: 404}.get(described.reason, 503)
            return status, described.message

    async def page(self, request: web.Request) -> web.Response:
        answer = await self._resolve(request.match_info["id"], request.query.get("token", ""))
        if isinstance(answer, tuple):
            return _problem(*answer)
        return web.Response(body=PAGE, headers=HEADERS)

    async def socket(self, request: web.Request) -> web.StreamResponse:
        answer = await self._resolve(request.match_info["id"], request.query.get("token", ""))
        if isinstance(answer, tuple):
            status, message = answer
            return web.json_response({"error": "live_view_refused", "message": message},
                                     status=status)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        ws = web.WebSocketResponse(max_msg_size=MAX_VIEWER_MESSAGE, heartbeat=30)
        await ws.prepare(request)
        await _Viewer(self._http, ws, answer, self.relay_tls).run()
        return ws


class _Viewer:
    """One open live view: the viewer's socket and the CDP connection to the watched page."""

    def __init__(self, http: aiohttp.ClientSession, ws: web.WebSocketResponse,
                 answer: controlplane_pb2.ResolveSessionResponse,
                 relay_tls: ssl.SSLContext | None = None) -> None:
        self.http = http
        self.relay_tls = relay_tls
        self.ws = ws
        self.session_id = answer.session.id
        self.cdp_token = answer.session.cdp_token
        self.relay = answer.relay_address
        self.upstream: aiohttp.ClientWebSocketResponse | None = None
        self.pump: asyncio.Task | None = None

    async def run(self) -> None:
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                await self._handle(message.data)
        finally:
            await self._detach()

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return await self._error(None, -32700, "not JSON")
        if not isinstance(message, dict) or not isinstance(message.get("id"), int) \
                or not isinstance(message.get("method"), str):
            return await self._error(None, -32600, "expected {id, method, params}")
        ident, method = message["id"], message["method"]
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "Live.pages":
            try:
                pages = await self._pages()
            except (OSError, ValueError, TimeoutError) as err:
                return await self._error(ident, -32000, f"the session did not answer: {err}")
            return await self.ws.send_json({"id": ident, "result": {"pages": pages}})
        if method == "Live.watch":
            return await self._watch(ident, str(params.get("page", "")))
        if method not in ALLOWED:
            return await self._error(ident, NOT_ALLOWED, f"{method} is not available in the live "
                                     "view (it shows the screen and passes input through only)")
        if self.upstream is None or self.upstream.closed:
            return await self._error(ident, -32000, "no page is being watched (Live.watch first)")
        # Only id, method and params go on: no sessionId, so no other target is reachable.
        await self.upstream.send_str(json.dumps({"id": ident, "method": method, "params": params}))

    async def _pages(self) -> list[dict[str, Any]]:
        host, _, port = self.relay.rpartition(":")
        head = (f"GET /session/{self.session_id}/json/list?token={self.cdp_token} HTTP/1.1\r\n"
                f"Host: {self.relay}\r\nConnection: close\r\n\r\n")
        status, _, body = await fetch(host, int(port), head, ssl=self.relay_tls)
        if status != 200:
            raise ValueError(f"the session's node answered {status} (has the session ended?)")
        # Chromium's /json/list HTML-escapes titles; the page sets them as text, so unescape.
        return [{"id": t.get("id", ""), "title": html.unescape(t.get("title", "")),
                 "url": t.get("url", "")}
                for t in json.loads(body) if t.get("type") == "page"]

    async def _watch(self, ident: int, page: str) -> None:
        try:
            pages = await self._pages()
        except (OSError, ValueError, TimeoutError) as err:
            return await self._error(ident, -32000, f"the session did not answer: {err}")
        if page not in {p["id"] for p in pages}:
            return await self._error(ident, -32000, f"page {page!r} is not a page of this session")
        scheme = "wss" if self.relay_tls is not None else "ws"
        url = (f"{scheme}://{self.relay}/session/{self.session_id}/devtools/page/{page}"
               f"?token={self.cdp_token}")
        try:
            upstream = await asyncio.wait_for(self.http.ws_connect(
                url, max_msg_size=MAX_BROWSER_MESSAGE, ssl=self.relay_tls or True,
                timeout=aiohttp.ClientWSTimeout(ws_close=5)), 15)
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            return await self._error(ident, -32000, f"could not reach the page: {err}")
        # The new connection opens before the old one closes, so the session never looks as
        # if its last client left.
        await self._detach()
        self.upstream = upstream
        self.pump = asyncio.get_running_loop().create_task(self._forward(upstream, page))
        await self.ws.send_json({"id": ident, "result": {}})

    async def _forward(self, upstream: aiohttp.ClientWebSocketResponse, page: str) -> None:
        """The watched page's answers and events, to the viewer."""
        try:
            async for message in upstream:
                if message.type == aiohttp.WSMsgType.TEXT and not self.ws.closed:
                    await self.ws.send_str(message.data)
        except (ConnectionError, RuntimeError):
            return
        if self.upstream is upstream and not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_json({"method": "Live.detached", "params": {"page": page}})

    async def _detach(self) -> None:
        upstream, pump = self.upstream, self.pump
        self.upstream, self.pump = None, None
        if upstream is not None:
            await upstream.close()
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    async def _error(self, ident: int | None, code: int, message: str) -> None:
        await self.ws.send_json({"id": ident, "error": {"code": code, "message": message}})


def _problem(status: int, message: str) -> web.Response:
    body = (f"<!doctype html><meta charset=utf-8><title>Live view</title>"
            f"<p>{html.escape(message)}</p>").encode()
    return web.Response(status=status, body=body, headers=HEADERS)
