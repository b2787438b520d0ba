"""The node registry: who is up, what they hold, and leases that lapse.

A node registers, then heartbeats; each heartbeat renews its lease. A node whose lease lapses
is marked down and the session service fails its sessions with a reason. Reservations count
slots promised to create requests that have not reached the node yet.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import grpc

from browserplane import grpc_server
from browserplane.times import timestamp
from browserplane.tls import TlsFiles
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2, node_pb2_grpc
from controlplane.scheduler import NodeView

log = logging.getLogger(__name__)


@dataclasses.dataclass
class NodeEntry:
    info: controlplane_pb2.Node
    lease_expires: float
    channel: grpc.aio.Channel | None = None
    reserved: int = 0
    tls: TlsFiles | None = None  # mutual TLS toward the node's gRPC server, when configured
    # Copied out of `info` once: a registration replaces the entry, and placement reads them
    # for every node on every create (a protobuf map read costs far more than a dict's).
    labels: dict[str, str] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.labels = dict(self.info.labels)

    @property
    def agent(self) -> node_pb2_grpc.NodeAgentStub:
        return node_pb2_grpc.NodeAgentStub(self._channel())

    @property
    def automation(self) -> automation_pb2_grpc.AutomationStub:
        return automation_pb2_grpc.AutomationStub(self._channel())

    def _channel(self) -> grpc.aio.Channel:
        if self.channel is None:
            self.channel = grpc_server.channel(self.info.grpc_address, self.tls)
        return self.channel


# Heartbeats spread out as the fleet grows: each costs the control plane ~0.5 ms of CPU (most
# of it gRPC's own), so 1,000 nodes at 1 s took ~45 % of a core idle, and under placement load
# the queue of heartbeats grew until leases lapsed (bench/scheduling.py). At most one
# heartbeat per this many ms per node (~200 a second in all) keeps that bounded.
HEARTBEAT_MS_PER_NODE = 5


class NodeRegistry:
    def __init__(self, lease_seconds: float, tls: TlsFiles | None = None,
                 heartbeat_ms: int = 1000) -> None:
        self.lease_seconds = lease_seconds
        self.heartbeat_ms = heartbeat_ms
        self.tls = tls or TlsFiles()
        self.nodes: dict[str, NodeEntry] = {}
        self._up = 0  # nodes up, counted at each expiry pass (not per heartbeat)

    def heartbeat_interval_ms(self) -> int:
        """The interval handed to nodes now: the setting, or longer for a large fleet."""
        return max(self.heartbeat_ms, self._up * HEARTBEAT_MS_PER_NODE)

    def lease(self) -> float:
        """Seconds without a heartbeat before a node is down: the setting, stretched with the
        interval so a lease always spans as many heartbeats as the settings say."""
        return self.lease_seconds * self.heartbeat_interval_ms() / max(1, self.heartbeat_ms)

    def load(self, nodes: list[controlplane_pb2.Node]) -> None:
        """Nodes known before a restart get one lease to come back (as long as the fleet's
        size made it: they heartbeat at the interval they were given)."""
        self._up = sum(1 for node in nodes if node.up)
        expires = time.time() + self.lease()
        for node in nodes:
            if node.up:
                self.nodes[node.id] = NodeEntry(node, expires, tls=self.tls)

    async def register(self, node: controlplane_pb2.Node) -> NodeEntry:
        now = time.time()
        old = self.nodes.get(node.id)
        if old and old.channel and old.info.grpc_address != node.grpc_address:
            await old.channel.close()
            old.channel = None
        node.up = True
        node.down_reason = ""
        if old and old.info.draining:
            node.draining = True  # a drain outlives the node's re-registration
        self._up += 0 if old and old.info.up else 1
        lease = self.lease()
        node.registered_at.CopyFrom(timestamp(now))
        node.lease_expires_at.CopyFrom(timestamp(now + lease))
        entry = NodeEntry(node, now + lease,
                          channel=old.channel if old else None, tls=self.tls)
        self.nodes[node.id] = entry
        return entry

    def renew(self, node_id: str, free_slots: int, warm: int) -> NodeEntry | None:
        entry = self.nodes.get(node_id)
        if entry is None or not entry.info.up:
            return None
        now = time.time()
        entry.lease_expires = now + self.lease()
        entry.info.lease_expires_at.CopyFrom(timestamp(entry.lease_expires))
        entry.info.free_slots = free_slots
        entry.info.warm_browsers = warm
        return entry

    def forgive(self, seconds: float) -> None:
        """Extends every lease by a time the control plane itself was not running its loop
        (heartbeats that arrived meanwhile are queued, not missing)."""
        for entry in self.nodes.values():
            if entry.info.up:
                entry.lease_expires += seconds
                entry.info.lease_expires_at.CopyFrom(timestamp(entry.lease_expires))

    def expired(self) -> list[NodeEntry]:
        """Marks nodes whose lease lapsed as down and returns them."""
        now = time.time()
        lease = self.lease()
        lapsed = []
        up = 0
        for entry in self.nodes.values():
            if entry.info.up and entry.lease_expires < now:
                entry.info.up = False
                entry.info.down_reason = f"lease expired: no heartbeat for {lease:g}s"
                lapsed.append(entry)
            elif entry.info.up:
                up += 1
        self._up = up
        return lapsed

    def views(self, assigned: dict[str, int]) -> list[NodeView]:
        return [
            NodeView(node_id, e.labels, e.info.capacity, assigned.get(node_id, 0) + e.reserved,
                     e.info.up, e.info.draining)
            for node_id, e in self.nodes.items()
        ]

    async def close(self) -> None:
        for entry in self.nodes.values():
            if entry.channel is not None:
                await entry.channel.close()
