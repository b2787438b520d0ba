"""The node's `browserplane.v1.Automation` service (reached through the control plane).

Callers are the control plane's router: cluster secret plus the session's project in
`x-browserplane-project`. Methods not implemented yet answer UNIMPLEMENTED.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
from google.protobuf import timestamp_pb2

from browserplane import errors
from browserplane.credentials import PROJECT_HEADER, bearer, metadata_value
from browserplane.errors import BrowserplaneError
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from node import page_events, session_files
from node.fleet import Fleet, SessionSlot


class AutomationServicer(automation_pb2_grpc.AutomationServicer):
    def __init__(self, fleet: Fleet, secret: str) -> None:
        self.fleet = fleet
        self.secret = secret

    def _slot(self, session_id: str, context: grpc.aio.ServicerContext) -> SessionSlot:
        md = context.invocation_metadata()
        if bearer(md) != self.secret:
            raise BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                    "node calls need the cluster secret")
        slot = self.fleet.sessions.get(session_id)
        if slot is None or metadata_value(md, PROJECT_HEADER) != slot.project_id:
            raise errors.not_found(errors.SESSION_NOT_FOUND, "session", session_id)
        return slot

    def _events(self, request: A.LogRequest, context: grpc.aio.ServicerContext) -> tuple:
        slot = self._slot(request.session_id, context)
        if slot.events is None:
            raise BrowserplaneError(grpc.StatusCode.UNAVAILABLE, errors.ACTION_FAILED,
                                    "this session records no page events")
        return slot.events, request.offset, request.limit or 100

    @staticmethod
    def _window(buffer: page_events.Buffer, offset: int, limit: int, page_id: str) -> list:
        entries = [e for e in buffer.entries if not page_id or e["page"] == page_id]
        return entries[offset:offset + limit], len(entries)

    async def GetConsoleLog(self, request: A.LogRequest,
                            context: grpc.aio.ServicerContext) -> A.ConsoleLogResponse:
        events, offset, limit = self._events(request, context)
        window, total = self._window(events.console, offset, limit, request.page_id)
        return A.ConsoleLogResponse(total=total, dropped=events.console.dropped, entries=[
            A.ConsoleEntry(level=e["level"], text=e["text"], url=e["url"], page_id=e["page"],
                           timestamp=_ts(e["timestamp"])) for e in window])

    async def GetNetworkLog(self, request: A.LogRequest,
                            context: grpc.aio.ServicerContext) -> A.NetworkLogResponse:
        events, offset, limit = self._events(request, context)
        window, total = self._window(events.network, offset, limit, request.page_id)
        return A.NetworkLogResponse(total=total, dropped=events.network.dropped, entries=[
            A.NetworkEntry(request_id=e["request_id"], url=e["url"], method=e["method"],
                           status=e["status"], resource_type=e["type"],
                           duration_ms=e.get("duration_ms", 0.0), size_bytes=e["size"],
                           started_at=_ts(e["started"]), failed=e["failed"],
                           error_text=e["error"], page_id=e["page"], mime_type=e["mime"])
            for e in window])

    async def GetCdpLog(self, request: A.LogRequest,
                        context: grpc.aio.ServicerContext) -> A.CdpLogResponse:
        events, offset, limit = self._events(request, context)
        window, total = self._window(events.cdp, offset, limit, request.page_id)
        return A.CdpLogResponse(total=total, entries=[
            A.CdpLogEntry(method=e["method"], page_id=e["page"],
                          page_index=events.page_number(e["page"]) if e["page"] else 0,
                          params_json=json.dumps(e["params"]), timestamp=_ts(e["timestamp"]))
            for e in window])

    async def ListFiles(self, request: A.ListFilesRequest,
                        context: grpc.aio.ServicerContext) -> A.ListFilesResponse:
        slot = self._slot(request.session_id, context)
        return A.ListFilesResponse(files=session_files.listing(slot.browser, request.kind))

    async def ReadFile(self, request: A.ReadFileRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[A.FileChunk]:
        slot = self._slot(request.session_id, context)
        first = True
        for data in session_files.read_chunks(slot.browser, request.kind, request.name):
            if first:
                yield A.FileChunk(session_id=request.session_id, kind=request.kind,
                                  name=request.name, data=data)
                first = False
            else:
                yield A.FileChunk(data=data)
        if first:  # an empty file still answers one (empty) chunk
            yield A.FileChunk(session_id=request.session_id, kind=request.kind, name=request.name)

    async def WriteFile(self, request_iterator: AsyncIterator[A.FileChunk],
                        context: grpc.aio.ServicerContext) -> A.FileInfo:
        upload = None
        kind = 0
        try:
            async for chunk in request_iterator:
                if upload is None:
                    slot = self._slot(chunk.session_id, context)
                    kind = chunk.kind or A.UPLOAD
                    upload = session_files.Upload(slot.browser, kind, chunk.name)
                upload.write(chunk.data)
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        if upload is None:
            raise errors.invalid("session_id", "an empty stream names no session")
        return session_files.info(upload.finish(), kind)

    async def DeleteFiles(self, request: A.DeleteFilesRequest,
                          context: grpc.aio.ServicerContext) -> A.DeleteFilesResponse:
        slot = self._slot(request.session_id, context)
        deleted = 0
        for entry in session_files.listing(slot.browser, request.kind):
            session_files.folder(slot.browser, entry.kind).joinpath(entry.name).unlink(missing_ok=True)
            deleted += 1
        return A.DeleteFilesResponse(deleted=deleted)


def _ts(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp
