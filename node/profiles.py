"""Profiles on the node: a user-data-dir packed to an archive and back, moved over gRPC.

The control plane keeps profile archives; a node fetches one before launching a session that
loads it, and stores the browser's state back when the session ends with `persist`.
"""

from __future__ import annotations

import asyncio
import pathlib
import tarfile
import tempfile

from browserplane import archives
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc, session_pb2
from node.chromium import LaunchError

CHUNK_BYTES = 1024 * 1024
# Caches and per-run files: large, rebuilt by Chromium, and some would break the next start.
SKIP_DIRS = {"Cache", "Code Cache", "GPUCache", "GrShaderCache", "ShaderCache", "DawnCache",
             "DawnGraphiteCache", "DawnWebGPUCache", "GraphiteDawnCache", "Crashpad",
             "component_crx_cache", "extensions_crx_cache", "CacheStorage", "ScriptCache"}
SKIP_FILES = {"SingletonLock", "SingletonSocket", "SingletonCookie", "DevToolsActivePort",
              "BrowserMetrics-spare.pma", "RunningChromeVersion"}
# A saved profile is bounded when unpacked, whatever its archive's headers say.
LIMITS = archives.Limits(entry_bytes=512 << 20, total_bytes=2 << 30, entries=100_000)


def pack(user_data_dir: pathlib.Path, archive: pathlib.Path) -> int:
    """Writes user_data_dir (minus caches) to a .tar.gz; returns its size."""
    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = pathlib.PurePosixPath(info.name).parts
        if any(p in SKIP_DIRS for p in parts) or parts[-1] in SKIP_FILES:
            return None
        if not (info.isfile() or info.isdir()):
            return None  # no links or devices in a profile we hand to other sessions
        return info

    with tarfile.open(archive, "w:gz", compresslevel=3) as tar:
        for child in sorted(user_data_dir.iterdir()):
            tar.add(child, arcname=child.name, filter=keep)
    return archive.stat().st_size


def unpack(archive: pathlib.Path, user_data_dir: pathlib.Path,
           limits: archives.Limits = LIMITS) -> None:
    """Fills user_data_dir from a profile archive: files and folders only, sizes counted as
    they inflate (a tenant's page decides what its profile holds). Blocks: run in a thread."""
    try:
        archives.extract_tar_gz(archive, user_data_dir, limits)
    except archives.ArchiveError as err:
        raise LaunchError(f"the profile cannot be loaded: {err}") from None


class ProfileTransfer:
    def __init__(self, stub: controlplane_pb2_grpc.ControlPlaneStub,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        self.stub = stub
        self.metadata = metadata

    async def download(self, profile_id: str, user_data_dir: pathlib.Path) -> int:
        """Fills user_data_dir from the profile; 0 when the profile holds nothing yet."""
        with tempfile.NamedTemporaryFile(suffix=".tar.gz") as tmp:
            size = 0
            call = self.stub.ReadProfileData(
                controlplane_pb2.ReadProfileDataRequest(id=profile_id),
                metadata=self.metadata, timeout=120)
            async for chunk in call:
                await asyncio.to_thread(tmp.write, chunk.data)
                size += len(chunk.data)
            await asyncio.to_thread(tmp.flush)
            if size:
                await asyncio.to_thread(unpack, pathlib.Path(tmp.name), user_data_dir)
            return size

    async def upload(self, profile_id: str, session_id: str, user_data_dir: pathlib.Path,
                     cookies: list[session_pb2.Cookie] | None = None) -> int:
        with tempfile.TemporaryDirectory() as tmp_dir:
            archive = pathlib.Path(tmp_dir) / "profile.tar.gz"
            size = await asyncio.to_thread(pack, user_data_dir, archive)

            async def chunks():  # noqa: ANN202 - an async generator of DataChunk
                with archive.open("rb") as fh:
                    first = True
                    while data := await asyncio.to_thread(fh.read, CHUNK_BYTES):
                        if first:
                            yield controlplane_pb2.DataChunk(id=profile_id, session_id=session_id,
                                                             data=data, cookies=cookies or [])
                            first = False
                        else:
                            yield controlplane_pb2.DataChunk(data=data)

            await self.stub.WriteProfileData(chunks(), metadata=self.metadata, timeout=300)
            return size
