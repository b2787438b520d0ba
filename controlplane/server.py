"""The ControlPlane gRPC service: authentication and translation onto the session service."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

import grpc

from browserplane import errors, grpc_server, tls
from browserplane.addresses import advertised, host_port
from browserplane.cookies import check_cookie
from browserplane.credentials import REPLAYED_HEADER, cluster_metadata, load_or_create_secret
from browserplane.errors import BrowserplaneError, not_found
from browserplane.metrics_http import start_metrics_server
from browserplane.settings import default_data_dir, flag
from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc, node_pb2, session_pb2
from controlplane import keda_scaler, metrics, validation
from controlplane.artifacts import ArtifactLimits, Artifacts
from controlplane.automation_router import AutomationRouter
from controlplane.background_calls import BackgroundCalls, for_session
from controlplane.extensions import MAX_EXTENSION_BYTES, read_manifest
from controlplane.keys import KeyRing, Principal
from controlplane.leases import NodeRegistry
from controlplane.node_autoscaler import NodeAutoscaler
from controlplane.personas import PersonaLimits, PersonaService
from controlplane.profile_cookies import ProfileCookieStore
from controlplane.record_cipher import RecordCipher, WrongKey
from controlplane.sessions import SessionPolicy, SessionService
from controlplane.smtp_receiver import SmtpReceiver
from controlplane.store import Store
from controlplane.vaults import VaultService

log = logging.getLogger(__name__)
CHUNK_BYTES = 1024 * 1024
HOUSEKEEPING_S = 0.25
# What nodes send: a saved profile (.tar.gz of a user-data-dir) and a session's downloads (zip).
MAX_PROFILE_ARCHIVE_BYTES = 1 << 30
MAX_PROFILE_COOKIES = 10_000
MAX_DOWNLOADS_ARCHIVE_BYTES = 8 << 30


@dataclasses.dataclass
class ControlPlaneSettings:
    ENV_PREFIX: ClassVar[str] = "CONTROLPLANE_"

    host: str = flag("127.0.0.1", "address the gRPC server binds to")
    grpc_port: int = flag(50051, "gRPC port")
    advertise_host: str = flag("", "host nodes, gateways and clients reach the control plane at, "
                                   "as it reports it (default: --host; for a wildcard --host, the "
                                   "machine's address)")
    tls_cert: str = flag("", tls.CERT_HELP, env="BROWSERPLANE_TLS_CERT")
    tls_key: str = flag("", tls.KEY_HELP, env="BROWSERPLANE_TLS_KEY")
    tls_ca: str = flag("", tls.CA_HELP, env="BROWSERPLANE_TLS_CA")
    tls_server_name: str = flag("", tls.SERVER_NAME_HELP, env="BROWSERPLANE_TLS_SERVER_NAME")
    health_port: int = flag(0, tls.HEALTH_PORT_HELP)
    metrics_port: int = flag(0, "Prometheus /metrics port (0 = off)")
    metrics_token: str = flag("", "bearer token /metrics requires (empty = none)")
    data_dir: pathlib.Path = flag(default_data_dir(), "state: SQLite database, cluster secret")
    cluster_secret: str = flag("", "shared secret of nodes and gateways (default: kept in the "
                                   "data dir)", env="BROWSERPLANE_CLUSTER_SECRET")
    secret_key: str = flag("", "base64 of 32 bytes that encrypt stored session records (proxy "
                               "passwords, cookies, tokens); default: kept in the data dir")
    lease_seconds: float = flag(5.0, "a node that has not heartbeated this long is down")
    heartbeat_ms: int = flag(1000, "how often nodes heartbeat")
    idle_timeout: int = flag(300, "default idle timeout of a session, seconds")
    max_duration: int = flag(3600, "default maximum duration of a session, seconds")
    queue_timeout: float = flag(30.0, "how long a create waits for room by default, seconds")
    queue_size: int = flag(64, "create requests that may wait at once")
    project_max_sessions: int = flag(50, "live sessions a project may have at once unless it has "
                                         "its own limit (0 = unlimited)")
    live_view_token_seconds: int = flag(600, "how long a live-view link opens the live view")
    downloads_retention_hours: float = flag(168.0, "how long what ended sessions downloaded is kept")
    artifact_retention_hours: float = flag(168.0, "how long artifacts (screenshots, recordings, "
                                                  "downloads) are kept")
    artifact_max_bytes: int = flag(512 << 20, "largest single artifact (a recording's video)")
    artifacts_per_session: int = flag(1000, "artifacts a session may hold (more are refused)")
    artifact_session_bytes: int = flag(2 << 30, "bytes of artifacts a session may hold")
    artifact_project_bytes: int = flag(20 << 30, "bytes of artifacts a project may hold (past "
                                                 "it, its oldest artifacts go first)")
    smtp_port: int = flag(0, "port of the personas' SMTP receiver (0 = off: personas get no mail)")
    smtp_host: str = flag("127.0.0.1", "address the SMTP receiver binds to")
    persona_domain: str = flag("personas.localhost", "mail domain of personas' addresses (its MX "
                                                     "must reach the SMTP receiver)")
    personas_per_project: int = flag(100, "personas a project may hold")
    persona_mails: int = flag(100, "mails kept per persona (the oldest is dropped)")
    persona_mail_bytes: int = flag(1 << 20, "largest message the SMTP receiver takes (bigger: 552)")
    persona_mail_retention_hours: float = flag(168.0, "how long a persona's mail is kept")
    node_autoscaler: str = flag("", "size the node pool from demand: kubernetes (the node "
                                    "Deployment's replicas), or empty = off")
    node_deployment: str = flag("browserplane-node", "the node Deployment the autoscaler sizes: "
                                                     "NAME (in the control plane's namespace) or "
                                                     "NAMESPACE/NAME")
    min_nodes: int = flag(1, "fewest node replicas the autoscaler keeps")
    max_nodes: int = flag(10, "most node replicas the autoscaler asks for")
    scale_down_delay: float = flag(300.0, "seconds demand must stay lower before nodes are removed")
    node_autoscaler_interval: float = flag(10.0, "seconds between the autoscaler's looks")
    # The nodes' own variables (the ConfigMap gives every component the same ones): a node's
    # size before any node has registered, and the warm headroom the demand includes.
    node_capacity: int = flag(8, "browsers per node, until a node registers its own",
                              env="BROWSERPLANE_NODE_CAPACITY")
    node_pool_size: int = flag(2, "warm browsers one node keeps (the demand's headroom)",
                               env="BROWSERPLANE_NODE_POOL_SIZE")
    keda_port: int = flag(0, "port of the KEDA external scaler (externalscaler.ExternalScaler, "
                             "read-only, no auth; 0 = off)")
    log_level: str = flag("info", "log level")


def _auth(service: ControlPlaneServicer, context: grpc.aio.ServicerContext) -> Principal:
    return service.keys.authenticate(context.invocation_metadata())


def _cluster(service: ControlPlaneServicer, context: grpc.aio.ServicerContext) -> Principal:
    principal = _auth(service, context)
    if not principal.cluster:
        raise BrowserplaneError(grpc.StatusCode.PERMISSION_DENIED, errors.PERMISSION_DENIED,
                                "this call is for cluster members (nodes, gateways) only")
    return principal


def _expiry(request: cp.CreateApiKeyRequest | cp.RotateApiKeyRequest) -> float | None:
    """A key request's expiry in unix seconds, None when unset."""
    if not request.HasField("expires_at"):
        return None
    return request.expires_at.ToNanoseconds() / 1e9


