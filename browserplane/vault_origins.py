"""Which site a vault credential serves: its URL's origin against a page's. Shared by the
control plane (which credential a lookup answers) and the node (whether the agent is told a
credential is available for the page)."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

from browserplane import errors

# A DNS name (labels of letters, digits and hyphens) or an IP literal; nothing else is a host.
LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(\.{LABEL})*\.?$")


def origin_key(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL or a bare host; scheme "" for a bare host ("github.com").
    Raises INVALID_ARGUMENT for what is neither."""
    text = url.strip()
    if not text:
        raise errors.invalid("url", "is required")
    if "://" not in text:
        text = "//" + text  # a bare host
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        raise errors.invalid("url", "not a URL or a host name") from None
    host = (parts.hostname or "").lower()
    if not host or not (HOST_NAME.match(host) or _is_ip(host)):
        raise errors.invalid("url", "not a URL or a host name")
    scheme = parts.scheme.lower()
    if scheme and port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def matches(stored: str, wanted: str) -> bool:
    """Whether a stored credential URL serves the page (or origin) `wanted`: the same host, and
    the same scheme and port unless the stored URL is a bare host."""
    s_scheme, s_host, s_port = origin_key(stored)
    w_scheme, w_host, w_port = origin_key(wanted)
    if s_host.removeprefix("www.") != w_host.removeprefix("www."):
        return False
    if not s_scheme:
        return s_port is None or s_port == w_port
    return (s_scheme, s_port) == (w_scheme, w_port)


def origin_text(url: str) -> str:
    scheme, host, port = origin_key(url)
    return f"{scheme + '://' if scheme else ''}{host}{':' + str(port) if port else ''}"
