"""Gateway overhead: CDP round trips through the gateway, REST creates, whole session lifecycles.

Starts its own control plane, one node (capacity 4, warm pool 2) and a gateway (real processes
on 127.0.0.1, via tests.cluster), launches one Chromium of its own the way the node does
(node.chromium.Browser with the default LaunchConfig), and measures, client side:

  cdp bare     `Runtime.evaluate("1+1")` on a page session (Target.attachToTarget, flatten)
               over one aiohttp WebSocket, a tight sequential loop. Once to the gateway's
               connectUrl (gateway -> node relay -> Chromium), once straight to the benchmark's
               own Chromium (no relay). Blocks of calls alternate direct / gateway (ABBA order)
               so both see the same machine; the ratio is gateway p50 / direct p50.
  cdp pw       the same with Playwright's sync API: connect_over_cdp(url), page.evaluate("1+1").
  create       POST /v1/sessions (Browserbase dialect, body {}) through the gateway, then
               REQUEST_RELEASE. Before each measured create the node must be quiet with a full
               warm pool, plus --settle seconds, so every create is a warm hand-over.
  lifecycle    create -> Playwright connect_over_cdp(connectUrl) -> page.goto(a page this
               benchmark serves on 127.0.0.1) -> release, with the same wait before each. One
               Playwright driver is started for the whole run (not part of the lifecycle).

The phase-1 session is created with keepAlive (the bare client disconnects before Playwright
connects, and a session that is not kept alive ends with its last CDP client).

Targets: cdp p50 ratio gateway/direct <= 1.15 (both clients), create p50 <= 15 ms,
lifecycle p50 <= 150 ms.

    .venv/bin/python bench/gateway_cdp.py [--bare 2000] [--pw 500] [--creates 40] \
        [--lifecycles 20] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import asyncio
import contextlib
import functools
import http.client
import http.server
import json
import pathlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import grpc  # noqa: E402
from playwright.sync_api import Browser as PwBrowser  # noqa: E402
from playwright.sync_api import Error as PwError  # noqa: E402
from playwright.sync_api import Page, Playwright, sync_playwright  # noqa: E402

from bench import stats as bench_stats  # noqa: E402
from bench.node_state import stop_and_check, wait_quiet  # noqa: E402
from bench.stats import percentile, summary  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from node.chromium import (  # noqa: E402
    Browser,
    LaunchConfig,
    LaunchError,
    find_chromium,
)
from tests.cluster import Cluster  # noqa: E402

NODE = "n1"
TARGETS = {"bare_p50_ratio": 1.15, "pw_p50_ratio": 1.15, "create_p50_ms": 15.0,
           "lifecycle_p50_ms": 150.0}
PAGE = (b"<!doctype html><html><head><title>bench</title></head>"
        b"<body><p>hello from the benchmark</p></body></html>")
SIDES = ("direct", "gateway")
T = TypeVar("T")

# This benchmark's lines have longer names and counts than the shared default.
fmt = functools.partial(bench_stats.fmt, name_width=22, n_width=5)


# -- statistics and printing ------------------------------------------------------------

def ratios(direct: dict[str, float | int], gateway: dict[str, float | int]) -> dict[str, float]:
    if not direct.get("n") or not gateway.get("n"):
        return {}
    return {q: gateway[q] / direct[q] for q in ("p50", "p90", "p99", "max") if direct[q] > 0}


def fmt_ratios(name: str, r: dict[str, float], rounds: list[float]) -> str:
    if not r:
        return f"{name:<22} (no samples)"
    text = "  ".join(f"{q}={v:5.2f}x" for q, v in r.items())
    if rounds:
        text += (f"  | per-round p50 ratio: median={statistics.median(rounds):.2f}x "
                 f"min={min(rounds):.2f}x max={max(rounds):.2f}x ({len(rounds)} rounds)")
    return f"{name:<22} gateway/direct {text}"


# -- helpers: an event loop thread, a local page, the REST API ------------------------------

class LoopThread:
    """An asyncio loop in a thread of its own. Playwright's sync API claims the main thread's
    running loop between calls, so the async parts (our Chromium, the bare client) live here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="bench-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_page() -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    threading.Thread(target=server.serve_forever, name="bench-page", daemon=True).start()
    # The sandboxed browsers' egress rules refuse loopback but for this port.
    os.environ["BROWSERPLANE_EGRESS_ALLOW"] = f"127.0.0.1:{server.server_address[1]}"
    return server, f"http://127.0.0.1:{server.server_address[1]}/page.html"


