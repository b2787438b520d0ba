"""The live-view page (`/session/<id>/live?token=…`): watch a session's page and use it.

The page itself (`live_view.html`) is a CDP client of the gateway's public endpoint: it lists
the session's pages with `/json/list`, screencasts one with `Page.startScreencast` and passes
mouse, wheel and keyboard through `Input.*`. This module checks the token first, so a stale
link answers a clear error instead of a page that cannot connect. `navbar=false` hides the page
picker (Browserbase's `debuggerFullscreenUrl`); `page=<targetId>` picks the page to show.
"""

from __future__ import annotations

import html
import pathlib

import grpc
from aiohttp import web

from browserplane import errors
from browserplane.credentials import cluster_metadata
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc

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


def live_url(base: str, session_id: str, token: str, *, navbar: bool = True, page: str = "") -> str:
    """Where a session's live view is, for dialects to hand out (`base` is http(s)://host)."""
    url = f"{base}/session/{session_id}/live?token={token}"
    if not navbar:
        url += "&navbar=false"
    if page:
        url += f"&page={page}"
    return url


class LiveView:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub, secret: str) -> None:
        self.control = control
        self.metadata = cluster_metadata(secret)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/session/{id}/live", self.page)
        app.router.add_get("/session/{id}/live/", self.page)

    async def page(self, request: web.Request) -> web.Response:
        session_id = request.match_info["id"]
        token = request.query.get("token", "")
        if not token:
            return _problem(401, "This live-view link has no token. Use the link the session API "
                                 "returned.")
        try:
            await self.control.ResolveSession(controlplane_pb2.ResolveSessionRequest(
                session_id=session_id, token=token), metadata=self.metadata, timeout=10)
        except grpc.aio.AioRpcError as err:
            described = errors.describe(err)
            status = {errors.TOKEN_INVALID: 401, errors.SESSION_ENDED: 410,
                      errors.SESSION_NOT_FOUND: 404}.get(described.reason, 503)
            return _problem(status, described.message)
        return web.Response(body=PAGE, headers=HEADERS)


def _problem(status: int, message: str) -> web.Response:
    body = (f"<!doctype html><meta charset=utf-8><title>Live view</title>"
            f"<p>{html.escape(message)}</p>").encode()
    return web.Response(status=status, body=body, headers=HEADERS)
