"""Each browser in a box of its own: a uid, a filesystem view, a scrubbed environment, limits.

When the node agent runs as root (the supported production set-up), every browser gets:
- its own uid and gid from a block of the node's range (`UidPool`; a block is held machine-wide,
  so two node agents on one machine never hand out the same uid), and Chromium's own sandbox
  stays on;
- a bubblewrap view of the machine (`bwrap_command`): /usr and what browsers need of /etc,
  read-only, a private /proc
  and /dev, its own /tmp (a size-capped tmpfs) and only its own directories from the node's
  data dir, bound at the same paths (so a path a session is given, an upload's, means the
  same inside). The node's data dir, secrets, other sessions and profiles are not in the view
  at all; the root of the view is read-only. Chromium's managed policy dir is replaced by the
  node's (file:, view-source:, chrome:, devtools: refused however a navigation is asked for);
- a PID namespace: it sees only its own processes, and when its init goes every one goes;
- cgroup v1 memory and pids limits of its own (`Cgroups`), so a page that allocates fast or
  opens tabs in a loop ends its own browser, with a reason, and no neighbour's.
The environment is built from nothing (`browser_env`): no BROWSERPLANE_*, no keys, no secret.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import pathlib
import shutil
import signal
import time

log = logging.getLogger(__name__)

UID_LOCKS = pathlib.Path("/run/browserplane/uids")
CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
# Chromium's managed policies: what no session may open, whoever asks (a page, Automation, a
# raw CDP client). chrome://settings stays open: Chromium 156 crashes when it is blocked.
POLICY = {
    "URLBlocklist": ["file://*", "view-source:*", "chrome://*", "chrome-untrusted://*",
                     "devtools://*", "chrome-search://*", "filesystem:file://*"],
    "URLAllowlist": ["chrome://settings", "chrome://top-chrome"],  # the latter: browser UI
    "DownloadRestrictions": 0,
    "PromptForDownloadLocation": False,
    "DeveloperToolsAvailability": 1,  # DevTools protocol on; the DevTools UI pages are blocked above
    "WebRtcIPHandlingPolicy": "default_public_interface_only",
    "BrowserSignin": 0,
    "SyncDisabled": True,
    "PasswordManagerEnabled": False,
    "MetricsReportingEnabled": False,
    "SafeBrowsingProtectionLevel": 0,
}


# What of /etc a browser sees: what the C library, fontconfig, TLS and Chromium read, and
# nothing else (/etc also holds registry tokens in npmrc and pip.conf, ssh keys, shadow files).
ETC_ENTRIES = ("alternatives", "ca-certificates", "ca-certificates.conf", "ssl", "pki", "fonts",
               "gai.conf", "group", "host.conf", "hostname", "hosts", "ld.so.cache", "ld.so.conf",
               "ld.so.conf.d", "localtime", "timezone", "machine-id", "mime.types", "nsswitch.conf",
               "passwd", "resolv.conf", "services", "protocols", "xdg", "os-release", "debian_version",
               "glvnd", "locale.alias", "gtk-3.0")


@dataclasses.dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 << 30
    pids: int = 1024
    tmp_bytes: int = 256 << 20


def parse_uid_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        lo, hi = int(low), int(high or low)
    except ValueError:
        raise SystemExit(f"--browser-uids: expected LOW-HIGH, got {text!r}") from None
    if not 1000 <= lo <= hi < 2**31:
        raise SystemExit(f"--browser-uids: {text!r} must be a range of ids from 1000 up")
    return lo, hi


class UidPool:
    """Unprivileged uids for this node's browsers: a block of the configured range that no other
    agent on the machine holds (an exclusive lock on a file named for the block, released the
    moment the agent exits or dies), handed out one uid per browser. One block means one
    kernel egress rule for all of this node's browsers, made once at start."""

    def __init__(self, uids: tuple[int, int], block: int, lock_dir: pathlib.Path = UID_LOCKS) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        first, last = uids
        for start in range(first, last + 1, block):
            fd = os.open(lock_dir / f"block-{start}-{block}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._lock = fd
            self.low, self.high = start, min(start + block - 1, last)
            break
        else:
            raise SystemExit(f"--browser-uids {first}-{last}: every block of {block} uids is held by "
                             "another node agent on this machine; give this one another range")
        self._free = list(range(self.low, self.high + 1))  # least recently used first

    def acquire(self) -> int:
        for uid in self._free:
            if not pids_of_uid(uid):  # else a browser of a crashed agent still runs as it
                self._free.remove(uid)
                return uid
        raise RuntimeError(f"no free browser uid in {self.low}-{self.high}")

    def release(self, uid: int) -> None:
        if self.low <= uid <= self.high and uid not in self._free:
            self._free.append(uid)


def pids_of_uid(uid: int) -> list[int]:
    """The processes running as `uid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except OSError:
                continue
    return found


class Cgroups:
    """A browser's cgroup v1 `memory` and `pids` groups under `browserplane/<node>/<browser>`."""

    def __init__(self, node_key: str, root: pathlib.Path = CGROUP_ROOT) -> None:
        self.memory = root / "memory" / "browserplane" / node_key
        self.pids = root / "pids" / "browserplane" / node_key

    @staticmethod
    def available(root: pathlib.Path = CGROUP_ROOT) -> bool:
        return all((root / c / "cgroup.procs").exists() and os.access(root / c, os.W_OK)
                   for c in ("memory", "pids"))

    def create(self, name: str, limits: Limits) -> list[pathlib.Path]:
        """Makes the browser's groups and sets their limits; returns their `cgroup.procs`."""
        memory, pids = self.memory / name, self.pids / name
        memory.mkdir(parents=True, exist_ok=True)
        pids.mkdir(parents=True, exist_ok=True)
        (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
        swap = memory / "memory.memsw.limit_in_bytes"
        if swap.exists():  # no swapping past the limit either
            swap.write_text(str(limits.memory_bytes))
        (pids / "pids.max").write_text(str(limits.pids))
        return [memory / "cgroup.procs", pids / "cgroup.procs"]

    def oom_killed(self, name: str) -> bool:
        """Whether the kernel killed a process of this browser for its memory limit (hitting the
        limit alone only reclaims cache; that is not a reason to end anything)."""
        try:
            for line in (self.memory / name / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def pids_exhausted(self, name: str) -> bool:
        try:
            return int((self.pids / name / "pids.events").read_text().split()[-1]) > 0
        except (OSError, ValueError, IndexError):
            return False

    def kill(self, name: str, timeout: float = 5.0) -> None:
        """SIGKILLs every process in the browser's groups (the authoritative list: nothing that
        forked or called setsid escapes it) until they are empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids: set[int] = set()
            for group in (self.memory / name, self.pids / name):
                try:
                    pids |= {int(p) for p in (group / "cgroup.procs").read_text().split()}
                except (OSError, ValueError):
                    continue
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self, name: str) -> None:
        for group in (self.memory / name, self.pids / name):
            try:
                group.rmdir()
            except FileNotFoundError:
                pass
            except OSError as err:
                log.warning("cgroup not removed", extra={"fields": {"group": str(group),
                                                                    "error": str(err)}})

    def remove_all(self) -> None:
        """Every group a previous run of this node left (their processes are gone by then)."""
        for base in (self.memory, self.pids):
            if base.exists():
                for group in base.iterdir():
                    if group.is_dir():
                        self.remove(group.name)


def write_policy(policy_dir: pathlib.Path) -> pathlib.Path:
    """The node's Chromium policy dir (root-owned, read-only inside every browser's view)."""
    managed = policy_dir / "managed"
    managed.mkdir(parents=True, exist_ok=True)
    (managed / "browserplane.json").write_text(json.dumps(POLICY, indent=1))
    for path in (policy_dir, managed):
        path.chmod(0o755)
    (managed / "browserplane.json").chmod(0o644)
    return policy_dir


def browser_env(home: pathlib.Path, config: pathlib.Path, cache: pathlib.Path, tmp: str,
                timezone: str = "", locale: str = "") -> dict[str, str]:
    """A browser's whole environment: nothing of the agent's (no BROWSERPLANE_*, no keys)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": tmp,
           "XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(cache),
           "LANG": "C.UTF-8"}
    if timezone:
        env["TZ"] = timezone
    if locale:
        env["LANGUAGE"] = locale.replace("-", "_")
    return env


def bwrap_command(root: pathlib.Path, writable: list[pathlib.Path], readable: list[pathlib.Path],
                  policy_dir: pathlib.Path, limits: Limits) -> list[str]:
    """bubblewrap's arguments for a browser whose directories are `writable` (under `root`)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise FileNotFoundError("bubblewrap not found: apt-get install -y bubblewrap")
    args = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", "browser",
            "--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc"]
    for name in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--perms", "0755", "--dir", "/etc/chromium",
             "--ro-bind", str(policy_dir), "/etc/chromium/policies"]
    for link in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        target = pathlib.Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    resolv = pathlib.Path("/etc/resolv.conf")
    if resolv.is_symlink():  # systemd-resolved and friends keep it under /run
        real = resolv.resolve()
        args += ["--ro-bind-try", str(real), str(real)]
    # /var made explicitly before fontconfig's cache is bound below it: bubblewrap would make
    # it 0700, and a node's data dir under /var (k8s: /var/lib/browserplane/node) would be out
    # of every browser's reach ("Failed to get the path for 1001", its user-data-dir)
    args += ["--proc", "/proc", "--dev", "/dev",
             "--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu",
             "--perms", "0755", "--dir", "/var", "--perms", "0755", "--dir", "/var/cache",
             "--ro-bind-try", "/var/cache/fontconfig", "/var/cache/fontconfig",
             "--ro-bind-try", "/usr/share/fonts", "/usr/share/fonts",
             "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    # Parents bubblewrap would make implicitly are 0700 root-owned: the browser's uid could not
    # pass them. Make each one explicitly, traversable (they are empty but for the binds).
    made: set[pathlib.Path] = {pathlib.Path(p) for p in ("/", "/tmp", "/var", "/var/cache")}
    for path in [root, *readable]:
        for ancestor in reversed([path, *path.parents] if path == root else list(path.parents)):
            if ancestor not in made:
                args += ["--perms", "0755", "--dir", str(ancestor)]
                made.add(ancestor)
    for path in writable:
        args += ["--bind", str(path), str(path)]
    for path in readable:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--chdir", str(root), "--remount-ro", "/"]
    return args


class Sandbox:
    """What a node's browsers are boxed with; `None` parts are what this machine cannot give
    (the agent is not root: one browser user, no uid per session, no cgroups, no kernel egress
    rules; see docs/security.md)."""

    def __init__(self, node_key: str, data_dir: pathlib.Path, uids: tuple[int, int],
                 limits: Limits, enabled: bool = True, browsers: int = 8) -> None:
        self.limits = limits
        self.privileged = enabled and os.geteuid() == 0
        # A block with room for every browser the node may hold, twice over (uids are reused
        # only once nothing of a previous browser runs as them).
        block = max(32, 2 * browsers)
        self.uids = UidPool(uids, block) if self.privileged else None
        self.cgroups = Cgroups(node_key) if self.privileged and Cgroups.available() else None
        self.policy_dir = write_policy(data_dir / "chromium-policy") if self.privileged else None
        if self.privileged and self.cgroups is None:
            log.warning("cgroup v1 memory/pids controllers not writable: browsers run without "
                        "memory and process limits")

    def cgroup_prefix(self, name: str) -> list[str]:
        """A shell that joins the browser's cgroups before anything else runs, so no process of
        the browser starts outside them."""
        if self.cgroups is None:
            return []
        procs = self.cgroups.create(name, self.limits)
        script = " && ".join(f'echo $$ > "{p}"' for p in procs) + ' && exec "$@"'
        return ["/bin/sh", "-c", script, "bp-cgroup"]

    def box_prefix(self, uid: int, root: pathlib.Path, writable: list[pathlib.Path],
                   readable: list[pathlib.Path]) -> list[str]:
        """bubblewrap, then the drop to the browser's uid (no capabilities, no setuid gains)."""
        if self.policy_dir is None:
            return []
        return [*bwrap_command(root, writable, readable, self.policy_dir, self.limits), "--",
                shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
