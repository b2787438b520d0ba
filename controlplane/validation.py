"""Checks of session options. Each failure names the field (INVALID_ARGUMENT)."""

from __future__ import annotations

import functools
import math
import re
import urllib.parse
import zoneinfo

from google.protobuf import struct_pb2

from browserplane.chrome_flags import FlagRefused, check_flags
from browserplane.cookies import check_cookie
from browserplane.errors import BrowserplaneError, invalid
from browserplane.v1 import controlplane_pb2, session_pb2

MAX_VIEWPORT = (7680, 4320)
MAX_SECONDS = 7 * 24 * 3600
LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-/]{0,62}[A-Za-z0-9])?$")
HOST_PATTERN = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$")
PROXY_SCHEMES = {"http", "https", "socks4", "socks5"}
MAX_EXTRA_HEADERS = 50
# Headers that frame the request or route it: the browser owns them.
FRAMING_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "upgrade", "te",
                   "trailer", "keep-alive", "expect"}
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
MAX_TEXT = 2048        # proxy servers, patterns, cookie fields: far above any real one
MAX_METADATA_DEPTH = 32
MAX_PAGE_TOKEN = 256


def _control(text: str) -> bool:
    """Control characters (NUL, CR, LF, ...): they end lines and strings wherever text goes
    next (a Chromium flag, a CDP command, a header)."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _line(field: str, text: str, limit: int = MAX_TEXT) -> None:
    if len(text) > limit or _control(text):
        raise invalid(field, f"must be one line of at most {limit} characters")


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
    _line("options.user_agent", o.user_agent, 1024)
    if o.locale and not LOCALE.fullmatch(o.locale):
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
        _line(f"options.extension_ids[{i}]", ext, 256)
    if o.HasField("profile") and not o.profile.profile_id:
        raise invalid("options.profile.profile_id", "is required when a profile is given")
    if o.HasField("profile"):
        _line("options.profile.profile_id", o.profile.profile_id, 256)
    if o.idle_timeout_seconds > MAX_SECONDS:
        raise invalid("options.idle_timeout_seconds", f"must be at most {MAX_SECONDS}")
    if o.max_duration_seconds > MAX_SECONDS:
        raise invalid("options.max_duration_seconds", f"must be at most {MAX_SECONDS}")
    for i, c in enumerate(o.cookies):
        check_cookie(f"options.cookies[{i}]", c)
    validate_labels("options.labels", dict(o.labels))
    for key, value in o.node_selector.items():
        if not key:
            raise invalid("options.node_selector", "keys must not be empty")
        _line(f"options.node_selector[{key[:64]!r}]", key, 256)
        _line(f"options.node_selector[{key[:64]!r}]", value, 256)
    if o.HasField("user_metadata"):
        if o.user_metadata.ByteSize() > 64 * 1024:
            raise invalid("options.user_metadata", "must be at most 64 KiB")
        _check_json_value("options.user_metadata", o.user_metadata)
    for i, domain in enumerate(o.allowed_domains):
        if len(domain) > 253 or not HOST_PATTERN.fullmatch(domain):
            raise invalid(f"options.allowed_domains[{i}]",
                          "must be a host name or a pattern such as *.example.com")
    if len(o.extra_http_headers) > MAX_EXTRA_HEADERS:
        raise invalid("options.extra_http_headers", f"at most {MAX_EXTRA_HEADERS} headers")
    for i, header in enumerate(o.extra_http_headers):
        name, sep, value = header.partition(":")
        if not sep or not HEADER_NAME.fullmatch(name.strip()) or _control(value.replace("\t", " ")) \
                or len(header) > 8192:
            raise invalid(f"options.extra_http_headers[{i}]", "must be 'Name: value'")
        if name.strip().lower() in FRAMING_HEADERS or name.strip().lower().startswith("proxy-"):
            raise invalid(f"options.extra_http_headers[{i}]",
                          f"{name.strip()} is set by the browser itself and cannot be added")
    try:
        check_flags(tuple(o.chrome_args))
    except FlagRefused as err:
        raise invalid(f"options.chrome_args[{err.index}]", str(err)) from None


def _check_proxy(field: str, rule: session_pb2.ProxyRule) -> None:
    _line(f"{field}.domain_pattern", rule.domain_pattern)
    for i, host in enumerate(rule.bypass):
        _line(f"{field}.bypass[{i}]", host)
    _line(f"{field}.country", rule.country, 64)
    if rule.kind == session_pb2.ProxyRule.NONE:
        return
    if not rule.server:
        raise invalid(f"{field}.server", "is required for an external proxy")
    # The server ends up in a Chromium flag: one line, no spaces, and a URL urllib reads the
    # same way Chromium does (urlsplit silently drops CR, LF and tabs, so check first).
    if _control(rule.server) or " " in rule.server or len(rule.server) > MAX_TEXT:
        raise invalid(f"{field}.server", "must be a proxy URL such as http://host:port, without "
                      "spaces or control characters")
    _line(f"{field}.username", rule.username)
    _line(f"{field}.password", rule.password)
    try:
        parsed = urllib.parse.urlsplit(rule.server if "://" in rule.server else "http://" + rule.server)
        port = parsed.port
    except ValueError as err:  # "Invalid IPv6 URL", a port that is not a number or out of range
        raise invalid(f"{field}.server", f"{rule.server!r} is not host:port ({err})") from None
    if parsed.scheme not in PROXY_SCHEMES:
        raise invalid(f"{field}.server", f"scheme must be one of {sorted(PROXY_SCHEMES)}")
    if not parsed.hostname or (port is not None and not 0 < port < 65536):
        raise invalid(f"{field}.server", f"{rule.server!r} is not host:port")
    if (rule.username or rule.password) and parsed.scheme.startswith("socks"):
        raise invalid(f"{field}.username", "Chromium cannot authenticate to SOCKS proxies")


def validate_labels(field: str, labels: dict[str, str]) -> None:
    """Labels as CreateSession takes them; UpdateSession checks the merged set the same way."""
    if len(labels) > 64:
        raise invalid(field, "at most 64 labels")
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            raise invalid(f"{field}[{key[:64]!r}]", "keys are 1-64 of [A-Za-z0-9_.-/]")
        if len(value) > 256:
            raise invalid(f"{field}[{key!r}]", "values are at most 256 characters")


def validate_update(request: controlplane_pb2.UpdateSessionRequest,
                    current: session_pb2.SessionOptions) -> None:
    """What UpdateSession changes is checked as CreateSession would check it."""
    validate_labels("labels", {**current.labels, **request.labels})
    validate_save_profile(request)


def validate_save_profile(request: controlplane_pb2.UpdateSessionRequest) -> None:
    if request.HasField("save_profile"):
        if not request.save_profile.profile_id:
            raise invalid("save_profile.profile_id", "is required when save_profile is given")
        _line("save_profile.profile_id", request.save_profile.profile_id, 256)


def _check_json_value(field: str, struct: struct_pb2.Struct) -> None:
    """user_metadata is answered as JSON: finite numbers only, bounded depth."""
    stack: list[tuple[struct_pb2.Value, int]] = [
        (value, 1) for value in struct.fields.values()]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise invalid(field, f"is nested deeper than {MAX_METADATA_DEPTH} levels")
        kind = value.WhichOneof("kind")
        if kind == "number_value" and not math.isfinite(value.number_value):
            raise invalid(field, "numbers must be finite (JSON has no NaN or Infinity)")
        if kind == "struct_value":
            stack.extend((v, depth + 1) for v in value.struct_value.fields.values())
        elif kind == "list_value":
            stack.extend((v, depth + 1) for v in value.list_value.values)


def check_page_token(token: str, field: str = "page_token") -> None:
    """Tokens are short and printable; anything else was not issued here."""
    if len(token) > MAX_PAGE_TOKEN or _control(token):
        raise invalid(field, "not a token this server issued")


def session_cursor(token: str) -> tuple[float, str] | None:
    """ListSessions' token, "<created seconds>/<last id>", read back; INVALID_ARGUMENT if it is
    not one (a 400-digit number is not a time)."""
    if not token:
        return None
    check_page_token(token)
    created, sep, last_id = token.partition("/")
    try:
        value = float(created)
    except ValueError:
        value = math.nan
    if not sep or len(created) > 32 or not math.isfinite(value) or value < 0:
        raise invalid("page_token", "not a token this server issued")
    return value, last_id


def profile_offset(token: str) -> int:
    """ListProfiles' token (an offset) read back; INVALID_ARGUMENT if it is not one."""
    if not token:
        return 0
    check_page_token(token)
    if not token.isdigit() or not token.isascii() or len(token) > 9:
        raise invalid("page_token", "not a token this server issued")
    return int(token)


def check_page_size(value: int, field: str = "page_size", maximum: int = 1000) -> int:
    if value > maximum:
        raise invalid(field, f"must be at most {maximum}")
    return value or 100


__all__ = ["BrowserplaneError", "check_page_size", "profile_offset", "session_cursor",
           "validate_options", "validate_update"]


def offset_page(page_size: int, page_token: str) -> tuple[int, int]:
    """A list request's page as (offset, size): the token is the offset a previous answer
    handed out; at most 1000 a page, 100 when unset."""
    size = page_size or 100
    if size > 1000:
        raise invalid("page_size", "must be at most 1000")
    try:
        offset = int(page_token or 0)
    except ValueError:
        raise invalid("page_token", "not a token from a previous answer") from None
    if offset < 0:
        raise invalid("page_token", "not a token from a previous answer")
    return offset, size
