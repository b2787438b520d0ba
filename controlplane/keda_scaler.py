"""KEDA's external scaler (externalscaler.ExternalScaler), for clusters that size the node
Deployment with KEDA instead of the built-in autoscaler.

The metric is the autoscaler's demand figure (placed and queued sessions plus one warm pool,
controlplane/node_autoscaler.py) and its target a node's capacity, so KEDA's HPA asks for
ceil(demand / capacity) nodes, as the built-in autoscaler would. KEDA sends no credentials but
its ScaledObject's metadata (it can use TLS client certificates), so this is served on its own
port without the cluster secret: read-only, and it answers nothing but that one number.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from browserplane import grpc_server
from browserplane.v1 import keda_externalscaler_pb2 as pb
from browserplane.v1 import keda_externalscaler_pb2_grpc as pb_grpc
from controlplane.node_autoscaler import Demand, demand_of

if TYPE_CHECKING:
    from controlplane.server import ControlPlane

METRIC = "browserplane-sessions"
STREAM_INTERVAL_S = 2.0  # how often the streams look for a change


class ExternalScaler(pb_grpc.ExternalScalerServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def _demand(self) -> Demand:
        return demand_of(self.plane)

    @staticmethod
    def _active(demand: Demand) -> bool:
        # Sessions placed or waiting; the warm headroom alone keeps nothing awake.
        return demand.running + demand.queued > 0

    @staticmethod
    def _spec(demand: Demand) -> pb.GetMetricSpecResponse:
        return pb.GetMetricSpecResponse(metricSpecs=[pb.MetricSpec(
            metricName=METRIC, targetSize=demand.capacity, targetSizeFloat=float(demand.capacity))])

    async def IsActive(self, request: pb.ScaledObjectRef,
                       context: grpc.aio.ServicerContext) -> pb.IsActiveResponse:
        return pb.IsActiveResponse(result=self._active(self._demand()))

    async def StreamIsActive(self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext,
                             ) -> AsyncIterator[pb.IsActiveResponse]:
        last = None
        while True:
            active = self._active(self._demand())
            if active != last:  # the first answer at once, then each change
                last = active
                yield pb.IsActiveResponse(result=active)
            await asyncio.sleep(STREAM_INTERVAL_S)

    async def GetMetricSpec(self, request: pb.ScaledObjectRef,
                            context: grpc.aio.ServicerContext) -> pb.GetMetricSpecResponse:
        return self._spec(self._demand())

    async def StreamMetricSpec(self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext,
                               ) -> AsyncIterator[pb.GetMetricSpecResponse]:
        last = None
        while True:
            capacity = self._demand().capacity
            if capacity != last:
                last = capacity
                yield self._spec(self._demand())
            await asyncio.sleep(STREAM_INTERVAL_S)

    async def GetMetrics(self, request: pb.GetMetricsRequest,
                         context: grpc.aio.ServicerContext) -> pb.GetMetricsResponse:
        # KEDA asks by the name it was given (it may prefix it, "s0-…"): answer under that name.
        value = self._demand().sessions
        return pb.GetMetricsResponse(metricValues=[pb.MetricValue(
            metricName=request.metricName or METRIC, metricValue=value,
            metricValueFloat=float(value))])


async def start(plane: ControlPlane, address: str) -> tuple[grpc.aio.Server, int]:
    """A server of its own: nothing but the scaler (and health) is reachable without the
    cluster secret. With the control plane's TLS settings it is mutual TLS too: KEDA presents
    a client certificate (a TriggerAuthentication's caCert/tlsClientCert/tlsClientKey)."""
    return await grpc_server.start_server(
        address, [(pb_grpc.add_ExternalScalerServicer_to_server, ExternalScaler(plane),
                   "externalscaler.ExternalScaler")], tls=plane.tls)
