"""The console at `/`: a page for operators, and what the gateway serves for API clients.

`GET /` answers the console's page to a browser (Accept text/html) and, to anyone else, JSON
naming each dialect's base path, the CDP endpoint, health, metrics and where the docs are. The
page is static (`console_files/`: HTML, CSS, vanilla JS, no build step, nothing from a CDN) and
runs under a CSP that allows only its own script. It reads sessions from the `/api/sessions`
dialect with the key the operator entered (kept in the tab's sessionStorage, sent as Bearer);
the few views no dialect has live here under `/console/api/`, authenticated the same way:
who the key is, the nodes and the queue. The cluster secret, entered
as the key, sees every project (the control plane decides what a key may see).
"""

from __future__ import annotations

import hmac
import pathlib
from typing import Any

from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc
from gateway.http_api import (
    ApiError,
    RateLimiter,
    endpoint,
    grpc_metadata,
    neutral_error,
    public_base,
)

DIALECT = "console"
FILES = pathlib.Path(__file__).with_name("console_files")
# The page's assets, read once: name -> (content type, bytes). Nothing else is served.
ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
# Script only from the gateway itself, no inline script or handlers, no framing by others;
# media and the timeline come from the gateway's own signed artifact URLs; the live view is
# the gateway's own page in a frame.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; media-src 'self'; connect-src 'self'; "
                               "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def error_body(err: ApiError, request_id: str) -> dict[str, Any]:
    body = neutral_error(err.status, err.code, err.message)
    body["requestId"] = request_id
    return body


def wants_html(accept: str) -> bool:
    """True when an Accept header prefers HTML to JSON (a browser navigating here)."""
    best_html = best_json = -1.0
    for part in accept.split(","):
        kind, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
        elif kind in ("application/json", "*/*", "application/*"):
            best_json = max(best_json, q if kind == "application/json" else q - 0.001)
    return best_html > 0 and best_html > best_json  # a tie with an explicit JSON: JSON


def _time(ts: Timestamp) -> str | None:
    return ts.ToJsonString() if ts.seconds or ts.nanos else None


class Console:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub, limiter: RateLimiter,
                 cluster_secret: str) -> None:
        self.control = control
        self.limiter = limiter
        self.cluster_secret = cluster_secret
        self.page = (FILES / "index.html").read_bytes()
        self.assets = {name: (kind, (FILES / name).read_bytes()) for name, kind in ASSETS.items()}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.root)
        app.router.add_get("/console", self.root)
        app.router.add_get("/console/", self.root)
        app.router.add_get("/console/{asset:[a-z]+\\.(?:js|css)}", self.asset)
        for path, name, handler in (
                ("/console/api/whoami", "whoami", self.whoami),
                ("/console/api/nodes", "nodes", self.nodes),
                ("/console/api/queue", "queue", self.queue)):
            app.router.add_get(path, endpoint(DIALECT, name, error_body)(self._authed(handler)))
        app.router.add_route("*", "/console/api/{tail:.*}",
                             endpoint(DIALECT, "unknown", error_body)(self.unknown))

    # -- the page ------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.StreamResponse:
        if wants_html(request.headers.get("Accept", "")):
            return web.Response(body=self.page, content_type="text/html", charset="utf-8",
                                headers={**PAGE_HEADERS, "Vary": "Accept"})
        return web.json_response(self.index(request), headers={"Vary": "Accept"})

    async def asset(self, request: web.Request) -> web.StreamResponse:
        found = self.assets.get(request.match_info["asset"])
        if found is None:
            return web.json_response(neutral_error(404, "not_found", f"no {request.path}"),
                                     status=404)
        kind, body = found
        return web.Response(body=body, headers={**PAGE_HEADERS, "Content-Type": kind})

    def index(self, request: web.Request) -> dict[str, Any]:
        """What this gateway serves, for an API client that asks `GET /`."""
        try:
            base = public_base(request)
            ws = public_base(request, websocket=True)
        except ApiError:
            base, ws = "", ""
        return {
            "name": "Browserplane gateway",
            "console": f"{base}/ (open it in a browser)",
            "dialects": {
                "apiSessions": {"baseUrl": f"{base}/api/sessions", "auth": "Authorization: Bearer"},
                "browserbase": {"baseUrl": f"{base}/browserbase/v1", "auth": "X-BB-API-Key",
                                "sharedPrefix": f"{base}/v1"},
                "browserbeam": {"baseUrl": f"{base}/browserbeam/v1", "auth": "Authorization: Bearer",
                                "sharedPrefix": f"{base}/v1"},
                "airtop": {"baseUrl": f"{base}/api", "auth": "Authorization: Bearer"},
                "notte": {"baseUrl": base, "auth": "Authorization: Bearer"},
            },
            "cdp": {
                "browser": f"{ws}/session/{{sessionId}}/devtools/browser?token={{cdpToken}}",
                "discovery": f"{base}/session/{{sessionId}}/json/version",
                "note": "each session hands out its own cdp URL; the token opens that session only",
            },
            "liveView": f"{base}/session/{{sessionId}}/live?token={{liveViewToken}}",
            "grpc": "browserplane.v1 on the control plane's address (proto/ in the repository)",
            "health": f"{base}/healthz",
            "metrics": f"{base}/metrics",
            "docs": {
                "readme": "README.md in the Browserplane repository (every dialect, setting and "
                          "gRPC call)",
                "security": "docs/security.md",
                "benchmarks": "docs/benchmarks.md",
                "design": "the README's 'How it is built'",
            },
        }

    # -- the console's own JSON ----------------------------------------------------------

    def _authed(self, handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            scheme, _, key = request.headers.get("Authorization", "").partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not key:
                raise ApiError(401, "unauthorized", "missing Authorization: Bearer <API key> header")
            request["ratelimit"] = self.limiter.hit(key)
            return await handler(request, grpc_metadata(key), self._is_cluster(key))
        return run

    def _is_cluster(self, key: str) -> bool:
        return hmac.compare_digest(key.encode("utf-8", "surrogateescape"),
                                   self.cluster_secret.encode())

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise ApiError(404, "not_found", f"no route {request.method} {request.path}")

    async def whoami(self, request: web.Request, md: Any, cluster: bool) -> web.StreamResponse:
        """Whose key this is: the login checks it here (a wrong key is a 401)."""
        if cluster:
            return web.json_response({"scope": "cluster", "project": None})
        answer = await self.control.Authenticate(controlplane_pb2.AuthenticateRequest(),
                                                 metadata=md, timeout=10)
        return web.json_response({"scope": "project", "project": {
            "id": answer.project.id, "name": answer.project.name}})

    async def nodes(self, request: web.Request, md: Any, cluster: bool) -> web.StreamResponse:
        answer = await self.control.ListNodes(controlplane_pb2.ListNodesRequest(), metadata=md,
                                              timeout=10)
        rows = []
        for n in sorted(answer.nodes, key=lambda n: n.id):
            row: dict[str, Any] = {
                "id": n.id, "up": n.up, "draining": n.draining, "capacity": n.capacity,
                "freeSlots": n.free_slots, "warmBrowsers": n.warm_browsers,
                "liveSessions": n.live_sessions}
            if cluster:
                row.update({"grpcAddress": n.grpc_address, "relayAddress": n.relay_address,
                            "labels": dict(n.labels), "downReason": n.down_reason,
                            "leaseExpiresAt": _time(n.lease_expires_at),
                            "registeredAt": _time(n.registered_at)})
            rows.append(row)
        up = [n for n in answer.nodes if n.up]
        return web.json_response({
            "scope": "cluster" if cluster else "project",
            "nodes": rows,
            "totals": {"nodesUp": len(up), "capacity": sum(n.capacity for n in up),
                       "freeSlots": sum(n.free_slots for n in up),
                       "warmBrowsers": sum(n.warm_browsers for n in up)}})

    async def queue(self, request: web.Request, md: Any, cluster: bool) -> web.StreamResponse:
        answer = await self.control.ListQueue(controlplane_pb2.ListQueueRequest(), metadata=md,
                                              timeout=10)
        return web.json_response({
            "scope": "cluster" if cluster else "project",
            "waiting": answer.waiting, "maxSize": answer.max_size,
            "sessions": [{
                "sessionId": q.session.id, "projectId": q.session.project_id,
                "position": q.position, "dialect": q.session.options.dialect or "grpc",
                "createdAt": _time(q.session.created_at),
                "nodeSelector": dict(q.session.options.node_selector)}
                for q in answer.sessions]})
