"""Prometheus `/metrics` over HTTP, optionally behind a bearer token (`--metrics-token`).

The control plane and the node serve it on their own port from a thread (prometheus_client's
WSGI app, so a scrape never waits on, or holds up, the event loop); the gateway serves it on
its HTTP port and checks the same header with `authorized`.

Each component keeps its metrics in a registry of its own (`component_registry`), never in
prometheus_client's process-wide default one: the CLI imports every component's settings, and
with them every component's metrics module, so the default registry of a gateway process would
also hold the node's and the control plane's metrics, all zero, figures it does not have.
"""

from __future__ import annotations

import functools
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.registry import Collector

from browserplane.credentials import is_cluster_secret

UNAUTHORIZED = b"/metrics needs 'Authorization: Bearer <metrics token>'\n"


def authorized(header: str, token: str) -> bool:
    """True when no token is configured, or the Authorization header carries it."""
    if not token:
        return True
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and is_cluster_secret(presented.strip(), token)


def component_registry() -> CollectorRegistry:
    """A registry for one component's metrics, with the process's own figures (process_*,
    python_*) that the default registry would have had."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


def metric_kinds(registry: CollectorRegistry) -> tuple[Callable[..., Counter], Callable[..., Gauge],
                                                         Callable[..., Histogram]]:
    """Counter, Gauge and Histogram that register in `registry`: a metrics module binds these
    names once, so every metric it declares lands in its component's registry."""
    return (functools.partial(Counter, registry=registry), functools.partial(Gauge, registry=registry),
            functools.partial(Histogram, registry=registry))


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


def start_metrics_server(host: str, port: int, token: str,
                         registry: CollectorRegistry | Collector) -> WSGIServer:
    """Serves `registry` as /metrics on host:port in a daemon thread; `shutdown()` the answer
    to stop."""
    app = make_wsgi_app(registry)  # type: ignore[arg-type]

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not authorized(environ.get("HTTP_AUTHORIZATION", ""), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [UNAUTHORIZED]
        return app(environ, start_response)

    server = make_server(host, port, guarded, _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
