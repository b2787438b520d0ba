"""An in-memory Kubernetes API (kmock's emulator) on 127.0.0.1, in a thread of its own so that
synchronous tests and other processes (a control plane) can call it, plus the one piece of
Kubernetes the autoscaler relies on: a ReplicaSet controller that adds and removes node pods
as the Deployment's replicas say, removing the lowest pod-deletion-cost first."""

from __future__ import annotations

import asyncio
import pathlib
import threading
from collections.abc import Callable
from typing import Any

import kmock
import kubernetes

from controlplane.node_autoscaler import DELETION_COST

NAMESPACE, DEPLOYMENT = "bp", "browserplane-node"
SELECTOR = "app.kubernetes.io/component=node"


class KubeApi:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.emulator: kmock.KubernetesEmulator | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with kmock.KubernetesEmulator() as emulator, \
                kmock.Server(emulator, host="127.0.0.1", port=self.port or None) as server:
            self.emulator, self.port = emulator, server.port
            self._ready.set()
            await self._stopping.wait()

    def start(self, replicas: int) -> KubeApi:
        self._thread.start()
        assert self._ready.wait(30), "kmock did not start"
        self.emulator.objects["apps/v1/deployments", NAMESPACE, DEPLOYMENT] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "resourceVersion": "1"},
            "spec": {"replicas": replicas},
            # as the scale subresource shows it: the pods' label selector as a string
            "status": {"replicas": replicas, "selector": SELECTOR},
        }
        self.emulator.resources["v1/pods"] = {}
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    def in_loop(self, fn: Callable[[], Any]) -> Any:
        """Runs fn on the emulator's loop (its objects are that loop's)."""
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def kubeconfig(self, path: pathlib.Path) -> pathlib.Path:
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: kmock, cluster: {{server: 'http://127.0.0.1:{self.port}'}}}}]\n"
            "users: [{name: test, user: {token: test-token}}]\n"
            "contexts: [{name: test, context: {cluster: kmock, user: test, namespace: bp}}]\n"
            "current-context: test\n")
        return path

    # -- what the test reads, through the real client, like any other API user --------------

    def client(self) -> tuple[Any, Any]:
        config = kubernetes.client.Configuration()
        config.host = f"http://127.0.0.1:{self.port}"
        api = kubernetes.client.ApiClient(config)
        return kubernetes.client.AppsV1Api(api), kubernetes.client.CoreV1Api(api)

    def replicas(self) -> int:
        """Read from the emulator's store, not over HTTP: the errors a test injects into the
        API are for the control plane."""
        deployment = self.in_loop(
            lambda: self.emulator.objects["apps/v1/deployments", NAMESPACE, DEPLOYMENT].raw)
        return int(deployment["spec"]["replicas"])

    def pods(self) -> dict[str, dict[str, str]]:
        _, core = self.client()
        return {p.metadata.name: dict(p.metadata.annotations or {})
                for p in core.list_namespaced_pod(NAMESPACE).items}

    def scale_requests(self, method: str) -> list[Any]:
        return [r for r in list(self.emulator)
                if r.method.value == method and str(r.url.path).endswith(f"/{DEPLOYMENT}/scale")]


class ReplicaSetController:
    """Keeps one pod per replica, like the ReplicaSet controller: new pods start a node named
    after the pod; when replicas drop, the pods with the lowest deletion cost go."""

    def __init__(self, api: KubeApi, start_node: Callable[[str], Any],
                 stop_node: Callable[[str], None]) -> None:
        self.api, self.start_node, self.stop_node = api, start_node, stop_node
        self.serial = 0
        self.removed: list[tuple[str, str | None]] = []  # (pod, its deletion cost then)

    def reconcile(self) -> None:
        _, core = self.api.client()
        want = self.api.replicas()
        pods = self.api.pods()
        while len(pods) < want:
            self.serial += 1
            name = f"{DEPLOYMENT}-{self.serial}"
            core.create_namespaced_pod(NAMESPACE, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": NAMESPACE,
                             "labels": {"app.kubernetes.io/component": "node"}},
                "spec": {"containers": [{"name": "node", "image": "browserplane:latest"}]}})
            self.start_node(name)
            pods[name] = {}
        if len(pods) > want:
            # lowest cost first (unannotated = 0), then the newest, as the controller ranks them
            ranked = sorted(pods, key=lambda p: (int(pods[p].get(DELETION_COST, "0")),
                                                 -int(p.rsplit("-", 1)[1])))
            for name in ranked[:len(pods) - want]:
                self.removed.append((name, pods[name].get(DELETION_COST)))
                core.delete_namespaced_pod(name, NAMESPACE)
                self.stop_node(name)
