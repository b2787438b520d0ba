"""The metrics side of `browserplane up`: each component's `/metrics` and one endpoint for all.

The control plane and the node serve `/metrics` on ports of their own, the gateway on its HTTP
port; `up` serves the union on `--metrics-port`, every series labelled with its component.
All of them take the same bearer token. On loopback none is needed unless `--metrics-token`
gives one; bound to any other address, `up` never serves metrics without one: with no
`--metrics-token` it makes one (kept in the data dir, like the cluster secret) and says where.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import pathlib
import socket
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from browserplane.credentials import load_or_create_secret
from browserplane.metrics_aggregate import ComponentsCollector
from browserplane.metrics_http import start_metrics_server

TOKEN_FILE = "metrics-token"
# The variables the components read their --metrics-token from (argv is readable by anyone).
TOKEN_ENV = ("BROWSERPLANE_CONTROLPLANE_METRICS_TOKEN", "BROWSERPLANE_NODE_METRICS_TOKEN",
             "BROWSERPLANE_GATEWAY_METRICS_TOKEN")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reach(host: str) -> str:
    """The address `up` itself uses to reach a component bound to `host`."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class UpMetrics:
    """Ports, token and flags for the components' metrics, and the aggregated endpoint."""

    def __init__(self, args: argparse.Namespace, data_dir: pathlib.Path) -> None:
        self.host = args.host
        self.token = args.metrics_token
        self.token_file: pathlib.Path | None = None
        if not self.token and not is_loopback(self.host):
            self.token_file = data_dir / TOKEN_FILE
            self.token = load_or_create_secret(self.token_file)
        self.port = args.metrics_port
        self.controlplane_port = args.controlplane_metrics_port or _free_port(self.host)
        self.node_port = args.node_metrics_port or _free_port(self.host)
        self.gateway_port = args.port
        self.server: WSGIServer | None = None

    def env(self) -> dict[str, str]:
        """Set in every component's environment: one token (or none) for all of them."""
        return dict.fromkeys(TOKEN_ENV, self.token)

    def controlplane_args(self) -> list[str]:
        return ["--metrics-port", str(self.controlplane_port)]

    def node_args(self) -> list[str]:
        return ["--metrics-port", str(self.node_port)]

    def endpoints(self) -> dict[str, str]:
        at = _reach(self.host)
        return {"controlplane": f"http://{at}:{self.controlplane_port}/metrics",
                "node": f"http://{at}:{self.node_port}/metrics",
                "gateway": f"http://{at}:{self.gateway_port}/metrics"}

    def start(self) -> None:
        """Binds the aggregated endpoint (before the components start, so a taken port fails
        `up` at once)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ComponentsCollector(self.endpoints(), self.token))
        try:
            self.server = start_metrics_server(self.host, self.port, self.token, registry)
        except OSError as err:
            raise SystemExit(f"up: --metrics-port {self.port} on {self.host}: {err}") from None
        self.port = self.server.server_port

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(OSError):
                self.server.shutdown()
                self.server.server_close()
            self.server = None

    def lines(self, shown_host: str) -> list[str]:
        """For the "Browserplane is up." block."""
        def url(port: int) -> str:
            return f"http://{shown_host}:{port}/metrics"

        lines = [f"  metrics (every component, label component=...): {url(self.port)}",
                 f"    control plane {url(self.controlplane_port)}, node {url(self.node_port)}, "
                 f"gateway {url(self.gateway_port)}"]
        if self.token_file is not None:
            lines.append(f"  metrics token (Authorization: Bearer ...): in {self.token_file}")
        elif self.token:
            lines.append("  metrics token: the one given (Authorization: Bearer ...)")
        return lines
