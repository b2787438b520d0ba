"""The rendered k8s/ containers run: each one's exact command line, environment, user, volumes
and ports (read from `kubectl kustomize` and the Dockerfile) started on this machine by a tiny
kubelet (tests/kubelet.py) in a network namespace of their own, every probe they declare
passes, a session made through the gateway's Browserbase dialect loads a page over CDP, and
the node's preStop drains it.

No container runtime runs here, so the image's `browserplane` entrypoint is the venv's
`browserplane` console script (`pip install -e .` makes the same script in the image's venv),
with this checkout first on PYTHONPATH (tests/kubelet.py says what else maps). Nothing is
added to any container's environment beyond what the kubelet and the runtime add: the page is
a data: URL, so the node's egress policy needs no exception.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from browserbase import Browserbase
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.kubelet import (
    CLONE_NEWNET,
    IMAGE_CHECKOUT,
    IMAGE_VENV,
    Cluster,
    Container,
    Kubelet,
    read_dockerfile,
    setns,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
# the base and one overlay (the large one's 4 warm browsers of 16 are too much for 2 cores)
KUSTOMIZATIONS = ["k8s", "k8s/overlays/small"]
STARTUP = 90  # seconds for a component's probes to pass on a loaded 2-core machine
PAGE = "data:text/html,<title>on Kubernetes</title><p id=where>rendered</p>"

LIST_NODES = """
import json, sys, grpc
from browserplane.credentials import cluster_metadata
from browserplane.v1 import controlplane_pb2 as cp, controlplane_pb2_grpc
with grpc.insecure_channel(sys.argv[1]) as channel:
    nodes = controlplane_pb2_grpc.ControlPlaneStub(channel).ListNodes(
        cp.ListNodesRequest(), metadata=cluster_metadata(sys.argv[2]), timeout=5).nodes
