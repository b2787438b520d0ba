"""One Chromium process: its launch flags, its directories, its start and its complete removal.

Every browser lives under one root directory (user-data-dir, temp dir, XDG config and cache, and
downloads). Chromium's crash handler leaves the process group with setsid, but its command line
names the XDG config dir, so "every process whose command line mentions the root" finds all of
a browser's processes; `sweep_processes` kills by that rule, after a restart too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
import shutil
import signal
import tempfile
import time
import uuid

from browserplane.chrome_flags import FlagRefused, check_flags
from browserplane.v1 import session_pb2
from node.sandbox import Sandbox, browser_env

log = logging.getLogger(__name__)

BASE_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--password-store=basic",
    "--use-mock-keychain",
    "--test-type",  # no "unsupported flag" infobar, which would shrink the viewport
    # Automation needs pages that behave the same in any tab: history navigation fires load
    # (no back/forward cache), and background pages are not throttled.
    "--disable-back-forward-cache",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-ipc-flooding-protection",
    "--disable-hang-monitor",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    # Stealth by default: navigator.webdriver is false for every page, whoever drives it.
    "--disable-blink-features=AutomationControlled",
]
DEFAULT_VIEWPORT = (1280, 720)
LAUNCH_TIMEOUT_S = 30.0


def find_chromium() -> str:
    """The Chromium binary: the real one behind Debian's wrapper script when it is there."""
    for candidate in ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise FileNotFoundError("Chromium not found: install it with `apt-get install -y chromium`")
    return found


class LaunchError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class LaunchConfig:
    """What decides a browser's command line and environment. Equal configs are interchangeable,
    which is what lets a pooled browser be handed to a session."""

    window: tuple[int, int] = DEFAULT_VIEWPORT
    scale_factor: float = 0.0
    user_agent: str = ""
    locale: str = ""
    timezone: str = ""
    proxy_server: str = ""
    proxy_pac: str = ""
    proxy_bypass: str = ""
    ignore_certificate_errors: bool = False
    extension_dirs: tuple[str, ...] = ()
    headful: bool = False
    # New headless draws the real browser UI above the page; the window is the viewport plus
    # this much (measured once per node by `measure_browser`).
    ui_size: tuple[int, int] = (0, 0)
    allowed_domains: tuple[str, ...] = ()
    # The user agent a session without one of its own gets: this Chromium's own, without
    # "HeadlessChrome" (measured once per node by `measure_browser`).
    stealth_user_agent: str = ""
    chrome_args: tuple[str, ...] = ()  # the session's own, from browserplane/chrome_flags.py

    @classmethod
    def from_options(
        cls, options: session_pb2.SessionOptions, extension_dirs: tuple[str, ...] = (),
        ui_size: tuple[int, int] = (0, 0), stealth_user_agent: str = "",
    ) -> LaunchConfig:
        window = DEFAULT_VIEWPORT
        if options.HasField("viewport") and options.viewport.width and options.viewport.height:
            window = (options.viewport.width, options.viewport.height)
        server, pac, bypass = proxy_settings(options.proxies)
        # On Linux --lang alone does not reach navigator.language (the environment and
        # Accept-Language do): a --lang among the session's flags is its locale.
        locale = options.locale
        for flag in options.chrome_args:
            if flag.startswith("--lang="):
                locale = flag.partition("=")[2]
        return cls(
            window=window,
            scale_factor=options.viewport.device_scale_factor if options.HasField("viewport") else 0.0,
            user_agent=options.user_agent,
            locale=locale,
            timezone=options.timezone,
            proxy_server=server,
            proxy_pac=pac,
            proxy_bypass=bypass,
            ignore_certificate_errors=options.ignore_certificate_errors,
            extension_dirs=extension_dirs,
            headful=options.headful,
            ui_size=ui_size,
            allowed_domains=tuple(options.allowed_domains),
            stealth_user_agent=stealth_user_agent,
            chrome_args=tuple(options.chrome_args),
        )

    def flags(self) -> list[str]:
        flags = list(BASE_FLAGS)
        if not self.headful:
            flags.append("--headless")
        width, height = self.window[0] + self.ui_size[0], self.window[1] + self.ui_size[1]
        flags.append(f"--window-size={width},{height}")
        if self.scale_factor and self.scale_factor != 1.0:
            flags.append(f"--force-device-scale-factor={self.scale_factor}")
        if self.user_agent or self.stealth_user_agent:
            flags.append(f"--user-agent={self.user_agent or self.stealth_user_agent}")
        if self.locale:
            # navigator.languages and Accept-Language as a browser set to that language has
            # them: the tag, then its bare language ("fr-FR,fr").
            base = self.locale.replace("_", "-").split("-")[0]
            accept = self.locale if base == self.locale else f"{self.locale},{base}"
            flags += [f"--lang={self.locale}", f"--accept-lang={accept}"]
        if self.proxy_server:
            flags.append(f"--proxy-server={self.proxy_server}")
        if self.proxy_pac:
            flags.append(f"--proxy-pac-url={self.proxy_pac}")
        if self.proxy_bypass:
            flags.append(f"--proxy-bypass-list={self.proxy_bypass}")
        if self.allowed_domains:
            # Every other host (IP literals included) fails to resolve, so nothing else loads.
            rules = ", ".join(["MAP * ~NOTFOUND", *(f"EXCLUDE {d}" for d in self.allowed_domains)])
            flags.append(f"--host-resolver-rules={rules}")
        if self.ignore_certificate_errors:
            flags.append("--ignore-certificate-errors")
        if self.extension_dirs:
            joined = ",".join(self.extension_dirs)
            flags += [f"--load-extension={joined}", f"--disable-extensions-except={joined}"]
        else:
            flags.append("--disable-extensions")
        # Checked here too, whatever the control plane let through (defence in depth); last, so
        # a session's --window-size or --lang wins over the node's.
        try:
            check_flags(self.chrome_args)
        except FlagRefused as err:
            raise LaunchError(f"chrome_args[{err.index}]: {err}") from None
        flags += self.chrome_args
        return flags


