"""A browserless node for tests that drive nodes synchronously (the autoscaler's, KEDA's): the
fleet benchmark's FakeNode (bench/fake_fleet.py: the real NodeAgent contract, registering and
heartbeating as node/lease.py does) on an event loop of its own thread. Tests that need a
browser use a real node (tests/cluster.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from bench.fake_fleet import FakeNode


class LightNode:
    def __init__(self, node_id: str, control_plane: str, secret: str, capacity: int = 2) -> None:
        self.id = node_id
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._args = (node_id, control_plane, secret, capacity)
        self.fake: FakeNode | None = None

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> LightNode:
        self._thread.start()

        async def started() -> FakeNode:
            node = FakeNode(*self._args)
            await node.start()
            await asyncio.wait_for(node.registered.wait(), 20)
            return node

        self.fake = self._run(started())
        return self

    @property
    def sessions(self) -> set[str]:
        return set(self.fake.browsers) if self.fake else set()

    @property
    def draining(self) -> bool:
        return bool(self.fake and self.fake.draining)

    @property
    def port(self) -> int:
        return self.fake.port if self.fake else 0

    def stop(self) -> None:
        if self.fake is not None:
            self._run(self.fake.stop(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
