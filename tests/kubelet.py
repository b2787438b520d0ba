"""A tiny kubelet for the tests: runs the containers of rendered Kubernetes manifests on this
machine the way a kubelet and its container runtime would, read from the manifests and the
Dockerfile, so a test can check that what `kubectl apply -k k8s` starts actually works.

What it reproduces, and how (the tests run as root):
- the pod network: one network namespace holding only `lo`, shared by every pod (a pod's IP is
  127.0.0.1 in it, so each Service's cluster IP is too); Service names resolve through each
  container's /etc/hosts, and a Service whose port differs from its target port gets the
  iptables REDIRECT rule kube-proxy would make. Nothing binds or collides outside it.
- each container: a mount, UTS and PID namespace of its own (hostname = pod name; its command
  is PID 1, signalled through a shim as a runtime does); its volumes
  (emptyDir, memory emptyDir, the StatefulSet's PVC, Secrets and ConfigMaps) bind-mounted from
  temporary directories at their mountPaths, fsGroup ownership applied as the kubelet does;
  the image's directories it needs (its HOME) made in an overlay, never on this machine's disk;
  a read-only root when `readOnlyRootFilesystem` says so (and /sys read-only unless
  privileged); a private 64 MiB /dev/shm unless a volume is mounted there; cgroups (memory,
  pids, cpu: the container's memory and CPU limits) that every process of it runs in, which privileged
  containers see as their /sys/fs/cgroup (as runc shows a container its own group);
- a service account token volume where the pod automounts one (a token, the namespace, a CA;
  no API server answers at KUBERNETES_SERVICE_HOST);
- the process: the image's ENTRYPOINT with the container's command/args (`$(VAR)` expanded),
  the environment the kubelet builds (Service links when enabled, envFrom, env with
  valueFrom secretKeyRef/configMapKeyRef/fieldRef/resourceFieldRef) over the image's ENV plus
  HOSTNAME, as the securityContext's user, groups and no_new_privs;
- exec (probes, preStop, `kubectl exec`): a process joining the container's namespaces and
  cgroup with its user and environment.

The image itself cannot run here (no container runtime): its paths map onto this machine.
`/opt/venv` (the image's venv, where `pip install -e .` put the `browserplane` console
script) is this interpreter's venv, and the image's checkout (its WORKDIR) is this checkout,
put first on PYTHONPATH (the venv's own editable install may point at another checkout).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import dataclasses
import json
import os
import pathlib
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The image's paths (Dockerfile) and where the same things are on this machine.
IMAGE_VENV, IMAGE_CHECKOUT = "/opt/venv", "/opt/browserplane"
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the base image's
CGROUP_PARENT = "browserplane-kubelet-test"
CONTROLLERS = ("memory", "pids", "cpu")
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x04000000, 0x20000000, 0x40000000
PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 38, 1
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
WORKLOADS = ("StatefulSet", "Deployment")
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _check(_libc.setns(fd, nstype), f"setns {path}")
    finally:
        os.close(fd)


# --- the image ------------------------------------------------------------------------------

@dataclasses.dataclass
class Image:
    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    user: str
    workdir: str
    home_owner: str  # who owns the image's HOME (useradd --home-dir ... then chown)


def read_dockerfile(path: pathlib.Path) -> Image:
    text = re.sub(r"\\\n", " ", path.read_text())
    env: dict[str, str] = {"PATH": DEBIAN_PATH}
    image = Image([], [], env, "0", "/", "")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
        elif instruction == "USER":
            image.user = rest.strip()
        elif instruction == "WORKDIR":
            image.workdir = rest.strip()
        elif instruction in ("ENTRYPOINT", "CMD"):
            value = json.loads(rest)  # the exec form; the shell form would wrap it in /bin/sh -c
            if instruction == "ENTRYPOINT":
                image.entrypoint = value
            else:
                image.cmd = value
        elif instruction == "RUN":
            found = re.search(r"useradd .*--uid (\d+).*--home-dir (\S+)", rest)
            if found:
                image.home_owner = found.group(1)
    return image


def map_image_env(image: Image) -> dict[str, str]:
    """The image's ENV with its paths moved onto this machine, and this checkout importable."""
    venv = sys.prefix
    env = {k: v.replace(IMAGE_VENV, venv) for k, v in image.env.items()}
    env["PYTHONPATH"] = str(ROOT)
    return env


# --- the pods -------------------------------------------------------------------------------

@dataclasses.dataclass
class Mount:
    target: str
    source: str = ""  # a directory or file; empty with tmpfs
    read_only: bool = False
    tmpfs_size: int = 0


