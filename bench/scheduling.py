"""Scheduling under a simulated fleet: placements per second and placement latency, by fleet size.

For each fleet size (default: 10 nodes, then 1,000) it starts a fresh control plane (its own
process on 127.0.0.1, via tests.cluster, the code `browserplane up` runs), then a fake fleet in
one more process (bench/fake_fleet.py: real NodeAgent gRPC servers, real RegisterNode and
Heartbeat with the cluster secret, no Chromium), and then, from this process, places
`--sessions` sessions through the real CreateSession RPC with a real API key, `--concurrency`
at a time. Each placement's latency is the client-side wall time of CreateSession (pick a node,
StartBrowser on it, record the session). Sessions are terminated again, oldest first, once more
than `--fill` of the fleet's capacity is live, so a big fleet holds many sessions (as a big
fleet would) and capacity never runs out.

Also measured: the control plane's CPU while idle with the whole fleet heartbeating (the cost of
`--heartbeat-ms` at that fleet size), and its CPU per placement during the run.

    .venv/bin/python bench/scheduling.py [--nodes 10,1000] [--sessions 5000] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import argparse  # noqa: E402
import asyncio
import collections
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.stats import fmt, summary  # noqa: E402
from browserplane import grpc_server  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from browserplane.v1 import controlplane_pb2_grpc  # noqa: E402
from browserplane.v1 import session_pb2 as S  # noqa: E402
from controlplane.leases import HEARTBEAT_MS_PER_NODE  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class FleetProc:
    """bench/fake_fleet.py as a child process, so its CPU is not the control plane's or ours."""

    def __init__(self, cluster: Cluster, nodes: int, capacity: int, log: pathlib.Path) -> None:
        self.log_path = log
        fh = open(log, "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_fleet", "--control-plane", cluster.address,
             "--nodes", str(nodes), "--capacity", str(capacity)],
            env=cluster.env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        fh.close()

    def wait_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "fleet up:" in self.log_path.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"fake fleet exited:\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"fake fleet did not come up in {timeout:g}s:\n{self.log()}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


async def place_all(address: str, key: str, count: int, concurrency: int, hold: int,
                    deadline: float) -> dict[str, object]:
    """Places `count` sessions, `concurrency` at a time, keeping at most `hold` live (the oldest
    is terminated first). Returns latencies (ms), nodes used, failures and the wall time."""
    md = (("authorization", f"Bearer {key}"),)
    channel = grpc_server.channel(address)
    stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
    latencies: list[float] = []
    terminate_ms: list[float] = []
    per_node: collections.Counter[str] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()
    live: collections.deque[str] = collections.deque()
    todo = iter(range(count))
    skipped = 0

    async def worker() -> None:
        nonlocal skipped
        for _ in todo:
            if time.monotonic() > deadline:
                skipped += 1
                continue
            started = time.perf_counter()
            try:
                s = await stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions()),
                                             metadata=md, timeout=30)
            except grpc.aio.AioRpcError as err:
                failures[err.code().name] += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            per_node[s.node_id] += 1
            live.append(s.id)
            while len(live) > hold:
                oldest = live.popleft()
                t0 = time.perf_counter()
                try:
                    await stub.TerminateSession(cp.TerminateSessionRequest(id=oldest, reason="bench"),
                                                metadata=md, timeout=30)
                    terminate_ms.append((time.perf_counter() - t0) * 1000)
                except grpc.aio.AioRpcError as err:
                    failures["terminate " + err.code().name] += 1

    # One connection for the warm-up, so the first placements do not pay for it.
    await stub.ListNodes(cp.ListNodesRequest(), metadata=md, timeout=10)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    await channel.close()
    return {"latencies": latencies, "terminate_ms": terminate_ms, "per_node": per_node,
            "failures": dict(failures), "wall_s": wall, "skipped": skipped, "live_at_end": len(live)}


