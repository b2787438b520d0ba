"""k8s/: every kustomization renders with kubectl, every object validates against the current
Kubernetes schemas, and the manifests agree with the code they run (flags, variables, ports)."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from browserplane import settings
from browserplane_cli.main import build_parser
from controlplane.server import ControlPlaneSettings
from gateway.app import GatewaySettings
from node.agent import NodeSettings

ROOT = pathlib.Path(__file__).resolve().parent.parent
KUSTOMIZATIONS = ["k8s", "k8s/base", "k8s/overlays/small", "k8s/overlays/large",
                  "k8s/overlays/keda", "k8s/overlays/tls"]
# Custom resources: no schema of theirs is in kubernetes-validate; checked field by field below.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}
COMPONENTS = {"controlplane": ControlPlaneSettings, "node": NodeSettings, "gateway": GatewaySettings}
WORKLOADS = {"Deployment", "StatefulSet"}


def _env_names(cls: type) -> set[str]:
    return {settings.env_name(f, cls) for f in dataclasses.fields(cls)}


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / (1024 * 1024)


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request) -> list[dict]:
    # KUBECTL picks another one, e.g. Debian's kubectl 1.20 (kustomize v2) next to a newer one
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is missing (scripts/bootstrap installs kubernetes-client)")
    out = subprocess.run([kubectl, "kustomize", str(ROOT / request.param)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _one(objects: list[dict], kind: str, name: str) -> dict:
    def named(obj: dict) -> bool:  # generated ConfigMaps and Secrets carry a hash suffix
        actual = obj["metadata"]["name"]
        return actual == name or (kind in ("ConfigMap", "Secret") and actual.startswith(name + "-"))

    found = [o for o in objects if o["kind"] == kind and named(o)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _containers(objects: list[dict]) -> list[tuple[dict, dict]]:
    return [(o, c) for o in objects if o["kind"] in WORKLOADS
            for c in o["spec"]["template"]["spec"]["containers"]]


def _flags(container: dict) -> dict[str, str]:
    """`--name=value` arguments of a container, by name."""
    flags = {}
    for arg in container.get("args", []):
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg[2:].partition("=")
            flags[name] = value
    return flags


def _config(objects: list[dict]) -> dict[str, str]:
    return _one(objects, "ConfigMap", "browserplane-config")["data"]


def test_every_object_validates_against_the_current_kubernetes_schemas(rendered) -> None:
    version = kubernetes_validate.latest_version()
    kinds = {o["kind"] for o in rendered}
    assert {"StatefulSet", "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding",
            "Secret", "ConfigMap"} <= kinds
    for obj in rendered:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} against {version}: {err.message}")


def test_every_container_runs_a_command_the_cli_parses(rendered, monkeypatch) -> None:
    parser = build_parser()
    config = _config(rendered)
    secret_keys = set(_one(rendered, "Secret", "browserplane-cluster-secret")["data"])
    seen = set()
    for workload, container in _containers(rendered):
        args = container["args"]
        component = args[0]
        assert component in COMPONENTS, f"{workload['metadata']['name']}: {args}"
        assert "command" not in container, "the image's entrypoint is `browserplane`"
        seen.add(component)
        try:
            parsed = parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"`browserplane {' '.join(args)}` does not parse")
        # the values too: the settings load from these flags plus the pod's environment
        for name, value in config.items():
            monkeypatch.setenv(name, value)
        for key in secret_keys:
            monkeypatch.setenv(key, "x" * 32)
        for var in container.get("env", []):
            monkeypatch.setenv(var["name"], var.get("value", "10.0.0.1"))
        settings.load(COMPONENTS[component], parsed)
    assert seen == set(COMPONENTS)


def test_every_browserplane_variable_is_a_real_setting(rendered) -> None:
    every = set().union(*(_env_names(cls) for cls in COMPONENTS.values()))
    secret = _one(rendered, "Secret", "browserplane-cluster-secret")
    for name in [*_config(rendered), *secret["data"]]:
        assert name.startswith("BROWSERPLANE_") and name in every, name
    for _, container in _containers(rendered):
        own = _env_names(COMPONENTS[container["args"][0]])
        for var in container.get("env", []):
            if var["name"].startswith("BROWSERPLANE_"):
                assert var["name"] in own, f"{container['name']}: {var['name']}"


def test_probes_and_ports_match_the_arguments(rendered) -> None:
    ports: dict[str, dict[str, int]] = {}
    config = _config(rendered)
    for _, container in _containers(rendered):
        component, flags = container["args"][0], _flags(container)
        # With TLS (k8s/overlays/tls) the gRPC probes use the plaintext health-only port.
        health = config.get(f"BROWSERPLANE_{component.upper()}_HEALTH_PORT")
        declared = {p["name"]: p["containerPort"] for p in container["ports"]}
        ports[component] = declared
        assert flags["host"] == "0.0.0.0"
        for probe in ("readinessProbe", "livenessProbe"):
            spec = container[probe]
            if component == "gateway":
                assert spec["httpGet"]["path"] == "/healthz"
                assert spec["httpGet"]["port"] == int(flags["port"]) == declared["http"]
            elif health:  # grpc.health.v1 alone, in plaintext
                assert spec["grpc"]["port"] == int(health) == declared["health"]
            else:  # grpc.health.v1 on the component's gRPC server
                assert spec["grpc"]["port"] == int(flags["grpc-port"]) == declared["grpc"]
        if component == "node":
            assert int(flags["relay-port"]) == declared["relay"]
        if "metrics-port" in flags:
            assert int(flags["metrics-port"]) == declared["metrics"]
    # what the others dial is the control plane's Service, on its gRPC port
    config = _config(rendered)
    keda_port = int(config.get("BROWSERPLANE_CONTROLPLANE_KEDA_PORT") or 0)
    assert ("keda" in ports["controlplane"]) == bool(keda_port)
    if keda_port:
        assert ports["controlplane"]["keda"] == keda_port
    service = _one(rendered, "Service", "browserplane-controlplane")
    address = f"{service['metadata']['name']}:{ports['controlplane']['grpc']}"
    assert config["BROWSERPLANE_NODE_CONTROL_PLANE"] == address
    assert config["BROWSERPLANE_GATEWAY_CONTROL_PLANE"] == address
    for svc in (o for o in rendered if o["kind"] == "Service"):
        component = svc["metadata"]["labels"]["app.kubernetes.io/component"]
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports[component], svc["metadata"]["name"]
    policy = _one(rendered, "NetworkPolicy", "browserplane-node")
    allowed = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert allowed == {ports["node"]["grpc"], ports["node"]["relay"]}


def test_the_node_drains_before_it_stops(rendered) -> None:
    from browserplane_cli.main import cmd_node_drain

    node = _one(rendered, "Deployment", "browserplane-node")
    pod = node["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "browserplane"  # the image's CLI
    parsed = build_parser().parse_args(command[1:])
    assert parsed.func is cmd_node_drain
    assert parsed.node == f"127.0.0.1:{_flags(container)['grpc-port']}"
    assert parsed.wait
    # it reads the cluster secret from the pod's environment
    secret = _one(rendered, "Secret", "browserplane-cluster-secret")
    assert "BROWSERPLANE_CLUSTER_SECRET" in secret["data"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in container["envFrom"]
    # long enough to wait for a session of the default --max-duration, then stop
    max_duration = ControlPlaneSettings.__dataclass_fields__["max_duration"].default
    assert parsed.timeout == max_duration
    assert pod["terminationGracePeriodSeconds"] > max_duration


def test_node_memory_is_sized_for_its_capacity(rendered) -> None:
    config = _config(rendered)
    capacity = int(config["BROWSERPLANE_NODE_CAPACITY"])
    per_browser = int(config["BROWSERPLANE_NODE_BROWSER_MEMORY_MB"])
    container = _one(rendered, "Deployment", "browserplane-node")["spec"]["template"]["spec"][
        "containers"][0]
    resources = container["resources"]
    # docs/benchmarks.md: ~215 MiB PSS per idle session; 320 MiB each budgeted, plus the agent
    assert _mebibytes(resources["requests"]["memory"]) >= capacity * 320 + 256
    assert _mebibytes(resources["limits"]["memory"]) >= capacity * per_browser
    assert container["securityContext"]["runAsUser"] == 0  # the sandbox's uid per browser


def test_the_autoscaler_role_allows_exactly_what_it_needs(rendered) -> None:
    role = _one(rendered, "Role", "browserplane-node-autoscaler")
    rules = {(g, r): set(rule["verbs"]) for rule in role["rules"]
             for g in rule["apiGroups"] for r in rule["resources"]}
    assert rules == {("apps", "deployments/scale"): {"get", "patch"}, ("", "pods"): {"list", "patch"}}
    node = _one(rendered, "Deployment", "browserplane-node")
    (scale,) = [rule for rule in role["rules"] if "deployments/scale" in rule["resources"]]
    assert scale["resourceNames"] == [node["metadata"]["name"]]  # that one Deployment
    binding = _one(rendered, "RoleBinding", "browserplane-node-autoscaler")
    controlplane = _one(rendered, "StatefulSet", "browserplane-controlplane")
    account = controlplane["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"][0]["name"] == account
    for other in ("browserplane-node", "browserplane-gateway"):
        spec = _one(rendered, "Deployment", other)["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False


def _controlplane_settings(rendered, monkeypatch) -> ControlPlaneSettings:
    """The control plane's settings as its pod would load them (its flags, the ConfigMap)."""
    (container,) = _one(rendered, "StatefulSet", "browserplane-controlplane")["spec"]["template"][
        "spec"]["containers"]
    for name, value in _config(rendered).items():
        monkeypatch.setenv(name, value)
    return settings.load(ControlPlaneSettings, build_parser().parse_args(container["args"]))


