"""`browserplane up | controlplane | node [drain] | gateway | model |
keys create|list|revoke|rotate | projects limit`."""

from __future__ import annotations

import os

# Before grpc is imported: browsers are exec'd right after fork, gRPC's fork handlers only
# add noise ("skipping fork() handlers") in the node.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import argparse  # noqa: E402
import asyncio
import contextlib
import logging
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from browserplane import logs, settings
from browserplane.credentials import cluster_metadata, load_or_create_secret
from browserplane.settings import default_data_dir
from browserplane_cli.up_metrics import UpMetrics

log = logging.getLogger("browserplane.cli")


def _run_component(component: str, level: str, build: Callable[[], Any]) -> None:
    """Runs one component's start/close pair until SIGTERM or SIGINT, on uvloop."""
    logs.setup(component, level)

    async def main() -> None:
        service = build()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await service.start()
        await stop.wait()
        log.info("stopping", extra={"fields": {"component": component}})
        await service.close()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def cmd_controlplane(args: argparse.Namespace) -> None:
    from controlplane.server import ControlPlane, ControlPlaneSettings

    cfg = settings.load(ControlPlaneSettings, args)
    _run_component("controlplane", cfg.log_level, lambda: ControlPlane(cfg))


def cmd_node(args: argparse.Namespace) -> None:
    from node.agent import NodeAgent, NodeSettings

    cfg = settings.load(NodeSettings, args)
    _run_component("node", cfg.log_level, lambda: NodeAgent(cfg))


def _add_tls_client_arguments(p: argparse.ArgumentParser, peer: str) -> None:
    """`--tls-cert/--tls-key/--tls-ca/--tls-server-name` of a CLI command that dials gRPC, with
    the components' `BROWSERPLANE_TLS_*` variables as defaults (a node pod's preStop has them)."""
    for name, what in (("cert", "PEM client certificate"), ("key", "its PEM private key"),
                       ("ca", "PEM CA bundle the server's certificate chains to"),
                       ("server-name", "name expected in its certificate (default: the "
                                       "address)")):
        env = f"BROWSERPLANE_TLS_{name.upper().replace('-', '_')}"
        p.add_argument(f"--tls-{name}", default=os.environ.get(env, ""),
                       help=f"mutual TLS to {peer}: {what} (env {env})")


def _tls_client_channel(args: argparse.Namespace, target: str, command: str) -> Any:
    from browserplane.grpc_server import sync_channel
    from browserplane.tls import TlsFiles

    return sync_channel(target, TlsFiles.of(args, command))


def cmd_node_drain(args: argparse.Namespace) -> None:
    """No new sessions on a node (its own Drain, or the control plane's DrainNode); with --wait,
    returns once its sessions have ended (exit 1 if --timeout passes first)."""
    import grpc

    from browserplane import errors
    from browserplane.v1 import controlplane_pb2 as cp
    from browserplane.v1 import controlplane_pb2_grpc, node_pb2, node_pb2_grpc

    if bool(args.node) == bool(args.control_plane):
        raise SystemExit("node drain: name the node (--node HOST:PORT) or the control plane "
                         "(--control-plane HOST:PORT with --node-id)")
    if args.control_plane and not args.node_id:
        raise SystemExit("node drain --control-plane needs --node-id")
    secret = os.environ.get("BROWSERPLANE_CLUSTER_SECRET", "")
    if not secret:
        raise SystemExit("node drain needs BROWSERPLANE_CLUSTER_SECRET")
    md = cluster_metadata(secret)
    channel = _tls_client_channel(args, args.node or args.control_plane, "node drain")
    try:
        if args.node:
            agent = node_pb2_grpc.NodeAgentStub(channel)
            live = agent.Drain(node_pb2.DrainRequest(), metadata=md, timeout=10).live_sessions

            def sessions() -> int:
                return len(agent.ListBrowsers(node_pb2.ListBrowsersRequest(), metadata=md,
                                              timeout=10).browsers)
        else:
            plane = controlplane_pb2_grpc.ControlPlaneStub(channel)
            plane.DrainNode(cp.DrainNodeRequest(node_id=args.node_id), metadata=md, timeout=10)

            def sessions() -> int:
                nodes = plane.ListNodes(cp.ListNodesRequest(), metadata=md, timeout=10).nodes
                return next((n.live_sessions for n in nodes if n.id == args.node_id), 0)

            live = sessions()
        print(f"draining: {live} live session(s)", flush=True)
        if not args.wait:
            return
        deadline = time.monotonic() + args.timeout
        while live:
            if time.monotonic() >= deadline:
                raise SystemExit(f"node drain: {live} session(s) still live after {args.timeout:g}s")
            time.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))
            try:
                live = sessions()
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE:  # a blip is waited out
                    raise
        print("drained: no live sessions", flush=True)
    except grpc.RpcError as err:
        raise SystemExit(f"node drain: {errors.describe(err).message}") from None
    finally:
        channel.close()


