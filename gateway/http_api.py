"""What every dialect needs the same way: keys, request ids, JSON bodies, errors, public URLs.

A dialect module declares its routes and its error body; this module turns gRPC errors into
HTTP statuses once, so all dialects agree on what a status means.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from browserplane import errors
from browserplane.logs import request_id_var
from gateway import metrics

log = logging.getLogger(__name__)

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
# A caller's own credit or time threshold stopping a model call is no rate limit (429) and no
# server timeout (504): the request was fine, the caller's limit was too small.
REASON_TO_HTTP = {errors.NO_MATCHING_NODE: 503, errors.SESSION_ENDED: 409,
                  errors.PAYLOAD_TOO_LARGE: 413, errors.BUDGET_EXCEEDED: 422,
                  errors.ARTIFACT_URL_EXPIRED: 410}


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
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:24]
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


MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_NUMBER_DIGITS = 300  # a longer integer does not fit a double, which is what JSON numbers are


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"the number {text[:20]}… ({len(text)} digits) is out of range")
    return int(text)


def _check_tree(value: Any) -> None:
    """Depth and text checks of a parsed body, without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ApiError(400, "invalid_json",
                               f"body is nested deeper than {MAX_JSON_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
            stack.extend((child, depth + 1) for child in children)


def _unicode(text: str) -> bool:
    """False for text with lone surrogates, which protobuf refuses to serialize: JSON's "\ud800"
    escapes, and the bytes aiohttp could not decode in headers and multipart names."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str) -> None:
    if not _unicode(text):
        raise ApiError(400, "invalid_json",
                       "body is not valid JSON: a string holds a lone UTF-16 surrogate")


def check_text(field: str, text: str) -> str:
    """Text that can travel on in a gRPC message, else 400 naming the field."""
    if not _unicode(text):
        raise bad_request(field, "is not valid UTF-8")
    return text


def parse_json(raw: bytes) -> Any:
    """RFC 8259 JSON only: no NaN/Infinity, numbers a double can hold, at most MAX_JSON_DEPTH
    levels, text that is valid Unicode. Anything else is 400 invalid_json."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float,
                           parse_int=_bounded_int)
    except RecursionError:
        raise ApiError(400, "invalid_json",
                       f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError and the checks above
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {err}") from None
    _check_tree(value)
    return value


async def read_body(request: web.Request, limit: int = MAX_JSON_BYTES) -> bytes:
    """The whole body, or 413 as soon as it is known to be larger than `limit`."""
    too_large = ApiError(413, "payload_too_large", f"the body is larger than {limit >> 20} MiB")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    parts, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


UINT32_MAX = 2**32 - 1


def whole_number(source: dict[str, Any], key: str, default: int, field: str | None = None,
                 low: int = 0, high: int = UINT32_MAX) -> int:
    """source[key] as an integer in low..high: by default what a uint32 field holds, so that a
    value the field cannot hold (-5, 2**40) is a 400 here rather than an error in protobuf."""
    value = typed(source, key, int, default, field)
    if value != default and not low <= value <= high:
        raise bad_request(field or key, f"must be {low}..{high}, got {value}")
    return value


def url_scheme(url: str) -> str:
    """The URL's scheme, "" for what urllib cannot split (an unclosed IPv6 bracket)."""
    try:
        return urllib.parse.urlsplit(url).scheme
    except ValueError:
        return ""


def check_http_url(field: str, url: str) -> None:
    """An absolute http(s) URL that an HTTP client can connect to: its port a port, its host a
    name DNS can carry (labels of at most 63 characters) or an IP literal; else 400."""
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises for "h:99999" or "h:x"
        host = parts.hostname or ""
        if host and ":" not in host:
            host.encode("idna")
    except (ValueError, UnicodeError) as err:
        raise bad_request(field, f"is not a URL an HTTP client can open: {err}") from None
    if parts.scheme not in ("http", "https") or not host or len(host) > 253 \
            or any(ord(c) < 0x21 for c in url):
        raise bad_request(field, "must be an absolute http(s) URL")


def header_text(request: web.Request, name: str, limit: int) -> str:
    """A header that travels on in gRPC metadata or a message: printable ASCII, bounded."""
    value = request.headers.get(name, "").strip()
    if len(value) > limit or not value.isascii() or not value.isprintable():
        raise bad_request(name, f"must be at most {limit} printable ASCII characters")
    return value


async def json_body(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The request's JSON object; an empty body (with any content type) reads as {}."""
    raw = await read_body(request)
    if not raw.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "invalid_request", "a JSON body is required")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "body must be a JSON object")
    return body


PUBLIC_URL = web.AppKey("public_url", str)  # the gateway's --public-url, "" when unset


def public_parts(url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path prefix) of a --public-url such as https://browsers.example.com."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
            or not url.isascii() or any(ord(c) <= 32 for c in url):
        raise ValueError(f"--public-url must be an http(s) URL such as https://browsers.example.com, "
                         f"got {url!r}")
    return parts.scheme, parts.netloc, parts.path.rstrip("/")


def _fixed_public_url(request: web.Request) -> str:
    value = request.app.get(PUBLIC_URL, "")
    return value if isinstance(value, str) else ""


def public_base(request: web.Request, websocket: bool = False) -> str:
    """Scheme and host as the client sees this gateway: --public-url when set, else the request's
    (honours X-Forwarded-Proto/Host/Prefix; https when the gateway serves TLS itself)."""
    fixed = _fixed_public_url(request)
    if fixed:
        proto, host, prefix = public_parts(fixed)
    else:
        proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip().lower()
        host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
        prefix = request.headers.get("X-Forwarded-Prefix", "").rstrip("/")
    secure = proto in ("https", "wss")
    scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
    base = f"{scheme}://{host}{prefix}"
    # It goes into URLs handed out and into gRPC messages: no spaces, no bytes beyond ASCII.
    if len(base) > 2048 or not base.isascii() or not all(33 <= ord(c) < 127 for c in base):
        raise bad_request("X-Forwarded-Host", "Host, X-Forwarded-Host and X-Forwarded-Prefix "
                          "must be printable ASCII without spaces")
    return base


def forwarded(request: web.Request) -> dict[str, str]:
    """X-Forwarded-* describing how the client reached us, for URLs built further in."""
    fixed = _fixed_public_url(request)
    if fixed:
        proto, host, prefix = public_parts(fixed)
        return {"X-Forwarded-Proto": proto, "X-Forwarded-Host": host, "X-Forwarded-Prefix": prefix}
    return {"X-Forwarded-Proto": request.headers.get("X-Forwarded-Proto", request.scheme),
            "X-Forwarded-Host": request.headers.get("X-Forwarded-Host", request.host),
            "X-Forwarded-Prefix": request.headers.get("X-Forwarded-Prefix", "")}


def grpc_metadata(key: str) -> tuple[tuple[str, str], ...]:
    # gRPC metadata is printable ASCII; no key this server issues is anything else.
    if not key.isascii() or not key.isprintable():
        raise ApiError(401, "unauthenticated", "the API key is not one this server issued")
    return (("authorization", f"Bearer {key}"),)


def _request_id(request: web.Request) -> str:
    """The caller's X-Request-Id when it is a sane one (it is echoed in headers and logs)."""
    given = request.headers.get("X-Request-Id", "")
    if given and len(given) <= 128 and given.isascii() and given.isprintable():
        return given
    return f"req_{uuid.uuid4().hex[:20]}"


def neutral_error(status: int, code: str, message: str) -> dict[str, Any]:
    """An error body every dialect's SDK reads, for answers given before a dialect is known."""
    return {"error": {"code": code, "message": message}, "statusCode": status, "message": message}