print(json.dumps({n.id: {"up": n.up, "draining": n.draining} for n in nodes}))
"""


def render(path: str) -> list[dict]:
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is missing (scripts/bootstrap installs kubernetes-client)")
    out = subprocess.run([kubectl, "kustomize", str(ROOT / path)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def in_pod_network(kubelet: Kubelet, fn: Callable[..., Any], *args: Any) -> Any:
    """Runs `fn` in a thread that has joined the pod network, as a client inside the cluster
    would (what it starts, Playwright's driver, is in that network too)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            setns(kubelet.netns, CLONE_NEWNET)
            result["value"] = fn(*args)
        except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread
            result["error"] = err

    thread = threading.Thread(target=run, name="pod-network")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@pytest.fixture(params=KUSTOMIZATIONS)
def pods(request: pytest.FixtureRequest,
         tmp_path: pathlib.Path) -> Iterator[tuple[Kubelet, dict[str, Container]]]:
    cluster = Cluster(render(request.param), read_dockerfile(ROOT / "Dockerfile"))
    kubelet = Kubelet(cluster, tmp_path)
    try:
        kubelet.start_network()
        containers = cluster.containers(tmp_path / "pods")
        for container in containers:  # all at once, as the kubelets of a cluster would
            kubelet.start(container)
        yield kubelet, {c.name: c for c in containers}
    finally:
        kubelet.close()  # every process, cgroup and the network namespace
        shutil.rmtree(tmp_path, ignore_errors=True)  # volumes, overlays, logs


def _service(kubelet: Kubelet, name: str) -> tuple[str, int]:
    svc = kubelet.cluster.named("Service", name)
    return svc["metadata"]["name"], svc["spec"]["ports"][0]["port"]


def _cmdline(pid: int) -> list[str]:
    return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _status(pid: int, field: str) -> list[str]:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split()[1:]
    return []


def _nodes(kubelet: Kubelet, address: str, secret: str) -> dict[str, dict]:
    done = kubelet.in_network([sys.executable, "-c", LIST_NODES, address, secret])
    return json.loads(done.stdout)


def _writes(kubelet: Kubelet, container: Container, directory: str, expected: bool) -> None:
    probe = f"{directory}/.kubelet-test-{os.getpid()}"
    done = kubelet.exec(container, ["sh", "-c", f'touch "{probe}" && rm "{probe}"'])
    _, err = done.communicate(timeout=30)
    assert (done.returncode == 0) == expected, \
        f"{container.name} (uid {container.uid}): {directory} writable={not expected}: {err}"


def _wait(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.2)


def test_the_rendered_containers_run_pass_their_probes_and_serve_a_session(pods) -> None:
    kubelet, containers = pods
    assert set(containers) == {"controlplane", "node", "gateway"}
    image = kubelet.cluster.image
    assert image.entrypoint == ["browserplane"]
    # what tests/kubelet.py maps onto this machine is where the Dockerfile puts it
    assert image.workdir == IMAGE_CHECKOUT
    assert image.env["PATH"].startswith(f"{IMAGE_VENV}/bin:")
    for container in containers.values():
        # the image's entrypoint with the manifest's args, run by the venv's console script
        assert "command" not in container.spec
        assert container.argv == ["browserplane", *container.spec["args"]]

    # the kubelet's order: startup probes gate the others; then readiness and liveness
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        for container in containers.values():
            if kind in container.spec:
                kubelet.wait_probe(container, container.spec[kind], STARTUP)
    for container in containers.values():
        assert {"readinessProbe", "livenessProbe"} <= set(container.spec), container.name
        pid = kubelet.pid(container)
        assert _status(pid, "NSpid")[-1] == "1"  # PID 1 of its own namespace, as in a pod
        cmdline = _cmdline(pid)  # the console script under the venv's interpreter
        assert pathlib.Path(cmdline[1]) == pathlib.Path(sys.prefix) / "bin" / "browserplane"
        assert cmdline[2:] == container.argv[1:]
        assert _status(pid, "Uid")[0] == str(container.uid)
        assert _status(pid, "Gid")[0] == str(container.gid)
        assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink(kubelet.netns)
        for port in container.spec.get("ports", []):  # every declared port is served
            kubelet.in_network([sys.executable, "-m", "tests.kubelet", "tcp-probe",
                                kubelet.cluster.pod_ip, str(port["containerPort"]), "5"])

        # every volume the container may write is writable by its user; a read-only root is
        for mount in container.spec.get("volumeMounts", []):
            if not mount.get("readOnly"):
                _writes(kubelet, container, mount["mountPath"], True)
        if container.read_only_root:
            _writes(kubelet, container, container.env["HOME"], False)

    # an operator's key: `kubectl exec browserplane-controlplane-0 -- browserplane keys create`
    controlplane, node = containers["controlplane"], containers["node"]
    cp_name, cp_port = _service(kubelet, "browserplane-controlplane")
    made = kubelet.exec(controlplane, ["browserplane", "keys", "create", "--project", "k8s",
                                       "--control-plane", f"{cp_name}:{cp_port}"])
    out, err = made.communicate(timeout=60)
    assert made.returncode == 0, err
    key = out.split()[0]
    secret = controlplane.env["BROWSERPLANE_CLUSTER_SECRET"]
    address = f"{kubelet.cluster.pod_ip}:{cp_port}"
    _wait(lambda: _nodes(kubelet, address, secret).get(node.pod, {}).get("up", False), STARTUP,
          f"the node never registered:\n{kubelet.log(node)}")

    # through the gateway's Service (its port, rewritten to the pod's as kube-proxy does)
    _, gateway_port = _service(kubelet, "browserplane-gateway")
    gateway_url = f"http://{kubelet.cluster.pod_ip}:{gateway_port}"
    gateway_container_port = containers["gateway"].spec["ports"][0]["containerPort"]

    def session_loads_a_page() -> None:
        bb = Browserbase(api_key=key, base_url=gateway_url, max_retries=0)
        session = bb.sessions.create()
        assert session.status == "RUNNING"
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(PAGE)
            assert page.title() == "on Kubernetes"
            assert page.text_content("#where") == "rendered"
            # the node's kernel egress rules hold: the pod's own ports are not a page's to open
            with pytest.raises(PlaywrightError):
                page.goto(f"http://{kubelet.cluster.pod_ip}:{gateway_container_port}/healthz",
                          timeout=15_000)
            released = bb.sessions.update(session.id, status="REQUEST_RELEASE")
            assert released.status == "COMPLETED"
            browser.close()

    in_pod_network(kubelet, session_loads_a_page)

    # the node's preStop: it drains (no new placements) and waits for the live session to end
    def live_session() -> str:
        bb = Browserbase(api_key=key, base_url=gateway_url, max_retries=0)
        return bb.sessions.create(keep_alive=True).id

    live = in_pod_network(kubelet, live_session)
    pre_stop = kubelet.exec(node, node.spec["lifecycle"]["preStop"]["exec"]["command"])
    def draining() -> bool:
        if pre_stop.poll() is not None:
            raise AssertionError(f"preStop exited {pre_stop.returncode}: {pre_stop.communicate()}")
        return _nodes(kubelet, address, secret)[node.pod]["draining"]

    _wait(draining, 30, "the control plane never saw the node draining")
    assert pre_stop.poll() is None, pre_stop.communicate()  # a session still lives on it

    def release() -> str:
        bb = Browserbase(api_key=key, base_url=gateway_url, max_retries=0)
        return bb.sessions.update(live, status="REQUEST_RELEASE").status

    assert in_pod_network(kubelet, release) == "COMPLETED"
    out, err = pre_stop.communicate(timeout=60)
    assert pre_stop.returncode == 0, err
    # then the kubelet's SIGTERM: each component stops by itself within its grace period
    for container in (node, containers["gateway"], controlplane):
        grace = container.workload["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        code = kubelet.stop(container, grace=min(grace, 30))
        assert code == 0, f"{container.name} exited {code}:\n{kubelet.log(container)}"
