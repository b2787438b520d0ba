"""Uploaded Chromium extensions: checked on arrival, kept as zip blobs, named by their manifest."""

from __future__ import annotations

import io
import json
import zipfile

from browserplane import errors

MAX_EXTENSION_BYTES = 64 * 1024 * 1024


def read_manifest(data: bytes) -> dict:
    """The extension's manifest.json (at the zip's root or in its single top folder)."""
    if len(data) > MAX_EXTENSION_BYTES:
        raise errors.invalid("file", f"extensions are limited to {MAX_EXTENSION_BYTES >> 20} MiB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise errors.invalid("file", "not a zip archive (upload the extension folder, zipped)") from None
    names = [n for n in archive.namelist() if not n.endswith("/")]
    for name in names:
        if name.startswith("/") or ".." in name.split("/"):
            raise errors.invalid("file", f"unsafe path in archive: {name!r}")
    candidates = [n for n in names if n == "manifest.json" or n.count("/") == 1
                  and n.endswith("/manifest.json")]
    if not candidates:
        raise errors.invalid("file", "no manifest.json at the archive's root")
    try:
        manifest = json.loads(archive.read(sorted(candidates, key=len)[0]))
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid("file", "manifest.json is not valid JSON") from None
    if not isinstance(manifest, dict) or "manifest_version" not in manifest:
        raise errors.invalid("file", "manifest.json has no manifest_version")
    return manifest