@dataclasses.dataclass
class Container:
    pod: str
    workload: dict
    spec: dict
    argv: list[str]
    env: dict[str, str]
    workdir: str
    uid: int
    gid: int
    groups: list[int]
    privileged: bool
    read_only_root: bool
    no_new_privs: bool
    mounts: list[Mount]
    image_dirs: list[tuple[str, int, int]]  # the image's directories a container needs: path, uid, gid
    memory_limit: int
    cpu_limit_millis: int
    cgroup: str
    log: pathlib.Path
    netns: str = ""
    proc: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return self.spec["name"]

    def to_json(self) -> dict:
        fields = dataclasses.asdict(self)
        for drop in ("workload", "proc", "log"):
            fields.pop(drop)
        return fields


def quantity(text: str | int) -> int:
    """A Kubernetes quantity (512Mi, 1Gi, 2G, 100) in bytes (or units)."""
    text = str(text)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6,
             "G": 10**9, "T": 10**12}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(float(text))


def _millicores(text: str | int | None) -> int:
    if text is None:
        return 0
    text = str(text)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def _env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def service_links(services: list[dict], cluster_ip: str) -> dict[str, str]:
    """The variables the kubelet gives a pod for each Service of its namespace with a cluster
    IP (`enableServiceLinks`, on by default)."""
    env: dict[str, str] = {}
    for svc in services:
        if svc["spec"].get("clusterIP") == "None":
            continue
        name, ports = _env_name(svc["metadata"]["name"]), svc["spec"]["ports"]
        env[f"{name}_SERVICE_HOST"] = cluster_ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        first = ports[0]
        env[f"{name}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{cluster_ip}:{first['port']}"
        for port in ports:
            proto = port.get("protocol", "TCP")
            if "name" in port:
                env[f"{name}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port["port"])
            key = f"{name}_PORT_{port['port']}_{proto}"
            env[key] = f"{proto.lower()}://{cluster_ip}:{port['port']}"
            env[f"{key}_PROTO"], env[f"{key}_PORT"] = proto.lower(), str(port["port"])
            env[f"{key}_ADDR"] = cluster_ip
    return env


def master_service_env(cluster_ip: str) -> dict[str, str]:
    """`kubernetes.default`'s variables, which every pod gets. No API server runs here."""
    return {"KUBERNETES_SERVICE_HOST": cluster_ip, "KUBERNETES_SERVICE_PORT": "443",
            "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": f"tcp://{cluster_ip}:443",
            "KUBERNETES_PORT_443_TCP": f"tcp://{cluster_ip}:443",
            "KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": "443",
            "KUBERNETES_PORT_443_TCP_ADDR": cluster_ip}


def expand(text: str, env: dict[str, str]) -> str:
    """`$(VAR)` as the kubelet expands it in command, args and env values (`$$` escapes)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


class Cluster:
    """The rendered objects of one namespace, and what the kubelet reads of them."""

    def __init__(self, objects: list[dict], image: Image, pod_ip: str = "127.0.0.1") -> None:
        self.objects = objects
        self.image = image
        self.pod_ip = pod_ip
        namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] in WORKLOADS}
        assert len(namespaces) == 1, f"workloads in several namespaces: {namespaces}"
        self.namespace = namespaces.pop() or "default"

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind
                and o["metadata"].get("namespace", self.namespace) == self.namespace]

    def named(self, kind: str, name: str) -> dict:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        if not found:  # what the kubelet reports as CreateContainerConfigError
            raise LookupError(f"{kind} {self.namespace}/{name} not found")
        return found[0]

    def data(self, kind: str, name: str) -> dict[str, str]:
        obj = self.named(kind, name)
        if kind == "Secret":
            out = {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}
            out.update(obj.get("stringData", {}))
            return out
        return dict(obj.get("data", {}))

    def workloads(self) -> list[dict]:
        return [o for kind in WORKLOADS for o in self.of_kind(kind)]

    @staticmethod
    def pod_name(workload: dict) -> str:
        name = workload["metadata"]["name"]
        if workload["kind"] == "StatefulSet":
            return f"{name}-0"
        alphabet = "bcdfghjklmnpqrstvwxz2456789"  # what the ReplicaSet controller draws from
        suffix = "".join(secrets.choice(alphabet) for _ in range(5))
        return f"{name}-{secrets.token_hex(5)}-{suffix}"

    def hosts(self) -> dict[str, str]:
        """What cluster DNS would answer in this namespace: every Service by its short and full
        names, and the StatefulSets' pods by their stable names."""
        names: dict[str, str] = {}
        for svc in self.of_kind("Service"):
            short = svc["metadata"]["name"]
            for name in (short, f"{short}.{self.namespace}", f"{short}.{self.namespace}.svc",
                         f"{short}.{self.namespace}.svc.cluster.local"):
                names[name] = self.pod_ip
        return names

    def env(self, workload: dict, container: dict, pod: str) -> dict[str, str]:
        pod_spec = workload["spec"]["template"]["spec"]
        env: dict[str, str] = master_service_env(self.pod_ip)
        if pod_spec.get("enableServiceLinks", True):
            env.update(service_links(self.of_kind("Service"), self.pod_ip))
        for source in container.get("envFrom", []):
            prefix = source.get("prefix", "")
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source:
                    try:
                        values = self.data(kind, source[key]["name"])
                    except LookupError:
                        if source[key].get("optional"):
                            continue
                        raise
                    env.update({prefix + k: v for k, v in values.items()})
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = expand(var["value"], env)
            elif "valueFrom" in var:
                env[var["name"]] = self._value_from(var["valueFrom"], container, pod)
            else:
                env[var["name"]] = ""
        # the runtime: the image's ENV under the container's, and the hostname
        return {**map_image_env(self.image), "HOSTNAME": pod, **env}

    def _value_from(self, source: dict, container: dict, pod: str) -> str:
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {"metadata.name": pod, "metadata.namespace": self.namespace,
                      "status.podIP": self.pod_ip, "status.hostIP": self.pod_ip,
                      "spec.nodeName": socket.gethostname()}
            if path not in fields:
                raise LookupError(f"fieldRef {path}: not emulated")
            return fields[path]
        if "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            kind, _, resource = ref["resource"].partition(".")
            value = quantity(container["resources"][kind][resource])
            return str(value // quantity(ref.get("divisor", 1)))
        for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            if key in source:
                ref = source[key]
                values = self.data(kind, ref["name"])
                if ref["key"] not in values:
                    raise LookupError(f"{kind} {ref['name']} has no key {ref['key']!r}")
                return values[ref["key"]]
        raise LookupError(f"valueFrom {source}: not emulated")

    def target_port(self, svc: dict, port: dict) -> int:
        """A Service port's target, a named one resolved in the pod template it selects."""
        target = port.get("targetPort", port["port"])
        if isinstance(target, int):
            return target
        selector = svc["spec"].get("selector", {})
        for workload in self.workloads():
            labels = workload["spec"]["template"]["metadata"].get("labels", {})
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                for container in workload["spec"]["template"]["spec"]["containers"]:
                    for declared in container.get("ports", []):
                        if declared.get("name") == target:
                            return declared["containerPort"]
        raise LookupError(f"Service {svc['metadata']['name']}: no pod has a port named {target!r}")

    def proxy_rules(self) -> list[list[str]]:
        """kube-proxy's rewrite of each cluster-IP Service port to its pods' port."""
        rules = []
        for svc in self.of_kind("Service"):
            if svc["spec"].get("clusterIP") == "None":
                continue
            for port in svc["spec"]["ports"]:
                target = self.target_port(svc, port)
                if target != port["port"]:
                    proto = port.get("protocol", "TCP").lower()
                    rules.append(["-t", "nat", "-A", "OUTPUT", "-d", self.pod_ip, "-p", proto,
                                  "--dport", str(port["port"]), "-j", "REDIRECT",
                                  "--to-ports", str(target)])
        return rules

    def containers(self, tmp: pathlib.Path) -> list[Container]:
        """One pod per workload (a replica is enough to run what every replica runs)."""
        out = []
        for workload in self.workloads():
            pod = self.pod_name(workload)
            pod_dir = tmp / pod
            pod_dir.mkdir(parents=True)
            pod_spec = workload["spec"]["template"]["spec"]
            volumes = self._volumes(workload, pod_dir)
            self._etc_files(workload, pod, pod_dir)
            for container in pod_spec.get("containers", []):
                out.append(self._container(workload, container, pod, pod_dir, volumes))
        return out

    def _volumes(self, workload: dict, pod_dir: pathlib.Path) -> dict[str, Mount]:
        pod_spec = workload["spec"]["template"]["spec"]
        fs_group = pod_spec.get("securityContext", {}).get("fsGroup")
        volumes: dict[str, Mount] = {}
        for claim in workload["spec"].get("volumeClaimTemplates", []):
            path = pod_dir / "pvc" / claim["metadata"]["name"]
            path.mkdir(parents=True)  # a fresh volume's root: root's, 0755
            volumes[claim["metadata"]["name"]] = Mount("", str(path))
        for volume in pod_spec.get("volumes", []):
            path = pod_dir / "volumes" / volume["name"]
            if "emptyDir" in volume:
                if volume["emptyDir"].get("medium") == "Memory":
                    size = volume["emptyDir"].get("sizeLimit")
                    volumes[volume["name"]] = Mount("", "", tmpfs_size=quantity(size) if size else 0)
                    continue
                path.mkdir(parents=True)
                path.chmod(0o777)  # the kubelet's emptyDir mode
            elif "secret" in volume or "configMap" in volume:
                kind, key = ("Secret", "secret") if "secret" in volume else ("ConfigMap", "configMap")
                ref = volume[key].get("secretName") or volume[key].get("name")
                path.mkdir(parents=True)
                for name, value in self.data(kind, ref).items():
                    (path / name).write_text(value)
                    (path / name).chmod(volume[key].get("defaultMode", 0o644))
                volumes[volume["name"]] = Mount("", str(path), read_only=True)
                continue
            elif "persistentVolumeClaim" not in volume:
                raise LookupError(f"volume {volume['name']}: type not emulated")
            volumes[volume["name"]] = Mount("", str(path))
        if fs_group is not None:  # the kubelet's volume ownership: group fsGroup, g+rwx, setgid
            for mount in volumes.values():
                if mount.source and not mount.read_only:
                    os.chown(mount.source, -1, fs_group)
                    os.chmod(mount.source, os.stat(mount.source).st_mode | 0o2070)
        return volumes

    def _automounts_token(self, pod_spec: dict) -> bool:
        if "automountServiceAccountToken" in pod_spec:
            return bool(pod_spec["automountServiceAccountToken"])
        name = pod_spec.get("serviceAccountName", "default")
        accounts = [a for a in self.of_kind("ServiceAccount") if a["metadata"]["name"] == name]
        return accounts[0].get("automountServiceAccountToken", True) if accounts else True

    def _service_account(self, pod_spec: dict, pod_dir: pathlib.Path) -> pathlib.Path:
        """The projected token volume: a token, the namespace and a CA. No API server answers
        at KUBERNETES_SERVICE_HOST here; a client of it meets a refused connection."""
        path = pod_dir / "serviceaccount"
        if not path.exists():
            path.mkdir()
            name = pod_spec.get("serviceAccountName", "default")
            (path / "token").write_text(f"kubelet-test-token-for-{self.namespace}-{name}")
            (path / "namespace").write_text(self.namespace)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                            "/dev/null", "-out", str(path / "ca.crt"), "-subj", "/CN=kubelet-test",
                            "-days", "1"], check=True, capture_output=True)
            for item in path.iterdir():
                item.chmod(0o644)
        return path

    def _etc_files(self, workload: dict, pod: str, pod_dir: pathlib.Path) -> None:
        # the kubelet's /etc/hosts (with cluster DNS's answers folded in) and /etc/hostname
        pod_spec = workload["spec"]["template"]["spec"]
        own = [pod]
        subdomain = workload["spec"].get("serviceName") or pod_spec.get("subdomain")
        if subdomain:
            own.insert(0, f"{pod}.{subdomain}.{self.namespace}.svc.cluster.local")
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 f"{self.pod_ip}\t{' '.join(own)}"]
        lines += [f"{ip}\t{name}" for name, ip in self.hosts().items()]
        (pod_dir / "hosts").write_text("\n".join(lines) + "\n")
        (pod_dir / "hostname").write_text(pod + "\n")

    def _container(self, workload: dict, container: dict, pod: str, pod_dir: pathlib.Path,
                   volumes: dict[str, Mount]) -> Container:
        pod_spec = workload["spec"]["template"]["spec"]
        psc, csc = pod_spec.get("securityContext", {}), container.get("securityContext", {})
        env = self.env(workload, container, pod)
        if "command" in container:
            argv = container["command"] + container.get("args", [])
        else:
            argv = self.image.entrypoint + container.get("args", self.image.cmd)
        argv = [expand(a, env) for a in argv]
        uid = csc.get("runAsUser", psc.get("runAsUser", int(self.image.user)))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", 0 if uid == 0 else uid))
        if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0:
            raise PermissionError(f"{pod}/{container['name']}: runAsNonRoot, but it runs as uid 0")
        groups = [g for g in [psc.get("fsGroup"), *psc.get("supplementalGroups", [])] if g is not None]
        mounts = []
        for vm in container.get("volumeMounts", []):
            volume = volumes[vm["name"]]
            source = volume.source
            if vm.get("subPath"):
                source = str(pathlib.Path(source) / vm["subPath"])
                os.makedirs(source, exist_ok=True)
            mounts.append(Mount(vm["mountPath"], source, vm.get("readOnly", False) or volume.read_only,
                                volume.tmpfs_size))
        targets = {m.target for m in mounts}
        if self._automounts_token(pod_spec) and SERVICE_ACCOUNT not in targets:
            mounts.append(Mount(SERVICE_ACCOUNT, str(self._service_account(pod_spec, pod_dir)),
                                read_only=True))
        if "/dev/shm" not in targets:  # the runtime's own
            mounts.append(Mount("/dev/shm", tmpfs_size=64 * 2**20))
        if "/tmp" not in targets:  # the image's /tmp: the container's own, not this machine's
            tmp = pod_dir / f"{container['name']}-tmp"
            tmp.mkdir()
            tmp.chmod(0o1777)
            mounts.append(Mount("/tmp", str(tmp), read_only=csc.get("readOnlyRootFilesystem", False)))
        home = self.image.env.get("HOME", "")
        owner = int(self.image.home_owner or self.image.user)
        image_dirs = [(home, owner, owner)] if home else []
        limit = container.get("resources", {}).get("limits", {}).get("memory")
        privileged = csc.get("privileged", False)
        return Container(
            pod=pod, workload=workload, spec=container, argv=argv, env=env,
            workdir=container.get("workingDir") or str(ROOT),  # the image's WORKDIR, mapped
            uid=uid, gid=gid, groups=groups, privileged=privileged,
            read_only_root=csc.get("readOnlyRootFilesystem", False),
            no_new_privs=csc.get("allowPrivilegeEscalation", True) is False,
            mounts=[*mounts, Mount("/etc/hosts", str(pod_dir / "hosts")),
                    Mount("/etc/hostname", str(pod_dir / "hostname"))],
            image_dirs=image_dirs, memory_limit=quantity(limit) if limit else 0,
            cpu_limit_millis=_millicores(container.get("resources", {}).get("limits", {}).get("cpu")),
            cgroup=f"{CGROUP_PARENT}/run-{os.getpid()}/{pod}-{container['name']}",
            log=pod_dir / f"{container['name']}.log")


