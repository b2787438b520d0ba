"""Credentials that cross component boundaries: the cluster secret and per-session tokens.

A CDP token is `<expiry>x<signature>`: an HMAC-SHA256 over the session id, project and expiry
under the cluster secret, in lower-case hex so it can also stand in a host name (host names are
case-insensitive; see the gateway's --cdp-host-suffix). The control plane issues it; a node's
relay or a gateway verifies it without a round trip. It opens one session only, never the account.

A live-view token is `lv<expiry>x<signature>`, signed over a different message, so neither kind
of token ever passes for the other: it opens one session's live view (screen and input) for a
few minutes, and no CDP endpoint takes it.

A URL token is `<expiry>x<signature>` over `url|<scope>|`, for links handed out to be used
without the account key (Airtop's file upload and download URLs); the scope names what it opens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import pathlib
import secrets
import time

AUTHORIZATION = "authorization"
PROJECT_HEADER = "x-browserplane-project"
# Initial metadata of a CreateSession answered from an earlier request with the same key.
REPLAYED_HEADER = "x-browserplane-replayed"


def bearer(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    """The bearer token of gRPC invocation metadata, or ''."""
    for key, value in metadata or ():
        if key == AUTHORIZATION and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def metadata_value(metadata: tuple[tuple[str, str | bytes], ...] | None, name: str) -> str:
    for key, value in metadata or ():
        if key == name and isinstance(value, str):
            return value
    return ""


def cluster_metadata(secret: str, project_id: str = "") -> tuple[tuple[str, str], ...]:
    """gRPC metadata for a cluster caller (node, gateway), optionally acting for a project."""
    md: tuple[tuple[str, str], ...] = ((AUTHORIZATION, f"Bearer {secret}"),)
    if project_id:
        md += ((PROJECT_HEADER, project_id),)
    return md


def is_cluster_secret(token: str, secret: str) -> bool:
    """Constant-time check of a presented secret (bytes, so any text compares safely)."""
    return bool(secret) and hmac.compare_digest(token.encode(), secret.encode())


def load_or_create_secret(path: pathlib.Path) -> str:
    """The cluster secret kept in the data dir (0600), created on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


LIVE_VIEW_PREFIX = "lv"


def issue_cdp_token(secret: str, session_id: str, project_id: str, expires_at: float) -> str:
    expiry = str(int(expires_at))
    return f"{expiry}x{_sign(secret, f'{session_id}|{project_id}|{expiry}')}"


def issue_live_view_token(secret: str, session_id: str, project_id: str, expires_at: float) -> str:
    expiry = str(int(expires_at))
    payload = f"live-view|{session_id}|{project_id}|{expiry}"
    return f"{LIVE_VIEW_PREFIX}{expiry}x{_sign(secret, payload)}"


@dataclasses.dataclass(frozen=True)
class TokenCheck:
    ok: bool
    reason: str = ""


def check_cdp_token(secret: str, token: str, session_id: str, project_id: str,
                    now: float | None = None) -> TokenCheck:
    """Checks a token against the session it claims; constant-time on the signature."""
    if token.lower().startswith(LIVE_VIEW_PREFIX):
        return TokenCheck(False, "a live-view token does not open CDP; use the session's "
                                 "connect URL")
    return _check(secret, token.lower(), f"{session_id}|{project_id}|", now)


def check_live_view_token(secret: str, token: str, session_id: str, project_id: str,
                          now: float | None = None) -> TokenCheck:
    """Checks a live-view token; CDP tokens are refused (the live view has its own)."""
    if not token.lower().startswith(LIVE_VIEW_PREFIX):
        return TokenCheck(False, "not a live-view token; use the live-view link the session "
                                 "API returned")
    return _check(secret, token.lower()[len(LIVE_VIEW_PREFIX):],
                  f"live-view|{session_id}|{project_id}|", now)


def issue_url_token(secret: str, scope: str, expires_at: float) -> str:
    """A token for a signed link that opens exactly `scope` (e.g. "airtop-upload|<project>|<id>")
    until `expires_at`."""
    expiry = str(int(expires_at))
    return f"{expiry}x{_sign(secret, f'url|{scope}|{expiry}')}"


def check_url_token(secret: str, token: str, scope: str, now: float | None = None) -> TokenCheck:
    return _check(secret, token.lower(), f"url|{scope}|", now)


def _check(secret: str, token: str, payload: str, now: float | None) -> TokenCheck:
    expiry, _, signature = token.partition("x")
    if not expiry.isdigit() or len(expiry) > 12 or not signature:
        return TokenCheck(False, "malformed token")
    expected = _sign(secret, payload + expiry)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return TokenCheck(False, "token does not open this session")
    if int(expiry) < (time.time() if now is None else now):
        return TokenCheck(False, "token expired")
    return TokenCheck(True)


def hash_api_key(key: str) -> str:
    """Keys are 256-bit random strings, so one SHA-256 is a safe at-rest form."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "bp_" + secrets.token_urlsafe(32)
