"""API keys and projects, and who a gRPC caller is.

A user's key opens its project only. The cluster secret (nodes, gateways, the CLI on the
control plane's machine) may act for any project named in `x-browserplane-project`.
"""

from __future__ import annotations

import dataclasses
import hmac
import uuid

import grpc

from browserplane import errors
from browserplane.credentials import (
    PROJECT_HEADER,
    bearer,
    hash_api_key,
    metadata_value,
    new_api_key,
)
from browserplane.errors import BrowserplaneError
from browserplane.v1 import controlplane_pb2
from controlplane.store import Store


@dataclasses.dataclass(frozen=True)
class Principal:
    project_id: str | None  # None: a cluster caller acting for no particular project
    cluster: bool = False


class KeyRing:
    def __init__(self, store: Store, cluster_secret: str) -> None:
        self.store = store
        self.cluster_secret = cluster_secret
        self._cache: dict[str, str] = {}

    def authenticate(self, metadata: tuple | None) -> Principal:
        token = bearer(metadata)
        if not token:
            raise BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                    "missing credentials: send 'authorization: Bearer <api key>'")
        if hmac.compare_digest(token, self.cluster_secret):
            return Principal(metadata_value(metadata, PROJECT_HEADER) or None, cluster=True)
        project_id = self.project_for_key(token)
        if project_id is None:
            raise BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                    "invalid API key")
        return Principal(project_id)

    def project_for_key(self, key: str) -> str | None:
        digest = hash_api_key(key)
        project_id = self._cache.get(digest)
        if project_id is None:
            project_id = self.store.key_project(digest)
            if project_id is not None:
                self._cache[digest] = project_id
        return project_id

    def project(self, name: str) -> controlplane_pb2.Project:
        """The project called `name`, created when missing."""
        project = self.store.project_by_name(name)
        if project is None:
            project = self.store.create_project(str(uuid.uuid4()), name)
        return project

    def create_key(self, project_name: str) -> tuple[str, controlplane_pb2.Project]:
        project = self.project(project_name)
        key = new_api_key()
        self.store.add_key(hash_api_key(key), project.id, key[:7])
        return key, project

    def ensure_key(self, key: str, project_name: str = "default") -> controlplane_pb2.Project:
        """Makes sure `key` exists (for BROWSERPLANE_API_KEY); returns its project."""
        project_id = self.project_for_key(key)
        if project_id is not None:
            project = self.store.project(project_id)
            assert project is not None
            return project
        project = self.project(project_name)
        self.store.add_key(hash_api_key(key), project.id, key[:7])
        return project