# --- running them ---------------------------------------------------------------------------

class Kubelet:
    """Starts containers in one pod network, runs their probes and exec commands, and removes
    every process, cgroup and directory it made, whatever happened."""

    def __init__(self, cluster: Cluster, tmp: pathlib.Path) -> None:
        self.cluster = cluster
        self.tmp = tmp
        self.holder: subprocess.Popen | None = None
        self.containers: list[Container] = []

    @property
    def netns(self) -> str:
        assert self.holder is not None
        return f"/proc/{self.holder.pid}/ns/net"

    def start_network(self) -> None:
        _sweep_cgroups()
        # a process that only holds the namespace; everything else joins it
        self.holder = subprocess.Popen([sys.executable, "-m", "tests.kubelet", "hold"], cwd=ROOT,
                                       env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 10
        while os.readlink(self.netns) == os.readlink("/proc/self/ns/net"):
            if time.monotonic() > deadline or self.holder.poll() is not None:
                raise RuntimeError("the pod network namespace was not made")
            time.sleep(0.01)
        self.in_network(["ip", "link", "set", "lo", "up"])
        for rule in self.cluster.proxy_rules():
            self.in_network(["iptables", "-w", "5", *rule])

    def in_network(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        """A command in the pod network (not in any container), as the kubelet's probes are."""
        kwargs.setdefault("check", True)
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(["nsenter", f"--net={self.netns}", "--", *argv], cwd=ROOT,
                              env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}, **kwargs)

    def start(self, container: Container) -> None:
        container.netns = self.netns
        spec = self.tmp / f"{container.pod}-{container.name}.json"
        spec.write_text(json.dumps(container.to_json()))
        with open(container.log, "ab") as log:
            container.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.kubelet", "start", str(spec)], cwd=ROOT,
                env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log)
        self.containers.append(container)

    @staticmethod
    def pid(container: Container) -> int:
        """The container's main process (PID 1 of its namespace), below the shim."""
        assert container.proc is not None
        shim = container.proc.pid
        children = pathlib.Path(f"/proc/{shim}/task/{shim}/children").read_text().split()
        if not children:
            raise AssertionError(f"{container.pod}/{container.name} is not running")
        return int(children[0])

    def exec(self, container: Container, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        """`kubectl exec`: argv in the container's namespaces, cgroup, user and environment."""
        assert container.proc is not None
        spec = self.tmp / f"{container.pod}-{container.name}.json"
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            [sys.executable, "-m", "tests.kubelet", "exec", str(spec), str(self.pid(container)),
             "--", *argv], cwd=ROOT, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
            text=True, **kwargs)

    def probe(self, container: Container, probe: dict) -> tuple[bool, str]:
        """One probe as the kubelet runs it: gRPC health Check, HTTP GET (200-399) or exec."""
        timeout = probe.get("timeoutSeconds", 1)
        if "grpc" in probe:
            port, service = probe["grpc"]["port"], probe["grpc"].get("service", "")
            done = self.in_network([sys.executable, "-m", "tests.kubelet", "grpc-probe",
                                    str(port), service, str(timeout)], check=False)
            return done.returncode == 0, (done.stdout + done.stderr).strip()
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self._port(container, get["port"])
            scheme, host = get.get("scheme", "HTTP").lower(), get.get("host", self.cluster.pod_ip)
            url = f"{scheme}://{host}:{port}{get.get('path', '/')}"
            done = self.in_network([sys.executable, "-m", "tests.kubelet", "http-probe", url,
                                    str(timeout)], check=False)
            return done.returncode == 0, (done.stdout + done.stderr).strip()
        if "tcpSocket" in probe:
            port = self._port(container, probe["tcpSocket"]["port"])
            done = self.in_network([sys.executable, "-m", "tests.kubelet", "tcp-probe",
                                    self.cluster.pod_ip, str(port), str(timeout)], check=False)
            return done.returncode == 0, (done.stdout + done.stderr).strip()
        if "exec" in probe:
            proc = self.exec(container, probe["exec"]["command"])
            try:
                out, err = proc.communicate(timeout=timeout + 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                return False, "exec probe timed out"
            return proc.returncode == 0, (out + err).strip()
        raise LookupError(f"probe {probe}: not emulated")

    @staticmethod
    def _port(container: Container, port: int | str) -> int:
        if isinstance(port, int):
            return port
        for declared in container.spec.get("ports", []):
            if declared.get("name") == port:
                return declared["containerPort"]
        raise LookupError(f"{container.name}: no port named {port!r}")

    def wait_probe(self, container: Container, probe: dict, timeout: float) -> str:
        """Runs the probe, like the kubelet every periodSeconds (here as soon as one answers),
        until it passes; fails with what the last attempt said."""
        deadline = time.monotonic() + timeout
        while True:
            ok, said = self.probe(container, probe)
            if ok:
                return said
            if container.proc is not None and container.proc.poll() is not None:
                raise AssertionError(f"{container.pod}/{container.name} exited "
                                     f"({container.proc.returncode}):\n{self.log(container)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{container.pod}/{container.name}: probe {probe} never "
                                     f"passed ({said}):\n{self.log(container)}")
            time.sleep(0.3)

    def stop(self, container: Container, grace: float = 20) -> int | None:
        """SIGTERM, then after the grace period SIGKILL, then whatever is left in its cgroup."""
        proc = container.proc
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
        _kill_cgroup(container.cgroup)
        return code

    def close(self) -> None:
        for container in reversed(self.containers):
            with contextlib.suppress(Exception):
                self.stop(container, grace=10)
        for container in self.containers:
            _remove_cgroup(container.cgroup)
        _remove_cgroup(f"{CGROUP_PARENT}/run-{os.getpid()}")
        for controller in CONTROLLERS:
            with contextlib.suppress(OSError):
                (pathlib.Path("/sys/fs/cgroup") / controller / CGROUP_PARENT).rmdir()
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait()

    @staticmethod
    def log(container: Container) -> str:
        try:
            return container.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _groups(cgroup: str) -> list[pathlib.Path]:
    """A container's cgroups and every group below them, deepest first."""
    found = []
    for controller in CONTROLLERS:
        top = pathlib.Path("/sys/fs/cgroup") / controller / cgroup
        if top.is_dir():
            found += sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            found.append(top)
    return found


def _sweep_cgroups() -> None:
    """What a run killed outright left: its groups (named for its pid, now gone)."""
    for controller in CONTROLLERS:
        parent = pathlib.Path("/sys/fs/cgroup") / controller / CGROUP_PARENT
        for run in parent.glob("*") if parent.is_dir() else []:
            if not run.is_dir():
                continue
            pid = run.name.removeprefix("run-")
            if not pid.isdigit() or not pathlib.Path(f"/proc/{pid}").exists():
                _remove_cgroup(f"{CGROUP_PARENT}/{run.name}")


def _kill_cgroup(cgroup: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = set()
        for group in _groups(cgroup):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in (group / "cgroup.procs").read_text().split()}
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _remove_cgroup(cgroup: str) -> None:
    _kill_cgroup(cgroup)
    for group in _groups(cgroup):
        with contextlib.suppress(OSError):
            group.rmdir()


# --- inside the namespaces (run as `python -m tests.kubelet start|exec|...`) ----------------

def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def encode(value: str | None) -> bytes | None:
        return value.encode() if value is not None else None

    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags),
                       encode(data)), f"mount {source} {target}")


