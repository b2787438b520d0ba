"""Pre-launched browsers with the default launch config, so a default session is a hand-over.

The pool refills in the background one browser at a time (a launch takes most of a core for a
few hundred ms; launching several at once only slows the sessions being served). While the pool
still holds a browser, a refill waits `refill_delay` first: a session just handed over is
usually loading its first page then, and should not share the cores with a launch. Pooled
browsers count against the node's capacity, so the pool never grows past the free room.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from browserplane.tasks import cancel_and_wait
from node.chromium import Browser, LaunchError

log = logging.getLogger(__name__)


class WarmPool:
    def __init__(
        self,
        size: int,
        launch: Callable[[], Awaitable[Browser]],
        room: Callable[[], int],
        on_failure: Callable[[], None] = lambda: None,
        on_change: Callable[[], None] = lambda: None,
        refill_delay: float = 1.0,
    ) -> None:
        self.refill_delay = refill_delay
        self._delaying = False
        self._hurry = asyncio.Event()  # a create found the pool empty: refill now
        self.size = size
        self._launch = launch
        self._room = room  # how many more browsers the node may hold right now
        self._on_failure = on_failure
        self._on_change = on_change
        self._arrived = asyncio.Condition()
        self._idle: collections.deque[Browser] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.launching = 0

    def __len__(self) -> int:
        return len(self._idle)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._refill_loop())
        self._wake.set()

    def take(self) -> Browser | None:
        """The oldest live pooled browser, or None. Starts a refill; taking the last one
        cuts a delayed refill short."""
        while self._idle:
            browser = self._idle.popleft()
            if not browser.exited.is_set():
                self._wake.set()
                if not self._idle:
                    self._hurry.set()
                self._on_change()
                return browser
            asyncio.get_running_loop().create_task(browser.close())
        self._wake.set()
        return None

    async def acquire(self, timeout: float) -> Browser | None:
        """A pooled browser; when none is idle but one is being launched, waits for it (up to
        `timeout`) instead of starting a second launch that competes for the same cores."""
        browser = self.take()
        if browser is not None or not (self.launching or self._delaying):
            return browser
        self._hurry.set()
        try:
            async with self._arrived:
                await asyncio.wait_for(self._arrived.wait_for(
                    lambda: self._idle or not (self.launching or self._delaying)), timeout)
        except TimeoutError:
            return None
        return self.take()

    def evict(self) -> Browser | None:
        """Gives up one idle browser (to make room for a cold launch within capacity)."""
        browser = self._idle.pop() if self._idle else None
        if browser is not None:
            self._on_change()
        return browser

    def poke(self) -> None:
        """Capacity changed (a session ended): maybe there is room to refill."""
        self._wake.set()

    async def _refill_loop(self) -> None:
        failures = 0
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            while not self._closing and len(self._idle) < self.size and self._room() > 0:
                if self._idle and self.refill_delay > 0:
                    self._delaying = True
                    self._hurry.clear()
                    try:
                        await asyncio.wait_for(self._hurry.wait(), self.refill_delay)
                    except TimeoutError:
                        pass
                    finally:
                        self._delaying = False
                    if self._closing or len(self._idle) >= self.size or self._room() <= 0:
                        await self._notify()
                        break
                self.launching += 1
                try:
                    browser = await self._launch()
                except (LaunchError, OSError) as err:
                    self.launching -= 1
                    await self._notify()
                    failures += 1
                    self._on_failure()
                    log.error("warm pool launch failed", extra={"fields": {"error": str(err)}})
                    await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                    continue
                except BaseException:
                    self.launching -= 1
                    raise
                self.launching -= 1
                failures = 0
                if self._closing:
                    await browser.close()
                    return
                self._idle.append(browser)  # before waking waiters, so they find it
                self._on_change()
                await self._notify()

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        await cancel_and_wait(self._task)
        idle, self._idle = list(self._idle), collections.deque()
        await asyncio.gather(*(b.close() for b in idle), return_exceptions=True)
