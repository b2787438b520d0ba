"""Credentials with the smallest reach: live-view tokens, key revocation and rotation, secrets
encrypted at rest, protected /metrics, and a per-project cap on live sessions.

Real control plane, node and gateway processes; the vendors' SDKs; Playwright against real
Chromium; the database read from disk as an attacker with the files would read it."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import pytest
from browserbase import AuthenticationError, Browserbase, RateLimitError
from browserbeam import Browserbeam
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from browserplane import errors
from browserplane.credentials import (
    check_cdp_token,
    check_live_view_token,
    hash_api_key,
    issue_cdp_token,
    issue_live_view_token,
)
from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from controlplane.keys import KeyRing
from controlplane.record_cipher import RecordCipher, WrongKey
from controlplane.store import Store
from node.chromium import BASE_FLAGS, find_chromium
from tests.cluster import ROOT, Cluster
from tests.conftest import SITE_PORT  # the proxy must be a destination sessions may reach

# ---- sans-I/O: the tokens, the cipher, the key ring on a real SQLite file --------------------


def test_live_view_tokens_and_cdp_tokens_never_pass_for_each_other():
    live = issue_live_view_token("secret", "s1", "p1", time.time() + 60)
    cdp = issue_cdp_token("secret", "s1", "p1", time.time() + 60)
    assert check_live_view_token("secret", live, "s1", "p1").ok
    assert not check_live_view_token("secret", live, "s2", "p1").ok
    assert not check_live_view_token("other", live, "s1", "p1").ok
    assert "live-view token does not open CDP" in check_cdp_token("secret", live, "s1", "p1").reason
    assert not check_cdp_token("secret", live[2:], "s1", "p1").ok  # prefix stripped: still no
    assert not check_live_view_token("secret", cdp, "s1", "p1").ok
    assert not check_live_view_token("secret", "lv" + cdp, "s1", "p1").ok
    expired = issue_live_view_token("secret", "s1", "p1", time.time() - 1)
    assert check_live_view_token("secret", expired, "s1", "p1").reason == "token expired"
    assert not check_cdp_token("secret", "1x\u00e9", "s1", "p1").ok  # odd text is no crash


def test_session_records_are_sealed_and_old_plaintext_ones_are_sealed_on_start(tmp_path):
    path = tmp_path / "cp.sqlite3"
    secret = S.Session(id="s1", project_id="p1", created_at=timestamp(1.0), options=S.SessionOptions(
        proxies=[S.ProxyRule(server="http://proxy.example:3128", username="u",
                             password="hunter2-proxy-pw")]))
    legacy = Store(path, RecordCipher(b"k" * 32))
    # A record as versions before sealing wrote it.
    legacy.db.execute("INSERT INTO sessions(id, project_id, state, created_at, data) "
                      "VALUES (?,?,?,?,?)", ("s0", "p1", S.COMPLETED, 1.0,
                                             secret.SerializeToString()))
    legacy.close()
    store = Store(path, RecordCipher(b"k" * 32))
    assert store.seal_plaintext_sessions() == 1
    store.save_session(secret)
    assert store.session("s1").options.proxies[0].password == "hunter2-proxy-pw"
    assert store.session("s0").options.proxies[0].password == "hunter2-proxy-pw"
    store.close()
    for suffix in ("", "-wal", "-shm"):
        file = pathlib.Path(f"{path}{suffix}")
        if file.exists():
            assert b"hunter2-proxy-pw" not in file.read_bytes()
            assert stat.S_IMODE(file.stat().st_mode) == 0o600
    other = Store(path, RecordCipher(b"x" * 32))
    with pytest.raises(WrongKey):
        other.seal_plaintext_sessions()
    other.close()


def test_key_ring_expires_revokes_and_rotates(tmp_path):
    store = Store(tmp_path / "cp.sqlite3")
    ring = KeyRing(store, "cluster")
    key, project, record = ring.create_key("p")
    assert ring.project_for_key(key) == project.id and record.active
    assert record.id == "key_" + hash_api_key(key)[:16]
    short, _, _ = ring.create_key("p", expires_at=time.time() + 0.5)
    assert ring.project_for_key(short) == project.id
    time.sleep(0.6)
    assert ring.project_for_key(short) is None  # expired, even though it was cached
    new, _, new_record = ring.rotate(record.id)
    assert ring.project_for_key(key) is None and ring.project_for_key(new) == project.id
    with pytest.raises(errors.BrowserplaneError) as info:
        ring.rotate(record.id)
    assert info.value.reason == errors.API_KEY_INACTIVE
    ring.revoke(new)  # by the key itself, too
    assert ring.project_for_key(new) is None
    assert [k.id for k in ring.list_keys("p")] == []
    assert {k.id for k in ring.list_keys("p", include_inactive=True)} == {
        record.id, new_record.id, "key_" + hash_api_key(short)[:16]}
    with pytest.raises(errors.BrowserplaneError) as info:
        ring.create_key("p", expires_at=time.time() - 5)
    assert info.value.reason == errors.INVALID_ARGUMENT
    store.close()


# ---- the live view's own token, with real Chromium ------------------------------------------


def _status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def test_live_view_token_opens_the_live_view_only(cluster: Cluster, gateway_url: str, api_key: str,
                                                 site: str):
    bb = Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)
    session = bb.sessions.create(keep_alive=True)
    try:
        debug = bb.sessions.debug(session.id)
        live_token = debug.debugger_url.split("token=")[1].split("&")[0]
        cdp_token = session.connect_url.split("token=")[1]
        assert live_token.startswith("lv") and live_token != cdp_token
        base = f"{gateway_url}/session/{session.id}"
        ws_base = base.replace("http://", "ws://")
        with sync_playwright() as p:
            # Not a CDP token: Playwright cannot connect with it, by URL or by discovery.
            for url in (f"{ws_base}/devtools/browser?token={live_token}",
                        f"{base}?token={live_token}"):
                with pytest.raises(PlaywrightError):
                    p.chromium.connect_over_cdp(url, timeout=15_000)
            status, body = _status(f"{base}/json/version?token={live_token}")
            assert status == 401 and "live-view token does not open CDP" in body
            status, _ = _status(f"{base}/json/list", {"Authorization": f"Bearer {live_token}"})
            assert status == 401
            # The connect URL's token does not open the live view either.
            assert _status(f"{base}/live?token={cdp_token}")[0] == 401
            # A live-view token of another session, or an expired one, is refused.
            me = cluster.stub.GetSession(cp.GetSessionRequest(id=session.id),
                                         metadata=(("authorization", f"Bearer {api_key}"),))
            expired = issue_live_view_token(cluster.secret, session.id, me.project_id,
                                            time.time() - 1)
            status, body = _status(f"{base}/live?token={expired}")
            assert status == 401 and "expired" in body
            assert _status(f"{base}/live/ws?token={expired}")[0] == 401
            forged = issue_live_view_token("not-the-secret", session.id, me.project_id,
                                           time.time() + 60)
            assert _status(f"{base}/live?token={forged}")[0] == 401

            # The live socket: screen and input pass, everything else is refused.
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/form.html")
            answers = _live_socket(p, f"{ws_base}/live/ws?token={live_token}", [
                {"id": 1, "method": "Live.pages"},
                {"id": 3, "method": "Runtime.evaluate", "params": {"expression": "document.cookie"}},
                {"id": 4, "method": "Target.createTarget", "params": {"url": "about:blank"}},
                {"id": 5, "method": "Network.getAllCookies"},
                {"id": 6, "method": "Input.insertText", "params": {"text": "Zoe"},
                 "sessionId": "anything"},
            ], watch=True)
            assert any(pg["url"].endswith("/form.html") for pg in answers[1]["result"]["pages"])
            for refused in (3, 4, 5):
                assert answers[refused]["error"]["code"] == -32601, answers[refused]
                assert "not available in the live view" in answers[refused]["error"]["message"]
            assert "error" not in answers[6]
            assert len(browser.contexts[0].pages) == 1  # no page was opened
            browser.close()
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")


def _live_socket(p, url: str, messages: list[dict], watch: bool) -> dict[int, dict]:
    """Talks to the live socket from a real (local) Chromium page, as live_view.html does."""
    viewer = p.chromium.launch(executable_path=find_chromium(), headless=True,
                               args=[f for f in BASE_FLAGS if not f.startswith("--remote-debugging")])
    try:
        page = viewer.new_page()
        return {int(k): v for k, v in page.evaluate("""async ([url, messages, watch]) => {
            const ws = new WebSocket(url);
            const answers = {};
            const pending = new Map();
            ws.onmessage = (e) => {
              const m = JSON.parse(e.data);
              if (m.id !== undefined && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
            };
            await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
            const call = (m) => new Promise((ok) => { pending.set(m.id, ok); ws.send(JSON.stringify(m)); });
            for (const m of messages) {
              answers[m.id] = await call(m);
              if (m.method === "Live.pages" && watch) {
                const target = answers[m.id].result.pages.find((x) => x.url.endsWith("/form.html"));
                answers[2] = await call({id: 2, method: "Live.watch", params: {page: target.id}});
              }
            }
            ws.close();
            return answers;
        }""", [url, messages, watch]).items()}
    finally:
        viewer.close()


# ---- keys, metrics and the project cap on a cluster of their own -----------------------------


def _cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "browserplane_cli.main", *argv], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def guarded_cluster(tmp_path: pathlib.Path):
    c = Cluster(tmp_path, **{"project-max-sessions": 1, "metrics-token": "cp-metrics-token"})
    try:
        c.start_controlplane()
        c.start_node("n1", capacity=4, pool=0)
        c.start_gateway("--metrics-token", "gw-metrics-token")
        yield c
    finally:
        c.stop()


def test_revoked_rotated_and_expired_keys_stop_working_on_every_gateway(guarded_cluster: Cluster):
    c = guarded_cluster
    gateway = f"http://127.0.0.1:{c.gateway_port}"
    env = c.env
    made = _cli("keys", "create", "--project", "alpha", "--control-plane", c.address, env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    key_id = made.stderr.split("id: ")[1].split(";")[0]
    bb = Browserbase(api_key=key, base_url=gateway, max_retries=0)
    assert bb.projects.list()  # works

    listed = _cli("keys", "list", "--control-plane", c.address, env=env)
    assert key_id in listed.stdout and key not in listed.stdout and "active" in listed.stdout

    rotated = _cli("keys", "rotate", key_id, "--control-plane", c.address, env=env)
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    assert new_key.startswith("bp_") and new_key != key
    with pytest.raises(AuthenticationError):
        bb.projects.list()
    bb = Browserbase(api_key=new_key, base_url=gateway, max_retries=0)
    assert bb.projects.list()[0].name == "alpha"

    revoked = _cli("keys", "revoke", new_key, "--control-plane", c.address, env=env)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    with pytest.raises(AuthenticationError):
        bb.projects.list()
    with pytest.raises(grpc.RpcError) as info:
        c.stub.ListSessions(cp.ListSessionsRequest(),
                            metadata=(("authorization", f"Bearer {new_key}"),), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    everything = _cli("keys", "list", "--all", "--project", "alpha", "--control-plane", c.address,
                      env=env).stdout
    assert everything.count("revoked") == 2

    # Revoked in the database by the local command while the control plane runs: it sees it
    # within its cache bound.
    local = c.create_key("beta")
    Browserbase(api_key=local, base_url=gateway, max_retries=0).projects.list()
    out = _cli("keys", "revoke", local, "--data-dir", str(c.tmp / "cp"), env=env)
    assert out.returncode == 0, out.stderr
    c.wait(lambda: _status(f"{gateway}/v1/projects", {"X-BB-API-Key": local})[0] == 401, 10,
           "a key revoked in the store kept working")

    # An expiring key works until it expires, then stops.
    answer = c.stub.CreateApiKey(cp.CreateApiKeyRequest(
        project_name="alpha", expires_at=timestamp(time.time() + 3)), metadata=c.admin, timeout=5)
    assert answer.api_key.HasField("expires_at")
    short = Browserbase(api_key=answer.key, base_url=gateway, max_retries=0)
    assert short.projects.list()
    time.sleep(max(0.0, answer.api_key.expires_at.seconds + 1 - time.time()))
    with pytest.raises(AuthenticationError):
        short.projects.list()
    with pytest.raises(grpc.RpcError) as info:
        c.stub.RevokeApiKey(cp.RevokeApiKeyRequest(id="key_0000000000000000"), metadata=c.admin)
    assert errors.describe(info.value).reason == errors.API_KEY_NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:  # a tenant's key cannot manage keys
        c.stub.ListApiKeys(cp.ListApiKeysRequest(),
                           metadata=(("authorization", f"Bearer {c.create_key('gamma')}"),))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_metrics_need_their_token_when_one_is_set(guarded_cluster: Cluster):
    c = guarded_cluster
    for url, token in ((f"http://127.0.0.1:{c.gateway_port}/metrics", "gw-metrics-token"),
                       (f"http://127.0.0.1:{c.metrics_port}/metrics", "cp-metrics-token")):
        assert _status(url)[0] == 401
        assert _status(url, {"Authorization": "Bearer wrong"})[0] == 401
        status, body = _status(url, {"Authorization": f"Bearer {token}"})
        assert status == 200 and "# TYPE" in body


def test_one_project_cannot_take_every_slot(guarded_cluster: Cluster):
    c = guarded_cluster
    gateway = f"http://127.0.0.1:{c.gateway_port}"
    a_key, b_key = c.create_key("project-a"), c.create_key("project-b")
    a = Browserbase(api_key=a_key, base_url=gateway, max_retries=0)
    first = a.sessions.create(keep_alive=True)
    try:
        with pytest.raises(RateLimitError) as info:
            a.sessions.create(keep_alive=True)
        assert info.value.status_code == 429
        assert info.value.body["code"] == "project_concurrency_limit"
        assert "concurrent sessions" in info.value.body["message"]
        assert info.value.response.headers["Retry-After"].isdigit()
        status, body = _post(f"{gateway}/browserbeam/v1/sessions", a_key)
        assert status == 429 and body["error"]["code"] == "quota_exceeded", body
        b = Browserbeam(api_key=b_key, base_url=gateway)
        other = b.sessions.create()  # project B still has room on the same node
        other.close()
    finally:
        a.sessions.update(first.id, status="REQUEST_RELEASE")


def _post(url: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# ---- secrets at rest --------------------------------------------------------------------------


def test_proxy_passwords_are_encrypted_at_rest_and_the_data_dir_is_private(fresh_cluster: Cluster):
    c = fresh_cluster.start_controlplane()
    c.start_node("n1", capacity=2, pool=0)
    md = (("authorization", f"Bearer {c.create_key('rest')}"),)
    password = "pw-" + os.urandom(8).hex()
    cookie = "ck-" + os.urandom(8).hex()
    # The allowed test site stands in for a proxy: nothing is navigated, so nothing is sent.
    s = c.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        keep_alive=True, proxies=[S.ProxyRule(server=f"http://127.0.0.1:{SITE_PORT}", username="user",
                                              password=password)],
        cookies=[S.Cookie(name="sid", value=cookie, domain="example.com", path="/")])),
        metadata=md, timeout=60)
    try:
        assert c.stub.GetSession(cp.GetSessionRequest(id=s.id), metadata=md).options.proxies[0] \
            .password == password  # its owner still reads it back
    finally:
        c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    data_dir = c.tmp / "cp"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "secret-key").stat().st_mode) == 0o600
    files = [p for p in data_dir.iterdir() if p.name.startswith("controlplane.sqlite3")]
    assert {p.name for p in files} >= {"controlplane.sqlite3", "controlplane.sqlite3-wal"}
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        raw = file.read_bytes()
        assert password.encode() not in raw and cookie.encode() not in raw, file
        assert s.cdp_token.encode() not in raw, file

    # Started with another key, the control plane refuses to run rather than lose the records.
    c.controlplane.stop()
    wrong = dict(c.env, BROWSERPLANE_CONTROLPLANE_SECRET_KEY="A" * 43)
    out = subprocess.run([sys.executable, "-m", "browserplane_cli.main", "controlplane",
                          "--grpc-port", "0", "--data-dir", str(data_dir)], cwd=ROOT, env=wrong,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "encrypted with another secret key" in out.stderr
