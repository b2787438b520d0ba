"""A click by description (Airtop) vs a click by ref (Browserbeam), through the gateway, in one run.

Starts its own control plane, one node (capacity 2, warm pool 1) and a gateway (real processes on
127.0.0.1, via tests.cluster), serves a shop page from memory on 127.0.0.1 (six product cards,
each with its own "Add to cart" button, a header and a footer with more controls), creates ONE
session with the Airtop dialect and drives it with both dialects (a session id is valid in every
dialect), measuring client side over one keep-alive httpx connection each, in blocks that rotate
their order every round:

  airtop click     POST /api/v1/sessions/{id}/windows/{window}/click
                   {"elementDescription": "add the green mug to the cart"}: the node resolves
                   the description offline (Locate) and clicks. Timed up to the parsed JSON.
  browserbeam ref  POST /v1/sessions/{id}/act {"steps":[{"click":{"ref": REF}}]} with the same
                   button's ref from an observation (the envelope with its auto-observation is
                   what a Browserbeam user pays per step).
  act description  gRPC Automation.Act click with ElementTarget(description=...) through the
                   control plane, and
  act ref          the same click by ref: their difference is what resolving costs in an action.
  locate           gRPC Automation.Locate of the same description (no click): the resolver's part.

Every click is counted: at the end the green mug's counter must read exactly the clicks made, and
each Airtop answer must say it resolved to the green mug's button.

    .venv/bin/python bench/ai_click.py [--n 60] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import http.server
import json
import pathlib
import statistics
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import httpx  # noqa: E402

from bench.automation import Beam, check, fmt, fmt_ratio, ratio, timed  # noqa: E402
from bench.stats import summary  # noqa: E402
from browserplane.v1 import automation_pb2 as A  # noqa: E402
from browserplane.v1 import automation_pb2_grpc  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

NODE = "n1"
VARIANTS = ("airtop click", "browserbeam ref", "act description", "act ref", "locate")
DESCRIPTION = "add the green mug to the cart"
PRODUCTS = ["Blue mug", "Green mug", "Red mug", "Green teapot", "Steel kettle", "Oak tray"]

SHOP = """<!doctype html><html><head><title>Shop</title></head><body>
<header><a href="#">Home</a> <a href="#">Deals</a> <input placeholder="Search the shop">
<button aria-label="Search">&#128269;</button> <a href="#">Sign in</a>
<button aria-label="Cart">&#128722; <span id="cart">0</span></button></header>
<main><h1>Kitchen</h1>%s</main>
<footer><a href="#">About</a> <a href="#">Sign in</a> <a href="#">Help</a></footer>
<script>
document.querySelectorAll(".card button").forEach(function (b) {
  b.addEventListener("click", function () {
    var n = b.closest(".card").querySelector(".count");
    n.textContent = String(Number(n.textContent) + 1);
    var cart = document.getElementById("cart");
    cart.textContent = String(Number(cart.textContent) + 1);
  });
});
</script></body></html>"""
CARD = ('<div class="card" data-name="{name}"><h3>{name}</h3><p>${price}</p>'
        '<button type="button">Add to cart</button> <span class="count">0</span> in cart</div>')


def serve_shop() -> tuple[http.server.ThreadingHTTPServer, str]:
    cards = "".join(CARD.format(name=n, price=9 + i) for i, n in enumerate(PRODUCTS))
    body = (SHOP % cards).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="bench-shop", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/shop.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60, help="measured calls per variant")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (1 <= args.n <= 2000 and 0 <= args.warmup <= 100 and args.block >= 1):
        parser.error("counts out of range")

    server, url = serve_shop()
    # The shop is on loopback: the browsers may reach exactly it.
    os.environ["BROWSERPLANE_EGRESS_ALLOW"] = f"127.0.0.1:{server.server_address[1]}"
    cluster = Cluster(pathlib.Path(tempfile.mkdtemp(prefix="bench-ai-click-")))
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    rounds: list[float] = []
    clicks = 0
    try:
        cluster.start_controlplane()
        cluster.start_node(NODE, capacity=2, pool=1)
        cluster.start_gateway("--rate-limit", "1000000")
        key = cluster.create_key("bench")
        md = (("authorization", f"Bearer {key}"),)
        auto = automation_pb2_grpc.AutomationStub(grpc.insecure_channel(cluster.address))
        air = httpx.Client(base_url=f"http://127.0.0.1:{cluster.gateway_port}/api",
                           headers={"Authorization": f"Bearer {key}"}, timeout=120)
        beam = Beam(cluster.gateway_port, key)

        created = air.post("/v1/sessions", json={"configuration": {"timeoutMinutes": 15}})
        check(created.status_code == 200, f"airtop create: {created.status_code} {created.text[:300]}")
        sid = created.json()["data"]["id"]
        Cluster.wait(lambda: air.get(f"/v1/sessions/{sid}").json()["data"]["status"] == "running",
                     60, "the session did not start")
        window = air.post(f"/v1/sessions/{sid}/windows", json={"url": url})
        check(window.status_code == 200, f"airtop window: {window.status_code} {window.text[:300]}")
        wid = window.json()["data"]["windowId"]
        obs = auto.Observe(A.ObserveRequest(session_id=sid, page_id=wid), metadata=md, timeout=30)
        buttons = [e for e in obs.elements if e.label == "Add to cart"]
        check(len(buttons) == len(PRODUCTS), f"{len(buttons)} Add to cart buttons observed")
        ref = buttons[PRODUCTS.index("Green mug")].ref
        # Browserbeam's steps act on the session's active page: the Airtop window is it.
        print(f"session {sid}, window {wid}; the green mug's button is {ref}", flush=True)

        click_body = {"elementDescription": DESCRIPTION}
        locate = A.LocateRequest(session_id=sid, page_id=wid, description=DESCRIPTION, intent=A.CLICK)

        def run(variant: str) -> float:
            nonlocal clicks
            if variant == "airtop click":
                ms, r = timed(lambda: air.post(f"/v1/sessions/{sid}/windows/{wid}/click",
                                               json=click_body).json())
                clicks += 1
                check(r["meta"]["status"] == "success", f"airtop click: {json.dumps(r)[:400]}")
                check(ref in json.dumps(r["data"]), f"airtop click resolved elsewhere: {r['data']}")
            elif variant == "browserbeam ref":
                ms, (envelope, _) = timed(lambda: beam.act(sid, [{"click": {"ref": ref}}]))
                clicks += 1
                check(envelope["error"] is None, f"browserbeam click: {envelope['error']}")
            elif variant.startswith("act"):
                target = (A.ElementTarget(description=DESCRIPTION) if variant == "act description"
                          else A.ElementTarget(ref=ref))
                act = A.ActRequest(session_id=sid, page_id=wid,
                                   action=A.Action(click=A.Click(target=target)))
                ms, answer = timed(lambda: auto.Act(act, metadata=md, timeout=30))
                clicks += 1
                check(answer.success, f"{variant}: {answer}")
                if variant == "act description":
                    check(answer.resolved.ref == ref, f"act description chose {answer.resolved.ref}")
            else:
                ms, answer = timed(lambda: auto.Locate(locate, metadata=md, timeout=30))
                check(answer.best.ref == ref, f"locate chose {answer.best.ref}, not {ref}")
            return ms

        for _ in range(args.warmup):
            for variant in VARIANTS:
                run(variant)
        deadline = time.monotonic() + args.max_seconds
        r = 0
        while min(len(s) for s in samples.values()) < args.n and time.monotonic() < deadline:
            order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
            medians = {}
            for variant in order:
                block = [run(variant) for _ in range(min(args.block, args.n - len(samples[variant])))]
                samples[variant] += block
                medians[variant] = statistics.median(block) if block else 0.0
            if medians["browserbeam ref"]:
                rounds.append(medians["airtop click"] / medians["browserbeam ref"])
            r += 1
        count = auto.Evaluate(A.EvaluateRequest(
            session_id=sid, page_id=wid,
            expression="document.querySelector('[data-name=\"Green mug\"] .count').textContent"),
            metadata=md, timeout=10).result.string_value
        check(count == str(clicks), f"the green mug's counter reads {count}, {clicks} clicks were made")
        others = auto.Evaluate(A.EvaluateRequest(
            session_id=sid, page_id=wid,
            expression="[...document.querySelectorAll('.card:not([data-name=\"Green mug\"]) .count')]"
                       ".map(e => e.textContent).join(',')"), metadata=md, timeout=10).result.string_value
        check(set(others.split(",")) == {"0"}, f"other cards were clicked: {others}")
        air.delete(f"/v1/sessions/{sid}")

        stats = {v: summary(samples[v]) for v in VARIANTS}
        for variant in VARIANTS:
            print(fmt(variant, stats[variant]), flush=True)
        print(fmt_ratio("airtop click / browserbeam ref", ratio(stats["airtop click"],
                                                                 stats["browserbeam ref"]), rounds))
        print(fmt_ratio("act description / act ref", ratio(stats["act description"], stats["act ref"]), []))
        print(f"checked: the green mug's counter reads {count} = the {clicks} clicks made; "
              "no other card was clicked", flush=True)
        if args.json:
            print(json.dumps({"stats": stats, "ratio": ratio(stats["airtop click"],
                                                            stats["browserbeam ref"])}))
        return 0
    finally:
        cluster.stop()
        server.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
