"""CreateSession latency: warm hand-overs, cold launches, and Chromium's own launch time.

Starts its own control plane and one node (real processes on 127.0.0.1, via tests.cluster),
then measures, client side, the wall time of the CreateSession RPC:

  warm   default options, handed over from the warm pool. Each session is terminated after it
         is measured, and the next create waits until the pool is full again (and the node is
         quiet), so every measured create is a real hand-over.
  cold   options that force a launch (viewport 1000x700).
  launch Chromium alone in this process: node.chromium.Browser(LaunchConfig()), spawn until
         DevToolsActivePort appears (Browser.launch_ms). Interleaved with the cold creates so
         both see the same machine.

Targets: cold p50 - launch p50 <= 30 ms, warm p50 <= 10 ms, warm p99 <= 40 ms.

    .venv/bin/python bench/create_latency.py [--warm 60] [--cold 15] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import asyncio
import json
import pathlib
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.node_state import stop_and_check, wait_quiet  # noqa: E402
from bench.stats import fmt, percentile, summary  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from browserplane.v1 import session_pb2 as S  # noqa: E402
from node.chromium import (  # noqa: E402
    Browser,
    LaunchConfig,
    LaunchError,
    find_chromium,
)
from tests.cluster import Cluster, free_port  # noqa: E402

NODE = "n1"
COLD_VIEWPORT = (1000, 700)
TARGETS = {"overhead_p50_ms": 30.0, "warm_p50_ms": 10.0, "warm_p99_ms": 40.0}


# Server-side histograms (sum, count) that split a create into its parts.
SERVER_METRICS = {
    "cp_create": "browserplane_create_session_seconds",          # control plane, by pool
    "node_start": "browserplane_node_start_browser_seconds",     # node StartBrowser, by pool
    "node_launch": "browserplane_node_browser_launch_seconds",   # Chromium in the node, by pool
}


def scrape(port: int) -> dict[str, float]:
    """`name{pool="x"}_sum|_count` -> value for the histograms above (empty when unreachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if any(name.startswith(m + "_sum") or name.startswith(m + "_count")
               for m in SERVER_METRICS.values()):
            out[name] = float(value)
    return out


def server_means(before: dict[str, float], after: dict[str, float], pool: str) -> dict[str, float]:
    """Mean ms per call of each server-side histogram between two scrapes, for one pool label."""
    means = {}
    for key, metric in SERVER_METRICS.items():
        total = f'{metric}_sum{{pool="{pool}"}}'
        count = f'{metric}_count{{pool="{pool}"}}'
        n = after.get(count, 0.0) - before.get(count, 0.0)
        if n > 0:
            means[key] = (after.get(total, 0.0) - before.get(total, 0.0)) / n * 1000
    return means


def scrape_all(cluster: Cluster, node_port: int) -> dict[str, float]:
    return {**scrape(cluster.metrics_port), **scrape(node_port)}


def create(cluster: Cluster, md: tuple[tuple[str, str], ...],
           options: S.SessionOptions) -> tuple[float, S.Session]:
    request = cp.CreateSessionRequest(options=options)
    started = time.perf_counter()
    session = cluster.stub.CreateSession(request, metadata=md, timeout=60)
    return (time.perf_counter() - started) * 1000, session


def terminate(cluster: Cluster, md: tuple[tuple[str, str], ...], session_id: str) -> None:
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=session_id, reason="bench"),
                                  metadata=md, timeout=15)


