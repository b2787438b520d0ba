"""A small CDP client for the node's own calls to its browsers (cookies, health checks)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import aiohttp


class CdpError(RuntimeError):
    pass


class CdpConnection:
    """`async with CdpConnection(ws_url) as cdp: await cdp.send("Browser.getVersion")`."""

    def __init__(self, ws_url: str, timeout: float = 10.0,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 max_msg_size: int = 0) -> None:
        self.ws_url = ws_url
        self.max_msg_size = max_msg_size  # 0: any size; past it the connection is closed
        self.timeout = timeout
        self.on_event = on_event
        self.closed = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> CdpConnection:
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.ws_url, max_msg_size=self.max_msg_size,
                                                      timeout=aiohttp.ClientWSTimeout(ws_close=2))
        except BaseException:
            await self._session.close()
            raise
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader:
            self._reader.cancel()
        if self._ws:
            await self._ws.close()
        if self._session:
            await self._session.close()

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" not in data:
                if self.on_event is not None:
                    self.on_event(data)
                continue
            fut = self._pending.pop(data.get("id", -1), None)
            if fut and not fut.done():
                if "error" in data:
                    fut.set_exception(CdpError(data["error"].get("message", str(data["error"]))))
                else:
                    fut.set_result(data.get("result", {}))
        self.closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(CdpError("CDP connection closed"))

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session_id: str | None = None) -> dict[str, Any]:
        assert self._ws is not None
        msg_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        payload: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session_id:
            payload["sessionId"] = session_id
        await self._ws.send_str(json.dumps(payload))
        return await asyncio.wait_for(fut, self.timeout)
