"""Placement across a fleet: a real control plane (its own process) and 20 fake nodes.

The fake nodes (bench/fake_fleet.py, the same code bench/scheduling.py measures with) stand
for fleet size, not for a node under test: they speak the real NodeAgent contract and
register and heartbeat as node/lease.py does, but start no Chromium. What is under test is
the control plane's placement: least loaded first, never past a node's capacity, nothing
placed on a drained node.
"""

from __future__ import annotations

import asyncio
import collections
import pathlib
import time

import grpc
import pytest

from bench.fake_fleet import FakeFleet
from browserplane import errors, grpc_server
from browserplane.credentials import cluster_metadata
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from browserplane.v1 import session_pb2 as S
from controlplane.scheduler import NodeView, WaitQueue
from controlplane.server import ControlPlane, ControlPlaneSettings
from tests.cluster import Cluster

NODES, CAPACITY = 20, 5


@pytest.fixture
def cluster(tmp_path: pathlib.Path):
    c = Cluster(tmp_path, **{"project-max-sessions": 0}).start_controlplane()
    try:
        yield c
    finally:
        c.stop()


def test_placements_spread_over_the_fleet_and_respect_capacity(cluster: Cluster) -> None:
    key = cluster.create_key("fleet")
    md = (("authorization", f"Bearer {key}"),)

    async def scenario() -> None:
        fleet = FakeFleet(cluster.address, cluster.secret, NODES, CAPACITY, spread_seconds=0.2)
        channel = grpc_server.channel(cluster.address)
        stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
        try:
            await fleet.start(timeout=60)
            listed = await stub.ListNodes(cp.ListNodesRequest(), metadata=cluster.admin, timeout=10)
            assert sum(1 for n in listed.nodes if n.up) == NODES

            async def create(count: int) -> list[S.Session]:
                sem = asyncio.Semaphore(10)

                async def one() -> S.Session:
                    async with sem:
                        return await stub.CreateSession(cp.CreateSessionRequest(), metadata=md,
                                                        timeout=30)
                return list(await asyncio.gather(*(one() for _ in range(count))))

            # Least loaded first: after 2 per node's worth, every node holds exactly 2.
            first = await create(2 * NODES)
            per_node = collections.Counter(s.node_id for s in first)
            assert sorted(per_node) == sorted(n.node_id for n in fleet.nodes)
            assert set(per_node.values()) == {2}

            # Fill the fleet: 100 placements in all, every node at its capacity, none refused.
            rest = await create(NODES * CAPACITY - len(first))
            sessions = first + rest
            assert all(s.state == S.RUNNING for s in sessions)
            per_node = collections.Counter(s.node_id for s in sessions)
            assert set(per_node.values()) == {CAPACITY}
            for s in sessions:  # each session's browser is on the node it was placed on
                assert s.id in fleet[s.node_id].browsers
                assert s.cdp_url.startswith(f"ws://127.0.0.1:{fleet[s.node_id].port}/session/{s.id}/")
            assert all(n.peak <= CAPACITY and n.refused == 0 for n in fleet.nodes)
            assert fleet.held() == NODES * CAPACITY

            # A full fleet: the next create waits in the queue and times out there.
            with pytest.raises(grpc.aio.AioRpcError) as full:
                await stub.CreateSession(cp.CreateSessionRequest(queue_timeout_seconds=1),
                                         metadata=md, timeout=30)
            assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert errors.describe(full.value).reason == errors.QUEUE_TIMEOUT
            assert fleet.held() == NODES * CAPACITY

            # Room on a drained node is not used: free one slot on a drained node and one on
            # another; two creates may take only the other's.
            drained, other = fleet.nodes[0], fleet.nodes[1]
            await stub.DrainNode(cp.DrainNodeRequest(node_id=drained.node_id),
                                 metadata=cluster_metadata(cluster.secret), timeout=10)
            assert drained.draining
            for node in (drained, other):
                victim = next(s for s in sessions if s.node_id == node.node_id)
                await stub.TerminateSession(cp.TerminateSessionRequest(id=victim.id), metadata=md,
                                            timeout=10)
            async with asyncio.timeout(10):  # StopBrowser reaches the nodes in the background
                while any(len(n.browsers) == CAPACITY for n in (drained, other)):
                    await asyncio.sleep(0.02)
            again = await stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=30)
            assert again.node_id == other.node_id
            with pytest.raises(grpc.aio.AioRpcError) as no_room:
                await stub.CreateSession(cp.CreateSessionRequest(queue_timeout_seconds=1),
                                         metadata=md, timeout=30)
            assert no_room.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert all(n.peak <= CAPACITY for n in fleet.nodes)
            # The control plane's count of live sessions per node (kept as sessions are
            # placed, fail and end) agrees with what the nodes hold.
            listed = await stub.ListNodes(cp.ListNodesRequest(), metadata=cluster.admin, timeout=10)
            assert {n.id: n.live_sessions for n in listed.nodes} == \
                {n.node_id: len(n.browsers) for n in fleet.nodes}
        finally:
            await channel.close()
            await fleet.stop()

    asyncio.run(scenario())


def test_dispatch_tries_a_selector_without_room_once_per_pass() -> None:
    async def scenario() -> None:
        queue = WaitQueue(max_size=10)
        us = NodeView("us1", {"region": "us"}, 1, 0)
        asked: list[dict[str, str]] = []

        def place(selector: dict[str, str]) -> NodeView | None:
            asked.append(dict(selector))
            return us if selector == {"region": "us"} and us.assigned == 0 else None

        eu1 = asyncio.create_task(queue.wait({"region": "eu"}, timeout=5))
        us1 = asyncio.create_task(queue.wait({"region": "us"}, timeout=5))
        eu2 = asyncio.create_task(queue.wait({"region": "eu"}, timeout=5))
        await asyncio.sleep(0.01)
        queue.dispatch(place)
        assert await us1 is us
        assert asked == [{"region": "eu"}, {"region": "us"}]  # the second eu waiter: not asked
        assert len(queue) == 2 and not eu1.done() and not eu2.done()
        for task in (eu1, eu2):
            task.cancel()

    asyncio.run(scenario())


