"""Placement and the wait queue.

`pick_node` is a pure function over the nodes' view (least loaded first, label selectors,
draining and down nodes excluded). `WaitQueue` is a bounded FIFO of create requests that wait
for a free slot until their deadline.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Callable, Mapping

import grpc

from browserplane import errors
from browserplane.errors import BrowserplaneError


@dataclasses.dataclass
class NodeView:
    id: str
    labels: Mapping[str, str]
    capacity: int
    assigned: int  # sessions placed on it (pending or running), per the control plane
    up: bool = True
    draining: bool = False

    @property
    def free(self) -> int:
        return 0 if (not self.up or self.draining) else max(0, self.capacity - self.assigned)


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pick_node(nodes: list[NodeView], selector: Mapping[str, str]) -> NodeView | None:
    """The matching node with a free slot and the lowest load (ties: most free, then id)."""
    # Runs over every node on every placement: `free` is read once and an empty selector
    # skips the label check.
    best, best_key = None, None
    for node in nodes:
        free = node.free
        if free <= 0 or (selector and not matches(node.labels, selector)):
            continue
        key = (node.assigned / max(1, node.capacity), -free, node.id)
        if best_key is None or key < best_key:
            best, best_key = node, key
    return best


def can_ever_match(nodes: list[NodeView], selector: Mapping[str, str]) -> bool:
    return any(n.up and matches(n.labels, selector) for n in nodes)


@dataclasses.dataclass
class _Waiter:
    selector: Mapping[str, str]
    future: asyncio.Future
    deadline: float


class WaitQueue:
    """Create requests waiting for room, first come first served, bounded in size."""

    def __init__(self, max_size: int, on_change: Callable[[int], None] = lambda n: None) -> None:
        self.max_size = max_size
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._on_change = on_change

    def __len__(self) -> int:
        return len(self._waiters)

    async def wait(self, selector: Mapping[str, str], timeout: float) -> NodeView:
        """Waits until `dispatch` hands us a node (with a slot reserved), or raises."""
        if len(self._waiters) >= self.max_size:
            raise BrowserplaneError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, errors.QUEUE_FULL,
                f"no node has room and the queue is full ({self.max_size} waiting)",
                retry_after=5)
        waiter = _Waiter(selector, asyncio.get_running_loop().create_future(),
                         time.monotonic() + timeout)
        self._waiters.append(waiter)
        self._on_change(len(self._waiters))
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            if waiter.future.done() and not waiter.future.cancelled():
                return waiter.future.result()
            raise BrowserplaneError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, errors.QUEUE_TIMEOUT,
                f"no node had room within {timeout:g}s", retry_after=max(1.0, timeout / 2),
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                self._on_change(len(self._waiters))
            if not waiter.future.done():
                waiter.future.cancel()

    def dispatch(self, place: Callable[[Mapping[str, str]], NodeView | None]) -> None:
        """Hands free slots to waiters in arrival order. `place` reserves a slot when it
        returns a node, so each call sees the room left by the previous one."""
        # A selector that found no room finds none for a later waiter either (placing only
        # takes room), so it is not tried again in this pass: a long queue on a big fleet
        # would otherwise scan every node once per waiter on every heartbeat.
        no_room: list[Mapping[str, str]] = []
        for waiter in list(self._waiters):
            if waiter.future.done() or waiter.selector in no_room:
                continue
            node = place(waiter.selector)
            if node is not None:
                self._waiters.remove(waiter)
                waiter.future.set_result(node)
            else:
                no_room.append(waiter.selector)
        self._on_change(len(self._waiters))
