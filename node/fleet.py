"""The node's browsers: which session owns which Chromium, capacity, the warm pool, clean-up.

A session's browser comes from the warm pool when its launch config is the default one, and is
launched cold otherwise. Ending a session kills the whole process group, sweeps anything that
escaped it, and removes the browser's directories.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pathlib
import time
from typing import Any

import grpc

from browserplane.cookies import cookie_from_cdp, cookie_param
from browserplane.v1 import session_pb2
from node import ad_hosts, metrics, session_files, session_logs
from node.cdp_client import CdpConnection
from node.chromium import (
    LAUNCH_TIMEOUT_S,
    Browser,
    LaunchConfig,
    LaunchError,
    measure_browser,
    remove_browser_dir,
    sweep_processes,
)
from node.dom_recording import DEFAULT_MAX_BYTES, DomRecorder, recorder_script
from node.extensions import ExtensionCache
from node.page_events import Buffer, PageEvents
from node.profiles import ProfileTransfer
from node.recorder import Recorder, RecordSettings, put_recording, timeline
from node.sandbox import Sandbox
from node.warm_pool import WarmPool

log = logging.getLogger(__name__)


class CapacityError(RuntimeError):
    pass


@dataclasses.dataclass
class SessionSlot:
    session_id: str
    project_id: str
    browser: Browser
    warm: bool
    start_ms: float
    profile_id: str = ""
    vault_id: str = ""  # the session's vault (Fill.vault_secret reads it from the control plane)
    events: PageEvents | None = None
    dom: DomRecorder | None = None  # rrweb events of a recorded session's pages
    driver: Any = None  # node.page_driver.PageDriver, made on the first Automation call
    dismiss_blockers: bool = False  # close cookie banners after each navigation
    # What Automation did in the session, oldest first (bounded like the page-event logs).
    actions: Buffer = dataclasses.field(default_factory=Buffer)
    # Model tokens the session's model-backed calls spent, in all (calls, tokens, credits, ms).
    model_usage: dict[str, float] = dataclasses.field(default_factory=dict)
    clients: int = 0
    total_connections: int = 0
    last_activity: float = dataclasses.field(default_factory=time.time)
    started_at: float = dataclasses.field(default_factory=time.time)
    limits_watch: asyncio.Task | None = None
    watching: asyncio.Task | None = None  # set-up of what must watch the first page (below)

    async def watched(self) -> None:
        """Waits (bounded) until what acts on or records the session's pages is on them: a
        client's first CDP message or Automation call waits here, the hand-over does not."""
        if self.watching is not None and not self.watching.done():
            await asyncio.shield(self.watching)
    recorder: Recorder | None = None  # SessionOptions.record_session: the screen as a video


