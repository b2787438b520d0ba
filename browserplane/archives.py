"""Archives that came from outside (a client's extension zip, a tenant's saved profile), read
with limits that hold whatever their headers say.

A zip's or tar's headers declare each entry's size, and a bomb either lies or tells the truth
about a ratio of 1000:1. So the declared sizes only allow an early refusal; the limits are
enforced on the bytes actually inflated, per entry and in total, and reading stops at the first
byte past one. Names are checked before anything is written (no absolute paths, no `..`, no
links, no devices). Everything here blocks: call it in a thread (`asyncio.to_thread`), never on
an event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import pathlib
import posixpath
import shutil
import stat
import struct
import tarfile
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

BLOCK = 1024 * 1024
EOCD = b"PK\x05\x06"  # end of central directory record
EOCD_SIZE = 22


@dataclasses.dataclass(frozen=True)
class Limits:
    entry_bytes: int   # one entry, inflated
    total_bytes: int   # every entry together, inflated
    entries: int       # files and folders


class ArchiveError(ValueError):
    """An archive refused. `too_large` tells a size or count limit from a malformed archive."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


class _Budget:
    """Counts inflated bytes against the limits; raises at the first byte past one."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.entries = 0

    def entry(self, name: str, declared: int) -> None:
        self.entries += 1
        if self.entries > self.limits.entries:
            raise ArchiveError(f"more than {self.limits.entries} entries", too_large=True)
        if declared > self.limits.entry_bytes:
            raise ArchiveError(f"{name!r} inflates past {_mib(self.limits.entry_bytes)}",
                               too_large=True)

    def count(self, name: str, entry_so_far: int, n: int) -> None:
        self.total += n
        if entry_so_far > self.limits.entry_bytes:
            raise ArchiveError(f"{name!r} inflates past {_mib(self.limits.entry_bytes)}",
                               too_large=True)
        if self.total > self.limits.total_bytes:
            raise ArchiveError(f"the archive inflates past {_mib(self.limits.total_bytes)}",
                               too_large=True)


def safe_name(name: str) -> str:
    """A member name as a relative POSIX path inside the archive, or ArchiveError."""
    if not name or "\x00" in name or "\\" in name:
        raise ArchiveError(f"unsafe path in archive: {name!r}")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"unsafe path in archive: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ArchiveError(f"unsafe path in archive: {name!r}")
    return posixpath.join(*parts)


# -- zip ---------------------------------------------------------------------------------------

def _zip_directory_size(fh: IO[bytes], limits: Limits) -> None:
    """Refuses, before zipfile reads it, a central directory that names too many entries:
    zipfile builds an object per entry, so a 64 MiB directory would cost gigabytes."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    tail_len = min(size, EOCD_SIZE + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(EOCD)
    if at < 0 or len(tail) - at < EOCD_SIZE:
        raise ArchiveError("not a zip archive")
    entries, cd_size = struct.unpack("<HI", tail[at + 10:at + 16])
    # 0xFFFF / 0xFFFFFFFF mean "see the zip64 record": far past any limit here anyway.
    if entries > limits.entries or cd_size > limits.entries * 1024:
        raise ArchiveError(f"more than {limits.entries} entries", too_large=True)
    fh.seek(0)


def _is_link(info: zipfile.ZipInfo) -> bool:
    # Unix zips keep st_mode in the high bits; no type bits (0) is a plain file.
    kind = stat.S_IFMT(info.external_attr >> 16)
    return kind not in (0, stat.S_IFREG, stat.S_IFDIR)


def zip_entries(archive: zipfile.ZipFile, limits: Limits) -> list[tuple[str, zipfile.ZipInfo]]:
    """(safe name, info) of every entry; refuses unsafe names, links and declared sizes past
    the limits (the early, cheap check; inflating enforces them again)."""
    budget = _Budget(limits)
    found = []
    declared = 0
    for info in archive.infolist():
        name = safe_name(info.filename)
        if _is_link(info):
            raise ArchiveError(f"links are not allowed in archives: {info.filename!r}")
        budget.entry(name, info.file_size)
        declared += info.file_size
        if declared > limits.total_bytes:
            raise ArchiveError(f"the archive inflates past {_mib(limits.total_bytes)}",
                               too_large=True)
        found.append((name, info))
    return found


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: _Budget,
             out: IO[bytes] | None) -> bytes | None:
    """Inflates one entry in blocks, counting; writes to `out`, or answers the bytes when
    `out` is None (for small entries such as a manifest)."""
    kept = [] if out is None else None
    size = 0
    try:
        with archive.open(info) as src:
            while block := src.read(BLOCK):
                size += len(block)
                budget.count(name, size, len(block))
                if out is not None:
                    out.write(block)
                elif size > BLOCK:  # kept in memory: small entries only, whatever was declared
                    raise ArchiveError(f"{name!r} is larger than it says")
                else:
                    kept.append(block)  # type: ignore[union-attr]
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError,
            RuntimeError, ValueError) as err:  # a damaged entry, a bad CRC, an odd method
        raise ArchiveError(f"{name!r} cannot be read: {err}") from None
    return b"".join(kept) if kept is not None else None


