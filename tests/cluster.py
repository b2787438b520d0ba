"""Starts real Browserplane components as processes on loopback for the tests."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import grpc

from browserplane.credentials import cluster_metadata
from browserplane.grpc_server import sync_channel
from browserplane.tls import TlsFiles
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: pathlib.Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Proc:
        fh = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "browserplane_cli.main", *self.argv],
                                     env=self.env, stdout=fh, stderr=fh, cwd=ROOT)
        fh.close()
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class Cluster:
    """A control plane plus nodes (and optionally a gateway), each its own process."""

    def __init__(self, tmp: pathlib.Path, smtp: bool = False, tls: TlsFiles | None = None,
                 client_tls: TlsFiles | None = None, **cp_flags: object) -> None:
        """With `tls`, every component runs mutual TLS with those files (the test's own channel
        with `client_tls`, default the same)."""
        self.tmp = tmp
        self.tls = tls
        self.tls_flags = [f"--tls-cert={tls.cert}", f"--tls-key={tls.key}",
                          f"--tls-ca={tls.ca}"] if tls else []
        self.gateway_scheme = "http"
        self.secret = "test-cluster-secret"
        self.grpc_port = free_port()
        self.address = f"127.0.0.1:{self.grpc_port}"
        self.env = dict(os.environ, BROWSERPLANE_CLUSTER_SECRET=self.secret,
                        PYTHONUNBUFFERED="1")
        self.metrics_port = free_port()
        # The personas' SMTP receiver (in the control plane) on a free loopback port, or off.
        self.smtp_port = free_port() if smtp else 0
        self.cp_flags = {"lease-seconds": 3, "heartbeat-ms": 500, "metrics-port": self.metrics_port,
                         "smtp-port": self.smtp_port, **cp_flags}
        self.controlplane: Proc | None = None
        self.nodes: dict[str, Proc] = {}
        self.gateway: Proc | None = None
        self.gateway_port = 0
        self.channel = sync_channel(self.address, client_tls or tls)
        self.stub = controlplane_pb2_grpc.ControlPlaneStub(self.channel)

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return cluster_metadata(self.secret)

    def start_controlplane(self) -> Cluster:
        flags = [f"--{k}={v}" for k, v in self.cp_flags.items()]
        self.controlplane = Proc("controlplane", [
            "controlplane", "--grpc-port", str(self.grpc_port),
            "--data-dir", str(self.tmp / "cp"), *self.tls_flags, *flags], self.env,
            self.tmp / "controlplane.log").start()
        self.wait(lambda: self._answers(), 30, "control plane did not answer")
        return self

    def _answers(self) -> bool:
        try:
            self.stub.ListNodes(cp.ListNodesRequest(), metadata=self.admin, timeout=1)
            return True
        except grpc.RpcError:
            return False

    def start_node(self, name: str = "n1", capacity: int = 4, pool: int = 1,
                   labels: tuple[str, ...] = (), metrics_port: int = 0, *flags: str,
                   extra: tuple[str, ...] = ()) -> Proc:
        argv = ["node", "--control-plane", self.address, "--node-id", name,
                "--metrics-port", str(metrics_port),
                "--data-dir", str(self.tmp / name), "--capacity", str(capacity),
                "--pool-size", str(pool), *self.tls_flags, *flags]
        for label in labels:
            argv += ["--labels", label]
        argv += list(extra)
        proc = Proc(name, argv, self.env, self.tmp / f"{name}.log").start()
        self.nodes[name] = proc
        self.wait(lambda: self.node_up(name), 30, f"node {name} did not register")
        if pool:
            self.wait(lambda: self.node(name).warm_browsers >= pool, 30, "warm pool did not fill")
        return proc

    def start_gateway(self, *flags: str, https: tuple[str, str] | None = None) -> Proc:
        """`https`: (cert, key) the gateway serves HTTPS/WSS with (trusted through the CA)."""
        self.gateway_port = free_port()
        served = [f"--https-cert={https[0]}", f"--https-key={https[1]}"] if https else []
        self.gateway_scheme = "https" if https else "http"
        self.gateway = Proc("gateway", ["gateway", "--port", str(self.gateway_port),
                                        "--control-plane", self.address,
                                        "--cdp-host-suffix", "cdp.test", *self.tls_flags,
                                        *served, *flags],
                            self.env, self.tmp / "gateway.log").start()
        ca = self.tls.ca if self.tls else None
        self.wait(lambda: _http_ok(f"{self.gateway_url}/healthz", ca), 30, "gateway not healthy")
        return self.gateway

    @property
    def gateway_url(self) -> str:
        return f"{self.gateway_scheme}://127.0.0.1:{self.gateway_port}"

    def node(self, name: str) -> cp.Node:
        nodes = self.stub.ListNodes(cp.ListNodesRequest(), metadata=self.admin, timeout=5).nodes
        for n in nodes:
            if n.id == name:
                return n
        raise KeyError(name)

    def node_up(self, name: str) -> bool:
        try:
            return self.node(name).up
        except (KeyError, grpc.RpcError):
            return False

    def browsers_root(self, node: str = "n1") -> pathlib.Path:
        return self.tmp / node / "browsers"

    def create_key(self, project: str = "default") -> str:
        answer = self.stub.CreateApiKey(cp.CreateApiKeyRequest(project_name=project),
                                        metadata=self.admin, timeout=5)
        return answer.key

    @staticmethod
    def wait(predicate: object, timeout: float, message: str, interval: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            time.sleep(interval)
        raise AssertionError(message)

    def stop(self) -> None:
        if self.gateway:
            self.gateway.stop()
        for proc in self.nodes.values():
            proc.stop()
        if self.controlplane:
            self.controlplane.stop()
        self.channel.close()

    def logs(self) -> str:
        parts = []
        for proc in [self.controlplane, *self.nodes.values(), self.gateway]:
            if proc:
                parts.append(f"--- {proc.name} ---\n{proc.log()}")
        return "\n".join(parts)


def _http_ok(url: str, ca: str | None = None) -> bool:
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=ca) if ca else None
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            return response.status == 200
    return False


def session_dir(root: pathlib.Path, session_id: str) -> pathlib.Path | None:
    """The browser directory a node made for a session (it holds a `session` file)."""
    if not root.exists():
        return None
    for path in root.iterdir():
        marker = path / "session"
        if marker.exists() and marker.read_text() == session_id:
            return path
    return None
