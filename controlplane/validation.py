"""Checks of session options. Each failure names the field (INVALID_ARGUMENT)."""

from __future__ import annotations

import functools
import re
import urllib.parse
import zoneinfo

from browserplane.cookies import check_cookie
from browserplane.errors import BrowserplaneError, invalid
from browserplane.v1 import session_pb2

MAX_VIEWPORT = (7680, 4320)
MAX_SECONDS = 7 * 24 * 3600
LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-/]{0,62}[A-Za-z0-9])?$")
HOST_PATTERN = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$")
PROXY_SCHEMES = {"http", "https", "socks4", "socks5"}


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_options(o: session_pb2.SessionOptions) -> None:
    """Raises BrowserplaneError(INVALID_ARGUMENT) naming the first bad field."""
    if o.HasField("viewport"):
        v = o.viewport
        if not 1 <= v.width <= MAX_VIEWPORT[0]:
            raise invalid("options.viewport.width", f"must be 1..{MAX_VIEWPORT[0]}, got {v.width}")
        if not 1 <= v.height <= MAX_VIEWPORT[1]:
            raise invalid("options.viewport.height",
                          f"must be 1..{MAX_VIEWPORT[1]}, got {v.height}")
        if v.device_scale_factor and not 0.1 <= v.device_scale_factor <= 5:
            raise invalid("options.viewport.device_scale_factor", "must be 0.1..5")
    if len(o.user_agent) > 1024 or any(c in o.user_agent for c in "\r\n\0"):
        raise invalid("options.user_agent", "must be one line of at most 1024 characters")
    if o.locale and not LOCALE.match(o.locale):
        raise invalid("options.locale", f"{o.locale!r} is not a BCP 47 language tag")
    if o.timezone and o.timezone not in _timezones():
        raise invalid("options.timezone", f"{o.timezone!r} is not an IANA time zone")
    for i, rule in enumerate(o.proxies):
        _check_proxy(f"options.proxies[{i}]", rule)
    for i, kind in enumerate(o.blocked_resource_types):
        if kind == session_pb2.RESOURCE_TYPE_UNSPECIFIED:
            raise invalid(f"options.blocked_resource_types[{i}]", "resource type is unspecified")
    for i, ext in enumerate(o.extension_ids):
        if not ext:
            raise invalid(f"options.extension_ids[{i}]", "must not be empty")
    if o.HasField("profile") and not o.profile.profile_id:
        raise invalid("options.profile.profile_id", "is required when a profile is given")
    if o.idle_timeout_seconds > MAX_SECONDS:
        raise invalid("options.idle_timeout_seconds", f"must be at most {MAX_SECONDS}")
    if o.max_duration_seconds > MAX_SECONDS:
        raise invalid("options.max_duration_seconds", f"must be at most {MAX_SECONDS}")
    for i, c in enumerate(o.cookies):
        check_cookie(f"options.cookies[{i}]", c)
    if len(o.labels) > 64:
        raise invalid("options.labels", "at most 64 labels")
    for key, value in o.labels.items():
        if not LABEL_KEY.match(key):
            raise invalid(f"options.labels[{key!r}]", "keys are 1-64 of [A-Za-z0-9_.-/]")
        if len(value) > 256:
            raise invalid(f"options.labels[{key!r}]", "values are at most 256 characters")
    for key in o.node_selector:
        if not key:
            raise invalid("options.node_selector", "keys must not be empty")
    if o.HasField("user_metadata") and o.user_metadata.ByteSize() > 64 * 1024:
        raise invalid("options.user_metadata", "must be at most 64 KiB")
    for i, domain in enumerate(o.allowed_domains):
        if not HOST_PATTERN.match(domain):
            raise invalid(f"options.allowed_domains[{i}]",
                          "must be a host name or a pattern such as *.example.com")
    for i, header in enumerate(o.extra_http_headers):
        name, sep, _ = header.partition(":")
        if not sep or not name.strip() or any(c in header for c in "\r\n"):
            raise invalid(f"options.extra_http_headers[{i}]", "must be 'Name: value'")


def _check_proxy(field: str, rule: session_pb2.ProxyRule) -> None:
    if rule.kind == session_pb2.ProxyRule.NONE:
        return
    if not rule.server:
        raise invalid(f"{field}.server", "is required for an external proxy")
    parsed = urllib.parse.urlsplit(rule.server if "://" in rule.server else "http://" + rule.server)
    if parsed.scheme not in PROXY_SCHEMES:
        raise invalid(f"{field}.server", f"scheme must be one of {sorted(PROXY_SCHEMES)}")
    try:
        port = parsed.port
    except ValueError:
        port = None
        raise invalid(f"{field}.server", "port is not a number") from None
    if not parsed.hostname or (port is not None and not 0 < port < 65536):
        raise invalid(f"{field}.server", f"{rule.server!r} is not host:port")
    if (rule.username or rule.password) and parsed.scheme.startswith("socks"):
        raise invalid(f"{field}.username", "Chromium cannot authenticate to SOCKS proxies")


def check_page_size(value: int, field: str = "page_size", maximum: int = 1000) -> int:
    if value > maximum:
        raise invalid(field, f"must be at most {maximum}")
    return value or 100


__all__ = ["BrowserplaneError", "check_page_size", "validate_options"]
