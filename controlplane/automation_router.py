"""Routes `browserplane.v1.Automation` calls to the node that owns the session.

Internal services talk to one address. The router reads only the session id (field 1 of every
Automation request), checks the caller may use that session, and forwards the request's bytes
unchanged to the node; answers and errors (with their ErrorInfo) come back unchanged too.
Every Screenshot and Pdf answer is also kept as an artifact of its session (in the background,
so the caller's answer does not wait for the disk): that covers every dialect and gRPC.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import message_factory

from browserplane import errors
from browserplane.credentials import cluster_metadata
from browserplane.errors import BrowserplaneError, not_found
from browserplane.v1 import automation_pb2
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from controlplane.artifacts import Artifacts
from controlplane.keys import KeyRing, Principal
from controlplane.leases import NodeRegistry
from controlplane.sessions import SessionService

log = logging.getLogger(__name__)
SERVICE = automation_pb2.DESCRIPTOR.services_by_name["Automation"]
PREFIX = f"/{SERVICE.full_name}/"
# Answers kept as artifacts of the session (an Observe only when it was asked for a screenshot).
KEPT = {f"{PREFIX}Screenshot", f"{PREFIX}Pdf", f"{PREFIX}Observe"}


class AutomationRouter(grpc.GenericRpcHandler):
    def __init__(self, keys: KeyRing, sessions: SessionService, registry: NodeRegistry,
                 secret: str, artifacts: Artifacts | None = None) -> None:
        self.artifacts = artifacts
        self.keys = keys
        self.sessions = sessions
        self.registry = registry
        self.secret = secret

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if not details.method.startswith(PREFIX):
            return None
        method = SERVICE.methods_by_name.get(details.method[len(PREFIX):])
        if method is None:
            return None
        parse = message_factory.GetMessageClass(method.input_type).FromString
        path = details.method
        if method.client_streaming:
            return grpc.stream_unary_rpc_method_handler(self._client_stream(path, parse))
        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._server_stream(path, parse))
        if path in KEPT and self.artifacts is not None:
            return grpc.unary_unary_rpc_method_handler(self._kept(path, parse))
        return grpc.unary_unary_rpc_method_handler(self._unary(path, parse))

    def _route(self, raw: bytes, parse: Callable[[bytes], Any],
               context: grpc.aio.ServicerContext) -> tuple[grpc.aio.Channel, tuple]:
        principal = self.keys.authenticate(context.invocation_metadata())
        return self.target(principal, parse(raw).session_id)

    def target(self, principal: Principal, session_id: str) -> tuple[grpc.aio.Channel, tuple]:
        """The channel to the node that runs the session, and the metadata to call it with,
        once the caller may use the session and it is running."""
        if not session_id:
            raise errors.invalid("session_id", "is required")
        s = self.sessions.live.get(session_id)
        if s is None or principal.project_id not in (None, s.project_id):
            ended = self.sessions.store.session(session_id)
            if ended is not None and principal.project_id in (None, ended.project_id):
                raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.SESSION_ENDED,
                                        f"session {session_id} has ended", metadata={"id": session_id})
            raise not_found(errors.SESSION_NOT_FOUND, "session", session_id)
        if s.state != S.RUNNING:
            raise BrowserplaneError(grpc.StatusCode.UNAVAILABLE, errors.SESSION_ENDED,
                                    f"session {session_id} is still starting", retry_after=1)
        entry = self.registry.nodes.get(s.node_id)
        if entry is None or not entry.info.up:
            raise BrowserplaneError(grpc.StatusCode.UNAVAILABLE, errors.NODE_UNAVAILABLE,
                                    f"node {s.node_id} of session {session_id} is down")
        self.sessions.touch(s)  # using a session is activity
        return entry._channel(), cluster_metadata(self.secret, s.project_id)

    def _unary(self, path: str, parse: Callable[[bytes], Any]) -> Callable:
        async def call(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
            channel, md = self._route(raw, parse, context)
            try:
                return await channel.unary_unary(path)(raw, metadata=md,
                                                       timeout=context.time_remaining())
            except grpc.aio.AioRpcError as err:
                await _relay_error(err, context)
        return call

    def _kept(self, path: str, parse: Callable[[bytes], Any]) -> Callable:
        """A unary call whose answer is also kept as an artifact of the session."""
        async def call(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
            channel, md = self._route(raw, parse, context)
            try:
                answer = await channel.unary_unary(path)(raw, metadata=md,
                                                         timeout=context.time_remaining())
            except grpc.aio.AioRpcError as err:
                await _relay_error(err, context)
            self.keep_answer(path, raw, answer)
            return answer
        return call

    def keep_answer(self, path: str, raw: bytes, answer: bytes) -> None:
        """Keeps a Screenshot's, Pdf's or Observe's screenshot answer as an artifact of its
        session, in the background (background calls come through here too)."""
        if path not in KEPT or self.artifacts is None:
            return
        try:
            method = SERVICE.methods_by_name[path[len(PREFIX):]]
            request = message_factory.GetMessageClass(method.input_type).FromString(raw)
            if path.endswith("/Observe") and not request.include_screenshot:
                return
            s = self.sessions.live.get(request.session_id)
            if s is None:
                return
            _keep(self.artifacts, s.project_id, s.id, path, request, answer)
        except Exception:  # noqa: BLE001 - keeping a copy must never fail the caller's answer
            log.exception("answer not kept as an artifact")

    def _server_stream(self, path: str, parse: Callable[[bytes], Any]) -> Callable:
        async def call(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            channel, md = self._route(raw, parse, context)
            try:
                async for item in channel.unary_stream(path)(raw, metadata=md,
                                                             timeout=context.time_remaining()):
                    yield item
            except grpc.aio.AioRpcError as err:
                await _relay_error(err, context)
        return call

    def _client_stream(self, path: str, parse: Callable[[bytes], Any]) -> Callable:
        async def call(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
            iterator = requests.__aiter__()
            try:
                first = await iterator.__anext__()
            except StopAsyncIteration:
                first = None
            if first is None:
                raise errors.invalid("session_id", "an empty stream names no session")
            channel, md = self._route(first, parse, context)

            async def forward() -> AsyncIterator[bytes]:
                yield first
                async for item in iterator:
                    yield item

            try:
                return await channel.stream_unary(path)(forward(), metadata=md,
                                                        timeout=context.time_remaining())
            except grpc.aio.AioRpcError as err:
                await _relay_error(err, context)
        return call


def _keep(artifacts: Artifacts, project_id: str, session_id: str, path: str, request: Any,
          answer: bytes) -> None:
    name = path[len(PREFIX):]
    if name == "Pdf":
        pdf = automation_pb2.PdfResponse.FromString(answer)
        if pdf.data:
            artifacts.keep(project_id, session_id, cp.ARTIFACT_PDF, "page.pdf", pdf.data,
                           mime_type="application/pdf", page_id=request.page_id)
        return
    if name == "Observe":
        seen = automation_pb2.Observation.FromString(answer)
        if seen.screenshot:
            artifacts.keep(project_id, session_id, cp.ARTIFACT_SCREENSHOT, "observe.png",
                           seen.screenshot, mime_type="image/png",
                           page_id=request.page_id or seen.page.id,
                           metadata={"url": seen.page.url[:2048]})
        return
    shot = automation_pb2.ScreenshotResponse.FromString(answer)
    if shot.data:
        jpeg = shot.mime_type == "image/jpeg"
        artifacts.keep(project_id, session_id, cp.ARTIFACT_SCREENSHOT,
                       shot.artifact_name or f"screenshot.{'jpg' if jpeg else 'png'}", shot.data,
                       mime_type=shot.mime_type or "image/png", page_id=request.page_id,
                       metadata={"width": str(shot.width), "height": str(shot.height)})


async def _relay_error(err: grpc.aio.AioRpcError, context: grpc.aio.ServicerContext) -> None:
    """The node's error, as it was (code, message and the ErrorInfo in trailing metadata)."""
    trailing = tuple((k, v) for k, v in (err.trailing_metadata() or ()) if k == "grpc-status-details-bin")
    await context.abort(err.code(), err.details() or "", trailing_metadata=trailing)
