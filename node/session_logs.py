"""A session's logs as the Automation service answers them, and the copy kept as it stops.

The same builders serve the live calls (GetActionLog, GetConsoleLog, GetNetworkLog, from the
node's bounded buffers) and the SessionLogs the node puts as an ARTIFACT_LOGS artifact when the
session stops, from which the control plane answers those calls (and CheckHealth) once the
session has ended.
"""

from __future__ import annotations

import time
from typing import Any

from google.protobuf import struct_pb2

from browserplane.times import timestamp
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import controlplane_pb2 as cp
from node.page_events import Buffer, PageEvents


def window(buffer: Buffer, offset: int, limit: int, page_id: str) -> tuple[list, int]:
    entries = [e for e in buffer.entries if not page_id or e["page"] == page_id]
    return entries[offset:offset + limit], len(entries)


def console_log(events: PageEvents, offset: int = 0, limit: int | None = None,
                page_id: str = "") -> A.ConsoleLogResponse:
    part, total = window(events.console, offset, limit or len(events.console.entries), page_id)
    return A.ConsoleLogResponse(total=total, dropped=events.console.dropped, entries=[
        A.ConsoleEntry(level=e["level"], text=e["text"], url=e["url"], page_id=e["page"],
                       timestamp=timestamp(e["timestamp"])) for e in part])


def network_log(events: PageEvents, offset: int = 0, limit: int | None = None,
                page_id: str = "") -> A.NetworkLogResponse:
    part, total = window(events.network, offset, limit or len(events.network.entries), page_id)
    return A.NetworkLogResponse(total=total, dropped=events.network.dropped, entries=[
        A.NetworkEntry(request_id=e["request_id"], url=e["url"], method=e["method"],
                       status=e["status"], resource_type=e["type"],
                       duration_ms=e.get("duration_ms", 0.0), size_bytes=e["size"],
                       started_at=timestamp(e["started"]), failed=e["failed"],
                       error_text=e["error"], page_id=e["page"], mime_type=e["mime"])
        for e in part])


def action_log(actions: Buffer, offset: int = 0, limit: int | None = None) -> A.ActionLogResponse:
    entries = list(actions.entries)
    out = []
    for e in entries[offset:offset + (limit or len(entries))]:
        details = struct_pb2.Struct()
        details.update(e["details"])
        out.append(A.ActionEntry(type=e["type"], timestamp=timestamp(e["timestamp"]),
                                 success=e["success"], details=details,
                                 duration_ms=e["duration_ms"], error_reason=e["reason"]))
    return A.ActionLogResponse(entries=out, total=len(entries))


def kept_logs(actions: Buffer, events: PageEvents | None, started_at: float, url: str,
              title: str) -> A.SessionLogs:
    """Everything the buffers hold, and the health at the end: not responsive (the browser is
    stopping), the last page's url and title, the navigations counted."""
    kept = A.SessionLogs(actions=action_log(actions), health=A.BrowserHealth(
        responsive=False, current_url=url, title=title,
        uptime_ms=(time.time() - started_at) * 1000,
        navigations=events.navigations if events is not None else 0))
    if events is not None:
        kept.console.CopyFrom(console_log(events))
        kept.network.CopyFrom(network_log(events))
    return kept


async def put_logs(stub: Any, metadata: tuple[tuple[str, str], ...], session_id: str,
                   project_id: str, kept: A.SessionLogs) -> None:
    """Sends the kept logs to the control plane's artifact store (ARTIFACT_LOGS)."""
    data = kept.SerializeToString()

    async def chunks() -> Any:
        yield cp.ArtifactChunk(artifact=cp.Artifact(
            session_id=session_id, project_id=project_id, kind=cp.ARTIFACT_LOGS, name="logs.pb",
            mime_type="application/x-protobuf",
            metadata={"actions": str(kept.actions.total), "console": str(kept.console.total),
                      "network": str(kept.network.total)}))
        for start in range(0, len(data), 1 << 20):
            yield cp.ArtifactChunk(data=data[start:start + (1 << 20)])

    await stub.PutArtifact(chunks(), metadata=metadata, timeout=30)