class JsonErrorsHandler(RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse (a header over 8 KiB,
    a NUL in a header) as JSON rather than plain text; these fail before any route runs."""

    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; refuses once bytes went out
        text = "internal error" if status >= 500 else (message or "bad request")
        code = "internal_error" if status >= 500 else "bad_request"
        response = web.json_response(neutral_error(status, code, text.strip()[:500]), status=status)
        response.force_close()
        return response


def json_protocol_errors(factory: Callable[[], RequestHandler]) -> Callable[[], RequestHandler]:
    """Wraps aiohttp's handler factory so that its connections answer errors as JSON."""
    def make() -> RequestHandler:
        handler = factory()
        # RequestHandler has __slots__, so its method cannot be replaced on the instance; the
        # subclass adds no state, so the instance can take its class.
        handler.__class__ = JsonErrorsHandler
        return handler

    return make


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
            request_id = _request_id(request)
            token = request_id_var.set(request_id)
            started = time.perf_counter()
            try:
                try:
                    response = await handler(request)
                except ApiError:
                    raise
                except grpc.RpcError as err:
                    raise ApiError.from_grpc(err) from None
                except web.HTTPException as err:  # aiohttp's own, e.g. a body over client_max_size
                    if err.status < 400:
                        raise
                    raise ApiError(err.status, err.reason.lower().replace(" ", "_"),
                                   err.text or err.reason) from None
                except ConnectionResetError:  # the client left, or its body stalled and was cut
                    log.info("client went away mid-request", extra={"fields": {"route": route}})
                    raise ApiError(400, "connection_lost", "the request body did not arrive") from None
                except Exception:  # noqa: BLE001 - a bug, but still answered in the dialect's shape
                    log.exception("request failed", extra={"fields": {"route": route}})
                    raise ApiError(500, "internal_error",
                                   f"internal error; request id {request_id}") from None
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


def body_stall_guard(idle_seconds: float) -> Any:
    """aiohttp middleware: a request whose body stops arriving for `idle_seconds` (a slow-body
    slowloris: a big Content-Length, then a trickle or nothing) has its connection closed, so
    no client can hold a handler and its buffers open for free. Time spent by the handler
    itself (a long Browserbeam step) is not counted: only a body still on its way."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        content = request.content

        async def watch() -> None:
            seen, idle = -1, 0.0
            while not content.at_eof():
                await asyncio.sleep(0.5)
                if content.total_bytes != seen or content.is_eof():
                    seen, idle = content.total_bytes, 0.0
                    continue
                if content._buffer:  # noqa: SLF001 - bytes waiting for the handler: not a stall
                    idle = 0.0
                    continue
                idle += 0.5
                if idle >= idle_seconds:
                    log.warning("request body stalled; closing the connection",
                                extra={"fields": {"path": request.path, "bytes": seen}})
                    if request.transport is not None:
                        request.transport.close()
                    content.set_exception(ConnectionResetError("request body stalled"))
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            return await handler(request)
        finally:
            watcher.cancel()

    return guard


async def file_part(request: web.Request) -> Any:
    """The multipart part named `file` (the SDK's upload form), or 400."""
    if not request.content_type.startswith("multipart/"):
        raise bad_request("file", "send multipart/form-data with a part named 'file'")
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
    except (ValueError, AssertionError, HttpProcessingError) as err:
        raise bad_request("file", f"malformed multipart body: {err}") from None
    if part is None or not getattr(part, "filename", None):
        raise bad_request("file", "a multipart part named 'file' with a filename is required")
    check_text("file", part.filename)  # bytes that are not UTF-8 reach here as surrogates
    return part


async def stream_chunks(request: web.Request, headers: dict[str, str], first: Any,
                        rest: Any) -> web.StreamResponse:
    """A gRPC stream of chunks (each with `.data`) as an HTTP body: `first` is the chunk the
    caller already read (so an error surfaced before any header was sent; None: empty), `rest`
    the stream after it. Written as it arrives, never gathered in memory."""
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    if first is not None:
        await response.write(first.data)
        async for chunk in rest:
            await response.write(chunk.data)
    await response.write_eof()
    return response
