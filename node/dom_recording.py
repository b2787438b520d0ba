"""DOM recording of a session's pages with rrweb, and its events kept as the session's artifact.

A recorded session's browser gets a CDP connection of its own (not the page-events one: a page
can make this one drop by sending too much, and nothing else may go with it). On every page it
attaches to, the node adds rrweb (the UMD build from node/js/node_modules, installed with
`npm ci` by scripts/bootstrap) and node/dom_recorder.js as a script evaluated in every new
document, plus a binding the recorder calls with batches of rrweb events.

The page owns its main world, so it can call the binding with anything: each batch is bounded
(MAX_BATCH_CHARS), parsed defensively (an event must look like an rrweb event), and the session's
events are bounded in all (max_bytes); what goes past a bound is dropped and counted, and once
a page has sent more than twice the session's bound in all, nothing more is even parsed. At the
session's end the events go to the control plane as one ARTIFACT_DOM_EVENTS artifact: a JSON
array of {type, timestamp, data, sessionId, pageId} (pageId numbers the session's pages in
order of appearance, as the CDP log does).

Password inputs are masked by rrweb (maskInputOptions password); in a session with a vault every
input is masked, as a vault's secret may be typed into any field.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from browserplane.tasks import cancel_and_wait
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from node.cdp_client import CdpConnection, CdpError

log = logging.getLogger(__name__)

RRWEB_BUILD = pathlib.Path(__file__).with_name("js") / "node_modules" / "rrweb" / "dist" / "rrweb.umd.min.cjs"
RECORDER_JS = pathlib.Path(__file__).with_name("dom_recorder.js")
BINDING = "__browserplaneRecord"
FLAG = "__browserplaneRecorder"
MAX_BATCH_CHARS = 4 << 20      # one binding call; a bigger one is dropped unread
MAX_BATCH_EVENTS = 200
FLUSH_MS = 500
DEFAULT_MAX_BYTES = 32 << 20   # the session's events in all (the artifact's size)
RECONNECTS = 3                 # a page that makes the connection drop this often ends recording
# A binding payload is a JSON string inside a CDP message: escaping can double it.
MAX_MESSAGE_BYTES = 2 * MAX_BATCH_CHARS + (64 << 10)
PARSE_IN_THREAD = 256 << 10    # bigger batches are parsed off the node's event loop
CHUNK_BYTES = 1 << 20

_scripts: dict[str, str | None] = {}  # rrweb build path -> the function source, None: missing


def recorder_script() -> str | None:
    """rrweb's UMD build as a function source; None when rrweb is not installed (sessions then
    record no DOM events, and the node says so once). BROWSERPLANE_RRWEB_BUILD names another
    build file."""
    build = pathlib.Path(os.environ.get("BROWSERPLANE_RRWEB_BUILD", "") or RRWEB_BUILD)
    if str(build) not in _scripts:
        try:
            rrweb = build.read_text(encoding="utf-8")
        except OSError as err:
            log.warning("rrweb is not installed: recorded sessions get no DOM events "
                        "(run `npm ci` in node/js, as scripts/bootstrap does)",
                        extra={"fields": {"path": str(build), "error": str(err)}})
            _scripts[str(build)] = None
            return None
        # rrweb's UMD build takes its CommonJS branch inside this function, so it never touches
        # the page's globals (nor an AMD `define` a page may have).
        _scripts[str(build)] = ("function () { var module = {exports: {}}; "
                                "var exports = module.exports; var define;\n"
                                f"{rrweb}\n;return module.exports; }}")
    return _scripts[str(build)]


def _wrapped(options: dict[str, Any]) -> str | None:
    source = recorder_script()
    if source is None:
        return None
    recorder = RECORDER_JS.read_text(encoding="utf-8").strip()
    return f"{recorder}({source}, {json.dumps(options)});"


def parse_batch(payload: Any) -> tuple[list[dict[str, Any]], int]:
    """The rrweb events in a binding call's payload, and how many it dropped (its own count,
    plus entries that are not rrweb events). Anything that is not a batch at all is one drop."""
    if not isinstance(payload, str) or len(payload) > MAX_BATCH_CHARS:
        return [], 1
    try:
        batch = json.loads(payload)
    except (ValueError, RecursionError):
        return [], 1
    if not isinstance(batch, dict) or not isinstance(batch.get("events"), list):
        return [], 1
    dropped = batch.get("dropped", 0)
    dropped = dropped if isinstance(dropped, int) and 0 <= dropped < 1 << 31 else 0
    events = []
    for event in batch["events"]:
        if (isinstance(event, dict) and type(event.get("type")) is int and 0 <= event["type"] < 64
                and type(event.get("timestamp")) in (int, float)
                and isinstance(event.get("data"), dict)):
            events.append({"type": event["type"], "timestamp": int(event["timestamp"]),
                           "data": event["data"]})
        else:
            dropped += 1
    return events, dropped


class DomRecorder:
    def __init__(self, ws_url: str, session_id: str, mask_all_inputs: bool = False,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.ws_url = ws_url
        self.session_id = session_id
        self.max_bytes = max_bytes
        self.options = {"binding": BINDING, "flag": FLAG, "maskAllInputs": mask_all_inputs,
                        "maxBatchChars": MAX_BATCH_CHARS, "maxBatchEvents": MAX_BATCH_EVENTS,
                        "flushMs": FLUSH_MS}
        # (timestamp, the event as JSON), in order of arrival: pages send their batches on their
        # own clocks, so the artifact sorts them (stably) by time.
        self.events: list[tuple[int, str]] = []
        self.size = 2                 # bytes of the JSON array they make
        self.dropped = 0              # events (or unreadable batches) left out
        self.received = 0             # payload characters the pages sent, kept or not
        self.pages: dict[str, int] = {}  # targetId -> pageId
        self._sessions: dict[str, str] = {}  # CDP sessionId -> targetId
        self._conn: CdpConnection | None = None
        self._task: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()
        self.ready = asyncio.Event()  # the pages open at start are being recorded

    @property
    def available(self) -> bool:
        return recorder_script() is not None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        script = _wrapped(self.options)
        try:
            if script is None:
                return
            for _ in range(1 + RECONNECTS):
                await self._connect(script)
                if self._task is None or self._task.cancelled():
                    return
                log.warning("DOM recording's CDP connection dropped",
                            extra={"session_id": self.session_id})
        except asyncio.CancelledError:
            pass
        finally:
            self.ready.set()

    async def _connect(self, script: str) -> None:
        self._sessions.clear()
        try:
            async with CdpConnection(self.ws_url, on_event=lambda m: self._event(m, script),
                                     max_msg_size=MAX_MESSAGE_BYTES) as conn:
                self._conn = conn
                # A new page waits for this connection's set-up before it runs, so its first
                # document already has the recorder (a page that navigated before the script
                # was added would go unrecorded).
                await conn.send("Target.setAutoAttach", {
                    "autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True,
                    "filter": [{"type": "page"}, {"type": "iframe", "exclude": True}]})
                if self._pending:
                    await asyncio.wait(set(self._pending), timeout=5)
                self.ready.set()
                await conn.closed.wait()
        except (CdpError, OSError, TimeoutError, aiohttp.ClientError) as err:
            log.debug("DOM recording connection ended", extra={
                "session_id": self.session_id, "fields": {"error": str(err)}})
        finally:
            self._conn = None

    def _event(self, message: dict[str, Any], script: str) -> None:
        method = message.get("method")
        params = message.get("params") or {}
        if method == "Target.attachedToTarget":
            info = params.get("targetInfo", {})
            if info.get("type") == "page":
                self._sessions[params["sessionId"]] = info["targetId"]
                self.pages.setdefault(info["targetId"], len(self.pages))
                self._spawn(self._attach(params["sessionId"], script))
        elif method == "Target.detachedFromTarget":
            self._sessions.pop(params.get("sessionId", ""), None)
        elif method == "Runtime.bindingCalled" and params.get("name") == BINDING:
            target = self._sessions.get(message.get("sessionId", ""), "")
            self._spawn(self._receive(params.get("payload"), self.pages.get(target, -1)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _attach(self, session_id: str, script: str) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            try:
                # Runtime.bindingCalled reaches only a session with the Runtime domain on, and
                # new documents get the script only with the Page domain on.
                await conn.send("Runtime.enable", session_id=session_id)
                await conn.send("Page.enable", session_id=session_id)
                await conn.send("Runtime.addBinding", {"name": BINDING}, session_id=session_id)
                await conn.send("Page.addScriptToEvaluateOnNewDocument", {"source": script},
                                session_id=session_id)
            finally:
                # Whatever happened, the page must not stay paused waiting for the recorder.
                await conn.send("Runtime.runIfWaitingForDebugger", session_id=session_id)
        except (CdpError, TimeoutError, ConnectionError) as err:
            log.debug("could not record a page", extra={"session_id": self.session_id,
                                                          "fields": {"error": str(err)}})
            return
        # The document already open (a page attached after it loaded) is recorded too; the
        # recorder's flag keeps a document from being recorded twice. Its own task: evaluating
        # rrweb takes hundreds of ms, and `ready` (a hand-over waits for it) needs only the
        # script armed for the documents to come.
        self._spawn(self._record_open_document(conn, session_id, script))

    async def _record_open_document(self, conn: CdpConnection, session_id: str, script: str) -> None:
        try:
            await conn.send("Runtime.evaluate", {"expression": script}, session_id=session_id)
        except (CdpError, TimeoutError, ConnectionError) as err:
            log.debug("could not record a page", extra={"session_id": self.session_id,
                                                          "fields": {"error": str(err)}})

    async def _receive(self, payload: Any, page_id: int) -> None:
        length = len(payload) if isinstance(payload, str) else 0
        self.received += length
        if self.received > 2 * self.max_bytes or self.size >= self.max_bytes:
            self.dropped += 1  # past the session's bound: not even parsed
            return
        if length > PARSE_IN_THREAD:
            events, dropped = await asyncio.to_thread(parse_batch, payload)
        else:
            events, dropped = parse_batch(payload)
        self.dropped += dropped
        for event in events:
            if self.size >= self.max_bytes:
                self.dropped += 1
                continue
            try:
                text = json.dumps({**event, "sessionId": self.session_id, "pageId": page_id},
                                  separators=(",", ":"))
            except (ValueError, RecursionError):
                self.dropped += 1
                continue
            if self.size + len(text) + 1 > self.max_bytes:
                self.dropped += 1
                continue
            self.events.append((event["timestamp"], text))
            self.size += len(text) + 1

    async def flush(self, timeout: float = 3.0) -> None:
        """Asks every recorded page to send what its recorder holds (at the session's end)."""
        conn = self._conn
        if conn is None:
            return
        expression = f"typeof window.{FLAG}Flush === 'function' && window.{FLAG}Flush()"
        calls = [conn.send("Runtime.evaluate", {"expression": expression}, session_id=s)
                 for s in list(self._sessions)]
        if calls:
            try:
                await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout)
            except TimeoutError:
                pass
            # The binding calls the flush made arrive as events after the answers.
            await asyncio.sleep(0.2)
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)

    async def close(self) -> None:
        await self.flush()
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for pending in list(self._pending):
            pending.cancel()

    def artifact_bytes(self) -> bytes:
        ordered = sorted(self.events, key=lambda e: e[0])
        return ("[" + ",".join(text for _, text in ordered) + "]").encode()

    async def store(self, stub: controlplane_pb2_grpc.ControlPlaneStub,
                    metadata: tuple[tuple[str, str], ...], project_id: str) -> int:
        """Sends the session's events to the control plane as its ARTIFACT_DOM_EVENTS
        artifact; nothing when rrweb was not installed. Answers the bytes sent."""
        if not self.available:
            return 0
        data = self.artifact_bytes()
        info = cp.Artifact(session_id=self.session_id, project_id=project_id,
                           kind=cp.ARTIFACT_DOM_EVENTS, name="dom-events.json",
                           mime_type="application/json", metadata={
                               "events": str(len(self.events)), "dropped": str(self.dropped),
                               "pages": str(len(self.pages)), "recorder": "rrweb"})

        async def chunks() -> AsyncIterator[cp.ArtifactChunk]:
            yield cp.ArtifactChunk(artifact=info)
            for start in range(0, len(data), CHUNK_BYTES):
                yield cp.ArtifactChunk(data=data[start:start + CHUNK_BYTES])

        await stub.PutArtifact(chunks(), metadata=metadata, timeout=120)
        return len(data)