def proxy_settings(rules: list[session_pb2.ProxyRule]) -> tuple[str, str, str]:
    """(--proxy-server, --proxy-pac-url, --proxy-bypass-list) for the session's proxy rules.

    One rule without a domain pattern is a plain proxy server; anything richer becomes a PAC
    script (a data: URL) so domain patterns and direct rules keep their order.
    """
    rules = [r for r in rules if r.server or r.kind == session_pb2.ProxyRule.NONE]
    if not rules:
        return "", "", ""
    if len(rules) == 1 and not rules[0].domain_pattern and rules[0].kind != rules[0].NONE:
        return rules[0].server, "", ",".join(rules[0].bypass)
    lines = ["function FindProxyForURL(url, host) {"]
    for rule in rules:
        target = "DIRECT" if rule.kind == rule.NONE else _pac_target(rule.server)
        if rule.domain_pattern:
            lines.append(f"  if (shExpMatch(host, {rule.domain_pattern!r})) return {target!r};")
        else:
            lines.append(f"  return {target!r};")
    lines.append("  return 'DIRECT';\n}")
    import base64

    script = "\n".join(lines).encode()
    return "", "data:application/x-javascript-config;base64," + base64.b64encode(script).decode(), ""


def _pac_target(server: str) -> str:
    scheme, _, hostport = server.partition("://")
    if not hostport:
        scheme, hostport = "http", server
    kind = {"http": "PROXY", "https": "HTTPS", "socks5": "SOCKS5", "socks": "SOCKS"}.get(scheme, "PROXY")
    return f"{kind} {hostport}"


# If the node agent dies (even by SIGKILL) the kernel kills its browsers too: util-linux's
# setpriv sets the parent-death signal and execs Chromium, so no Python runs in the forked
# child of this multi-threaded process (that can deadlock or abort).
SETPRIV = shutil.which("setpriv")
SHORT_TMP = "/tmp"
# Browsers run a little below the node agent and control plane (which need little CPU but
# must answer promptly), and pooled ones lower still until they serve a session.
SESSION_NICE = 5
BACKGROUND_NICE = 15


