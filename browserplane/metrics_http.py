"""Prometheus `/metrics` over HTTP, optionally behind a bearer token (`--metrics-token`).

The control plane and the node serve it on their own port from a thread (prometheus_client's
WSGI app, so a scrape never waits on, or holds up, the event loop); the gateway serves it on
its HTTP port and checks the same header with `authorized`.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from browserplane.credentials import is_cluster_secret

UNAUTHORIZED = b"/metrics needs 'Authorization: Bearer <metrics token>'\n"


def authorized(header: str, token: str) -> bool:
    """True when no token is configured, or the Authorization header carries it."""
    if not token:
        return True
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and is_cluster_secret(presented.strip(), token)


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


def start_metrics_server(host: str, port: int, token: str = "") -> WSGIServer:
    """Serves /metrics on host:port in a daemon thread; `shutdown()` the answer to stop."""
    app = make_wsgi_app()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not authorized(environ.get("HTTP_AUTHORIZATION", ""), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [UNAUTHORIZED]
        return app(environ, start_response)

    server = make_server(host, port, guarded, _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
