"""The Notte dialect's cost: observe on a 1,000-element page, execute by id vs Playwright,
and a one-shot /scrape vs a cold Playwright launch, in one run.

Starts its own control plane, one node (capacity 2, warm pool 1) and a gateway (real processes on
127.0.0.1, via tests.cluster), serves tests/pages/ on 127.0.0.1 and talks to the gateway over
plain HTTP exactly as notte-sdk 1.10.0 does (one keep-alive httpx connection; the SDK's pydantic
parsing is not part of the figures). Three parts:

  1. observe     POST /sessions/{id}/page/observe on many.html (1,000 interactive elements),
                 with Notte's default max_nb_actions (100) and with 1,000, and gRPC
                 Automation.Observe without and with a screenshot for the breakdown (Notte's
                 observe always carries one). Each answer is checked: 1,000 actions listed, ids by role.
  2. execute     POST /page/execute {"type": "click", "id": "B1"} on form.html's counter button,
                 vs Playwright (sync API) connected straight to the session's Chromium (its
                 DevToolsActivePort on 127.0.0.1, no relay, no gateway) doing page.click, in
                 blocks that rotate their order every round. Every click is counted and the
                 button must read "Clicked N times" at the end.
  3. scrape      POST /scrape {"url": form.html} (a session from the warm pool: goto, scrape
                 markdown, stop) vs a cold Playwright chromium.launch + new_page + goto + content
                 + close of the same Debian Chromium, alternating. Before each /scrape the pool
                 is given time to refill (untimed), as it would between a user's scrapes.

Ratios: execute p50 / Playwright click p50, /scrape p50 / cold Playwright p50.

    .venv/bin/python bench/notte.py [--n 60] [--observe 20] [--scrapes 15] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import contextlib
import functools
import json
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import httpx  # noqa: E402
from playwright.sync_api import Error as PwError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench import stats as bench_stats  # noqa: E402
from bench.automation import (  # noqa: E402
    BenchError,
    check,
    find_page,
    fmt_ratio,
    ratio,
    serve_pages,
    timed,
    wait_pool_ready,
)
from bench.node_state import stop_and_check  # noqa: E402
from bench.stats import summary  # noqa: E402
from browserplane.v1 import automation_pb2 as A  # noqa: E402
from browserplane.v1 import automation_pb2_grpc  # noqa: E402
from node.chromium import find_chromium  # noqa: E402
from tests.cluster import Cluster, session_dir  # noqa: E402

NODE = "n1"
OBSERVE_VARIANTS = ("notte observe 100", "notte observe 1000", "grpc observe", "grpc observe+shot")
EXECUTE_VARIANTS = ("notte execute", "playwright")
SCRAPE_VARIANTS = ("notte /scrape", "cold playwright")

fmt = functools.partial(bench_stats.fmt, name_width=22, n_width=4)


class Notte:
    """The Notte dialect over one keep-alive httpx connection, as the SDK calls it."""

    def __init__(self, port: int, key: str) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                   headers={"Authorization": f"Bearer {key}"}, timeout=120)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.client.post(path, json=body)
        if r.status_code != 200:
            raise BenchError(f"POST {path} answered {r.status_code}: {r.text[:500]}")
        answer = r.json()
        check("detail" not in answer, f"POST {path}: {answer.get('detail')}")
        return answer

    def close(self) -> None:
        self.client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60, help="measured clicks per execute variant")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--observe", type=int, default=20, help="observes per variant")
    parser.add_argument("--scrapes", type=int, default=15, help="scrapes per variant")
    parser.add_argument("--max-seconds", type=float, default=240,
                        help="time budget for the measuring; what is past it is skipped")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (1 <= args.n <= 2000 and 0 <= args.warmup <= 100 and args.block >= 1
            and 0 <= args.observe <= 500 and 0 <= args.scrapes <= 200):
        parser.error("counts out of range")

    started = time.monotonic()
    pages_server, site = serve_pages()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-notte-"))
    cluster = Cluster(tmp)
    notte: Notte | None = None
    channel: grpc.Channel | None = None
    pw_manager = None
    sid = ""
    observe: dict[str, list[float]] = {v: [] for v in OBSERVE_VARIANTS}
    execute: dict[str, list[float]] = {v: [] for v in EXECUTE_VARIANTS}
    scrape: dict[str, list[float]] = {v: [] for v in SCRAPE_VARIANTS}
    rounds_exec: list[float] = []
    sizes: dict[str, int] = {}
    clicks = 0
    final_text = ""
    skipped: dict[str, int] = {}
    failed = False
    try:
        cluster.start_controlplane()
        cluster.start_node(NODE, capacity=2, pool=1)
        cluster.start_gateway("--rate-limit", "1000000")
        key = cluster.create_key("bench")
        md = (("authorization", f"Bearer {key}"),)
        channel = grpc.insecure_channel(cluster.address)
        auto = automation_pb2_grpc.AutomationStub(channel)
        notte = Notte(cluster.gateway_port, key)
        print(f"cluster up in {time.monotonic() - started:.1f}s; chromium {find_chromium()}", flush=True)
        deadline = time.monotonic() + args.max_seconds

        start = notte.post("/sessions/start", {"idle_timeout_minutes": 15, "max_duration_minutes": 30})
        sid = start["session_id"]
        check(start["status"] == "active", f"start answered status {start['status']}")
        notte.post(f"/sessions/{sid}/page/execute", {"type": "goto", "url": f"{site}/many.html"})

        # -- 1. observe on many.html -----------------------------------------------------------
        def run_observe(variant: str) -> float:
            if variant.startswith("grpc observe"):
                request = A.ObserveRequest(session_id=sid, include_screenshot=variant.endswith("shot"))
                ms, obs = timed(lambda: auto.Observe(request, metadata=md, timeout=60))
                check(len(obs.elements) == 1000, f"grpc observe: {len(obs.elements)} elements")
                return ms
            most = int(variant.rsplit(" ", 1)[1])
            r_ms, raw = timed(lambda: notte.client.post(f"/sessions/{sid}/page/observe",
                                                        json={"max_nb_actions": most}))
            check(raw.status_code == 200, f"observe answered {raw.status_code}: {raw.text[:300]}")
            actions = raw.json()["space"]["interaction_actions"]
            check(len(actions) == most, f"{variant}: {len(actions)} actions")
            check(all(a["id"][0] in "LBIOF" for a in actions), f"{variant}: ids {actions[:3]}")
            sizes[variant] = len(raw.content)
            return r_ms

        for variant in OBSERVE_VARIANTS:
            run_observe(variant)  # unmeasured
        r = 0
        while min(len(s) for s in observe.values()) < args.observe and time.monotonic() < deadline:
            shift = r % len(OBSERVE_VARIANTS)
            for variant in OBSERVE_VARIANTS[shift:] + OBSERVE_VARIANTS[:shift]:
                if len(observe[variant]) < args.observe:
                    count = min(5, args.observe - len(observe[variant]))
                    observe[variant] += [run_observe(variant) for _ in range(count)]
            r += 1
        for variant in OBSERVE_VARIANTS:
            print(fmt(variant, summary(observe[variant])), flush=True)
            skipped_n = args.observe - len(observe[variant])
            if skipped_n:
                skipped[variant] = skipped_n

        # -- 2. execute by id vs Playwright on form.html ---------------------------------------
        notte.post(f"/sessions/{sid}/page/execute", {"type": "goto", "url": f"{site}/form.html"})
        listed = notte.post(f"/sessions/{sid}/page/observe", {"max_nb_actions": 1000})
        ids = {a["id"]: a for a in listed["space"]["interaction_actions"]}
        counter = [i for i, a in ids.items() if i.startswith("B") and "Clicked 0 times" in json.dumps(a)]
        check(len(counter) == 1, f"form.html's counter among the actions: {counter}")
        counter_id = counter[0]
        found = session_dir(cluster.browsers_root(NODE), sid)
        check(found is not None, f"no browser dir holds session {sid}")
        port, path = (found / "user-data" / "DevToolsActivePort").read_text().split("\n")[:2]
        pw_manager = sync_playwright()
        pw = pw_manager.start()
        browser = pw.chromium.connect_over_cdp(f"ws://127.0.0.1:{int(port)}{path.strip()}", timeout=30_000)
        page = find_page(browser, "/form.html")
        wait_pool_ready(cluster, 1, 1.0)
        click = {"type": "click", "id": counter_id}

        def run_execute(variant: str) -> float:
            nonlocal clicks
            if variant == "playwright":
                ms, _ = timed(lambda: page.click("#counter"))
            else:
                ms, answer = timed(lambda: notte.post(f"/sessions/{sid}/page/execute", click))
                check(answer["success"] is True and answer["action"]["id"] == counter_id,
                      f"execute: {json.dumps(answer)[:300]}")
            clicks += 1
            return ms

        for _ in range(args.warmup):
            for variant in EXECUTE_VARIANTS:
                run_execute(variant)
        r = 0
        while min(len(s) for s in execute.values()) < args.n and time.monotonic() < deadline:
            order = EXECUTE_VARIANTS if r % 2 == 0 else EXECUTE_VARIANTS[::-1]
            medians = {}
            for variant in order:
                block = [run_execute(variant) for _ in range(min(args.block, args.n - len(execute[variant])))]
                execute[variant] += block
                medians[variant] = statistics.median(block) if block else 0.0
            if medians["playwright"]:
                rounds_exec.append(medians["notte execute"] / medians["playwright"])
            r += 1
        final_text = page.text_content("#counter") or ""
        check(final_text == f"Clicked {clicks} times",
              f"after {clicks} clicks the button reads {final_text!r}")
        for variant in EXECUTE_VARIANTS:
            print(fmt(variant, summary(execute[variant])), flush=True)
            if len(execute[variant]) < args.n:
                skipped[variant] = args.n - len(execute[variant])
        with contextlib.suppress(Exception):
            pw_manager.__exit__(None, None, None)
        pw_manager = None
        r_stop = notte.client.delete(f"/sessions/{sid}/stop")
        check(r_stop.status_code == 200 and r_stop.json()["status"] == "closed",
              f"stop answered {r_stop.status_code}: {r_stop.text[:300]}")
        sid = ""

        # -- 3. one-shot /scrape vs cold Playwright ----------------------------------------------
        chromium = str(find_chromium())
        pw_manager = sync_playwright()
        pw = pw_manager.start()
        target = f"{site}/form.html"

        def run_scrape(variant: str) -> float:
            if variant == "cold playwright":
                def cold() -> str:
                    b = pw.chromium.launch(executable_path=chromium, headless=True)
                    try:
                        p = b.new_page()
                        p.goto(target)
                        return p.content()
                    finally:
                        b.close()
                ms, html = timed(cold)
                check("Clicked 0 times" in html, "cold Playwright read another page")
                return ms
            wait_pool_ready(cluster, 1, 0.5)
            ms, answer = timed(lambda: notte.post("/scrape", {"url": target}))
            check("Clicked 0 times" in answer["markdown"], f"/scrape: {answer['markdown'][:200]!r}")
            return ms

        for variant in SCRAPE_VARIANTS:
            run_scrape(variant)  # unmeasured: the first launch reads Chromium from disk
        r = 0
        while min(len(s) for s in scrape.values()) < args.scrapes and time.monotonic() < deadline:
            for variant in (SCRAPE_VARIANTS if r % 2 == 0 else SCRAPE_VARIANTS[::-1]):
                scrape[variant].append(run_scrape(variant))
            r += 1
        for variant in SCRAPE_VARIANTS:
            print(fmt(variant, summary(scrape[variant])), flush=True)
            if len(scrape[variant]) < args.scrapes:
                skipped[variant] = args.scrapes - len(scrape[variant])
    except (grpc.RpcError, BenchError, PwError, httpx.HTTPError, OSError, TimeoutError,
            KeyError, ValueError) as err:
        failed = True
        print(f"FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        print(cluster.logs(), file=sys.stderr)
    finally:
        if pw_manager is not None:
            with contextlib.suppress(Exception):
                pw_manager.__exit__(None, None, None)
        if notte is not None:
            if sid:
                with contextlib.suppress(httpx.HTTPError):
                    notte.client.delete(f"/sessions/{sid}/stop")
            notte.close()
        if channel is not None:
            channel.close()
        pages_server.shutdown()
        pages_server.server_close()
        failed = stop_and_check(cluster, tmp) or failed

    obs_stats = {v: summary(s) for v, s in observe.items()}
    exec_stats = {v: summary(s) for v, s in execute.items()}
    scrape_stats = {v: summary(s) for v, s in scrape.items()}
    exec_ratio = ratio(exec_stats["notte execute"], exec_stats["playwright"])
    scrape_ratio = ratio(scrape_stats["notte /scrape"], scrape_stats["cold playwright"])
    print()
    print("observe on many.html (1,000 interactive elements):")
    for variant in OBSERVE_VARIANTS:
        size = f"   answer {sizes[variant]} bytes" if variant in sizes else ""
        print(fmt(variant, obs_stats[variant]) + size)
    print("execute a click by id on form.html vs Playwright direct:")
    for variant in EXECUTE_VARIANTS:
        print(fmt(variant, exec_stats[variant]))
    print(fmt_ratio("notte execute / playwright", exec_ratio, rounds_exec))
    print(f"clicks made {clicks}, the button reads {final_text!r}: "
          f"{'ok' if final_text == f'Clicked {clicks} times' else 'WRONG'}")
    print("one-shot scrape of form.html vs a cold Playwright launch-goto-content:")
    for variant in SCRAPE_VARIANTS:
        print(fmt(variant, scrape_stats[variant]))
    print(fmt_ratio("/scrape / cold playwright", scrape_ratio, []))
    if skipped:
        print(f"skipped (time budget): {skipped}")
    print(f"wall time {time.monotonic() - started:.0f}s")
    if args.json:
        print(json.dumps({"observe_ms": obs_stats, "observe_bytes": sizes, "execute_ms": exec_stats,
                          "execute_over_playwright": exec_ratio,
                          "round_ratios": [round(x, 3) for x in rounds_exec],
                          "scrape_ms": scrape_stats, "scrape_over_cold_playwright": scrape_ratio,
                          "clicks": clicks, "skipped": skipped}, indent=2))
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