async def _blob_chunks(path: pathlib.Path, first: cp.DataChunk | None,
                      ) -> AsyncIterator[cp.DataChunk]:
    """A stored file as a DataChunk stream; the first chunk also carries `first`'s fields.
    Reads happen in a thread: a cold disk must not stall heartbeats."""
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        while data := await asyncio.to_thread(fh.read, CHUNK_BYTES):
            chunk = cp.DataChunk(data=data)
            if first is not None:
                chunk.MergeFrom(first)
                first = None
            yield chunk
    finally:
        fh.close()


async def _receive_blob(chunks: AsyncIterator[cp.DataChunk],
                        target: Callable[[cp.DataChunk], pathlib.Path],
                        max_bytes: int) -> tuple[cp.DataChunk, int]:
    """Stores a DataChunk stream where `target(first chunk)` says, atomically (readers see the
    old file or the whole new one); answers the first chunk and the size. Writes happen in a
    thread, and a stream past max_bytes is refused as it arrives."""
    first, tmp, out, size = None, None, None, 0
    try:
        async for chunk in chunks:
            if first is None:
                first = chunk
                final = target(chunk)
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = final.with_suffix(f".{uuid.uuid4().hex[:8]}.part")
                out = tmp.open("wb")
            size += len(chunk.data)
            if size > max_bytes:
                raise errors.too_large("data", f"more than {max_bytes >> 20} MiB")
            await asyncio.to_thread(out.write, chunk.data)
        if first is None or tmp is None or out is None:
            raise errors.invalid("chunks", "an empty stream")
        out.close()
        tmp.replace(final)
        tmp = None
    finally:
        if tmp is not None:
            if out is not None:
                out.close()
            tmp.unlink(missing_ok=True)
    return first, size


