"""What makes a cookie acceptable, wherever one comes in (session options, SetCookies)."""

from __future__ import annotations

import urllib.parse

from browserplane.errors import invalid
from browserplane.v1 import session_pb2

SAME_SITE = {"", "Strict", "Lax", "None"}


def check_cookie(field: str, c: session_pb2.Cookie) -> None:
    """Raises INVALID_ARGUMENT naming the field of the first problem."""
    if not c.name:
        raise invalid(f"{field}.name", "is required")
    if not c.domain and not c.url:
        raise invalid(f"{field}.domain", "a cookie needs a domain or a url")
    if c.url and urllib.parse.urlsplit(c.url).scheme not in ("http", "https"):
        raise invalid(f"{field}.url", "must be an http(s) URL")
    if c.same_site not in SAME_SITE:
        raise invalid(f"{field}.same_site", "must be Strict, Lax or None")
    if c.expires < 0:
        raise invalid(f"{field}.expires", "must be unix seconds")


def cookie_param(c: session_pb2.Cookie) -> dict:
    """A cookie as CDP's Storage.setCookies and Playwright's add_cookies both take it: by url
    when one is given, else by domain and path."""
    out: dict = {"name": c.name, "value": c.value}
    if c.url:
        out["url"] = c.url
    else:
        out.update(domain=c.domain, path=c.path or "/")
    if c.expires:
        out["expires"] = c.expires
    if c.http_only:
        out["httpOnly"] = True
    if c.secure:
        out["secure"] = True
    if c.same_site:
        out["sameSite"] = c.same_site
    return out
