"""Signed artifact URLs: what a dialect hands out, and the route that answers them.

`GET /artifacts/{id}?expires=&signature=` needs no API key: the control plane checks the
signature (HMAC over id and expiry) in ReadArtifact. Errors are one plain JSON shape (403
tampered, 410 expired, 404 unknown). Byte ranges (`Range: bytes=`) answer 206, so a video
element seeks; the body streams from the control plane chunk by chunk, never held whole.

What is served is what a session produced (a download can be any file): every answer is
`nosniff` with a sandboxing CSP, and only media kinds a browser shows safely are `inline`;
anything else is an `attachment`, so a downloaded HTML page never runs on the gateway's origin.
"""

from __future__ import annotations

import logging
import re
import urllib.parse

import grpc
from aiohttp import web

from browserplane import errors
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from gateway.http_api import neutral_error, public_base

log = logging.getLogger(__name__)
PATH = "/artifacts/{id}"
INLINE = {"image/png", "image/jpeg", "image/webp", "video/webm", "video/mp4", "application/pdf",
          "application/json"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._ -]")


async def signed_url(control: controlplane_pb2_grpc.ControlPlaneStub,
                     metadata: tuple[tuple[str, str], ...], request: web.Request,
                     artifact_id: str, ttl_seconds: int = 3600) -> str:
    """A public URL of the artifact that works without a key for `ttl_seconds`; raises the
    control plane's RpcError (NOT_FOUND for another project's artifact) for the dialect."""
    signed = await control.SignArtifactUrl(
        cp.SignArtifactUrlRequest(id=artifact_id, ttl_seconds=ttl_seconds),
        metadata=metadata, timeout=10)
    return url_of(request, signed)


def url_of(request: web.Request, signed: cp.SignedArtifactUrl) -> str:
    """The public URL of a signed artifact, as the client reaches this gateway."""
    query = urllib.parse.urlencode({"expires": signed.expires, "signature": signed.signature})
    return f"{public_base(request)}/artifacts/{urllib.parse.quote(signed.id, safe='')}?{query}"


def content_disposition(artifact: cp.Artifact) -> str:
    """inline or attachment, with an ASCII fallback name and the UTF-8 name (RFC 6266)."""
    kind = "inline" if artifact.mime_type.split(";")[0].strip() in INLINE and \
        artifact.kind != cp.ARTIFACT_DOWNLOAD else "attachment"
    name = artifact.name or artifact.id
    fallback = _ASCII_SAFE.sub("_", name)[:128] or "artifact"
    return (f'{kind}; filename="{fallback}"; '
            f"filename*=UTF-8''{urllib.parse.quote(name, safe='')}")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(neutral_error(status, code, message), status=status)


def _parse_range(header: str) -> tuple[int | None, int | None] | None:
    """(first, last) of a single `bytes=` range (either may be None); None for no range or a
    form this route serves whole (several ranges)."""
    match = _RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        return None
    first = int(match[1]) if match[1] else None
    last = int(match[2]) if match[2] else None
    if first is not None and last is not None and last < first:
        return None
    return first, last


class ArtifactRoute:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub) -> None:
        self.control = control

    def routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.get)

    async def _size(self, base: cp.ReadArtifactRequest) -> int:
        probe = cp.ReadArtifactRequest()
        probe.CopyFrom(base)
        probe.length = 1
        async for chunk in self.control.ReadArtifact(probe, timeout=30):
            return chunk.artifact.size_bytes
        return 0

    async def get(self, request: web.Request) -> web.StreamResponse:
        artifact_id = request.match_info["id"]
        expires, signature = request.query.get("expires", ""), request.query.get("signature", "")
        if not expires or not signature:
            return _error(403, "forbidden", "this URL needs its expires and signature parameters")
        if not expires.isdigit() or len(expires) > 12 or len(signature) > 128 or \
                len(artifact_id) > 128 or not signature.isascii():
            return _error(403, "forbidden", "the artifact URL's signature does not match")
        base = cp.ReadArtifactRequest(id=artifact_id, expires=int(expires), signature=signature)
        wanted = _parse_range(request.headers.get("Range", ""))
        response: web.StreamResponse | None = None
        try:
            size = None
            if wanted is not None and wanted[0] is None:  # a suffix: the last N bytes
                size = await self._size(base)
                first, last = max(0, size - (wanted[1] or 0)), size - 1
                if not wanted[1] or not size:
                    return _unsatisfiable(size)
                wanted = (first, last)
            read = cp.ReadArtifactRequest()
            read.CopyFrom(base)
            if wanted is not None:
                read.offset = wanted[0] or 0
                read.length = 0 if wanted[1] is None else wanted[1] - read.offset + 1
            stream = self.control.ReadArtifact(read, timeout=3600)
            first_chunk: cp.ArtifactChunk | None = None
            async for chunk in stream:
                first_chunk = chunk
                break
            if first_chunk is None:
                return _error(404, "not_found", f"artifact {artifact_id!r} not found")
            artifact = first_chunk.artifact
            if wanted is not None and read.offset >= artifact.size_bytes:
                stream.cancel()
                return _unsatisfiable(artifact.size_bytes)
            end = artifact.size_bytes if not read.length else \
                min(artifact.size_bytes, read.offset + read.length)
            response = web.StreamResponse(status=206 if wanted is not None else 200)
            response.headers.update({
                "Content-Type": artifact.mime_type or "application/octet-stream",
                "Content-Length": str(end - read.offset), "Accept-Ranges": "bytes",
                "Content-Disposition": content_disposition(artifact),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=60", "ETag": f'"{artifact.sha256}"'})
            if wanted is not None:
                response.headers["Content-Range"] = \
                    f"bytes {read.offset}-{end - 1}/{artifact.size_bytes}"
            await response.prepare(request)
            try:
                if request.method != "HEAD":
                    await response.write(first_chunk.data)
                    async for chunk in stream:
                        await response.write(chunk.data)
                await response.write_eof()
            finally:
                stream.cancel()  # a client gone mid-video stops the control plane's read too
            return response
        except grpc.aio.AioRpcError as err:
            if response is not None and response.prepared:
                # Headers are out: the short body (against Content-Length) tells the client.
                log.warning("artifact stream broke off", extra={"fields": {
                    "artifact": artifact_id, "code": err.code().name}})
                return response
            return await self._failed(err, base)

    async def _failed(self, err: grpc.aio.AioRpcError, base: cp.ReadArtifactRequest
                      ) -> web.Response:
        found = errors.describe(err)
        if found.reason == errors.ARTIFACT_URL_EXPIRED:
            return _error(410, "expired", "this artifact URL has expired; ask for a new one")
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return _error(403, "forbidden", "the artifact URL's signature does not match")
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return _error(404, "not_found", f"artifact {base.id!r} not found (or past its "
                                            "retention period)")
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT and found.metadata.get("field") == "offset":
            return _unsatisfiable(await self._size(base))
        return _error(503, "unavailable", "the artifact store did not answer; try again")


def _unsatisfiable(size: int) -> web.Response:
    response = _error(416, "range_not_satisfiable", f"the artifact has {size} bytes")
    response.headers["Content-Range"] = f"bytes */{size}"
    return response
