"""Automation cost: a click by ref through the gateway vs Playwright, and Observe on a big page.

Starts its own control plane, one node (capacity 2, warm pool 1) and a gateway (real processes
on 127.0.0.1, via tests.cluster), serves tests/pages/ on 127.0.0.1, creates one Browserbeam
session on form.html through the gateway and measures, client side, in ONE run:

  1. Clicking the counter button of form.html (`<button id="counter">`), four ways, in blocks
     that rotate their order every round so all see the same machine:
       gateway click   POST /v1/sessions/{id}/act {"steps":[{"click":{"ref": REF}}]} with the
                       button's ref from an observation, over one keep-alive httpx connection.
                       Timed up to the parsed JSON: the envelope with its auto-observation is
                       what a Browserbeam user pays for each step.
       playwright      Playwright (sync API) connect_over_cdp straight to the session's Chromium
                       (its DevToolsActivePort on 127.0.0.1, no relay, no gateway), then
                       page.click("#counter"). `--pw-via relay` uses the session's cdp_url (the
                       node's relay) instead.
       act click       gRPC Automation.Act click by ref through the control plane (no observe).
       observe         gRPC Automation.Observe alone (no click): the auto-observation's part.
     plus, for the breakdown, GetSession through the control plane (the gateway calls it before
     each step). Every click is counted; at the end the button must read "Clicked N times" for
     exactly the N clicks made (warm-ups included), and every gateway envelope and every observe
     must show the count the clicks so far imply.
  2. Observe on many.html (1,000 interactive elements): gRPC Automation.Observe and the
     Browserbeam `observe` step through the gateway, alternating, with the size of the answer
     (elements, protobuf bytes, JSON bytes). Then a few gateway clicks by ref on that page, whose
     auto-observation reads all 1,000 elements again (checked against the page's own counter).

Ratios: gateway click p50 / Playwright p50, and Act-only p50 / Playwright p50.

    .venv/bin/python bench/automation.py [--n 100] [--observe 30] [--big-clicks 20] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import contextlib
import functools
import http.server
import json
import pathlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import httpx  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from playwright.sync_api import Error as PwError  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from bench import stats as bench_stats  # noqa: E402
from bench.node_state import browser_dirs, stop_and_check  # noqa: E402
from bench.stats import summary  # noqa: E402
from browserplane.v1 import automation_pb2 as A  # noqa: E402
from browserplane.v1 import automation_pb2_grpc  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from browserplane.v1 import session_pb2 as S  # noqa: E402
from node.chromium import find_chromium  # noqa: E402
from tests.cluster import Cluster, session_dir  # noqa: E402

NODE = "n1"
PAGES = ROOT / "tests" / "pages"
CLICK_VARIANTS = ("gateway click", "playwright", "act click", "observe", "getsession")
BIG_VARIANTS = ("grpc observe", "gateway observe")

fmt = functools.partial(bench_stats.fmt, name_width=26, n_width=4)


class BenchError(Exception):
    """A check failed: the benchmark measured something other than what it meant to."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


# -- helpers ---------------------------------------------------------------------------------

