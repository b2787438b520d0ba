"""What every component serves besides sessions: health, reflection, metrics; generated code."""

from __future__ import annotations

import filecmp
import pathlib
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from tests.cluster import ROOT, Cluster


def _services(address: str) -> set[str]:
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answer = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
        return {s.name for s in answer.list_services_response.service}


def _serving(address: str, service: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5)
        return answer.status == health_pb2.HealthCheckResponse.SERVING


def test_health_and_reflection_on_control_plane_and_node(cluster: Cluster):
    assert _serving(cluster.address, "browserplane.v1.ControlPlane")
    assert "browserplane.v1.ControlPlane" in _services(cluster.address)
    node_address = cluster.node("n1").grpc_address
    assert _serving(node_address, "browserplane.v1.NodeAgent")
    assert {"browserplane.v1.NodeAgent", "grpc.health.v1.Health"} <= _services(node_address)


def test_node_agent_refuses_callers_without_the_cluster_secret(cluster: Cluster, api_key: str):
    from browserplane.v1 import node_pb2, node_pb2_grpc

    with grpc.insecure_channel(cluster.node("n1").grpc_address) as channel:
        stub = node_pb2_grpc.NodeAgentStub(channel)
        for md in ((), (("authorization", f"Bearer {api_key}"),)):
            try:
                stub.ListBrowsers(node_pb2.ListBrowsersRequest(), metadata=md, timeout=5)
                raise AssertionError("NodeAgent answered a caller without the cluster secret")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def test_metrics_count_sessions_and_capacity(cluster: Cluster, md):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(keep_alive=True)),
                                   metadata=md, timeout=60)
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    text = urllib.request.urlopen(f"http://127.0.0.1:{cluster.metrics_port}/metrics").read().decode()
    assert 'browserplane_create_session_seconds_count{pool="warm"}' in text
    assert 'browserplane_sessions_ended_total{cause="requested",state="completed"}' in text
    assert "browserplane_queue_depth" in text
    assert 'browserplane_node_capacity_total{node="n1"} 6.0' in text
    node_text = urllib.request.urlopen(
        f"http://127.0.0.1:{cluster.node_metrics_port}/metrics").read().decode()
    for name in ("browserplane_node_free_slots", "browserplane_node_warm_browsers",
                 "browserplane_node_browser_launch_failures_total",
                 "browserplane_node_browser_launch_seconds_bucket"):
        assert name in node_text


def test_generated_code_matches_proto(tmp_path: pathlib.Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.generate(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in (tmp_path / "browserplane/v1").glob("*_pb2*"))
    committed = sorted(p.relative_to(ROOT) for p in (ROOT / "browserplane/v1").glob("*_pb2*"))
    assert [str(p) for p in fresh] == [str(p) for p in committed], "stub files differ"
    stale = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, ROOT / p, shallow=False)]
    assert not stale, f"regenerate with `python scripts/gen_proto.py`: {stale} drifted from proto/"