def _recount(plane: ControlPlane) -> tuple[dict[str, int], dict[str, int]]:
    """Live sessions per node and per project, counted from the live map itself."""
    per_node: collections.Counter[str] = collections.Counter()
    per_project: collections.Counter[str] = collections.Counter()
    for s in plane.sessions.live.values():
        per_project[s.project_id] += 1
        if s.node_id:
            per_node[s.node_id] += 1
    return dict(per_node), dict(per_project)


def test_live_counts_stay_true_through_refusals_queueing_ending_and_lost_nodes(
        tmp_path: pathlib.Path) -> None:
    """The counts placement reads are kept as sessions change, not recounted: after each kind
    of change they must equal a recount (the control plane runs in this process to look)."""
    secret = "fleet-counts-secret"
    settings = ControlPlaneSettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path / "cp",
                                    cluster_secret=secret, lease_seconds=1.5, heartbeat_ms=300,
                                    project_max_sessions=0, queue_timeout=5)

    async def scenario() -> None:
        plane = ControlPlane(settings)
        await plane.start()
        address = f"127.0.0.1:{plane.port}"
        fleet = FakeFleet(address, secret, 4, 2, spread_seconds=0.1)
        channel = grpc_server.channel(address)
        stub = controlplane_pb2_grpc.ControlPlaneStub(channel)

        def counts_true() -> None:
            per_node, per_project = _recount(plane)
            assert plane.sessions._assigned() == per_node
            assert plane.sessions._per_project == per_project

        try:
            key = (await stub.CreateApiKey(cp.CreateApiKeyRequest(project_name="counts"),
                                           metadata=cluster_metadata(secret), timeout=10)).key
            md = (("authorization", f"Bearer {key}"),)
            await fleet.start(timeout=30)

            # A node that refuses (full by its own count): the create goes to another node.
            refusing = fleet.nodes[0]
            refusing.capacity = 0
            made = [await stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=30)
                    for _ in range(5)]
            assert refusing.refused >= 1 and not refusing.browsers
            assert all(s.node_id != refusing.node_id for s in made)
            counts_true()

            # The fleet full: a create queues; ended while queued, it leaves nothing counted.
            refusing.capacity = 2
            made += [await stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=30)
                     for _ in range(3)]
            assert fleet.held() == 8
            queued = await stub.CreateSession(cp.CreateSessionRequest(start_in_background=True),
                                              metadata=md, timeout=30)
            assert queued.state == S.PENDING and not queued.node_id
            counts_true()
            await stub.TerminateSession(cp.TerminateSessionRequest(id=queued.id), metadata=md,
                                        timeout=10)
            counts_true()

            # Ended sessions leave the counts.
            for s in made[:2]:
                await stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md,
                                            timeout=10)
            counts_true()

            # A node whose lease lapses takes its sessions out of the counts.
            lost = fleet[made[2].node_id]
            await lost.stop()
            async with asyncio.timeout(15):
                while any(s.node_id == lost.node_id for s in plane.sessions.live.values()):
                    await asyncio.sleep(0.1)
            counts_true()
            assert lost.node_id not in plane.sessions._assigned()
        finally:
            await channel.close()
            await fleet.stop()
            await plane.close()

    asyncio.run(scenario())



def test_heartbeats_spread_out_as_the_fleet_grows(tmp_path: pathlib.Path) -> None:
    """60 nodes at a 200 ms setting would be 300 heartbeats a second; the control plane hands
    out 5 ms per node (300 ms) instead, and stretches the 1 s lease with it (1.5 s)."""
    c = Cluster(tmp_path, **{"heartbeat-ms": 200, "lease-seconds": 1}).start_controlplane()

    async def scenario() -> None:
        fleet = FakeFleet(c.address, c.secret, 60, 2, spread_seconds=0.2)
        channel = grpc_server.channel(c.address)
        stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
        try:
            await fleet.start(timeout=60)
            node = fleet.nodes[0]
            beat = await stub.Heartbeat(node.beat(), metadata=c.admin, timeout=10)
            assert beat.heartbeat_interval_ms == 60 * 5
            # The nodes took the interval and stay up on it.
            await asyncio.sleep(3)
            listed = await stub.ListNodes(cp.ListNodesRequest(), metadata=c.admin, timeout=10)
            assert sum(1 for n in listed.nodes if n.up) == 60
            assert {n.interval for n in fleet.nodes} == {0.3}
        finally:
            await fleet.stop()
            await channel.close()

    try:
        asyncio.run(scenario())
    finally:
        c.stop()


def test_the_lease_stretches_with_the_interval() -> None:
    from controlplane.leases import NodeRegistry

    registry = NodeRegistry(1.0, heartbeat_ms=200)

    async def register(count: int) -> None:
        for i in range(count):
            await registry.register(cp.Node(id=f"n{i}", grpc_address="127.0.0.1:1", capacity=2))

    asyncio.run(register(10))
    assert (registry.heartbeat_interval_ms(), registry.lease()) == (200, 1.0)  # the settings
    asyncio.run(register(60))  # n0..n9 again (no double count) and 50 more
    assert (registry.heartbeat_interval_ms(), registry.lease()) == (300, 1.5)
    before = time.time()
    entry = registry.renew("n0", 2, 0)
    assert entry is not None and entry.lease_expires >= before + 1.5  # not the 1 s setting
