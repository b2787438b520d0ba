"""What recording a session costs: CPU and memory, the CDP round trip, a neighbour's latency.

Starts its own control plane and one node (real processes on 127.0.0.1, via tests.cluster),
serves bench/pages/ on 127.0.0.1 and, in rounds that alternate the order, runs a session on
moving.html (a box sliding without end and a counter ticking every 100 ms, so the screen
changes all the time: the worst case, a screencast frame at every ack) either recorded or not,
next to a neighbour session on a still page, for --seconds each. During each window it measures:

  cpu           CPU seconds per wall second of the node agent, and of the session's encoder
                process (recorded only), from /proc/<pid>/stat (utime + stime)
  memory        the encoder's peak RSS (VmHWM), and the node agent's RSS at the window's end
  cdp           round trips to the session itself over its cdp_url (the node's relay):
                Browser.getVersion, and Runtime.evaluate("1") on its page (the renderer that
                paints the frames answers it)
  neighbour     gRPC Automation.Evaluate("1") on the neighbour session through the control plane

  browser cpu   CPU seconds per wall second of the session's Chromium, every process of it
                (found by its browser directory in the command line, and their descendants):
                the screencast's JPEG encoding and rrweb's DOM serialisation run there

Ratios are recorded / unrecorded from the same run (p50 of each).

    .venv/bin/python bench/recording.py [--rounds 2] [--seconds 12] [--page moving.html] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import asyncio
import http.server
import json
import pathlib
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.stats import fmt, summary  # noqa: E402
from browserplane.v1 import automation_pb2 as A  # noqa: E402
from browserplane.v1 import automation_pb2_grpc  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from browserplane.v1 import session_pb2 as S  # noqa: E402
from node.cdp_client import CdpConnection  # noqa: E402
from tests.cluster import Cluster, session_dir  # noqa: E402

PAGES = ROOT / "bench" / "pages"
TICK = os.sysconf("SC_CLK_TCK")


def serve_pages() -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(PAGES), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["BROWSERPLANE_EGRESS_ALLOW"] = f"127.0.0.1:{server.server_address[1]}"
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def cpu_seconds(pid: int) -> float:
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kb(pid: int, key: str) -> int:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def browser_pids(browser_dir: pathlib.Path) -> list[int]:
    """The session's Chromium processes: those naming its directory, and their descendants."""
    marker = str(browser_dir).encode()
    parents: dict[int, int] = {}
    roots = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        if marker in cmdline:
            roots.append(int(entry))
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def tree_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(p) for p in pids)


def encoder_of(node_pid: int) -> int:
    for pid in children(node_pid):
        try:
            if b"video_encoder.py" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return 0


async def cdp_samples(cdp_url: str, seconds: float, stop: threading.Event) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"getVersion": [], "evaluate": []}
    async with CdpConnection(cdp_url) as conn:
        targets = await conn.send("Target.getTargets")
        page = next(t["targetId"] for t in targets["targetInfos"] if t["type"] == "page")
        session = (await conn.send("Target.attachToTarget", {"targetId": page, "flatten": True}))["sessionId"]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stop.is_set():
            t = time.perf_counter()
            await conn.send("Browser.getVersion")
            out["getVersion"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await conn.send("Runtime.evaluate", {"expression": "1"}, session_id=session)
            out["evaluate"].append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.02)
    return out


