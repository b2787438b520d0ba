"""Unpacked extensions on the node, fetched from the control plane on first use and reused."""

from __future__ import annotations

import asyncio
import io
import pathlib
import shutil
import uuid
import zipfile

from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc


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
                data = b"".join([chunk.data async for chunk in self.stub.ReadExtensionData(
                    controlplane_pb2.ReadExtensionDataRequest(id=extension_id),
                    metadata=self.metadata, timeout=60)])
                await asyncio.to_thread(self._unpack, data, target)
            if (target / "manifest.json").exists():
                return target
            inner = [p for p in target.iterdir() if (p / "manifest.json").exists()]
            return inner[0] if inner else target

    @staticmethod
    def _unpack(data: bytes, target: pathlib.Path) -> None:
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:6]}")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.infolist():
                    path = (staging / member.filename).resolve()
                    if not path.is_relative_to(staging.resolve()):
                        raise ValueError(f"unsafe path in extension: {member.filename!r}")
                archive.extractall(staging)
            staging.replace(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
