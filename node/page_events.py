"""What happens in a session's pages, recorded by the node's own CDP connection.

The node attaches to every page target of the session's browser (besides whatever clients do
through the relay, which never parses frames) and keeps console messages, network requests and
page events in bounded buffers: the oldest entries go first, and how many went is counted.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import time
from typing import Any

from node.cdp_client import CdpConnection, CdpError

log = logging.getLogger(__name__)
LIMIT = 2000
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
    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.console = Buffer()
        self.network = Buffer()
        self.cdp = Buffer()
        self.pages: dict[str, int] = {}  # targetId -> small number, in order of appearance
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
                await conn.closed.wait()
        except (CdpError, OSError, TimeoutError) as err:
            log.debug("page events stopped", extra={"fields": {"error": str(err)}})
        except asyncio.CancelledError:
            pass

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass

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
                asyncio.get_running_loop().create_task(self._enable(params["sessionId"]))
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
            self.cdp.add({"method": method, "page": target, "params": params,
                          "timestamp": time.time()})

    async def _enable(self, session_id: str) -> None:
        if self._conn is None:
            return
        for method in ("Runtime.enable", "Network.enable", "Page.enable"):
            try:
                await self._conn.send(method, session_id=session_id)
            except (CdpError, TimeoutError):
                return


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