def window(cluster: Cluster, auto: Any, md: Any, node_pid: int, site: str, neighbour: str,
           recorded: bool, seconds: float, page: str = "moving.html") -> dict[str, Any]:
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        record_session=recorded)), metadata=md, timeout=60)
    try:
        auto.Navigate(A.NavigateRequest(session_id=s.id, url=f"{site}/{page}"),
                      metadata=md, timeout=30)
        time.sleep(1)  # the recorder attaches and the frames flow
        encoder = encoder_of(node_pid) if recorded else 0
        found = session_dir(cluster.browsers_root("n1"), s.id)
        chromium = browser_pids(found) if found is not None else []
        browser0 = tree_cpu(chromium)
        node0, enc0, t0 = cpu_seconds(node_pid), cpu_seconds(encoder) if encoder else 0.0, time.monotonic()
        neighbour_ms: list[float] = []
        stop = threading.Event()

        def neighbour_loop() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                auto.Evaluate(A.EvaluateRequest(session_id=neighbour, expression="1"),
                              metadata=md, timeout=30)
                neighbour_ms.append((time.perf_counter() - t) * 1000)
                time.sleep(0.02)

        thread = threading.Thread(target=neighbour_loop, daemon=True)
        thread.start()
        cdp = asyncio.run(cdp_samples(s.cdp_url, seconds, stop))
        stop.set()
        thread.join()
        wall = time.monotonic() - t0
        result = {"node_cpu": (cpu_seconds(node_pid) - node0) / wall,
                  "browser_cpu": (tree_cpu(chromium) - browser0) / wall,
                  "browser_processes": len(chromium),
                  "encoder_cpu": (cpu_seconds(encoder) - enc0) / wall if encoder else 0.0,
                  "encoder_peak_rss_kb": status_kb(encoder, "VmHWM") if encoder else 0,
                  "node_rss_kb": status_kb(node_pid, "VmRSS"),
                  "cdp": cdp, "neighbour": neighbour_ms}
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md, timeout=120)
    if recorded:
        videos = cluster.stub.ListArtifacts(cp.ListArtifactsRequest(
            session_id=s.id, kind=cp.ARTIFACT_VIDEO), metadata=md, timeout=10).artifacts
        deadline = time.monotonic() + 30
        while not videos and time.monotonic() < deadline:
            time.sleep(0.2)
            videos = cluster.stub.ListArtifacts(cp.ListArtifactsRequest(
                session_id=s.id, kind=cp.ARTIFACT_VIDEO), metadata=md, timeout=10).artifacts
        result["video"] = dict(videos[0].metadata) | {"bytes": videos[0].size_bytes} if videos else {}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--fps", type=int, default=5)
    parser.add_argument("--page", default="moving.html",
                        help="the recorded session's page in bench/pages/ (moving.html: the "
                             "screen changes all the time; landing.html: a still page)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    server, site = serve_pages()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bp-bench-recording-"))
    cluster = Cluster(tmp)
    try:
        cluster.start_controlplane()
        proc = cluster.start_node("n1", 3, 1, (), 0, "--record-fps", str(args.fps))
        node_pid = proc.proc.pid
        md = (("authorization", f"Bearer {cluster.create_key()}"),)
        auto = automation_pb2_grpc.AutomationStub(grpc.insecure_channel(cluster.address))
        neighbour = cluster.stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=60).id
        auto.Navigate(A.NavigateRequest(session_id=neighbour, url=f"{site}/landing.html"),
                      metadata=md, timeout=30)
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for i in range(args.rounds):
            for recorded in ((False, True) if i % 2 == 0 else (True, False)):
                runs[recorded].append(window(cluster, auto, md, node_pid, site, neighbour,
                                             recorded, args.seconds, args.page))
        report = report_of(runs)
    finally:
        cluster.stop()
        server.shutdown()
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def report_of(runs: dict[bool, list[dict[str, Any]]]) -> dict[str, Any]:
    def pooled(recorded: bool, pick: Any) -> list[float]:
        return [x for r in runs[recorded] for x in pick(r)]

    def mean(recorded: bool, key: str) -> float:
        values = [r[key] for r in runs[recorded]]
        return sum(values) / len(values)

    report: dict[str, Any] = {}
    for name, pick in (("cdp getVersion", lambda r: r["cdp"]["getVersion"]),
                       ("cdp evaluate", lambda r: r["cdp"]["evaluate"]),
                       ("neighbour Evaluate", lambda r: r["neighbour"])):
        off, on = summary(pooled(False, pick)), summary(pooled(True, pick))
        print(fmt(f"{name} off", off, name_width=22))
        print(fmt(f"{name} on", on, name_width=22))
        report[name] = {"unrecorded": off, "recorded": on, "ratio_p50": on["p50"] / off["p50"]}
        print(f"{name + ' ratio':<22} p50 recorded/unrecorded = {report[name]['ratio_p50']:.2f}")
    node_off, node_on = mean(False, "node_cpu"), mean(True, "node_cpu")
    encoder = mean(True, "encoder_cpu")
    browser_off, browser_on = mean(False, "browser_cpu"), mean(True, "browser_cpu")
    extra = node_on - node_off + encoder + browser_on - browser_off
    report["cpu"] = {"node_unrecorded": node_off, "node_recorded": node_on, "encoder": encoder,
                     "browser_unrecorded": browser_off, "browser_recorded": browser_on,
                     "browser_processes": [r["browser_processes"] for r in runs[True] + runs[False]],
                     "per_recorded_session": extra}
    print(f"cpu (cores)            node {node_off:.3f} -> {node_on:.3f}, encoder {encoder:.3f}, "
          f"browser {browser_off:.3f} -> {browser_on:.3f}: {extra:.3f} of a core more per "
          f"recorded session")
    peak = max(r["encoder_peak_rss_kb"] for r in runs[True])
    report["memory"] = {"encoder_peak_rss_mb": peak / 1024,
                        "node_rss_mb": {"unrecorded": mean(False, "node_rss_kb") / 1024,
                                        "recorded": mean(True, "node_rss_kb") / 1024}}
    print(f"memory                 encoder peak RSS {peak / 1024:.0f} MB; node RSS "
          f"{report['memory']['node_rss_mb']['unrecorded']:.0f} / "
          f"{report['memory']['node_rss_mb']['recorded']:.0f} MB (unrecorded / recorded)")
    report["videos"] = [r.get("video", {}) for r in runs[True]]
    print(f"videos                 {report['videos']}")
    return report


if __name__ == "__main__":
    sys.exit(main())
