"""A lightweight node for scheduling tests: it speaks the real NodeAgent contract (and registers
and heartbeats like node/lease.py) but starts no browser, so a test can run a few of them in
one process. Tests that need a browser use a real node (tests/cluster.py)."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc

from browserplane.credentials import cluster_metadata
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc, node_pb2, node_pb2_grpc


class _Agent(node_pb2_grpc.NodeAgentServicer):
    def __init__(self, node: LightNode) -> None:
        self.node = node

    def _check(self, context: grpc.ServicerContext) -> None:
        if (("authorization", f"Bearer {self.node.secret}") not in
                tuple(context.invocation_metadata())):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "cluster secret required")

    def StartBrowser(self, request, context):
        self._check(context)
        with self.node.lock:
            if self.node.draining or len(self.node.sessions) >= self.node.capacity:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "node is full")
            self.node.sessions.add(request.session_id)
        return node_pb2.StartBrowserResponse(browser=node_pb2.BrowserInfo(
            session_id=request.session_id, version="Light/1.0", user_agent="light-node"))

    def StopBrowser(self, request, context):
        self._check(context)
        with self.node.lock:
            was = request.session_id in self.node.sessions
            self.node.sessions.discard(request.session_id)
        return node_pb2.StopBrowserResponse(was_running=was)

    def ListBrowsers(self, request, context):
        self._check(context)
        with self.node.lock:
            return node_pb2.ListBrowsersResponse(browsers=[
                node_pb2.BrowserInfo(session_id=s) for s in sorted(self.node.sessions)])

    def Drain(self, request, context):
        self._check(context)
        self.node.draining = True
        return node_pb2.DrainResponse(live_sessions=len(self.node.sessions))


class LightNode:
    def __init__(self, node_id: str, control_plane: str, secret: str, capacity: int = 2) -> None:
        self.id, self.control_plane, self.secret, self.capacity = (node_id, control_plane, secret,
                                                                   capacity)
        self.sessions: set[str] = set()
        self.draining = False
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        node_pb2_grpc.add_NodeAgentServicer_to_server(_Agent(self), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.channel = grpc.insecure_channel(control_plane)
        self.stub = controlplane_pb2_grpc.ControlPlaneStub(self.channel)
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)

    def start(self) -> LightNode:
        self.server.start()
        self._register()
        self._thread.start()
        return self

    def _register(self) -> None:
        self.stub.RegisterNode(cp.RegisterNodeRequest(
            node=cp.Node(id=self.id, grpc_address=f"127.0.0.1:{self.port}",
                         relay_address=f"127.0.0.1:{self.port}", capacity=self.capacity,
                         free_slots=self.capacity - len(self.sessions), draining=self.draining),
            sessions=self._reports()), metadata=cluster_metadata(self.secret), timeout=5)

    def _reports(self) -> list[cp.NodeSessionReport]:
        with self.lock:
            return [cp.NodeSessionReport(session_id=s, alive=True) for s in sorted(self.sessions)]

    def _heartbeat(self) -> None:
        while not self._stop.wait(0.3):
            try:
                answer = self.stub.Heartbeat(cp.HeartbeatRequest(
                    node_id=self.id, free_slots=max(0, self.capacity - len(self.sessions)),
                    sessions=self._reports()), metadata=cluster_metadata(self.secret), timeout=5)
                if answer.reregister:
                    self._register()
                with self.lock:
                    self.sessions -= set(answer.stop_session_ids)
            except grpc.RpcError:
                time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.stop(grace=None)
        self.channel.close()
