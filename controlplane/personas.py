"""Personas: disposable identities with a real mailbox, per project.

A persona is a generated name and an address `<first>.<last>.<random>@<persona domain>`; mail
for it arrives through controlplane/smtp_receiver.py and is kept here. Personas and mails are
sealed at rest by the store (record_cipher; names, addresses and bodies are personal data), and
an address is looked up by its SHA-256, so none is readable in the database file. Bounds:
personas per project, mails per persona (the oldest is dropped), and a retention age.
Phone numbers need a telephony provider; asking for one is UNIMPLEMENTED.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import sqlite3
import string
import time
import uuid

import grpc

from browserplane import errors
from browserplane.errors import BrowserplaneError
from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2 as cp
from controlplane.store import Store
from controlplane.validation import offset_page
from controlplane.vaults import VaultService

MAX_NAME = 256
MAX_LISTED = 100
FIRST_NAMES = ("alex", "sam", "jordan", "taylor", "morgan", "casey", "robin", "jamie", "riley",
               "avery", "quinn", "charlie", "emery", "rowan", "sasha", "noor", "kim", "lee",
               "dana", "eli")
LAST_NAMES = ("smith", "martin", "garcia", "muller", "rossi", "dubois", "silva", "novak", "berg",
              "kowalski", "jensen", "moreau", "costa", "weber", "lopez", "meyer", "olsen",
              "horvat", "keller", "brooks")
LOCAL_ALPHABET = string.ascii_lowercase + string.digits


@dataclasses.dataclass(frozen=True)
class PersonaLimits:
    domain: str = "personas.localhost"
    per_project: int = 100
    mails_per_persona: int = 100
    retention_seconds: float = 7 * 86400
    receiving: bool = False  # the SMTP receiver is on


def address_hash(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode("utf-8", "surrogateescape")).hexdigest()


def not_found(persona_id: str) -> BrowserplaneError:
    # The notte-sdk reads "already ... not found" on a second delete as "was already deleted".
    return BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.PERSONA_NOT_FOUND,
                             f"persona {persona_id!r} not found (already deleted, or not "
                             "this project's)", metadata={"id": persona_id})


class PersonaService:
    def __init__(self, store: Store, vaults: VaultService, limits: PersonaLimits) -> None:
        self.store = store
        self.vaults = vaults
        self.limits = limits

    def _owned(self, project_id: str, persona_id: str) -> cp.Persona:
        persona = self.store.persona(persona_id) if persona_id else None
        if persona is None or persona.project_id != project_id:
            raise not_found(persona_id)
        persona.email_count = self.store.count_persona_emails(persona.id)
        persona.mail_receiving = self.limits.receiving
        return persona

    def create(self, project_id: str, request: cp.CreatePersonaRequest) -> cp.Persona:
        if request.create_phone_number:
            raise errors.telephony_unavailable()
        if len(request.name) > MAX_NAME:
            raise errors.invalid("name", f"at most {MAX_NAME} characters")
        if self.store.count_personas(project_id) >= self.limits.per_project:
            raise errors.too_large("personas", f"a project holds at most {self.limits.per_project}"
                                   " (delete one first)")
        persona = cp.Persona(id="persona_" + uuid.uuid4().hex, project_id=project_id,
                             name=request.name, first_name=secrets.choice(FIRST_NAMES).title(),
                             last_name=secrets.choice(LAST_NAMES).title(),
                             created_at=timestamp(time.time()))
        for _ in range(5):  # a collision of 10 random characters is all but impossible
            local = "".join(secrets.choice(LOCAL_ALPHABET) for _ in range(10))
            persona.email = (f"{persona.first_name}.{persona.last_name}.{local}@"
                             f"{self.limits.domain}").lower()
            try:
                self.store.save_persona(persona, address_hash(persona.email))
                break
            except sqlite3.IntegrityError:
                continue
        else:
            raise errors.internal("no free persona address")
        if request.create_vault:
            vault = self.vaults.create(project_id, f"persona {persona.first_name} {persona.last_name}",
                                       persona_id=persona.id)
            persona.vault_id = vault.id
            self.store.save_persona(persona, address_hash(persona.email))
        persona.mail_receiving = self.limits.receiving
        return persona

    def list(self, project_id: str, request: cp.ListPersonasRequest) -> cp.ListPersonasResponse:
        offset, size = offset_page(request.page_size, request.page_token)
        found = self.store.personas(project_id, offset, size)
        for persona in found:
            persona.email_count = self.store.count_persona_emails(persona.id)
            persona.mail_receiving = self.limits.receiving
        total = self.store.count_personas(project_id)
        token = str(offset + size) if offset + size < total else ""
        return cp.ListPersonasResponse(personas=found, next_page_token=token, total_size=total)

    def get(self, project_id: str, persona_id: str) -> cp.Persona:
        return self._owned(project_id, persona_id)

    def rename(self, project_id: str, persona_id: str, name: str) -> cp.Persona:
        if not name or len(name) > MAX_NAME:
            raise errors.invalid("name", f"1-{MAX_NAME} characters")
        persona = self._owned(project_id, persona_id)
        persona.name = name
        self.store.save_persona(persona, address_hash(persona.email))
        return persona

    def delete(self, project_id: str, persona_id: str) -> None:
        persona = self._owned(project_id, persona_id)
        self.store.delete_persona(persona.id)  # its mail goes with it
        if persona.vault_id:
            try:
                self.vaults.delete(project_id, persona.vault_id)
            except BrowserplaneError:
                pass  # deleted on its own before

    def emails(self, project_id: str, request: cp.ListPersonaEmailsRequest) -> list[cp.PersonaEmail]:
        persona = self._owned(project_id, request.persona_id)
        limit = request.limit or 10
        if limit > MAX_LISTED:
            raise errors.invalid("limit", f"at most {MAX_LISTED}")
        if request.newer_than_seconds < 0:
            raise errors.invalid("newer_than_seconds", "must not be negative")
        since = time.time() - request.newer_than_seconds if request.newer_than_seconds else None
        found = self.store.persona_emails(persona.id, limit, request.only_unread, since)
        if request.mark_read:
            self.store.mark_emails_read([m.id for m in found if not m.read])
        return found

    # -- what the SMTP receiver asks ---------------------------------------------------------

    def recipient(self, address: str) -> cp.Persona | None:
        """The persona an address belongs to; None for an unknown one or another domain."""
        _, _, domain = address.rpartition("@")
        if domain.lower() != self.limits.domain.lower():
            return None
        return self.store.persona_by_address(address_hash(address))

    def deliver(self, persona_id: str, mail: cp.PersonaEmail) -> bool:
        """Keeps a mail for a persona (False: it was deleted meanwhile)."""
        if self.store.persona(persona_id) is None:
            return False
        kept = cp.PersonaEmail()
        kept.CopyFrom(mail)
        kept.id = "email_" + uuid.uuid4().hex
        kept.persona_id = persona_id
        self.store.add_persona_email(kept, self.limits.mails_per_persona)
        return True

    def forget_old(self) -> int:
        return self.store.forget_emails_before(time.time() - self.limits.retention_seconds)