async def launch_once(root: pathlib.Path, binary: str) -> float:
    browser = Browser(root, LaunchConfig(), binary)
    try:
        await browser.launch()
        return browser.launch_ms
    finally:
        await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warm", type=int, default=60, help="warm creates to measure")
    parser.add_argument("--cold", type=int, default=15,
                        help="cold creates, and as many direct Chromium launches")
    parser.add_argument("--pool", type=int, default=2, help="node warm pool size")
    parser.add_argument("--capacity", type=int, default=4, help="node capacity")
    parser.add_argument("--settle", type=float, default=1.5,
                        help="seconds to wait after the node is quiet, before each measured create")
    parser.add_argument("--warmup", type=int, default=1,
                        help="unmeasured warm creates first (connections, caches)")
    parser.add_argument("--max-seconds", type=float, default=900,
                        help="time budget; iterations past it are skipped")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary at the end")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if not (0 <= args.warm <= 10_000 and 0 <= args.cold <= 1_000 and 1 <= args.pool <= args.capacity):
        parser.error("counts out of range (warm <= 10000, cold <= 1000, 1 <= pool <= capacity)")

    deadline = time.monotonic() + args.max_seconds
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-latency-"))
    binary = find_chromium()
    cluster = Cluster(tmp)
    warm_ms: list[float] = []
    cold_ms: list[float] = []
    launch_ms: list[float] = []
    not_warm: list[str] = []
    cold_but_warm: list[str] = []
    waits: list[float] = []
    server: dict[str, dict[str, float]] = {}
    skipped = 0
    failed = False
    loop = asyncio.new_event_loop()
    try:
        t0 = time.monotonic()
        cluster.start_controlplane()
        node_port = free_port()
        cluster.start_node(NODE, capacity=args.capacity, pool=args.pool, metrics_port=node_port)
        md = (("authorization", f"Bearer {cluster.create_key('bench')}"),)
        print(f"cluster up in {time.monotonic() - t0:.1f}s: control plane {cluster.address}, "
              f"node {NODE} capacity={args.capacity} pool={args.pool}, chromium {binary}", flush=True)

        for _ in range(args.warmup):
            waits.append(wait_quiet(cluster, NODE, args.pool, 30, args.settle))
            ms, s = create(cluster, md, S.SessionOptions())
            terminate(cluster, md, s.id)
            print(f"warm-up create: {ms:.1f} ms (warm={s.warm}, not counted)", flush=True)

        before = scrape_all(cluster, node_port)
        for i in range(args.warm):
            if time.monotonic() > deadline:
                skipped += args.warm - i
                break
            waits.append(wait_quiet(cluster, NODE, args.pool, 30, args.settle))
            ms, s = create(cluster, md, S.SessionOptions())
            terminate(cluster, md, s.id)
            warm_ms.append(ms)
            if not s.warm:
                not_warm.append(s.id)
        print(fmt("warm create", summary(warm_ms)), flush=True)
        server["warm"] = server_means(before, scrape_all(cluster, node_port), "warm")
        if "node_launch" in server["warm"]:  # in the warm phase these are the pool's refills
            server["warm"]["pool_refill_launch"] = server["warm"].pop("node_launch")

        cold_options = S.SessionOptions(viewport=S.Viewport(width=COLD_VIEWPORT[0],
                                                             height=COLD_VIEWPORT[1]))
        direct_root = tmp / "direct"
        before = scrape_all(cluster, node_port)
        for i in range(args.cold):
            if time.monotonic() > deadline:
                skipped += 2 * (args.cold - i)
                break
            waits.append(wait_quiet(cluster, NODE, args.pool, 30, args.settle))
            ms, s = create(cluster, md, cold_options)
            terminate(cluster, md, s.id)
            cold_ms.append(ms)
            if s.warm:
                cold_but_warm.append(s.id)
            waits.append(wait_quiet(cluster, NODE, args.pool, 30, args.settle))
            launch_ms.append(loop.run_until_complete(launch_once(direct_root, binary)))
        print(fmt("cold create", summary(cold_ms)), flush=True)
        print(fmt("chromium launch", summary(launch_ms)), flush=True)
        server["cold"] = server_means(before, scrape_all(cluster, node_port), "cold")
    except (grpc.RpcError, AssertionError, LaunchError) as err:
        failed = True
        print(f"FAILED: {err}", file=sys.stderr)
        print(cluster.logs(), file=sys.stderr)
    finally:
        loop.close()
        failed = stop_and_check(cluster, tmp) or failed

    warm, cold, launch = summary(warm_ms), summary(cold_ms), summary(launch_ms)
    results: dict[str, object] = {
        "warm_create_ms": warm, "cold_create_ms": cold, "chromium_launch_ms": launch,
        "warm_not_warm": len(not_warm), "cold_but_warm": len(cold_but_warm), "skipped": skipped,
        "pool": args.pool, "capacity": args.capacity, "settle_s": args.settle,
        "quiet_wait_p50_s": percentile(waits, 50) if waits else 0.0,
    }
    checks: dict[str, tuple[float, float]] = {}
    if cold.get("n") and launch.get("n"):
        checks["overhead_p50_ms"] = (cold["p50"] - launch["p50"], TARGETS["overhead_p50_ms"])
    if warm.get("n"):
        checks["warm_p50_ms"] = (warm["p50"], TARGETS["warm_p50_ms"])
        checks["warm_p99_ms"] = (warm["p99"], TARGETS["warm_p99_ms"])

    print()
    print(fmt("warm create", warm))
    print(fmt("cold create", cold))
    print(fmt("chromium launch", launch))
    for pool, means in server.items():
        if means:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in means.items())
            print(f"server-side means, {pool}: {parts} ms")
    results["server_means_ms"] = server
    labels = {"overhead_p50_ms": "cold p50 - launch p50", "warm_p50_ms": "warm p50",
              "warm_p99_ms": "warm p99"}
    missed = False
    for key, (value, target) in checks.items():
        ok = value <= target
        missed = missed or not ok
        print(f"{labels[key]:<22} {value:8.1f} ms   target <= {target:.0f} ms   "
              f"{'ok' if ok else 'MISSED'}")
        results[key] = value
    results["targets_met"] = not missed
    print(f"warm creates not served warm: {len(not_warm)}"
          + (f" ({', '.join(not_warm[:5])})" if not_warm else ""))
    print(f"cold creates served warm:     {len(cold_but_warm)}")
    if skipped:
        print(f"skipped (time budget): {skipped}")
    if args.json:
        results["samples"] = {"warm": [round(x, 3) for x in warm_ms],
                              "cold": [round(x, 3) for x in cold_ms],
                              "launch": [round(x, 3) for x in launch_ms]}
        print(json.dumps(results, indent=2))
    if failed or not_warm or cold_but_warm:
        return 2
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
