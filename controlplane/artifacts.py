"""Artifacts: what sessions produced (screenshots, PDFs, recordings, downloads), kept in the
control plane's store after the session ends, until a retention period passes.

Each artifact is a row in the store (its `Artifact`, sealed: names and download URLs can say
who the user is) and a blob file under the blob dir's `artifacts/`. Blob files are sealed too,
in blocks of 1 MiB (AES-256-GCM with the store's key, each block bound to the artifact id and
its index): screenshots and videos show whatever the user had on screen (mail, accounts, card
forms), and the blocks keep byte ranges cheap (a video player seeks; only the blocks of the
range are opened). Files are written to a `.part` name (0600) and renamed: readers see a whole
artifact or none.

Bounds: a session holds at most `per_session` artifacts and `session_bytes` bytes (past them a
put is refused: the session's first artifacts are kept, its later ones are not); a project
holds at most `project_bytes` (past it the project's oldest artifacts go first, so a project
keeps working and what goes is what retention would take next); one artifact is at most
`max_bytes` (a long video).

Signed URLs: HMAC-SHA256 over the artifact id and the expiry, with a key of its own in the data
dir (`artifact-url-key`, 0600), not derived from the cluster secret, so an operator revokes
every URL handed out by deleting that file, without touching the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import io
import logging
import os
import pathlib
import re
import time
import uuid
import zipfile
from collections.abc import AsyncIterator

import grpc

from browserplane import errors
from browserplane.errors import BrowserplaneError, not_found
from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2 as cp
from controlplane.keys import Principal
from controlplane.record_cipher import RecordCipher, WrongKey
from controlplane.store import Store

log = logging.getLogger(__name__)
BLOCK = 1 << 20
SEALED_BLOCK = BLOCK + 1 + 12 + 16  # RecordCipher.seal: marker, nonce, tag
MAX_TTL_SECONDS = 7 * 86400
DEFAULT_TTL_SECONDS = 3600
MAX_NAME = 256
MAX_METADATA = 32
DEFAULT_MIME = {
    cp.ARTIFACT_SCREENSHOT: "image/png", cp.ARTIFACT_VIDEO: "video/webm",
    cp.ARTIFACT_TIMELINE: "application/json", cp.ARTIFACT_DOM_EVENTS: "application/json",
    cp.ARTIFACT_DOWNLOAD: "application/octet-stream", cp.ARTIFACT_PDF: "application/pdf",
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
                   r"(;[ -~]*)?$")


@dataclasses.dataclass(frozen=True)
class ArtifactLimits:
    retention_seconds: float = 168 * 3600
    max_bytes: int = 512 << 20
    per_session: int = 1000
    session_bytes: int = 2 << 30
    project_bytes: int = 20 << 30


def safe_name(name: str, fallback: str) -> str:
    """A file name without path separators or control characters, at most 256 characters."""
    name = _UNSAFE.sub("_", name).strip().lstrip(".")
    return (name or fallback)[:MAX_NAME]


def sign(key: bytes, artifact_id: str, expires: int) -> str:
    return hmac.new(key, f"{artifact_id}\n{expires}".encode(), hashlib.sha256).hexdigest()


class _SealedWriter:
    """Writes plaintext as sealed blocks to a `.part` file (0600), renamed on finish."""

    def __init__(self, final: pathlib.Path, artifact_id: str, cipher: RecordCipher) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        self.part = final.with_name(f"{final.name}.{uuid.uuid4().hex[:8]}.part")
        self.fh = os.fdopen(os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        self.id = artifact_id
        self.cipher = cipher
        self.buffer = bytearray()
        self.index = 0
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.digest.update(data)
        self.buffer += data
        while len(self.buffer) >= BLOCK:
            self._flush(bytes(self.buffer[:BLOCK]))
            del self.buffer[:BLOCK]

    def _flush(self, block: bytes) -> None:
        self.fh.write(self.cipher.seal(block, f"artifact:{self.id}:{self.index}"))
        self.index += 1

    def finish(self) -> None:
        if self.buffer:
            self._flush(bytes(self.buffer))
            self.buffer.clear()
        self.fh.close()
        self.part.replace(self.final)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        self.part.unlink(missing_ok=True)


class Artifacts:
    def __init__(self, store: Store, folder: pathlib.Path, url_key: bytes,
                 limits: ArtifactLimits) -> None:
        assert store.cipher is not None
        self.store = store
        self.cipher = store.cipher
        self.folder = folder
        self.url_key = url_key
        self.limits = limits
        self._pending: set[asyncio.Task] = set()

    def blob(self, artifact_id: str) -> pathlib.Path:
        return self.folder / artifact_id

    # -- putting ---------------------------------------------------------------------------

    def _check_new(self, principal: Principal, a: cp.Artifact) -> cp.Artifact:
        """The stored form of a new artifact's first chunk, or the caller's error."""
        if not a.session_id:
            raise errors.invalid("artifact.session_id", "is required")
        if a.kind not in DEFAULT_MIME:
            raise errors.invalid("artifact.kind", "name the artifact's kind")
        session = self.store.session(a.session_id)
        project = principal.project_id or a.project_id or (session.project_id if session else "")
        if session is None or session.project_id != project or \
                (a.project_id and a.project_id != project):
            raise not_found(errors.SESSION_NOT_FOUND, "session", a.session_id)
        if a.mime_type and (len(a.mime_type) > 128 or not _MIME.match(a.mime_type)):
            raise errors.invalid("artifact.mime_type", "a media type, e.g. image/png")
        if len(a.page_id) > 128:
            raise errors.invalid("artifact.page_id", "at most 128 characters")
        if len(a.metadata) > MAX_METADATA or any(len(k) > 64 or len(v) > 2048
                                                 for k, v in a.metadata.items()):
            raise errors.invalid("artifact.metadata", f"at most {MAX_METADATA} entries, keys of "
                                                      "64 and values of 2048 characters")
        now = time.time()
        artifact_id = "art_" + uuid.uuid4().hex
        kind_name = cp.ArtifactKind.Name(a.kind).removeprefix("ARTIFACT_").lower()
        stored = cp.Artifact(
            id=artifact_id, project_id=project, session_id=a.session_id, kind=a.kind,
            name=safe_name(a.name, f"{kind_name}-{artifact_id[4:12]}"),
            mime_type=a.mime_type or DEFAULT_MIME[a.kind], page_id=a.page_id,
            created_at=timestamp(now), expires_at=timestamp(now + self.limits.retention_seconds))
        stored.metadata.update(a.metadata)
        self._room(stored, 0)
        return stored

    def _room(self, a: cp.Artifact, size: int) -> None:
        """Refuses an artifact its session has no room for."""
        count, used = self.store.artifact_usage("session_id", a.session_id)
        if count >= self.limits.per_session or used + size > self.limits.session_bytes:
            raise BrowserplaneError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ARTIFACT_LIMIT,
                f"session {a.session_id} holds {count} artifacts, {used} bytes: the bounds are "
                f"{self.limits.per_session} artifacts and {self.limits.session_bytes} bytes",
                metadata={"session_id": a.session_id})

    def _limit(self, a: cp.Artifact) -> int:
        _, used = self.store.artifact_usage("session_id", a.session_id)
        return min(self.limits.max_bytes, self.limits.session_bytes - used)

    def _too_big(self, a: cp.Artifact) -> BrowserplaneError:
        if self._limit(a) < self.limits.max_bytes:
            return BrowserplaneError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ARTIFACT_LIMIT,
                f"session {a.session_id}'s artifacts would pass {self.limits.session_bytes} bytes",
                metadata={"session_id": a.session_id})
        return errors.too_large("data", f"an artifact is at most {self.limits.max_bytes} bytes")

    def _commit(self, a: cp.Artifact, writer: _SealedWriter) -> cp.Artifact:
        """Records a written artifact (no await between the bounds' check and the save)."""
        a.size_bytes = writer.size
        a.sha256 = writer.digest.hexdigest()
        self._room(a, writer.size)
        writer.finish()
        self.store.save_artifact(a)
        self._fit_project(a.project_id, keep=a.id)
        return a

    def _fit_project(self, project_id: str, keep: str) -> None:
        """The project's oldest artifacts go until it is within its bytes bound."""
        _, used = self.store.artifact_usage("project_id", project_id)
        while used > self.limits.project_bytes:
            oldest = [x for x in self.store.oldest_artifacts(project_id, 50) if x[0] != keep]
            if not oldest:
                return
            for artifact_id, size in oldest:
                self.delete(artifact_id)
                used -= size
                if used <= self.limits.project_bytes:
                    break
            log.info("project's oldest artifacts dropped for room", extra={"fields": {
                "project": project_id}})

    async def put(self, principal: Principal, chunks: AsyncIterator[cp.ArtifactChunk]
                  ) -> cp.Artifact:
        """PutArtifact: the first chunk names the artifact, every chunk may carry data."""
        writer: _SealedWriter | None = None
        artifact: cp.Artifact | None = None
        limit = 0
        try:
            async for chunk in chunks:
                if artifact is None:
                    if not chunk.HasField("artifact"):
                        raise errors.invalid("artifact", "the first chunk names the artifact")
                    artifact = self._check_new(principal, chunk.artifact)
                    limit = self._limit(artifact)
                    writer = _SealedWriter(self.blob(artifact.id), artifact.id, self.cipher)
                if writer.size + len(chunk.data) > limit:
                    raise self._too_big(artifact)
                if chunk.data:
                    await asyncio.to_thread(writer.write, chunk.data)
            if artifact is None or writer is None:
                raise errors.invalid("artifact", "an empty stream")
            return self._commit(artifact, writer)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise

    async def add(self, project_id: str, session_id: str, kind: int, name: str, data: bytes,
                  mime_type: str = "", page_id: str = "",
                  metadata: dict[str, str] | None = None) -> cp.Artifact:
        """Stores what the control plane itself saw (a screenshot's answer, a download)."""
        principal = Principal(project_id, cluster=True)
        first = cp.Artifact(session_id=session_id, kind=kind, name=name, mime_type=mime_type,
                            page_id=page_id, metadata=metadata or {})

        async def one() -> AsyncIterator[cp.ArtifactChunk]:
            yield cp.ArtifactChunk(artifact=first, data=data)

        return await self.put(principal, one())

    def keep(self, project_id: str, session_id: str, kind: int, name: str, data: bytes,
             **fields: object) -> None:
        """`add` in the background: the caller's answer does not wait for the disk."""
        async def run() -> None:
            try:
                await self.add(project_id, session_id, kind, name, data, **fields)  # type: ignore[arg-type]
            except BrowserplaneError as err:
                log.warning("artifact not kept", extra={"fields": {
                    "session": session_id, "reason": err.reason, "message": err.message}})
            except Exception:  # noqa: BLE001 - a failed copy must not fail the caller
                log.exception("artifact not kept")

        task = asyncio.get_running_loop().create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def add_downloads(self, project_id: str, session_id: str, archive: pathlib.Path) -> int:
        """Each file of a session's downloads zip as an ARTIFACT_DOWNLOAD. Entry names are never
        used as paths (artifacts live under their ids), and each entry is inflated with a
        running count that stops at the bounds, whatever the zip's headers claim (a zip bomb)."""
        try:
            entries = await asyncio.to_thread(_zip_files, archive)
        except (zipfile.BadZipFile, OSError) as err:
            log.warning("downloads archive unreadable", extra={"fields": {
                "session": session_id, "error": str(err)}})
            return 0
        principal = Principal(project_id, cluster=True)
        # The zip is the session's whole set: one sent again replaces the first's artifacts.
        earlier, _ = self.store.artifacts(project_id, session_id, cp.ARTIFACT_DOWNLOAD, 0, 100_000)
        for a in earlier:
            self.delete(a.id)
        added = 0
        for index, name in entries:
            try:
                a = self._check_new(principal, cp.Artifact(
                    session_id=session_id, kind=cp.ARTIFACT_DOWNLOAD,
                    name=pathlib.PurePosixPath(name.replace("\\", "/")).name))
            except BrowserplaneError as err:
                log.warning("downloads not kept as artifacts", extra={"fields": {
                    "session": session_id, "reason": err.reason}})
                break
            writer = _SealedWriter(self.blob(a.id), a.id, self.cipher)
            try:
                whole = await asyncio.to_thread(_inflate, archive, index, writer, self._limit(a))
                if not whole:
                    raise self._too_big(a)
                self._commit(a, writer)
                added += 1
            except BrowserplaneError as err:
                writer.abort()
                log.warning("download not kept as an artifact", extra={"fields": {
                    "session": session_id, "reason": err.reason}})
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as err:
                writer.abort()
                log.warning("download entry unreadable", extra={"fields": {
                    "session": session_id, "error": str(err)}})
        return added

    async def drain(self) -> None:
        """Waits for background puts (shutdown)."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=10)

    # -- reading ---------------------------------------------------------------------------

    def visible(self, principal: Principal, artifact_id: str) -> cp.Artifact:
        a = self.store.artifact(artifact_id) if artifact_id else None
        if a is None or principal.project_id not in (None, a.project_id) or self._expired(a):
            raise not_found(errors.ARTIFACT_NOT_FOUND, "artifact", artifact_id)
        return a

    def _expired(self, a: cp.Artifact) -> bool:
        """Past its expiry, or past the retention configured now (an operator who shortens it
        means the artifacts already kept too)."""
        now = time.time()
        return a.expires_at.ToNanoseconds() / 1e9 <= now or \
            a.created_at.ToNanoseconds() / 1e9 <= now - self.limits.retention_seconds

    def by_signature(self, artifact_id: str, expires: int, signature: str) -> cp.Artifact:
        expected = sign(self.url_key, artifact_id, expires)
        if not hmac.compare_digest(expected, signature.lower()):
            raise BrowserplaneError(grpc.StatusCode.PERMISSION_DENIED, errors.ARTIFACT_URL_INVALID,
                                    "the artifact URL's signature does not match")
        if expires <= time.time():
            raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION,
                                    errors.ARTIFACT_URL_EXPIRED, "the artifact URL has expired",
                                    metadata={"id": artifact_id, "expires": str(expires)})
        return self.visible(Principal(None, cluster=True), artifact_id)

    def list(self, principal: Principal, request: cp.ListArtifactsRequest
             ) -> cp.ListArtifactsResponse:
        limit = request.limit or 100
        if limit > 1000:
            raise errors.invalid("limit", "at most 1000")
        if request.kind and request.kind not in DEFAULT_MIME:
            raise errors.invalid("kind", "not an artifact kind")
        if request.session_id:
            s = self.store.session(request.session_id)
            if s is None or principal.project_id not in (None, s.project_id):
                raise not_found(errors.SESSION_NOT_FOUND, "session", request.session_id)
        found, total = self.store.artifacts(principal.project_id, request.session_id,
                                            request.kind, request.offset, limit)
        return cp.ListArtifactsResponse(artifacts=found, total=total)

    async def read(self, a: cp.Artifact, offset: int, length: int
                   ) -> AsyncIterator[cp.ArtifactChunk]:
        """The artifact's bytes from `offset` (`length` of them, 0: to the end), in chunks of
        at most a block; the first chunk carries the artifact."""
        if offset > a.size_bytes:
            raise errors.invalid("offset", f"past the artifact's end ({a.size_bytes} bytes)")
        end = a.size_bytes if not length else min(a.size_bytes, offset + length)
        first: cp.Artifact | None = a
        if end <= offset:
            yield cp.ArtifactChunk(artifact=a)
            return
        try:
            fh = await asyncio.to_thread(self.blob(a.id).open, "rb")
        except FileNotFoundError:
            raise not_found(errors.ARTIFACT_NOT_FOUND, "artifact", a.id) from None
        try:
            index = offset // BLOCK
            while offset < end:
                data = await asyncio.to_thread(self._block, fh, a.id, index)
                start = offset - index * BLOCK
                piece = data[start:start + (end - offset)]
                if not piece:
                    raise errors.internal("artifact blob shorter than its record")
                chunk = cp.ArtifactChunk(data=piece)
                if first is not None:
                    chunk.artifact.CopyFrom(first)
                    first = None
                yield chunk
                offset += len(piece)
                index += 1
        finally:
            fh.close()

    def _block(self, fh: io.BufferedReader, artifact_id: str, index: int) -> bytes:
        fh.seek(index * SEALED_BLOCK)
        sealed = fh.read(SEALED_BLOCK)
        try:
            return self.cipher.open(sealed, f"artifact:{artifact_id}:{index}")
        except WrongKey:
            log.error("artifact block does not open", extra={"fields": {
                "artifact": artifact_id, "block": index}})
            raise errors.internal("artifact unreadable") from None

    def signed(self, principal: Principal, request: cp.SignArtifactUrlRequest
               ) -> cp.SignedArtifactUrl:
        ttl = request.ttl_seconds or DEFAULT_TTL_SECONDS
        if ttl > MAX_TTL_SECONDS:
            raise errors.invalid("ttl_seconds", f"at most {MAX_TTL_SECONDS} (7 days)")
        a = self.visible(principal, request.id)
        expires = int(time.time()) + ttl
        return cp.SignedArtifactUrl(id=a.id, expires=expires,
                                    signature=sign(self.url_key, a.id, expires))

    # -- forgetting ------------------------------------------------------------------------

    def delete(self, artifact_id: str) -> None:
        self.store.delete_artifact(artifact_id)
        self.blob(artifact_id).unlink(missing_ok=True)

    def forget_old(self) -> int:
        """Drops artifacts past their retention, and blob files no row names (a put cut off by
        a crash) once they are an hour old. Answers how many artifacts went."""
        expired = self.store.expired_artifacts(time.time(), self.limits.retention_seconds)
        for artifact_id in expired:
            self.delete(artifact_id)
        if self.folder.exists():
            known = self.store.artifact_ids()
            cutoff = time.time() - 3600
            for path in self.folder.iterdir():
                if path.name.split(".")[0] not in known:
                    with contextlib.suppress(FileNotFoundError):
                        if path.stat().st_mtime < cutoff:
                            path.unlink()
        return len(expired)


def _zip_files(archive: pathlib.Path) -> list[tuple[int, str]]:
    """(index, name) of the files in a zip, at most 10,000."""
    with zipfile.ZipFile(archive) as z:
        return [(i, info.filename) for i, info in enumerate(z.infolist()[:10_000])
                if not info.is_dir()]


def _inflate(archive: pathlib.Path, index: int, writer: _SealedWriter, limit: int) -> bool:
    """Inflates one zip entry into `writer`; False (and stops) once it passes `limit` bytes."""
    with zipfile.ZipFile(archive) as z, z.open(z.infolist()[index]) as fh:
        while piece := fh.read(BLOCK):
            if writer.size + len(piece) > limit:
                return False
            writer.write(piece)
    return True