class Fleet:
    def __init__(
        self,
        root: pathlib.Path,
        binary: str,
        capacity: int,
        pool_size: int,
        default_config: LaunchConfig | None = None,
        sandbox: Sandbox | None = None,
        disk_quota: int = 0,
        dom_events_limit: int = DEFAULT_MAX_BYTES,
        record: RecordSettings | None = None,
    ) -> None:
        self.root = root
        self.dom_events_limit = dom_events_limit  # bytes of rrweb events one session keeps
        self.record = record or RecordSettings()
        self.sandbox = sandbox
        self.disk_quota = disk_quota  # bytes of downloads + uploads per session; 0 = unlimited
        self.binary = binary
        self.capacity = capacity
        self.default_config = default_config or LaunchConfig()
        self.sessions: dict[str, SessionSlot] = {}
        self.ui_size = (0, 0)
        self.stealth_user_agent = ""
        self.changed = asyncio.Event()  # something a heartbeat should report right away
        self.pool = WarmPool(min(pool_size, capacity), self._launch_default, self._pool_room,
                             on_failure=lambda: metrics.LAUNCH_FAILURES.inc(),
                             on_change=self._pool_changed)  # something a heartbeat should report right away
        self._starting = 0
        self.draining = False
        self.profiles: ProfileTransfer | None = None  # set by the agent once it has a channel
        self.extensions: ExtensionCache | None = None

    # -- capacity ------------------------------------------------------------------------

    def free_slots(self) -> int:
        if self.draining:
            return 0
        return max(0, self.capacity - len(self.sessions) - self._starting)

    def _pool_changed(self) -> None:
        self.changed.set()

    def _held(self) -> int:
        return len(self.sessions) + self._starting + len(self.pool) + self.pool.launching

    def _pool_room(self) -> int:
        return self.capacity - self._held()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Kills whatever a previous run left behind, then fills the warm pool."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        killed = await sweep_processes(self.root)
        if self.sandbox is not None and self.sandbox.cgroups is not None:
            self.sandbox.cgroups.remove_all()
        leftovers = [p for p in self.root.iterdir() if p.is_dir()]
        for path in leftovers:
            await asyncio.to_thread(remove_browser_dir, path)
        if killed or leftovers:
            log.warning("removed browsers left by a previous run",
                        extra={"fields": {"processes": killed, "dirs": len(leftovers)}})
        self.ui_size, self.stealth_user_agent = await measure_browser(self.root, self.binary, self.sandbox)
        self.default_config = dataclasses.replace(self.default_config, ui_size=self.ui_size,
                                                  stealth_user_agent=self.stealth_user_agent)
        log.info("measured browser UI", extra={"fields": {"ui_size": self.ui_size,
                                                          "user_agent": self.stealth_user_agent}})
        recorder_script()  # says now, not at the first recorded session, when rrweb is missing
        self.pool.start()
        self._bind_gauges()

    async def _launch_default(self) -> Browser:
        return await self._launch(self.default_config, warm=True)

    async def _launch(self, config: LaunchConfig, warm: bool, profile_id: str = "") -> Browser:
        browser = Browser(self.root, config, self.binary, self.sandbox)
        try:
            if profile_id:
                if self.profiles is None:
                    raise LaunchError("this node cannot load profiles (no control plane link)")
                browser.prepare()
                await self.profiles.download(profile_id, browser.user_data_dir)
            await browser.launch(background=warm)
        except BaseException:
            await browser.close()
            raise
        metrics.LAUNCH_SECONDS.labels("warm" if warm else "cold").observe(browser.launch_ms / 1000)
        asyncio.get_running_loop().create_task(self._watch(browser))
        return browser

    async def _watch(self, browser: Browser) -> None:
        await browser.exited.wait()
        if browser.session_id and browser.session_id in self.sessions:
            log.warning("browser exited on its own", extra={"session_id": browser.session_id})
            self.changed.set()

    async def start_browser(self, session_id: str, project_id: str,
                            options: session_pb2.SessionOptions,
                            profile_cookies: list[session_pb2.Cookie] | None = None) -> SessionSlot:
        """profile_cookies (set through the API since the profile was saved) replace the loaded
        profile's cookies."""
        if session_id in self.sessions:
            return self.sessions[session_id]
        if self.free_slots() <= 0:
            raise CapacityError(f"node is full ({self.capacity} browsers)")
        started = time.monotonic()
        extension_dirs: tuple[str, ...] = ()
        if options.extension_ids:
            if self.extensions is None:
                raise LaunchError("this node cannot load extensions (no control plane link)")
            extension_dirs = tuple([str(await self.extensions.folder(e)) for e in options.extension_ids])
        config = LaunchConfig.from_options(options, extension_dirs, self.ui_size,
                                           self.stealth_user_agent)
        self._starting += 1
        try:
            browser = None
            profile_id = options.profile.profile_id if options.HasField("profile") else ""
            if config == self.default_config and not profile_id:
                browser = await self.pool.acquire(timeout=LAUNCH_TIMEOUT_S)
            warm = browser is not None
            if browser is not None:
                browser.foreground()
            else:
                # Pooled browsers count against capacity: make room by giving one up.
                while self._held() > self.capacity and (victim := self.pool.evict()):
                    await victim.close()
                browser = await self._launch(config, warm=False, profile_id=profile_id)
            browser.session_id = session_id
            (browser.root / "session").write_text(session_id)
            if options.cookies or profile_cookies is not None:
                try:
                    if profile_cookies is not None:
                        await inject_cookies(browser, profile_cookies, clear=True)
                    if options.cookies:
                        await inject_cookies(browser, options.cookies)
                except Exception:
                    await browser.close()
                    raise
        finally:
            self._starting -= 1
        slot = SessionSlot(session_id, project_id, browser, warm,
                           (time.monotonic() - started) * 1000, profile_id=profile_id,
                           dismiss_blockers=options.dismiss_blockers, vault_id=options.vault_id)
        # Recording (and resource blocking) starts after the hand-over, off the create path.
        slot.events = PageEvents(f"ws://127.0.0.1:{browser.port}{browser.browser_path}",
                                 tuple(options.blocked_resource_types),
                                 tuple(ad_hosts.url_patterns()) if options.block_ads else (),
                                 redact_bodies=bool(options.vault_id),
                                 extra_headers=extra_headers(options.extra_http_headers))
        slot.events.start()
        if options.record_session:
            slot.dom = DomRecorder(f"ws://127.0.0.1:{browser.port}{browser.browser_path}",
                                   session_id, mask_all_inputs=bool(options.vault_id),
                                   max_bytes=self.dom_events_limit)
            slot.dom.start()
            slot.recorder = Recorder(f"ws://127.0.0.1:{browser.port}{browser.browser_path}",
                                     browser.root / "recording", self.record,
                                     lambda: slot.driver.active if slot.driver is not None else "",
                                     session_id=session_id)
            slot.recorder.start()
        if self.disk_quota or (self.sandbox is not None and self.sandbox.cgroups is not None):
            slot.limits_watch = asyncio.get_running_loop().create_task(self._watch_limits(slot))
        slot.watching = asyncio.get_running_loop().create_task(_watchers_ready(slot, options))
        self.sessions[session_id] = slot
        self.changed.set()
        return slot

    async def _watch_limits(self, slot: SessionSlot, interval: float = 1.0) -> None:
        """Ends a session that outgrew a limit: its downloads and uploads past the disk quota,
        or a process of its browser killed for memory, or its process limit reached. The
        browser is stopped and the session reported ended, with the reason."""
        browser = slot.browser
        dirs = [browser.downloads_dir, browser.uploads_dir, browser.artifacts_dir]
        while not browser.exited.is_set():
            reason = browser.exit_reason()
            if not reason and self.disk_quota:
                used = await asyncio.to_thread(disk_usage, dirs)
                if used > self.disk_quota:
                    reason = (f"the session wrote more than its disk quota "
                              f"({self.disk_quota >> 20} MiB of downloads and uploads)")
            if reason:
                log.warning("session over a limit", extra={"session_id": slot.session_id,
                                                            "fields": {"reason": reason}})
                browser.stop_reason = reason
                await browser.kill()
                self.changed.set()
                return
            await asyncio.sleep(interval)

    async def stop_browser(self, session_id: str, save_profile: bool = False,
                           archive_downloads: bool = True, profile_id: str = "") -> int:
        """Ends a session's browser; with save_profile, stores its state into its profile
        (`profile_id` when given, else the one it started with) first, and sends what it
        downloaded (and its DOM recording) to the control plane to keep. Returns -1 when the
        session was not here, else the saved profile's size."""
        slot = self.sessions.pop(session_id, None)
        if slot is None:
            return -1
        saved = 0
        profile_id = profile_id or slot.profile_id
        if slot.limits_watch is not None:
            slot.limits_watch.cancel()
        recording = await self._finish_recording(slot)
        last_url, last_title = await _last_page(slot)
        if slot.events is not None:
            await slot.events.close()
        if slot.dom is not None:
            await slot.dom.close()  # what the pages still hold is sent first
        if slot.driver is not None:
            await slot.driver.close()
        try:
            if save_profile and profile_id and self.profiles is not None:
                try:
                    # Bounded: a hung browser still gets its directory saved.
                    cookies = await asyncio.wait_for(browser_cookies(slot.browser), 10)
                except Exception as err:  # noqa: BLE001 - a dead browser still saves its dir
                    log.warning("could not read the browser's cookies for its profile",
                                extra={"session_id": session_id, "fields": {"error": str(err)}})
                    cookies = []
                if not await slot.browser.shutdown():
                    log.warning("browser did not exit cleanly; saving its profile anyway",
                                extra={"session_id": session_id})
                saved = await self.profiles.upload(profile_id, session_id,
                                                   slot.browser.user_data_dir, cookies)
            if archive_downloads and self.profiles is not None:
                try:
                    await session_files.archive_downloads(self.profiles.stub, self.profiles.metadata,
                                                          session_id, slot.browser)
                except (grpc.RpcError, OSError) as err:
                    log.warning("could not archive the session's downloads",
                                extra={"session_id": session_id, "fields": {"error": str(err)}})
            if archive_downloads and self.profiles is not None:
                # Its logs stay readable once it has ended (the control plane answers from them).
                try:
                    await session_logs.put_logs(
                        self.profiles.stub, self.profiles.metadata, session_id, slot.project_id,
                        session_logs.kept_logs(slot.actions, slot.events, slot.started_at,
                                               last_url, last_title))
                except grpc.RpcError as err:
                    log.warning("could not keep the session's logs",
                                extra={"session_id": session_id, "fields": {"error": str(err)}})
            if archive_downloads and slot.dom is not None and self.profiles is not None:
                try:
                    await slot.dom.store(self.profiles.stub, self.profiles.metadata, slot.project_id)
                except grpc.RpcError as err:
                    log.warning("could not store the session's DOM recording",
                                extra={"session_id": session_id, "fields": {"error": str(err)}})
            if recording is not None and self.profiles is not None:
                try:
                    events = timeline(recording, list(slot.actions.entries),
                                      list(slot.events.cdp.entries) if slot.events else [],
                                      list(slot.events.console.entries) if slot.events else [])
                    await put_recording(self.profiles.stub, self.profiles.metadata, session_id,
                                        slot.project_id, recording, events)
                except Exception as err:  # noqa: BLE001 - a recording never fails the stop
                    log.warning("could not keep the session's recording",
                                extra={"session_id": session_id, "fields": {"error": str(err)}})
        finally:
            await slot.browser.close()
        self.pool.poke()
        self.changed.set()
        return saved

    async def _finish_recording(self, slot: SessionSlot) -> Any:
        """The session's video, finished (None when it was not recorded or the recorder
        failed: a recording never fails the session's stop)."""
        if slot.recorder is None:
            return None
        try:
            return await slot.recorder.finish()
        except Exception:  # noqa: BLE001 - logged; the session still stops
            log.exception("the recording failed", extra={"session_id": slot.session_id})
            await slot.recorder.close()
            return None

    async def close(self) -> None:
        await self.pool.close()
        ids = list(self.sessions)
        await asyncio.gather(*(self.stop_browser(s, archive_downloads=False) for s in ids),
                             return_exceptions=True)
        await sweep_processes(self.root)

    # -- CDP clients (from the relay) ----------------------------------------------------

    def client_connected(self, session_id: str) -> None:
        slot = self.sessions.get(session_id)
        if slot:
            slot.clients += 1
            slot.total_connections += 1
            slot.last_activity = time.time()
            self.changed.set()

    def client_disconnected(self, session_id: str) -> None:
        slot = self.sessions.get(session_id)
        if slot:
            slot.clients = max(0, slot.clients - 1)
            slot.last_activity = time.time()
            self.changed.set()

    def _bind_gauges(self) -> None:
        # Read at each scrape: free slots also change with starts in flight and a drain,
        # which no session event marks.
        metrics.CAPACITY.set_function(lambda: self.capacity)
        metrics.LIVE_SESSIONS.set_function(lambda: len(self.sessions))
        metrics.FREE_SLOTS.set_function(self.free_slots)
        metrics.WARM_BROWSERS.set_function(lambda: len(self.pool))