@contextlib.contextmanager
def open_zip(path: pathlib.Path, limits: Limits) -> Iterator[zipfile.ZipFile]:
    with path.open("rb") as fh:  # a ZipFile given a file object leaves closing it to us
        _zip_directory_size(fh, limits)
        try:
            archive = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, ValueError, EOFError):
            raise ArchiveError("not a zip archive") from None
        with archive:
            yield archive


def check_zip(path: pathlib.Path, limits: Limits, keep: str = "") -> dict[str, bytes]:
    """Inflates every entry (to nowhere) within the limits; answers the contents of the
    entries whose name ends with `keep` (e.g. "manifest.json") and are at most 1 MiB."""
    kept: dict[str, bytes] = {}
    with open_zip(path, limits) as archive:
        budget = _Budget(limits)
        for name, info in zip_entries(archive, limits):
            if info.is_dir():
                continue
            wanted = bool(keep) and name.endswith(keep) and info.file_size <= BLOCK
            data = _inflate(archive, info, name, budget, None if wanted else _Null())
            if wanted and data is not None:
                kept[name] = data
    return kept


def extract_zip(path: pathlib.Path, target: pathlib.Path, limits: Limits) -> None:
    """Unpacks into `target` (which must not exist yet), all or nothing."""
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        with open_zip(path, limits) as archive:
            budget = _Budget(limits)
            for name, info in zip_entries(archive, limits):
                dest = staging.joinpath(*name.split("/"))
                try:
                    if info.is_dir():
                        dest.mkdir(parents=True, exist_ok=True)
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    out = dest.open("xb")  # a name twice, or a file where a folder is: refused
                except OSError as err:
                    raise ArchiveError(f"{name!r} clashes with another entry: {err}") from None
                with out:
                    _inflate(archive, info, name, budget, out)
        staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Null:
    def write(self, data: bytes) -> int:
        return len(data)


# -- tar.gz ------------------------------------------------------------------------------------

class _CountingReader:
    """A gzip stream that refuses to inflate past a limit, whoever reads it (tarfile reads
    pax and GNU long-name headers whole, before any member is seen)."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        room = self.limit - self.count + 1
        data = self.raw.read(room if n is None or n < 0 else min(n, room))
        self.count += len(data)
        if self.count > self.limit:
            raise ArchiveError(f"the archive inflates past {_mib(self.limit)}", too_large=True)
        return data


def extract_tar_gz(path: pathlib.Path, target: pathlib.Path, limits: Limits) -> None:
    """Unpacks a .tar.gz of files and folders into `target` (made if missing)."""
    target.mkdir(parents=True, exist_ok=True)
    budget = _Budget(limits)
    # Headers (512 bytes a member, more for long names) count too, within a generous margin.
    stream_limit = limits.total_bytes + limits.entries * 2048 + BLOCK
    try:
        with gzip.open(path, "rb") as raw:
            reader = _CountingReader(raw, stream_limit)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[arg-type]
                for member in tar:
                    name = safe_name(member.name)
                    budget.entry(name, member.size)
                    dest = target.joinpath(*name.split("/"))
                    if member.isdir():
                        dest.mkdir(parents=True, exist_ok=True)
                        continue
                    if not member.isfile():
                        raise ArchiveError(f"only files and folders are allowed: {member.name!r}")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    size = 0
                    with dest.open("wb") as out:
                        while block := src.read(BLOCK):
                            size += len(block)
                            budget.count(name, size, len(block))
                            out.write(block)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:  # BadGzipFile is an OSError
        raise ArchiveError(f"not a readable .tar.gz: {err}") from None
