"""A profile's cookies, kept next to its archive.

Why here and not read out of the archive: the archive is a Chromium user-data-dir whose cookie
database only a Chromium of the same version reads reliably (schema, encryption of values), and
the control plane never runs a browser. So the node hands over the browser's cookies (CDP
Storage.getCookies) with every profile it saves, and cookies set through the API wait here as
the profile's pending cookie set; the node applies them (clear, then set) to the next session
that loads the profile, and once such a session saves, they are in the cookie database too.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable

from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2

MAX_COOKIES = 10_000


class ProfileCookieStore:
    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder

    def _saved(self, profile_id: str) -> pathlib.Path:
        return self.folder / f"{profile_id}.cookies.pb"

    def _pending(self, profile_id: str) -> pathlib.Path:
        return self.folder / f"{profile_id}.cookies-set.pb"

    @staticmethod
    def _read(path: pathlib.Path) -> list[session_pb2.Cookie] | None:
        try:
            return list(cp.ProfileCookies.FromString(path.read_bytes()).cookies)
        except FileNotFoundError:
            return None

    def _write(self, path: pathlib.Path, cookies: Iterable[session_pb2.Cookie]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(cp.ProfileCookies(cookies=cookies).SerializeToString())
        partial.replace(path)

    def pending(self, profile_id: str) -> list[session_pb2.Cookie] | None:
        """Cookies set through the API since the profile was last saved, or None."""
        return self._read(self._pending(profile_id))

    def get(self, profile_id: str) -> list[session_pb2.Cookie]:
        found = self.pending(profile_id)
        return found if found is not None else self._read(self._saved(profile_id)) or []

    def set(self, profile_id: str, cookies: list[session_pb2.Cookie], replace: bool
            ) -> list[session_pb2.Cookie]:
        if replace:
            result = list(cookies)
        else:  # a cookie is one per (name, domain, path), as in a browser
            merged = {(c.name, c.domain, c.path or "/", c.url): c for c in self.get(profile_id)}
            merged.update({(c.name, c.domain, c.path or "/", c.url): c for c in cookies})
            result = list(merged.values())
        self._write(self._pending(profile_id), result[:MAX_COOKIES])
        return result[:MAX_COOKIES]

    def saved(self, profile_id: str, cookies: Iterable[session_pb2.Cookie],
              session_started: float) -> None:
        """A session saved the profile: its browser's cookies are the profile's now. Cookies
        set after that session started were not applied to it, so they stay pending."""
        self._write(self._saved(profile_id), cookies)
        pending = self._pending(profile_id)
        try:
            if pending.stat().st_mtime <= session_started:
                pending.unlink(missing_ok=True)
        except FileNotFoundError:
            pass

    def copy(self, source_id: str, target_id: str) -> None:
        for path_of in (self._saved, self._pending):
            found = self._read(path_of(source_id))
            if found is not None:
                self._write(path_of(target_id), found)

    def delete(self, profile_id: str) -> None:
        self._saved(profile_id).unlink(missing_ok=True)
        self._pending(profile_id).unlink(missing_ok=True)