def _join_cgroup(spec: dict, create: bool) -> None:
    for controller in CONTROLLERS:
        group = pathlib.Path("/sys/fs/cgroup") / controller / spec["cgroup"]
        if create:
            group.mkdir(parents=True, exist_ok=True)
            if controller == "memory" and spec["memory_limit"]:
                (group / "memory.limit_in_bytes").write_text(str(spec["memory_limit"]))
            if controller == "cpu" and spec["cpu_limit_millis"]:  # as the kubelet sets CFS quota
                (group / "cpu.cfs_period_us").write_text("100000")
                (group / "cpu.cfs_quota_us").write_text(str(spec["cpu_limit_millis"] * 100))
        (group / "cgroup.procs").write_text(str(os.getpid()))


def _overlay_for(path: pathlib.Path, scratch: pathlib.Path, made: set[str]) -> None:
    """Makes `path` (a directory of the image) in an overlay on its nearest existing ancestor,
    so nothing is written to this machine's own directories."""
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    inside = any(str(ancestor) == m or str(ancestor).startswith(m + "/") for m in made)
    if not inside and ancestor != pathlib.Path("/"):
        upper = scratch / f"upper{len(made)}"
        work = scratch / f"work{len(made)}"
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        _run("mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={ancestor},upperdir={upper},workdir={work}", str(ancestor))
        made.add(str(ancestor))
    path.mkdir(parents=True, exist_ok=True)


