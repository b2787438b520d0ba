"""The gateway process: a stateless aiohttp server in front of the control plane."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from typing import ClassVar

import grpc
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from browserplane import grpc_server, tls
from browserplane.addresses import advertised, host_port
from browserplane.credentials import cluster_metadata
from browserplane.egress import EgressPolicy
from browserplane.metrics_http import UNAUTHORIZED, authorized
from browserplane.settings import flag
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2, controlplane_pb2_grpc
from gateway import metrics
from gateway.artifact_urls import ArtifactRoute
from gateway.cdp_endpoint import CdpEndpoint
from gateway.console import Console
from gateway.dialects.airtop import Airtop
from gateway.dialects.api_sessions import ApiSessions
from gateway.dialects.browserbase import Browserbase
from gateway.dialects.browserbeam import Browserbeam
from gateway.dialects.notte import Notte
from gateway.front import front_door
from gateway.http_api import (
    PUBLIC_URL,
    RateLimiter,
    body_stall_guard,
    json_protocol_errors,
    neutral_error,
    public_parts,
)
from gateway.live_view import LiveView
from gateway.routing import mount, mount_shared

log = logging.getLogger(__name__)


@dataclasses.dataclass
class GatewaySettings:
    ENV_PREFIX: ClassVar[str] = "GATEWAY_"

    host: str = flag("127.0.0.1", "address the HTTP server binds to")
    port: int = flag(8080, "HTTP port")
    advertise_host: str = flag("", "host clients reach this gateway at, as it reports it (default: "
                                   "--host; for a wildcard --host, the machine's address); the "
                                   "URLs it hands out follow --public-url or the request's Host")
    public_url: str = flag("", "base of every URL handed to clients (connectUrl, cdp_url, live "
                               "view, signed artifact URLs), e.g. https://browsers.example.com; "
                               "empty = the request's Host and X-Forwarded-* headers")
    https_cert: str = flag("", "PEM certificate (chain) to serve HTTPS and WSS with (empty = "
                               "plain HTTP, e.g. behind an ingress that terminates TLS)")
    https_key: str = flag("", "PEM private key of --https-cert")
    control_plane: str = flag("127.0.0.1:50051", "control plane gRPC address (host:port)")
    tls_cert: str = flag("", tls.CERT_HELP, env="BROWSERPLANE_TLS_CERT")
    tls_key: str = flag("", tls.KEY_HELP, env="BROWSERPLANE_TLS_KEY")
    tls_ca: str = flag("", tls.CA_HELP, env="BROWSERPLANE_TLS_CA")
    tls_server_name: str = flag("", tls.SERVER_NAME_HELP, env="BROWSERPLANE_TLS_SERVER_NAME")
    cluster_secret: str = flag("", "shared secret of the cluster",
                               env="BROWSERPLANE_CLUSTER_SECRET")
    rate_limit: int = flag(600, "API requests per key per minute (per gateway)")
    metrics_token: str = flag("", "bearer token /metrics requires (empty = none)")
    cdp_host_suffix: str = flag("", "serve CDP also at <token>.<session id>.<suffix> (needs a "
                                    "wildcard DNS record; lets Puppeteer's browserURL work)")
    one_hop_cdp: bool = flag(True, "splice CDP clients straight to Chromium when the session's "
                                   "node runs on this machine (else through the node's relay)")
    egress_allow: list = flag([], "destinations server-side fetches (/v1/fetch) may reach although "
                                  "the egress policy refuses them: HOST-or-CIDR[:PORT|:PORT-PORT]",
                              env="BROWSERPLANE_EGRESS_ALLOW")
    body_timeout: float = flag(30.0, "seconds a request body may stop arriving before its "
                                     "connection is closed (slow-body slowloris)")
    head_timeout: float = flag(10.0, "seconds to wait for a whole request head, on a new "
                                     "connection and between requests on a kept-alive one")
    log_level: str = flag("info", "log level")


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        if not settings.cluster_secret:
            raise SystemExit("gateway: --cluster-secret (BROWSERPLANE_CLUSTER_SECRET) is required")
        self.settings = settings
        self.tls = tls.TlsFiles.of(settings, "gateway")
        self.https = tls.https_context(settings.https_cert, settings.https_key)
        if settings.public_url:
            try:
                public_parts(settings.public_url)
            except ValueError as err:
                raise SystemExit(f"gateway: {err}") from None
        self._relay_tls: ssl.SSLContext | None = None
        self.channel: grpc.aio.Channel | None = None
        self.control: controlplane_pb2_grpc.ControlPlaneStub | None = None
        self.runner: web.AppRunner | None = None
        self.server: asyncio.base_events.Server | None = None
        self.cdp: CdpEndpoint | None = None
        self.port = 0

    def app(self) -> web.Application:
        assert self.control is not None and self.cdp is not None
        app = web.Application(client_max_size=512 * 1024 * 1024,
                              middlewares=[body_stall_guard(self.settings.body_timeout)])
        app[PUBLIC_URL] = self.settings.public_url.rstrip("/")
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        limiter = RateLimiter(self.settings.rate_limit)
        automation = automation_pb2_grpc.AutomationStub(self.channel)
        browserbase = Browserbase(self.control, automation, self.cdp, limiter,
                                  EgressPolicy.load(self.settings.egress_allow))
        browserbeam = Browserbeam(self.control, automation, limiter)
        mount(app, "/browserbase/v1", browserbase)
        mount(app, "/browserbeam/v1", browserbeam)
        # The Airtop SDK's base URL is the gateway plus /api; it calls v1/... below it.
        mount(app, "/api/v1", Airtop(self.control, automation, self.cdp, limiter,
                                     self.settings.cluster_secret))
        mount_shared(app, "/v1", [browserbase, browserbeam])
        # /api/sessions: beside Airtop's /api/v1, no path of one is a path of the other.
        ApiSessions(self.control, automation, limiter).routes(app)
        # The Notte SDK's server_url is the gateway itself: /sessions/..., /scrape, /health.
        Notte(self.control, automation, self.cdp, limiter).routes(app)
        LiveView(self.control, self.settings.cluster_secret, self.relay_tls).routes(app)
        ArtifactRoute(self.control).routes(app)  # signed URLs: no key
        # `/`: the console for a browser, what the gateway serves for an API client.
        Console(self.control, limiter, self.settings.cluster_secret).routes(app)
        self.cdp.routes(app)
        app.router.add_route("*", "/{tail:.*}", self.not_found)  # last: only what nothing else serves
        return app

    async def not_found(self, request: web.Request) -> web.Response:
        return web.json_response(neutral_error(404, "not_found", f"no route {request.method} "
                                               f"{request.path}"), status=404)

    async def healthz(self, request: web.Request) -> web.Response:
        """Ready when the control plane answers and at least one node is up."""
        assert self.control is not None
        try:
            nodes = await self.control.ListNodes(
                controlplane_pb2.ListNodesRequest(),
                metadata=cluster_metadata(self.settings.cluster_secret), timeout=2)
        except grpc.aio.AioRpcError as err:
            return web.json_response({"status": "unavailable", "controlPlane": err.code().name},
                                     status=503)
        up = [n for n in nodes.nodes if n.up]
        body = {"status": "ok" if up else "no_nodes", "controlPlane": "ok", "nodesUp": len(up),
                "freeSlots": sum(n.free_slots for n in up)}
        return web.json_response(body, status=200 if up else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization", ""), self.settings.metrics_token):
            return web.Response(status=401, body=UNAUTHORIZED, content_type="text/plain",
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        # The gateway's own registry: what it measures itself, never a node's figures.
        return web.Response(body=generate_latest(metrics.REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        self.channel = grpc_server.channel(self.settings.control_plane, self.tls)
        self.control = controlplane_pb2_grpc.ControlPlaneStub(self.channel)
        self.cdp = CdpEndpoint(self.control, self.settings.cluster_secret, self.settings.one_hop_cdp,
                               self.settings.cdp_host_suffix, self.settings.public_url.rstrip("/"),
                               self.relay_tls)
        # keepalive_timeout closes a kept-alive connection that sends no whole head in time.
        self.runner = web.AppRunner(self.app(), access_log=None,
                                    keepalive_timeout=self.settings.head_timeout)
        await self.runner.setup()
        http = self.runner.server
        assert http is not None
        loop = asyncio.get_running_loop()
        http_factory = json_protocol_errors(http)
        self.server = await loop.create_server(
            lambda: front_door(http_factory, self.cdp, self.settings.head_timeout),
            self.settings.host, self.settings.port, backlog=512, ssl=self.https)
        self.port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.https else "http"
        log.info("gateway started", extra={"fields": {
            "http": f"{self.settings.host}:{self.port}",
            "advertised": self.settings.public_url or f"{scheme}://" + host_port(
                advertised(self.settings.host, self.settings.advertise_host), self.port),
            "grpc_tls": self.tls.enabled,
            "control_plane": self.settings.control_plane}})

    @property
    def relay_tls(self) -> ssl.SSLContext | None:
        """Client side of the nodes' TLS relays (the gateway's own cert shown), when TLS is on."""
        if not self.tls.enabled:
            return None
        if self._relay_tls is None:
            self._relay_tls = self.tls.client_context()
        return self._relay_tls

    async def close(self) -> None:
        if self.server:
            self.server.close()
        if self.runner:
            await self.runner.cleanup()
        if self.channel:
            await self.channel.close()
