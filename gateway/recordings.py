"""A session's recording as the dialects hand it out: the video artifact, its timeline, the
stretches of the video each page (tab) was on screen, and signed download URLs.

Shared by the Browserbase (/recording/downloads, /replays) and Notte (/replay) dialects, which
only name these their own way.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from gateway import artifact_urls

URL_TTL_S = 3600


@dataclasses.dataclass
class Recording:
    video: cp.Artifact
    timeline: dict[str, Any]

    @property
    def duration_ms(self) -> int:
        return int(self.video.metadata.get("duration_ms", "0") or 0)


async def find(control: controlplane_pb2_grpc.ControlPlaneStub, md: Any,
               session_id: str) -> Recording | None:
    """The session's recording, once its node has put it (at the session's end); None before,
    and for a session that was not recorded."""
    videos = await control.ListArtifacts(cp.ListArtifactsRequest(
        session_id=session_id, kind=cp.ARTIFACT_VIDEO, limit=1), metadata=md, timeout=10)
    if not videos.artifacts:
        return None
    timelines = await control.ListArtifacts(cp.ListArtifactsRequest(
        session_id=session_id, kind=cp.ARTIFACT_TIMELINE, limit=1), metadata=md, timeout=10)
    events: dict[str, Any] = {"entries": []}
    if timelines.artifacts:
        data = b""
        async for chunk in control.ReadArtifact(cp.ReadArtifactRequest(
                id=timelines.artifacts[0].id), metadata=md, timeout=30):
            data += chunk.data
        try:
            events = json.loads(data or b"{}")
        except ValueError:
            pass  # a video without its timeline still plays
    return Recording(videos.artifacts[0], events)


async def signed_url(request: web.Request, control: controlplane_pb2_grpc.ControlPlaneStub,
                     md: Any, artifact: cp.Artifact, ttl: int = URL_TTL_S) -> tuple[str, int]:
    """A download URL of the artifact that works without the key until it expires (the
    gateway's signed artifact route), and that expiry (unix seconds)."""
    signed = await control.SignArtifactUrl(cp.SignArtifactUrlRequest(
        id=artifact.id, ttl_seconds=ttl), metadata=md, timeout=10)
    return artifact_urls.url_of(request, signed), signed.expires


def page_stretches(recording: Recording) -> list[dict[str, Any]]:
    """The stretches of the video each page was on screen, in order: page (targetId), its
    number among the session's pages (in order of first appearance), start_ms, end_ms and
    the page's URL at the stretch's end."""
    entries = recording.timeline.get("entries", [])
    duration = recording.duration_ms
    current = recording.timeline.get("video", {}).get("page_id", "")
    order: dict[str, int] = {}
    urls: dict[str, str] = {}
    stretches: list[dict[str, Any]] = []
    start = 0

    def close(until: int) -> None:
        if current and until > start:
            stretches.append({"page": current, "number": order.setdefault(current, len(order)),
                              "start_ms": start, "end_ms": min(until, duration),
                              "url": urls.get(current, "")})

    for e in entries:
        if e.get("kind") == "navigation" and e.get("page_id"):
            urls[e["page_id"]] = e.get("url", "")
        elif e.get("kind") == "tab_switch":
            close(e["t_ms"])
            current, start = e.get("to", ""), min(e["t_ms"], duration)
    close(duration)
    return stretches
