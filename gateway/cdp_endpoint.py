"""The public CDP endpoint: `/session/<id>/devtools/...` and `/session/<id>/json/...`.

The gateway checks the session's token with the control plane (ResolveSession), then splices the
connection to the node's CDP relay, which checks the token again and splices to Chromium. Frames
are never parsed. Discovery answers (`/json/version`, `/json/list`) are produced by the node's
relay from the `X-Forwarded-*` headers set here, so URLs point at this gateway.

A connection may also carry the account key as `Authorization: Bearer <key>` (what Airtop's
docs show for `connect_over_cdp`): the key must be one of the session's project, else the
connection is refused even when the URL's token is right; with a good key the URL needs no token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import re
import ssl
from typing import Any

import grpc
from aiohttp import web

from browserplane import errors
from browserplane.addresses import machine_address as _machine_address
from browserplane.credentials import cluster_metadata
from browserplane.http_head import RequestHead, fetch, json_response
from browserplane.splice import Splice
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc
from gateway import metrics
from gateway.http_api import forwarded, public_parts

log = logging.getLogger(__name__)

ROUTE = re.compile(r"^(?P<prefix>/session/(?P<sid>[A-Za-z0-9_-]{1,64}))/(?P<rest>devtools/browser(?:/[^/]*)?"
                   r"|devtools/page/[A-Za-z0-9]+|json(?:/version|/list)?)/?$")


HOST_PATHS = re.compile(r"^/(?P<rest>devtools/browser(?:/[^/]*)?|devtools/page/[A-Za-z0-9]+"
                        r"|json(?:/version|/list)?)/?$")
HOST_LABELS = re.compile(r"^(?P<token>[0-9]+x[0-9a-f]{32})\.(?P<sid>[0-9a-f-]{1,64})\.")
CDP_TOKEN = re.compile(r"^[0-9]{1,12}x[0-9a-fA-F]{32}$")


@dataclasses.dataclass
class Route:
    session_id: str
    token: str
    rest: str          # devtools/browser, devtools/page/<id>, json/version, json/list
    public_prefix: str  # where the session's URLs live on this gateway ("" for host routes)
    account_key: str = ""  # an API key sent as Authorization: Bearer (not a CDP token)


def forwarded_headers(head: RequestHead, prefix: str, peer: str, secure: bool = False,
                      public_url: str = "") -> list[tuple[str, str]]:
    """What the node's relay needs to hand out URLs that point back at this gateway: the
    --public-url when set, else how the client reached us (its TLS, or an ingress's headers)."""
    if public_url:
        proto, host, outer = public_parts(public_url)
    else:
        proto = head.header("x-forwarded-proto") or ("https" if secure else "http")
        host = head.header("x-forwarded-host") or head.header("host")
        outer = head.header("x-forwarded-prefix").rstrip("/")
    chain = head.header("x-forwarded-for")
    return [("X-Forwarded-Proto", proto), ("X-Forwarded-Host", host),
            ("X-Forwarded-Prefix", outer + prefix),
            ("X-Forwarded-For", f"{chain}, {peer}" if chain else peer)]


class CdpEndpoint:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub, secret: str,
                 one_hop: bool = True, host_suffix: str = "", public_url: str = "",
                 relay_tls: ssl.SSLContext | None = None) -> None:
        self.control = control
        self.secret = secret
        self.metadata = cluster_metadata(secret)
        self.one_hop = one_hop
        self.host_suffix = host_suffix.strip(".").lower()
        self.public_url = public_url
        self.relay_tls = relay_tls  # nodes' relays serve TLS: connect with it, our cert shown

    def route(self, head: RequestHead) -> Route | None:
        """Which session a request is for: by path (/session/<id>/...), or, with a host
        suffix configured, by host name (<token>.<session id>.<suffix>), which is what
        Puppeteer's browserURL keeps (it drops the path and the query)."""
        match = ROUTE.match(head.path)
        if match:
            token, key = _credentials(head.query.get("token", ""),
                                      head.header("authorization"))
            return Route(match["sid"], token, match["rest"], match["prefix"], key)
        if not self.host_suffix:
            return None
        host = (head.header("x-forwarded-host") or head.header("host")).split(",")[0].strip()
        host = host.rsplit(":", 1)[0].lower() if not host.endswith("]") else host.lower()
        if not host.endswith("." + self.host_suffix):
            return None
        labels, path = HOST_LABELS.match(host), HOST_PATHS.match(head.path)
        if labels is None or path is None:
            return None
        return Route(labels["sid"], labels["token"], path["rest"], "")


    async def targets(self, session_id: str, token: str, forwarded: dict[str, str],
                      rest: str = "json/list") -> Any:
        """The session's CDP targets (`/json/list`, or `json/version`), with URLs pointing at
        this gateway."""
        answer = await self.control.ResolveSession(
            controlplane_pb2.ResolveSessionRequest(session_id=session_id, token=token),
            metadata=self.metadata, timeout=10)
        host, _, port = answer.relay_address.rpartition(":")
        prefix = forwarded.get("X-Forwarded-Prefix", "").rstrip("/") + f"/session/{session_id}"
        head = (f"GET /session/{session_id}/{rest}?token={token} HTTP/1.1\r\n"
                f"Host: {answer.relay_address}\r\nConnection: close\r\n"
                f"X-Forwarded-Proto: {forwarded.get('X-Forwarded-Proto', 'http')}\r\n"
                f"X-Forwarded-Host: {forwarded.get('X-Forwarded-Host', '')}\r\n"
                f"X-Forwarded-Prefix: {prefix}\r\n\r\n")
        status, _, body = await fetch(host, int(port), head, ssl=self.relay_tls)
        if status != 200:
            raise RuntimeError(f"relay answered {status} for /{rest}")
        return json.loads(body)

    async def discovery(self, request: web.Request) -> web.Response:
        """`/session/<id>/json/...` asked on a connection that began as an HTTP API call (the
        front door hands such connections to aiohttp for good, and clients reuse them)."""
        sid = request.match_info["id"]
        token, key = _credentials(request.query.get("token", ""),
                                  request.headers.get("Authorization", ""))
        if key:
            checked = await self.account_token(sid, key, token)
            if isinstance(checked, tuple):
                return web.json_response(checked[1], status=checked[0])
            token = checked
        if not token:
            return web.json_response({"error": "missing CDP token"}, status=401)
        rest = "json/version" if request.path.rstrip("/").endswith("/version") else "json/list"
        try:
            return web.json_response(await self.targets(sid, token, forwarded(request), rest))
        except grpc.aio.AioRpcError as err:
            described = errors.describe(err)
            status = {errors.TOKEN_INVALID: 401, errors.SESSION_NOT_FOUND: 404,
                      errors.SESSION_ENDED: 404}.get(described.reason, 503)
            return web.json_response({"error": described.reason.lower(),
                                      "message": described.message, "sessionId": sid}, status=status)

    async def account_token(self, session_id: str, key: str, token: str,
                            ) -> str | tuple[int, dict[str, str]]:
        """The CDP token to use for a connection that carries an account key: the URL's own, or
        the session's when the URL has none. (status, body) when the key does not open the
        session: unknown, revoked, or of another project."""
        if not key.isascii() or not key.isprintable():
            return 401, {"error": "unauthenticated", "message": "the API key is not valid"}
        try:
            session = await self.control.GetSession(
                controlplane_pb2.GetSessionRequest(id=session_id),
                metadata=(("authorization", f"Bearer {key}"),), timeout=10)
        except grpc.aio.AioRpcError as err:
            described = errors.describe(err)
            if err.code() == grpc.StatusCode.UNAUTHENTICATED:
                return 401, {"error": described.reason.lower(), "message": described.message}
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return 403, {"error": "permission_denied", "sessionId": session_id,
                             "message": "the API key is not one of this session's project"}
            return 503, {"error": described.reason.lower(), "message": described.message}
        return token or session.cdp_token

    def routes(self, app: web.Application) -> None:
        for path in ("/json", "/json/list", "/json/version"):
            app.router.add_get(f"/session/{{id}}{path}", self.discovery)
            app.router.add_get(f"/session/{{id}}{path}/", self.discovery)

    async def handle(self, client: asyncio.Transport, head: RequestHead, rest: bytes) -> None:
        route = self.route(head)
        assert route is not None
        sid, token = route.session_id, route.token
        if head.method != "GET":
            return _reply(client, 405, {"error": "method not allowed"})
        if route.account_key:
            checked = await self.account_token(sid, route.account_key, token)
            if isinstance(checked, tuple):
                return _reply(client, *checked)
            token = checked
        if not token:
            return _reply(client, 401, {"error": "missing CDP token",
                                        "detail": "use the connect URL the session API returned"})
        try:
            answer = await self.control.ResolveSession(
                controlplane_pb2.ResolveSessionRequest(session_id=sid, token=token),
                metadata=self.metadata, timeout=10)
        except grpc.aio.AioRpcError as err:
            described = errors.describe(err)
            status = {grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.NOT_FOUND: 404,
                      grpc.StatusCode.UNAVAILABLE: 503}.get(err.code(), 502)
            if described.reason == errors.TOKEN_INVALID:
                status = 401
            return _reply(client, status, {"error": described.reason.lower(),
                                           "message": described.message, "sessionId": sid})
        host, _, port = answer.relay_address.rpartition(":")
        if head.is_websocket and self.one_hop and _is_local(host):
            attached = await self._attach(host, int(port), sid, token)
            if attached is not None:
                return await self._splice_direct(client, head, rest, route, *attached)
        peer = (client.get_extra_info("peername") or ("", 0))[0]
        target = f"/session/{sid}/{route.rest}?token={token}"
        # The token travels in the target; an account key never goes on toward the browser.
        secure = client.get_extra_info("sslcontext") is not None
        first = head.rewritten(target, answer.relay_address, drop=("origin", "authorization"),
                               add=forwarded_headers(head, route.public_prefix, peer, secure,
                                                     self.public_url)) + rest
        websocket = head.is_websocket

        def on_first(data: bytes) -> None:
            if websocket and data.startswith(b"HTTP/1.1 101"):
                metrics.CDP_CONNECTIONS.inc()
                state["open"] = True

        def on_close(up: int, down: int) -> None:
            metrics.RELAYED_BYTES.labels("to_browser").inc(up)
            metrics.RELAYED_BYTES.labels("to_client").inc(down)
            if state["open"]:
                metrics.CDP_CONNECTIONS.dec()

        state = {"open": False}
        await Splice(on_first, on_close).open(client, host, int(port), first, ssl=self.relay_tls)


    async def _attach(self, host: str, port: int, sid: str, token: str,
                      ) -> tuple[asyncio.StreamWriter, int, str] | None:
        """Asks the node's relay for the browser's local address; the open connection stands
        for the client while it is connected. None when the relay says no (fall back)."""
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=self.relay_tls)
            writer.write((f"GET /session/{sid}/attach?token={token} HTTP/1.1\r\n"
                          f"Host: {host}:{port}\r\nX-Browserplane-Cluster: Bearer {self.secret}"
                          "\r\n\r\n").encode("latin-1"))
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(next((line.split(b":", 1)[1] for line in raw.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), b"0"))
            body = json.loads(await asyncio.wait_for(reader.readexactly(length), 5))
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            return None
        if not raw.startswith(b"HTTP/1.1 200"):
            writer.close()
            return None
        return writer, int(body["port"]), body["browserPath"]

    async def _splice_direct(self, client: asyncio.Transport, head: RequestHead, rest: bytes,
                             route: Route, presence: asyncio.StreamWriter, port: int,
                             path: str) -> None:
        state = {"open": False}

        def on_first(data: bytes) -> None:
            if data.startswith(b"HTTP/1.1 101"):
                metrics.CDP_CONNECTIONS.inc()
                state["open"] = True

        def on_close(up: int, down: int) -> None:
            presence.close()  # tells the node the client left
            metrics.RELAYED_BYTES.labels("to_browser").inc(up)
            metrics.RELAYED_BYTES.labels("to_client").inc(down)
            if state["open"]:
                metrics.CDP_CONNECTIONS.dec()

        target = path if route.rest.startswith("devtools/browser") else "/" + route.rest
        first = head.rewritten(target, f"127.0.0.1:{port}",
                               drop=("origin", "authorization")) + rest
        if not await Splice(on_first, on_close).open(client, "127.0.0.1", port, first):
            presence.close()


@functools.cache
def _this_machine() -> str:
    return _machine_address()


def _is_local(host: str) -> bool:
    """True when the node's relay (and so its browsers) is on this machine: its loopback, or the
    address a node bound to every interface here advertises (`up --host 0.0.0.0`)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or host == _this_machine()
    except ValueError:
        return False


def _reply(client: asyncio.Transport, status: int, payload: dict) -> None:
    client.write(json_response(status, payload))
    client.close()


def _credentials(query_token: str, authorization: str) -> tuple[str, str]:
    """(CDP token, account key) of a connection: a Bearer value shaped like a CDP token is
    one; any other Bearer value is an account key."""
    bearer = _bearer(authorization)
    if bearer and not CDP_TOKEN.match(bearer):
        return query_token, bearer
    return query_token or bearer, ""


def _bearer(value: str) -> str:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