class ControlPlaneServicer(controlplane_pb2_grpc.ControlPlaneServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.keys = plane.keys
        self.sessions = plane.sessions
        self._initial_calls: set[asyncio.Task] = set()  # creates' initial calls being started

    # -- sessions ------------------------------------------------------------------------

    async def CreateSession(self, request: cp.CreateSessionRequest,
                            context: grpc.aio.ServicerContext) -> session_pb2.Session:
        principal = _auth(self, context)
        if request.options.vault_id:  # one of the project's vaults, checked before anything starts
            if principal.project_id is None:
                raise errors.invalid("x-browserplane-project", "name the project the vault is in")
            self.plane.vaults.get(principal.project_id, request.options.vault_id)
        # Checked before anything starts; each gets the session's id once it runs.
        initial = [for_session(c, "pending", f"initial_calls[{i}].")
                   for i, c in enumerate(request.initial_calls)]
        called = time.time()
        s = await self.sessions.create(
            principal, request, context.time_remaining(),
            on_started=(lambda s: self._start_initial_calls(principal, s.id, initial))
            if initial else None)
        if request.idempotency_key and s.created_at.ToNanoseconds() < called * 1e9:
            # The key named an earlier session: say so, so a dialect answers it without
            # repeating what the first request did with it.
            await context.send_initial_metadata(((REPLAYED_HEADER, "true"),))
        return self.sessions.with_url(s, request.cdp_base_url)

    def _start_initial_calls(self, principal: Principal, session_id: str,
                             calls: list[cp.StartCallRequest]) -> None:
        async def run() -> None:
            for call in calls:
                try:
                    await self.plane.calls.start(principal, for_session(call, session_id))
                except (BrowserplaneError, grpc.aio.AioRpcError) as err:
                    # The session runs on; what did not start is said in the log (and, for an
                    # agent the node refused, it is not in the session's calls).
                    log.warning("a session's initial call did not start", extra={
                        "session_id": session_id, "fields": {"method": call.method,
                                                             "error": str(err)[:500]}})

        task = asyncio.get_running_loop().create_task(run())
        self._initial_calls.add(task)
        task.add_done_callback(self._initial_calls.discard)

    async def GetSession(self, request: cp.GetSessionRequest,
                         context: grpc.aio.ServicerContext) -> session_pb2.Session:
        s = self.sessions.get(_auth(self, context), request.id)
        return self.sessions.with_url(s, request.cdp_base_url)

    async def ListSessions(self, request: cp.ListSessionsRequest,
                           context: grpc.aio.ServicerContext) -> cp.ListSessionsResponse:
        principal = _auth(self, context)
        validation.session_cursor(request.page_token)
        found, token, total = self.sessions.list(principal, request)
        return cp.ListSessionsResponse(
            sessions=[self.sessions.with_url(s, request.cdp_base_url) for s in found],
            next_page_token=token, total_size=total)

    async def UpdateSession(self, request: cp.UpdateSessionRequest,
                            context: grpc.aio.ServicerContext) -> session_pb2.Session:
        principal = _auth(self, context)
        if not request.request_release:
            validation.validate_update(request, self.sessions.get(principal, request.id).options)
        else:
            validation.validate_save_profile(request)
        return self.sessions.with_url(self.sessions.update(principal, request))

    async def TerminateSession(self, request: cp.TerminateSessionRequest,
                               context: grpc.aio.ServicerContext) -> session_pb2.Session:
        s = self.sessions.terminate(_auth(self, context), request.id, request.reason)
        return self.sessions.with_url(s)

    async def WatchSessions(self, request: cp.WatchSessionsRequest,
                            context: grpc.aio.ServicerContext) -> AsyncIterator[cp.SessionEvent]:
        principal = _auth(self, context)
        if request.session_id:
            self.sessions._visible(principal, request.session_id)
        async for event in self.sessions.watch(principal, request.session_id):
            yield event

    async def ResolveSession(self, request: cp.ResolveSessionRequest,
                             context: grpc.aio.ServicerContext) -> cp.ResolveSessionResponse:
        _cluster(self, context)
        s, relay = self.sessions.resolve(request.session_id, request.token,
                                         live_view=request.access == cp.ResolveSessionRequest.LIVE_VIEW)
        return cp.ResolveSessionResponse(session=s, node_id=s.node_id, relay_address=relay)

    async def TouchSession(self, request: cp.TouchSessionRequest,
                           context: grpc.aio.ServicerContext) -> cp.TouchSessionResponse:
        self.sessions.touch(self.sessions.get(_auth(self, context), request.id))
        return cp.TouchSessionResponse()

    # -- profiles ------------------------------------------------------------------------

    async def CreateProfile(self, request: cp.CreateProfileRequest,
                            context: grpc.aio.ServicerContext) -> cp.Profile:
        principal = self._project(context)
        if len(request.name) > 256:
            raise errors.invalid("name", "at most 256 characters")
        now = timestamp(time.time())
        profile = cp.Profile(id=str(uuid.uuid4()), project_id=principal.project_id or "",
                             name=request.name, created_at=now, updated_at=now)
        self.plane.store.save_profile(profile)
        return profile

    async def ListProfiles(self, request: cp.ListProfilesRequest,
                           context: grpc.aio.ServicerContext) -> cp.ListProfilesResponse:
        principal = self._project(context)
        size = request.page_size or 100
        if size > 1000:
            raise errors.invalid("page_size", "must be at most 1000")
        offset = validation.profile_offset(request.page_token)
        found = self.plane.store.profiles(principal.project_id or "", offset, size)
        token = str(offset + size) if len(found) == size else ""
        return cp.ListProfilesResponse(profiles=found, next_page_token=token)

    async def GetProfile(self, request: cp.GetProfileRequest,
                         context: grpc.aio.ServicerContext) -> cp.Profile:
        return self._profile(self._project(context), request.id)

    async def DeleteProfile(self, request: cp.DeleteProfileRequest,
                            context: grpc.aio.ServicerContext) -> cp.DeleteProfileResponse:
        profile = self._profile(self._project(context), request.id)
        self.plane.store.delete_profile(profile.id)
        self.plane.profile_blob(profile.id).unlink(missing_ok=True)
        self.plane.profile_cookies.delete(profile.id)
        return cp.DeleteProfileResponse()

    async def DuplicateProfile(self, request: cp.DuplicateProfileRequest,
                               context: grpc.aio.ServicerContext) -> cp.Profile:
        source = self._profile(self._project(context), request.id)
        if len(request.name) > 256:
            raise errors.invalid("name", "at most 256 characters")
        now = timestamp(time.time())
        copy = cp.Profile(id=str(uuid.uuid4()), project_id=source.project_id,
                          name=request.name or source.name, created_at=now, updated_at=now,
                          size_bytes=source.size_bytes)
        blob = self.plane.profile_blob(source.id)
        if blob.exists():
            target = self.plane.profile_blob(copy.id)
            partial = target.with_suffix(".copy.part")
            await asyncio.to_thread(shutil.copyfile, blob, partial)
            partial.replace(target)
        self.plane.profile_cookies.copy(source.id, copy.id)
        self.plane.store.save_profile(copy)
        return copy

    async def GetProfileCookies(self, request: cp.GetProfileCookiesRequest,
                                context: grpc.aio.ServicerContext) -> cp.ProfileCookies:
        profile = self._profile(self._project(context), request.id)
        return cp.ProfileCookies(cookies=self.plane.profile_cookies.get(profile.id))

    async def SetProfileCookies(self, request: cp.SetProfileCookiesRequest,
                                context: grpc.aio.ServicerContext) -> cp.ProfileCookies:
        profile = self._profile(self._project(context), request.id)
        if len(request.cookies) > MAX_PROFILE_COOKIES:
            raise errors.invalid("cookies", f"at most {MAX_PROFILE_COOKIES} cookies")
        for i, cookie in enumerate(request.cookies):
            check_cookie(f"cookies[{i}]", cookie)
        cookies = self.plane.profile_cookies.set(profile.id, list(request.cookies), request.replace)
        profile.updated_at.CopyFrom(timestamp(time.time()))
        self.plane.store.save_profile(profile)
        return cp.ProfileCookies(cookies=cookies)

    async def ReadProfileData(self, request: cp.ReadProfileDataRequest,
                              context: grpc.aio.ServicerContext) -> AsyncIterator[cp.DataChunk]:
        _cluster(self, context)
        profile = self.plane.store.profile(request.id)
        if profile is None:
            raise not_found(errors.PROFILE_NOT_FOUND, "profile", request.id)
        path = self.plane.profile_blob(profile.id)
        if not path.exists():
            return  # a profile no session has saved into yet: an empty stream
        async for chunk in _blob_chunks(path, cp.DataChunk(id=profile.id)):
            yield chunk

    async def WriteProfileData(self, request_iterator: AsyncIterator[cp.DataChunk],
                               context: grpc.aio.ServicerContext) -> cp.Profile:
        _cluster(self, context)
        found: list[cp.Profile] = []

        def target(first: cp.DataChunk) -> pathlib.Path:
            profile = self.plane.store.profile(first.id)
            if profile is None:
                raise not_found(errors.PROFILE_NOT_FOUND, "profile", first.id)
            found.append(profile)
            return self.plane.profile_blob(profile.id)

        first, size = await _receive_blob(request_iterator, target, MAX_PROFILE_ARCHIVE_BYTES)
        profile = found[0]
        saver = self.plane.store.session(first.session_id) if first.session_id else None
        started = saver.started_at.ToNanoseconds() / 1e9 if saver is not None else time.time()
        self.plane.profile_cookies.saved(profile.id, first.cookies, started)
        profile.size_bytes = size
        profile.last_session_id = first.session_id
        profile.updated_at.CopyFrom(timestamp(time.time()))
        self.plane.store.save_profile(profile)
        return profile

    # -- a session's files, kept after it ends ---------------------------------------------

    async def WriteSessionFiles(self, request_iterator: AsyncIterator[cp.DataChunk],
                                context: grpc.aio.ServicerContext) -> cp.WriteSessionFilesResponse:
        _cluster(self, context)

        def target(first: cp.DataChunk) -> pathlib.Path:
            if first.session_id not in self.plane.sessions.live and \
                    self.plane.store.session(first.session_id) is None:
                raise not_found(errors.SESSION_NOT_FOUND, "session", first.session_id)
            return self.plane.downloads_blob(first.session_id)

        first, size = await _receive_blob(request_iterator, target, MAX_DOWNLOADS_ARCHIVE_BYTES)
        s = self.plane.store.session(first.session_id)
        if s is not None:  # each downloaded file is an artifact of the session too
            await self.plane.artifacts.add_downloads(s.project_id, s.id,
                                                     self.plane.downloads_blob(s.id))
        return cp.WriteSessionFilesResponse(size_bytes=size)

    async def ReadSessionFiles(self, request: cp.ReadSessionFilesRequest,
                               context: grpc.aio.ServicerContext) -> AsyncIterator[cp.DataChunk]:
        s = self.sessions.get(_auth(self, context), request.session_id)
        await self.sessions.stopped(s.id)
        path = self.plane.downloads_blob(s.id)
        if not path.exists():
            return  # nothing was downloaded (or it is past the retention time)
        async for chunk in _blob_chunks(path, cp.DataChunk(session_id=s.id)):
            yield chunk

    # -- artifacts -------------------------------------------------------------------------

    async def PutArtifact(self, request_iterator: AsyncIterator[cp.ArtifactChunk],
                          context: grpc.aio.ServicerContext) -> cp.Artifact:
        return await self.plane.artifacts.put(_cluster(self, context), request_iterator)

    async def ListArtifacts(self, request: cp.ListArtifactsRequest,
                            context: grpc.aio.ServicerContext) -> cp.ListArtifactsResponse:
        principal = _auth(self, context)
        if request.session_id:
            # A session just ended: its node may still be putting its recordings.
            await self.sessions.stopped(request.session_id)
        return self.plane.artifacts.list(principal, request)

    async def ReadArtifact(self, request: cp.ReadArtifactRequest,
                           context: grpc.aio.ServicerContext) -> AsyncIterator[cp.ArtifactChunk]:
        if request.signature or request.expires:  # a signed URL's fields stand for a key
            artifact = self.plane.artifacts.by_signature(request.id, request.expires,
                                                         request.signature)
        else:
            artifact = self.plane.artifacts.visible(_auth(self, context), request.id)
        async for chunk in self.plane.artifacts.read(artifact, request.offset, request.length):
            yield chunk

    async def SignArtifactUrl(self, request: cp.SignArtifactUrlRequest,
                              context: grpc.aio.ServicerContext) -> cp.SignedArtifactUrl:
        return self.plane.artifacts.signed(_auth(self, context), request)

    # -- extensions ----------------------------------------------------------------------

    async def CreateExtension(self, request_iterator: AsyncIterator[cp.DataChunk],
                              context: grpc.aio.ServicerContext) -> cp.Extension:
        principal = self._project(context)
        extension_id = str(uuid.uuid4())
        final = self.plane.extension_blob(extension_id)
        incoming = final.with_name(f".incoming-{extension_id}.zip")
        names: list[str] = []

        def target(first: cp.DataChunk) -> pathlib.Path:
            names.append(first.file_name)
            return incoming

        try:
            try:
                _, size = await _receive_blob(request_iterator, target, MAX_EXTENSION_BYTES)
            except BrowserplaneError as err:
                if err.reason == errors.PAYLOAD_TOO_LARGE:
                    raise errors.too_large("file", f"extensions are limited to "
                                                   f"{MAX_EXTENSION_BYTES >> 20} MiB") from None
                raise
            # Inflating every entry takes CPU time: a thread, so heartbeats keep flowing.
            manifest = await asyncio.to_thread(read_manifest, incoming)
            await asyncio.to_thread(incoming.replace, final)
        finally:
            incoming.unlink(missing_ok=True)
        now = timestamp(time.time())
        extension = cp.Extension(
            id=extension_id, project_id=principal.project_id or "",
            file_name=names[0] or "extension.zip", name=str(manifest.get("name", ""))[:256],
            version=str(manifest.get("version", ""))[:64], size_bytes=size,
            created_at=now, updated_at=now)
        self.plane.store.save_extension(extension)
        return extension

    async def GetExtension(self, request: cp.GetExtensionRequest,
                           context: grpc.aio.ServicerContext) -> cp.Extension:
        return self._extension(self._project(context), request.id)

    async def DeleteExtension(self, request: cp.DeleteExtensionRequest,
                              context: grpc.aio.ServicerContext) -> cp.DeleteExtensionResponse:
        extension = self._extension(self._project(context), request.id)
        self.plane.store.delete_extension(extension.id)
        self.plane.extension_blob(extension.id).unlink(missing_ok=True)
        return cp.DeleteExtensionResponse()

    async def ReadExtensionData(self, request: cp.ReadExtensionDataRequest,
                                context: grpc.aio.ServicerContext) -> AsyncIterator[cp.DataChunk]:
        _cluster(self, context)
        if self.plane.store.extension(request.id) is None:
            raise not_found(errors.EXTENSION_NOT_FOUND, "extension", request.id)
        async for chunk in _blob_chunks(self.plane.extension_blob(request.id),
                                        cp.DataChunk(id=request.id)):
            yield chunk

    def _extension(self, principal: Principal, extension_id: str) -> cp.Extension:
        extension = self.plane.store.extension(extension_id)
        if extension is None or extension.project_id != principal.project_id:
            raise not_found(errors.EXTENSION_NOT_FOUND, "extension", extension_id)
        return extension

    def _project(self, context: grpc.aio.ServicerContext) -> Principal:
        principal = _auth(self, context)
        if principal.project_id is None:
            raise errors.invalid("x-browserplane-project", "name the project to act for")
        return principal

    def _profile(self, principal: Principal, profile_id: str) -> cp.Profile:
        profile = self.plane.store.profile(profile_id)
        if profile is None or profile.project_id != principal.project_id:
            raise not_found(errors.PROFILE_NOT_FOUND, "profile", profile_id)
        return profile

    # -- projects and keys ---------------------------------------------------------------

    async def ListProjects(self, request: cp.ListProjectsRequest,
                           context: grpc.aio.ServicerContext) -> cp.ListProjectsResponse:
        principal = _auth(self, context)
        projects = self.plane.store.projects()
        if principal.project_id is not None:
            projects = [p for p in projects if p.id == principal.project_id]
        return cp.ListProjectsResponse(projects=projects)

    async def GetProject(self, request: cp.GetProjectRequest,
                         context: grpc.aio.ServicerContext) -> cp.Project:
        principal = _auth(self, context)
        project = self.plane.store.project(request.id)
        if project is None or principal.project_id not in (None, project.id):
            raise not_found(errors.PROJECT_NOT_FOUND, "project", request.id)
        return project

    async def GetUsage(self, request: cp.GetUsageRequest,
                       context: grpc.aio.ServicerContext) -> cp.Usage:
        principal = _auth(self, context)
        project_id = request.project_id or principal.project_id or ""
        if principal.project_id not in (None, project_id) or not self.plane.store.project(project_id):
            raise not_found(errors.PROJECT_NOT_FOUND, "project", project_id)
        seconds, count = self.plane.store.usage(project_id)
        return cp.Usage(project_id=project_id, browser_minutes=seconds / 60, sessions=count)

    async def CreateApiKey(self, request: cp.CreateApiKeyRequest,
                           context: grpc.aio.ServicerContext) -> cp.CreateApiKeyResponse:
        _cluster(self, context)
        if not request.project_name or len(request.project_name) > 128:
            raise errors.invalid("project_name", "1-128 characters")
        expires = _expiry(request)
        key, project, record = self.keys.create_key(request.project_name, expires)
        return cp.CreateApiKeyResponse(key=key, project=project, api_key=record)

    async def ListApiKeys(self, request: cp.ListApiKeysRequest,
                          context: grpc.aio.ServicerContext) -> cp.ListApiKeysResponse:
        _cluster(self, context)
        return cp.ListApiKeysResponse(keys=self.keys.list_keys(request.project_name,
                                                               request.include_inactive))

    async def RevokeApiKey(self, request: cp.RevokeApiKeyRequest,
                           context: grpc.aio.ServicerContext) -> cp.ApiKey:
        _cluster(self, context)
        if not request.id:
            raise errors.invalid("id", "name the key (its id, key_…)")
        return self.keys.revoke(request.id)

    async def RotateApiKey(self, request: cp.RotateApiKeyRequest,
                           context: grpc.aio.ServicerContext) -> cp.CreateApiKeyResponse:
        _cluster(self, context)
        if not request.id:
            raise errors.invalid("id", "name the key (its id, key_…)")
        if request.grace_seconds > 30 * 86400:
            raise errors.invalid("grace_seconds", "at most 30 days")
        expires = _expiry(request)
        key, project, record = self.keys.rotate(request.id, expires, request.grace_seconds)
        return cp.CreateApiKeyResponse(key=key, project=project, api_key=record)

    async def Authenticate(self, request: cp.AuthenticateRequest,
                           context: grpc.aio.ServicerContext) -> cp.AuthenticateResponse:
        principal = _auth(self, context)
        project = self.plane.store.project(principal.project_id or "")
        if project is None:
            raise not_found(errors.PROJECT_NOT_FOUND, "project", principal.project_id or "")
        return cp.AuthenticateResponse(project=project)

    # -- nodes ---------------------------------------------------------------------------

    async def RegisterNode(self, request: cp.RegisterNodeRequest,
                           context: grpc.aio.ServicerContext) -> cp.RegisterNodeResponse:
        _cluster(self, context)
        node = request.node
        if not node.id or not node.grpc_address or not node.relay_address:
            raise errors.invalid("node", "id, grpc_address and relay_address are required")
        await self.plane.registry.register(node)
        self.plane.store.save_node(node)
        metrics.NODE_UP.labels(node.id).set(1)
        metrics.NODE_CAPACITY.labels(node.id).set(node.capacity)
        metrics.NODE_FREE.labels(node.id).set(node.free_slots)
        stop = self.sessions.node_registered(node.id, list(request.sessions))
        log.info("node registered", extra={"fields": {
            "node": node.id, "grpc": node.grpc_address, "capacity": node.capacity,
            "sessions": len(request.sessions), "stopping": len(stop)}})
        return cp.RegisterNodeResponse(lease_seconds=int(self.plane.registry.lease()),
                                       heartbeat_interval_ms=self.plane.registry.heartbeat_interval_ms(),
                                       stop_session_ids=stop)

    async def Heartbeat(self, request: cp.HeartbeatRequest,
                        context: grpc.aio.ServicerContext) -> cp.HeartbeatResponse:
        _cluster(self, context)
        entry = self.plane.registry.renew(request.node_id, request.free_slots,
                                          request.warm_browsers)
        if entry is None:
            return cp.HeartbeatResponse(reregister=True)
        metrics.NODE_FREE.labels(request.node_id).set(request.free_slots)
        if request.draining and not entry.info.draining:
            # Drained at the node itself (a pod's preStop): the same as DrainNode from here on.
            entry.info.draining = True
            log.info("node drains itself", extra={"fields": {"node": request.node_id}})
        stop = self.sessions.apply_reports(request.node_id, list(request.sessions))
        self.sessions.dispatch()
        return cp.HeartbeatResponse(stop_session_ids=stop,
                                    heartbeat_interval_ms=self.plane.registry.heartbeat_interval_ms())

    async def ListNodes(self, request: cp.ListNodesRequest,
                        context: grpc.aio.ServicerContext) -> cp.ListNodesResponse:
        principal = _auth(self, context)
        assigned = self.sessions._assigned(None if principal.cluster else principal.project_id)
        nodes = []
        for entry in self.plane.registry.nodes.values():
            node = cp.Node()
            if principal.cluster:
                node.CopyFrom(entry.info)
            else:  # a key sees room and load, not where nodes are or what runs on them
                info = entry.info
                node.id, node.capacity, node.free_slots = info.id, info.capacity, info.free_slots
                node.warm_browsers, node.draining, node.up = (info.warm_browsers, info.draining,
                                                               info.up)
            node.live_sessions = assigned.get(node.id, 0)
            nodes.append(node)
        return cp.ListNodesResponse(nodes=nodes)

    async def ListQueue(self, request: cp.ListQueueRequest,
                        context: grpc.aio.ServicerContext) -> cp.ListQueueResponse:
        principal = _auth(self, context)
        waiting = self.sessions.queued()
        mine = [cp.QueuedSession(session=s, position=i + 1) for i, s in enumerate(waiting)
                if principal.cluster or s.project_id == principal.project_id]
        return cp.ListQueueResponse(sessions=mine, waiting=len(waiting),
                                    max_size=self.sessions.queue.max_size)

    # -- background calls ------------------------------------------------------------------

    async def StartCall(self, request: cp.StartCallRequest,
                        context: grpc.aio.ServicerContext) -> cp.Call:
        return await self.plane.calls.start(_auth(self, context), request)

    async def GetCall(self, request: cp.GetCallRequest, context: grpc.aio.ServicerContext) -> cp.Call:
        return self.plane.calls.get(_auth(self, context), request.id)

    async def ListCalls(self, request: cp.ListCallsRequest,
                        context: grpc.aio.ServicerContext) -> cp.ListCallsResponse:
        return cp.ListCallsResponse(calls=self.plane.calls.list(_auth(self, context), request))

    async def CancelCall(self, request: cp.GetCallRequest, context: grpc.aio.ServicerContext) -> cp.Call:
        return await self.plane.calls.cancel(_auth(self, context), request.id)

    # -- vaults (a project's own; cluster callers act for one with x-browserplane-project) ------

    def _vault_project(self, context: grpc.aio.ServicerContext) -> str:
        return self._project(context).project_id or ""

    async def CreateVault(self, request: cp.CreateVaultRequest,
                          context: grpc.aio.ServicerContext) -> cp.Vault:
        return self.plane.vaults.create(self._vault_project(context), request.name)

    async def ListVaults(self, request: cp.ListVaultsRequest,
                         context: grpc.aio.ServicerContext) -> cp.ListVaultsResponse:
        return self.plane.vaults.list(self._vault_project(context), request)

    async def GetVault(self, request: cp.GetVaultRequest, context: grpc.aio.ServicerContext) -> cp.Vault:
        return self.plane.vaults.get(self._vault_project(context), request.id)

    async def UpdateVault(self, request: cp.UpdateVaultRequest,
                          context: grpc.aio.ServicerContext) -> cp.Vault:
        return self.plane.vaults.rename(self._vault_project(context), request.id, request.name)

    async def DeleteVault(self, request: cp.DeleteVaultRequest,
                          context: grpc.aio.ServicerContext) -> cp.DeleteVaultResponse:
        self.plane.vaults.delete(self._vault_project(context), request.id)
        return cp.DeleteVaultResponse()

    async def AddCredentials(self, request: cp.AddCredentialsRequest,
                             context: grpc.aio.ServicerContext) -> cp.CredentialInfo:
        return self.plane.vaults.add_credential(self._vault_project(context), request.vault_id,
                                                request.credential)

    async def GetCredentials(self, request: cp.GetCredentialsRequest,
                             context: grpc.aio.ServicerContext) -> cp.Credential:
        return self.plane.vaults.credential(self._vault_project(context), request.vault_id, request.url)

    async def ListCredentials(self, request: cp.ListCredentialsRequest,
                              context: grpc.aio.ServicerContext) -> cp.ListCredentialsResponse:
        return cp.ListCredentialsResponse(
            credentials=self.plane.vaults.credentials(self._vault_project(context), request.vault_id))

    async def DeleteCredentials(self, request: cp.DeleteCredentialsRequest,
                                context: grpc.aio.ServicerContext) -> cp.DeleteCredentialsResponse:
        self.plane.vaults.delete_credential(self._vault_project(context), request.vault_id, request.url)
        return cp.DeleteCredentialsResponse()

    async def SetCreditCard(self, request: cp.SetCreditCardRequest,
                            context: grpc.aio.ServicerContext) -> cp.Vault:
        return self.plane.vaults.set_credit_card(self._vault_project(context), request.vault_id,
                                                 request.credit_card)

    async def GetCreditCard(self, request: cp.GetCreditCardRequest,
                            context: grpc.aio.ServicerContext) -> cp.CreditCard:
        return self.plane.vaults.credit_card(self._vault_project(context), request.vault_id)

    async def DeleteCreditCard(self, request: cp.DeleteCreditCardRequest,
                               context: grpc.aio.ServicerContext) -> cp.DeleteCreditCardResponse:
        self.plane.vaults.delete_credit_card(self._vault_project(context), request.vault_id)
        return cp.DeleteCreditCardResponse()

    # -- personas (a project's own; cluster callers act for one with x-browserplane-project) ----

    async def CreatePersona(self, request: cp.CreatePersonaRequest,
                            context: grpc.aio.ServicerContext) -> cp.Persona:
        return self.plane.personas.create(self._vault_project(context), request)

    async def ListPersonas(self, request: cp.ListPersonasRequest,
                           context: grpc.aio.ServicerContext) -> cp.ListPersonasResponse:
        return self.plane.personas.list(self._vault_project(context), request)

    async def GetPersona(self, request: cp.GetPersonaRequest,
                         context: grpc.aio.ServicerContext) -> cp.Persona:
        return self.plane.personas.get(self._vault_project(context), request.id)

    async def UpdatePersona(self, request: cp.UpdatePersonaRequest,
                            context: grpc.aio.ServicerContext) -> cp.Persona:
        return self.plane.personas.rename(self._vault_project(context), request.id, request.name)

    async def DeletePersona(self, request: cp.DeletePersonaRequest,
                            context: grpc.aio.ServicerContext) -> cp.DeletePersonaResponse:
        self.plane.personas.delete(self._vault_project(context), request.id)
        return cp.DeletePersonaResponse()

    async def ListPersonaEmails(self, request: cp.ListPersonaEmailsRequest,
                                context: grpc.aio.ServicerContext) -> cp.ListPersonaEmailsResponse:
        return cp.ListPersonaEmailsResponse(
            emails=self.plane.personas.emails(self._vault_project(context), request))

    async def DrainNode(self, request: cp.DrainNodeRequest,
                        context: grpc.aio.ServicerContext) -> cp.Node:
        _cluster(self, context)
        entry = self.plane.registry.nodes.get(request.node_id)
        if entry is None:
            raise not_found(errors.NODE_NOT_FOUND, "node", request.node_id)
        entry.info.draining = True
        self.plane.store.save_node(entry.info)
        try:  # the node also stops refilling its warm pool
            await entry.agent.Drain(node_pb2.DrainRequest(),
                                    metadata=cluster_metadata(self.plane.settings.cluster_secret),
                                    timeout=5)
        except grpc.aio.AioRpcError as err:
            log.warning("node did not take the drain", extra={"fields": {
                "node": entry.info.id, "code": err.code().name}})
        return entry.info


class ControlPlane:
    """The control-plane process: store, registry, session service, gRPC server, loops."""

    def __init__(self, settings: ControlPlaneSettings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.data_dir.chmod(0o700)  # secrets, the database and tenants' files live here
        if not settings.cluster_secret:
            settings.cluster_secret = load_or_create_secret(settings.data_dir / "cluster-secret")
        self.blob_dir = settings.data_dir / "blobs"
        cipher = RecordCipher.load(settings.secret_key, settings.data_dir / "secret-key")
        self.store = Store(settings.data_dir / "controlplane.sqlite3", cipher)
        try:
            sealed = self.store.seal_plaintext_sessions()
        except WrongKey:
            raise SystemExit("control plane: the stored sessions were encrypted with another "
                             "secret key; start with the key they were written with "
                             "(--secret-key / BROWSERPLANE_CONTROLPLANE_SECRET_KEY, or the "
                             "data dir's secret-key file)") from None
        if sealed:
            log.info("sealed session records written before encryption at rest",
                     extra={"fields": {"sessions": sealed}})
        self.keys = KeyRing(self.store, settings.cluster_secret)
        self.vaults = VaultService(self.store)
        domain = settings.persona_domain.strip().lower()
        if not domain or "@" in domain or any(c.isspace() for c in domain):
            raise SystemExit("control plane: --persona-domain must be a mail domain, e.g. "
                             "personas.example.com")
        if settings.persona_mail_bytes < 1024 or settings.personas_per_project < 1 \
                or settings.persona_mails < 1:
            raise SystemExit("control plane: --persona-mail-bytes must be >= 1024, "
                             "--personas-per-project and --persona-mails >= 1")
        self.personas = PersonaService(self.store, self.vaults, PersonaLimits(
            domain=domain, per_project=settings.personas_per_project,
            mails_per_persona=settings.persona_mails,
            retention_seconds=settings.persona_mail_retention_hours * 3600,
            receiving=bool(settings.smtp_port)))
        self.smtp: SmtpReceiver | None = None
        self.tls = tls.TlsFiles.of(settings, "control plane")
        self.registry = NodeRegistry(settings.lease_seconds, self.tls, settings.heartbeat_ms)
        self.sessions = SessionService(
            self.store, self.registry,
            SessionPolicy(idle_timeout=settings.idle_timeout, max_duration=settings.max_duration,
                          queue_timeout=settings.queue_timeout, queue_size=settings.queue_size,
                          project_max_sessions=max(0, settings.project_max_sessions),
                          live_view_token_seconds=max(10, settings.live_view_token_seconds)),
            settings.cluster_secret)
        self.sessions.profile_cookies = ProfileCookieStore(self.blob_dir / "profiles")
        limits = ArtifactLimits(
            retention_seconds=settings.artifact_retention_hours * 3600,
            max_bytes=settings.artifact_max_bytes, per_session=settings.artifacts_per_session,
            session_bytes=settings.artifact_session_bytes,
            project_bytes=settings.artifact_project_bytes)
        if limits.max_bytes < 1 or limits.per_session < 1 or limits.session_bytes < 1 \
                or limits.project_bytes < limits.max_bytes:
            raise SystemExit("control plane: --artifact-max-bytes, --artifacts-per-session and "
                             "--artifact-session-bytes must be >= 1, --artifact-project-bytes "
                             ">= --artifact-max-bytes")
        url_key = load_or_create_secret(settings.data_dir / "artifact-url-key").encode()
        self.artifacts = Artifacts(self.store, self.blob_dir / "artifacts", url_key, limits)
        self.router = AutomationRouter(self.keys, self.sessions, self.registry,
                                       settings.cluster_secret, self.artifacts)
        self.calls = BackgroundCalls(self.router, self.store)
        self.server: grpc.aio.Server | None = None
        self.metrics_server: object | None = None
        self.port = 0
        self._loop_task: asyncio.Task | None = None
        self.autoscaler: NodeAutoscaler | None = None
        if settings.node_autoscaler not in ("", "kubernetes"):
            raise SystemExit("control plane: --node-autoscaler takes kubernetes (or nothing)")
        if settings.node_autoscaler:
            self.autoscaler = NodeAutoscaler(self)
        self.keda_server: grpc.aio.Server | None = None
        self.keda_port = 0

    def extension_blob(self, extension_id: str) -> pathlib.Path:
        return self.blob_dir / "extensions" / f"{extension_id}.zip"

    @property
    def profile_cookies(self) -> ProfileCookieStore:
        return self.sessions.profile_cookies

    def profile_blob(self, profile_id: str) -> pathlib.Path:
        return self.blob_dir / "profiles" / f"{profile_id}.tar.gz"

    def downloads_blob(self, session_id: str) -> pathlib.Path:
        return self.blob_dir / "downloads" / f"{session_id}.zip"

    def _forget_old_downloads(self) -> None:
        folder = self.blob_dir / "downloads"
        if not folder.exists():
            return
        cutoff = time.time() - self.settings.downloads_retention_hours * 3600
        for path in folder.iterdir():
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)

    async def start(self) -> None:
        self.sessions.recover()
        self.artifacts.forget_old()
        self.server, self.port = await grpc_server.start_server(
            f"{self.settings.host}:{self.settings.grpc_port}",
            [(controlplane_pb2_grpc.add_ControlPlaneServicer_to_server,
              ControlPlaneServicer(self), "browserplane.v1.ControlPlane")],
            generic=[(self.router, "browserplane.v1.Automation")],
            tls=self.tls, health_address=f"{self.settings.host}:{self.settings.health_port}"
            if self.settings.health_port else "",
        )
        if self.settings.metrics_port:
            self.metrics_server = start_metrics_server(self.settings.host, self.settings.metrics_port,
                                                       self.settings.metrics_token, metrics.REGISTRY)
        if self.settings.smtp_port:
            self.smtp = SmtpReceiver(self.personas, self.settings.smtp_host, self.settings.smtp_port,
                                     self.settings.persona_mail_bytes)
            await self.smtp.start()
            log.info("personas' SMTP receiver started", extra={"fields": {
                "smtp": f"{self.settings.smtp_host}:{self.smtp.port}",
                "domain": self.personas.limits.domain}})
        if self.settings.keda_port:
            self.keda_server, self.keda_port = await keda_scaler.start(
                self, f"{self.settings.host}:{self.settings.keda_port}")
        if self.autoscaler is not None:
            self.autoscaler.start()
        self._swept = 0.0
        self._loop_task = asyncio.get_running_loop().create_task(self._housekeeping())
        log.info("control plane started", extra={"fields": {
            "grpc": f"{self.settings.host}:{self.port}", "data_dir": str(self.settings.data_dir),
            "advertised": host_port(advertised(self.settings.host, self.settings.advertise_host),
                                    self.port), "tls": self.tls.enabled,
            "live_sessions": len(self.sessions.live)}})

    async def _housekeeping(self) -> None:
        """Leases and timeouts, checked a few times a second."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            now = time.monotonic()
            late, last = now - last - HOUSEKEEPING_S, now
            if late > 0.5:
                # This loop was held up (a busy machine, a pause): nodes' heartbeats waited in
                # the queue meanwhile, so no node loses its lease for it.
                self.registry.forgive(late)
                log.warning("control plane loop was held up", extra={"fields": {
                    "seconds": round(late, 2)}})
            try:
                for entry in self.registry.expired():
                    metrics.NODE_UP.labels(entry.info.id).set(0)
                    metrics.NODE_FREE.labels(entry.info.id).set(0)  # nothing is placed there now
                    self.store.save_node(entry.info)
                    log.warning("node lease expired", extra={"fields": {"node": entry.info.id}})
                    self.sessions.node_lost(entry.info.id, entry.info.down_reason)
                self.sessions.enforce_timeouts()
                if time.monotonic() - self._swept > 600:
                    self._swept = time.monotonic()
                    await asyncio.to_thread(self._forget_old_downloads)
                    self.artifacts.forget_old()
                    self.personas.forget_old()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad iteration
                log.exception("housekeeping failed")

    async def close(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
        if self.autoscaler is not None:
            await self.autoscaler.close()
        if self.keda_server is not None:
            await self.keda_server.stop(grace=1)
        if self.smtp is not None:
            await self.smtp.close()
        if self.server:
            await self.server.stop(grace=1)
        await self.calls.close()
        await self.artifacts.drain()
        await self.sessions.close()
        await self.registry.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()  # type: ignore[attr-defined]
        self.store.close()
