"""controlplane/profile_cookies.py: a profile's cookies, set through the API and saved by nodes."""

from __future__ import annotations

import os
import pathlib
import time

from browserplane.v1 import session_pb2 as S
from controlplane.profile_cookies import ProfileCookieStore


def _names(cookies: list[S.Cookie]) -> list[str]:
    return sorted(c.name for c in cookies)


def test_set_merge_replace_save_copy_delete(tmp_path: pathlib.Path) -> None:
    store = ProfileCookieStore(tmp_path)
    assert store.get("p") == [] and store.pending("p") is None
    store.saved("p", [S.Cookie(name="old", value="1", domain="a.test")], time.time())
    assert _names(store.get("p")) == ["old"] and store.pending("p") is None

    store.set("p", [S.Cookie(name="new", value="1", domain="a.test")], replace=False)
    store.set("p", [S.Cookie(name="new", value="2", domain="a.test")], replace=False)
    assert _names(store.get("p")) == ["new", "old"]
    assert [c.value for c in store.get("p") if c.name == "new"] == ["2"]  # one per name/domain/path
    store.set("p", [S.Cookie(name="only", value="1", domain="a.test")], replace=True)
    assert _names(store.pending("p") or []) == ["only"]

    # A session that started before the set did not get it: the set stays pending.
    before = os.stat(tmp_path / "p.cookies-set.pb").st_mtime - 60
    store.saved("p", [S.Cookie(name="old", value="1", domain="a.test")], before)
    assert _names(store.get("p")) == ["only"]
    # One that started after it loaded it: its cookies are the profile's now.
    store.saved("p", [S.Cookie(name="only", value="1", domain="a.test"),
                      S.Cookie(name="page", value="1", domain="a.test")], time.time() + 1)
    assert store.pending("p") is None and _names(store.get("p")) == ["only", "page"]

    store.copy("p", "q")
    assert _names(store.get("q")) == ["only", "page"]
    store.delete("p")
    assert store.get("p") == [] and _names(store.get("q")) == ["only", "page"]
