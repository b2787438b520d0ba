"""A session's files on its node: downloads, uploads and artifacts, as the Automation service
serves them (list, read one or all as a zip, write, delete), and the downloads' archive sent to
the control plane when the session ends."""

from __future__ import annotations

import asyncio
import io
import mimetypes
import pathlib
import re
import time
import zipfile
from collections.abc import AsyncIterator, Iterator

from google.protobuf import timestamp_pb2

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc
from node.chromium import Browser

CHUNK_BYTES = 1024 * 1024
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
SAFE_NAME = re.compile(r"^[^/\\\x00]{1,255}$")
MAX_NAME_BYTES = 200


def folder(browser: Browser, kind: int) -> pathlib.Path:
    if kind == A.DOWNLOAD:
        return browser.downloads_dir
    if kind == A.UPLOAD:
        return browser.uploads_dir
    if kind == A.ARTIFACT:
        return browser.root / "artifacts"
    raise errors.invalid("kind", "must be DOWNLOAD, UPLOAD or ARTIFACT")


def check_name(name: str) -> str:
    if not SAFE_NAME.match(name) or name in (".", "..") or name.startswith(".com.google.Chrome"):
        raise errors.invalid("name", "must be a plain file name (no path separators)")
    # File systems count bytes, and an upload is first written as ".<name>.<ns>.part".
    if len(name.encode()) > MAX_NAME_BYTES:
        raise errors.invalid("name", f"must be at most {MAX_NAME_BYTES} bytes in UTF-8")
    return name


def info(path: pathlib.Path, kind: int) -> A.FileInfo:
    stat = path.stat()
    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(stat.st_mtime * 1e9))
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return A.FileInfo(name=path.name, kind=kind, size_bytes=stat.st_size, mime_type=mime,
                      created_at=created, path=str(path))


def listing(browser: Browser, kind: int) -> list[A.FileInfo]:
    kinds = [kind] if kind else [A.DOWNLOAD, A.UPLOAD, A.ARTIFACT]
    found = []
    for k in kinds:
        base = folder(browser, k)
        if base.exists():
            # Chromium writes a download as "<name>.crdownload" until it completes.
            found += [info(p, k) for p in sorted(base.iterdir())
                      if p.is_file() and not p.name.endswith(".crdownload")]
    return found


def read_chunks(browser: Browser, kind: int, name: str) -> Iterator[bytes]:
    """One file's bytes, or, with no name, every file of the kind as one zip archive."""
    base = folder(browser, kind)
    if name:
        path = base / check_name(name)
        if not path.is_file():
            raise errors.not_found(errors.FILE_NOT_FOUND, "file", name)
        with path.open("rb") as fh:
            while data := fh.read(CHUNK_BYTES):
                yield data
        return
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in listing(browser, kind):
            archive.write(base / entry.name, arcname=entry.name)
    data = buffer.getvalue()
    for i in range(0, len(data), CHUNK_BYTES):
        yield data[i:i + CHUNK_BYTES]


class Upload:
    """A file being written; it appears under its name only once complete."""

    def __init__(self, browser: Browser, kind: int, name: str) -> None:
        base = folder(browser, kind)
        base.mkdir(parents=True, exist_ok=True)
        self.final = base / check_name(name)
        self.partial = base / f".{name}.{time.monotonic_ns()}.part"
        self.fh = self.partial.open("wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_UPLOAD_BYTES:
            self.abort()
            raise errors.invalid("data", f"files are limited to {MAX_UPLOAD_BYTES >> 20} MiB")
        self.fh.write(data)

    def finish(self) -> pathlib.Path:
        self.fh.close()
        self.partial.replace(self.final)
        return self.final

    def abort(self) -> None:
        self.fh.close()
        self.partial.unlink(missing_ok=True)


async def archive_downloads(stub: controlplane_pb2_grpc.ControlPlaneStub,
                            metadata: tuple[tuple[str, str], ...], session_id: str,
                            browser: Browser) -> int:
    """Sends what the session downloaded, as one zip, to the control plane, which keeps it
    after the session ends (Browserbase users fetch downloads once the browser is closed).
    Answers the zip's size; 0 when nothing was downloaded."""
    if not listing(browser, A.DOWNLOAD):
        return 0
    chunks = await asyncio.to_thread(lambda: list(read_chunks(browser, A.DOWNLOAD, "")))

    async def stream() -> AsyncIterator[controlplane_pb2.DataChunk]:
        for i, data in enumerate(chunks):
            yield controlplane_pb2.DataChunk(session_id=session_id if i == 0 else "", data=data)

    await stub.WriteSessionFiles(stream(), metadata=metadata, timeout=120)
    return sum(len(c) for c in chunks)
