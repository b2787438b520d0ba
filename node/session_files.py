"""A session's files on its node: downloads, uploads and artifacts, as the Automation service
serves them (list, read one or all as a zip, write, delete), and the downloads' archive sent to
the control plane when the session ends."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import mimetypes
import pathlib
import re
import threading
import time
import zipfile
from collections.abc import AsyncIterator

from google.protobuf import timestamp_pb2

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc
from node.chromium import Browser

CHUNK_BYTES = 1024 * 1024
QUEUE_CHUNKS = 4             # chunks of a zip made ahead of its reader
DEFLATE_UP_TO = 64 << 20     # files past this go into zips uncompressed
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
SAFE_NAME = re.compile(r"^[^/\\\x00]{1,255}$")
MAX_NAME_BYTES = 200
# A file's id names its kind and its name (reversible, so no table is kept): stable while the
# file is there, and a dialect can hand it out as the file's id.
ID_PREFIX = {A.DOWNLOAD: "dl-", A.UPLOAD: "up-", A.ARTIFACT: "ar-"}
ID_PATTERN = re.compile(r"^(dl|up|ar)-([A-Za-z0-9_-]{1,400})$")
# sha256 of files already hashed, by (path, size, mtime): listings repeat, files rarely change.
_digests: dict[tuple[str, int, int], str] = {}


def folder(browser: Browser, kind: int) -> pathlib.Path:
    if kind == A.DOWNLOAD:
        return browser.downloads_dir
    if kind == A.UPLOAD:
        return browser.uploads_dir
    if kind == A.ARTIFACT:
        return browser.artifacts_dir
    raise errors.invalid("kind", "must be DOWNLOAD, UPLOAD or ARTIFACT")


def check_name(name: str) -> str:
    if not SAFE_NAME.match(name) or name in (".", "..") or name.startswith(".com.google.Chrome"):
        raise errors.invalid("name", "must be a plain file name (no path separators)")
    # File systems count bytes, and an upload is first written as ".<name>.<ns>.part".
    if len(name.encode()) > MAX_NAME_BYTES:
        raise errors.invalid("name", f"must be at most {MAX_NAME_BYTES} bytes in UTF-8")
    return name


def file_id(kind: int, name: str) -> str:
    return ID_PREFIX[kind] + base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def from_id(value: str) -> tuple[int, str]:
    """The kind and name a file id stands for; NOT_FOUND when it is no file id at all."""
    match = ID_PATTERN.match(value)
    if match:
        data = match.group(2)
        try:
            name = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
            kind = {"dl": A.DOWNLOAD, "up": A.UPLOAD, "ar": A.ARTIFACT}[match.group(1)]
            return kind, check_name(name)
        except (binascii.Error, UnicodeDecodeError, errors.BrowserplaneError):
            pass
    raise errors.not_found(errors.FILE_NOT_FOUND, "file", value[:100])


def _sha256(path: pathlib.Path, stat: object) -> str:
    key = (str(path), stat.st_size, stat.st_mtime_ns)  # type: ignore[attr-defined]
    digest = _digests.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while data := fh.read(CHUNK_BYTES):
                h.update(data)
        digest = _digests[key] = h.hexdigest()
        if len(_digests) > 4096:
            _digests.pop(next(iter(_digests)))
    return digest


def info(path: pathlib.Path, kind: int, digest: bool = False) -> A.FileInfo:
    """With digest, its sha256 too (reads the file: callers run it in a thread)."""
    stat = path.stat()
    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(stat.st_mtime * 1e9))
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return A.FileInfo(name=path.name, kind=kind, size_bytes=stat.st_size, mime_type=mime,
                      created_at=created, path=str(path), sha256=_sha256(path, stat) if digest else "",
                      id=file_id(kind, path.name))


def listing(browser: Browser, kind: int, digest: bool = False) -> list[A.FileInfo]:
    kinds = [kind] if kind else [A.DOWNLOAD, A.UPLOAD, A.ARTIFACT]
    found = []
    for k in kinds:
        base = folder(browser, k)
        if base.exists():
            # Chromium writes a download as "<name>.crdownload" until it completes.
            found += [info(p, k, digest) for p in sorted(base.iterdir())
                      if p.is_file() and not p.name.endswith(".crdownload")]
    return found


def delete(browser: Browser, kind: int, name: str) -> None:
    """Deletes one file of a kind by its plain name; NOT_FOUND when it is not there (a name
    with a path in it never reaches the file system)."""
    if not kind:
        raise errors.invalid("kind", "name the kind of the file to delete")
    path = folder(browser, kind) / check_name(name)
    if name.endswith(".crdownload") or not path.is_file() or path.is_symlink():
        raise errors.not_found(errors.FILE_NOT_FOUND, "file", name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise errors.not_found(errors.FILE_NOT_FOUND, "file", name) from None


async def read_chunks(browser: Browser, kind: int, name: str) -> AsyncIterator[bytes]:
    """One file's bytes, or, with no name, every file of the kind as one zip archive, made
    from disk as it is sent (never whole in memory; reads and deflating happen in threads)."""
    base = folder(browser, kind)
    if not name:
        files = [(base / entry.name, entry.name) for entry in listing(browser, kind)]
        async for data in zip_stream(files):
            yield data
        return
    path = base / check_name(name)
    if not path.is_file():
        raise errors.not_found(errors.FILE_NOT_FOUND, "file", name)
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        while data := await asyncio.to_thread(fh.read, CHUNK_BYTES):
            yield data
    finally:
        fh.close()


class _End:
    pass


class _Abandoned(Exception):
    """The reader went away; the zipping thread stops."""


class _ZipPipe:
    """A zip written by a thread into a few chunks' worth of queue that the event loop reads.

    zipfile writes to an unseekable stream with data descriptors, so nothing is seeked back
    and nothing is kept: memory stays at QUEUE_CHUNKS chunks whatever the files' sizes.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.room = threading.Semaphore(QUEUE_CHUNKS)
        self.items: asyncio.Queue = asyncio.Queue()
        self.gone = threading.Event()
        self.buffer = bytearray()

    # The thread's side: zipfile calls write() and flush(); there is no tell() or seek().
    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK_BYTES:
            self._send(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def flush(self) -> None:
        pass

    def _send(self, item: object) -> None:
        while not self.room.acquire(timeout=0.5):
            if self.gone.is_set():
                raise _Abandoned
        if self.gone.is_set():
            raise _Abandoned
        self.loop.call_soon_threadsafe(self.items.put_nowait, item)

    def run(self, files: list[tuple[pathlib.Path, str]]) -> None:
        try:
            with zipfile.ZipFile(self, "w", zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
                for path, arcname in files:
                    big = path.stat().st_size > DEFLATE_UP_TO
                    # Large files are mostly media or archives already: stored, so a 1.5 GB
                    # download costs disk reads, not minutes of a core.
                    archive.write(path, arcname=arcname,
                                  compress_type=zipfile.ZIP_STORED if big else zipfile.ZIP_DEFLATED,
                                  compresslevel=None if big else 1)
            if self.buffer:
                self._send(bytes(self.buffer))
            self._send(_End())
        except _Abandoned:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the reader, raised there
            with contextlib.suppress(_Abandoned, RuntimeError):
                self._send(err)


async def zip_stream(files: list[tuple[pathlib.Path, str]]) -> AsyncIterator[bytes]:
    """A zip of `files` ((path, name in the archive)), in chunks of about CHUNK_BYTES."""
    pipe = _ZipPipe(asyncio.get_running_loop())
    # Its own thread, not the default executor: a slow reader holds it for the whole transfer.
    threading.Thread(target=pipe.run, args=(files,), name="zip-stream", daemon=True).start()
    try:
        while not isinstance(item := await pipe.items.get(), _End):
            pipe.room.release()
            if isinstance(item, BaseException):
                if isinstance(item, OSError):  # a file went away while being zipped
                    name = pathlib.Path(str(item.filename or "")).name
                    raise errors.not_found(errors.FILE_NOT_FOUND, "file", name)
                raise item
            yield item
    finally:
        pipe.gone.set()


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
    The zip is made as it is sent. Answers the zip's size; 0 when nothing was downloaded."""
    if not listing(browser, A.DOWNLOAD):
        return 0
    size = 0

    async def stream() -> AsyncIterator[controlplane_pb2.DataChunk]:
        nonlocal size
        first = True
        async for data in read_chunks(browser, A.DOWNLOAD, ""):
            size += len(data)
            yield controlplane_pb2.DataChunk(session_id=session_id if first else "", data=data)
            first = False

    await stub.WriteSessionFiles(stream(), metadata=metadata, timeout=600)
    return size
