"""Drives a session's pages for the Automation service, with Playwright on the node.

The node connects Playwright straight to the session's Chromium (one loopback hop, not through
the relay, so it is not counted as a client). A session's pages are its CDP page targets and
page ids are CDP targetIds, so a page a client opened over CDP is visible here and one opened
here is visible to the client.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from typing import Any

from playwright.async_api import Browser as PwBrowser
from playwright.async_api import Error as PwError
from playwright.async_api import Page, Playwright, async_playwright
from playwright.async_api import TimeoutError as PwTimeout

from browserplane import errors
from browserplane.errors import BrowserplaneError

log = logging.getLogger(__name__)
WAIT_UNTIL = {0: "load", 1: "load", 2: "domcontentloaded", 3: "networkidle", 4: "commit"}


class PlaywrightHost:
    """One Playwright driver per node, started on first use."""

    def __init__(self) -> None:
        self._pw: Playwright | None = None
        self._manager: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Playwright:
        async with self._lock:
            if self._pw is None:
                self._manager = async_playwright()
                self._pw = await self._manager.start()
            return self._pw

    async def close(self) -> None:
        if self._manager is not None:
            await self._manager.__aexit__(None, None, None)
            self._pw = self._manager = None


class PageDriver:
    """The Automation side of one session's browser."""

    def __init__(self, host: PlaywrightHost, ws_url: str, downloads: pathlib.Path) -> None:
        self.host = host
        self.ws_url = ws_url
        self.downloads = downloads
        self.browser: PwBrowser | None = None
        self.active: str = ""
        self._ids: dict[int, str] = {}  # id(page) -> targetId
        self._lock = asyncio.Lock()

    async def _connected(self) -> PwBrowser:
        async with self._lock:
            if self.browser is None or not self.browser.is_connected():
                pw = await self.host.get()
                self.browser = await pw.chromium.connect_over_cdp(self.ws_url, timeout=15_000)
                # Playwright points downloads at a folder of its own; keep the session's.
                cdp = await self.browser.new_browser_cdp_session()
                await cdp.send("Browser.setDownloadBehavior", {
                    "behavior": "allow", "downloadPath": str(self.downloads),
                    "eventsEnabled": True})
            return self.browser

    async def target_id(self, page: Page) -> str:
        key = id(page)
        if key not in self._ids:
            cdp = await page.context.new_cdp_session(page)
            try:
                info = await cdp.send("Target.getTargetInfo")
            finally:
                await cdp.detach()
            self._ids[key] = info["targetInfo"]["targetId"]
        return self._ids[key]

    async def pages(self) -> list[tuple[str, Page]]:
        browser = await self._connected()
        found = []
        for context in browser.contexts:
            for page in context.pages:
                if page.is_closed():
                    continue
                try:
                    found.append((await self.target_id(page), page))
                except PwError:
                    if not page.is_closed():
                        raise
                    # It closed while being listed (a tab a page script or a client closed).
        return found

    async def page(self, page_id: str = "") -> tuple[str, Page]:
        """The page asked for, or the active one (the last opened, switched to or used)."""
        pages = await self.pages()
        if not pages:
            raise BrowserplaneError(_code("NOT_FOUND"), errors.PAGE_NOT_FOUND, "the session has no page")
        wanted = page_id or self.active
        for tid, page in pages:
            if tid == wanted:
                self.active = tid
                return tid, page
        if page_id:
            raise errors.not_found(errors.PAGE_NOT_FOUND, "page", page_id)
        tid, page = pages[-1]
        self.active = tid
        return tid, page

    async def open(self, url: str, wait_until: int, timeout_ms: int,
                   viewport: dict[str, int] | None = None) -> tuple[str, Page]:
        """A new page, sized to `viewport` ({width, height}) before it loads when given."""
        browser = await self._connected()
        context = browser.contexts[0] if browser.contexts else await browser.new_context()
        page = await context.new_page()
        if viewport:
            # Emulated through this driver's CDP connection, so it lasts while the node drives
            # the session (a client's own connection does not reset it).
            await page.set_viewport_size(viewport)
        tid = await self.target_id(page)
        self.active = tid
        if url:
            await self.goto(page, url, wait_until, timeout_ms)
        return tid, page

    @staticmethod
    async def goto(page: Page, url: str, wait_until: int, timeout_ms: int) -> int:
        if wait_until == 5:  # NO_WAIT
            asyncio.get_running_loop().create_task(_quiet(page.goto(url, wait_until="commit")))
            return 0
        try:
            try:
                response = await page.goto(url, wait_until=WAIT_UNTIL.get(wait_until, "load"),
                                           timeout=timeout_ms or 30_000)
            except PwError as err:
                # A late error page from an earlier failed navigation can cut this one off.
                if "chrome-error://" not in str(err) or isinstance(err, PwTimeout):
                    raise
                response = await page.goto(url, wait_until=WAIT_UNTIL.get(wait_until, "load"),
                                           timeout=timeout_ms or 30_000)
        except PwTimeout:
            raise BrowserplaneError(_code("DEADLINE_EXCEEDED"), errors.TIMEOUT,
                                    f"navigation to {url} did not finish in {timeout_ms or 30000} ms",
                                    metadata={"url": url}) from None
        except PwError as err:
            # Chromium shows its error page next; let it land, so the next navigation of this
            # page is not cut off by it.
            await _quiet(page.wait_for_url("chrome-error://**", timeout=2_000))
            raise BrowserplaneError(_code("FAILED_PRECONDITION"), errors.NAVIGATION_FAILED,
                                    f"navigation to {url} failed: {_first_line(err)}",
                                    metadata={"url": url}) from None
        return response.status if response else 0

    async def close(self) -> None:
        if self.browser is not None:
            try:
                await self.browser.close()  # over CDP this only disconnects
            except PwError:
                pass
            self.browser = None


async def _quiet(coro: Any) -> None:
    try:
        await coro
    except PwError:
        pass


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _code(name: str) -> Any:
    import grpc

    return getattr(grpc.StatusCode, name)
