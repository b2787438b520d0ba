"""A session's vault, as the node reads it while filling a login form.

The node fetches a credential from the control plane (as a cluster caller acting for the
session's project) at the moment a Fill asks for it, picks the secret asked for and hands it to
the page; nothing keeps it afterwards. What reaches callers, logs and models is only which part
was filled (username, password...), never the value.
"""

from __future__ import annotations

import grpc

from browserplane import errors, totp
from browserplane.credentials import PROJECT_HEADER
from browserplane.errors import BrowserplaneError
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from browserplane.vault_origins import matches, origin_text

SECRET_NAMES = {A.VAULT_USERNAME: "username", A.VAULT_EMAIL: "email",
                A.VAULT_PASSWORD: "password", A.VAULT_MFA_CODE: "mfa_code"}
TIMEOUT_S = 10


def missing(message: str) -> BrowserplaneError:
    return BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.VAULT_CREDENTIAL_MISSING,
                             message)


def pick(credential: cp.Credential, which: int) -> str:
    """The part of a credential a Fill asked for (username and email stand in for each other)."""
    if which == A.VAULT_USERNAME:
        value = credential.username or credential.email
    elif which == A.VAULT_EMAIL:
        value = credential.email or credential.username
    elif which == A.VAULT_PASSWORD:
        value = credential.password
    elif which == A.VAULT_MFA_CODE:
        value = totp.code(credential.mfa_secret) if credential.mfa_secret else ""
    else:
        raise errors.invalid("vault_secret", "one of VAULT_USERNAME, VAULT_EMAIL, VAULT_PASSWORD, "
                                             "VAULT_MFA_CODE")
    if not value:
        raise missing(f"the vault's credential for {origin_text(credential.url)} has no "
                      f"{SECRET_NAMES[which]}; nothing was filled")
    return value


class VaultCredentials:
    """Reads vault credentials from the control plane (the node's link, cluster metadata)."""

    def __init__(self, stub: controlplane_pb2_grpc.ControlPlaneStub,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        self.stub = stub
        self.metadata = metadata

    def _md(self, project_id: str) -> tuple[tuple[str, str], ...]:
        return (*self.metadata, (PROJECT_HEADER, project_id))

    async def secret(self, project_id: str, vault_id: str, url: str, which: int) -> str:
        """The secret `which` of the vault's credential for `url`'s origin."""
        if not vault_id:
            raise missing("this session was started without a vault (SessionOptions.vault_id); "
                          "nothing was filled")
        if not url.startswith(("http://", "https://")):
            raise missing(f"a vault credential is filled on http(s) pages only, not {url[:100]!r}")
        try:
            credential = await self.stub.GetCredentials(
                cp.GetCredentialsRequest(vault_id=vault_id, url=url), metadata=self._md(project_id),
                timeout=TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise missing(f"{err.details()}; nothing was filled") from None
            raise BrowserplaneError(grpc.StatusCode.UNAVAILABLE, errors.NODE_UNAVAILABLE,
                                    "the vault could not be read from the control plane "
                                    f"({err.code().name})") from None
        return pick(credential, which)

    async def available(self, project_id: str, vault_id: str, url: str) -> list[str]:
        """What the vault can fill on `url` (["username", "password", ...]), without a secret
        leaving the control plane; [] when nothing (or the vault cannot be read)."""
        if not vault_id or not url.startswith(("http://", "https://")):
            return []
        try:
            listed = await self.stub.ListCredentials(
                cp.ListCredentialsRequest(vault_id=vault_id), metadata=self._md(project_id),
                timeout=TIMEOUT_S)
        except grpc.aio.AioRpcError:
            return []
        for info in listed.credentials:
            if matches(info.url, url):
                return ["username", "password", *(["mfa_code"] if info.has_mfa else [])]
        return []