def run_fleet(tmp: pathlib.Path, nodes: int, args: argparse.Namespace,
              deadline: float) -> dict[str, object]:
    """One fleet size: a fresh control plane, the fleet, idle CPU, then the placements."""
    tmp.mkdir(parents=True)
    cluster = Cluster(tmp, **{"heartbeat-ms": args.heartbeat_ms, "lease-seconds": args.lease_seconds,
                              "project-max-sessions": 1_000_000, "queue-size": max(64, args.concurrency)})
    fleet: FleetProc | None = None
    try:
        cluster.start_controlplane()
        assert cluster.controlplane is not None and cluster.controlplane.proc is not None
        pid = cluster.controlplane.proc.pid
        key = cluster.create_key("bench")
        t0 = time.monotonic()
        fleet = FleetProc(cluster, nodes, args.capacity, tmp / "fleet.log")
        fleet.wait_up(max(60.0, nodes * 0.2))
        up_s = time.monotonic() - t0
        up = sum(1 for n in cluster.stub.ListNodes(cp.ListNodesRequest(), metadata=cluster.admin,
                                                   timeout=30).nodes if n.up)
        time.sleep(min(2.0, args.idle_seconds))  # registration's after-effects settle
        cpu0, fleet0, wall0 = cpu_seconds(pid), cpu_seconds(fleet.proc.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_wall = time.monotonic() - wall0
        idle_cpu = (cpu_seconds(pid) - cpu0) / idle_wall
        fleet_cpu = (cpu_seconds(fleet.proc.pid) - fleet0) / idle_wall
        hold = max(1, int(nodes * args.capacity * args.fill))
        print(f"{nodes} nodes: fleet up in {up_s:.1f}s ({up} up in ListNodes); control plane "
              f"idle CPU with the fleet heartbeating every "
              f"{max(args.heartbeat_ms, nodes * HEARTBEAT_MS_PER_NODE)} ms: "
              f"{idle_cpu * 100:.1f}% of a core (the fake fleet's process: "
              f"{fleet_cpu * 100:.1f}%); placing {args.sessions} sessions, "
              f"{args.concurrency} at a time, at most {hold} live", flush=True)
        cpu0 = cpu_seconds(pid)
        result = asyncio.run(place_all(cluster.address, key, args.sessions, args.concurrency,
                                       hold, deadline))
        busy_cpu = cpu_seconds(pid) - cpu0
        up_after = sum(1 for n in cluster.stub.ListNodes(
            cp.ListNodesRequest(), metadata=cluster.admin, timeout=30).nodes if n.up)
        cp_log = (tmp / "controlplane.log").read_text(errors="replace")
        latencies = result["latencies"]
        placed = len(latencies)  # type: ignore[arg-type]
        per_node: collections.Counter[str] = result["per_node"]  # type: ignore[assignment]
        out: dict[str, object] = {
            "nodes": nodes, "registered_up": up, "fleet_up_s": round(up_s, 2),
            "idle_cpu_core_fraction": round(idle_cpu, 4),
            "fleet_idle_cpu_core_fraction": round(fleet_cpu, 4), "hold": hold, "placed": placed,
            "placements_per_s": placed / result["wall_s"] if placed else 0.0,  # type: ignore[operator]
            "placement_ms": summary(latencies), "terminate_ms": summary(result["terminate_ms"]),
            "cp_cpu_ms_per_placement": busy_cpu / placed * 1000 if placed else 0.0,
            # The same less what the fleet's heartbeats cost at idle over the run's wall time.
            "cp_cpu_ms_per_placement_net": (busy_cpu - idle_cpu * result["wall_s"])  # type: ignore[operator]
            / placed * 1000 if placed else 0.0,
            "nodes_used": len(per_node),
            "per_node_max": max(per_node.values()) if per_node else 0,
            "failures": result["failures"], "skipped": result["skipped"],
            "wall_s": round(result["wall_s"], 2),  # type: ignore[arg-type]
            "nodes_up_after": up_after,
            "lease_expiries": cp_log.count("node lease expired"),
            "cp_loop_held_up": cp_log.count("control plane loop was held up"),
        }
        print(fmt(f"placement {nodes}n", out["placement_ms"], name_width=16, n_width=5),  # type: ignore[arg-type]
              flush=True)
        print(f"  {out['placements_per_s']:.1f} placements/s over {out['wall_s']}s; control plane "
              f"CPU {out['cp_cpu_ms_per_placement']:.2f} ms per placement (terminates included; "
              f"{out['cp_cpu_ms_per_placement_net']:.2f} ms less the idle heartbeat load); "
              f"{len(per_node)} nodes used, at most {out['per_node_max']} placements on one; "
              f"failures {out['failures'] or 'none'}; afterwards {up_after} nodes up, "
              f"{out['lease_expiries']} leases expired, control plane loop held up "
              f"{out['cp_loop_held_up']} times", flush=True)
        return out
    finally:
        if fleet is not None:
            tail = fleet.stop().strip().splitlines()
            if tail:
                print("  " + tail[-1], flush=True)
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", default="10,1000",
                        help="fleet sizes, comma-separated, each its own control plane")
    parser.add_argument("--sessions", type=int, default=5000, help="placements per fleet size")
    parser.add_argument("--concurrency", type=int, default=32, help="CreateSession calls in flight")
    parser.add_argument("--capacity", type=int, default=8, help="browsers per fake node")
    parser.add_argument("--fill", type=float, default=0.5,
                        help="fraction of the fleet's capacity kept live (older ones terminated)")
    parser.add_argument("--heartbeat-ms", type=int, default=1000, help="the control plane's setting")
    parser.add_argument("--lease-seconds", type=float, default=5.0, help="the control plane's setting")
    parser.add_argument("--idle-seconds", type=float, default=5.0,
                        help="how long idle CPU is measured")
    parser.add_argument("--max-seconds", type=float, default=900,
                        help="time budget; placements past it are skipped")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary at the end")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.nodes.split(",") if n.strip()]
    if not sizes or not all(1 <= n <= 5000 for n in sizes) or not 1 <= args.sessions <= 100_000 \
            or not 1 <= args.concurrency <= 1000 or not 0 < args.fill <= 1:
        parser.error("--nodes 1..5000 each, --sessions 1..100000, --concurrency 1..1000, "
                     "--fill in (0, 1]")

    deadline = time.monotonic() + args.max_seconds
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-scheduling-"))
    results = []
    failed = False
    try:
        for n in sizes:
            results.append(run_fleet(tmp / f"fleet-{n}", n, args, deadline))
    except (grpc.RpcError, AssertionError, OSError) as err:
        failed = True
        print(f"FAILED: {err}", file=sys.stderr)
    finally:
        if not failed and not any(r["failures"] or r["lease_expiries"] for r in results):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)

    print()
    for r in results:
        print(fmt(f"placement {r['nodes']}n", r["placement_ms"], name_width=16, n_width=5))  # type: ignore[arg-type]
    print(f"{'nodes':>6} {'placements/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'cp ms/placement':>16} "
          f"{'idle cp CPU':>12} {'live held':>10}")
    for r in results:
        lat = r["placement_ms"]
        print(f"{r['nodes']:>6} {r['placements_per_s']:>13.1f} {lat.get('p50', 0):>8.1f} "  # type: ignore[union-attr]
              f"{lat.get('p99', 0):>8.1f} {r['cp_cpu_ms_per_placement']:>16.2f} "  # type: ignore[union-attr]
              f"{r['idle_cpu_core_fraction'] * 100:>11.1f}% {r['hold']:>10}")  # type: ignore[operator]
    if len(results) >= 2 and results[0]["placements_per_s"]:
        small, big = results[0], results[-1]
        print(f"{big['nodes']} vs {small['nodes']} nodes: throughput x"
              f"{big['placements_per_s'] / small['placements_per_s']:.2f}, p50 x"  # type: ignore[operator]
              f"{big['placement_ms']['p50'] / small['placement_ms']['p50']:.2f}, p99 x"  # type: ignore[index]
              f"{big['placement_ms']['p99'] / small['placement_ms']['p99']:.2f}")  # type: ignore[index]
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    incomplete = any(r["failures"] or r["skipped"] or r["lease_expiries"] for r in results)
    return 2 if failed or incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
