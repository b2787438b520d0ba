"""The node autoscaler: sizes the node Deployment from demand, through the Kubernetes API.

Demand is what the control plane itself knows: live sessions (placed or queued) plus one warm
pool of headroom, over the capacity of a node. The target goes up at once; it comes down only
after demand has stayed lower for --scale-down-delay, and then only by nodes that are empty:
those are drained here (no new placements) and their pods get a low
`controller.kubernetes.io/pod-deletion-cost`, every other node pod a higher one, so the
ReplicaSet controller removes exactly the drained, empty pods when replicas drop. A node pod's
name is its node id (k8s/base/node.yaml sets BROWSERPLANE_NODE_NODE_ID from metadata.name).

Kubernetes calls are the official client's (blocking) and run in a thread; every failure (a
409, a 5xx, an unreachable API server) is logged, counted and retried on a later tick with
backoff. Nothing here may stop the control plane.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import pathlib
import time
from typing import TYPE_CHECKING, Any

from controlplane import metrics

if TYPE_CHECKING:
    from controlplane.server import ControlPlane

log = logging.getLogger(__name__)

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
EMPTY_COST = -1000  # a drained, empty node: the pod to remove
BUSY_COST = 1000  # plus its sessions: the more it runs, the later it goes
MAX_BACKOFF_S = 60.0
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
REQUEST_TIMEOUT = (3, 10)  # connect, read: a hung API server must not hold the tick for long


@dataclasses.dataclass(frozen=True)
class Demand:
    """What the node pool must hold, in browsers, and what one node holds."""

    running: int  # sessions placed on a node (starting or running)
    queued: int  # create requests waiting for a slot
    warm: int  # one warm pool of headroom, so the next creates start warm
    capacity: int  # browsers per node

    @property
    def sessions(self) -> int:
        return self.running + self.queued + self.warm

    def nodes(self, low: int, high: int) -> int:
        return max(low, min(high, math.ceil(self.sessions / max(1, self.capacity))))


def demand_of(plane: ControlPlane) -> Demand:
    """The demand figure from the control plane's own state (shared with the KEDA scaler)."""
    running = sum(1 for s in plane.sessions.live.values() if s.node_id)
    queued = max(len(plane.sessions.queue),
                 sum(1 for s in plane.sessions.live.values() if not s.node_id))
    # Registered nodes say what they hold; before any has registered, the Deployment's
    # (the same BROWSERPLANE_NODE_CAPACITY / _POOL_SIZE the ConfigMap gives the nodes).
    sizes = [e.info.capacity for e in plane.registry.nodes.values() if e.info.up and e.info.capacity]
    capacity = (sum(sizes) // len(sizes)) if sizes else plane.settings.node_capacity
    warm = min(plane.settings.node_pool_size, capacity)
    return Demand(running, queued, max(0, warm), max(1, capacity))


class _ApiError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _classify(err: BaseException) -> _ApiError:
    from kubernetes.client.exceptions import ApiException

    if isinstance(err, ApiException):
        status = err.status or 0
        kind = "conflict" if status == 409 else "server" if status >= 500 or status == 0 \
            else "client"
        return _ApiError(kind, f"{status} {err.reason}")
    # urllib3's MaxRetryError / NewConnectionError / timeouts, DNS, TLS: the API is unreachable
    return _ApiError("unreachable", f"{type(err).__name__}: {str(err)[:300]}")


class KubernetesApi:
    """The three calls the autoscaler makes (k8s/base/rbac.yaml allows exactly these)."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name  # namespace "" = the control plane's own
        self._apps: Any = None
        self._core: Any = None

    def _clients(self) -> tuple[Any, Any]:
        if self._apps is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()
                own = pathlib.Path(SERVICE_ACCOUNT_NAMESPACE)
                namespace = own.read_text().strip() if own.exists() else "default"
            except config.ConfigException:
                config.load_kube_config()  # $KUBECONFIG, else ~/.kube/config
                _, context = config.list_kube_config_contexts()
                namespace = (context or {}).get("context", {}).get("namespace") or "default"
            self.namespace = self.namespace or namespace
            self._apps, self._core = client.AppsV1Api(), client.CoreV1Api()
        return self._apps, self._core

    def read_scale(self) -> tuple[int, str, str]:
        """The Deployment's replicas, its pods' label selector and the resourceVersion."""
        apps, _ = self._clients()
        scale = apps.read_namespaced_deployment_scale(self.name, self.namespace,
                                                      _request_timeout=REQUEST_TIMEOUT)
        selector = (scale.status.selector if scale.status else "") or ""
        return int(scale.spec.replicas or 0), selector, scale.metadata.resource_version or ""

    def set_replicas(self, replicas: int, resource_version: str) -> None:
        """Patches the scale subresource; with the resourceVersion read, so a change made
        meanwhile by someone else answers 409 instead of being overwritten."""
        apps, _ = self._clients()
        body: dict[str, Any] = {"spec": {"replicas": replicas}}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        apps.patch_namespaced_deployment_scale(self.name, self.namespace, body,
                                               _request_timeout=REQUEST_TIMEOUT)

    def pods(self, selector: str) -> dict[str, dict[str, str]]:
        """The Deployment's pods (name -> annotations), terminating ones left out."""
        _, core = self._clients()
        listed = core.list_namespaced_pod(self.namespace, label_selector=selector or None,
                                          _request_timeout=REQUEST_TIMEOUT)
        return {p.metadata.name: dict(p.metadata.annotations or {}) for p in listed.items
                if not p.metadata.deletion_timestamp}

    def set_cost(self, pod: str, cost: int) -> None:
        _, core = self._clients()
        core.patch_namespaced_pod(pod, self.namespace,
                                  {"metadata": {"annotations": {DELETION_COST: str(cost)}}},
                                  _request_timeout=REQUEST_TIMEOUT)


class NodeAutoscaler:
    """Runs in the control plane's event loop, one tick every --node-autoscaler-interval."""

    def __init__(self, plane: ControlPlane, api: KubernetesApi | None = None) -> None:
        s = plane.settings
        namespace, _, name = s.node_deployment.rpartition("/")
        if not name or "/" in namespace:
            raise SystemExit("control plane: --node-deployment must be NAME or NAMESPACE/NAME")
        if s.min_nodes < 0 or s.max_nodes < max(1, s.min_nodes) or s.node_autoscaler_interval <= 0 \
                or s.scale_down_delay < 0:
            raise SystemExit("control plane: the node autoscaler needs 0 <= --min-nodes <= "
                             "--max-nodes, --max-nodes >= 1, --node-autoscaler-interval > 0 "
                             "and --scale-down-delay >= 0")
        self.plane = plane
        self.api = api or KubernetesApi(namespace, name)
        self.low, self.high = s.min_nodes, s.max_nodes
        self.interval, self.delay = s.node_autoscaler_interval, s.scale_down_delay
        self.target = 0
        self.replicas: int | None = None
        self.lower_since: float | None = None  # demand below the replicas since (monotonic)
        self.drained: set[str] = set()  # drained for a removal not yet asked for (it failed)
        # drained, and the replicas lowered for them: they stay drained until their pod is gone
        self.removing: set[str] = set()
        self.failures = 0
        self._said_busy = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        log.info("node autoscaler started", extra={"fields": {
            "deployment": f"{self.api.namespace or '(own namespace)'}/{self.api.name}",
            "min_nodes": self.low,
            "max_nodes": self.high, "scale_down_delay": self.delay}})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass

    async def _run(self) -> None:
        while True:
            pause = self.interval
            try:
                await self.tick()
                self.failures = 0
            except _ApiError as err:
                self.failures += 1
                pause = min(MAX_BACKOFF_S, self.interval * 2 ** min(self.failures, 10))
                metrics.AUTOSCALER_API_ERRORS.labels(err.kind).inc()
                log.warning("node autoscaler: Kubernetes API call failed; retrying", extra={
                    "fields": {"error": err.kind, "detail": str(err), "retry_in": round(pause, 1),
                               "failures": self.failures}})
            except Exception:  # noqa: BLE001 - the control plane outlives any bug here
                self.failures += 1
                pause = min(MAX_BACKOFF_S, self.interval * 2 ** min(self.failures, 10))
                log.exception("node autoscaler tick failed")
            await asyncio.sleep(pause)

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except Exception as err:  # noqa: BLE001 - classified, then retried by _run
            raise _classify(err) from err

    def _decide(self, direction: str, reason: str, frm: int, to: int, demand: Demand,
                **fields: object) -> None:
        metrics.AUTOSCALER_DECISIONS.labels(direction, reason).inc()
        log.info(f"node autoscaler: scale {direction}", extra={"fields": {
            "direction": direction, "reason": reason, "from": frm, "to": to,
            "sessions": demand.running, "queued": demand.queued, "warm": demand.warm,
            "capacity": demand.capacity, **fields}})

    async def tick(self) -> None:
        demand = demand_of(self.plane)
        self.target = demand.nodes(self.low, self.high)
        metrics.AUTOSCALER_TARGET.set(self.target)
        metrics.AUTOSCALER_DEMAND.set(demand.sessions)
        replicas, selector, version = await self._call(self.api.read_scale)
        self.replicas = replicas
        metrics.AUTOSCALER_REPLICAS.set(replicas)
        if self.target >= replicas:
            self.lower_since = None
            await self._undrain(selector, "demand rose again")
            if self.target > replicas:
                reason = "below --min-nodes" if replicas < self.low else "demand"
                await self._call(self.api.set_replicas, self.target, version)
                self._decide("up", reason, replicas, self.target, demand,
                             capped=math.ceil(demand.sessions / demand.capacity) > self.high)
                self.replicas = self.target
                metrics.AUTOSCALER_REPLICAS.set(self.target)
            return
        now = time.monotonic()
        if self.lower_since is None:
            self.lower_since, self._said_busy = now, False
            log.info("node autoscaler: demand is below the replicas; scaling down after the "
                     "delay", extra={"fields": {"replicas": replicas, "target": self.target,
                                               "scale_down_delay": self.delay}})
        if now - self.lower_since < self.delay:
            return
        await self._scale_down(replicas, selector, version, demand, now - self.lower_since)

    async def _scale_down(self, replicas: int, selector: str, version: str, demand: Demand,
                          lower_for: float) -> None:
        pods = await self._call(self.api.pods, selector)
        # From here on no await until the drain: what is checked is what is drained.
        demand = demand_of(self.plane)
        self.target = demand.nodes(self.low, self.high)
        if self.target >= replicas:  # demand came back while the pods were listed
            return
        assigned = self.plane.sessions._assigned()
        nodes = self.plane.registry.nodes
        # Forget nodes that are gone (their pod was removed, or is terminating).
        self.drained = {n for n in self.drained if n in pods and n in nodes}
        self.removing = {n for n in self.removing if n in pods}
        # The emptiest first: nodes we already drained, then any empty one; never a node
        # with a session on it (or a slot promised to a create on its way).
        def busy(node_id: str) -> int:
            return assigned.get(node_id, 0) + nodes[node_id].reserved

        # (a pod already being removed is neither a candidate nor room: the replicas no longer
        # count it)
        registered = [n for n in pods if n in nodes and nodes[n].info.up and n not in self.removing]
        empty = sorted((n for n in registered if busy(n) == 0),
                       key=lambda n: (n not in self.drained, n))
        # Pods that are not (yet) a registered node, or not there at all (unschedulable), hold
        # no session, and the ReplicaSet removes pending and unready pods first anyway.
        spare = min(replicas - self.target, max(0, replicas - len(registered)))
        victims = empty[:replicas - self.target - spare]
        if not victims and not spare:
            if not self._said_busy:  # once per lower spell, not every tick
                self._said_busy = True
                log.info("node autoscaler: every node runs sessions; none removed", extra={
                    "fields": {"replicas": replicas, "target": self.target}})
            return
        # Drain first (in this same step of the loop, so no placement slips in between the
        # check above and here): no new session lands on them from now on.
        for node_id in victims:
            if not nodes[node_id].info.draining:
                nodes[node_id].info.draining = True
            self.drained.add(node_id)
        for pod, marks in pods.items():
            cost = EMPTY_COST if pod in victims or pod in self.removing \
                else BUSY_COST + busy(pod) if pod in nodes else BUSY_COST
            if marks.get(DELETION_COST) != str(cost):
                await self._call(self.api.set_cost, pod, cost)
        to = replicas - len(victims) - spare
        await self._call(self.api.set_replicas, to, version)
        self.removing.update(victims)
        self.drained.difference_update(victims)
        self._decide("down", "idle capacity", replicas, to, demand, nodes_removed=victims,
                     unregistered_removed=spare,
                     lower_for_seconds=round(lower_for, 1))
        self.replicas = to
        metrics.AUTOSCALER_REPLICAS.set(to)
        self.lower_since = None  # the next step down waits its own delay

    async def _undrain(self, selector: str, reason: str) -> None:
        """Nodes drained for a removal that was not asked for yet (the API refused it) take
        sessions again. Those the replicas were lowered for stay drained: their pods go."""
        if not self.drained:
            return
        pods = await self._call(self.api.pods, selector)
        for node_id in sorted(self.drained):
            entry = self.plane.registry.nodes.get(node_id)
            if entry is not None and entry.info.up and node_id in pods:  # not terminating
                entry.info.draining = False
                await self._call(self.api.set_cost, node_id, BUSY_COST)
                log.info("node autoscaler: node taken back into service", extra={"fields": {
                    "node": node_id, "reason": reason}})
            self.drained.discard(node_id)
