"""The state of a node under test, as the benchmarks see it: its browser dirs on disk and
whether it is quiet (no session browser, a full warm pool, nothing launching), and whether a
stopped cluster left anything behind."""

from __future__ import annotations

import pathlib
import shutil
import sys
import time

import grpc

from node.chromium import processes_mentioning
from tests.cluster import Cluster


def browser_dirs(root: pathlib.Path) -> tuple[list[pathlib.Path], list[pathlib.Path], list[pathlib.Path]]:
    """(session dirs, ready pool dirs, other dirs) under a browsers root `root`. A session's
    browser dir holds a `session` file; a ready pool browser's has a DevToolsActivePort; the
    others are launching, being removed, or a leftover without a session file."""
    sessions, ready, other = [], [], []
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return [], [], []
    for path in entries:
        if not path.is_dir():
            continue
        if (path / "session").exists():
            sessions.append(path)
        elif (path / "user-data" / "DevToolsActivePort").exists():
            ready.append(path)
        else:
            other.append(path)
    return sessions, ready, other


def wait_quiet(cluster: Cluster, node: str, pool: int, timeout: float, settle: float) -> float:
    """Waits until `node` has no session browser, `pool` ready pooled browsers and nothing
    launching (seen on disk and in ListNodes), then `settle` seconds more. Returns the wait."""
    started = time.monotonic()
    root = cluster.browsers_root(node)

    def quiet() -> bool:
        sessions, ready, other = browser_dirs(root)
        if sessions or other or len(ready) < pool:
            return False
        try:
            return cluster.node(node).warm_browsers >= pool
        except (KeyError, grpc.RpcError):
            return False

    Cluster.wait(quiet, timeout, "node did not get back to a full, quiet warm pool", interval=0.02)
    time.sleep(settle)
    return time.monotonic() - started


def stop_and_check(cluster: Cluster, tmp: pathlib.Path) -> bool:
    """Stops the cluster; True when processes still mention `tmp` (a leak, reported on
    stderr and the dir kept for a look), else removes `tmp`."""
    cluster.stop()
    leftover = processes_mentioning(tmp)
    if leftover:
        print(f"LEAK: processes still mention {tmp}: {leftover}", file=sys.stderr)
        return True
    shutil.rmtree(tmp, ignore_errors=True)
    return False
