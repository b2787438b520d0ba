"""Time-based one-time passwords (RFC 6238, the 6-digit SHA-1 codes authenticator apps show),
from a vault credential's base32 MFA secret."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time

from browserplane import errors


def _key(secret: str) -> bytes:
    text = secret.replace(" ", "").replace("-", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def check_secret(secret: str) -> None:
    """INVALID_ARGUMENT (without echoing it) when the secret is not base32."""
    try:
        if not _key(secret):
            raise ValueError
    except (binascii.Error, ValueError):
        raise errors.invalid("credential.mfa_secret", "not a base32 TOTP secret") from None


def code(secret: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)