def test_the_node_pool_is_sized_by_the_autoscaler_or_by_keda(rendered, monkeypatch) -> None:
    cfg = _controlplane_settings(rendered, monkeypatch)
    node = _one(rendered, "Deployment", "browserplane-node")
    # nothing resets the replicas on each apply; the autoscaler (or KEDA's HPA) owns them
    assert "replicas" not in node["spec"]
    scaled = [o for o in rendered if o["kind"] == "ScaledObject"]
    config = _config(rendered)
    assert int(config["BROWSERPLANE_NODE_CAPACITY"]) == cfg.node_capacity
    if not scaled:  # the built-in autoscaler, on the node Deployment of its own namespace
        assert cfg.node_autoscaler == "kubernetes" and not cfg.keda_port
        assert cfg.node_deployment == node["metadata"]["name"]
        assert 1 <= cfg.min_nodes <= cfg.max_nodes
        assert cfg.scale_down_delay > 0
        return
    # KEDA mode: the control plane's own autoscaler off, its external scaler on
    assert cfg.node_autoscaler == "" and cfg.keda_port
    (so,) = scaled
    spec = so["spec"]
    assert set(spec) <= {"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
                         "cooldownPeriod", "advanced", "triggers", "idleReplicaCount",
                         "fallback", "initialCooldownPeriod"}
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": node["metadata"]["name"]}
    assert so["metadata"]["namespace"] == node["metadata"]["namespace"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]  # 0 nodes: creates refused
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "external"
    assert set(trigger["metadata"]) == {"scalerAddress"}
    # KEDA's operator dials the control plane's Service from its own namespace
    service = _one(rendered, "Service", "browserplane-controlplane")
    host, _, port = trigger["metadata"]["scalerAddress"].rpartition(":")
    assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    (keda,) = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    assert keda["targetPort"] == "keda"
    policy = _one(rendered, "NetworkPolicy", "browserplane-controlplane-keda")
    ((rule,),) = [policy["spec"]["ingress"]]
    assert rule["ports"] == [{"port": cfg.keda_port}]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "keda"}}}]
