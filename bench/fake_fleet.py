"""A simulated fleet: many fake nodes in one process, for measuring the control plane.

A fake node stands for fleet size in a benchmark of the control plane's scheduling path, not
for a product part under test: it speaks the real NodeAgent gRPC contract (StartBrowser,
StopBrowser, ListBrowsers, Drain; one grpc.aio server per node, made by the same
`grpc_server.start_server` the real node uses, with the cluster secret checked the same way)
and registers and heartbeats with the control plane with the messages, cadence and
re-registration rules of node/lease.py. It runs no Chromium: StartBrowser answers at once,
and the relay address it advertises (from which the control plane builds `cdp_url`) has
nothing behind it.

The one difference from node/lease.py: the lease runs as a task on the fleet's event loop
rather than on a thread per node (a thousand threads in one process would measure the GIL),
each node still with its own channel, so the control plane sees one connection per node.

    .venv/bin/python -m bench.fake_fleet --control-plane 127.0.0.1:50051 --nodes 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import sys
import time

import grpc

from browserplane import errors, grpc_server
from browserplane.credentials import bearer, cluster_metadata, is_cluster_secret
from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc, node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)
VERSION = "Chromium/156.0.8078.79"
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "HeadlessChrome/156.0.8078.79 Safari/537.36")


@dataclasses.dataclass
class FakeBrowser:
    info: node_pb2.BrowserInfo
    started: float


class FakeNode(node_pb2_grpc.NodeAgentServicer):
    """One node: a NodeAgent server and a lease, holding up to `capacity` fake browsers."""

    def __init__(self, node_id: str, control_plane: str, secret: str, capacity: int,
                 labels: dict[str, str] | None = None) -> None:
        self.node_id = node_id
        self.control_plane = control_plane
        self.secret = secret
        self.capacity = capacity
        self.labels = {"browser": "chromium", "version": VERSION.split("/")[-1], **(labels or {})}
        self.browsers: dict[str, FakeBrowser] = {}
        self.draining = False
        self.port = 0
        self.starts = 0       # StartBrowser calls that started a browser
        self.refused = 0      # StartBrowser calls refused because the node was full
        self.peak = 0         # most browsers held at once
        self.registered = asyncio.Event()
        self.heartbeats = 0
        self.interval = 1.0  # the heartbeat interval the control plane gave, seconds
        self._changed = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self._lease: asyncio.Task | None = None

    # -- NodeAgent -----------------------------------------------------------------------

    def _check(self, context: grpc.aio.ServicerContext) -> None:
        if not is_cluster_secret(bearer(context.invocation_metadata()), self.secret):
            raise errors.BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                           "node calls need the cluster secret")

    def free_slots(self) -> int:
        return 0 if self.draining else max(0, self.capacity - len(self.browsers))

    async def StartBrowser(self, request: node_pb2.StartBrowserRequest,
                           context: grpc.aio.ServicerContext) -> node_pb2.StartBrowserResponse:
        self._check(context)
        started = time.monotonic()
        held = self.browsers.get(request.session_id)
        if held is not None:  # a retried start: the same browser, as the real fleet answers
            return node_pb2.StartBrowserResponse(browser=held.info)
        if self.free_slots() <= 0:
            self.refused += 1
            raise errors.BrowserplaneError(grpc.StatusCode.RESOURCE_EXHAUSTED, errors.QUEUE_FULL,
                                           f"node is full ({self.capacity} browsers)")
        info = node_pb2.BrowserInfo(
            session_id=request.session_id, pid=100_000 + self.starts, version=VERSION,
            user_agent=USER_AGENT, warm=True, launch_ms=0.0,
            start_ms=(time.monotonic() - started) * 1000)
        self.browsers[request.session_id] = FakeBrowser(info, time.time())
        self.starts += 1
        self.peak = max(self.peak, len(self.browsers))
        self._changed.set()
        return node_pb2.StartBrowserResponse(browser=info)

    async def StopBrowser(self, request: node_pb2.StopBrowserRequest,
                          context: grpc.aio.ServicerContext) -> node_pb2.StopBrowserResponse:
        self._check(context)
        was = self.browsers.pop(request.session_id, None) is not None
        if was:
            self._changed.set()
        return node_pb2.StopBrowserResponse(was_running=was)

    async def ListBrowsers(self, request: node_pb2.ListBrowsersRequest,
                           context: grpc.aio.ServicerContext) -> node_pb2.ListBrowsersResponse:
        self._check(context)
        return node_pb2.ListBrowsersResponse(browsers=[b.info for b in self.browsers.values()])

    async def Drain(self, request: node_pb2.DrainRequest,
                    context: grpc.aio.ServicerContext) -> node_pb2.DrainResponse:
        self._check(context)
        self.draining = True
        self._changed.set()
        return node_pb2.DrainResponse(live_sessions=len(self.browsers))

    # -- the lease (node/lease.py's rules, on the loop) --------------------------------------

    def node_message(self) -> cp.Node:
        address = f"127.0.0.1:{self.port}"
        return cp.Node(id=self.node_id, grpc_address=address, relay_address=address,
                       labels=self.labels, capacity=self.capacity, free_slots=self.free_slots(),
                       warm_browsers=0, live_sessions=len(self.browsers), draining=self.draining)

    def reports(self) -> list[cp.NodeSessionReport]:
        return [cp.NodeSessionReport(session_id=sid, connected_clients=0, total_connections=0,
                                     last_activity_at=timestamp(b.started), alive=True)
                for sid, b in self.browsers.items()]

    def beat(self) -> cp.HeartbeatRequest:
        return cp.HeartbeatRequest(node_id=self.node_id, free_slots=self.free_slots(),
                                   warm_browsers=0, sessions=self.reports(),
                                   draining=self.draining)

    def _stop_unknown(self, session_ids: list[str]) -> None:
        for sid in session_ids:  # the control plane does not know them: stop them
            if self.browsers.pop(sid, None) is not None:
                self._changed.set()

    async def _keep_lease(self, first_delay: float) -> None:
        await asyncio.sleep(first_delay)  # real nodes do not all start in the same millisecond
        md = cluster_metadata(self.secret)
        channel = grpc_server.channel(self.control_plane)
        stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
        interval, registered = 1.0, False
        try:
            while True:
                try:
                    if not registered:
                        answer = await stub.RegisterNode(cp.RegisterNodeRequest(
                            node=self.node_message(), sessions=self.reports()),
                            metadata=md, timeout=5)
                        interval = max(0.2, answer.heartbeat_interval_ms / 1000)
                        self.interval = interval
                        registered = True
                        self.registered.set()
                        self._stop_unknown(list(answer.stop_session_ids))
                    self._changed.clear()
                    beat = await stub.Heartbeat(self.beat(), metadata=md, timeout=5)
                    self.heartbeats += 1
                    if beat.reregister:
                        registered = False
                        continue
                    if beat.heartbeat_interval_ms:
                        interval = self.interval = max(0.2, beat.heartbeat_interval_ms / 1000)
                    self._stop_unknown(list(beat.stop_session_ids))
                except grpc.aio.AioRpcError as err:
                    registered = registered and err.code() != grpc.StatusCode.NOT_FOUND
                    await asyncio.sleep(interval)
                    continue
                # The interval, or less when something changed (coalescing bursts for 20 ms).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), interval)
                    await asyncio.sleep(0.02)
        finally:
            await channel.close()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, first_delay: float = 0.0) -> None:
        self._server, self.port = await grpc_server.start_server(
            "127.0.0.1:0", [(node_pb2_grpc.add_NodeAgentServicer_to_server, self,
                             "browserplane.v1.NodeAgent")])
        self._lease = asyncio.get_running_loop().create_task(self._keep_lease(first_delay))

    async def stop(self) -> None:
        if self._lease is not None:
            self._lease.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease
        if self._server is not None:
            await self._server.stop(grace=0.5)


class FakeFleet:
    """`count` fake nodes named `{prefix}0001`..., started together; their leases start spread
    over one heartbeat interval, as independently started nodes' would be."""

    def __init__(self, control_plane: str, secret: str, count: int, capacity: int,
                 prefix: str = "fake-", spread_seconds: float = 1.0,
                 labels: dict[str, str] | None = None) -> None:
        self.spread = spread_seconds
        self.nodes = [FakeNode(f"{prefix}{i + 1:04d}", control_plane, secret, capacity, labels)
                      for i in range(count)]

    def __getitem__(self, node_id: str) -> FakeNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    async def start(self, timeout: float = 120) -> None:
        """Starts every node and returns once all have registered."""
        rand = random.Random(12)
        for node in self.nodes:
            await node.start(rand.uniform(0, self.spread))
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(n.registered.wait() for n in self.nodes))

    async def stop(self) -> None:
        await asyncio.gather(*(n.stop() for n in self.nodes))

    def held(self) -> int:
        return sum(len(n.browsers) for n in self.nodes)


