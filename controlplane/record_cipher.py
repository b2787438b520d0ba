"""Encryption at rest for what the control plane stores about sessions.

A session's record holds credentials a tenant handed over: proxy usernames and passwords,
cookies, extra HTTP headers, its CDP token. The store seals every session record with
AES-256-GCM (the `cryptography` package) under a key the operator gives
(`BROWSERPLANE_CONTROLPLANE_SECRET_KEY`) or one kept in the data dir (`secret-key`, 0600). The
session id is the associated data, so a sealed record cannot be moved onto another row.
Records written before sealing existed are read as they are and sealed on start-up.
"""

from __future__ import annotations

import base64
import binascii
import os
import pathlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# A serialized protobuf never starts with 0x01 (field number 0 does not exist), so the first
# byte tells a sealed record from one written before sealing.
SEALED = b"\x01"
NONCE_BYTES = 12
KEY_HINT = ("a base64 encoding of 32 random bytes, e.g. the output of "
            "`python3 -c \"import base64, secrets; print(base64.urlsafe_b64encode("
            "secrets.token_bytes(32)).decode())\"`")


class WrongKey(Exception):
    """A sealed record does not open with this key (another key sealed it, or it was altered)."""


class RecordCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def load(cls, configured: str, path: pathlib.Path) -> RecordCipher:
        """The operator's key when given, else the one in `path` (created 0600 on first use)."""
        if configured:
            return cls(parse_key(configured))
        try:
            return cls(parse_key(path.read_text()))
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        text = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        return cls(parse_key(text))

    def seal(self, data: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return SEALED + nonce + self._aead.encrypt(nonce, data, context.encode())

    def open(self, blob: bytes, context: str) -> bytes:
        if not is_sealed(blob):
            return blob  # written before records were sealed
        nonce, body = blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise WrongKey("a stored record does not open with the configured secret key") from None


def is_sealed(blob: bytes) -> bool:
    return blob[:1] == SEALED


def parse_key(text: str) -> bytes:
    text = text.strip().replace("+", "-").replace("/", "_")  # either base64 alphabet
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise SystemExit(f"the control plane's secret key must be {KEY_HINT}")
    return key
