"""Create/terminate cycles against a real cluster, then a leak check.

Starts its own control plane and one node (capacity 4, warm pool 2; real processes on
127.0.0.1 via tests.cluster) and runs N cycles of CreateSession (default options) followed by
TerminateSession, back to back. Then:

  1. waits up to --settle-timeout seconds for the node to settle (no session browser left, the
     pool full again), and counts what is left under the node's browsers root that is NOT a pool
     browser (a session's browser dir holds a `session` file; a pool browser's does not) and
     the processes that mention those dirs;
  2. stops the cluster and checks that no process mentions the cluster's tmp dir, that the
     node's browsers root is empty, and that no /tmp/bp-* temp dir of this run's browsers is
     left (browser ids are recorded by polling the browsers root during the run).

Exits 1 when anything leaked (2 on errors).

    .venv/bin/python bench/cycles.py [--cycles 200]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import json
import pathlib
import shutil
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.node_state import browser_dirs  # noqa: E402
from bench.stats import percentile  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from browserplane.v1 import session_pb2 as S  # noqa: E402
from node.chromium import SHORT_TMP, processes_mentioning  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

NODE = "n1"


def bp_tmp_dirs() -> set[str]:
    try:
        return {name for name in os.listdir(SHORT_TMP) if name.startswith("bp-")}
    except OSError:
        return set()


class DirRecorder(threading.Thread):
    """Polls a browsers root and records every browser id (dir name) that appears there, so
    /tmp/bp-<id>-* dirs can be told apart from those of other runs on the machine."""

    def __init__(self, root: pathlib.Path, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.ids: set[str] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.scan()
            self._stop_event.wait(self.interval)

    def scan(self) -> None:
        try:
            self.ids.update(os.listdir(self.root))
        except OSError:
            pass

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)
        self.scan()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=200, help="create/terminate cycles")
    parser.add_argument("--capacity", type=int, default=4, help="node capacity")
    parser.add_argument("--pool", type=int, default=2, help="node warm pool size")
    parser.add_argument("--settle-timeout", type=float, default=15.0,
                        help="seconds to wait for the node to settle after the cycles")
    parser.add_argument("--max-seconds", type=float, default=900,
                        help="time budget for the cycles; cycles past it are skipped")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the cluster's tmp dir")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary at the end")
    args = parser.parse_args(argv)
    if not (1 <= args.cycles <= 100_000 and 0 <= args.pool <= args.capacity):
        parser.error("--cycles must be 1..100000 and --pool at most --capacity")

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-cycles-"))
    root = tmp / NODE / "browsers"
    bp_before = bp_tmp_dirs()
    recorder = DirRecorder(root)
    recorder.start()
    cluster = Cluster(tmp)
    create_ms: list[float] = []
    terminate_ms: list[float] = []
    warm = 0
    errors: list[str] = []
    done = 0
    elapsed = 0.0
    settled = False
    settle_s = 0.0
    before_stop: dict[str, object] = {}
    try:
        cluster.start_controlplane()
        cluster.start_node(NODE, capacity=args.capacity, pool=args.pool)
        md = (("authorization", f"Bearer {cluster.create_key('bench')}"),)
        print(f"cluster up: node {NODE} capacity={args.capacity} pool={args.pool}; "
              f"{args.cycles} cycles", flush=True)

        deadline = time.monotonic() + args.max_seconds
        started = time.monotonic()
        for i in range(args.cycles):
            if time.monotonic() > deadline:
                errors.append(f"time budget spent after {i} cycles")
                break
            try:
                t = time.perf_counter()
                s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions()),
                                               metadata=md, timeout=60)
                create_ms.append((time.perf_counter() - t) * 1000)
                warm += s.warm
                t = time.perf_counter()
                cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id, reason="bench"),
                                              metadata=md, timeout=15)
                terminate_ms.append((time.perf_counter() - t) * 1000)
                done += 1
            except grpc.RpcError as err:
                errors.append(f"cycle {i}: {err.code().name} {err.details()}")  # type: ignore[attr-defined]
                if len(errors) > 10:
                    break
            if (i + 1) % 50 == 0:
                print(f"  {i + 1} cycles, {time.monotonic() - started:.1f}s", flush=True)
        elapsed = time.monotonic() - started

        # Let the node finish stopping browsers and refill its pool.
        t = time.monotonic()
        settle_deadline = t + args.settle_timeout
        while time.monotonic() < settle_deadline:
            sessions, pool, other = browser_dirs(root)
            if not sessions and not other and len(pool) >= args.pool:
                settled = True
                break
            time.sleep(0.1)
        settle_s = time.monotonic() - t
        sessions, pool, other = browser_dirs(root)
        pool_pids: set[int] = set()
        for path in pool:
            pool_pids.update(processes_mentioning(path))
        all_pids = set(processes_mentioning(root))
        session_pids: set[int] = set()
        for path in sessions:
            session_pids.update(processes_mentioning(path))
        try:
            live = cluster.stub.ListSessions(
                cp.ListSessionsRequest(states=[S.PENDING, S.RUNNING]), metadata=md, timeout=10)
            live_sessions = len(live.sessions)
        except grpc.RpcError:
            live_sessions = -1
        before_stop = {
            "settled": settled, "settle_s": round(settle_s, 2),
            "pool_dirs": len(pool), "pool_processes": len(pool_pids),
            "session_dirs": len(sessions), "session_processes": len(session_pids),
            "other_dirs": len(other),
            "non_pool_processes": len(all_pids - pool_pids),
            "live_sessions_on_control_plane": live_sessions,
        }
    except (grpc.RpcError, AssertionError) as err:
        errors.append(f"{type(err).__name__}: {err}")
        print(cluster.logs(), file=sys.stderr)
    finally:
        cluster.stop()
        recorder.stop()

    # After the stop: nothing of this cluster may remain.
    leftover_pids = processes_mentioning(tmp)
    leftover_dirs = sorted(p.name for p in root.iterdir()) if root.exists() else []
    new_bp = bp_tmp_dirs() - bp_before
    ours = {name for name in new_bp if name.split("-")[1] in recorder.ids}
    foreign = new_bp - ours
    after_stop = {"processes_mentioning_tmp": len(leftover_pids), "browser_dirs": len(leftover_dirs),
                  "bp_tmp_dirs": len(ours), "bp_tmp_dirs_of_other_runs": len(foreign)}

    print()
    if create_ms:
        rate = done / elapsed if elapsed else 0.0
        print(f"cycles: {done}/{args.cycles} in {elapsed:.1f}s = {rate:.2f} cycles/s; "
              f"warm {warm}/{len(create_ms)}")
        print(f"create     p50={percentile(create_ms, 50):7.1f}  p90={percentile(create_ms, 90):7.1f}  "
              f"p99={percentile(create_ms, 99):7.1f}  max={max(create_ms):7.1f} ms")
        print(f"terminate  p50={percentile(terminate_ms, 50):7.1f}  "
              f"p99={percentile(terminate_ms, 99):7.1f}  max={max(terminate_ms):7.1f} ms")
    print(f"browsers seen during the run: {len(recorder.ids)}")
    print("before stop: " + ", ".join(f"{k}={v}" for k, v in before_stop.items()))
    print("after stop:  " + ", ".join(f"{k}={v}" for k, v in after_stop.items()))
    if leftover_pids:
        print(f"  leftover pids: {leftover_pids}")
    if leftover_dirs:
        print(f"  leftover browser dirs: {leftover_dirs[:10]}")
    if ours:
        print(f"  leftover temp dirs: {sorted(ours)[:10]}")
    if foreign:
        print(f"  note: {len(foreign)} new /tmp/bp-* dirs not from this run (another run on this "
              "machine?), not counted")
    for err in errors:
        print(f"error: {err}")

    leaked = bool(
        before_stop.get("session_dirs") or before_stop.get("session_processes")
        or before_stop.get("other_dirs") or before_stop.get("non_pool_processes")
        or leftover_pids or leftover_dirs or ours
    )
    print("LEAKED" if leaked else "no leaks")
    if args.json:
        print(json.dumps({
            "cycles": done, "elapsed_s": elapsed, "cycles_per_s": done / elapsed if elapsed else 0.0,
            "warm": warm,
            "create_p50_ms": percentile(create_ms, 50) if create_ms else None,
            "create_p99_ms": percentile(create_ms, 99) if create_ms else None,
            "terminate_p50_ms": percentile(terminate_ms, 50) if terminate_ms else None,
            "before_stop": before_stop, "after_stop": after_stop, "errors": errors,
            "leaked": leaked}, indent=2))
    if not leaked and not args.keep_tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"cluster dir kept: {tmp}")
    if leaked:
        return 1
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
