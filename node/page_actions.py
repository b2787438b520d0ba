"""Act: doing things on a page the way a user would (real input events, Playwright's checks
that an element is visible, enabled and still before it is touched).

Elements are named by an Observe ref, a CSS selector, visible text, a label or a description
(resolved by node/locator.py for the action's intent; the answer says what it chose). After an action
that starts a navigation (or opens a tab), the action waits for the new page to load, so the
next observation sees where the click led.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import pathlib
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import grpc
from playwright.async_api import ElementHandle, Locator, Page
from playwright.async_api import Error as PwError
from playwright.async_api import TimeoutError as PwTimeout

from browserplane import errors
from browserplane.egress import EgressDenied, EgressPolicy, TooManyRedirects, guarded_get, guarded_session
from browserplane.errors import BrowserplaneError
from browserplane.v1 import automation_pb2 as A
from node import locator, page_reader, session_files

DEFAULT_TIMEOUT_MS = 15_000
FIND_TIMEOUT_MS = 2_000  # how long a selector, text or label may take to appear
QUIET_WAIT_S = 2.0  # how long an action waits for the requests it started
NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"
MAX_FETCHED_UPLOAD = 50 * 1024 * 1024
TRUE_WORDS = {"true", "yes", "on", "1", "checked", "y"}
Target = ElementHandle | Locator


# The intent a description is resolved for, by the action that names the element.
INTENTS = {"click": A.CLICK, "fill": A.TYPE, "type": A.TYPE, "select": A.SELECT, "check": A.CHECK,
           "hover": A.HOVER, "press": A.INTENT_UNSPECIFIED, "scroll": A.INTENT_UNSPECIFIED,
           "upload": A.CLICK}


async def locate(page: Page, target: A.ElementTarget, timeout_ms: int = FIND_TIMEOUT_MS, *,
                 intent: int = A.INTENT_UNSPECIFIED, locating: locator.Locating | None = None,
                 resolved: A.Resolution | None = None, usage: A.ModelUsage | None = None) -> Target:
    """The element a target names. Refs resolve at once; the others may take a moment to appear.
    A description is resolved by Locate for the intent; what it chose is copied into `resolved`,
    and what a model spent choosing it is added to `usage`."""
    which = target.WhichOneof("by")
    if which is None:
        raise errors.invalid("target", "name an element by ref, selector, text, label or description")
    if which == "ref":
        return await page_reader.element(page, target.ref)
    if which == "description":
        return await _by_description(page, target.description, timeout_ms, intent, locating,
                                     resolved, usage)
    value = getattr(target, which)
    if not value.strip():
        raise errors.invalid(which, "must not be empty")
    if which == "selector":
        candidates = [page.locator(value)]
    elif which == "text":
        candidates = [page.get_by_text(value, exact=True), page.get_by_role("button", name=value),
                      page.get_by_role("link", name=value), page.get_by_text(value)]
    else:
        candidates = [page.get_by_label(value, exact=True), page.get_by_label(value),
                      page.get_by_placeholder(value), page.locator(f"[name={_css_string(value)}]")]
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        for finder in candidates:
            try:
                visible = finder.filter(visible=True)
                if await visible.count():
                    return visible.first
            except PwError as err:
                if which == "selector":
                    raise errors.invalid("selector", _first_line(err)) from None
                raise
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    # Present but hidden is a different answer from absent.
    hidden = sum([await c.count() for c in candidates])
    detail = " (matches exist but none is visible)" if hidden else ""
    raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND,
                            f"no visible element matches {which} {value!r}{detail}",
                            metadata={which: value})


async def _by_description(page: Page, description: str, timeout_ms: int, intent: int,
                          locating: locator.Locating | None, resolved: A.Resolution | None,
                          usage: A.ModelUsage | None = None) -> Target:
    """Resolves offline (the model only for a close tie); retries while the page may still be
    drawing what was described, then answers NOT_FOUND naming the nearest candidates."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        located = await locator.resolve(page, description, intent, locating=locating)
        if usage is not None and located.usage is not None:
            add_usage(usage, located.usage)  # every try the model was asked in counts
        if located.resolution is not None:
            try:
                found = await page_reader.element(page, located.resolution.ref)
            except BrowserplaneError:
                found = None  # gone between the read and now: read again
            if found is not None:
                if resolved is not None:
                    resolved.CopyFrom(located.resolution)
                return found
        if time.monotonic() >= deadline:
            raise locator.not_found(description, located)
        await asyncio.sleep(0.1)