def cmd_gateway(args: argparse.Namespace) -> None:
    from gateway.app import Gateway, GatewaySettings

    cfg = settings.load(GatewaySettings, args)
    _run_component("gateway", cfg.log_level, lambda: Gateway(cfg))


def cmd_model(args: argparse.Namespace) -> None:
    from modelserver.llama import ModelServerSettings, serve

    cfg = settings.load(ModelServerSettings, args)
    logs.setup("model", cfg.log_level)
    serve(cfg)


class KeyAdmin:
    """Key commands against the local data dir's store, or a control plane over gRPC (with the
    cluster secret). Revoking through gRPC takes effect at once; through the local store the
    running control plane sees it within a second (it caches key lookups that long)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.remote = args.control_plane
        if self.remote:
            from browserplane.v1 import controlplane_pb2_grpc

            secret = os.environ.get("BROWSERPLANE_CLUSTER_SECRET", "")
            if not secret:
                raise SystemExit("keys --control-plane needs BROWSERPLANE_CLUSTER_SECRET")
            self.channel = _tls_client_channel(args, self.remote, "keys")
            self.stub = controlplane_pb2_grpc.ControlPlaneStub(self.channel)
            self.md = cluster_metadata(secret)
        else:
            from controlplane.keys import KeyRing
            from controlplane.store import Store

            data_dir = pathlib.Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
            self.store = Store(data_dir / "controlplane.sqlite3")
            self.ring = KeyRing(self.store, "")

    def call(self, remote: Callable[[], Any], local: Callable[[], Any]) -> Any:
        import grpc

        from browserplane import errors

        try:
            return remote() if self.remote else local()
        except grpc.RpcError as err:
            raise SystemExit(f"error: {errors.describe(err).message}") from None
        except errors.BrowserplaneError as err:
            raise SystemExit(f"error: {err.message}") from None

    def close(self) -> None:
        if self.remote:
            self.channel.close()
        else:
            self.store.close()


def _expires_at(text: str) -> float | None:
    """`--expires-in` as unix seconds: 3600, 90s, 15m, 12h, 30d; empty = never."""
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    if not number.isdigit() or int(number) == 0:
        raise SystemExit(f"--expires-in: expected a duration such as 3600, 15m, 12h or 30d, got {text!r}")
    return time.time() + int(number) * units[unit]


def _stamp(when: float | None) -> Any:
    from browserplane.times import timestamp

    return timestamp(when) if when is not None else None


def _print_new_key(answer: tuple[str, Any, Any]) -> None:
    key, project, record = answer
    print(key)
    expires = f", expires {_when(record.expires_at)}" if record.HasField("expires_at") else ""
    print(f"id: {record.id}; project: {project.name} ({project.id}){expires}", file=sys.stderr)


def _when(stamp: Any) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp.seconds)) if stamp.seconds else "-"


def cmd_keys_create(args: argparse.Namespace) -> None:
    """Creates a key in the local data dir, or through a remote control plane."""
    from browserplane.v1 import controlplane_pb2 as cp

    expires = _expires_at(args.expires_in)
    admin = KeyAdmin(args)
    try:
        def remote() -> tuple[str, Any, Any]:
            answer = admin.stub.CreateApiKey(cp.CreateApiKeyRequest(
                project_name=args.project, expires_at=_stamp(expires)), metadata=admin.md, timeout=10)
            return answer.key, answer.project, answer.api_key

        _print_new_key(admin.call(remote, lambda: admin.ring.create_key(args.project, expires)))
    finally:
        admin.close()


def cmd_keys_list(args: argparse.Namespace) -> None:
    from browserplane.v1 import controlplane_pb2 as cp

    admin = KeyAdmin(args)
    try:
        keys = admin.call(
            lambda: admin.stub.ListApiKeys(cp.ListApiKeysRequest(
                project_name=args.project, include_inactive=args.all), metadata=admin.md,
                timeout=10).keys,
            lambda: admin.ring.list_keys(args.project, args.all))
    finally:
        admin.close()
    rows = [("ID", "PREFIX", "PROJECT", "CREATED", "EXPIRES", "STATUS")]
    for k in keys:
        state = "active" if k.active else ("revoked" if k.HasField("revoked_at") else "expired")
        rows.append((k.id, k.prefix + "…", k.project_name, _when(k.created_at), _when(k.expires_at),
                     state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_keys_revoke(args: argparse.Namespace) -> None:
    from browserplane.v1 import controlplane_pb2 as cp

    admin = KeyAdmin(args)
    try:
        key = admin.call(
            lambda: admin.stub.RevokeApiKey(cp.RevokeApiKeyRequest(id=args.id), metadata=admin.md,
                                            timeout=10),
            lambda: admin.ring.revoke(args.id))
    finally:
        admin.close()
    print(f"revoked {key.id} ({key.prefix}…, project {key.project_name})")


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    from browserplane.v1 import controlplane_pb2 as cp

    expires = _expires_at(args.expires_in)
    admin = KeyAdmin(args)
    try:
        def remote() -> tuple[str, Any, Any]:
            answer = admin.stub.RotateApiKey(cp.RotateApiKeyRequest(
                id=args.id, expires_at=_stamp(expires), grace_seconds=args.grace),
                metadata=admin.md, timeout=10)
            return answer.key, answer.project, answer.api_key

        _print_new_key(admin.call(remote, lambda: admin.ring.rotate(args.id, expires, args.grace)))
    finally:
        admin.close()
    print(f"the old key {'stops in ' + str(args.grace) + ' s' if args.grace else 'stopped working'}",
          file=sys.stderr)


def cmd_projects_limit(args: argparse.Namespace) -> None:
    """Sets a project's concurrent-session limit in the local control plane's store."""
    from controlplane.keys import KeyRing
    from controlplane.store import Store

    if args.max_concurrent < 0:
        raise SystemExit("--max-concurrent must be 0 (unlimited) or more")
    data_dir = pathlib.Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    store = Store(data_dir / "controlplane.sqlite3")
    project = KeyRing(store, "").project(args.project)
    store.set_project_limit(project.id, args.max_concurrent)
    store.close()
    print(f"project {project.name} ({project.id}): at most {args.max_concurrent or 'unlimited'} "
          "concurrent sessions")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    """Makes the orphans of our children ours (Linux): a browser whose Chromium parent or
    node died is re-parented here instead of to init, so `up` can wait for every one."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children() -> list[int]:
    """This process's children, adopted orphans included."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me:
            found.append(int(entry))
    return found


def _reap_orphans(components: set[int]) -> list[int]:
    """Reaps adopted orphans that have exited (components are left to their Popen); answers
    the pids of those still running."""
    running = []
    for pid in _children():
        if pid in components:
            continue
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if not done:
            running.append(pid)
    return running


def _wait_orphans(components: set[int], grace: float) -> None:
    """Once the components have exited: waits for what they left (browsers dying with their
    node), SIGKILLs whatever is still there after `grace`, and reaps it all."""
    deadline = time.monotonic() + grace
    while running := _reap_orphans(components):
        if time.monotonic() > deadline:
            for pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def cmd_up(args: argparse.Namespace) -> None:
    """The control plane, one node and the gateway on this machine, as three processes.

    It exits only once every process it started, and every browser they started, is gone."""
    logs.setup("up", "info")
    _become_subreaper()
    data_dir = pathlib.Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the cluster secret, the database and every browser live below
    secret = os.environ.get("BROWSERPLANE_CLUSTER_SECRET") or \
        load_or_create_secret(data_dir / "cluster-secret")
    api_key, project = _ensure_api_key(data_dir)

    from browserplane.addresses import advertised, is_wildcard

    host = args.host
    # Bound to every interface: the components reach each other on loopback, and what is shown
    # (and what the node advertises) is the machine's address, never 0.0.0.0.
    local = "127.0.0.1" if is_wildcard(host) else host
    shown = advertised(host, args.advertise_host)
    observed = UpMetrics(args, data_dir)
    env = dict(os.environ, BROWSERPLANE_CLUSTER_SECRET=secret, **observed.env())
    me = [sys.executable, "-m", "browserplane_cli.main"]
    cp_addr = f"{local}:{args.grpc_port}"
    node_args = ["--control-plane", cp_addr, "--host", host, "--data-dir", str(data_dir / "node"),
                 "--pool-size", str(args.pool_size), "--capacity", str(args.capacity)]
    if args.advertise_host:
        node_args += ["--advertise-host", args.advertise_host]
    if args.node_grpc_port:
        node_args += ["--grpc-port", str(args.node_grpc_port)]
    if args.relay_port:
        node_args += ["--relay-port", str(args.relay_port)]
    egress = [a for entry in args.egress_allow or [] for a in ("--egress-allow", entry)]
    node_args += egress
    for name in ("record_fps", "record_max_width", "record_max_height", "record_max_seconds",
                 "record_max_mb"):
        if getattr(args, name) is not None:
            node_args += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    model_plan, model_url = _model_plan(args)
    node_args += model_url
    # The personas' SMTP receiver runs in the control plane (it owns the store).
    mail_args = [f"--{name}={value}" for name, value in (
        ("smtp-port", args.smtp_port), ("smtp-host", args.smtp_host),
        ("persona-domain", args.persona_domain)) if value not in (None, "")]
    plan = [
        ("controlplane", ["controlplane", "--host", host, "--grpc-port", str(args.grpc_port),
                          "--data-dir", str(data_dir), *mail_args, *observed.controlplane_args()]),
        *model_plan,
        ("node", ["node", *node_args, *observed.node_args()]),
        ("gateway", ["gateway", "--host", host, "--port", str(args.port),
                     "--control-plane", cp_addr, *egress]),
    ]
    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        # Gateway first (no new work), then the node (its browsers), then the control plane.
        for _name, proc in reversed(children):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, proc in reversed(children):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # The node ended its browsers; anything it could not (it was killed) dies with it.
        _wait_orphans({p.pid for _, p in children}, grace=3)
        observed.stop()

    signal.signal(signal.SIGTERM, lambda *a: stop_all())
    signal.signal(signal.SIGINT, lambda *a: stop_all())
    observed.start()
    for name, argv in plan:
        children.append((name, subprocess.Popen([*me, *argv], env=env)))
        if name == "controlplane":
            _wait_port(local, args.grpc_port, 30)
        if name == "model":  # the node starts once its model answers
            from modelserver.llama import wait_healthy

            model_proc = children[-1][1]
            if not wait_healthy(model_url[1].removesuffix("/v1"), 300,
                                alive=lambda: model_proc.poll() is None):  # noqa: B023 - used at once
                log.error("the model server did not start", extra={"fields": {"file": args.model_file}})
                stop_all()
                sys.exit(1)
    healthz = f"http://{local}:{args.port}/healthz"
    if _wait_http(healthz, 60, lambda: all(p.poll() is None for _, p in children)):
        lines = [
            "Browserplane is up.",
            f"  gateway (HTTP, CDP): http://{shown}:{args.port}",
            f"  control plane (gRPC): {shown}:{args.grpc_port}",
            f"  data dir: {data_dir}",
            f"  project: {project}",
        ]
        if api_key:
            lines.append(f"  API key (shown once, stored hashed): {api_key}")
        if model_url:
            lines.append(f"  model: {model_url[3]} at {model_url[1]}")
        lines += observed.lines(shown)
        print("\n".join(lines), flush=True)
    exit_code = 0
    components = {p.pid for _, p in children}
    tick = 0
    while not stopping:
        tick += 1
        if tick % 10 == 0:  # browsers' processes that outlived their parent, reaped here
            _reap_orphans(components)
        for name, proc in children:
            if proc.poll() is not None and not stopping:
                log.error("component exited", extra={"fields": {"component": name,
                                                                "code": proc.returncode}})
                exit_code = 1
                stop_all()
                break
        time.sleep(0.2)
    stop_all()
    sys.exit(exit_code)


def _model_plan(args: argparse.Namespace) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """With --model-file, a `model` process serving it on loopback and the node flags that point
    at it; otherwise the node's model flags as given (or none: the node reads BROWSERPLANE_MODEL_*)."""
    if args.model_file:
        from modelserver.llama import ModelServerSettings, model_name

        if not pathlib.Path(args.model_file).expanduser().is_file():
            raise SystemExit(f"up: --model-file {args.model_file} is not a file")
        port = args.model_port or _free_port()
        name = model_name(ModelServerSettings(model_file=args.model_file))
        return ([("model", ["model", "--model-file", args.model_file, "--host", "127.0.0.1",
                            "--port", str(port)])],
                ["--model-base-url", f"http://127.0.0.1:{port}/v1", "--model", name])
    flags = []
    for option in ("model_base_url", "model", "model_api_key", "model_timeout"):
        value = getattr(args, option)
        if value:
            flags += ["--" + option.replace("_", "-"), str(value)]
    return [], flags


