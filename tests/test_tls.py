"""TLS between components (mutual, certificates made here), HTTPS/WSS at the gateway, and the
addresses components hand out (never a wildcard)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import json
import pathlib
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator

import grpc
import httpx
import pytest
from browserbase import Browserbase
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from playwright.sync_api import sync_playwright
from websockets.sync.client import connect

from browserplane.addresses import advertised, is_wildcard, machine_address
from browserplane.grpc_server import sync_channel
from browserplane.tls import TlsFiles
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from tests.cluster import ROOT, Cluster, Proc, _http_ok, free_port


class Pki:
    """A CA in a directory, issuing certificates as PEM files."""

    def __init__(self, folder: pathlib.Path, name: str) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(
                         digital_signature=True, key_cert_sign=True, crl_sign=True,
                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                         key_agreement=False, encipher_only=False, decipher_only=False),
                         critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_path = folder / f"{name}-ca.pem"
        self.ca_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, server: bool) -> TlsFiles:
        """A certificate for 127.0.0.1 and localhost; `server` ones also serve (components are
        both servers and clients), the others are client certificates only."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH]
                                                      if server else [])
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.DNSName("browserplane.internal"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                    critical=False)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        cert_path, key_path = self.folder / f"{name}.pem", self.folder / f"{name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return TlsFiles(str(cert_path), str(key_path), str(self.ca_path))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    folder = tmp_path_factory.mktemp("pki")
    ours, theirs = Pki(folder, "cluster"), Pki(folder, "other")
    return {"component": ours.issue("component", server=True),
            "client": ours.issue("client", server=False),
            "stranger": theirs.issue("stranger", server=False)}


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, TlsFiles]
                ) -> Iterator[Cluster]:
    component = pki["component"]
    health_port = free_port()
    c = Cluster(tmp_path_factory.mktemp("tls-cluster"), tls=component, client_tls=pki["client"],
                **{"health-port": health_port})
    c.health_port = health_port  # type: ignore[attr-defined]
    try:
        c.start_controlplane()
        c.start_node("n1", capacity=3, pool=1, extra=("--advertise-host", "127.0.0.1"))
        c.start_gateway(https=(component.cert, component.key))
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def _refused(channel: grpc.Channel, secret: str) -> grpc.StatusCode | None:
    stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
    try:
        stub.ListNodes(cp.ListNodesRequest(), metadata=(("authorization", f"Bearer {secret}"),),
                       timeout=5)
    except grpc.RpcError as err:
        return err.code()
    finally:
        channel.close()
    return None


def test_components_talk_over_mutual_tls(tls_cluster: Cluster, pki: dict[str, TlsFiles]) -> None:
    # The node registered over TLS and the control plane reaches it over TLS (the node's
    # lease, heartbeats and warm pool figures arrive; a session starts on it below).
    node = tls_cluster.node("n1")
    assert node.up and node.grpc_address.startswith("127.0.0.1:")
    key = tls_cluster.create_key("tls")
    md = (("authorization", f"Bearer {key}"),)
    s = tls_cluster.stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=60)
    # The node's relay serves TLS too, so the URL a gRPC client gets is wss://.
    assert s.cdp_url.startswith("wss://127.0.0.1:"), s.cdp_url
    tls_cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md, timeout=30)


def test_a_client_without_a_good_certificate_is_refused(tls_cluster: Cluster,
                                                        pki: dict[str, TlsFiles]) -> None:
    secret = tls_cluster.secret
    address = tls_cluster.address
    # The right certificate: answered.
    assert _refused(sync_channel(address, pki["client"]), secret) is None
    # Plaintext on the TLS port: no handshake, no call.
    assert _refused(grpc.insecure_channel(address), secret) == grpc.StatusCode.UNAVAILABLE
    # TLS that trusts the server but shows no certificate: refused by the server.
    ca = pathlib.Path(pki["client"].ca).read_bytes()
    anonymous = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=ca))
    assert _refused(anonymous, secret) == grpc.StatusCode.UNAVAILABLE
    # A certificate from another CA: refused too.
    stranger = pki["stranger"]
    foreign = grpc.secure_channel(address, grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=pathlib.Path(stranger.key).read_bytes(),
        certificate_chain=pathlib.Path(stranger.cert).read_bytes()))
    assert _refused(foreign, secret) == grpc.StatusCode.UNAVAILABLE
    # The node's gRPC server is mutual TLS as well.
    node_address = tls_cluster.node("n1").grpc_address
    assert _refused(grpc.insecure_channel(node_address), secret) == grpc.StatusCode.UNAVAILABLE
    assert _refused(grpc.secure_channel(node_address, grpc.ssl_channel_credentials(
        root_certificates=ca)), secret) == grpc.StatusCode.UNAVAILABLE


