"""What happens in a session's pages, recorded by the node's own CDP connection.

The node attaches to every page target of the session's browser (besides whatever clients do
through the relay, which never parses frames) and keeps console messages, network requests and
page events in bounded buffers: the oldest entries go first, and how many went is counted.

The same connection sets the session's extra HTTP headers on every page
(Network.setExtraHTTPHeaders is per DevTools session and Chromium merges every session's
headers, so a client's own extra headers through the relay add to these rather than replace
them), and blocks the resource types (and, with block_ads, the ad hosts) a session asked to
block: the Fetch domain pauses only those requests, and each paused request is failed as
blocked by the client.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import time
from typing import Any

from browserplane.tasks import cancel_and_wait
from node.cdp_client import CdpConnection, CdpError

log = logging.getLogger(__name__)
LIMIT = 2000
# session_pb2.ResourceType -> CDP Network.ResourceType
FETCH_TYPES = {1: "Image", 2: "Font", 3: "Stylesheet", 4: "Script", 5: "Media"}
RECORDED_EVENTS = ("Page.frameNavigated", "Page.loadEventFired", "Page.domContentEventFired",
                   "Page.javascriptDialogOpening", "Page.downloadWillBegin",
                   "Target.targetCreated", "Target.targetDestroyed", "Inspector.targetCrashed")


@dataclasses.dataclass
class Buffer:
    entries: collections.deque = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=LIMIT))
    dropped: int = 0

    def add(self, entry: dict[str, Any]) -> None:
        if len(self.entries) == self.entries.maxlen:
            self.dropped += 1
        self.entries.append(entry)


class PageEvents:
    def __init__(self, ws_url: str, blocked_types: tuple[int, ...] = (),
                 blocked_urls: tuple[str, ...] = (), redact_bodies: bool = False,
                 extra_headers: dict[str, str] | None = None) -> None:
        self.ws_url = ws_url
        self.extra_headers = dict(extra_headers or {})
        # A session with a vault: request bodies (a login form's POST carries the password the
        # node typed) are left out of the CDP log.
        self.redact_bodies = redact_bodies
        self.blocked = sorted({FETCH_TYPES[t] for t in blocked_types if t in FETCH_TYPES})
        self.blocked_urls = blocked_urls  # Fetch urlPatterns, e.g. "*://*.doubleclick.net/*"
        self.blocked_count = 0
        # Set once the pages open at start are recorded (and blocking applies to them).
        self.ready = asyncio.Event()
        self._enabling: set[asyncio.Task] = set()
        self.console = Buffer()
        self.network = Buffer()
        self.cdp = Buffer()
        self.pages: dict[str, int] = {}  # targetId -> small number, in order of appearance
        # Main-frame navigations of every page, whoever made them (a CDP client's Page.navigate
        # through the relay, a click, a script): the /api dialect's navigationCount.
        self.navigations = 0
        self._sessions: dict[str, str] = {}  # CDP sessionId -> targetId
        self._requests: dict[str, dict[str, Any]] = {}
        self._conn: CdpConnection | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async with CdpConnection(self.ws_url, on_event=self._event) as conn:
                self._conn = conn
                await conn.send("Target.setDiscoverTargets", {"discover": True})
                await conn.send("Target.setAutoAttach", {
                    "autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True,
                    "filter": [{"type": "page"}, {"type": "iframe", "exclude": True}]})
                if self._enabling:
                    await asyncio.wait(set(self._enabling), timeout=5)
                self.ready.set()
                await conn.closed.wait()
        except (CdpError, OSError, TimeoutError) as err:
            log.debug("page events stopped", extra={"fields": {"error": str(err)}})
        except asyncio.CancelledError:
            pass
        finally:
            self.ready.set()  # nobody waits on a recorder that has stopped

    async def close(self) -> None:
        await cancel_and_wait(self._task)

    async def interrupt(self, target_id: str) -> bool:
        """Stops the script running in a page: a loop that never ends would otherwise hold the
        page's main thread, and every later call on it, for good. Chromium takes this command
        off the main thread, but only on a session attached before the page got stuck, which
        this recorder's is."""
        for session_id, target in list(self._sessions.items()):
            if target == target_id and self._conn is not None:
                try:
                    await self._conn.send("Runtime.terminateExecution", session_id=session_id)
                    return True
                except (CdpError, TimeoutError) as err:
                    log.warning("could not stop a page's script", extra={"fields": {"error": str(err)}})
        return False

    def busy(self, target_id: str) -> int:
        """Requests of the page still loading that its content may wait on (documents, scripts
        and fetch/XHR; not streams such as EventSource, which never end)."""
        return sum(1 for r in self._requests.values()
                   if r["page"] == target_id and r["type"] in ("Document", "Script", "XHR", "Fetch"))

    def page_number(self, target_id: str) -> int:
        return self.pages.setdefault(target_id, len(self.pages))

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method", "")
        params = message.get("params", {})
        target = self._sessions.get(message.get("sessionId", ""), "")
        if method == "Target.attachedToTarget":
            info = params.get("targetInfo", {})
            if info.get("type") == "page":
                self._sessions[params["sessionId"]] = info["targetId"]
                self.page_number(info["targetId"])
                task = asyncio.get_running_loop().create_task(self._enable(params["sessionId"]))
                self._enabling.add(task)
                task.add_done_callback(self._enabling.discard)
            return
        if method == "Page.frameNavigated":
            frame = params.get("frame", {})
            if not frame.get("parentId") and frame.get("url", "about:blank") != "about:blank":
                self.navigations += 1
        elif method == "Fetch.requestPaused":
            self.blocked_count += 1
            asyncio.get_running_loop().create_task(self._fail(message.get("sessionId", ""),
                                                              params.get("requestId", "")))
            return
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_preview(a) for a in params.get("args", []))
            self.console.add({"level": _level(params.get("type", "log")), "text": text,
                              "url": _frame_url(params), "timestamp": time.time(), "page": target})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.console.add({"level": "error", "text": text, "url": details.get("url", ""),
                              "timestamp": time.time(), "page": target})
        elif method == "Network.requestWillBeSent":
            request = params.get("request", {})
            self._requests[params["requestId"]] = {
                "request_id": params["requestId"], "url": request.get("url", ""),
                "method": request.get("method", ""), "type": params.get("type", ""),
                "started": time.time(), "monotonic": params.get("timestamp", 0), "page": target,
                "status": 0, "size": 0, "mime": "", "failed": False, "error": ""}
        elif method == "Network.responseReceived":
            entry = self._requests.get(params.get("requestId", ""))
            if entry:
                response = params.get("response", {})
                entry.update(status=response.get("status", 0), mime=response.get("mimeType", ""))
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            entry = self._requests.pop(params.get("requestId", ""), None)
            if entry:
                entry["duration_ms"] = max(0.0, (params.get("timestamp", 0) - entry["monotonic"]) * 1000)
                entry["size"] = int(params.get("encodedDataLength", 0))
                if method == "Network.loadingFailed":
                    entry.update(failed=True, error=params.get("errorText", ""))
                self.network.add(entry)
            if len(self._requests) > LIMIT:  # requests that never finish must not pile up
                self._requests.pop(next(iter(self._requests)))
        if method in RECORDED_EVENTS or method.startswith(("Network.", "Runtime.console")):
            if method in ("Network.dataReceived",):
                return
            if self.redact_bodies and method == "Network.requestWillBeSent" and "request" in params:
                request = {k: v for k, v in params["request"].items()
                           if k not in ("postData", "postDataEntries")}
                params = {**params, "request": request}
            self.cdp.add({"method": method, "page": target, "params": params,
                          "timestamp": time.time()})

    async def _enable(self, session_id: str) -> None:
        if self._conn is None:
            return
        calls: list[tuple[str, dict[str, Any] | None]] = [
            ("Runtime.enable", None), ("Network.enable", None), ("Page.enable", None)]
        if self.extra_headers:
            calls.insert(2, ("Network.setExtraHTTPHeaders", {"headers": self.extra_headers}))
        if self.blocked or self.blocked_urls:
            calls.insert(0, ("Fetch.enable", {"patterns": [
                *({"resourceType": t, "requestStage": "Request"} for t in self.blocked),
                *({"urlPattern": u, "requestStage": "Request"} for u in self.blocked_urls)]}))
        for method, params in calls:
            try:
                await self._conn.send(method, params, session_id=session_id)
            except (CdpError, TimeoutError):
                return

    async def _fail(self, session_id: str, request_id: str) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.send("Fetch.failRequest", {"requestId": request_id,
                                                         "errorReason": "BlockedByClient"},
                                  session_id=session_id)
        except (CdpError, TimeoutError):
            pass  # the page went away


def _preview(arg: dict[str, Any]) -> str:
    if "value" in arg:
        value = arg["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return arg.get("description") or arg.get("unserializableValue") or arg.get("type", "")


def _level(kind: str) -> str:
    return {"warning": "warning", "error": "error", "debug": "debug", "info": "info",
            "assert": "error", "trace": "debug"}.get(kind, "log")


def _frame_url(params: dict[str, Any]) -> str:
    frames = params.get("stackTrace", {}).get("callFrames", [])
    return frames[0].get("url", "") if frames else ""
