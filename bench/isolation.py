"""What the browser box costs: the same measurements with the node's isolation on and off.

For each mode it starts its own control plane, one node (capacity 4, warm pool 1; `--isolation`
or `--no-isolation`) and a gateway (real processes on 127.0.0.1, via tests.cluster), serves
tests/pages/ on 127.0.0.1 (the one egress exception) and measures, client side:

  page load   Playwright connect_over_cdp(connectUrl from the gateway's Browserbase API), then
              page.goto(many.html, a 1,000-element page) and wait for `load`, repeated.
  cdp         `Runtime.evaluate("1+1")` on a page session over one aiohttp WebSocket, through
              the gateway's connectUrl and straight to the browser's own DevTools port, in
              alternating blocks; the ratio is gateway p50 / direct p50.
  cold create gRPC CreateSession with a non-default viewport (a cold launch, box included).
  memory      PSS of every process of a session's browser, idle on about:blank, 3 sessions.

Both modes run in the same invocation, one after the other, on the same machine.

    .venv/bin/python bench/isolation.py [--loads 30] [--cdp 1000] [--colds 5] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import asyncio
import functools
import http.server
import json
import pathlib
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.stats import fmt, summary  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from browserplane.v1 import session_pb2 as S  # noqa: E402
from node.chromium import processes_mentioning  # noqa: E402
from tests.cluster import Cluster, free_port, session_dir  # noqa: E402


def serve_pages() -> tuple[http.server.ThreadingHTTPServer, str]:
    pages = ROOT / "tests" / "pages"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(pages))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}"


def create_bb(gateway: str, key: str) -> dict:
    request = urllib.request.Request(f"{gateway}/v1/sessions", data=b'{"keepAlive": true}', method="POST",
                                     headers={"X-BB-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def release_bb(gateway: str, key: str, sid: str) -> None:
    request = urllib.request.Request(f"{gateway}/v1/sessions/{sid}", method="POST",
                                     data=b'{"status": "REQUEST_RELEASE"}',
                                     headers={"X-BB-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60):  # noqa: S310 - loopback
        pass


async def cdp_loop(url: str, n: int) -> list[float]:
    """Runtime.evaluate round trips (ms) on the first page, attached with flatten."""
    samples = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        counter = 0

        async def call(method: str, params: dict, session: str | None = None) -> dict:
            nonlocal counter
            counter += 1
            msg = {"id": counter, "method": method, "params": params}
            if session:
                msg["sessionId"] = session
            await ws.send_str(json.dumps(msg))
            while True:
                answer = json.loads((await ws.receive()).data)
                if answer.get("id") == counter:
                    return answer

        targets = (await call("Target.getTargets", {}))["result"]["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        attached = await call("Target.attachToTarget", {"targetId": page, "flatten": True})
        session = attached["result"]["sessionId"]
        for _ in range(50):
            await call("Runtime.evaluate", {"expression": "1+1"}, session)
        for _ in range(n):
            started = time.perf_counter()
            await call("Runtime.evaluate", {"expression": "1+1"}, session)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def pss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def measure(mode: str, site: str, args: argparse.Namespace) -> dict:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"bp-bench-{mode}-"))
    c = Cluster(tmp)
    out: dict = {"mode": mode}
    try:
        c.start_controlplane()
        flag = "--isolation" if mode == "boxed" else "--no-isolation"
        c.start_node("n1", capacity=4, pool=1, extra=(flag,))
        c.start_gateway()
        gateway = f"http://127.0.0.1:{c.gateway_port}"
        key = c.create_key("bench")
        md = (("authorization", f"Bearer {key}"),)
        time.sleep(2)

        session = create_bb(gateway, key)
        browser_dir = session_dir(c.browsers_root(), session["id"])
        assert browser_dir is not None
        port = int((browser_dir / "user-data" / "DevToolsActivePort").read_text().split()[0])
        version = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version").read())  # noqa: S310
        direct, through = [], []
        block = max(1, args.cdp // 10)
        for i in range(10):  # ABBA blocks so both paths see the same machine
            order = [(version["webSocketDebuggerUrl"], direct), (session["connectUrl"], through)]
            for url, bucket in (order if i % 2 == 0 else order[::-1]):
                bucket += asyncio.run(cdp_loop(url, block))
        out["cdp_direct"], out["cdp_gateway"] = summary(direct), summary(through)
        out["cdp_ratio"] = out["cdp_gateway"]["p50"] / out["cdp_direct"]["p50"]

        loads = []
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session["connectUrl"])
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/many.html")
            for i in range(args.loads):
                started = time.perf_counter()
                page.goto(f"{site}/many.html?{i}", wait_until="load")
                loads.append((time.perf_counter() - started) * 1000)
            browser.close()
        out["page_load"] = summary(loads)
        release_bb(gateway, key, session["id"])

        colds = []
        for i in range(args.colds):
            started = time.perf_counter()
            s = c.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
                keep_alive=True, viewport=S.Viewport(width=1000 + i, height=700))), metadata=md, timeout=60)
            colds.append((time.perf_counter() - started) * 1000)
            c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md, timeout=30)
            time.sleep(1)
        out["cold_create"] = summary(colds)

        idle = [c.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
            keep_alive=True, viewport=S.Viewport(width=1100, height=700))), metadata=md, timeout=60)
            for _ in range(3)]
        time.sleep(5)
        per_session = []
        for s in idle:
            d = session_dir(c.browsers_root(), s.id)
            per_session.append(pss_bytes(processes_mentioning(d)) / 2**20 if d else 0.0)
        out["idle_pss_mib"] = summary(per_session)
        for s in idle:
            c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md, timeout=30)
    finally:
        c.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--cdp", type=int, default=1000)
    parser.add_argument("--colds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    server, site = serve_pages()
    os.environ["BROWSERPLANE_EGRESS_ALLOW"] = site.rsplit("/", 1)[-1]
    try:
        results = [measure("boxed", site, args), measure("unboxed", site, args)]
    finally:
        server.shutdown()
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for r in results:
        print(f"--- {r['mode']}")
        print(fmt("page load", r["page_load"]))
        print(fmt("cdp direct", r["cdp_direct"], "us"))
        print(fmt("cdp gateway", r["cdp_gateway"], "us"))
        print(f"{'cdp ratio':<16} gateway/direct p50 = {r['cdp_ratio']:.2f}")
        print(fmt("cold create", r["cold_create"]))
        print(f"{'idle memory':<16} PSS per session: mean {r['idle_pss_mib']['mean']:.0f} MiB "
              f"(min {r['idle_pss_mib']['min']:.0f}, max {r['idle_pss_mib']['max']:.0f})")
    boxed, unboxed = results
    print("--- boxed / unboxed")
    for key in ("page_load", "cold_create"):
        print(f"{key:<16} p50 x{boxed[key]['p50'] / unboxed[key]['p50']:.2f}  "
              f"p90 x{boxed[key]['p90'] / unboxed[key]['p90']:.2f}")
    print(f"{'cdp ratio':<16} boxed {boxed['cdp_ratio']:.2f} vs unboxed {unboxed['cdp_ratio']:.2f}")
    print(f"{'idle memory':<16} x{boxed['idle_pss_mib']['mean'] / unboxed['idle_pss_mib']['mean']:.2f}")


if __name__ == "__main__":
    main()