async def watch_lag(lag: list[float], period: float = 0.1) -> None:
    """Keeps lag[0] at the longest this loop was late to wake (a fleet too busy to heartbeat
    on time loses leases, which is the simulation's fault, not the control plane's)."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(period)
        lag[0] = max(lag[0], time.monotonic() - started - period)


async def _serve(args: argparse.Namespace) -> None:
    secret = os.environ.get("BROWSERPLANE_CLUSTER_SECRET", "")
    if not secret:
        raise SystemExit("fake_fleet: set BROWSERPLANE_CLUSTER_SECRET")
    fleet = FakeFleet(args.control_plane, secret, args.nodes, args.capacity, args.prefix,
                      args.spread)
    lag = [0.0]
    watcher = asyncio.get_running_loop().create_task(watch_lag(lag))
    started = time.monotonic()
    await fleet.start()
    print(f"fleet up: {args.nodes} nodes registered in {time.monotonic() - started:.1f}s",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    starts = [n.starts for n in fleet.nodes]
    print(f"fleet: starts={sum(starts)} (per node min {min(starts)} max {max(starts)}), "
          f"refused={sum(n.refused for n in fleet.nodes)}, "
          f"peak per node max {max(n.peak for n in fleet.nodes)}/{args.capacity}, "
          f"heartbeats={sum(n.heartbeats for n in fleet.nodes)}, "
          f"its event loop at most {lag[0] * 1000:.0f} ms late", flush=True)
    watcher.cancel()
    await fleet.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--control-plane", required=True, help="host:port (loopback)")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=8, help="browsers per node")
    parser.add_argument("--prefix", default="fake-", help="node id prefix")
    parser.add_argument("--spread", type=float, default=1.0,
                        help="seconds over which the nodes' leases start")
    args = parser.parse_args(argv)
    if not (1 <= args.nodes <= 5000 and 1 <= args.capacity <= 1000):
        parser.error("--nodes 1..5000, --capacity 1..1000")
    if not args.control_plane.startswith(("127.", "localhost:")):
        parser.error("--control-plane must be a loopback address")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