def disk_usage(dirs: list[pathlib.Path]) -> int:
    """Bytes in the files below `dirs` (allocated size, so sparse files count as written)."""
    total = 0
    for top in dirs:
        for dirpath, _dirnames, filenames in os.walk(top):
            for name in filenames:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                total += max(st.st_size if st.st_blocks == 0 else 0, st.st_blocks * 512)
    return total


async def inject_cookies(browser: Browser, cookies: list[session_pb2.Cookie],
                         clear: bool = False) -> None:
    """Sets the session's initial cookies through the browser target (every context sees them);
    with clear, they replace every cookie the browser had."""
    params = [cookie_param(c) for c in cookies]
    async with CdpConnection(f"ws://127.0.0.1:{browser.port}{browser.browser_path}") as cdp:
        if clear:
            await cdp.send("Storage.clearCookies", {})
        if params:
            await cdp.send("Storage.setCookies", {"cookies": params})


async def browser_cookies(browser: Browser) -> list[session_pb2.Cookie]:
    """Every cookie the browser holds (saved with its profile, so the profile's cookies can be
    read without opening its Chromium cookie database)."""
    async with CdpConnection(f"ws://127.0.0.1:{browser.port}{browser.browser_path}") as cdp:
        answer = await cdp.send("Storage.getCookies", {})
    return [cookie_from_cdp(c) for c in answer.get("cookies", [])]


