"""What every dialect needs the same way: keys, request ids, JSON bodies, errors, public URLs.

A dialect module declares its routes and its error body; this module turns gRPC errors into
HTTP statuses once, so all dialects agree on what a status means.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web

from browserplane import errors
from browserplane.logs import request_id_var
from gateway import metrics

GRPC_TO_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# Reasons whose HTTP status differs from their gRPC code's usual one.
REASON_TO_HTTP = {errors.NO_MATCHING_NODE: 503, errors.SESSION_ENDED: 409,
                  errors.PAYLOAD_TOO_LARGE: 413}


@dataclasses.dataclass
class ApiError(Exception):
    """An error answered in the dialect's own error shape."""

    status: int
    code: str      # machine-readable, lower_snake (dialects may render it differently)
    message: str
    retry_after: float | None = None
    field: str | None = None
    headers: dict[str, str] | None = None

    @classmethod
    def from_grpc(cls, err: grpc.RpcError) -> ApiError:
        described = errors.describe(err)
        status = REASON_TO_HTTP.get(described.reason, GRPC_TO_HTTP.get(err.code(), 502))
        return cls(status, described.reason.lower(), described.message, described.retry_after,
                   described.metadata.get("field"))


class RateLimiter:
    """Requests per key per minute, counted by this gateway (with N gateways behind a balancer
    a key gets about N times the limit). Answers the X-RateLimit-* values for every request."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, tuple[int, int]] = {}  # key hash -> (minute, count)

    def hit(self, key: str) -> dict[str, str]:
        now = time.time()
        minute = int(now // 60)
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        window, count = self._windows.get(digest, (minute, 0))
        if window != minute:
            window, count = minute, 0
            if len(self._windows) > 100_000:  # forget idle keys
                self._windows = {k: v for k, v in self._windows.items() if v[0] == minute}
        count += 1
        self._windows[digest] = (window, count)
        reset = (minute + 1) * 60
        headers = {"X-RateLimit-Limit": str(self.per_minute),
                   "X-RateLimit-Remaining": str(max(0, self.per_minute - count)),
                   "X-RateLimit-Reset": str(reset)}
        if count > self.per_minute:
            err = ApiError(429, "rate_limited",
                           f"more than {self.per_minute} requests a minute with this key",
                           retry_after=max(1, reset - now))
            err.headers = headers
            raise err
        return headers


def bad_request(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request", f"{field}: {message}", field=field)


JSON_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
                   float: "a number", bool: "a boolean"}


def typed(source: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any,
          field: str | None = None) -> Any:
    """source[key] when it has the wanted JSON type (None reads as missing); else 400."""
    value = source.get(key)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise bad_request(field or key, "must be " + " or ".join(JSON_TYPE_NAMES[k] for k in kinds))
    return value


async def json_body(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The request's JSON object; an empty body (with any content type) reads as {}."""
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "invalid_request", "a JSON body is required")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "body must be a JSON object")
    return body


def public_base(request: web.Request, websocket: bool = False) -> str:
    """Scheme and host as the client sees this gateway (honours X-Forwarded-Proto/Host/Prefix)."""
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip().lower()
    secure = proto in ("https", "wss")
    scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    prefix = request.headers.get("X-Forwarded-Prefix", "").rstrip("/")
    return f"{scheme}://{host}{prefix}"


def forwarded(request: web.Request) -> dict[str, str]:
    """X-Forwarded-* describing how the client reached us, for URLs built further in."""
    return {"X-Forwarded-Proto": request.headers.get("X-Forwarded-Proto", request.scheme),
            "X-Forwarded-Host": request.headers.get("X-Forwarded-Host", request.host),
            "X-Forwarded-Prefix": request.headers.get("X-Forwarded-Prefix", "")}


def grpc_metadata(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


ErrorBody = Callable[[ApiError, str], dict[str, Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint(dialect: str, route: str, error_body: ErrorBody,
             headers: Callable[[ApiError], dict[str, str]] | None = None,
             ) -> Callable[[Handler], Handler]:
    """Wraps a dialect handler: request id, metrics, and every failure in the dialect's shape.

    No exception a client can cause reaches aiohttp as a 500.
    """
    def wrap(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            request_id = request.headers.get("X-Request-Id") or f"req_{uuid.uuid4().hex[:20]}"
            token = request_id_var.set(request_id)
            started = time.perf_counter()
            try:
                try:
                    response = await handler(request)
                except grpc.RpcError as err:
                    raise ApiError.from_grpc(err) from None
            except ApiError as err:
                extra = {"X-Request-Id": request_id}
                if err.retry_after is not None:
                    extra["Retry-After"] = str(max(1, int(round(err.retry_after))))
                if headers is not None:
                    extra.update(headers(err))
                extra.update(err.headers or {})
                response = web.json_response(error_body(err, request_id), status=err.status,
                                             headers=extra)
            finally:
                request_id_var.reset(token)
            response.headers.setdefault("X-Request-Id", request_id)
            for name, value in request.get("ratelimit", {}).items():
                response.headers.setdefault(name, value)
            metrics.REQUESTS.labels(dialect, route, str(response.status)).inc()
            metrics.LATENCY.labels(dialect, route).observe(time.perf_counter() - started)
            return response

        return run

    return wrap
