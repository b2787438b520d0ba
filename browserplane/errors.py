"""gRPC errors with a machine-readable reason (google.rpc.ErrorInfo), one vocabulary for all.

Servers raise `BrowserplaneError`; the interceptor in `grpc_server` turns it into a status whose
details carry `ErrorInfo(reason, domain, metadata)` and, when a retry makes sense, `RetryInfo`.
Clients (the gateway's dialects) read it back with `describe()`.
"""

from __future__ import annotations

import dataclasses

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "browserplane.dev"

# Reasons. Dialects map these (with the status code) to their own HTTP error bodies.
INVALID_ARGUMENT = "INVALID_ARGUMENT"
UNAUTHENTICATED = "UNAUTHENTICATED"
PERMISSION_DENIED = "PERMISSION_DENIED"
SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
SESSION_ENDED = "SESSION_ENDED"
PROFILE_NOT_FOUND = "PROFILE_NOT_FOUND"
EXTENSION_NOT_FOUND = "EXTENSION_NOT_FOUND"
PROJECT_NOT_FOUND = "PROJECT_NOT_FOUND"
NODE_NOT_FOUND = "NODE_NOT_FOUND"
QUEUE_FULL = "QUEUE_FULL"
QUEUE_TIMEOUT = "QUEUE_TIMEOUT"
PROJECT_CONCURRENCY_LIMIT = "PROJECT_CONCURRENCY_LIMIT"
NO_MATCHING_NODE = "NO_MATCHING_NODE"
BROWSER_LAUNCH_FAILED = "BROWSER_LAUNCH_FAILED"
NODE_UNAVAILABLE = "NODE_UNAVAILABLE"
TOKEN_INVALID = "TOKEN_INVALID"
API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
API_KEY_INACTIVE = "API_KEY_INACTIVE"
# Automation reasons.
ELEMENT_NOT_FOUND = "ELEMENT_NOT_FOUND"
NAVIGATION_FAILED = "NAVIGATION_FAILED"
TIMEOUT = "TIMEOUT"
ACTION_FAILED = "ACTION_FAILED"
PAGE_NOT_FOUND = "PAGE_NOT_FOUND"
FILE_NOT_FOUND = "FILE_NOT_FOUND"
NOT_CONFIGURED = "NOT_CONFIGURED"
# page intelligence
MODEL_NOT_CONFIGURED = "MODEL_NOT_CONFIGURED"
MODEL_FAILED = "MODEL_FAILED"        # the model service failed or answered nothing usable
BUDGET_EXCEEDED = "BUDGET_EXCEEDED"  # a credit or time limit stopped a model-backed call
CALL_NOT_FOUND = "CALL_NOT_FOUND"
# vaults
VAULT_NOT_FOUND = "VAULT_NOT_FOUND"
CREDENTIAL_NOT_FOUND = "CREDENTIAL_NOT_FOUND"
CREDIT_CARD_NOT_FOUND = "CREDIT_CARD_NOT_FOUND"
# A vault fill with no vault on the session, or no credential (part) for the page's origin.
VAULT_CREDENTIAL_MISSING = "VAULT_CREDENTIAL_MISSING"
# personas
PERSONA_NOT_FOUND = "PERSONA_NOT_FOUND"
TELEPHONY_UNAVAILABLE = "TELEPHONY_UNAVAILABLE"  # phone numbers and SMS: no provider (HTTP 501)
TELEPHONY_MESSAGE = ("phone numbers and SMS need a telephony provider, and this Browserplane has "
                     "none: personas have an email inbox only")
ARTIFACT_NOT_FOUND = "ARTIFACT_NOT_FOUND"
ARTIFACT_URL_EXPIRED = "ARTIFACT_URL_EXPIRED"  # a signed artifact URL past its expiry (HTTP 410)
ARTIFACT_URL_INVALID = "ARTIFACT_URL_INVALID"  # a signature that does not match (HTTP 403)
ARTIFACT_LIMIT = "ARTIFACT_LIMIT"  # a session's artifacts past their count or bytes bound
# A body or archive past a size or count limit (HTTP 413 in every dialect).
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
INTERNAL = "INTERNAL"


class BrowserplaneError(Exception):
    """An error a caller can act on: a gRPC code, a stable reason and details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        *,
        metadata: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})
        self.retry_after = retry_after

    def to_status(self) -> grpc.Status:
        # Errors echo what the caller sent; clipped, so a huge id cannot push the status past
        # gRPC's metadata limit (8 KiB), which would turn it into RESOURCE_EXHAUSTED.
        metadata = {k: _clip(v, 200) for k, v in self.metadata.items()}
        details = []
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=metadata)
        packed = any_pb2.Any()
        packed.Pack(info)
        details.append(packed)
        if self.retry_after is not None:
            retry = error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(seconds=max(1, int(round(self.retry_after))))
            )
            packed = any_pb2.Any()
            packed.Pack(retry)
            details.append(packed)
        status = status_pb2.Status(code=self.code.value[0], message=_clip(self.message, 1000),
                                   details=details)
        return rpc_status.to_status(status)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def invalid(field: str, message: str) -> BrowserplaneError:
    """INVALID_ARGUMENT naming the offending field, in the message and in the metadata."""
    return BrowserplaneError(
        grpc.StatusCode.INVALID_ARGUMENT, INVALID_ARGUMENT, f"{field}: {message}",
        metadata={"field": field},
    )


def too_large(field: str, message: str) -> BrowserplaneError:
    """What a client sent is past a limit; INVALID_ARGUMENT (a retry cannot help)."""
    return BrowserplaneError(
        grpc.StatusCode.INVALID_ARGUMENT, PAYLOAD_TOO_LARGE, f"{field}: {message}",
        metadata={"field": field},
    )


def undecodable(detail: str) -> BrowserplaneError:
    """The request's bytes are not the message the method takes (garbage on the gRPC port)."""
    return BrowserplaneError(grpc.StatusCode.INVALID_ARGUMENT, INVALID_ARGUMENT,
                             f"request: not a valid message for this method ({detail})",
                             metadata={"field": "request"})


def internal(kind: str) -> BrowserplaneError:
    """A bug on the server's side; the details are in its log, not in the answer."""
    return BrowserplaneError(grpc.StatusCode.INTERNAL, INTERNAL,
                             f"internal error ({kind}); the server logged the details")


def not_found(reason: str, what: str, ident: str) -> BrowserplaneError:
    return BrowserplaneError(grpc.StatusCode.NOT_FOUND, reason, f"{what} {ident!r} not found",
                             metadata={"id": ident})


def telephony_unavailable() -> BrowserplaneError:
    return BrowserplaneError(grpc.StatusCode.UNIMPLEMENTED, TELEPHONY_UNAVAILABLE, TELEPHONY_MESSAGE)


@dataclasses.dataclass
class ErrorDescription:
    code: grpc.StatusCode
    reason: str
    message: str
    metadata: dict[str, str]
    retry_after: float | None


def describe(error: grpc.RpcError) -> ErrorDescription:
    """Reads code, reason, message and retry hint back from an RpcError on the client side."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    reason, metadata, retry_after = code.name, {}, None
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    return ErrorDescription(code, reason, message or "", metadata, retry_after)
