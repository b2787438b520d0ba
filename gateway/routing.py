"""Where each dialect is mounted, and how dialects that share a path prefix share it.

Every dialect has a prefix of its own (`/browserbase/v1`, `/browserbeam/v1`, ...). Vendors'
SDKs also call `/v1/...` on whatever base URL they are given, and several vendors use the same
paths there (`POST /v1/sessions`). There the auth header decides: each dialect says which
requests it claims (Browserbase: `X-BB-API-Key`; Browserbeam: `Authorization: Bearer`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dialect(Protocol):
    def table(self) -> list[tuple[str, str, str, Handler]]: ...
    def unknown_handler(self) -> Handler: ...
    @staticmethod
    def claims(request: web.Request) -> bool: ...


def mount(app: web.Application, prefix: str, dialect: Dialect) -> None:
    for method, path, _, handler in dialect.table():
        app.router.add_route(method, prefix + path, handler)
    app.router.add_route("*", prefix + "/{tail:.*}", dialect.unknown_handler())


def mount_shared(app: web.Application, prefix: str, dialects: Sequence[Dialect]) -> None:
    """One route per (method, path) any dialect serves; the request's auth header picks the
    dialect. A request no dialect claims goes to the only dialect with that route, or gets a
    401 that every dialect's SDK can read."""
    routes: dict[tuple[str, str], dict[int, Handler]] = {}
    for i, dialect in enumerate(dialects):
        for method, path, _, handler in dialect.table():
            routes.setdefault((method, path), {})[i] = handler
    unknown = [d.unknown_handler() for d in dialects]

    def dispatcher(handlers: dict[int, Handler]) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            for i, dialect in enumerate(dialects):
                if dialect.claims(request):
                    return await handlers.get(i, unknown[i])(request)
            if len(handlers) == 1:
                return await next(iter(handlers.values()))(request)
            return _unauthenticated()
        return run

    for (method, path), handlers in routes.items():
        app.router.add_route(method, prefix + path, dispatcher(handlers))

    async def rest(request: web.Request) -> web.StreamResponse:
        for i, dialect in enumerate(dialects):
            if dialect.claims(request):
                return await unknown[i](request)
        return _unauthenticated()

    app.router.add_route("*", prefix + "/{tail:.*}", rest)


def _unauthenticated() -> web.Response:
    message = ("missing API key: send X-BB-API-Key (Browserbase) or Authorization: Bearer "
               "(Browserbeam)")
    body: dict[str, Any] = {"error": {"code": "unauthorized", "message": message},
                            "statusCode": 401, "message": message}
    return web.json_response(body, status=401)
