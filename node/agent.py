"""The node agent process: serves NodeAgent, runs the CDP relay, registers and heartbeats.

The control plane knows a node only through this contract and its labels; the node decides
nothing about placement.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import pathlib
import socket
import time
import urllib.parse
import uuid
from typing import ClassVar

import grpc

from browserplane import errors, grpc_server, tls
from browserplane.addresses import advertised
from browserplane.credentials import bearer, cluster_metadata, is_cluster_secret
from browserplane.egress import EgressDenied, EgressPolicy
from browserplane.metrics_http import start_metrics_server
from browserplane.settings import default_data_dir, flag
from browserplane.times import timestamp
from browserplane.v1 import (
    automation_pb2_grpc,
    controlplane_pb2,
    controlplane_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    session_pb2,
)
from node import metrics
from node.automation import AutomationServicer
from node.cdp_relay import CdpRelay
from node.chromium import LaunchConfig, LaunchError, find_chromium
from node.egress_rules import KernelEgress
from node.extensions import ExtensionCache
from node.fleet import CapacityError, Fleet, SessionSlot
from node.lease import LeaseKeeper
from node.model_client import ModelClient
from node.persona_mail import PersonaMail
from node.profiles import ProfileTransfer
from node.recorder import RecordSettings
from node.sandbox import Limits, Sandbox, parse_uid_range
from node.vault_credentials import VaultCredentials

log = logging.getLogger(__name__)


@dataclasses.dataclass
class NodeSettings:
    ENV_PREFIX: ClassVar[str] = "NODE_"

    control_plane: str = flag("127.0.0.1:50051", "control plane gRPC address (host:port)")
    host: str = flag("127.0.0.1", "address the node's gRPC server and CDP relay bind to")
    advertise_host: str = flag("", "host the control plane and gateways reach this node at "
                                   "(default: --host; for a wildcard --host, the machine's address)")
    grpc_port: int = flag(0, "NodeAgent/Automation gRPC port (0 = any free port)")
    relay_port: int = flag(0, "CDP relay port (0 = any free port)")
    metrics_port: int = flag(0, "Prometheus /metrics port (0 = off)")
    metrics_token: str = flag("", "bearer token /metrics requires (empty = none)")
    tls_cert: str = flag("", tls.CERT_HELP, env="BROWSERPLANE_TLS_CERT")
    tls_key: str = flag("", tls.KEY_HELP, env="BROWSERPLANE_TLS_KEY")
    tls_ca: str = flag("", tls.CA_HELP, env="BROWSERPLANE_TLS_CA")
    tls_server_name: str = flag("", tls.SERVER_NAME_HELP, env="BROWSERPLANE_TLS_SERVER_NAME")
    health_port: int = flag(0, tls.HEALTH_PORT_HELP)
    data_dir: pathlib.Path = flag(default_data_dir() / "node", "where browsers' directories live")
    node_id: str = flag("", "stable node id (default: kept in the data dir)")
    capacity: int = flag(8, "browsers this node runs at once, pooled ones included")
    pool_size: int = flag(2, "pre-launched browsers kept warm")
    labels: list = flag([], "node labels key=value (repeatable); browser, version and (with a "
                                "model) has_model=true are added")
    cluster_secret: str = flag("", "shared secret of the cluster (BROWSERPLANE_CLUSTER_SECRET)",
                               env="BROWSERPLANE_CLUSTER_SECRET")
    chromium: str = flag("", "Chromium binary (default: Debian's chromium)")
    egress_allow: list = flag([], "destinations pages may reach although the egress policy refuses "
                                  "them: HOST-or-CIDR[:PORT|:PORT-PORT], comma-separated or repeated",
                              env="BROWSERPLANE_EGRESS_ALLOW")
    isolation: bool = flag(True, "box every browser (own uid, bubblewrap, cgroups, kernel egress "
                                 "rules); off only to measure what the box costs")
    browser_uids: str = flag("61000-61999", "uids (and gids) browsers run as, one per browser, when "
                                            "the agent runs as root")
    browser_memory_mb: int = flag(2048, "memory limit of one browser, all its processes (cgroup)")
    browser_pids: int = flag(1024, "process and thread limit of one browser (cgroup)")
    browser_tmp_mb: int = flag(256, "size of one browser's private /tmp (memory, within its limit)")
    session_disk_mb: int = flag(2048, "disk one session may fill with downloads and uploads; past it "
                                      "the session is ended")
    session_dom_events_mb: int = flag(32, "rrweb events one recorded session keeps (its DOM "
                                          "recording); past it events are dropped and counted")
    record_fps: int = flag(5, "frames per second of a recorded session's video (the last frame "
                                 "repeats while the page does not change)")
    record_max_width: int = flag(1280, "largest width of a recording (frames are scaled down)")
    record_max_height: int = flag(720, "largest height of a recording")
    record_max_seconds: float = flag(3600.0, "a recording stops growing after this many seconds")
    record_max_mb: int = flag(200, "a recording stops growing past this size")
    head_timeout: float = flag(10.0, "seconds the CDP relay waits for a request head")
    stall_seconds: float = flag(30.0, "an event loop stuck this long stops renewing the lease "
                                      "(heartbeats run on their own thread)")
    # The model behind Ask, Summarize, Monitor, PaginatedExtract, RunAgent and close Locate ties.
    model_base_url: str = flag("", "OpenAI-compatible endpoint of the model, e.g. "
                                   "https://api.openai.com/v1 (empty = no model)",
                               env="BROWSERPLANE_MODEL_BASE_URL")
    model: str = flag("", "model name sent to that endpoint", env="BROWSERPLANE_MODEL")
    model_api_key: str = flag("", "API key for the model endpoint", env="BROWSERPLANE_MODEL_API_KEY")
    model_timeout: float = flag(60.0, "seconds one model request may take",
                                env="BROWSERPLANE_MODEL_TIMEOUT")
    model_max_tokens: int = flag(1024, "tokens one model answer may take",
                                 env="BROWSERPLANE_MODEL_MAX_TOKENS")
    model_max_input_chars: int = flag(16000, "characters of page content sent with one model request "
                                             "(the rest is cut)", env="BROWSERPLANE_MODEL_MAX_INPUT_CHARS")
    model_time_limit: float = flag(300.0, "seconds a model-backed call may take when its budget sets "
                                          "no time limit", env="BROWSERPLANE_MODEL_TIME_LIMIT")
    log_level: str = flag("info", "log level")


def _browser_info(slot: SessionSlot, version: str) -> node_pb2.BrowserInfo:
    return node_pb2.BrowserInfo(
        session_id=slot.session_id, pid=slot.browser.pid, version=version, warm=slot.warm,
        launch_ms=slot.browser.launch_ms, start_ms=slot.start_ms,
        connected_clients=slot.clients,
        user_agent=slot.browser.config.user_agent or slot.browser.config.stealth_user_agent,
    )


class NodeAgentServicer(node_pb2_grpc.NodeAgentServicer):
    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    def _check(self, context: grpc.aio.ServicerContext) -> None:
        if not is_cluster_secret(bearer(context.invocation_metadata()),
                                 self.agent.settings.cluster_secret):
            raise errors.BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                           "node calls need the cluster secret")

    async def StartBrowser(self, request: node_pb2.StartBrowserRequest,
                           context: grpc.aio.ServicerContext) -> node_pb2.StartBrowserResponse:
        self._check(context)
        started = time.monotonic()
        await self._check_proxies(request.options)
        try:
            slot = await self.agent.fleet.start_browser(
                request.session_id, request.project_id, request.options,
                list(request.profile_cookies) if request.set_profile_cookies else None)
        except CapacityError as err:
            raise errors.BrowserplaneError(grpc.StatusCode.RESOURCE_EXHAUSTED, errors.QUEUE_FULL,
                                           str(err)) from None
        except grpc.aio.AioRpcError as err:  # fetching the session's profile or extensions
            raise errors.BrowserplaneError(
                grpc.StatusCode.UNAVAILABLE, errors.BROWSER_LAUNCH_FAILED,
                f"could not fetch what the session loads: {err.details()}") from None
        except LaunchError as err:
            metrics.LAUNCH_FAILURES.inc()
            raise errors.BrowserplaneError(grpc.StatusCode.UNAVAILABLE,
                                           errors.BROWSER_LAUNCH_FAILED, str(err)) from None
        metrics.START_SECONDS.labels("warm" if slot.warm else "cold").observe(
            time.monotonic() - started)
        return node_pb2.StartBrowserResponse(browser=_browser_info(slot, self.agent.version))

    async def _check_proxies(self, options: session_pb2.SessionOptions) -> None:
        """A session's own proxy must be one its browser may reach: the kernel rules would refuse
        the connection anyway, and every page would fail with ERR_PROXY_CONNECTION_FAILED."""
        for rule in options.proxies:
            if not rule.server:
                continue
            server = rule.server if "://" in rule.server else "http://" + rule.server
            try:
                parts = urllib.parse.urlsplit(server)
                host, port = parts.hostname or "", parts.port or 80
            except ValueError:
                continue  # validated by the control plane; Chromium reports the rest
            try:
                await self.agent.egress.resolve(host, port)
            except EgressDenied as err:
                raise errors.BrowserplaneError(
                    grpc.StatusCode.PERMISSION_DENIED, errors.PERMISSION_DENIED,
                    f"proxy {host}:{port}: {err}", metadata={"field": "proxies"}) from None
            except OSError:
                continue  # a name that does not resolve here: the browser says so

    async def StopBrowser(self, request: node_pb2.StopBrowserRequest,
                          context: grpc.aio.ServicerContext) -> node_pb2.StopBrowserResponse:
        self._check(context)
        try:
            saved = await self.agent.fleet.stop_browser(request.session_id, request.save_profile,
                                                          profile_id=request.profile_id)
        except grpc.aio.AioRpcError as err:
            raise errors.BrowserplaneError(
                grpc.StatusCode.UNAVAILABLE, errors.NODE_UNAVAILABLE,
                f"browser stopped, but its profile could not be saved: {err.details()}") from None
        return node_pb2.StopBrowserResponse(was_running=saved >= 0, profile_bytes=max(0, saved))

    async def ListBrowsers(self, request: node_pb2.ListBrowsersRequest,
                           context: grpc.aio.ServicerContext) -> node_pb2.ListBrowsersResponse:
        self._check(context)
        return node_pb2.ListBrowsersResponse(browsers=[
            _browser_info(slot, self.agent.version) for slot in self.agent.fleet.sessions.values()])

    async def Drain(self, request: node_pb2.DrainRequest,
                    context: grpc.aio.ServicerContext) -> node_pb2.DrainResponse:
        self._check(context)
        self.agent.fleet.draining = True
        self.agent.fleet.changed.set()
        return node_pb2.DrainResponse(live_sessions=len(self.agent.fleet.sessions))


class NodeAgent:
    def __init__(self, settings: NodeSettings) -> None:
        if not settings.cluster_secret:
            raise SystemExit("node: --cluster-secret (BROWSERPLANE_CLUSTER_SECRET) is required")
        self.settings = settings
        self.tls = tls.TlsFiles.of(settings, "node")
        self._advertise = advertised(settings.host, settings.advertise_host)
        self.binary = settings.chromium or find_chromium()
        self.version = chromium_version(self.binary)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.node_id = settings.node_id or _stable_node_id(settings.data_dir)
        settings.data_dir.chmod(0o700)
        self.egress = EgressPolicy.load(settings.egress_allow)
        uids = parse_uid_range(settings.browser_uids)
        node_key = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:12]
        self.sandbox = Sandbox(node_key, settings.data_dir, uids, Limits(
            memory_bytes=settings.browser_memory_mb << 20, pids=settings.browser_pids,
            tmp_bytes=settings.browser_tmp_mb << 20), enabled=settings.isolation,
            browsers=settings.capacity)
        self.kernel_egress = KernelEgress(node_key, uids, self.egress) if self.sandbox.privileged else None
        self.fleet = Fleet(settings.data_dir / "browsers", self.binary, settings.capacity,
                           settings.pool_size, LaunchConfig(), sandbox=self.sandbox,
                           disk_quota=settings.session_disk_mb << 20,
                           dom_events_limit=settings.session_dom_events_mb << 20,
                           record=RecordSettings(
                               fps=max(1, min(30, settings.record_fps)),
                               max_width=max(16, settings.record_max_width),
                               max_height=max(16, settings.record_max_height),
                               max_seconds=settings.record_max_seconds,
                               max_bytes=max(1, settings.record_max_mb) << 20))
        # CDP clients cannot show a certificate (the session token is their credential), so
        # the relay asks for one but does not require it.
        self.relay = CdpRelay(self.fleet, settings.cluster_secret, settings.head_timeout,
                              self.tls.server_context(require_client_cert=False)
                              if self.tls.enabled else None)
        self.model = model_client(settings)
        self.automation = AutomationServicer(self.fleet, settings.cluster_secret, self.egress,
                                             model=self.model)
        self.grpc_port = 0
        self.relay_port = 0
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None
        self.lease: LeaseKeeper | None = None
        self._stopping: set[asyncio.Task] = set()
        self.registered = asyncio.Event()

    @property
    def advertise(self) -> str:
        return self._advertise

    async def start(self) -> None:
        if self.kernel_egress is not None:
            # Before the first browser starts: no browser runs outside the egress rules.
            await asyncio.to_thread(self.kernel_egress.install)
            assert self.sandbox.uids is not None
            block = (self.sandbox.uids.low, self.sandbox.uids.high)
            await asyncio.to_thread(self.kernel_egress.attach, block)
        else:
            log.warning("browsers are not boxed (the agent is not root, or --no-isolation): they run as "
                        "the agent's user, and the egress "
                        "policy is not enforced in the kernel (see docs/security.md)")
        await self.fleet.start()
        self.relay_port = await self.relay.start(self.settings.host, self.settings.relay_port)
        self._server, self.grpc_port = await grpc_server.start_server(
            f"{self.settings.host}:{self.settings.grpc_port}",
            [(node_pb2_grpc.add_NodeAgentServicer_to_server, NodeAgentServicer(self),
              "browserplane.v1.NodeAgent"),
             (automation_pb2_grpc.add_AutomationServicer_to_server, self.automation,
              "browserplane.v1.Automation")],
            tls=self.tls, health_address=f"{self.settings.host}:{self.settings.health_port}"
            if self.settings.health_port else "",
        )
        if self.settings.metrics_port:
            start_metrics_server(self.settings.host, self.settings.metrics_port,
                                 self.settings.metrics_token, metrics.REGISTRY)
        self._channel = grpc_server.channel(self.settings.control_plane, self.tls)
        stub = controlplane_pb2_grpc.ControlPlaneStub(self._channel)
        md = cluster_metadata(self.settings.cluster_secret)
        self.fleet.profiles = ProfileTransfer(stub, md)
        self.fleet.extensions = ExtensionCache(self.settings.data_dir / "extensions", stub, md)
        self.automation.vaults = VaultCredentials(stub, md)
        self.automation.personas = PersonaMail(stub, md)
        self.lease = LeaseKeeper(self.settings.control_plane, md, self._node_message, self._beat,
                                 self._reports, self._stop_unknown, self.registered.set,
                                 self.settings.stall_seconds, tls=self.tls)
        self.lease.start(self.fleet.changed)
        log.info("node started", extra={"fields": {
            "node_id": self.node_id, "grpc": f"{self.advertise}:{self.grpc_port}",
            "relay": f"{self.advertise}:{self.relay_port}", "capacity": self.settings.capacity,
            "pool": self.settings.pool_size, "chromium": self.version,
            "model": f"{self.settings.model} at {self.settings.model_base_url}" if self.model else "none"}})

    def _node_message(self) -> controlplane_pb2.Node:
        labels = {"browser": "chromium", "version": self.version.split("/")[-1]}
        if self.model is not None:  # sessions that will run an agent are placed by it
            labels["has_model"] = "true"
        for item in self.settings.labels:
            key, _, value = item.partition("=")
            labels[key.strip()] = value.strip()
        return controlplane_pb2.Node(
            id=self.node_id, grpc_address=f"{self.advertise}:{self.grpc_port}",
            relay_address=f"{self.advertise}:{self.relay_port}", labels=labels,
            capacity=self.fleet.capacity, free_slots=self.fleet.free_slots(),
            warm_browsers=len(self.fleet.pool), live_sessions=len(self.fleet.sessions),
            draining=self.fleet.draining,
        )

    def _reports(self) -> list[controlplane_pb2.NodeSessionReport]:
        reports = []
        for slot in list(self.fleet.sessions.values()):  # a copy: the lease thread reads it
            alive = not slot.browser.exited.is_set()
            reports.append(controlplane_pb2.NodeSessionReport(
                session_id=slot.session_id, connected_clients=slot.clients,
                total_connections=slot.total_connections, last_activity_at=timestamp(slot.last_activity),
                alive=alive,
                exit_reason="" if alive else (slot.browser.exit_reason()
                                              or "Chromium exited: " + slot.browser.log_tail(200)),
            ))
        return reports

    def _beat(self) -> controlplane_pb2.HeartbeatRequest:
        return controlplane_pb2.HeartbeatRequest(
            node_id=self.node_id, free_slots=self.fleet.free_slots(),
            warm_browsers=len(self.fleet.pool), sessions=self._reports(),
            draining=self.fleet.draining)

    def _stop_unknown(self, session_ids: list[str]) -> None:
        """Stops browsers the control plane does not know, in the background: the heartbeat
        must not wait for a kill and sweep."""
        for sid in session_ids:
            if sid in self.fleet.sessions:
                task = asyncio.get_running_loop().create_task(self._stop_one(sid))
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)

    async def _stop_one(self, session_id: str) -> None:
        try:
            if await self.fleet.stop_browser(session_id, archive_downloads=False) >= 0:
                log.info("stopped a browser the control plane does not know",
                         extra={"session_id": session_id})
        except Exception:  # noqa: BLE001 - reported, and the next heartbeat asks again
            log.exception("could not stop a browser", extra={"session_id": session_id})

    async def close(self) -> None:
        """Stops serving, then ends every browser; the browsers go even when a step before
        fails, and this returns only once they are gone."""
        try:
            if self.lease is not None:
                await self.lease.stop()
            await self.relay.close()
            if self._server:
                await self._server.stop(grace=1)
        finally:
            try:
                await self.fleet.close()
                if self.kernel_egress is not None:
                    await asyncio.to_thread(self.kernel_egress.remove)
            finally:
                await self.automation.playwright.close()
                if self.model is not None:
                    await self.model.close()
                if self._channel:
                    await self._channel.close()


def model_client(settings: NodeSettings) -> ModelClient | None:
    """The node's model, when one is configured (None: model-backed calls say how to set one)."""
    if not settings.model_base_url:
        return None
    scheme = urllib.parse.urlsplit(settings.model_base_url).scheme
    if scheme not in ("http", "https"):
        raise SystemExit("node: --model-base-url must be an http(s) URL, e.g. http://127.0.0.1:8000/v1")
    if not settings.model:
        raise SystemExit("node: --model-base-url needs --model (BROWSERPLANE_MODEL), the model's name")
    if settings.model_timeout <= 0 or settings.model_max_tokens < 16 or settings.model_max_input_chars < 500:
        raise SystemExit("node: --model-timeout must be > 0, --model-max-tokens >= 16 and "
                         "--model-max-input-chars >= 500")
    return ModelClient(settings.model_base_url, settings.model, settings.model_api_key,
                       settings.model_timeout, settings.model_max_input_chars,
                       settings.model_max_tokens, settings.model_time_limit)


def _stable_node_id(data_dir: pathlib.Path) -> str:
    path = data_dir / "node-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = f"node-{socket.gethostname()[:20]}-{uuid.uuid4().hex[:6]}"
        path.write_text(value)
        return value


def chromium_version(binary: str) -> str:
    import subprocess

    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
        parts = out.stdout.split()
        version = next((p for p in parts if p[:1].isdigit()), "unknown")
    except (OSError, subprocess.TimeoutExpired):
        version = "unknown"
    return f"Chromium/{version}"
