"""Unpacked extensions on the node, fetched from the control plane on first use and reused.

The control plane checked the zip on upload; the node checks it again as it unpacks (sizes
counted while inflating, no unsafe names or links), so a blob it is handed never fills its disk.
"""

from __future__ import annotations

import asyncio
import pathlib
import tempfile

from browserplane import archives
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc
from node.chromium import LaunchError

MAX_ZIP_BYTES = 64 * 1024 * 1024
LIMITS = archives.Limits(entry_bytes=64 << 20, total_bytes=128 << 20, entries=10_000)


class ExtensionCache:
    def __init__(self, root: pathlib.Path, stub: controlplane_pb2_grpc.ControlPlaneStub,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        self.root = root
        self.stub = stub
        self.metadata = metadata
        self._locks: dict[str, asyncio.Lock] = {}

    async def folder(self, extension_id: str) -> pathlib.Path:
        """The folder holding the extension's manifest.json, for --load-extension."""
        async with self._locks.setdefault(extension_id, asyncio.Lock()):
            target = self.root / extension_id
            if not target.exists():
                self.root.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=self.root, suffix=".zip") as tmp:
                    size = 0
                    async for chunk in self.stub.ReadExtensionData(
                            controlplane_pb2.ReadExtensionDataRequest(id=extension_id),
                            metadata=self.metadata, timeout=60):
                        size += len(chunk.data)
                        if size > MAX_ZIP_BYTES:
                            raise LaunchError(f"extension {extension_id} is too large")
                        await asyncio.to_thread(tmp.write, chunk.data)
                    await asyncio.to_thread(tmp.flush)
                    try:
                        await asyncio.to_thread(archives.extract_zip, pathlib.Path(tmp.name),
                                                target, LIMITS)
                    except archives.ArchiveError as err:
                        raise LaunchError(f"extension {extension_id}: {err}") from None
            if (target / "manifest.json").exists():
                return target
            inner = [p for p in target.iterdir() if (p / "manifest.json").exists()]
            return inner[0] if inner else target