def add_usage(total: A.ModelUsage, more: A.ModelUsage) -> None:
    """Adds one model call's (or calls') usage to a running total."""
    total.model = total.model or more.model
    total.calls += more.calls
    total.prompt_tokens += more.prompt_tokens
    total.completion_tokens += more.completion_tokens
    total.credits += more.credits
    total.duration_ms += more.duration_ms


def _css_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class NavigationWatch:
    """Notices a navigation of the main frame, or a new tab, that an action set off."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requested = False
        self.committed = asyncio.Event()
        self.new_pages: list[Page] = []

    def _request(self, request: Any) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.requested = True

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.committed.set()

    def _popup(self, page: Page) -> None:
        self.new_pages.append(page)

    def __enter__(self) -> NavigationWatch:
        self.page.on("request", self._request)
        self.page.on("framenavigated", self._navigated)
        self.page.context.on("page", self._popup)
        return self

    def __exit__(self, *exc: object) -> None:
        self.page.remove_listener("request", self._request)
        self.page.remove_listener("framenavigated", self._navigated)
        self.page.context.remove_listener("page", self._popup)

    async def settle(self, timeout_ms: int) -> Page | None:
        """Waits for what the action started; answers the page that is now in front."""
        try:
            # One frame: a click's navigation has sent its request by then.
            await self.page.evaluate(NEXT_FRAME)
        except PwError:
            self.requested = True  # the document went away under us: it navigated
        if self.new_pages:
            fresh = self.new_pages[-1]
            await _quiet(fresh.wait_for_load_state("load", timeout=timeout_ms))
            return fresh
        if self.requested or self.committed.is_set():
            try:
                await asyncio.wait_for(self.committed.wait(), min(timeout_ms, 10_000) / 1000)
            except TimeoutError:
                return None  # a download or a 204: no new document
            await _quiet(self.page.wait_for_load_state("load", timeout=timeout_ms))
            return self.page
        return None


async def _quiet(coro: Awaitable[Any]) -> None:
    try:
        await coro
    except (PwError, PwTimeout):
        pass


# Bounds on what one action may ask of the node's shared Playwright driver: an unbounded count
# (a click_count of 2**32-1) grows the driver's heap until it dies, with every session on the
# node. Values past these are refused before anything runs.
BOUNDS: dict[tuple[str, str], int] = {
    ("click", "click_count"): 3, ("type", "delay_ms"): 1_000, ("scroll", "times"): 100,
    ("scroll_collect", "max_scrolls"): 500, ("scroll_collect", "wait_ms"): 10_000,
    ("wait", "time_ms"): 60_000,
}
MAX_TEXT = 100_000  # characters filled by one action
MAX_TYPED = 10_000  # characters typed key by key (each is a key event: 10,000 take seconds)


def _check_bounds(kind: str, action: Any) -> None:
    for (name, field), limit in BOUNDS.items():
        if name == kind and getattr(action, field) > limit:
            raise errors.invalid(field, f"at most {limit}")
    if kind == "type" and len(action.text) > MAX_TYPED:
        raise errors.invalid("text", f"at most {MAX_TYPED} characters are typed key by key; "
                             "fill sets longer text at once")
    if kind == "fill" and len(action.value) > MAX_TEXT:
        raise errors.invalid("value", f"at most {MAX_TEXT} characters")
    if kind == "fill" and action.vault_secret and action.value:
        raise errors.invalid("value", "give value or vault_secret, not both")
    if kind == "fill_form" and sum(len(v) for v in action.fields.values()) > MAX_TEXT:
        raise errors.invalid("fields", f"at most {MAX_TEXT} characters in all")


class Actor:
    """Runs one Action on a page. `uploads` is the session's upload folder; `allowed_domains`,
    when set, limits the hosts an upload may be fetched from, as it limits the browser.
    `busy()` counts the page's requests in flight: after an action, the requests it started
    (a "load more" fetch) get a moment to land, so the next observation shows their result."""

    def __init__(self, page: Page, uploads: pathlib.Path, allowed_domains: tuple[str, ...] = (),
                 busy: Callable[[], int] | None = None, egress: EgressPolicy | None = None,
                 locating: locator.Locating | None = None,
                 vault: Callable[[str, int], Awaitable[str]] | None = None) -> None:
        self.page = page
        # (the element's document URL, which secret) -> the session's vault secret for it
        self.vault = vault
        self.uploads = uploads
        self.allowed_domains = allowed_domains
        self.busy = busy
        self.egress = egress or EgressPolicy()
        self.locating = locating
        self._intent = A.INTENT_UNSPECIFIED
        self._response: A.ActResponse | None = None

    async def run(self, action: A.Action) -> A.ActResponse:
        kind = action.WhichOneof("kind")
        if kind is None:
            raise errors.invalid("action", "name one action: click, fill, type, select, check, "
                                 "hover, press, scroll, scroll_collect, upload, wait or fill_form")
        _check_bounds(kind, getattr(action, kind))
        timeout = action.timeout_ms or DEFAULT_TIMEOUT_MS
        handler: Callable[[Any, int, A.ActResponse], Awaitable[None]] = getattr(self, "_" + kind)
        response = A.ActResponse(success=True)
        self._intent = INTENTS.get(kind, A.INTENT_UNSPECIFIED)
        self._response = response
        with NavigationWatch(self.page) as watch:
            try:
                await handler(getattr(action, kind), timeout, response)
            except PwTimeout:
                raise BrowserplaneError(grpc.StatusCode.DEADLINE_EXCEEDED, errors.TIMEOUT,
                                        f"{kind} did not finish in {timeout} ms") from None
            except PwError as err:
                raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.ACTION_FAILED,
                                        f"{kind} failed: {_first_line(err)}") from None
            if kind not in ("wait", "scroll_collect"):
                front = await watch.settle(timeout)
                if front is not None:
                    response.navigated = True
                    self.page = front
                elif self.busy is not None and self.busy():
                    await self._quiet_down()
        return response

    async def _quiet_down(self) -> None:
        """Waits (at most QUIET_WAIT_S) for the page's requests to finish, then one frame for
        what they bring to be drawn."""
        deadline = time.monotonic() + QUIET_WAIT_S
        while self.busy is not None and self.busy() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await _quiet(self.page.evaluate(NEXT_FRAME))

    async def _find(self, target: A.ElementTarget, timeout: int, intent: int | None = None) -> Target:
        resolved = self._response.resolved if self._response is not None else None
        usage = self._response.usage if self._response is not None else None
        return await locate(self.page, target, min(timeout, FIND_TIMEOUT_MS),
                            intent=self._intent if intent is None else intent,
                            locating=self.locating, resolved=resolved, usage=usage)

    async def _click(self, click: A.Click, timeout: int, response: A.ActResponse) -> None:
        el = await self._find(click.target, timeout)
        button = {A.Click.RIGHT: "right", A.Click.MIDDLE: "middle"}.get(click.button, "left")
        await el.click(button=button, click_count=click.click_count or 1, timeout=timeout)

    async def _fill(self, fill: A.Fill, timeout: int, response: A.ActResponse) -> None:
        el = await self._find(fill.target, timeout)
        value = fill.value
        if fill.vault_secret:
            if self.vault is None:
                raise errors.invalid("vault_secret", "vault secrets are not filled here")
            # The origin of the field's own document (a login iframe has its own), read as the
            # secret is about to be typed: the credential of another site is never filled.
            url = await el.evaluate("e => e.ownerDocument.location.href")
            value = await self.vault(str(url), fill.vault_secret)
        await el.fill(value, timeout=timeout)
        if fill.press_enter:
            await el.press("Enter", timeout=timeout)

    async def _type(self, typed: A.TypeText, timeout: int, response: A.ActResponse) -> None:
        if typed.HasField("target"):
            el = await self._find(typed.target, timeout)
            if typed.clear_first:
                await el.fill("", timeout=timeout)
            await el.click(timeout=timeout)  # focus, as a user would before typing
        await self.page.keyboard.type(typed.text, delay=typed.delay_ms)
        if typed.press_enter:
            await self.page.keyboard.press("Enter")
        if typed.press_tab:
            await self.page.keyboard.press("Tab")

    async def _select(self, select: A.Select, timeout: int, response: A.ActResponse) -> None:
        if not select.values:
            raise errors.invalid("values", "name at least one option (its value or its label)")
        el = await self._find(select.target, timeout)
        wanted = list(select.values)
        options = await el.evaluate(
            "(s) => s.tagName === 'SELECT' ? Array.from(s.options).map(o => [o.value, o.label]) : null")
        if options is None:
            raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.ACTION_FAILED,
                                    "select needs a <select> element")
        values = []
        for want in wanted:
            match = next((v for v, label in options if want in (v, label)), None)
            if match is None:
                match = next((v for v, label in options if want.lower() == label.strip().lower()), None)
            if match is None:
                raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND,
                                        f"the list has no option {want!r}; it has "
                                        + ", ".join(repr(label) for _, label in options[:20]))
            values.append(match)
        await el.select_option(value=values, timeout=timeout)

    async def _check(self, check: A.Check, timeout: int, response: A.ActResponse) -> None:
        el = await self._find(check.target, timeout)
        if check.HasField("checked"):
            await el.set_checked(check.checked, timeout=timeout)
        elif await el.is_checked():
            await el.uncheck(timeout=timeout)
        else:
            await el.check(timeout=timeout)

    async def _hover(self, hover: A.Hover, timeout: int, response: A.ActResponse) -> None:
        await (await self._find(hover.target, timeout)).hover(timeout=timeout)

    async def _press(self, press: A.PressKey, timeout: int, response: A.ActResponse) -> None:
        if not press.key:
            raise errors.invalid("key", "name a key, e.g. Enter, Tab, ArrowDown or Control+A")
        try:
            if press.HasField("target"):
                await (await self._find(press.target, timeout)).press(press.key, timeout=timeout)
            else:
                await self.page.keyboard.press(press.key)
        except PwError as err:
            if "Unknown key" in str(err):
                raise errors.invalid("key", _first_line(err)) from None
            raise

    async def _scroll(self, scroll: A.Scroll, timeout: int, response: A.ActResponse) -> None:
        if scroll.HasField("to_element"):
            el = await self._find(scroll.to_element, timeout)
            await el.scroll_into_view_if_needed(timeout=timeout)
            return
        within = await self._find(scroll.within, timeout, A.SCROLL) if scroll.HasField("within") else None
        script = """([edge, dx, dy, times, el]) => {
            const box = el || document.scrollingElement || document.documentElement;
            const go = (x, y) => el ? el.scrollBy(x, y) : window.scrollBy(x, y);
            if (edge === 1) box.scrollTop = 0;
            else if (edge === 2) box.scrollTop = box.scrollHeight;
            else if (edge === 3) box.scrollLeft = 0;
            else if (edge === 4) box.scrollLeft = box.scrollWidth;
            else for (let i = 0; i < times; i++)
                go(dx, dy || (dx ? 0 : (el ? el.clientHeight : window.innerHeight) * 0.9));
        }"""
        await self.page.evaluate(script, [scroll.edge, scroll.delta_x, scroll.delta_y,
                                          max(1, scroll.times), within])
        # Give scroll listeners (lazy loading) a frame to run.
        await self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")

    async def _scroll_collect(self, collect: A.ScrollCollect, timeout: int,
                              response: A.ActResponse) -> None:
        """Scrolls to the end (or max_scrolls) and keeps every line of content it saw, so
        feeds that unload old items are collected whole."""
        max_scrolls = collect.max_scrolls or 20
        wait_s = (collect.wait_ms or 500) / 1000
        deadline = time.monotonic() + (collect.timeout_ms or 30_000) / 1000
        seen: dict[str, None] = {}
        last_height = -1
        still = 0
        for _ in range(max_scrolls + 1):
            for line in (await page_reader.content(self.page)).split("\n"):
                seen.setdefault(line, None)
            height = await self.page.evaluate(
                "() => { const d = document.scrollingElement || document.documentElement;"
                " window.scrollTo(0, d.scrollHeight); return d.scrollHeight; }")
            still = still + 1 if height == last_height else 0
            if still >= 2 or time.monotonic() + wait_s > deadline:
                break
            last_height = height
            await asyncio.sleep(wait_s)
        text = "\n".join(line for line in seen if line)
        limit = collect.max_text_length or 100_000
        response.collected_markdown = text[:limit]
        response.collected_total = len(text)

    async def _upload(self, upload: A.Upload, timeout: int, response: A.ActResponse) -> None:
        if not upload.files:
            raise errors.invalid("files", "name at least one file")
        paths = [await self._upload_path(name) for name in upload.files]
        el = await self._find(upload.target, timeout)
        is_file_input = await el.evaluate("(e) => e.tagName === 'INPUT' && e.type === 'file'")
        if is_file_input:
            await el.set_input_files([str(p) for p in paths], timeout=timeout)
            return
        # A button or drop zone that opens a file chooser when clicked.
        try:
            async with self.page.expect_file_chooser(timeout=min(timeout, 3_000)) as chooser:
                await el.click(timeout=timeout)
            await (await chooser.value).set_files([str(p) for p in paths])
        except PwTimeout:
            raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.ACTION_FAILED,
                                    "upload needs a file input, or an element that opens a file "
                                    "chooser when clicked; this one is neither") from None

    async def _upload_path(self, name: str) -> pathlib.Path:
        """A file uploaded to the session by name, or one fetched from an http(s) or data: URL
        into the session's uploads. Paths on the node are refused: the node's own files are not
        the caller's to upload. A fetch obeys the egress policy on every redirect hop."""
        scheme = urllib.parse.urlsplit(name).scheme
        self.uploads.mkdir(parents=True, exist_ok=True)
        if scheme in ("http", "https"):
            host = (urllib.parse.urlsplit(name).hostname or "").lower()
            if self.allowed_domains and not any(fnmatch.fnmatchcase(host, d.lower())
                                                for d in self.allowed_domains):
                raise BrowserplaneError(grpc.StatusCode.PERMISSION_DENIED, errors.PERMISSION_DENIED,
                                        f"{host} is not one of the session's allowed domains",
                                        metadata={"file": name})
            target = self.uploads / session_files.check_name(
                pathlib.PurePosixPath(urllib.parse.urlsplit(name).path).name or "download")
            target.write_bytes(await self._fetch_upload(name))
            return target
        if scheme == "data":
            head, _, payload = name.partition(",")
            match = re.search(r"name=([^;,]+)", head)
            target = self.uploads / session_files.check_name(match.group(1) if match else "upload.bin")
            try:
                data = (base64.b64decode(payload) if head.endswith(";base64")
                        else urllib.parse.unquote_to_bytes(payload))
            except ValueError:
                raise errors.invalid("files", "a data: URL with bad base64") from None
            target.write_bytes(data)
            return target
        path = self.uploads / session_files.check_name(name)
        if not path.is_file():
            raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.FILE_NOT_FOUND,
                                    f"no uploaded file {name!r}: upload it to the session first, "
                                    "or give an http(s) or data: URL", metadata={"file": name})
        return path

    async def _fetch_upload(self, url: str) -> bytes:
        try:
            async with guarded_session(self.egress, timeout=30) as client:
                response = await guarded_get(client, self.egress, url)
                async with response:
                    if response.status >= 400:
                        raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.ACTION_FAILED,
                                                f"could not fetch {url}: HTTP {response.status}")
                    data = await response.content.read(MAX_FETCHED_UPLOAD + 1)
        except EgressDenied as err:
            raise BrowserplaneError(grpc.StatusCode.PERMISSION_DENIED, errors.PERMISSION_DENIED,
                                    str(err), metadata={"file": url, "egress": "denied"}) from None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, TooManyRedirects) as err:
            raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.ACTION_FAILED,
                                    f"could not fetch {url}: {err or type(err).__name__}") from None
        if len(data) > MAX_FETCHED_UPLOAD:
            raise errors.invalid("files", f"{url} is over {MAX_FETCHED_UPLOAD >> 20} MiB")
        return data

    async def _wait(self, wait: A.Wait, timeout: int, response: A.ActResponse) -> None:
        timeout = wait.timeout_ms or 30_000
        conditions = [bool(wait.time_ms), bool(wait.selector), bool(wait.text), bool(wait.until_js),
                      wait.network_idle, bool(wait.url_pattern)]
        if not any(conditions):
            raise errors.invalid("wait", "name what to wait for: time_ms, selector, text, "
                                 "until_js, network_idle or url_pattern")
        if wait.time_ms:
            if wait.time_ms > 60_000:
                raise errors.invalid("time_ms", "at most 60000")
            await asyncio.sleep(wait.time_ms / 1000)
        if wait.selector:
            await self.page.locator(wait.selector).first.wait_for(state="visible", timeout=timeout)
        if wait.text:
            await self.page.get_by_text(wait.text).first.wait_for(state="visible", timeout=timeout)
        if wait.until_js:
            await self.page.wait_for_function(wait.until_js, timeout=timeout)
        if wait.network_idle:
            await self.page.wait_for_load_state("networkidle", timeout=timeout)
        if wait.url_pattern:
            await self.page.wait_for_url(wait.url_pattern, timeout=timeout)

    async def _fill_form(self, form: A.FillForm, timeout: int, response: A.ActResponse) -> None:
        if not form.fields:
            raise errors.invalid("fields", "name at least one field (label, name or placeholder)")
        last: Target | None = None
        for key, value in form.fields.items():
            el = await self._find(A.ElementTarget(label=key), timeout)
            kind = await el.evaluate(
                "(e) => e.tagName === 'SELECT' ? 'select' : (e.type || '').toLowerCase()")
            if kind == "select":
                await self._select(A.Select(target=A.ElementTarget(label=key), values=[value]),
                                   timeout, response)
            elif kind in ("checkbox", "radio"):
                await el.set_checked(value.strip().lower() in TRUE_WORDS or kind == "radio",
                                     timeout=timeout)
            else:
                await el.fill(value, timeout=timeout)
            response.fields_filled.append(key)
            last = el
        if form.submit and last is not None:
            submitter = await last.evaluate_handle(
                "(e) => { const f = e.form || e.closest('form'); if (!f) return null;"
                " return f.querySelector('button[type=submit], input[type=submit], button:not([type])'); }")
            button = submitter.as_element()
            if button is not None:
                await button.click(timeout=timeout)
            else:
                await last.press("Enter", timeout=timeout)
            response.submitted = True
