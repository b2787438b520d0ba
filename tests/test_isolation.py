"""A hostile tenant against a real cluster: two projects, real Chromium, loopback targets only.

Every attempt must fail with a clear error and leak nothing: `file:` reads by every path, a page
reaching the platform's ports (and other browsers' DevTools ports), server-side fetches to
loopback in all its spellings and through redirects, downloads steered outside the session,
memory and tab bombs, and what the box itself looks like from inside (uids, environment,
permissions). Each refusal has a positive control next to it, so the test fails if the
refusal came from something broken rather than from the policy.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request

import grpc
import pytest
from playwright.sync_api import sync_playwright

from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node.sandbox import pids_of_uid
from tests.cluster import Cluster, free_port, session_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the browser box needs a root node agent")

CANARY = "canary-secret-7f3a9c"
MEMORY_MB = 700


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory):
    """A cluster of its own (small memory limit per browser), a gateway and two projects."""
    c = Cluster(tmp_path_factory.mktemp("isolation"))
    try:
        c.start_controlplane()
        c.node_port_grpc = free_port()
        c.node_port_relay = free_port()
        c.start_node("n1", capacity=5, pool=1, extra=(
            "--grpc-port", str(c.node_port_grpc), "--relay-port", str(c.node_port_relay),
            "--browser-memory-mb", str(MEMORY_MB), "--browser-pids", "400"))
        c.start_gateway()
        # Secrets an attacker would go for, planted where a node keeps its own files.
        (c.tmp / "n1" / "cluster-secret").write_text(CANARY)
        (c.tmp / "n1" / "cluster-secret").chmod(0o600)
        c.key_a = c.create_key("tenant-a")
        c.key_b = c.create_key("tenant-b")
        yield c
    finally:
        c.stop()


def _md(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def _session(c: Cluster, key: str) -> S.Session:
    return c.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(keep_alive=True)),
                                metadata=_md(key), timeout=60)


def _end(c: Cluster, key: str, s: S.Session) -> None:
    try:
        c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=_md(key), timeout=20)
    except grpc.RpcError:
        pass


def _http(c: Cluster, method: str, path: str, key: str, body: object = None,
          header: str = "Authorization") -> tuple[int, dict]:
    value = f"Bearer {key}" if header == "Authorization" else key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{c.gateway_port}{path}", data=data,
                                     method=method, headers={header: value,
                                                             "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=90) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _platform_ports(c: Cluster, other: S.Session) -> dict[str, int]:
    """Every port the platform listens on, and another session's own DevTools port."""
    other_dir = session_dir(c.browsers_root(), other.id)
    assert other_dir is not None
    devtools = int((other_dir / "user-data" / "DevToolsActivePort").read_text().split()[0])
    return {"control plane": c.grpc_port, "control plane metrics": c.metrics_port,
            "node grpc": c.node_port_grpc, "node relay": c.node_port_relay,
            "gateway": c.gateway_port, "other browser devtools": devtools}