__all__ = ["CapacityError", "Fleet", "LaunchError", "SessionSlot", "inject_cookies"]


def extra_headers(lines: list[str] | tuple[str, ...]) -> dict[str, str]:
    """SessionOptions.extra_http_headers ("Name: value", checked by the control plane) as CDP
    wants them; a name given twice keeps its last value."""
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return headers


async def _last_page(slot: SessionSlot) -> tuple[str, str]:
    """The url and title of the session's active page as it stops (briefly: a hung page gives
    none)."""
    if slot.driver is None:
        return "", ""
    try:
        _, page = await asyncio.wait_for(slot.driver.page(), 2)
        return page.url, await asyncio.wait_for(page.title(), 2)
    except Exception:  # noqa: BLE001 - a dead or stuck page has no title to keep
        return "", ""


# How long a client's first call waits, at most, for what must watch the session's first page.
SET_UP_WAIT_S = 3.0


async def _watchers_ready(slot: SessionSlot, options: session_pb2.SessionOptions) -> None:
    """A client navigates the moment it is connected: the options that act on pages (extra
    headers, blocked resources, ads) and the DOM recorder must already be on the open page, or
    its first document goes unheaded, unblocked or unrecorded. Their set-up is a CDP connection
    and a few calls each (~60 ms with rrweb's 285 KB script), overlapping the client's own
    connect; sessions with none of them do not wait at all."""
    waits = []
    if slot.events is not None and (options.extra_http_headers or options.blocked_resource_types
                                    or options.block_ads):
        waits.append(slot.events.ready.wait())
    if slot.dom is not None:
        waits.append(slot.dom.ready.wait())
    if waits:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), SET_UP_WAIT_S)