def _start(spec_path: str) -> None:
    spec = json.loads(pathlib.Path(spec_path).read_text())
    _join_cgroup(spec, create=True)
    setns(spec["netns"], CLONE_NEWNET)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID), "unshare")
    _shim()  # what goes on is the container's PID 1
    socket.sethostname(spec["pod"])
    _run("mount", "--make-rprivate", "/")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # its own processes
    scratch = pathlib.Path(spec_path).with_suffix(".rootfs")
    made: set[str] = set()
    for path, uid, gid in spec["image_dirs"]:
        if not pathlib.Path(path).exists():
            _overlay_for(pathlib.Path(path), scratch, made)
            os.chown(path, uid, gid)
    for mount in spec["mounts"]:
        target = pathlib.Path(mount["target"])
        if not target.exists():  # the runtime makes missing mount points
            if mount["source"] and pathlib.Path(mount["source"]).is_file():
                _overlay_for(target.parent, scratch, made)
                target.touch()
            else:
                _overlay_for(target, scratch, made)
    if spec["uid"] != 0:
        _interpreter_for_everyone()
    if spec["privileged"]:  # its own cgroup as its /sys/fs/cgroup/<controller>
        for controller in CONTROLLERS:
            _run("mount", "--bind", f"/sys/fs/cgroup/{controller}/{spec['cgroup']}",
                 f"/sys/fs/cgroup/{controller}")
    # which mounts a read-only root (or a non-privileged /sys) makes read-only; listed before
    # the volumes go on top, and remounted after (a bind of a read-only mount's directory
    # would be read-only too)
    targets = {m["target"] for m in spec["mounts"]}
    read_only = []
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(("/proc", "/dev")) or point in targets:
            continue
        if point.startswith("/sys") and not spec["privileged"]:
            read_only.append(point)
        elif not point.startswith("/sys") and spec["read_only_root"]:
            read_only.append(point)
    # the sources are opened first: a volume mounted at /tmp may cover where the others are
    sources = {i: os.open(m["source"], os.O_PATH) for i, m in enumerate(spec["mounts"])
               if m["source"] and not m["tmpfs_size"]}
    # This checkout (the image's WORKDIR and, with its venv, its /opt/venv) may lie below a
    # volume's mountPath: a clone under /tmp is hidden by the control plane's /tmp emptyDir.
    # The image has its code outside its volumes, so the checkout goes back on top, read-only.
    covered = any(ROOT == pathlib.Path(t) or pathlib.Path(t) in ROOT.parents for t in targets)
    checkout = os.open(ROOT, os.O_PATH) if covered else None
    for i, mount in enumerate(spec["mounts"]):
        if i in sources:
            _mount(f"/proc/self/fd/{sources[i]}", mount["target"], None, MS_BIND)
        else:
            size = f",size={mount['tmpfs_size']}" if mount["tmpfs_size"] else ""
            _mount("tmpfs", mount["target"], "tmpfs", 0, "mode=1777" + size)
        if mount["read_only"]:
            _mount(None, mount["target"], None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    for fd in sources.values():
        os.close(fd)
    if checkout is not None:
        ROOT.mkdir(parents=True, exist_ok=True)
        _mount(f"/proc/self/fd/{checkout}", str(ROOT), None, MS_BIND)
        _mount(None, str(ROOT), None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(checkout)
    for point in read_only:  # per mount (bind), in this namespace only; never the superblock
        subprocess.run(["mount", "-o", "remount,bind,ro", point], capture_output=True, check=False)
    _become(spec, spec["argv"])


def _interpreter_for_everyone() -> None:
    """The image's Python is Debian's, under /usr, which every user may run; this machine's
    venv interpreter may live below a directory only root may enter (pyenv under /root). In the
    container's view that directory is an empty one anyone may pass, holding only the
    interpreter's prefix, read-only."""
    prefix = pathlib.Path(sys.base_prefix).resolve()
    closed = next((a for a in reversed(prefix.parents) if a != pathlib.Path("/")
                   and not os.stat(a).st_mode & 0o001), None)
    if closed is None:
        return
    keep = os.open(prefix, os.O_PATH)
    _mount("tmpfs", str(closed), "tmpfs", 0, "mode=0755,size=1m")
    prefix.mkdir(parents=True)
    _mount(f"/proc/self/fd/{keep}", str(prefix), None, MS_BIND)
    _mount(None, str(prefix), None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    os.close(keep)


def _exec(spec_path: str, pid: str, argv: list[str]) -> None:
    spec = json.loads(pathlib.Path(spec_path).read_text())
    _join_cgroup(spec, create=False)
    setns(f"/proc/{pid}/ns/net", CLONE_NEWNET)
    setns(f"/proc/{pid}/ns/uts", CLONE_NEWUTS)
    setns(f"/proc/{pid}/ns/pid", CLONE_NEWPID)
    setns(f"/proc/{pid}/ns/mnt", CLONE_NEWNS)
    _shim()
    _become(spec, argv)


def _shim() -> None:
    """Forks into the pid namespace just made or joined: the child goes on in it; this process
    stays outside, as a runtime's shim, passing signals on and exiting as the child does."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    child = os.fork()
    if child == 0:
        return
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2):
        signal.signal(sig, lambda number, _frame: os.kill(child, number))
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _become(spec: dict, argv: list[str]) -> None:
    os.chdir(spec["workdir"])
    os.setgroups(spec["groups"])
    os.setgid(spec["gid"])
    if spec["uid"] != 0:
        os.setuid(spec["uid"])
    if spec["no_new_privs"]:
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    # a test killed outright leaves nothing running (set last: a change of uid clears it)
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    env = spec["env"]
    binary = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env.get("PATH", DEBIAN_PATH))
    if binary is None:
        sys.exit(f"{argv[0]}: not found in the container's PATH {env.get('PATH')}")
    os.execve(binary, argv, env)


def _grpc_probe(port: str, service: str, timeout: str) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=float(timeout))
        except grpc.RpcError as err:
            sys.exit(f"grpc probe: {err.code().name} {err.details()}")
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(status)
    sys.exit(0 if status == "SERVING" else 1)


def _http_probe(url: str, timeout: str) -> None:
    import urllib.error
    import urllib.request

    try:  # the kubelet follows no redirect elsewhere and counts 200-399 as success
        with urllib.request.urlopen(url, timeout=float(timeout)) as answer:  # noqa: S310 - loopback
            status = answer.status
    except urllib.error.HTTPError as err:
        status = err.code
        print(err.read()[:500].decode(errors="replace"))
    except OSError as err:
        sys.exit(f"http probe: {err}")
    print(status)
    sys.exit(0 if 200 <= status < 400 else 1)


def _tcp_probe(host: str, port: str, timeout: str) -> None:
    try:
        socket.create_connection((host, int(port)), timeout=float(timeout)).close()
    except OSError as err:
        sys.exit(f"tcp probe: {err}")


def _hold() -> None:
    """Holds the pod network namespace until the kubelet (or the test, dying) ends it."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    _check(_libc.unshare(CLONE_NEWNET), "unshare")
    while True:
        signal.pause()


def main(argv: list[str]) -> None:
    command, rest = argv[0], argv[1:]
    if command == "hold":
        _hold()
    elif command == "start":
        _start(rest[0])
    elif command == "exec":
        _exec(rest[0], rest[1], rest[3:] if rest[2] == "--" else rest[2:])
    elif command == "grpc-probe":
        _grpc_probe(*rest)
    elif command == "http-probe":
        _http_probe(*rest)
    elif command == "tcp-probe":
        _tcp_probe(*rest)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
