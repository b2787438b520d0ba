"""The node's lease: registration and heartbeats on a thread of their own.

Request work (Automation calls, the CDP relay, browser launches) runs on the agent's event
loop; if anything there ever blocks, a heartbeat waiting on the same loop would lapse the
lease and fail every session on the node. So the lease is kept by a thread with a blocking gRPC
channel of its own, which reads the fleet's state as it is (plain attribute reads) and hands
what the control plane answers back to the loop.

A loop that stays stuck for `stall_seconds` is a node that cannot serve its sessions: the
thread then stops renewing and lets the lease lapse, so the control plane fails them with a
reason instead of waiting on a wedged node forever.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import grpc

from browserplane.grpc_server import sync_channel
from browserplane.tls import TlsFiles
from browserplane.v1 import controlplane_pb2, controlplane_pb2_grpc

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, address: str, metadata: tuple[tuple[str, str], ...],
                 node_message: Callable[[], controlplane_pb2.Node],
                 beat: Callable[[], controlplane_pb2.HeartbeatRequest],
                 reports: Callable[[], list[controlplane_pb2.NodeSessionReport]],
                 on_stop: Callable[[list[str]], None], on_registered: Callable[[], None],
                 stall_seconds: float = 30.0, tls: TlsFiles | None = None) -> None:
        self.address = address
        self.tls = tls
        self.metadata = metadata
        self.node_message = node_message
        self.beat = beat
        self.reports = reports
        self.on_stop = on_stop
        self.on_registered = on_registered
        self.stall_seconds = stall_seconds
        self.wake = threading.Event()   # something worth reporting now
        self.loop_seen = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []

    def start(self, changed: asyncio.Event) -> None:
        """Starts the thread, and on the running loop the two small tasks that tell it the
        loop is alive and that the fleet changed."""
        self._loop = asyncio.get_running_loop()
        self._tasks = [self._loop.create_task(self._tick()),
                       self._loop.create_task(self._forward(changed))]
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()

    async def _tick(self) -> None:
        while True:
            self.loop_seen = time.monotonic()
            await asyncio.sleep(0.5)

    async def _forward(self, changed: asyncio.Event) -> None:
        while True:
            await changed.wait()
            changed.clear()
            self.wake.set()
            await asyncio.sleep(0.02)  # coalesce bursts

    def _to_loop(self, fn: Callable, *args: object) -> None:
        try:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop has closed: the agent is going away
            pass

    def _run(self) -> None:
        channel = sync_channel(self.address, self.tls)
        stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
        interval, registered, stalled = 1.0, False, False
        try:
            while not self._stop.is_set():
                lag = time.monotonic() - self.loop_seen
                if lag > self.stall_seconds:
                    if not stalled:
                        log.error("event loop stuck; no longer renewing the lease",
                                  extra={"fields": {"stuck_seconds": round(lag, 1)}})
                    stalled = True
                    self._stop.wait(interval)
                    continue
                if stalled:
                    log.warning("event loop back; renewing the lease again")
                    stalled = False
                try:
                    if not registered:
                        answer = stub.RegisterNode(controlplane_pb2.RegisterNodeRequest(
                            node=self.node_message(), sessions=self.reports()),
                            metadata=self.metadata, timeout=5)
                        interval = max(0.2, answer.heartbeat_interval_ms / 1000)
                        registered = True
                        self._to_loop(self.on_registered)
                        self._to_loop(self.on_stop, list(answer.stop_session_ids))
                        log.info("registered with the control plane",
                                 extra={"fields": {"control_plane": self.address}})
                    self.wake.clear()
                    beat = stub.Heartbeat(self.beat(), metadata=self.metadata, timeout=5)
                    if beat.reregister:
                        registered = False
                        continue
                    if beat.heartbeat_interval_ms:
                        interval = max(0.2, beat.heartbeat_interval_ms / 1000)
                    if beat.stop_session_ids:
                        self._to_loop(self.on_stop, list(beat.stop_session_ids))
                except grpc.RpcError as err:
                    code = err.code() if hasattr(err, "code") else None
                    if registered:
                        log.warning("heartbeat failed",
                                    extra={"fields": {"error": getattr(code, "name", str(err))}})
                    registered = registered and code != grpc.StatusCode.NOT_FOUND
                    self._stop.wait(interval)
                    continue
                except Exception:  # noqa: BLE001 - losing the heartbeat would lose the lease
                    log.exception("heartbeat loop error; carrying on")
                    self._stop.wait(interval)
                    continue
                # The interval, or less when the fleet changed.
                if self.wake.wait(interval):
                    time.sleep(0.02)
        finally:
            channel.close()

    async def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        for task in self._tasks:
            task.cancel()
        if self._thread is not None:  # at most one heartbeat's timeout
            await asyncio.to_thread(self._thread.join, 6)
