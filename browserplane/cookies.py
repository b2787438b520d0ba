"""What makes a cookie acceptable, wherever one comes in (session options, SetCookies)."""

from __future__ import annotations

import math
import urllib.parse

from browserplane.errors import invalid
from browserplane.v1 import session_pb2

SAME_SITE = {"", "Strict", "Lax", "None"}
MAX_TEXT = 4096


def check_cookie(field: str, c: session_pb2.Cookie) -> None:
    """Raises INVALID_ARGUMENT naming the field of the first problem.

    Also refused is what Chromium refuses when the cookie is set (a session's cookies at
    launch: a failed launch, 503): control characters anywhere, ';' in a name or value, '=' in
    a name, a relative path, a domain with an empty label, an expiry that is not a number.
    """
    if not c.name:
        raise invalid(f"{field}.name", "is required")
    for name in ("name", "value", "domain", "path", "url", "same_site"):
        text = getattr(c, name)
        if len(text) > MAX_TEXT or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text) \
                or (name in ("name", "value") and ";" in text):
            raise invalid(f"{field}.{name}", f"must be at most {MAX_TEXT} characters, without "
                          "control characters" + (" or ';'" if name in ("name", "value") else ""))
    if "=" in c.name:
        raise invalid(f"{field}.name", "must not contain '='")
    if not c.domain and not c.url:
        raise invalid(f"{field}.domain", "a cookie needs a domain or a url")
    host = c.domain[1:] if c.domain.startswith(".") else c.domain
    if c.domain and (" " in host or not all(host.split("."))):
        raise invalid(f"{field}.domain", f"{c.domain!r} is not a domain")
    if c.path and not c.path.startswith("/"):
        raise invalid(f"{field}.path", "must start with '/'")
    try:
        scheme = urllib.parse.urlsplit(c.url).scheme if c.url else ""
        _ = urllib.parse.urlsplit(c.url).port
    except ValueError as err:  # an unclosed IPv6 bracket, a port that is no number
        raise invalid(f"{field}.url", f"is not a URL ({err})") from None
    if c.url and scheme not in ("http", "https"):
        raise invalid(f"{field}.url", "must be an http(s) URL")
    if c.same_site not in SAME_SITE:
        raise invalid(f"{field}.same_site", "must be Strict, Lax or None")
    if not math.isfinite(c.expires) or c.expires < 0:
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


def cookie_from_cdp(c: dict) -> session_pb2.Cookie:
    """A cookie as CDP (Storage.getCookies) and Playwright report it; a session cookie's
    expiry (-1) reads as 0."""
    return session_pb2.Cookie(name=c["name"], value=c["value"], domain=c.get("domain", ""),
                              path=c.get("path", ""), expires=max(0.0, c.get("expires", 0) or 0),
                              http_only=c.get("httpOnly", False), secure=c.get("secure", False),
                              same_site=c.get("sameSite", "") or "")