def _wait_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.1)


def _ensure_api_key(data_dir: pathlib.Path) -> tuple[str, str]:
    """BROWSERPLANE_API_KEY exists afterwards; with no key at all, one is made and returned."""
    from controlplane.keys import KeyRing
    from controlplane.store import Store

    store = Store(data_dir / "controlplane.sqlite3")
    try:
        ring = KeyRing(store, "")
        wanted = os.environ.get("BROWSERPLANE_API_KEY", "")
        if wanted:
            project = ring.ensure_key(wanted)
            note = "" if ring.project_for_key(wanted) else " (revoked or expired: it will not work)"
            return "", f"{project.name} ({project.id}); key from BROWSERPLANE_API_KEY{note}"
        if store.db.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0]:
            return "", "keys exist already (browserplane keys create --project NAME for another)"
        key, project, _ = ring.create_key("default")
        return key, f"{project.name} ({project.id})"
    finally:
        store.close()


def build_parser() -> argparse.ArgumentParser:
    from controlplane.server import ControlPlaneSettings
    from gateway.app import GatewaySettings
    from modelserver.llama import ModelServerSettings
    from node.agent import NodeSettings

    parser = argparse.ArgumentParser(prog="browserplane", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run control plane, one node and the gateway on this machine")
    up.add_argument("--host", default="127.0.0.1", help="bind address of every component")
    up.add_argument("--advertise-host", default="",
                    help="address clients reach this machine at (default: --host; for 0.0.0.0, "
                         "the machine's address)")
    up.add_argument("--port", type=int, default=8080, help="gateway HTTP port")
    up.add_argument("--grpc-port", type=int, default=50051, help="control plane gRPC port")
    up.add_argument("--node-grpc-port", type=int, default=0, help="node gRPC port (0 = free)")
    up.add_argument("--relay-port", type=int, default=0, help="node CDP relay port (0 = free)")
    up.add_argument("--data-dir", default=os.environ.get("BROWSERPLANE_DATA_DIR", ""),
                    help=f"state directory (default {default_data_dir()})")
    up.add_argument("--pool-size", type=int,
                    default=int(os.environ.get("BROWSERPLANE_NODE_POOL_SIZE", "2")),
                    help="warm browsers kept ready")
    up.add_argument("--capacity", type=int,
                    default=int(os.environ.get("BROWSERPLANE_NODE_CAPACITY", "8")),
                    help="browsers the node runs at once")
    up.add_argument("--egress-allow", action="append", default=None,
                    help="destinations sessions may reach although the egress policy refuses them "
                         "(loopback, private ranges): HOST-or-CIDR[:PORT|:PORT-PORT], repeatable "
                         "(env BROWSERPLANE_EGRESS_ALLOW)")
    up.add_argument("--record-fps", type=int, default=None,
                    help="frames per second of recorded sessions' videos (node default 5)")
    up.add_argument("--record-max-width", type=int, default=None, help="recordings' largest width (1280)")
    up.add_argument("--record-max-height", type=int, default=None, help="recordings' largest height (720)")
    up.add_argument("--record-max-seconds", type=float, default=None,
                    help="a recording stops growing after this many seconds (3600)")
    up.add_argument("--record-max-mb", type=int, default=None,
                    help="a recording stops growing past this size (200 MB)")
    up.add_argument("--model-file", default=os.environ.get("BROWSERPLANE_MODEL_FILE", ""),
                    help="serve this GGUF model on loopback (`browserplane model`, needs the `model` "
                         "extra) and point the node at it (env BROWSERPLANE_MODEL_FILE)")
    up.add_argument("--model-port", type=int, default=0, help="port of that model server (0 = free)")
    up.add_argument("--model-base-url", default="",
                    help="the node's OpenAI-compatible model endpoint (env BROWSERPLANE_MODEL_BASE_URL)")
    up.add_argument("--model", default="", help="model name at that endpoint (env BROWSERPLANE_MODEL)")
    up.add_argument("--model-api-key", default="",
                    help="API key of that endpoint (env BROWSERPLANE_MODEL_API_KEY)")
    up.add_argument("--model-timeout", type=float, default=0,
                    help="seconds one model request may take (env BROWSERPLANE_MODEL_TIMEOUT)")
    up.add_argument("--smtp-port", type=int, default=None,
                    help="port of the personas' SMTP receiver in the control plane (0 = off, the "
                         "default; env BROWSERPLANE_CONTROLPLANE_SMTP_PORT)")
    up.add_argument("--smtp-host", default="",
                    help="address it binds to (default 127.0.0.1; env BROWSERPLANE_CONTROLPLANE_SMTP_HOST)")
    up.add_argument("--persona-domain", default="",
                    help="mail domain of personas' addresses (default personas.localhost; env "
                         "BROWSERPLANE_CONTROLPLANE_PERSONA_DOMAIN)")
    up.add_argument("--metrics-port", type=int,
                    default=int(os.environ.get("BROWSERPLANE_METRICS_PORT", "9102")),
                    help="port of /metrics for every component at once, each series labelled "
                         "component=controlplane|node|gateway (0 = a free port; env "
                         "BROWSERPLANE_METRICS_PORT)")
    up.add_argument("--controlplane-metrics-port", type=int, default=0,
                    help="the control plane's own /metrics port (0 = a free port)")
    up.add_argument("--node-metrics-port", type=int, default=0,
                    help="the node's own /metrics port (0 = a free port); the gateway's is --port")
    up.add_argument("--metrics-token", default=os.environ.get("BROWSERPLANE_METRICS_TOKEN", ""),
                    help="bearer token every /metrics requires (env BROWSERPLANE_METRICS_TOKEN); "
                         "default none on loopback, and on any other --host one made and kept in "
                         "the data dir's metrics-token file")
    up.set_defaults(func=cmd_up)

    for name, cls, func, help_text in (
        ("controlplane", ControlPlaneSettings, cmd_controlplane, "run the control plane alone"),
        ("node", NodeSettings, cmd_node, "run a node agent that joins a control plane"),
        ("gateway", GatewaySettings, cmd_gateway, "run a gateway in front of a control plane"),
        ("model", ModelServerSettings, cmd_model,
         "serve a local GGUF model over the OpenAI API on loopback (llama.cpp)"),
    ):
        p = sub.add_parser(name, help=help_text)
        settings.add_arguments(p, cls)
        p.set_defaults(func=func)
        if name == "node":  # `browserplane node drain`: the preStop of a node pod
            node_sub = p.add_subparsers(dest="node_command")
            drain = node_sub.add_parser("drain", help="stop placing sessions on a node; "
                                                      "--wait until its sessions have ended")
            drain.add_argument("--node", default="", help="the node's gRPC address (its own Drain)")
            drain.add_argument("--control-plane", default="",
                               help="or the control plane's gRPC address (DrainNode)")
            drain.add_argument("--node-id", default="", help="with --control-plane: which node")
            drain.add_argument("--wait", action="store_true",
                               help="return once the node's sessions have ended")
            drain.add_argument("--timeout", type=float, default=3600.0,
                               help="seconds --wait waits at most (then exit 1)")
            drain.add_argument("--interval", type=float, default=5.0,
                               help="seconds between looks while waiting")
            _add_tls_client_arguments(drain, "the node or control plane")
            drain.set_defaults(func=cmd_node_drain)

    keys = sub.add_parser("keys", help="API keys (create, list, revoke, rotate)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)

    def key_command(name: str, help_text: str, func: Callable[[argparse.Namespace], None],
                    ) -> argparse.ArgumentParser:
        p = keys_sub.add_parser(name, help=help_text)
        p.add_argument("--data-dir", default=os.environ.get("BROWSERPLANE_DATA_DIR", ""),
                       help="local control plane's data dir")
        p.add_argument("--control-plane", default="",
                       help="remote control plane host:port (needs BROWSERPLANE_CLUSTER_SECRET)")
        _add_tls_client_arguments(p, "the remote control plane")
        p.set_defaults(func=func)
        return p

    create = key_command("create", "create an API key for a project and print it", cmd_keys_create)
    create.add_argument("--project", default="default", help="project name (created if missing)")
    create.add_argument("--expires-in", default="", help="e.g. 3600, 15m, 12h, 30d (default: never)")
    listing = key_command("list", "list keys (never the keys themselves)", cmd_keys_list)
    listing.add_argument("--project", default="", help="only this project's keys")
    listing.add_argument("--all", action="store_true", help="also revoked and expired keys")
    revoke = key_command("revoke", "revoke a key: it stops working at once", cmd_keys_revoke)
    revoke.add_argument("id", help="the key's id (key_…, from `keys list`) or the key itself")
    rotate = key_command("rotate", "replace a key with a new one for the same project",
                         cmd_keys_rotate)
    rotate.add_argument("id", help="the key's id (key_…) or the key itself")
    rotate.add_argument("--expires-in", default="",
                        help="the new key's lifetime (default: the old key's, or never)")
    rotate.add_argument("--grace", type=int, default=0,
                        help="seconds the old key keeps working (default 0: it stops at once)")

    projects = sub.add_parser("projects", help="projects")
    projects_sub = projects.add_subparsers(dest="projects_command", required=True)
    limit = projects_sub.add_parser("limit", help="limit a project's concurrent sessions")
    limit.add_argument("--project", required=True, help="project name (created if missing)")
    limit.add_argument("--max-concurrent", type=int, required=True, help="0 = unlimited")
    limit.add_argument("--data-dir", default=os.environ.get("BROWSERPLANE_DATA_DIR", ""),
                       help="local control plane's data dir")
    limit.set_defaults(func=cmd_projects_limit)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

__all__ = ["Awaitable", "main"]