class Browser:
    """A running Chromium with its own directories. Not yet owned, or owned by one session."""

    def __init__(self, root: pathlib.Path, config: LaunchConfig, binary: str,
                 sandbox: Sandbox | None = None) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.root = root / self.id
        self.config = config
        self.binary = binary
        self.sandbox = sandbox
        self.uid = 0  # the browser's own uid when sandboxed; 0 = runs as the agent's user
        self.stop_reason = ""  # set when the node ends the browser for a limit
        self.session_id: str | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.browser_path = ""  # /devtools/browser/<uuid>
        self.launch_ms = 0.0
        self.launched_at = 0.0
        self.exited = asyncio.Event()
        self.tmp_dir: pathlib.Path | None = None

    @property
    def user_data_dir(self) -> pathlib.Path:
        return self.root / "user-data"

    @property
    def downloads_dir(self) -> pathlib.Path:
        return self.root / "downloads"

    @property
    def uploads_dir(self) -> pathlib.Path:
        return self.root / "uploads"

    @property
    def artifacts_dir(self) -> pathlib.Path:
        return self.root / "artifacts"

    @property
    def home_dir(self) -> pathlib.Path:
        return self.root / "home"

    @property
    def browser_dirs(self) -> list[pathlib.Path]:
        """What the browser itself may write: the only parts of the node it sees."""
        return [self.user_data_dir, self.root / "config", self.root / "cache", self.downloads_dir,
                self.uploads_dir, self.artifacts_dir, self.home_dir]

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    async def launch(self, background: bool = False) -> None:
        """Starts Chromium and waits for its DevToolsActivePort file (no port guessing).

        A `background` launch (the warm pool's) runs at low CPU priority until `foreground()`:
        a fresh Chromium keeps both cores of a small node busy for a second or more after it
        is up, and the sessions being served should not wait behind it. `nice` is relative, so
        browsers always sit below the agent that started them.
        """
        self.prepare()
        boxed = self.sandbox is not None and self.sandbox.uids is not None
        if boxed:
            assert self.sandbox is not None and self.sandbox.uids is not None
            self.uid = self.sandbox.uids.acquire()
            (self.root / "uid").write_text(str(self.uid))
            await asyncio.to_thread(self._hand_over_dirs)
            tmp = "/tmp"  # a private tmpfs inside the box
        else:
            # Chromium puts a Unix socket in TMPDIR, and socket paths end at 108 bytes: a temp
            # dir under a long data dir would make every launch abort. Keep it short, recorded.
            self.tmp_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"bp-{self.id}-", dir=SHORT_TMP))
            (self.root / "tmpdir").write_text(str(self.tmp_dir))
            tmp = str(self.tmp_dir)
        env = browser_env(self.home_dir, self.root / "config", self.root / "cache", tmp,
                          self.config.timezone, self.config.locale)
        # --bounding-set=-sys_nice: as root, Chromium raises its display threads to nice -8 and
        # then starves the node agent and control plane on a small machine.
        prefix = [SETPRIV, "--pdeathsig", "KILL", "--bounding-set=-sys_nice", "--"] if SETPRIV else []
        prefix = ["nice", "-n", str(BACKGROUND_NICE if background else SESSION_NICE), *prefix]
        flags = self.config.flags()
        if boxed:
            assert self.sandbox is not None
            prefix = [*self.sandbox.cgroup_prefix(self.id), *prefix,
                      *self.sandbox.box_prefix(self.uid, self.root, self.browser_dirs,
                                               [pathlib.Path(d) for d in self.config.extension_dirs])]
        elif os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox on
        args = [*prefix, self.binary, *flags, f"--user-data-dir={self.user_data_dir}", "about:blank"]
        started = time.monotonic()
        stderr = open(self.root / "chromium.log", "wb")  # noqa: SIM115 - handed to the child
        try:
            self.process = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr, env=env, start_new_session=True,
                # A relative downloadPath (Browserbase's documented "downloads") lands in the
                # session's downloads dir, which /downloads serves.
                cwd=self.root,
            )
        finally:
            stderr.close()
        (self.root / "pid").write_text(str(self.process.pid))
        asyncio.get_running_loop().create_task(self._watch_exit())
        marker = self.user_data_dir / "DevToolsActivePort"
        while True:
            try:
                lines = marker.read_text().split("\n")
                if len(lines) >= 2 and lines[0].isdigit() and lines[1].startswith("/devtools/"):
                    self.port, self.browser_path = int(lines[0]), lines[1].strip()
                    break
            except FileNotFoundError:
                pass
            if self.exited.is_set():
                raise LaunchError(f"Chromium exited during start (code {self.process.returncode}): "
                                  f"{self.log_tail()}")
            if time.monotonic() - started > LAUNCH_TIMEOUT_S:
                raise LaunchError(f"Chromium did not start within {LAUNCH_TIMEOUT_S:.0f}s")
            await asyncio.sleep(0.003)
        self.launched_at = time.monotonic()
        self.launch_ms = (self.launched_at - started) * 1000

    def prepare(self) -> None:
        """Creates the browser's directories (before launch, e.g. to seed a profile)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in self.browser_dirs:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _hand_over_dirs(self) -> None:
        """Gives the browser's own directories (and a seeded profile) to its uid, 0700: no other
        browser user can read them; the root dir with the agent's files stays the agent's."""
        for top in self.browser_dirs:
            os.chown(top, self.uid, self.uid)
            top.chmod(0o700)
            for dirpath, dirnames, filenames in os.walk(top):
                for name in dirnames + filenames:
                    os.chown(os.path.join(dirpath, name), self.uid, self.uid, follow_symlinks=False)

    async def shutdown(self, timeout: float = 10.0) -> bool:
        """Asks Chromium to exit cleanly (it then writes cookies and storage to disk)."""
        from node.cdp_client import CdpConnection, CdpError

        if self.process is None or self.exited.is_set():
            return self.exited.is_set()
        try:
            async with CdpConnection(f"ws://127.0.0.1:{self.port}{self.browser_path}") as cdp:
                try:
                    await cdp.send("Browser.close")
                except CdpError:
                    pass  # the connection drops as the browser goes away
        except OSError:
            return False
        try:
            await asyncio.wait_for(self.exited.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def foreground(self) -> None:
        """Session priority (the browser now serves a session)."""
        if self.process is None:
            return
        try:
            os.setpriority(os.PRIO_PGRP, self.process.pid, os.getpriority(os.PRIO_PROCESS, 0)
                           + SESSION_NICE)
        except OSError:  # lowering niceness needs CAP_SYS_NICE; a slower browser still works
            log.debug("could not restore browser priority", extra={"session_id": self.session_id})

    async def _watch_exit(self) -> None:
        assert self.process is not None
        await self.process.wait()
        self.exited.set()

    def log_tail(self, limit: int = 600) -> str:
        try:
            return (self.root / "chromium.log").read_bytes()[-limit:].decode(errors="replace")
        except OSError:
            return ""

    async def kill(self) -> None:
        """Kills every process of this browser (its directories stay, for the session's end):
        its process group, whatever left the group but names its directory, and whatever is
        still in its cgroups."""
        if self.process is not None and self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(self.exited.wait(), 5)
            except TimeoutError:
                log.warning("chromium did not exit after SIGKILL", extra={"session_id": self.session_id})
        await sweep_processes(self.root)
        if self.sandbox is not None and self.sandbox.cgroups is not None:
            await asyncio.to_thread(self.sandbox.cgroups.kill, self.id)

    async def close(self) -> None:
        """Kills every process of this browser and removes its directories."""
        await self.kill()
        if self.sandbox is not None:
            if self.sandbox.cgroups is not None:
                self.sandbox.cgroups.remove(self.id)
            if self.uid and self.sandbox.uids is not None:
                self.sandbox.uids.release(self.uid)
                self.uid = 0
        await asyncio.to_thread(remove_browser_dir, self.root)

    def exit_reason(self) -> str:
        """Why the browser ended on its own, when its limits say so."""
        if self.stop_reason:
            return self.stop_reason
        cgroups = self.sandbox.cgroups if self.sandbox is not None else None
        if cgroups is not None and cgroups.oom_killed(self.id):
            return (f"the browser used more than its memory limit "
                    f"({self.sandbox.limits.memory_bytes >> 20} MiB) and was stopped")
        if cgroups is not None and cgroups.pids_exhausted(self.id):
            return f"the browser reached its process limit ({self.sandbox.limits.pids})"
        return ""


async def measure_browser(root: pathlib.Path, binary: str,
                          sandbox: Sandbox | None = None) -> tuple[tuple[int, int], str]:
    """How much bigger than its viewport this Chromium's window is (outer minus inner size),
    and the user agent sessions get by default: the browser's own with "HeadlessChrome"
    replaced by "Chrome" (same version, same platform, as a headful Chrome of it sends)."""
    from node.cdp_client import CdpConnection

    browser = Browser(root, LaunchConfig(), binary, sandbox)
    try:
        await browser.launch()
        async with CdpConnection(f"ws://127.0.0.1:{browser.port}{browser.browser_path}") as cdp:
            user_agent = (await cdp.send("Browser.getVersion"))["userAgent"]
            targets = (await cdp.send("Target.getTargets"))["targetInfos"]
            page = next(t["targetId"] for t in targets if t["type"] == "page")
            attached = await cdp.send("Target.attachToTarget", {"targetId": page, "flatten": True})
            result = await cdp.send("Runtime.evaluate", {
                "expression": "[outerWidth - innerWidth, outerHeight - innerHeight]",
                "returnByValue": True}, session_id=attached["sessionId"])
            width, height = result["result"]["value"]
            return (max(0, int(width)), max(0, int(height))), stealth_user_agent(user_agent)
    finally:
        await browser.close()


def stealth_user_agent(user_agent: str) -> str:
    """A headless Chromium's user agent as the same Chromium headful sends it."""
    return user_agent.replace("HeadlessChrome/", "Chrome/")


def remove_browser_dir(root: pathlib.Path) -> None:
    """Removes a browser's root and the short temp dir it recorded."""
    try:
        tmp = pathlib.Path((root / "tmpdir").read_text().strip())
        if tmp.parent == pathlib.Path(SHORT_TMP) and tmp.name.startswith("bp-"):
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass
    shutil.rmtree(root, ignore_errors=True)


def processes_mentioning(path: pathlib.Path) -> list[int]:
    """Pids whose command line contains `path` (a browser root, or the whole browsers dir)."""
    needle = str(path).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if needle in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


async def sweep_processes(path: pathlib.Path, timeout: float = 5.0) -> int:
    """SIGKILLs every process that mentions `path` and waits until none is left."""
    deadline = time.monotonic() + timeout
    killed = 0
    while True:
        pids = [p for p in processes_mentioning(path) if not _is_zombie(p)]
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            log.warning("processes survive SIGKILL", extra={"fields": {"pids": pids}})
            return killed
        await asyncio.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True
