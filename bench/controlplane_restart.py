"""What a control-plane restart costs: how long until it serves again, and what survives it.

The control plane is a single replica (its state is one SQLite database), so a pod restart or a
reschedule is an outage of the control plane. This starts a control plane, one node and a
gateway (real processes on 127.0.0.1, via tests.cluster), opens `--sessions` sessions with a
Playwright client connected to each through the gateway's connectUrl, then, each round, stops
the control plane (SIGTERM, as the kubelet does, or SIGKILL with --kill) and starts it again on
the same data dir. It measures, from the moment the new process is spawned:

  serving    until ListNodes answers (the gRPC server is up, the store opened)
  node_back  until the node has registered again (heartbeat -> re-register)
  create     until a new CreateSession succeeds (the whole placement path is back)
  outage     stop + create: from the signal to the first new session

and, while the control plane is away, it keeps evaluating `1+1` on every connected page over
CDP through the gateway: CDP goes gateway -> node relay -> Chromium and does not pass through
the control plane, so those calls should keep working. It counts the ones that failed, and
checks after each round that every session is still RUNNING and its page still answers.

    .venv/bin/python bench/controlplane_restart.py [--rounds 5] [--sessions 3] [--kill]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import json
import pathlib
import signal
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.stats import fmt, summary  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from browserplane.v1 import session_pb2 as S  # noqa: E402
from tests.cluster import Cluster  # noqa: E402


def _until(predicate: object, timeout: float) -> float:
    """Seconds until `predicate()` is true, polled every 10 ms; raises after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():  # type: ignore[operator]
                return time.monotonic() - start
        except grpc.RpcError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"not back within {timeout} s")


def _create_via_gateway(port: int, key: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/sessions", data=json.dumps({"keepAlive": True}).encode(),
        headers={"X-BB-API-Key": key, "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
        return json.loads(r.read())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bp-cprestart-"))
    cluster = Cluster(tmp).start_controlplane()
    results: dict[str, list[float]] = {"stop": [], "serving": [], "node_back": [], "create": [],
                                       "outage": []}
    cdp_ok = cdp_failed = 0
    try:
        cluster.start_node("n1", capacity=args.sessions + 2, pool=1)
        cluster.start_gateway()
        key = cluster.create_key()
        md = (("authorization", f"Bearer {key}"),)
        with sync_playwright() as pw:
            sessions = [_create_via_gateway(cluster.gateway_port, key) for _ in range(args.sessions)]
            browsers = [pw.chromium.connect_over_cdp(s["connectUrl"], timeout=30_000) for s in sessions]
            pages = [b.contexts[0].pages[0] for b in browsers]
            for rnd in range(args.rounds):
                stopping = threading.Event()
                stopped = time.monotonic()
                cluster.controlplane.stop(signal.SIGKILL if args.kill else signal.SIGTERM)
                results["stop"].append((time.monotonic() - stopped) * 1000)
                # Playwright's sync API is single-threaded: evaluate from this thread while
                # the new control plane starts in the background.
                started = threading.Event()

                def restart(started: threading.Event = started,
                            stopping: threading.Event = stopping) -> None:
                    started.set()
                    cluster.start_controlplane()
                    stopping.set()

                t0 = time.monotonic()
                starter = threading.Thread(target=restart, daemon=True)
                starter.start()
                started.wait()
                while not stopping.is_set():
                    for page in pages:
                        try:
                            if page.evaluate("1+1") == 2:
                                cdp_ok += 1
                            else:
                                cdp_failed += 1
                        except Exception:  # noqa: BLE001 - counted, that is the measurement
                            cdp_failed += 1
                    time.sleep(0.02)
                starter.join()
                # start_controlplane returned once ListNodes answered; time it from spawn.
                results["serving"].append((time.monotonic() - t0) * 1000)
                _until(lambda: cluster.node_up("n1"), 30)
                results["node_back"].append((time.monotonic() - t0) * 1000)
                _until(lambda: cluster.stub.CreateSession(
                    cp.CreateSessionRequest(), metadata=md, timeout=30), 60)
                results["create"].append((time.monotonic() - t0) * 1000)
                results["outage"].append(results["stop"][-1] + results["create"][-1])
                for s in sessions:
                    state = cluster.stub.GetSession(cp.GetSessionRequest(id=s["id"]), metadata=md,
                                                    timeout=10).state
                    if state != S.RUNNING:
                        raise SystemExit(f"round {rnd}: session {s['id']} is {S.State.Name(state)}")
                if any(p.evaluate("1+1") != 2 for p in pages):
                    raise SystemExit(f"round {rnd}: a page stopped answering")
                # the session created to time the create is not needed
                for listed in cluster.stub.ListSessions(cp.ListSessionsRequest(), metadata=md).sessions:
                    if listed.state == S.RUNNING and listed.id not in {s["id"] for s in sessions}:
                        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=listed.id),
                                                      metadata=md, timeout=10)
            for b in browsers:
                b.close()
    finally:
        cluster.stop()

    stats = {name: summary(v) for name, v in results.items()}
    if args.json:
        print(json.dumps({"stats": stats, "cdp_ok": cdp_ok, "cdp_failed": cdp_failed,
                          "signal": "KILL" if args.kill else "TERM"}))
        return 0
    how = "SIGKILL" if args.kill else "SIGTERM"
    print(f"control plane restart ({how}), {args.rounds} rounds, {args.sessions} sessions kept open")
    print(fmt("stop", stats["stop"]))
    for name in ("serving", "node_back", "create", "outage"):
        print(fmt(name, stats[name]))
    print(f"CDP calls through the gateway while the control plane was away: {cdp_ok} answered, "
          f"{cdp_failed} failed; every session RUNNING and answering after every round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
