"""A session's recording: the active page's screen as a video, and the tab switches.

The node's own CDP connection to the browser screencasts one page at a time (Page.startScreencast
on a flat session attached to it) and follows the active page: the page Automation last used or
switched to (the driver's), or a page that just opened (a browser brings a new tab to the front);
when the page recorded closes, the driver's active page or the newest one takes over.

Frames go to the encoder process (node/video_encoder.py, niced) through its stdin. Nothing
queues: the newest frame waits in a one-frame mailbox and a frame that arrives while the
encoder is still reading the previous one replaces it. Acks never wait on the encoder; they
are paced to the output frame rate, so Chromium does not paint frames the video would drop.
A recorder that fails only logs: the session goes on without a recording.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

from browserplane.tasks import cancel_and_wait
from node.cdp_client import CdpConnection, CdpError
from node.video_encoder import HEADER

log = logging.getLogger(__name__)
ENCODER = pathlib.Path(__file__).with_name("video_encoder.py")
FINISH_TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True)
class RecordSettings:
    fps: int = 5
    max_width: int = 1280
    max_height: int = 720
    max_seconds: float = 3600.0
    max_bytes: int = 200 << 20


@dataclasses.dataclass
class Recording:
    """What a finished recording left: the video file and what the encoder said of it."""
    path: pathlib.Path
    frames: int
    duration_ms: int
    width: int
    height: int
    fps: int
    size: int
    started_at: float  # wall time of the video's first frame
    switches: list[dict[str, Any]]
    first_page: str = ""  # the page the video starts on


class Recorder:
    def __init__(self, ws_url: str, out_dir: pathlib.Path, settings: RecordSettings,
                 active_hint: Callable[[], str] = lambda: "", session_id: str = "") -> None:
        self.session_id = session_id  # for the logs
        self.ws_url = ws_url
        self.out_dir = out_dir
        self.settings = settings
        self.active_hint = active_hint  # the page Automation calls active ("" before any)
        self.path = out_dir / "recording.mp4"
        self.started_at = 0.0  # wall time of the first frame (the video's 0)
        self._start_mono = 0.0
        self.switches: list[dict[str, Any]] = []
        self.first_page = ""
        self.frames_seen = 0
        self.frames_dropped = 0
        self._pages: list[str] = []  # page targetIds in order of appearance
        self._target = ""  # the page screencast now
        self._cdp_session = ""
        self._hint = ""
        self._conn: CdpConnection | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._mailbox: tuple[float, str] | None = None
        self._new_frame = asyncio.Event()
        self._last_ack = 0.0
        self._task: asyncio.Task | None = None
        self._writer: asyncio.Task | None = None
        self._switching = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._ended = False

    def _extra(self, **fields: Any) -> dict[str, Any]:
        return {"session_id": self.session_id, "fields": fields}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    # -- the browser side ----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._spawn_encoder()
            self._writer = asyncio.get_running_loop().create_task(self._write_frames())
            async with CdpConnection(self.ws_url, on_event=self._event) as conn:
                self._conn = conn
                await conn.send("Target.setDiscoverTargets", {"discover": True})
                answer = await conn.send("Target.getTargets")
                for info in answer.get("targetInfos", []):
                    if info.get("type") == "page" and info["targetId"] not in self._pages:
                        self._pages.append(info["targetId"])
                while not conn.closed.is_set() and not self._ended:
                    await self._follow()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(conn.closed.wait(), 0.25)
        except asyncio.CancelledError:
            pass
        except (CdpError, OSError, TimeoutError) as err:
            log.debug("recorder stopped", extra=self._extra(error=str(err)))
        except Exception:  # noqa: BLE001 - a recorder failure never fails the session
            log.exception("recorder failed", extra={"session_id": self.session_id})

    async def _spawn_encoder(self) -> None:
        if self._proc is not None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        s = self.settings
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ENCODER), str(self.path), str(s.fps), str(s.max_width),
            str(s.max_height), str(s.max_seconds), str(s.max_bytes),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)

    def _wanted(self) -> str:
        hint = self.active_hint()
        if hint and hint != self._hint and hint in self._pages:
            self._hint = hint
            return hint
        if self._target in self._pages:
            return self._target
        if self._hint in self._pages:
            return self._hint
        return self._pages[-1] if self._pages else ""

    async def _follow(self) -> None:
        wanted = self._wanted()
        if wanted and wanted != self._target:
            await self._switch(wanted)

    async def _switch(self, target: str) -> None:
        conn = self._conn
        if conn is None:
            return
        async with self._switching:
            old, old_session = self._target, self._cdp_session
            self._target, self._cdp_session = target, ""
            if old_session:
                with contextlib.suppress(CdpError, TimeoutError):
                    await conn.send("Page.stopScreencast", session_id=old_session)
                with contextlib.suppress(CdpError, TimeoutError):
                    await conn.send("Target.detachFromTarget", {"sessionId": old_session})
            try:
                attached = await conn.send("Target.attachToTarget",
                                           {"targetId": target, "flatten": True})
                session = attached["sessionId"]
                self._cdp_session = session  # its frames count from the first one on
                s = self.settings
                await conn.send("Page.startScreencast", {
                    "format": "jpeg", "quality": 70, "maxWidth": s.max_width,
                    "maxHeight": s.max_height, "everyNthFrame": 1}, session_id=session)
            except (CdpError, TimeoutError, KeyError) as err:
                log.debug("could not screencast a page", extra=self._extra(error=str(err)))
                self._cdp_session = self._target = ""  # the next tick tries again
                return
            self.first_page = self.first_page or target
            if old:
                self.switches.append({"timestamp": time.time(), "from": old, "to": target})

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method", "")
        params = message.get("params", {})
        if method == "Page.screencastFrame":
            session = message.get("sessionId", "")
            if session != self._cdp_session:
                return  # a page no longer recorded (its screencast is being stopped)
            self._frame(params.get("data", ""))
            self._ack(session, params.get("sessionId", 0))
        elif method == "Target.targetCreated":
            info = params.get("targetInfo", {})
            if info.get("type") == "page" and info["targetId"] not in self._pages:
                self._pages.append(info["targetId"])
                self._spawn(self._switch(info["targetId"]))  # a new tab comes to the front
        elif method == "Target.targetDestroyed":
            target = params.get("targetId", "")
            if target in self._pages:
                self._pages.remove(target)
            if target == self._target:
                self._target = self._cdp_session = ""

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _frame(self, data: str) -> None:
        if self._ended or not data:
            return
        now = time.monotonic()
        if not self._start_mono:
            self._start_mono, self.started_at = now, time.time()
        self.frames_seen += 1
        if self._mailbox is not None:
            self.frames_dropped += 1  # the encoder is behind: the newer frame wins
        self._mailbox = (now - self._start_mono, data)
        self._new_frame.set()

    def _ack(self, session: str, frame: int) -> None:
        """Acks at most fps times a second (Chromium sends the next frame only after an ack)."""
        wait = self._last_ack + 1 / self.settings.fps - time.monotonic()

        async def ack() -> None:
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_ack = time.monotonic()
            if self._conn is not None and session == self._cdp_session:
                with contextlib.suppress(CdpError, TimeoutError, ConnectionError):
                    await self._conn.send("Page.screencastFrameAck", {"sessionId": frame},
                                          session_id=session)

        self._last_ack = time.monotonic() + max(0.0, wait)
        self._spawn(ack())

    # -- the encoder side ----------------------------------------------------------------

    async def _write_frames(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            while True:
                await self._new_frame.wait()
                self._new_frame.clear()
                if self._mailbox is None:
                    continue
                t, data = self._mailbox
                self._mailbox = None
                if self.settings.max_seconds and t > self.settings.max_seconds:
                    continue
                jpeg = base64.b64decode(data)
                proc.stdin.write(HEADER.pack(t, len(jpeg)) + jpeg)
                await proc.stdin.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def finish(self) -> Recording | None:
        """Stops screencasting, ends the video at now and waits for the encoder; None when
        nothing was recorded or the encoder failed. The encoder is gone when this returns."""
        end = time.monotonic()
        for task in (self._task, *self._tasks):
            if task is not None:
                task.cancel()
        await cancel_and_wait(self._task)
        if not self.frames_seen:
            await self._last_chance()
            end = max(end, self._start_mono)
        self._ended = True
        proc = self._proc
        if proc is None:
            return None
        try:
            # The last frame still in the mailbox goes in, then the end marker.
            if self._writer is not None:
                self._new_frame.set()
                await asyncio.sleep(0)
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
            assert proc.stdin is not None and proc.stdout is not None
            if self._mailbox is not None:
                t, data = self._mailbox
                jpeg = base64.b64decode(data)
                proc.stdin.write(HEADER.pack(t, len(jpeg)) + jpeg)
            t_end = end - self._start_mono if self._start_mono else 0.0
            proc.stdin.write(HEADER.pack(t_end, 0))
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()
            proc.stdin.close()
            line = await asyncio.wait_for(proc.stdout.readline(), FINISH_TIMEOUT_S)
            await asyncio.wait_for(proc.wait(), 5)
            summary = json.loads(line or b"{}")
        except (OSError, ValueError, TimeoutError, AssertionError) as err:
            log.warning("the recording could not be finished", extra=self._extra(error=str(err)))
            return None
        finally:
            await self._kill()
        if not summary.get("frames") or not self.path.exists():
            return None
        log.info("recording finished", extra={"session_id": self.session_id, "fields": {
            **summary, "screencast_frames": self.frames_seen, "dropped": self.frames_dropped,
            "tab_switches": len(self.switches)}})
        return Recording(self.path, summary["frames"], summary["duration_ms"], summary["width"],
                         summary["height"], summary["fps"], summary["bytes"], self.started_at,
                         list(self.switches), self.first_page)

    async def _last_chance(self) -> None:
        """A session that ends before its first screencast frame (stopped within a second of
        its start) still gets a one-frame video: a screenshot of its newest page, taken on a
        connection of its own (the recorder's may not be up yet)."""
        try:
            async with CdpConnection(self.ws_url, timeout=5) as conn:
                targets = await conn.send("Target.getTargets")
                pages = [t["targetId"] for t in targets.get("targetInfos", []) if t.get("type") == "page"]
                target = self._hint if self._hint in pages else (pages[-1] if pages else "")
                if not target:
                    return
                attached = await conn.send("Target.attachToTarget", {"targetId": target, "flatten": True})
                shot = await conn.send("Page.captureScreenshot", {"format": "jpeg", "quality": 70},
                                       session_id=attached["sessionId"])
            await self._spawn_encoder()
            self.first_page = self.first_page or target
            self._frame(shot.get("data", ""))
        except (CdpError, TimeoutError, OSError, KeyError) as err:
            log.debug("no last frame for the recording", extra=self._extra(error=str(err)))

    async def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def close(self) -> None:
        """Ends everything without a video (the session ends and nothing is kept)."""
        self._ended = True
        for task in (self._task, self._writer, *self._tasks):
            if task is not None:
                task.cancel()
        await self._kill()


# -- what a recording leaves in the control plane ------------------------------------------

def timeline(recording: Recording, actions: list[dict[str, Any]], cdp_events: list[dict[str, Any]],
             console: list[dict[str, Any]]) -> dict[str, Any]:
    """The recording's timeline: actions (every Automation call, from any dialect), page events
    (main-frame navigations, loads, new pages), console errors and tab switches, each at `t_ms`
    since the video's first frame (0 for what happened before it), oldest first."""
    start = recording.started_at

    def at(wall: float) -> int:
        return max(0, round((wall - start) * 1000))

    entries: list[dict[str, Any]] = []
    for a in actions:
        began = a["timestamp"] - a.get("duration_ms", 0) / 1000
        entries.append({"t_ms": at(began), "kind": "action", "type": a["type"],
                        "success": a.get("success", True), "reason": a.get("reason", ""),
                        "duration_ms": round(a.get("duration_ms", 0)), "details": a.get("details", {})})
    for e in cdp_events:
        method, params = e["method"], e.get("params", {})
        if method == "Page.frameNavigated" and not params.get("frame", {}).get("parentId"):
            entries.append({"t_ms": at(e["timestamp"]), "kind": "navigation", "page_id": e["page"],
                            "url": params.get("frame", {}).get("url", "")})
        elif method == "Page.loadEventFired":
            entries.append({"t_ms": at(e["timestamp"]), "kind": "load", "page_id": e["page"]})
        elif method == "Target.targetCreated" and params.get("targetInfo", {}).get("type") == "page":
            entries.append({"t_ms": at(e["timestamp"]), "kind": "page_opened",
                            "page_id": params["targetInfo"].get("targetId", "")})
    for c in console:
        if c.get("level") == "error":
            entries.append({"t_ms": at(c["timestamp"]), "kind": "console_error", "page_id": c.get("page", ""),
                            "text": c.get("text", "")[:2000], "url": c.get("url", "")})
    for s in recording.switches:
        entries.append({"t_ms": at(s["timestamp"]), "kind": "tab_switch", "from": s["from"], "to": s["to"]})
    entries.sort(key=lambda x: x["t_ms"])
    return {"video": {"duration_ms": recording.duration_ms, "frames": recording.frames,
                      "fps": recording.fps, "width": recording.width, "height": recording.height,
                      "started_at": recording.started_at, "page_id": recording.first_page},
            "entries": entries}


async def put_recording(stub: Any, metadata: tuple[tuple[str, str], ...], session_id: str,
                        project_id: str, recording: Recording, events: dict[str, Any]) -> None:
    """Sends the video (ARTIFACT_VIDEO) and its timeline (ARTIFACT_TIMELINE) to the control
    plane's artifact store; the file is read as it is sent."""
    from browserplane.v1 import controlplane_pb2 as cp

    facts = {"duration_ms": str(recording.duration_ms), "frames": str(recording.frames),
             "fps": str(recording.fps), "width": str(recording.width), "height": str(recording.height)}

    async def video() -> Any:
        yield cp.ArtifactChunk(artifact=cp.Artifact(
            session_id=session_id, project_id=project_id, kind=cp.ARTIFACT_VIDEO,
            name="recording.mp4", mime_type="video/mp4", metadata=facts))
        with recording.path.open("rb") as fh:
            while data := await asyncio.to_thread(fh.read, 1 << 20):
                yield cp.ArtifactChunk(data=data)

    async def timeline_chunks() -> Any:
        yield cp.ArtifactChunk(artifact=cp.Artifact(
            session_id=session_id, project_id=project_id, kind=cp.ARTIFACT_TIMELINE,
            name="timeline.json", mime_type="application/json", metadata=facts))
        yield cp.ArtifactChunk(data=json.dumps(events).encode())

    await stub.PutArtifact(video(), metadata=metadata, timeout=120)
    await stub.PutArtifact(timeline_chunks(), metadata=metadata, timeout=30)
