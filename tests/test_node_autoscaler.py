"""The node autoscaler (--node-autoscaler kubernetes) against an in-memory Kubernetes API (kmock),
with the real `kubernetes` client in a real control plane process, and nodes that register with
it: light ones (tests/light_node.py, the real NodeAgent contract) and a real Chromium node."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from controlplane.node_autoscaler import DELETION_COST
from tests.cluster import Cluster
from tests.kube_api import NAMESPACE, KubeApi, ReplicaSetController
from tests.light_node import LightNode

WAIT = 60


def _cluster(tmp_path, kube: KubeApi, pool: int = 1, **flags: object) -> Cluster:
    cluster = Cluster(tmp_path, **{
        "node-autoscaler": "kubernetes", "node-deployment": f"{NAMESPACE}/browserplane-node",
        "min-nodes": 1, "max-nodes": 3, "scale-down-delay": 2, "node-autoscaler-interval": 0.3,
        **flags})
    cluster.env["KUBECONFIG"] = str(kube.kubeconfig(tmp_path / "kubeconfig"))
    cluster.env.pop("KUBERNETES_SERVICE_HOST", None)  # outside a cluster: the kubeconfig
    cluster.env["BROWSERPLANE_NODE_POOL_SIZE"] = str(pool)  # the demand's warm headroom
    return cluster


class Fleet:
    """Light nodes started and stopped as the ReplicaSet controller adds and removes pods."""

    def __init__(self, cluster: Cluster, capacity: int = 2) -> None:
        self.cluster, self.capacity = cluster, capacity
        self.nodes: dict[str, LightNode] = {}

    def start(self, name: str) -> None:
        self.nodes[name] = LightNode(name, self.cluster.address, self.cluster.secret,
                                     self.capacity).start()

    def stop(self, name: str) -> None:
        node = self.nodes.pop(name, None)
        if node is not None:
            node.stop()

    def close(self) -> None:
        for name in list(self.nodes):
            self.stop(name)


def _metric(cluster: Cluster, name: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{cluster.metrics_port}/metrics",
                                  timeout=5).read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            found[key[len(name):]] = float(value)
    return found


def _decisions(cluster: Cluster) -> list[dict]:
    lines = (cluster.tmp / "controlplane.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in entries if e.get("msg", "").startswith("node autoscaler")]


def _create(cluster: Cluster, key: str, n: int) -> list[str]:
    md = (("authorization", f"Bearer {key}"),)
    return [cluster.stub.CreateSession(cp.CreateSessionRequest(
        options=S.SessionOptions(), start_in_background=True, queue_timeout_seconds=600),
        metadata=md, timeout=30).id for _ in range(n)]


def _terminate(cluster: Cluster, key: str, ids: list[str]) -> None:
    md = (("authorization", f"Bearer {key}"),)
    for session_id in ids:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=session_id), metadata=md,
                                      timeout=30)


def _session(cluster: Cluster, key: str, session_id: str) -> S.Session:
    return cluster.stub.GetSession(cp.GetSessionRequest(id=session_id),
                                   metadata=(("authorization", f"Bearer {key}"),), timeout=10)


def _until(controller: ReplicaSetController, predicate: object, message: str) -> None:
    """Plays the ReplicaSet controller while waiting."""
    def step() -> bool:
        controller.reconcile()
        return bool(predicate())  # type: ignore[operator]
    Cluster.wait(step, WAIT, message, interval=0.2)


@pytest.fixture
def kube():
    api = KubeApi().start(replicas=1)
    yield api
    api.stop()


def test_a_queue_raises_replicas_to_the_need_and_not_past_max_nodes(tmp_path, kube) -> None:
    cluster = _cluster(tmp_path, kube, pool=1, **{"max-nodes": 3})
    fleet = Fleet(cluster, capacity=2)
    controller = ReplicaSetController(kube, fleet.start, fleet.stop)
    try:
        cluster.start_controlplane()
        _until(controller, lambda: cluster.node_up("browserplane-node-1"), "first node")
        key = cluster.create_key()
        # 4 sessions on one node of 2: 2 run, 2 queue; with one warm pool that is 5 browsers,
        # 3 nodes
        _create(cluster, key, 4)
        _until(controller, lambda: kube.replicas() == 3, "replicas did not rise to 3")
        up = [d for d in _decisions(cluster) if d.get("direction") == "up"]
        assert up and up[0]["from"] == 1 and up[-1]["to"] == 3 and up[-1]["reason"] == "demand"
        # 6 more: 11 browsers want 6 nodes; --max-nodes is 3
        _create(cluster, key, 6)
        _until(controller, lambda: _metric(cluster, "browserplane_node_autoscaler_demand_sessions")
               .get("") == 11, "the demand did not reach 11")
        _until(controller, lambda: _metric(cluster, "browserplane_node_autoscaler_target_replicas")
               .get("") == 3, "the target is not capped at 3")
        assert kube.replicas() == 3
        assert max(int(r.data["spec"]["replicas"]) for r in kube.scale_requests("PATCH")) == 3
        assert len(kube.pods()) == 3
        decided = _metric(cluster, "browserplane_node_autoscaler_decisions_total")
        assert decided['{direction="up",reason="demand"}'] >= 1
    finally:
        fleet.close()
        cluster.stop()


def test_idle_nodes_go_after_the_delay_and_a_busy_real_node_is_never_marked(tmp_path,
                                                                             kube) -> None:
    cluster = _cluster(tmp_path, kube, pool=0, **{"scale-down-delay": 3})
    fleet = Fleet(cluster, capacity=2)
    real = "browserplane-node-1"

    def start(name: str) -> None:  # the first pod is a real node, later ones light nodes
        if name == real:
            cluster.start_node(real, 2, 0)
        else:
            fleet.start(name)

    def stop(name: str) -> None:
        if name in cluster.nodes:
            cluster.nodes.pop(name).stop()
        fleet.stop(name)

    controller = ReplicaSetController(kube, start, stop)
    try:
        cluster.start_controlplane()
        _until(controller, lambda: cluster.node_up(real), "the real node did not register")
        key = cluster.create_key()
        first, second, *later = _create(cluster, key, 4)
        _until(controller, lambda: _session(cluster, key, first).state == S.RUNNING,
               "first session did not run")
        assert _session(cluster, key, first).node_id == real
        # two queued behind the real node's 2 slots: a second node comes, and takes them
        _until(controller, lambda: all(_session(cluster, key, s).state == S.RUNNING
                                       for s in later), "the queued sessions did not run")
        assert kube.replicas() == 2
        assert {_session(cluster, key, s).node_id for s in later} == {"browserplane-node-2"}
        # Idle capacity: one session left, on the real node; one node is enough
        _terminate(cluster, key, [second, *later])
        _until(controller, lambda: kube.replicas() == 1, "replicas did not come down")
        _until(controller, lambda: len(kube.pods()) == 1, "the empty pod was not removed")
        assert list(kube.pods()) == [real]
        assert kube.pods()[real][DELETION_COST] == "1001"  # busy: 1000 + its one session
        assert controller.removed == [("browserplane-node-2", "-1000")]
        decisions = _decisions(cluster)
        waited = [i for i, d in enumerate(decisions) if "after the delay" in d["msg"]]
        (down,) = [(i, d) for i, d in enumerate(decisions) if d.get("direction") == "down"]
        assert waited and waited[0] < down[0]
        assert down[1]["nodes_removed"] == ["browserplane-node-2"]
        assert down[1]["lower_for_seconds"] >= 3
        assert _session(cluster, key, first).state == S.RUNNING
        assert not cluster.node(real).draining  # the busy node was never drained
    finally:
        fleet.close()
        cluster.stop()


def test_a_conflict_and_server_errors_are_retried_without_a_crash(tmp_path, kube) -> None:
    import kmock
    from kmock import KubernetesError

    deployments = kmock.resource("apps/v1/deployments")
    key_of = ("apps/v1/deployments", NAMESPACE, "browserplane-node")

    def conflict() -> None:
        # someone else scaled it meanwhile (to 2); our stale write is refused
        kube.emulator.objects[key_of].patch({"spec": {"replicas": 2}})
        raise KubernetesError(status=409, reason="Conflict",
                              message="the object has been modified")

    kube.emulator["patch", deployments, kmock.subresource("scale")][:1] << conflict
    kube.emulator["get", deployments, kmock.subresource("scale")][:3] << 500
    cluster = _cluster(tmp_path, kube, pool=0, **{"min-nodes": 3})
    fleet = Fleet(cluster)
    controller = ReplicaSetController(kube, fleet.start, fleet.stop)
    try:
        cluster.start_controlplane()
        _until(controller, lambda: kube.replicas() == 3, "replicas did not reach --min-nodes")
        errors = _metric(cluster, "browserplane_node_autoscaler_api_errors_total")
        assert errors['{kind="conflict"}'] == 1
        assert errors['{kind="server"}'] == 3
        patches = kube.scale_requests("PATCH")
        assert len(patches) >= 2 and patches[0].data["spec"]["replicas"] == 3
        logged = [d for d in _decisions(cluster) if d.get("error")]
        assert {d["error"] for d in logged} == {"conflict", "server"}
        assert cluster.controlplane.proc.poll() is None and cluster._answers()
    finally:
        fleet.close()
        cluster.stop()


def test_an_unreachable_api_is_retried_until_it_answers(tmp_path) -> None:
    with socket.socket() as s:  # a port where nothing listens (yet)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kube = KubeApi(port)
    cluster = _cluster(tmp_path, kube, pool=0, **{"min-nodes": 2})
    try:
        cluster.start_controlplane()
        Cluster.wait(lambda: _metric(cluster, "browserplane_node_autoscaler_api_errors_total")
                     .get('{kind="unreachable"}', 0) >= 2, WAIT, "no unreachable errors counted")
        assert cluster._answers()  # the control plane serves on
        kube.start(replicas=1)
        Cluster.wait(lambda: kube.replicas() == 2, WAIT, "replicas did not reach --min-nodes")
        (up,) = [d for d in _decisions(cluster) if d.get("direction") == "up"]
        assert up["reason"] == "below --min-nodes"
    finally:
        cluster.stop()
        kube.stop()


def test_node_drain_stops_placements_and_waits_for_the_sessions(tmp_path) -> None:
    """`browserplane node drain` (a node pod's preStop): through the node's own Drain, and
    through the control plane's DrainNode."""
    import subprocess
    import sys

    from tests.cluster import ROOT

    cluster = Cluster(tmp_path)
    cluster.start_controlplane()
    nodes = [LightNode(n, cluster.address, cluster.secret, capacity=2).start()
             for n in ("d1", "d2")]
    try:
        key = cluster.create_key()
        (session,) = _create(cluster, key, 1)
        Cluster.wait(lambda: _session(cluster, key, session).state == S.RUNNING, WAIT, "no run")
        busy = next(n for n in nodes if n.sessions)
        drain = subprocess.Popen(
            [sys.executable, "-m", "browserplane_cli.main", "node", "drain",
             f"--node=127.0.0.1:{busy.port}", "--wait", "--timeout=60", "--interval=0.2"],
            env=cluster.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        Cluster.wait(lambda: busy.draining, WAIT, "the node was not drained")
        assert drain.poll() is None  # waiting: the session still runs
        _terminate(cluster, key, [session])
        out, _ = drain.communicate(timeout=WAIT)
        assert drain.returncode == 0, out
        assert "draining: 1 live session(s)" in out and "drained: no live sessions" in out
        # through the control plane: no new placements there, at once (no --wait)
        other = next(n for n in nodes if n is not busy)
        done = subprocess.run(
            [sys.executable, "-m", "browserplane_cli.main", "node", "drain",
             f"--control-plane={cluster.address}", f"--node-id={other.id}"],
            env=cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=WAIT)
        assert done.returncode == 0, done.stdout + done.stderr
        assert cluster.node(other.id).draining and other.draining
        # a wrong secret is refused, said plainly, exit non-zero
        refused = subprocess.run(
            [sys.executable, "-m", "browserplane_cli.main", "node", "drain",
             f"--node=127.0.0.1:{busy.port}"],
            env={**cluster.env, "BROWSERPLANE_CLUSTER_SECRET": "wrong"}, cwd=ROOT,
            capture_output=True, text=True, timeout=WAIT)
        assert refused.returncode != 0 and "node drain:" in refused.stderr
    finally:
        for node in nodes:
            node.stop()
        cluster.stop()


def test_a_drained_node_takes_sessions_again_when_demand_returns_before_its_removal(
        tmp_path, kube) -> None:
    import kmock
    from kmock import KubernetesError

    key_of = ("apps/v1/deployments", NAMESPACE, "browserplane-node")
    failing = {"on": False}

    def scale_patch():
        if failing["on"]:  # the API refuses the scale-down: the drained node is not removed
            kube.emulator.objects[key_of].patch({"spec": {"replicas": 2}})
            raise KubernetesError(status=503, reason="ServiceUnavailable", message="etcd")
        return kube.emulator.objects[key_of].raw

    kube.emulator["patch", kmock.resource("apps/v1/deployments"),
                  kmock.subresource("scale")] << scale_patch
    cluster = _cluster(tmp_path, kube, pool=0, **{"scale-down-delay": 1})
    fleet = Fleet(cluster, capacity=2)
    controller = ReplicaSetController(kube, fleet.start, fleet.stop)
    try:
        cluster.start_controlplane()
        _until(controller, lambda: cluster.node_up("browserplane-node-1"), "first node")
        key = cluster.create_key()
        sessions = _create(cluster, key, 3)  # 3 sessions: 2 nodes
        _until(controller, lambda: kube.replicas() == 2 and len(fleet.nodes) == 2
               and all(_session(cluster, key, s).state == S.RUNNING for s in sessions),
               "two nodes did not come")
        failing["on"] = True
        _terminate(cluster, key, sessions)
        # idle: after the delay one node is drained and marked, but the replicas stay
        _until(controller, lambda: any(cluster.node(n).draining for n in fleet.nodes),
               "no node was drained")
        (drained,) = [n for n in fleet.nodes if cluster.node(n).draining]
        Cluster.wait(lambda: kube.pods()[drained].get(DELETION_COST) == "-1000", WAIT,
                     "the drained pod was not marked")
        # demand returns (3 sessions want 2 nodes) before the removal went through
        again = _create(cluster, key, 3)
        _until(controller, lambda: not cluster.node(drained).draining,
               "the drained node was not taken back")
        failing["on"] = False
        _until(controller, lambda: all(_session(cluster, key, s).state == S.RUNNING
                                       for s in again), "the new sessions did not all run")
        assert kube.pods()[drained][DELETION_COST] == "1000"
        assert kube.replicas() == 2 and controller.removed == []
        assert any(d.get("reason") == "demand rose again" for d in _decisions(cluster))
    finally:
        fleet.close()
        cluster.stop()
