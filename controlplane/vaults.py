"""Vaults: a project's site credentials and one credit card, sealed at rest.

Each vault is one StoredVault record sealed whole by the store (record_cipher: AES-256-GCM under
the control plane's secret key, "vault:" + id as associated data). Secrets leave only through
`credential` and `credit_card`; everything listed is a CredentialInfo, which has no secret field.
No secret is put into an error message or a log line here.
"""

from __future__ import annotations

import time
import uuid

import grpc

from browserplane import errors, totp
from browserplane.errors import BrowserplaneError, not_found
from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.vault_origins import matches, origin_key, origin_text
from controlplane.store import Store
from controlplane.validation import offset_page

MAX_CREDENTIALS = 1000  # per vault
MAX_FIELD = 4096        # characters in one credential or card field
MAX_NAME = 256


def _check_field(name: str, value: str) -> None:
    if len(value) > MAX_FIELD:
        raise errors.invalid(name, f"at most {MAX_FIELD} characters")


class VaultService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _stored(self, project_id: str, vault_id: str) -> cp.StoredVault:
        stored = self.store.vault(vault_id) if vault_id else None
        if stored is None or stored.vault.project_id != project_id:
            raise not_found(errors.VAULT_NOT_FOUND, "vault", vault_id)
        return stored

    def _save(self, stored: cp.StoredVault) -> cp.Vault:
        stored.vault.updated_at.CopyFrom(timestamp(time.time()))
        stored.vault.credential_count = len(stored.credentials)
        stored.vault.has_credit_card = bool(stored.credit_card.card_number)
        self.store.save_vault(stored)
        return stored.vault

    def create(self, project_id: str, name: str, persona_id: str = "") -> cp.Vault:
        if len(name) > MAX_NAME:
            raise errors.invalid("name", f"at most {MAX_NAME} characters")
        now = timestamp(time.time())
        stored = cp.StoredVault(vault=cp.Vault(
            id="vault_" + uuid.uuid4().hex, project_id=project_id, name=name or "default",
            created_at=now, updated_at=now, persona_id=persona_id))
        return self._save(stored)

    def list(self, project_id: str, request: cp.ListVaultsRequest) -> cp.ListVaultsResponse:
        offset, size = offset_page(request.page_size, request.page_token)
        found = [v.vault for v in self.store.vaults(project_id, offset, size)]
        total = self.store.count_vaults(project_id)
        token = str(offset + size) if offset + size < total else ""
        return cp.ListVaultsResponse(vaults=found, next_page_token=token, total_size=total)

    def get(self, project_id: str, vault_id: str) -> cp.Vault:
        return self._stored(project_id, vault_id).vault

    def rename(self, project_id: str, vault_id: str, name: str) -> cp.Vault:
        if not name or len(name) > MAX_NAME:
            raise errors.invalid("name", f"1-{MAX_NAME} characters")
        stored = self._stored(project_id, vault_id)
        stored.vault.name = name
        return self._save(stored)

    def delete(self, project_id: str, vault_id: str) -> None:
        self._stored(project_id, vault_id)
        self.store.delete_vault(vault_id)

    def add_credential(self, project_id: str, vault_id: str, credential: cp.Credential) -> cp.CredentialInfo:
        stored = self._stored(project_id, vault_id)
        origin_key(credential.url)  # a URL or host, checked before anything is kept
        if not credential.password:
            raise errors.invalid("credential.password", "is required")
        for name in ("url", "username", "email", "password", "mfa_secret"):
            _check_field(f"credential.{name}", getattr(credential, name))
        if credential.mfa_secret:
            totp.check_secret(credential.mfa_secret)
        now = timestamp(time.time())
        info = cp.CredentialInfo(url=credential.url.strip(), username=credential.username,
                                 email=credential.email, has_mfa=bool(credential.mfa_secret),
                                 created_at=now, updated_at=now)
        kept = cp.Credential()
        kept.CopyFrom(credential)
        kept.url = info.url
        for i, old in enumerate(stored.credentials):
            if origin_key(old.url) == origin_key(kept.url):  # one credential per origin
                info.created_at.CopyFrom(stored.infos[i].created_at)
                stored.credentials[i].CopyFrom(kept)
                stored.infos[i].CopyFrom(info)
                break
        else:
            if len(stored.credentials) >= MAX_CREDENTIALS:
                raise errors.too_large("credential", f"a vault holds at most {MAX_CREDENTIALS}")
            stored.credentials.append(kept)
            stored.infos.append(info)
        self._save(stored)
        return info

    def _find(self, stored: cp.StoredVault, url: str) -> int:
        origin_key(url)
        # An exact origin first, then a bare-host entry.
        order = sorted(range(len(stored.credentials)),
                       key=lambda i: origin_key(stored.credentials[i].url)[0] == "")
        for i in order:
            if matches(stored.credentials[i].url, url):
                return i
        raise BrowserplaneError(
            grpc.StatusCode.NOT_FOUND, errors.CREDENTIAL_NOT_FOUND,
            f"vault {stored.vault.id!r} holds no credential for {origin_text(url)}",
            metadata={"id": stored.vault.id})

    def credential(self, project_id: str, vault_id: str, url: str) -> cp.Credential:
        stored = self._stored(project_id, vault_id)
        return stored.credentials[self._find(stored, url)]

    def credentials(self, project_id: str, vault_id: str) -> list[cp.CredentialInfo]:
        return list(self._stored(project_id, vault_id).infos)

    def delete_credential(self, project_id: str, vault_id: str, url: str) -> None:
        stored = self._stored(project_id, vault_id)
        i = self._find(stored, url)
        del stored.credentials[i]
        del stored.infos[i]
        self._save(stored)

    def set_credit_card(self, project_id: str, vault_id: str, card: cp.CreditCard) -> cp.Vault:
        stored = self._stored(project_id, vault_id)
        for name in ("card_holder_name", "card_number", "card_cvv", "card_full_expiration"):
            value = getattr(card, name)
            if not value:
                raise errors.invalid(f"credit_card.{name}", "is required")
            _check_field(f"credit_card.{name}", value)
        stored.credit_card.CopyFrom(card)
        return self._save(stored)

    def credit_card(self, project_id: str, vault_id: str) -> cp.CreditCard:
        stored = self._stored(project_id, vault_id)
        if not stored.credit_card.card_number:
            raise not_found(errors.CREDIT_CARD_NOT_FOUND, "credit card of vault", vault_id)
        return stored.credit_card

    def delete_credit_card(self, project_id: str, vault_id: str) -> None:
        stored = self._stored(project_id, vault_id)
        if not stored.credit_card.card_number:
            raise not_found(errors.CREDIT_CARD_NOT_FOUND, "credit card of vault", vault_id)
        stored.ClearField("credit_card")
        self._save(stored)