def serve_pages(directory: pathlib.Path = PAGES) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A folder (tests/pages/, as the tests' `site` fixture serves it) on 127.0.0.1, which the
    sandboxed browsers of the nodes started after this may reach (their egress rules refuse
    loopback otherwise)."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="bench-pages", daemon=True).start()
    os.environ["BROWSERPLANE_EGRESS_ALLOW"] = f"127.0.0.1:{server.server_address[1]}"
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def ratio(num: dict[str, float | int], den: dict[str, float | int]) -> dict[str, float]:
    if not num.get("n") or not den.get("n"):
        return {}
    return {q: num[q] / den[q] for q in ("p50", "p90", "p99") if den[q] > 0}


def fmt_ratio(name: str, r: dict[str, float], rounds: list[float]) -> str:
    if not r:
        return f"{name:<34} (no samples)"
    text = "  ".join(f"{q}={v:6.2f}x" for q, v in r.items())
    if rounds:
        text += (f"  | per-round p50 ratio: median={statistics.median(rounds):.2f}x "
                 f"min={min(rounds):.2f}x max={max(rounds):.2f}x ({len(rounds)} rounds)")
    return f"{name:<34} {text}"


def labels(elements: list[dict[str, Any]]) -> dict[str, str]:
    return {e["label"]: e["ref"] for e in elements}


def counter_label(elements: Any, ref: str) -> str:
    """The label of the element with `ref` in an envelope's (dicts) or Observation's elements."""
    for e in elements:
        if (e["ref"] if isinstance(e, dict) else e.ref) == ref:
            return e["label"] if isinstance(e, dict) else e.label
    return "<missing>"


def wait_pool_ready(cluster: Cluster, pool: int, settle: float) -> None:
    """After a hand-over the pool refills: wait for it (and nothing launching), then settle."""
    root = cluster.browsers_root(NODE)

    def ready() -> bool:
        _, pooled, other = browser_dirs(root)
        return not other and len(pooled) >= pool and cluster.node(NODE).warm_browsers >= pool

    if pool:
        Cluster.wait(ready, 30, "the warm pool did not refill", interval=0.05)
    time.sleep(settle)


class Beam:
    """The Browserbeam dialect over one keep-alive httpx connection."""

    def __init__(self, port: int, key: str) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                   headers={"Authorization": f"Bearer {key}"}, timeout=120)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.client.post("/v1/sessions", json=body)
        answer = r.json()
        check(r.status_code == 201 and answer.get("error") is None,
              f"create answered {r.status_code}: {r.text[:500]} {answer.get('error')}")
        return answer

    def act(self, session_id: str, steps: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        """The envelope, and the size of the answer's body in bytes."""
        r = self.client.post(f"/v1/sessions/{session_id}/act", json={"steps": steps})
        if r.status_code != 200:
            raise BenchError(f"act answered {r.status_code}: {r.text[:500]}")
        return r.json(), len(r.content)

    def destroy(self, session_id: str) -> int:
        return self.client.delete(f"/v1/sessions/{session_id}").status_code

    def close(self) -> None:
        self.client.close()


def find_page(browser: Any, suffix: str) -> Page:
    for context in browser.contexts:
        for page in context.pages:
            if page.url.endswith(suffix):
                return page
    raise BenchError(f"Playwright sees no page at *{suffix}: "
                     f"{[p.url for c in browser.contexts for p in c.pages]}")


# -- main ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="measured calls per click variant")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured calls per variant first")
    parser.add_argument("--block", type=int, default=10,
                        help="calls per block; the blocks of the variants rotate their order")
    parser.add_argument("--observe", type=int, default=30,
                        help="Observes on many.html per side (gRPC, gateway)")
    parser.add_argument("--observe-block", type=int, default=5, help="observes per block")
    parser.add_argument("--big-clicks", type=int, default=20,
                        help="gateway clicks by ref on many.html (each auto-observes 1,000 elements)")
    parser.add_argument("--pw-via", choices=("chromium", "relay"), default="chromium",
                        help="Playwright connects to the session's Chromium port (default) or "
                             "through the node's relay (the session's cdp_url)")
    parser.add_argument("--settle", type=float, default=1.5,
                        help="seconds to wait after the pool has refilled, before measuring")
    parser.add_argument("--max-seconds", type=float, default=170,
                        help="time budget for the measuring; what is past it is skipped")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary at the end")
    args = parser.parse_args(argv)
    if not (1 <= args.n <= 10_000 and 0 <= args.warmup <= 1000 and args.block >= 1
            and 0 <= args.observe <= 1000 and args.observe_block >= 1
            and 0 <= args.big_clicks <= 1000):
        parser.error("counts out of range")

    started = time.monotonic()
    pages_server, site = serve_pages()  # first: the cluster's processes inherit its egress allowance
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-automation-"))
    cluster = Cluster(tmp)
    beam: Beam | None = None
    channel: grpc.Channel | None = None
    pw_manager = None
    session_id = ""
    samples: dict[str, list[float]] = {v: [] for v in CLICK_VARIANTS}
    big: dict[str, list[float]] = {v: [] for v in BIG_VARIANTS}
    big_clicks: list[float] = []
    rounds_gw: list[float] = []
    rounds_act: list[float] = []
    sizes: dict[str, Any] = {}
    clicks = 0
    final_text = ""
    pw_url = ""
    skipped: dict[str, int] = {}
    failed = False
    try:
        cluster.start_controlplane()
        cluster.start_node(NODE, capacity=2, pool=1)
        # The default 600 requests a minute per key would cut the run short.
        cluster.start_gateway("--rate-limit", "1000000")
        key = cluster.create_key("bench")
        md = (("authorization", f"Bearer {key}"),)
        channel = grpc.insecure_channel(cluster.address)
        auto = automation_pb2_grpc.AutomationStub(channel)
        beam = Beam(cluster.gateway_port, key)
        print(f"cluster up in {time.monotonic() - started:.1f}s: control plane {cluster.address}, "
              f"node {NODE} capacity=2 pool=1, gateway 127.0.0.1:{cluster.gateway_port}, "
              f"chromium {find_chromium()}", flush=True)

        # -- set-up: one Browserbeam session on form.html, the button's ref, Playwright --------
        created = beam.create({"url": f"{site}/form.html", "timeout": 900})
        session_id = created["session_id"]
        ref = labels(created["page"]["interactive_elements"]).get("Clicked 0 times")
        check(ref is not None, f"form.html's counter is not among the elements: "
              f"{labels(created['page']['interactive_elements'])}")
        session = cluster.stub.GetSession(cp.GetSessionRequest(id=session_id), metadata=md, timeout=10)
        check(session.state == S.RUNNING, f"session {session_id} is {S.SessionState.Name(session.state)}")
        if args.pw_via == "relay":
            pw_url = session.cdp_url
        else:
            found = session_dir(cluster.browsers_root(NODE), session_id)
            check(found is not None, f"no browser dir holds session {session_id}")
            port, path = (found / "user-data" / "DevToolsActivePort").read_text().split("\n")[:2]
            pw_url = f"ws://127.0.0.1:{int(port)}{path.strip()}"
        pw_manager = sync_playwright()
        pw = pw_manager.start()
        browser = pw.chromium.connect_over_cdp(pw_url, timeout=30_000)
        page = find_page(browser, "/form.html")
        check(page.text_content("#counter") == "Clicked 0 times",
              f"the counter reads {page.text_content('#counter')!r} before any click")
        print(f"session {session_id} (warm={session.warm}) on form.html, counter ref {ref}; "
              f"Playwright via {args.pw_via}: {pw_url.split('?')[0]}", flush=True)
        wait_pool_ready(cluster, 1, args.settle)

        click_step = [{"click": {"ref": ref}}]
        act_request = A.ActRequest(session_id=session_id,
                                   action=A.Action(click=A.Click(target=A.ElementTarget(ref=ref))))
        observe_request = A.ObserveRequest(session_id=session_id)
        get_request = cp.GetSessionRequest(id=session_id)

        def run(variant: str) -> float:
            """One call of a variant, timed; checks what it answered (untimed)."""
            nonlocal clicks
            if variant == "gateway click":
                ms, (envelope, _) = timed(lambda: beam.act(session_id, click_step))
                clicks += 1
                check(envelope["error"] is None and envelope["completed"] == 1,
                      f"gateway click: {envelope['error']}")
                got = counter_label(envelope["page"]["interactive_elements"], ref)
                check(got == f"Clicked {clicks} times",
                      f"gateway click {clicks}: the envelope's observation says {got!r}")
            elif variant == "playwright":
                ms, _ = timed(lambda: page.click("#counter"))
                clicks += 1
            elif variant == "act click":
                ms, answer = timed(lambda: auto.Act(act_request, metadata=md, timeout=60))
                clicks += 1
                check(answer.success and not answer.navigated, f"act click: {answer}")
            elif variant == "observe":
                ms, obs = timed(lambda: auto.Observe(observe_request, metadata=md, timeout=60))
                got = counter_label(obs.elements, ref)
                check(got == f"Clicked {clicks} times",
                      f"observe after {clicks} clicks: the button reads {got!r}")
            else:
                ms, _ = timed(lambda: cluster.stub.GetSession(get_request, metadata=md, timeout=10))
            return ms

        # -- 1. click by ref, four ways (and GetSession) ---------------------------------------
        deadline = time.monotonic() + args.max_seconds
        for _ in range(args.warmup):
            for variant in CLICK_VARIANTS:
                run(variant)
        print(f"warm-up: {args.warmup} calls per variant, {clicks} clicks (not counted)", flush=True)
        r = 0
        while min(len(s) for s in samples.values()) < args.n and time.monotonic() < deadline:
            shift = r % len(CLICK_VARIANTS)
            order = CLICK_VARIANTS[shift:] + CLICK_VARIANTS[:shift]
            medians = {}
            for variant in order:
                count = min(args.block, args.n - len(samples[variant]))
                block = [run(variant) for _ in range(count)]
                samples[variant] += block
                medians[variant] = statistics.median(block) if block else 0.0
            if medians["playwright"] > 0:
                rounds_gw.append(medians["gateway click"] / medians["playwright"])
                rounds_act.append(medians["act click"] / medians["playwright"])
            r += 1
        for variant in CLICK_VARIANTS:
            print(fmt(variant, summary(samples[variant])), flush=True)
            if len(samples[variant]) < args.n:
                skipped[variant] = args.n - len(samples[variant])
        final_text = page.text_content("#counter") or ""
        check(final_text == f"Clicked {clicks} times",
              f"after {clicks} clicks the counter reads {final_text!r}")
        print(f"correct: {clicks} clicks made, the counter reads {final_text!r}", flush=True)

        # A form.html envelope's size, for scale.
        envelope, form_bytes = beam.act(session_id, [{"observe": {}}])
        sizes["form"] = {"elements": len(envelope["page"]["interactive_elements"]),
                         "envelope_bytes": form_bytes}

        # -- 2. observe on a page with 1,000 interactive elements ------------------------------
        nav = auto.Navigate(A.NavigateRequest(session_id=session_id, url=f"{site}/many.html"),
                            metadata=md, timeout=30)
        check(nav.http_status == 200, f"many.html answered {nav.http_status}")
        first = auto.Observe(observe_request, metadata=md, timeout=60)
        check(len(first.elements) == 1000, f"many.html: {len(first.elements)} elements, not 1000")
        obs_json = json.dumps(json_format.MessageToDict(first), separators=(",", ":"))
        envelope, big_bytes = beam.act(session_id, [{"observe": {}}])
        sizes["many"] = {"elements_grpc": len(first.elements), "proto_bytes": first.ByteSize(),
                         "proto_as_json_bytes": len(obs_json),
                         "elements_gateway": len(envelope["page"]["interactive_elements"]),
                         "envelope_bytes": big_bytes,
                         "markdown_chars": len(first.markdown), "markdown_total": first.markdown_total}
        check(sizes["many"]["elements_gateway"] == 1000,
              f"gateway observe of many.html: {sizes['many']['elements_gateway']} elements")

        def run_big(variant: str) -> float:
            if variant == "grpc observe":
                ms, obs = timed(lambda: auto.Observe(observe_request, metadata=md, timeout=60))
                check(len(obs.elements) == 1000, f"grpc observe: {len(obs.elements)} elements")
            else:
                ms, (env, _) = timed(lambda: beam.act(session_id, [{"observe": {}}]))
                n = len(env["page"]["interactive_elements"])
                check(env["error"] is None and n == 1000, f"gateway observe: {env['error']}, {n}")
            return ms

        for variant in BIG_VARIANTS:  # one more each, unmeasured
            run_big(variant)
        r = 0
        while min(len(s) for s in big.values()) < args.observe and time.monotonic() < deadline:
            order = BIG_VARIANTS if r % 2 == 0 else BIG_VARIANTS[::-1]
            for variant in order:
                count = min(args.observe_block, args.observe - len(big[variant]))
                big[variant] += [run_big(variant) for _ in range(count)]
            r += 1
        for variant in BIG_VARIANTS:
            print(fmt(f"many.html {variant}", summary(big[variant])), flush=True)
            if len(big[variant]) < args.observe:
                skipped[f"many {variant}"] = args.observe - len(big[variant])

        # A click by ref on many.html through the gateway: the auto-observe reads 1,000 elements.
        button = labels(envelope["page"]["interactive_elements"]).get("Button 1")
        check(button is not None, "many.html has no 'Button 1'")
        big_step = [{"click": {"ref": button}}]
        big_made = 0
        for i in range(args.big_clicks + (1 if args.big_clicks else 0)):
            if time.monotonic() > deadline:
                skipped["many gateway click"] = args.big_clicks - len(big_clicks)
                break
            ms, (env, _) = timed(lambda: beam.act(session_id, big_step))
            big_made += 1
            check(env["error"] is None and len(env["page"]["interactive_elements"]) == 1000,
                  f"many.html gateway click: {env['error']}")
            if i:  # the first is a warm-up
                big_clicks.append(ms)
        if args.big_clicks:
            many_clicks = auto.Evaluate(A.EvaluateRequest(
                session_id=session_id, expression="document.getElementById('clicks').textContent"),
                metadata=md, timeout=30).result.string_value
            check(many_clicks == str(big_made),
                  f"many.html counted {many_clicks} clicks, {big_made} were made")
            print(fmt("many.html gateway click", summary(big_clicks)), flush=True)
    except (grpc.RpcError, AssertionError, BenchError, PwError, httpx.HTTPError, OSError,
            TimeoutError, KeyError, ValueError) as err:
        failed = True
        print(f"FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        print(cluster.logs(), file=sys.stderr)
    finally:
        if beam is not None and session_id:
            try:
                status = beam.destroy(session_id)
                if status != 204:
                    failed = True
                    print(f"destroying session {session_id} answered {status}", file=sys.stderr)
            except httpx.HTTPError as err:
                failed = True
                print(f"destroying session {session_id}: {err}", file=sys.stderr)
        if pw_manager is not None:  # a connected (not launched) browser: stopping disconnects
            with contextlib.suppress(Exception):
                pw_manager.__exit__(None, None, None)
        if beam is not None:
            beam.close()
        if channel is not None:
            channel.close()
        pages_server.shutdown()
        pages_server.server_close()
        failed = stop_and_check(cluster, tmp) or failed

    stats = {v: summary(s) for v, s in samples.items()}
    big_stats = {v: summary(s) for v, s in big.items()}
    big_click_stats = summary(big_clicks)
    gw_ratio = ratio(stats["gateway click"], stats["playwright"])
    act_ratio = ratio(stats["act click"], stats["playwright"])

    print()
    print(f"click by ref on form.html (Playwright via {args.pw_via}):")
    for variant in CLICK_VARIANTS:
        print(fmt(variant, stats[variant]))
    print(fmt_ratio("gateway click / playwright", gw_ratio, rounds_gw))
    print(fmt_ratio("act click / playwright", act_ratio, rounds_act))
    if stats["gateway click"].get("n") and stats["act click"].get("n") and stats["observe"].get("n"):
        rest = (stats["gateway click"]["p50"] - stats["act click"]["p50"] - stats["observe"]["p50"]
                - stats["getsession"]["p50"])
        print(f"gateway click p50 = act {stats['act click']['p50']:.1f} + observe "
              f"{stats['observe']['p50']:.1f} + getsession {stats['getsession']['p50']:.1f} "
              f"+ {rest:.1f} ms (HTTP, JSON, the gateway's own work)")
    print(f"clicks made {clicks}, counter reads {final_text!r}: "
          f"{'ok' if final_text == f'Clicked {clicks} times' else 'WRONG'}")
    if "form" in sizes:
        print(f"form.html envelope: {sizes['form']['elements']} elements, "
              f"{sizes['form']['envelope_bytes']} bytes of JSON")
    print()
    print("observe on many.html (1,000 interactive elements):")
    for variant in BIG_VARIANTS:
        print(fmt(variant, big_stats[variant]))
    print(fmt("gateway click (+observe)", big_click_stats))
    if "many" in sizes:
        m = sizes["many"]
        print(f"answer: {m['elements_grpc']} elements; gRPC Observation {m['proto_bytes']} bytes "
              f"protobuf ({m['proto_as_json_bytes']} as JSON); gateway envelope "
              f"{m['envelope_bytes']} bytes of JSON; markdown {m['markdown_chars']} of "
              f"{m['markdown_total']} chars")
    if skipped:
        print(f"skipped (time budget): {skipped}")
    print(f"wall time {time.monotonic() - started:.0f}s")

    if args.json:
        print(json.dumps({
            "pw_via": args.pw_via, "click_ms": stats, "gateway_over_playwright": gw_ratio,
            "act_over_playwright": act_ratio,
            "round_ratios": {"gateway": [round(x, 3) for x in rounds_gw],
                             "act": [round(x, 3) for x in rounds_act]},
            "clicks": clicks, "counter": final_text, "many_observe_ms": big_stats,
            "many_gateway_click_ms": big_click_stats, "sizes": sizes, "skipped": skipped,
        }, indent=2))
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
