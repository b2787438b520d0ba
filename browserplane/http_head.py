"""Parsing and writing the head of an HTTP/1.1 request, for the byte-splicing CDP relays.

The relays read only the request head, decide, and from then on copy bytes; this is the one
piece of HTTP they need, kept sans-I/O so it is tested without sockets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl as ssl_module
import urllib.parse
from collections.abc import Callable

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_S = 10.0  # a client that has not sent a whole head by then is dropped (slowloris)


class HeadError(ValueError):
    status = 400


class HeadTooLarge(HeadError):
    status = 431


@dataclasses.dataclass
class RequestHead:
    method: str
    target: str  # path with query, as sent
    version: str
    headers: list[tuple[str, str]]

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))

    def header(self, name: str) -> str:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return ""

    @property
    def is_websocket(self) -> bool:
        return self.header("upgrade").lower() == "websocket"

    def rewritten(self, target: str, host: str, drop: tuple[str, ...] = ("origin",),
                  add: list[tuple[str, str]] | None = None) -> bytes:
        """The head sent on toward Chromium: new target and Host; `drop` headers removed.

        Chromium refuses a Host that is not an IP or localhost, and a WebSocket upgrade with an
        Origin unless started with --remote-allow-origins, hence the rewrite.
        """
        lines = [f"{self.method} {target} {self.version}", f"Host: {host}"]
        skip = {"host", *drop, *(k.lower() for k, _ in add or [])}
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in skip]
        lines += [f"{k}: {v}" for k, v in add or []]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def split_head(buffer: bytes) -> tuple[RequestHead, bytes] | None:
    """(head, rest) once the buffer holds a whole head; None while more bytes are needed."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise HeadTooLarge(f"request head larger than {MAX_HEAD_BYTES >> 10} KiB")
        return None
    text = buffer[:end].decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HeadError("malformed request line")
    headers = []
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if not sep:
            raise HeadError("malformed header line")
        headers.append((key.strip(), value.strip()))
    return RequestHead(parts[0], parts[1], parts[2], headers), buffer[end + 4:]


REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
           431: "Request Header Fields Too Large", 502: "Bad Gateway", 503: "Service Unavailable"}


def response(status: int, body: bytes, content_type: str = "application/json",
             extra: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
             f"Content-Type: {content_type}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in extra or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(status: int, payload: object) -> bytes:
    return response(status, json.dumps(payload).encode())


async def fetch(host: str, port: int, head: str, timeout: float = 10.0,
                ssl: ssl_module.SSLContext | None = None,
                ) -> tuple[int, list[tuple[str, str]], bytes]:
    """Sends one request head and reads one response by its Content-Length.

    Chromium's DevTools HTTP server ignores `Connection: close` and keeps the socket open, so
    reading until EOF would hang.
    """
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl)
    try:
        writer.write(head.encode("latin-1"))
        raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = raw_head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), None)
        if length is None:
            body = await asyncio.wait_for(reader.read(-1), timeout)
        else:
            body = await asyncio.wait_for(reader.readexactly(length), timeout)
        return status, headers, body
    finally:
        writer.close()


class HeadReader(asyncio.Protocol):
    """Reads a connection's first request head, then hands the connection over.

    `decide(transport, head, rest, reader)` either takes the connection itself (returns None;
    reading stays paused and bytes arriving meanwhile wait in `late()`), or returns the protocol
    that serves the connection from here on, which is given every byte read so far.
    Malformed heads are answered 400 here, heads past MAX_HEAD_BYTES 431, and a head not
    complete within `timeout` seconds 408 (then the connection is closed): a client that
    trickles a head must not hold a connection, and its memory, for ever.
    """

    def __init__(self, decide: Callable[[asyncio.Transport, RequestHead, bytes, HeadReader],
                                        asyncio.Protocol | None],
                 timeout: float = HEAD_TIMEOUT_S) -> None:
        self.decide = decide
        self.timeout = timeout
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.decided = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.timeout > 0:
            self._timer = asyncio.get_running_loop().call_later(self.timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._timer = None
        if not self.decided and self.transport is not None and not self.transport.is_closing():
            self._refuse(408, "request head not received in time")

    def _refuse(self, status: int, message: str) -> None:
        self.decided = True
        self.buffer = b""
        assert self.transport is not None
        self.transport.write(json_response(status, {"error": message}))
        self.transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def data_received(self, data: bytes) -> None:
        if self.decided:
            self.buffer += data
            return
        self.buffer += data
        try:
            parsed = split_head(self.buffer)
        except HeadError as err:
            self._cancel_timer()
            self._refuse(err.status, str(err))
            return
        if parsed is None:
            return
        self._cancel_timer()
        self.decided = True
        head, rest = parsed
        raw, self.buffer = self.buffer, b""
        self.transport.pause_reading()
        successor = self.decide(self.transport, head, rest, self)
        if successor is not None:
            self.transport.set_protocol(successor)
            successor.connection_made(self.transport)
            successor.data_received(raw)
            self.transport.resume_reading()

    def late(self) -> bytes:
        """Bytes that arrived after the head while the connection was being routed."""
        late, self.buffer = self.buffer, b""
        return late

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