class Rest:
    """The Browserbase v1 dialect over one keep-alive HTTP connection (as SDKs pool them)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
        self.reconnects = 0

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        headers = {"X-BB-API-Key": self.key, "Content-Type": "application/json"}
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # An idle keep-alive connection the server closed: no request reached it.
                self.conn.close()
                self.reconnects += 1
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def create(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, answer = self.post("/v1/sessions", body or {})
        if status != 201 or not isinstance(answer, dict) or not answer.get("connectUrl"):
            raise RuntimeError(f"create answered {status}: {answer}")
        return answer

    def release(self, session_id: str) -> dict[str, Any]:
        status, answer = self.post(f"/v1/sessions/{session_id}", {"status": "REQUEST_RELEASE"})
        if status != 200:
            raise RuntimeError(f"release of {session_id} answered {status}: {answer}")
        return answer

    def close(self) -> None:
        self.conn.close()


# -- 1a: bare WebSocket CDP client ----------------------------------------------------------

class Cdp:
    """A minimal CDP client on one WebSocket: one call in flight, events ignored."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, params: dict[str, Any] | None = None,
                   session_id: str = "") -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        await self.ws.send_str(json.dumps(message))
        while True:
            frame = await self.ws.receive()
            if frame.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"CDP socket: {frame.type.name} {frame.data!r}")
            answer = json.loads(frame.data)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    async def attach_page(self) -> str:
        targets = (await self.call("Target.getTargets"))["targetInfos"]
        pages = [t["targetId"] for t in targets if t["type"] == "page"]
        target = pages[0] if pages else (await self.call(
            "Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = await self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        return attached["sessionId"]


EVALUATE = {"expression": "1+1", "returnByValue": True}


async def evaluate_loop(cdp: Cdp, session_id: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await cdp.call("Runtime.evaluate", EVALUATE, session_id)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def bare_phase(urls: dict[str, str], n: int, warmup: int, block: int,
                     deadline: float) -> tuple[dict[str, list[float]], list[float]]:
    samples: dict[str, list[float]] = {side: [] for side in SIDES}
    rounds: list[float] = []
    async with aiohttp.ClientSession() as http_session:
        sockets = {side: await http_session.ws_connect(urls[side], max_msg_size=0)
                   for side in SIDES}
        try:
            clients = {side: Cdp(ws) for side, ws in sockets.items()}
            page_sessions = {side: await c.attach_page() for side, c in clients.items()}
            for side in SIDES:
                value = (await clients[side].call("Runtime.evaluate", EVALUATE,
                                                  page_sessions[side]))["result"].get("value")
                if value != 2:
                    raise RuntimeError(f"{side}: 1+1 evaluated to {value!r}")
                await evaluate_loop(clients[side], page_sessions[side], warmup)
            r = 0
            while min(len(s) for s in samples.values()) < n and time.monotonic() < deadline:
                order = SIDES if r % 2 == 0 else SIDES[::-1]
                medians = {}
                for side in order:
                    count = min(block, n - len(samples[side]))
                    block_samples = await evaluate_loop(clients[side], page_sessions[side], count)
                    samples[side] += block_samples
                    medians[side] = statistics.median(block_samples)
                if medians["direct"] > 0:
                    rounds.append(medians["gateway"] / medians["direct"])
                r += 1
        finally:
            for ws in sockets.values():
                await ws.close()
    return samples, rounds


# -- 1b: Playwright ------------------------------------------------------------------------

def first_page(browser: PwBrowser) -> Page:
    context = browser.contexts[0] if browser.contexts else browser.new_context()
    return context.pages[0] if context.pages else context.new_page()


def pw_evaluate_loop(page: Page, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        page.evaluate("1+1")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def playwright_phase(pw: Playwright, urls: dict[str, str], n: int, warmup: int, block: int,
                     deadline: float) -> tuple[dict[str, list[float]], list[float]]:
    samples: dict[str, list[float]] = {side: [] for side in SIDES}
    rounds: list[float] = []
    browsers: dict[str, PwBrowser] = {}
    try:
        for side in SIDES:
            browsers[side] = pw.chromium.connect_over_cdp(urls[side], timeout=30_000)
        pages = {side: first_page(b) for side, b in browsers.items()}
        for side in SIDES:
            value = pages[side].evaluate("1+1")
            if value != 2:
                raise RuntimeError(f"{side}: 1+1 evaluated to {value!r}")
            pw_evaluate_loop(pages[side], warmup)
        r = 0
        while min(len(s) for s in samples.values()) < n and time.monotonic() < deadline:
            order = SIDES if r % 2 == 0 else SIDES[::-1]
            medians = {}
            for side in order:
                count = min(block, n - len(samples[side]))
                block_samples = pw_evaluate_loop(pages[side], count)
                samples[side] += block_samples
                medians[side] = statistics.median(block_samples)
            if medians["direct"] > 0:
                rounds.append(medians["gateway"] / medians["direct"])
            r += 1
    finally:
        for b in browsers.values():  # connected, not launched: close() only disconnects
            with contextlib.suppress(PwError):
                b.close()
    return samples, rounds


# -- 2 and 3: REST creates and lifecycles ---------------------------------------------------

def session_warm(cluster: Cluster, md: tuple[tuple[str, str], ...], session_id: str) -> bool:
    return cluster.stub.GetSession(cp.GetSessionRequest(id=session_id), metadata=md, timeout=10).warm


def lifecycle_once(pw: Playwright, rest: Rest, page_url: str) -> tuple[str, dict[str, float]]:
    """create -> connect -> load -> release; the parts in ms. Disconnects afterwards (untimed)."""
    t0 = time.perf_counter()
    session = rest.create({})
    t1 = time.perf_counter()
    browser = pw.chromium.connect_over_cdp(session["connectUrl"], timeout=30_000)
    try:
        page = first_page(browser)
        t2 = time.perf_counter()
        response = page.goto(page_url, timeout=30_000)
        if response is None or response.status != 200:
            raise RuntimeError(f"page load answered {response.status if response else None}")
        t3 = time.perf_counter()
        rest.release(session["id"])
        t4 = time.perf_counter()
    finally:
        with contextlib.suppress(PwError):
            browser.close()
    parts = {"create": t1 - t0, "connect": t2 - t1, "load": t3 - t2, "release": t4 - t3,
             "total": t4 - t0}
    return session["id"], {k: v * 1000 for k, v in parts.items()}


# -- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bare", type=int, default=2000,
                        help="bare-WebSocket Runtime.evaluate calls per side (direct, gateway)")
    parser.add_argument("--bare-warmup", type=int, default=200, help="unmeasured calls per side")
    parser.add_argument("--bare-block", type=int, default=100,
                        help="calls per block; blocks alternate direct / gateway")
    parser.add_argument("--pw", type=int, default=500,
                        help="Playwright page.evaluate calls per side (direct, gateway)")
    parser.add_argument("--pw-warmup", type=int, default=100, help="unmeasured calls per side")
    parser.add_argument("--pw-block", type=int, default=50,
                        help="calls per block; blocks alternate direct / gateway")
    parser.add_argument("--creates", type=int, default=40, help="REST creates to measure")
    parser.add_argument("--lifecycles", type=int, default=20,
                        help="create -> connect -> load -> release cycles to measure")
    parser.add_argument("--warmup", type=int, default=1,
                        help="unmeasured creates and lifecycles first (connections, caches)")
    parser.add_argument("--pool", type=int, default=2, help="node warm pool size")
    parser.add_argument("--capacity", type=int, default=4, help="node capacity")
    parser.add_argument("--settle", type=float, default=1.5,
                        help="seconds to wait after the node is quiet, before each create/lifecycle")
    parser.add_argument("--max-seconds", type=float, default=900,
                        help="time budget; what is past it is skipped")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary at the end")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if not (0 <= args.bare <= 1_000_000 and 0 <= args.pw <= 100_000 and 0 <= args.creates <= 10_000
            and 0 <= args.lifecycles <= 10_000 and args.bare_block >= 1 and args.pw_block >= 1
            and min(args.bare_warmup, args.pw_warmup, args.warmup) >= 0
            and 1 <= args.pool <= args.capacity):
        parser.error("counts out of range")

    started = time.monotonic()
    deadline = started + args.max_seconds
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    binary = find_chromium()
    page_server, page_url = serve_page()  # first: the cluster's processes inherit its allowance
    cluster = Cluster(tmp)
    loop = LoopThread()
    direct: Browser | None = None
    pw_manager = None
    rest: Rest | None = None
    bare: dict[str, list[float]] = {side: [] for side in SIDES}
    pw_samples: dict[str, list[float]] = {side: [] for side in SIDES}
    bare_rounds: list[float] = []
    pw_rounds: list[float] = []
    create_ms: list[float] = []
    release_ms: list[float] = []
    parts: dict[str, list[float]] = {k: [] for k in ("create", "connect", "load", "release", "total")}
    not_warm: list[str] = []
    waits: list[float] = []
    skipped: dict[str, int] = {}
    failed = False
    try:
        cluster.start_controlplane()
        cluster.start_node(NODE, capacity=args.capacity, pool=args.pool)
        cluster.start_gateway()
        key = cluster.create_key("bench")
        md = (("authorization", f"Bearer {key}"),)
        rest = Rest(cluster.gateway_port, key)
        print(f"cluster up in {time.monotonic() - started:.1f}s: control plane {cluster.address}, "
              f"node {NODE} capacity={args.capacity} pool={args.pool}, gateway "
              f"127.0.0.1:{cluster.gateway_port}, chromium {binary}", flush=True)

        # 1. CDP round trips, gateway vs. direct.
        direct = Browser(tmp / "direct", LaunchConfig(), binary)
        loop.run(direct.launch(), timeout=60)
        wait_quiet(cluster, NODE, args.pool, 60, args.settle)
        session = rest.create({"keepAlive": True})
        urls = {"direct": f"ws://127.0.0.1:{direct.port}{direct.browser_path}",
                "gateway": session["connectUrl"]}
        print(f"direct chromium launched in {direct.launch_ms:.0f} ms; gateway session "
              f"{session['id']}", flush=True)
        try:
            if args.bare:
                bare, bare_rounds = loop.run(bare_phase(urls, args.bare, args.bare_warmup,
                                                        args.bare_block, deadline))
                for side in SIDES:
                    print(fmt(f"cdp bare {side}", summary(bare[side]), "us"), flush=True)
            pw_manager = sync_playwright()
            pw = pw_manager.start()
            if args.pw:
                pw_samples, pw_rounds = playwright_phase(pw, urls, args.pw, args.pw_warmup,
                                                         args.pw_block, deadline)
                for side in SIDES:
                    print(fmt(f"cdp playwright {side}", summary(pw_samples[side]), "us"), flush=True)
        finally:
            rest.release(session["id"])
            loop.run(direct.close(), timeout=30)
            direct = None
        for name, got, want in (("bare", bare, args.bare), ("pw", pw_samples, args.pw)):
            missing = max(want - len(s) for s in got.values())
            if missing > 0:
                skipped[f"cdp_{name}"] = missing

        # 2. REST create via the gateway (warm hand-overs).
        for i in range(args.warmup + args.creates):
            if time.monotonic() > deadline:
                skipped["creates"] = args.creates - len(create_ms)
                break
            waits.append(wait_quiet(cluster, NODE, args.pool, 30, args.settle))
            t0 = time.perf_counter()
            created = rest.create({})
            t1 = time.perf_counter()
            rest.release(created["id"])
            t2 = time.perf_counter()
            if i < args.warmup:
                print(f"warm-up create: {(t1 - t0) * 1000:.1f} ms (not counted)", flush=True)
                continue
            create_ms.append((t1 - t0) * 1000)
            release_ms.append((t2 - t1) * 1000)
            if not session_warm(cluster, md, created["id"]):
                not_warm.append(created["id"])
        print(fmt("rest create", summary(create_ms)), flush=True)

        # 3. Whole lifecycles.
        for i in range(args.warmup + args.lifecycles):
            if time.monotonic() > deadline:
                skipped["lifecycles"] = args.lifecycles - len(parts["total"])
                break
            waits.append(wait_quiet(cluster, NODE, args.pool, 30, args.settle))
            session_id, measured = lifecycle_once(pw, rest, page_url)
            if i < args.warmup:
                print(f"warm-up lifecycle: {measured['total']:.1f} ms (not counted)", flush=True)
                continue
            for k, v in measured.items():
                parts[k].append(v)
            if not session_warm(cluster, md, session_id):
                not_warm.append(session_id)
        print(fmt("lifecycle total", summary(parts["total"])), flush=True)
    except (grpc.RpcError, AssertionError, LaunchError, RuntimeError, OSError, PwError,
            aiohttp.ClientError, TimeoutError) as err:
        failed = True
        print(f"FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        print(cluster.logs(), file=sys.stderr)
    finally:
        if pw_manager is not None:
            with contextlib.suppress(Exception):
                pw_manager.__exit__(None, None, None)
        if direct is not None:
            with contextlib.suppress(Exception):
                loop.run(direct.close(), timeout=30)
        if rest is not None:
            rest.close()
        loop.stop()
        page_server.shutdown()
        page_server.server_close()
        failed = stop_and_check(cluster, tmp) or failed

    stats = {
        "cdp_bare": {side: summary(bare[side]) for side in SIDES},
        "cdp_playwright": {side: summary(pw_samples[side]) for side in SIDES},
    }
    bare_ratio = ratios(stats["cdp_bare"]["direct"], stats["cdp_bare"]["gateway"])
    pw_ratio = ratios(stats["cdp_playwright"]["direct"], stats["cdp_playwright"]["gateway"])
    create, release = summary(create_ms), summary(release_ms)
    lifecycle = {k: summary(v) for k, v in parts.items()}

    print()
    for side in SIDES:
        print(fmt(f"cdp bare {side}", stats["cdp_bare"][side], "us"))
    print(fmt_ratios("cdp bare", bare_ratio, bare_rounds))
    for side in SIDES:
        print(fmt(f"cdp playwright {side}", stats["cdp_playwright"][side], "us"))
    print(fmt_ratios("cdp playwright", pw_ratio, pw_rounds))
    print(fmt("rest create", create))
    print(fmt("rest release", release))
    for k in ("create", "connect", "load", "release", "total"):
        print(fmt(f"lifecycle {k}", lifecycle[k]))

    checks: dict[str, tuple[float, float]] = {}
    if bare_ratio:
        checks["bare_p50_ratio"] = (bare_ratio["p50"], TARGETS["bare_p50_ratio"])
    if pw_ratio:
        checks["pw_p50_ratio"] = (pw_ratio["p50"], TARGETS["pw_p50_ratio"])
    if create.get("n"):
        checks["create_p50_ms"] = (create["p50"], TARGETS["create_p50_ms"])
    if lifecycle["total"].get("n"):
        checks["lifecycle_p50_ms"] = (lifecycle["total"]["p50"], TARGETS["lifecycle_p50_ms"])
    labels = {"bare_p50_ratio": ("cdp bare p50 ratio", "x"),
              "pw_p50_ratio": ("cdp playwright p50 ratio", "x"),
              "create_p50_ms": ("rest create p50", " ms"),
              "lifecycle_p50_ms": ("lifecycle p50", " ms")}
    missed = False
    results: dict[str, object] = {}
    for key, (value, target) in checks.items():
        ok = value <= target
        missed = missed or not ok
        label, unit = labels[key]
        print(f"{label:<26} {value:8.2f}{unit:<3}  target <= {target:g}{unit.strip()}   "
              f"{'ok' if ok else 'MISSED'}")
        results[key] = value
    bare_delta = (stats["cdp_bare"]["gateway"].get("p50", 0.0)
                  - stats["cdp_bare"]["direct"].get("p50", 0.0)) if bare_ratio else None
    if bare_delta is not None:
        print(f"gateway adds (bare p50 difference): {bare_delta * 1000:.0f} us per round trip")
    print(f"creates/lifecycles not served warm: {len(not_warm)}"
          + (f" ({', '.join(not_warm[:5])})" if not_warm else ""))
    if rest is not None and rest.reconnects:
        print(f"REST keep-alive reconnects: {rest.reconnects}")
    if skipped:
        print(f"skipped (time budget): {skipped}")
    print(f"wall time {time.monotonic() - started:.0f}s")

    if args.json:
        results.update({
            "cdp_bare_ms": stats["cdp_bare"], "cdp_playwright_ms": stats["cdp_playwright"],
            "cdp_bare_ratio": bare_ratio, "cdp_playwright_ratio": pw_ratio,
            "cdp_bare_round_ratios": [round(x, 3) for x in bare_rounds],
            "cdp_playwright_round_ratios": [round(x, 3) for x in pw_rounds],
            "rest_create_ms": create, "rest_release_ms": release, "lifecycle_ms": lifecycle,
            "not_warm": len(not_warm), "skipped": skipped, "targets_met": not missed,
            "pool": args.pool, "capacity": args.capacity, "settle_s": args.settle,
            "quiet_wait_p50_s": percentile(waits, 50) if waits else 0.0,
            "samples": {"create": [round(x, 3) for x in create_ms],
                        "lifecycle": [round(x, 3) for x in parts["total"]]},
        })
        print(json.dumps(results, indent=2))
    if failed or not_warm:
        return 2
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
