"""API keys and projects, and who a gRPC caller is.

A user's key opens its project only. The cluster secret (nodes, gateways, the CLI on the
control plane's machine) may act for any project named in `x-browserplane-project`.

Keys are stored as their SHA-256, with an optional expiry and a revocation time. Gateways keep
no key state (every call carries the key to this process), so what this ring answers is what
every gateway answers. Lookups are cached for at most CACHE_SECONDS, and a revocation through
this ring drops the cache at once; the cache bound only matters for keys changed in the
database by another process (the local `browserplane keys` commands).
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import grpc

from browserplane import errors
from browserplane.credentials import (
    PROJECT_HEADER,
    bearer,
    hash_api_key,
    is_cluster_secret,
    metadata_value,
    new_api_key,
)
from browserplane.errors import BrowserplaneError
from browserplane.v1 import controlplane_pb2
from controlplane.store import Store

CACHE_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Principal:
    project_id: str | None  # None: a cluster caller acting for no particular project
    cluster: bool = False


@dataclasses.dataclass(frozen=True)
class _Cached:
    project_id: str
    expires_at: float | None
    until: float  # monotonic time this entry may be trusted until


def key_id(key_hash: str) -> str:
    """The public name of a key: enough of its hash to find it, nothing to rebuild it from."""
    return "key_" + key_hash[:16]


class KeyRing:
    def __init__(self, store: Store, cluster_secret: str) -> None:
        self.store = store
        self.cluster_secret = cluster_secret
        self._cache: dict[str, _Cached] = {}

    def authenticate(self, metadata: tuple | None) -> Principal:
        token = bearer(metadata)
        if not token:
            raise BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                    "missing credentials: send 'authorization: Bearer <api key>'")
        if is_cluster_secret(token, self.cluster_secret):
            return Principal(metadata_value(metadata, PROJECT_HEADER) or None, cluster=True)
        project_id = self.project_for_key(token)
        if project_id is None:
            raise BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                    "invalid API key (unknown, revoked or expired)")
        return Principal(project_id)

    def project_for_key(self, key: str) -> str | None:
        """The project of a key that works now; None when unknown, revoked or expired."""
        digest = hash_api_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is None or cached.until < now:
            row = self.store.key_record(digest)
            self._cache.pop(digest, None)
            if row is None or row.revoked_at is not None:
                return None
            cached = _Cached(row.project_id, row.expires_at, now + CACHE_SECONDS)
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[digest] = cached
        if cached.expires_at is not None and cached.expires_at <= time.time():
            return None
        return cached.project_id

    def project(self, name: str) -> controlplane_pb2.Project:
        """The project called `name`, created when missing."""
        project = self.store.project_by_name(name)
        if project is None:
            project = self.store.create_project(str(uuid.uuid4()), name)
        return project

    def create_key(self, project_name: str, expires_at: float | None = None,
                   ) -> tuple[str, controlplane_pb2.Project, controlplane_pb2.ApiKey]:
        if expires_at is not None and expires_at <= time.time():
            raise errors.invalid("expires_at", "must be in the future")
        project = self.project(project_name)
        key = new_api_key()
        digest = hash_api_key(key)
        self.store.add_key(digest, key_id(digest), project.id, key[:7], expires_at)
        record = self.store.api_key(key_id(digest))
        assert record is not None
        return key, project, record

    def ensure_key(self, key: str, project_name: str = "default") -> controlplane_pb2.Project:
        """Makes sure `key` exists (for BROWSERPLANE_API_KEY); returns its project. A key that
        was revoked stays revoked."""
        digest = hash_api_key(key)
        row = self.store.key_record(digest)
        if row is not None:
            project = self.store.project(row.project_id)
            assert project is not None
            return project
        project = self.project(project_name)
        self.store.add_key(digest, key_id(digest), project.id, key[:7], None)
        return project

    def list_keys(self, project_name: str = "", include_inactive: bool = False,
                  ) -> list[controlplane_pb2.ApiKey]:
        project_id = None
        if project_name:
            project = self.store.project_by_name(project_name)
            if project is None:
                raise errors.not_found(errors.PROJECT_NOT_FOUND, "project", project_name)
            project_id = project.id
        keys = self.store.api_keys(project_id)
        return keys if include_inactive else [k for k in keys if k.active]

    def revoke(self, ident: str) -> controlplane_pb2.ApiKey:
        """Revokes a key by its id (or by the key itself); takes effect on the next call."""
        ident = self._id(ident)
        record = self.store.api_key(ident)
        if record is None:
            raise errors.not_found(errors.API_KEY_NOT_FOUND, "API key", ident)
        if not record.HasField("revoked_at"):
            self.store.revoke_key(ident, time.time())
        self._cache.clear()
        revoked = self.store.api_key(ident)
        assert revoked is not None
        return revoked

    def rotate(self, ident: str, expires_at: float | None = None, grace_seconds: int = 0,
               ) -> tuple[str, controlplane_pb2.Project, controlplane_pb2.ApiKey]:
        """A new key for the old key's project; the old one stops now or after the grace."""
        ident = self._id(ident)
        old = self.store.api_key(ident)
        if old is None:
            raise errors.not_found(errors.API_KEY_NOT_FOUND, "API key", ident)
        if not old.active:
            raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.API_KEY_INACTIVE,
                                    f"API key {ident} is revoked or expired: create a new one",
                                    metadata={"id": ident})
        now = time.time()
        if expires_at is None and old.HasField("expires_at"):
            lifetime = old.expires_at.ToNanoseconds() / 1e9 - old.created_at.ToNanoseconds() / 1e9
            expires_at = now + max(60.0, lifetime)
        key, project, record = self.create_key(old.project_name, expires_at)
        if grace_seconds:
            ends = now + grace_seconds
            if not old.HasField("expires_at") or old.expires_at.ToNanoseconds() / 1e9 > ends:
                self.store.set_key_expiry(ident, ends)
        else:
            self.store.revoke_key(ident, now)
        self._cache.clear()
        return key, project, record

    @staticmethod
    def _id(ident: str) -> str:
        return ident if ident.startswith("key_") else key_id(hash_api_key(ident))
