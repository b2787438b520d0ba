"""KEDA's external-scaler contract on the control plane's --keda-port: our .proto is KEDA's on the
wire, and a client generated from it gets the answers KEDA's scaler expects."""

from __future__ import annotations

import grpc
import pytest

from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from browserplane.v1 import keda_externalscaler_pb2 as pb
from browserplane.v1 import keda_externalscaler_pb2_grpc as pb_grpc
from browserplane.v1 import session_pb2 as S
from tests.cluster import Cluster, free_port
from tests.light_node import LightNode

# KEDA's pkg/scalers/externalscaler/externalscaler.proto, as read from its repository:
# message -> {field: (number, type, repeated)}
KEDA_MESSAGES = {
    "ScaledObjectRef": {"name": (1, "string", False), "namespace": (2, "string", False),
                        "scalerMetadata": (3, "ScalerMetadataEntry", True)},
    "IsActiveResponse": {"result": (1, "bool", False)},
    "GetMetricSpecResponse": {"metricSpecs": (1, "MetricSpec", True)},
    "MetricSpec": {"metricName": (1, "string", False), "targetSize": (2, "int64", False),
                   "targetSizeFloat": (3, "double", False)},
    "GetMetricsRequest": {"scaledObjectRef": (1, "ScaledObjectRef", False),
                          "metricName": (2, "string", False)},
    "GetMetricsResponse": {"metricValues": (1, "MetricValue", True)},
    "MetricValue": {"metricName": (1, "string", False), "metricValue": (2, "int64", False),
                    "metricValueFloat": (3, "double", False)},
}
KEDA_METHODS = {  # name: (input, output, server streaming)
    "IsActive": ("ScaledObjectRef", "IsActiveResponse", False),
    "StreamIsActive": ("ScaledObjectRef", "IsActiveResponse", True),
    "GetMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", False),
    "GetMetrics": ("GetMetricsRequest", "GetMetricsResponse", False),
    "StreamMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", True),
}
TYPES = {9: "string", 8: "bool", 3: "int64", 1: "double"}


def test_our_proto_is_kedas_on_the_wire() -> None:
    file = pb.DESCRIPTOR
    assert file.package == "externalscaler"
    service = file.services_by_name["ExternalScaler"]
    assert service.full_name == "externalscaler.ExternalScaler"
    assert {m.name: (m.input_type.name, m.output_type.name, m.server_streaming)
             for m in service.methods} == KEDA_METHODS
    assert not any(m.client_streaming for m in service.methods)
    for name, fields in KEDA_MESSAGES.items():
        message = file.message_types_by_name[name]
        found = {}
        for f in message.fields:
            kind = f.message_type.name if f.message_type else TYPES[f.type]
            found[f.name] = (f.number, kind, f.is_repeated)
        assert found == fields, name
    entry = file.message_types_by_name["ScaledObjectRef"].fields_by_name["scalerMetadata"]
    assert entry.message_type.GetOptions().map_entry
    assert [(f.name, TYPES[f.type]) for f in entry.message_type.fields] == [
        ("key", "string"), ("value", "string")]
    assert set(file.message_types_by_name) == set(KEDA_MESSAGES)


@pytest.fixture
def keda(tmp_path):
    cluster = Cluster(tmp_path, **{"keda-port": free_port()})
    cluster.env["BROWSERPLANE_NODE_POOL_SIZE"] = "1"
    cluster.start_controlplane()
    node = LightNode("n1", cluster.address, cluster.secret, capacity=2).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.cp_flags['keda-port']}")
    try:
        yield cluster, pb_grpc.ExternalScalerStub(channel), channel
    finally:
        channel.close()
        node.stop()
        cluster.stop()


def test_kedas_calls_get_the_demand_over_a_nodes_capacity(keda) -> None:
    cluster, stub, channel = keda
    # what KEDA sends: the ScaledObject's name, namespace and its trigger's metadata, no secret
    ref = pb.ScaledObjectRef(name="browserplane-node", namespace="browserplane",
                             scalerMetadata={"scalerAddress": "browserplane-controlplane:9102"})
    assert stub.IsActive(ref, timeout=5).result is False  # the warm headroom alone: not active
    (spec,) = stub.GetMetricSpec(ref, timeout=5).metricSpecs
    assert spec.metricName == "browserplane-sessions"
    assert (spec.targetSize, spec.targetSizeFloat) == (2, 2.0)  # the node's capacity
    (value,) = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref,
                                                    metricName="s0-browserplane-sessions"),
                               timeout=5).metricValues
    assert value.metricName == "s0-browserplane-sessions"  # KEDA's own name for it, echoed
    assert (value.metricValue, value.metricValueFloat) == (1, 1.0)  # one warm pool

    key = cluster.create_key()
    md = (("authorization", f"Bearer {key}"),)
    for _ in range(3):  # 2 run on the node, 1 waits
        cluster.stub.CreateSession(cp.CreateSessionRequest(
            options=S.SessionOptions(), start_in_background=True, queue_timeout_seconds=600),
            metadata=md, timeout=30)
    assert stub.IsActive(ref, timeout=5).result is True
    (value,) = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref,
                                                    metricName="s0-browserplane-sessions"),
                               timeout=5).metricValues
    assert value.metricValue == 4  # 3 sessions + 1 warm: HPA wants ceil(4 / 2) = 2 nodes
    # the streams answer at once (then on each change)
    active = stub.StreamIsActive(ref, timeout=10)
    assert next(active).result is True
    active.cancel()
    specs = stub.StreamMetricSpec(ref, timeout=10)
    (streamed,) = next(specs).metricSpecs
    specs.cancel()
    assert streamed == spec


def test_the_keda_port_serves_nothing_else(keda) -> None:
    _, _, channel = keda
    other = controlplane_pb2_grpc.ControlPlaneStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        other.ListNodes(cp.ListNodesRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