def test_file_urls_are_refused_on_every_path(box: Cluster, site: str):
    secret_path = box.tmp / "n1" / "cluster-secret"
    a = _session(box, box.key_a)
    try:
        automation = automation_pb2_grpc.AutomationStub(box.channel)
        md = _md(box.key_a)
        for url in (secret_path.as_uri(), "file:///etc/passwd", "view-source:file:///etc/passwd",
                    "chrome://version", "FILE:///etc/hosts"):
            with pytest.raises(grpc.RpcError) as err:
                automation.Navigate(A.NavigateRequest(session_id=a.id, url=url), metadata=md, timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, url
            with pytest.raises(grpc.RpcError) as err:
                automation.OpenPage(A.OpenPageRequest(session_id=a.id, url=url), metadata=md, timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, url

        # Browserbeam: the create url and a goto step.
        status, body = _http(box, "POST", "/browserbeam/v1/sessions", box.key_a,
                             {"url": secret_path.as_uri()})
        # The session is made; its url step fails and says why (Browserbeam's way).
        assert status in (201, 400) and body["error"]["code"] == "invalid_request", body
        assert "file:" in body["error"]["message"] and CANARY not in json.dumps(body)
        if body.get("session_id"):
            _http(box, "DELETE", f"/browserbeam/v1/sessions/{body['session_id']}", box.key_a)
        status, beam = _http(box, "POST", "/browserbeam/v1/sessions", box.key_a, {})
        assert status == 201, beam
        status, body = _http(box, "POST", f"/browserbeam/v1/sessions/{beam['session_id']}/act",
                             box.key_a, {"steps": [{"goto": {"url": "file:///etc/passwd"}}]})
        assert CANARY not in json.dumps(body) and "root:x:0:0" not in json.dumps(body)
        assert status == 400 or body.get("error"), body
        _http(box, "DELETE", f"/browserbeam/v1/sessions/{beam['session_id']}", box.key_a)

        # Raw CDP: the browser's own policy refuses it, whatever the client.
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(a.cdp_url)
            page = browser.contexts[0].pages[0]
            for url in (secret_path.as_uri(), "file:///etc/passwd", "view-source:file:///etc/passwd"):
                with pytest.raises(Exception, match="ERR_BLOCKED_BY_ADMINISTRATOR"):
                    page.goto(url)
            opened = browser.new_browser_cdp_session().send("Target.createTarget",
                                                            {"url": secret_path.as_uri()})
            time.sleep(0.5)
            shown = automation.Evaluate(A.EvaluateRequest(
                session_id=a.id, page_id=opened["targetId"],
                expression="document.documentElement.innerText"), metadata=md, timeout=30)
            assert CANARY not in str(shown) and "page is blocked" in str(shown), shown
            # From a web page: fetch() and an iframe of file: URLs.
            page.goto(f"{site}/hello.html")
            got = page.evaluate("""async (u) => {
                try { return await (await fetch(u)).text(); } catch (e) { return 'refused: ' + e; }
            }""", secret_path.as_uri())
            assert got.startswith("refused") and CANARY not in got
            page.set_content(f'<iframe id="f" src="{secret_path.as_uri()}"></iframe>', wait_until="commit")
            time.sleep(1.0)
            framed = page.evaluate("""() => { const d = document.getElementById('f').contentDocument;
                                              return d ? d.documentElement.innerText : null; }""")
            assert framed is None or CANARY not in framed
            seen = automation.Observe(A.ObserveRequest(session_id=a.id), metadata=md, timeout=30)
            assert CANARY not in str(seen)
            browser.close()
    finally:
        _end(box, box.key_a, a)


def test_pages_reach_no_platform_port_and_no_other_browser(box: Cluster, site: str):
    a, b = _session(box, box.key_a), _session(box, box.key_b)
    try:
        ports = _platform_ports(box, b)
        targets = []
        for name, port in ports.items():
            for host in ("127.0.0.1", "localhost", "0x7f.0.0.1", "2130706433", "127.1", "[::1]",
                         "0.0.0.0"):
                targets.append((f"{name} via {host}", f"{host}:{port}"))
        own = [a for a in _own_addresses() if not a.startswith("127.")]
        targets += [(f"gateway via {addr}", f"{addr}:{box.gateway_port}") for addr in own]
        probe = """async ([targets, allowed]) => {
            const out = {};
            const tryFetch = async (u) => {
                const abort = new AbortController();
                const timer = setTimeout(() => abort.abort(), 4000);
                try { const r = await fetch(u, {mode: 'no-cors', signal: abort.signal});
                      return 'reached ' + r.type; }
                catch (e) { return e.name === 'AbortError' ? 'timeout' : 'refused'; }
                finally { clearTimeout(timer); }
            };
            const tryWs = (u) => new Promise((done) => {
                let ws; try { ws = new WebSocket(u); } catch (e) { return done('refused'); }
                ws.onopen = () => { ws.close(); done('reached'); };
                ws.onerror = () => done('refused');
                setTimeout(() => done('timeout'), 4000);
            });
            await Promise.all(targets.map(async ([name, hostport]) => {
                out[name] = await Promise.all([tryFetch('http://' + hostport + '/json/version'),
                                               tryWs('ws://' + hostport + '/devtools/browser')]);
            }));
            out['allowed site'] = [await tryFetch(allowed), 'n/a'];
            return out;
        }"""
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(a.cdp_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            results = page.evaluate(probe, [targets, f"{site}/report.csv"])
            assert results.pop("allowed site")[0].startswith("reached"), "positive control"
            reached = {k: v for k, v in results.items() if "reached" in v[0] or v[1] == "reached"}
            assert reached == {}, reached

            # A CDP client that gives a context its own direct "proxy" still meets the kernel.
            cdp = browser.new_browser_cdp_session()
            ctx = cdp.send("Target.createBrowserContext", {"proxyServer": "direct://"})
            target = cdp.send("Target.createTarget", {"url": f"{site}/hello.html",
                                                       "browserContextId": ctx["browserContextId"]})
            session = cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
            time.sleep(1)
            del session
            bypass = [pg for ctx_ in browser.contexts for pg in ctx_.pages if "hello" in pg.url]
            assert bypass, "the direct-proxy context loaded the allowed site"
            got = bypass[-1].evaluate(probe, [targets[:7], f"{site}/report.csv"])
            got.pop("allowed site")
            assert all("reached" not in v[0] and v[1] != "reached" for v in got.values()), got

            # Navigations name the policy and how to open an exception.
            with pytest.raises(Exception, match="ERR_CONNECTION_REFUSED|ERR_ADDRESS"):
                page.goto(f"http://127.0.0.1:{box.gateway_port}/healthz")
            browser.close()
        automation = automation_pb2_grpc.AutomationStub(box.channel)
        with pytest.raises(grpc.RpcError) as err:
            automation.Navigate(A.NavigateRequest(session_id=a.id, url=f"http://localhost:{box.gateway_port}/"),
                                metadata=_md(box.key_a), timeout=30)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "egress_denied" in err.value.details() and "BROWSERPLANE_EGRESS_ALLOW" in err.value.details()
    finally:
        _end(box, box.key_a, a)
        _end(box, box.key_b, b)


def test_server_side_fetches_refuse_loopback_in_every_spelling(box: Cluster, site: str):
    gw = box.gateway_port
    # Positive control: the allowed test site is fetched.
    status, body = _http(box, "POST", "/v1/fetch", box.key_a, {"url": f"{site}/report.csv"},
                         header="X-BB-API-Key")
    assert status == 200 and body["statusCode"] == 200
    urls = [f"http://127.0.0.1:{gw}/healthz", f"http://localhost:{gw}/healthz",
            f"http://0x7f.0.0.1:{gw}/healthz", f"http://2130706433:{gw}/healthz",
            f"http://127.1:{gw}/healthz", f"http://[::1]:{gw}/healthz",
            f"http://[::ffff:127.0.0.1]:{gw}/healthz", f"http://0.0.0.0:{gw}/healthz",
            "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://192.168.1.1/",
            f"{site}/redirect?to=http://127.0.0.1:{gw}/healthz",
            f"{site}/redirect?to={site}/redirect?to=http://localhost:{box.grpc_port}/"]
    for url in urls:
        status, body = _http(box, "POST", "/v1/fetch", box.key_a, {"url": url, "allowRedirects": True},
                             header="X-BB-API-Key")
        assert status == 403, (url, body)
        assert body["error"] == "egress_denied" or "egress_denied" in json.dumps(body), (url, body)
        assert "BROWSERPLANE_EGRESS_ALLOW" in body["message"]
        assert "nodesUp" not in json.dumps(body)  # nothing of the target's answer leaks

    # Upload from a URL (Automation Act, and a Browserbeam upload step).
    s = _session(box, box.key_a)
    try:
        automation = automation_pb2_grpc.AutomationStub(box.channel)
        md = _md(box.key_a)
        automation.Navigate(A.NavigateRequest(session_id=s.id, url=f"{site}/files.html"), metadata=md,
                            timeout=30)
        for url in (f"http://127.0.0.1:{gw}/healthz", f"http://2130706433:{gw}/healthz",
                    f"{site}/redirect?to=http://localhost:{gw}/healthz"):
            with pytest.raises(grpc.RpcError) as err:
                automation.Act(A.ActRequest(session_id=s.id, action=A.Action(upload=A.Upload(
                    target=A.ElementTarget(selector="#picker"), files=[url]))), metadata=md, timeout=30)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, url
            assert "egress_denied" in err.value.details()
        done = automation.Act(A.ActRequest(session_id=s.id, action=A.Action(upload=A.Upload(
            target=A.ElementTarget(selector="#picker"), files=[f"{site}/report.csv"]))),
            metadata=md, timeout=30)
        assert done is not None  # positive control: an allowed URL uploads
    finally:
        _end(box, box.key_a, s)


def test_downloads_land_inside_the_session_whatever_the_client_asks(box: Cluster, site: str):
    outside = box.tmp / "stolen-downloads"
    node_dir = box.tmp / "n1"
    before = sorted(p.name for p in node_dir.iterdir())
    s = _session(box, box.key_a)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(s.cdp_url)
            page = browser.contexts[0].pages[0]
            cdp = browser.new_browser_cdp_session()
            for path in (str(outside), str(node_dir), "/root", "/etc"):
                cdp.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": path})
                page.goto(f"{site}/files.html")
                page.click("#report")
                time.sleep(1.0)
            browser.close()
        assert not outside.exists()
        assert sorted(p.name for p in node_dir.iterdir()) == before
        assert not pathlib.Path("/root/report.csv").exists() and not pathlib.Path("/etc/report.csv").exists()
    finally:
        _end(box, box.key_a, s)


def test_memory_hog_and_tab_loop_end_only_their_own_session(box: Cluster, site: str):
    hog, tabs, neighbour = _session(box, box.key_a), _session(box, box.key_a), _session(box, box.key_b)
    automation = automation_pb2_grpc.AutomationStub(box.channel)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(hog.cdp_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Runtime.evaluate", {"expression": """
                window.hog = []; (function grow() {
                  for (let i = 0; i < 20; i++) window.hog.push(new Float64Array(1 << 20).fill(Math.random()));
                  setTimeout(grow, 0);
                })();"""})
            t = p.chromium.connect_over_cdp(tabs.cdp_url)
            tcdp = t.new_browser_cdp_session()
            for _ in range(120):
                try:
                    tcdp.send("Target.createTarget", {"url": f"{site}/many.html?{time.monotonic()}"})
                except Exception:  # noqa: BLE001 - the browser is gone: the limit did its job
                    break
            # The neighbour keeps working the whole time.
            md_b = _md(box.key_b)
            for _ in range(3):
                nav = automation.Navigate(A.NavigateRequest(
                    session_id=neighbour.id, url=f"{site}/hello.html"), metadata=md_b, timeout=60)
                assert nav.page.title == "Hello from Browserplane"
            Cluster.wait(lambda: _state(box, box.key_a, hog) != S.RUNNING, 60, "the memory hog still runs")
        ended = box.stub.GetSession(cp.GetSessionRequest(id=hog.id), metadata=_md(box.key_a), timeout=10)
        assert "memory limit" in ended.end_reason, ended.end_reason
        # Nothing of the hog outlived it, and the node stayed healthy.
        assert box.node("n1").up
        nav = automation.Navigate(A.NavigateRequest(session_id=neighbour.id, url=f"{site}/hello.html"),
                                  metadata=_md(box.key_b), timeout=60)
        assert nav.page.title == "Hello from Browserplane"
        tab_dir = session_dir(box.browsers_root(), tabs.id)
        if _state(box, box.key_a, tabs) == S.RUNNING:  # survived the loop: it must be bounded
            assert tab_dir is not None and _cgroup_memory(tab_dir) <= MEMORY_MB << 20
    finally:
        for s, key in ((hog, box.key_a), (tabs, box.key_a), (neighbour, box.key_b)):
            _end(box, key, s)


def test_browsers_run_as_their_own_users_with_nothing_of_the_node(box: Cluster):
    a, b = _session(box, box.key_a), _session(box, box.key_b)
    try:
        dirs = [session_dir(box.browsers_root(), s.id) for s in (a, b)]
        assert all(dirs)
        uids = [int((d / "uid").read_text()) for d in dirs]
        assert uids[0] != uids[1] and min(uids) >= 1000
        for d, uid in zip(dirs, uids, strict=True):
            pids = pids_of_uid(uid)
            assert pids, "the browser runs as its own uid"
            for pid in pids:
                env = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                assert not [e for e in env if e.startswith(b"BROWSERPLANE") or box.secret.encode() in e]
                cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
                assert b"--no-sandbox" not in cmdline
            assert stat.S_IMODE((d / "user-data").stat().st_mode) == 0o700
            assert (d / "user-data").stat().st_uid == uid
        # What the browser sees of the machine: its own directories, no node files, no secrets.
        view = pathlib.Path(f"/proc/{min(pids_of_uid(uids[0]))}/root")
        assert (view / "usr" / "bin").is_dir() and (view / "etc" / "resolv.conf").exists()
        for hidden in ("etc/shadow", "etc/npmrc", "etc/pip.conf", "etc/ssh", "root",
                       str(box.tmp / "n1" / "cluster-secret")[1:], str(box.tmp / "cp")[1:],
                       str(dirs[1])[1:]):
            assert not (view / hidden).exists(), hidden
        assert (view / str(dirs[0] / "user-data")[1:]).is_dir()
        # One browser's user cannot read the other's profile, nor the node's files.
        other_profile = dirs[1] / "user-data" / "Local State"
        Cluster.wait(other_profile.exists, 10, "profile not written")
        for target in (other_profile, box.tmp / "n1" / "cluster-secret", box.tmp / "cp"):
            read = subprocess.run(["setpriv", f"--reuid={uids[0]}", f"--regid={uids[0]}", "--clear-groups",
                                   "cat", str(target)], capture_output=True, timeout=10)
            assert read.returncode != 0 and CANARY.encode() not in read.stdout, target
        for path in (box.tmp / "n1", box.browsers_root()):
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    finally:
        _end(box, box.key_a, a)
        _end(box, box.key_b, b)


def _state(c: Cluster, key: str, s: S.Session) -> int:
    return c.stub.GetSession(cp.GetSessionRequest(id=s.id), metadata=_md(key), timeout=10).state


def _cgroup_memory(browser_dir: pathlib.Path) -> int:
    for group in pathlib.Path("/sys/fs/cgroup/memory/browserplane").rglob(browser_dir.name):
        return int((group / "memory.max_usage_in_bytes").read_text())
    return 0


def _own_addresses() -> list[str]:
    """The machine's addresses, found here independently of the product's own list (a test
    built on `egress.local_addresses` would miss what that function misses)."""
    found = []
    try:
        out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, timeout=5).stdout
        for link in json.loads(out or b"[]"):
            for info in link.get("addr_info", []):
                if info.get("family") == "inet":
                    found.append(info["local"])
    except (OSError, ValueError):
        pass
    try:
        found.append(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    return sorted(set(found))


def test_archive_bombs_and_slips_hurt_no_one(box: Cluster, site: str):
    """Tenant A sends a 1 MB zip that inflates to 1 GiB and a zip-slip archive; tenant B's
    session keeps working throughout and nothing lands outside the control plane's store."""
    import zlib

    from tests.test_limits import _manifest_entry, _zeros_deflated, zip_of

    data, crc = _zeros_deflated(1024)
    bomb = zip_of([_manifest_entry(), ("big.bin", data, 8, crc, 1 << 30)])
    slip = zip_of([_manifest_entry(), ("../../../../tmp/bp-slipped.js", b"x", 0, zlib.crc32(b"x"), 1)])
    neighbour = _session(box, box.key_b)
    try:
        for name, archive, expected in (("bomb.zip", bomb, 413), ("slip.zip", slip, 400)):
            boundary = "bp-boundary"
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"{name}\"\r\nContent-Type: application/zip\r\n\r\n")
            body = head.encode() + archive + f"\r\n--{boundary}--\r\n".encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{box.gateway_port}/v1/extensions", data=body, method="POST",
                headers={"X-BB-API-Key": box.key_a,
                         "Content-Type": f"multipart/form-data; boundary={boundary}"})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(request, timeout=30)  # noqa: S310 - loopback
            assert err.value.code == expected, err.value.read()
            answer = json.loads(err.value.read())
            assert answer["statusCode"] == expected
        assert not pathlib.Path("/tmp/bp-slipped.js").exists()
        automation = automation_pb2_grpc.AutomationStub(box.channel)
        nav = automation.Navigate(A.NavigateRequest(session_id=neighbour.id, url=f"{site}/hello.html"),
                                  metadata=_md(box.key_b), timeout=60)
        assert nav.page.title == "Hello from Browserplane" and box.node("n1").up
    finally:
        _end(box, box.key_b, neighbour)


def test_a_proxy_on_a_platform_address_is_refused_at_create(box: Cluster, site: str):
    md = _md(box.key_a)
    for server in (f"http://127.0.0.1:{box.grpc_port}", f"http://user:pw@localhost:{box.gateway_port}",
                   "socks5://169.254.169.254:1080"):
        with pytest.raises(grpc.RpcError) as err:
            box.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
                proxies=[S.ProxyRule(server=server)])), metadata=md, timeout=60)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value.details()
        assert "egress_denied" in err.value.details() and "pw" not in err.value.details()
    status, body = _http(box, "POST", "/browserbeam/v1/sessions", box.key_a,
                         {"proxy": f"http://127.0.0.1:{box.gateway_port}"})
    assert 400 <= status < 500 and "egress_denied" in json.dumps(body), (status, body)
    # Positive control: a proxy on an address the operator allowed is accepted.
    allowed = _session_with_proxy(box, box.key_a, site)
    assert allowed.state == S.RUNNING
    _end(box, box.key_a, allowed)


def _session_with_proxy(c: Cluster, key: str, server: str) -> S.Session:
    return c.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        keep_alive=True, proxies=[S.ProxyRule(server=server)])), metadata=_md(key), timeout=60)
