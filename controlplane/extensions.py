"""Uploaded Chromium extensions: checked on arrival, kept as zip blobs, named by their manifest.

The check inflates every entry within limits (browserplane.archives), so a zip bomb is refused
when its bytes, not its headers, pass a limit; it blocks, so callers run it in a thread.
"""

from __future__ import annotations

import json
import pathlib

from browserplane import archives, errors

MAX_EXTENSION_BYTES = 64 * 1024 * 1024  # the zip as uploaded
LIMITS = archives.Limits(entry_bytes=64 << 20, total_bytes=128 << 20, entries=10_000)


def read_manifest(path: pathlib.Path, limits: archives.Limits = LIMITS) -> dict:
    """The extension's manifest.json (at the zip's root or in its single top folder), once
    every entry has been inflated within the limits."""
    try:
        manifests = archives.check_zip(path, limits, keep="manifest.json")
    except archives.ArchiveError as err:
        if err.too_large:
            raise errors.too_large("file", f"{err} (extensions are limited to "
                                           f"{limits.total_bytes >> 20} MiB unpacked)") from None
        if str(err) == "not a zip archive":
            raise errors.invalid("file", "not a zip archive (upload the extension folder, "
                                         "zipped)") from None
        raise errors.invalid("file", str(err)) from None
    candidates = [n for n in manifests if n == "manifest.json" or n.count("/") == 1]
    if not candidates:
        raise errors.invalid("file", "no manifest.json at the archive's root")
    try:
        manifest = json.loads(manifests[sorted(candidates, key=len)[0]])
    except (ValueError, RecursionError):
        raise errors.invalid("file", "manifest.json is not valid JSON") from None
    if not isinstance(manifest, dict) or "manifest_version" not in manifest:
        raise errors.invalid("file", "manifest.json has no manifest_version")
    return manifest