def test_a_fixed_server_name_replaces_the_address_check(tls_cluster: Cluster,
                                                        pki: dict[str, TlsFiles]) -> None:
    client = pki["client"]
    named = dataclasses.replace(client, server_name="browserplane.internal")
    wrong = dataclasses.replace(client, server_name="elsewhere.internal")
    assert _refused(sync_channel(tls_cluster.address, named), tls_cluster.secret) is None
    assert _refused(sync_channel(tls_cluster.address, wrong),
                    tls_cluster.secret) == grpc.StatusCode.UNAVAILABLE
    # The same for the node's CDP relay (what gateways connect to).
    relay = tls_cluster.node("n1").relay_address.rpartition(":")

    async def handshake(files: TlsFiles) -> bool:
        try:
            _, writer = await asyncio.open_connection(relay[0], int(relay[2]),
                                                      ssl=files.client_context())
        except ssl.SSLCertVerificationError:
            return False
        writer.close()
        return True

    assert asyncio.run(handshake(named)) is True
    assert asyncio.run(handshake(wrong)) is False


def test_keys_over_mutual_tls_from_the_cli(tls_cluster: Cluster, pki: dict[str, TlsFiles]) -> None:
    client = pki["client"]
    base = [sys.executable, "-m", "browserplane_cli.main", "keys", "create", "--project", "cli-tls",
            "--control-plane", tls_cluster.address]
    env = dict(tls_cluster.env)
    made = subprocess.run([*base, f"--tls-cert={client.cert}", f"--tls-key={client.key}",
                           f"--tls-ca={client.ca}"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("bp_")
    plain = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert plain.returncode != 0 and "error" in plain.stderr


def test_probes_have_a_plaintext_health_port(tls_cluster: Cluster) -> None:
    port = tls_cluster.health_port  # type: ignore[attr-defined]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # Only health lives there: the control plane's service is not reachable in plaintext.
        stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListNodes(cp.ListNodesRequest(), metadata=tls_cluster.admin, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.fixture(scope="module")
def relayed_gateway(tls_cluster: Cluster, pki: dict[str, TlsFiles]) -> Iterator[str]:
    """A second gateway that never splices to Chromium itself: CDP goes through the node's TLS
    relay (the path a gateway on another machine takes). Its --public-url names 127.0.0.1 while
    the test calls it as localhost, so URLs handed out show which one they follow."""
    component, port = pki["component"], free_port()
    proc = Proc("gateway2", ["gateway", "--port", str(port), "--control-plane", tls_cluster.address,
                             "--no-one-hop-cdp", f"--public-url=https://127.0.0.1:{port}",
                             *tls_cluster.tls_flags,
                             f"--https-cert={component.cert}", f"--https-key={component.key}"],
                tls_cluster.env, tls_cluster.tmp / "gateway2.log").start()
    url = f"https://localhost:{port}"
    try:
        tls_cluster.wait(lambda: _http_ok(f"{url}/healthz", component.ca), 30, "gateway2 not healthy")
        yield url
    except BaseException:
        print(proc.log())
        raise
    finally:
        proc.stop()


@pytest.mark.parametrize("path", ["one-hop", "relayed"])
def test_sdk_over_https_and_playwright_over_wss(tls_cluster: Cluster, pki: dict[str, TlsFiles],
                                                relayed_gateway: str, path: str, site: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ca = pki["component"].ca
    base = tls_cluster.gateway_url if path == "one-hop" else relayed_gateway
    # What the gateway hands out: the Host it was called by, or its --public-url.
    public = base.replace("localhost", "127.0.0.1")
    assert base.startswith("https://")
    key = tls_cluster.create_key("tls-sdk")
    # Playwright's driver (Node.js) trusts the test CA through NODE_EXTRA_CA_CERTS, read
    # when the driver starts.
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", ca)
    with httpx.Client(verify=ssl.create_default_context(cafile=ca)) as http, \
            sync_playwright() as p:
        bb = Browserbase(api_key=key, base_url=base, max_retries=0, http_client=http)
        session = bb.sessions.create()
        # Served over TLS, the gateway hands out wss:// for CDP and https:// for the rest.
        assert session.connect_url.startswith(f"wss://{public.removeprefix('https://')}/"), \
            session.connect_url
        browser = p.chromium.connect_over_cdp(session.connect_url)
        page = browser.contexts[0].pages[0]
        page.goto(f"{site}/hello.html")
        assert page.title() == "Hello from Browserplane"
        # Discovery goes to the node's relay over TLS; its URLs point back at the gateway.
        debug = bb.sessions.debug(session.id)
        assert debug.ws_url == session.connect_url
        assert debug.debugger_url.startswith(f"{public}/")
        assert all(pg.debugger_url.startswith(f"{public}/") for pg in debug.pages)
        (listed,) = [pg for pg in debug.pages if pg.url.endswith("/hello.html")]
        # The live view reaches the page through the node's TLS relay as well.
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(debug.debugger_url).query)["token"][0]
        live = f"wss://{base.removeprefix('https://')}/session/{session.id}/live/ws?token={token}"
        with connect(live, ssl=ssl.create_default_context(cafile=ca), open_timeout=10,
                     max_size=None) as ws:
            ws.send(json.dumps({"id": 1, "method": "Live.watch", "params": {"page": listed.id}}))
            assert json.loads(ws.recv(timeout=15)) == {"id": 1, "result": {}}
            ws.send(json.dumps({"id": 2, "method": "Page.startScreencast",
                                "params": {"format": "jpeg", "quality": 30}}))
            methods = (json.loads(ws.recv(timeout=15)).get("method") for _ in range(20))
            assert "Page.screencastFrame" in methods
        browser.close()
        bb.sessions.update(session.id, status="REQUEST_RELEASE")


def test_plain_http_on_the_https_port_gets_no_answer(tls_cluster: Cluster) -> None:
    with pytest.raises(OSError):
        urllib.request.urlopen(  # noqa: S310 - loopback
            f"http://127.0.0.1:{tls_cluster.gateway_port}/healthz", timeout=5).read()


def test_a_wildcard_bind_is_never_advertised() -> None:
    machine = machine_address()
    assert not is_wildcard(machine) and machine not in ("0.0.0.0", "::")
    for wildcard in ("0.0.0.0", "::", ""):
        assert advertised(wildcard) == machine
    assert advertised("0.0.0.0", "10.1.2.3") == "10.1.2.3"
    assert advertised("127.0.0.1") == "127.0.0.1"


def test_a_node_bound_to_every_interface_advertises_the_machine(tmp_path: pathlib.Path) -> None:
    # The agent is built, not started: nothing binds to a wildcard address in the tests.
    from node.agent import NodeAgent, NodeSettings

    agent = NodeAgent(NodeSettings(host="0.0.0.0", cluster_secret="s",  # noqa: S104
                                   data_dir=tmp_path / "node"))
    message = agent._node_message()
    assert message.grpc_address.rpartition(":")[0] == machine_address()
    assert message.relay_address.rpartition(":")[0] == machine_address()
    pinned = NodeAgent(NodeSettings(host="0.0.0.0", advertise_host="127.0.0.1",  # noqa: S104
                                    cluster_secret="s", data_dir=tmp_path / "pinned"))
    assert pinned._node_message().relay_address.startswith("127.0.0.1:")


def test_public_url_names_every_url_handed_out() -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from gateway.http_api import PUBLIC_URL, forwarded, public_base

    app = web.Application()
    app[PUBLIC_URL] = "https://browsers.example.com/bp"
    request = make_mocked_request("GET", "/x", headers={"Host": "127.0.0.1:8080"}, app=app)
    assert public_base(request) == "https://browsers.example.com/bp"
    assert public_base(request, websocket=True) == "wss://browsers.example.com/bp"
    assert forwarded(request) == {"X-Forwarded-Proto": "https",
                                  "X-Forwarded-Host": "browsers.example.com",
                                  "X-Forwarded-Prefix": "/bp"}
    # Without it, the request's own address (and an ingress's X-Forwarded-*) as before.
    request = make_mocked_request("GET", "/x", headers={"Host": "127.0.0.1:8080"},
                                  app=web.Application())
    assert public_base(request, websocket=True) == "ws://127.0.0.1:8080"


def test_the_manifests_drain_hook_speaks_tls(tls_cluster: Cluster, pki: dict[str, TlsFiles]) -> None:
    """The node's preStop command from the rendered TLS overlay, run against the TLS node (last in
    this file among those using the cluster: it drains that node)."""
    import shutil

    import yaml

    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing"
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "k8s/overlays/tls")], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    (node,) = [d for d in yaml.safe_load_all(out)
               if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "browserplane-node"]
    (container,) = node["spec"]["template"]["spec"]["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:3] == ["browserplane", "node", "drain"]
    config = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out) if d and
              d["kind"] == "ConfigMap"}
    (data,) = [c["data"] for name, c in config.items() if name.startswith("browserplane-config")]
    node_address = tls_cluster.node("n1").grpc_address
    client = pki["client"]
    env = dict(tls_cluster.env, BROWSERPLANE_TLS_CERT=client.cert, BROWSERPLANE_TLS_KEY=client.key,
               BROWSERPLANE_TLS_CA=client.ca,
               BROWSERPLANE_TLS_SERVER_NAME=data["BROWSERPLANE_TLS_SERVER_NAME"])
    # The image's `browserplane` is this checkout's CLI; the node's address is the test's.
    argv = [sys.executable, "-m", "browserplane_cli.main",
            *(arg.replace("127.0.0.1:50052", node_address) for arg in command[1:])]
    ran = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    # Drain and ListBrowsers answered over mutual TLS (the node serves nothing in plaintext).
    assert ran.returncode == 0, ran.stderr


def test_half_or_broken_tls_settings_stop_the_start(pki: dict[str, TlsFiles],
                                                    tmp_path: pathlib.Path) -> None:
    good = pki["component"]
    with pytest.raises(SystemExit, match="missing --tls-ca"):
        TlsFiles(good.cert, good.key).check("node")
    with pytest.raises(SystemExit, match="not a readable file"):
        TlsFiles(good.cert, str(tmp_path / "nope.pem"), good.ca).check("node")
    other_key = pki["client"].key  # a key that is not the certificate's
    with pytest.raises(SystemExit, match="cannot use"):
        TlsFiles(good.cert, other_key, good.ca).check("gateway")
    assert TlsFiles().check("node").enabled is False
