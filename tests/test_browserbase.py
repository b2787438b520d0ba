"""The official `browserbase` SDK and Playwright against the gateway's Browserbase dialect."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from browserbase import AuthenticationError, BadRequestError, Browserbase, NotFoundError
from playwright.sync_api import sync_playwright

from node.chromium import processes_mentioning
from tests.cluster import Cluster, session_dir


@pytest.fixture
def bb(gateway_url: str, api_key: str) -> Browserbase:
    return Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)


def test_sdk_session_lifecycle_with_playwright(bb: Browserbase, cluster: Cluster, site: str):
    session = bb.sessions.create(browser_settings={"viewport": {"width": 1024, "height": 700}},
                                 user_metadata={"suite": "bb"})
    assert session.status == "RUNNING"
    assert session.connect_url.startswith(f"ws://127.0.0.1:{cluster.gateway_port}/session/")
    assert "token=" in session.connect_url and bb.api_key not in session.connect_url
    browser_dir = session_dir(cluster.browsers_root(), session.id)

    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.connect_url)
        page = browser.contexts[0].pages[0]
        page.goto(f"{site}/hello.html")
        assert page.title() == "Hello from Browserplane"
        assert page.evaluate("[innerWidth, innerHeight]") == [1024, 700]
        debug = bb.sessions.debug(session.id)
        assert debug.ws_url == session.connect_url
        assert any(pg.url.endswith("/hello.html") for pg in debug.pages)

        listed = bb.sessions.list(q="user_metadata['suite']:'bb'", status="RUNNING")
        assert [s.id for s in listed] == [session.id]
        assert bb.sessions.retrieve(session.id).status == "RUNNING"
        released = bb.sessions.update(session.id, status="REQUEST_RELEASE")
        assert released.status == "COMPLETED"
        browser.close()

    Cluster.wait(lambda: not browser_dir.exists(), 10, "browser left behind after release")
    assert processes_mentioning(browser_dir) == []


def test_session_without_keep_alive_ends_when_playwright_disconnects(bb: Browserbase):
    session = bb.sessions.create()
    with sync_playwright() as p:
        p.chromium.connect_over_cdp(session.connect_url).close()
    Cluster.wait(lambda: bb.sessions.retrieve(session.id).status == "COMPLETED", 10,
                 "session outlived its last client")


def test_discovery_urls_point_at_the_gateway(bb: Browserbase, gateway_url: str):
    session = bb.sessions.create(keep_alive=True)
    try:
        base, _, query = session.connect_url.replace("ws://", "http://").partition("?")
        prefix = base.rsplit("/devtools/", 1)[0]
        for path in ("/json/version", "/json/version/"):
            with urllib.request.urlopen(f"{prefix}{path}?{query}") as r:
                info = json.load(r)
            assert info["webSocketDebuggerUrl"] == session.connect_url
        request = urllib.request.Request(f"{prefix}/json/version?{query}", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "browsers.example.com"})
        with urllib.request.urlopen(request) as r:
            url = json.load(r)["webSocketDebuggerUrl"]
        assert url.startswith(f"wss://browsers.example.com/session/{session.id}/devtools/browser?")
        # Playwright's http:// form: it appends json/version/ itself and keeps the query.
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(f"{prefix}?{query}")
            assert browser.contexts
            browser.close()
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")


def test_bad_input_gets_browserbase_errors_never_500(bb: Browserbase, gateway_url: str, api_key: str):
    with pytest.raises(BadRequestError) as info:
        bb.sessions.create(browser_settings={"viewport": {"width": "wide"}})
    assert info.value.body["statusCode"] == 400
    assert "browserSettings.viewport.width" in info.value.body["message"]
    with pytest.raises(BadRequestError):
        bb.sessions.create(proxies=True)
    with pytest.raises(BadRequestError):
        bb.sessions.create(api_timeout=5)
    with pytest.raises(NotFoundError):
        bb.sessions.retrieve("00000000-0000-0000-0000-000000000000")
    with pytest.raises(AuthenticationError):
        Browserbase(api_key="wrong", base_url=gateway_url, max_retries=0).sessions.list()

    def raw(method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, dict]:
        request = urllib.request.Request(gateway_url + path, data=body, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    key = {"X-BB-API-Key": api_key, "Content-Type": "application/json"}
    cases = [
        ("POST", "/v1/sessions", b"{not json", key, 400),
        ("POST", "/v1/sessions", b"[1, 2]", key, 400),
        ("POST", "/v1/sessions", b'{"keepAlive": "yes"}', key, 400),
        ("POST", "/v1/sessions", b'{"userMetadata": 5}', key, 400),
        ("POST", "/v1/sessions", b'{"region": "mars-1"}', key, 400),
        ("POST", "/v1/sessions", b'{"proxies": [{"type": "external"}]}', key, 400),
        ("GET", "/v1/sessions?status=SLEEPING", None, key, 400),
        ("GET", "/v1/sessions?q=whatever", None, key, 400),
        ("POST", "/v1/sessions/nope", b'{"status": "REQUEST_RELEASE"}', key, 404),
        ("POST", "/v1/sessions/nope", b'{"status": "PAUSE"}', key, 400),
        ("GET", "/v1/contexts/nope", None, key, 404),
        ("GET", "/v1/nothing-here", None, key, 404),
        ("GET", "/v1/sessions", None, {}, 401),
        ("POST", "/v1/search", b'{"query": "x"}', key, 501),
    ]
    for method, path, body, headers, status in cases:
        got, payload = raw(method, path, body, headers)
        assert got == status, (method, path, got, payload)
        assert payload["statusCode"] == status and payload["message"], payload

    multipart = {"X-BB-API-Key": api_key, "Content-Type": "multipart/form-data; boundary=x"}
    more = [
        ("POST", "/v1/sessions/nope/uploads", b"--x--\r\n", multipart, 400),
        ("POST", "/v1/sessions/nope/uploads", b"{}", key, 400),
        ("GET", "/v1/sessions/00000000-0000-0000-0000-000000000000/downloads", None, key, 404),
        ("POST", "/v1/extensions", b"{}", key, 400),
        ("GET", "/v1/extensions/nope", None, key, 404),
        ("POST", "/v1/fetch", b"{}", key, 400),
        ("POST", "/v1/fetch", b'{"url": 5}', key, 400),
        ("GET", "/v1/projects/nope/usage", None, key, 404),
    ]
    for method, path, body, headers, status in more:
        got, payload = raw(method, path, body, headers)
        assert got == status, (method, path, got, payload)
        assert payload["statusCode"] == status and payload["message"], payload

    request = urllib.request.Request(gateway_url + "/v1/sessions", headers={"X-BB-API-Key": api_key})
    with urllib.request.urlopen(request) as r:
        assert int(r.headers["X-RateLimit-Limit"]) > 0 and r.headers["X-RateLimit-Remaining"]
        assert r.headers["X-Request-Id"].startswith("req_")


def test_projects_never_see_or_connect_to_each_others_sessions(bb: Browserbase, gateway_url: str,
                                                               cluster: Cluster):
    other = Browserbase(api_key=cluster.create_key("bb-other"), base_url=gateway_url, max_retries=0)
    mine = bb.sessions.create(keep_alive=True)
    try:
        with pytest.raises(NotFoundError):
            other.sessions.retrieve(mine.id)
        with pytest.raises(NotFoundError):
            other.sessions.update(mine.id, status="REQUEST_RELEASE")
        assert mine.id not in [s.id for s in other.sessions.list()]
        theirs = other.sessions.create(keep_alive=True)
        forged = mine.connect_url.replace(mine.id, theirs.id)
        with sync_playwright() as p, pytest.raises(Exception, match="401"):
            p.chromium.connect_over_cdp(forged, timeout=10_000)
        other.sessions.update(theirs.id, status="REQUEST_RELEASE")
    finally:
        bb.sessions.update(mine.id, status="REQUEST_RELEASE")


def test_contexts_and_projects(bb: Browserbase):
    context = bb.contexts.create()
    fetched = bb.contexts.retrieve(context.id)
    assert fetched.id == context.id and fetched.project_id
    projects = bb.projects.list()
    assert [p.id for p in projects] == [fetched.project_id]
    usage = bb.projects.usage(fetched.project_id)
    assert usage.browser_minutes >= 0
    bb.contexts.delete(context.id)
    with pytest.raises(NotFoundError):
        bb.contexts.retrieve(context.id)


def test_a_30mb_full_page_screenshot_passes_the_relay_intact(bb: Browserbase, site: str):
    import struct
    import zlib

    session = bb.sessions.create(keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/tall.html?h=9000")
            page.wait_for_function("document.title === 'Tall page ready'")
            png = page.screenshot(full_page=True)
            browser.close()
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
    assert len(png) >= 30 * 1024 * 1024, f"only {len(png) / 2**20:.1f} MB"
    # Intact: a valid PNG whose every chunk's CRC matches, of the page's full size.
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, 0
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        data = png[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"chunk {chunks} ({kind!r}) corrupted"
        if kind == b"IHDR":
            width, height = struct.unpack(">II", data[:8])
        offset += 12 + length
        chunks += 1
    assert (width, height) == (1280, 9000)


def test_context_with_persist_carries_cookies_into_the_next_session(bb: Browserbase, site: str,
                                                                    cluster: Cluster):
    context = bb.contexts.create()
    first = bb.sessions.create(browser_settings={"context": {"id": context.id, "persist": True}})
    assert first.context_id == context.id
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(first.connect_url)
        page = browser.contexts[0].pages[0]
        page.goto(f"{site}/hello.html")
        page.evaluate("document.cookie = 'remember=me-123; max-age=86400; path=/'")
        page.evaluate("localStorage.setItem('draft', 'hello')")
        browser.close()  # not kept alive: the session ends here and saves into the context
    Cluster.wait(lambda: bb.sessions.retrieve(first.id).status == "COMPLETED", 15, "not ended")

    second = bb.sessions.create(browser_settings={"context": {"id": context.id}}, keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(second.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            assert "remember=me-123" in page.evaluate("document.cookie")
            assert page.evaluate("localStorage.getItem('draft')") == "hello"
            browser.close()
    finally:
        bb.sessions.update(second.id, status="REQUEST_RELEASE")

    # A session without the context starts clean.
    third = bb.sessions.create(keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(third.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            assert "remember" not in page.evaluate("document.cookie")
            browser.close()
    finally:
        bb.sessions.update(third.id, status="REQUEST_RELEASE")


def test_upload_reaches_a_file_input_and_downloads_come_back_as_zip(
        bb: Browserbase, site: str, tmp_path, cluster: Cluster):
    import io
    import zipfile

    local = tmp_path / "invoice.txt"
    local.write_text("invoice #7 for 42 EUR")
    session = bb.sessions.create(keep_alive=True)
    try:
        with local.open("rb") as fh:
            uploaded = bb.sessions.uploads.create(session.id, file=fh)
        assert uploaded.message
        node_path = uploaded.path  # where the file is on the session's node
        assert node_path.endswith("/invoice.txt")

        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/files.html")
            page.set_input_files("#picker", node_path)
            page.wait_for_function("document.getElementById('picked').textContent !== ''")
            assert page.inner_text("#picked") == "invoice.txt:invoice #7 for 42 EUR"

            # Browserbase's documented way: downloads go to the session's "downloads" folder.
            cdp = browser.contexts[0].new_cdp_session(page)
            cdp.send("Browser.setDownloadBehavior",
                     {"behavior": "allow", "downloadPath": "downloads", "eventsEnabled": True})
            page.click("#report")

            def downloaded() -> list[str]:
                data = bb.sessions.downloads.list(session.id).read()
                return zipfile.ZipFile(io.BytesIO(data)).namelist()

            Cluster.wait(lambda: downloaded() == ["report.csv"], 15, "download not in the zip")
            data = bb.sessions.downloads.list(session.id).read()
            assert zipfile.ZipFile(io.BytesIO(data)).read("report.csv") == b"id,amount\n1,42\n2,7\n"
            browser.close()
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
    assert bb.sessions.retrieve(session.id).status == "COMPLETED"
    # Once the session has ended, its downloads are still there (Browserbase's docs fetch
    # them after closing the browser); the answer waits for the node to hand them over.
    kept = zipfile.ZipFile(io.BytesIO(bb.sessions.downloads.list(session.id).read()))
    assert kept.read("report.csv") == b"id,amount\n1,42\n2,7\n"
    Cluster.wait(lambda: session_dir(cluster.browsers_root(), session.id) is None, 10,
                 "browser directory left behind")
    quiet = bb.sessions.create()
    bb.sessions.update(quiet.id, status="REQUEST_RELEASE")
    assert zipfile.ZipFile(io.BytesIO(bb.sessions.downloads.list(quiet.id).read())).namelist() == []


def test_uploaded_extension_runs_in_the_session(bb: Browserbase, site: str, tmp_path):
    import zipfile

    archive = tmp_path / "marker.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("manifest.json", json.dumps({
            "manifest_version": 3, "name": "Browserplane marker", "version": "1.2",
            "content_scripts": [{"matches": ["<all_urls>"], "js": ["mark.js"],
                                 "run_at": "document_start"}]}))
        z.writestr("mark.js", "document.documentElement.dataset.bpExtension = 'loaded';")
    with archive.open("rb") as fh:
        extension = bb.extensions.create(file=fh)
    assert extension.file_name == "marker.zip"
    assert bb.extensions.retrieve(extension.id).id == extension.id

    session = bb.sessions.create(extension_id=extension.id, keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            page.wait_for_function("document.documentElement.dataset.bpExtension === 'loaded'",
                                   timeout=10_000)
            browser.close()
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")

    with pytest.raises(BadRequestError):  # not an extension
        bb.extensions.create(file=("notes.zip", b"plain text, not a zip"))
    bb.extensions.delete(extension.id)
    with pytest.raises(NotFoundError):
        bb.extensions.retrieve(extension.id)
    with pytest.raises(BadRequestError):  # a deleted extension cannot be loaded
        bb.sessions.create(extension_id=extension.id)


def test_fetch_is_a_real_http_fetch(bb: Browserbase, site: str):
    page = bb.fetch_api.create(url=f"{site}/report.csv")
    assert page.status_code == 200 and page.content == "id,amount\n1,42\n2,7\n"
    assert page.content_type.startswith("text/csv")
    missing = bb.fetch_api.create(url=f"{site}/nope.html")
    assert missing.status_code == 404
    with pytest.raises(BadRequestError):
        bb.fetch_api.create(url="file:///etc/passwd")
    with pytest.raises(BadRequestError):
        bb.fetch_api.create(url=f"{site}/hello.html", format="json")
    with pytest.raises(Exception) as info:  # a platform address: 403 in Browserbase's shape
        bb.fetch_api.create(url="http://127.0.0.1:9/")
    assert getattr(info.value, "status_code", None) == 403 and "egress_denied" in str(info.value)


def test_logs_record_what_the_pages_did(bb: Browserbase, site: str, cluster: Cluster, md):
    import grpc

    from browserplane.v1 import automation_pb2 as A
    from browserplane.v1 import automation_pb2_grpc

    session = bb.sessions.create(keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            time.sleep(0.5)  # the node attaches to the page right after the hand-over
            page.goto(f"{site}/noisy.html")
            page.wait_for_function("performance.getEntriesByType('resource').length > 0")
            browser.close()

        def logged() -> list:
            return [e.method for e in bb.sessions.logs.list(session.id)]

        Cluster.wait(lambda: "Network.responseReceived" in logged(), 10, "no network events")
        entries = bb.sessions.logs.list(session.id)
        navigations = [e for e in entries if e.method == "Page.frameNavigated"]
        assert any("/noisy.html" in str(e.request.params) for e in navigations)
        assert all(e.session_id == session.id and isinstance(e.page_id, int) for e in entries)

        # The same recording over gRPC, through the control plane's Automation routing.
        with grpc.insecure_channel(cluster.address) as channel:
            automation = automation_pb2_grpc.AutomationStub(channel)
            console = automation.GetConsoleLog(A.LogRequest(session_id=session.id), metadata=md)
            network = automation.GetNetworkLog(A.LogRequest(session_id=session.id), metadata=md)
        texts = [(e.level, e.text) for e in console.entries]
        assert ("log", "hello from the page 42") in texts and ("warning", "careful") in texts
        report = [e for e in network.entries if e.url.endswith("/report.csv")]
        assert report and report[0].status == 200 and report[0].method == "GET"
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")


def test_two_hop_path_through_the_node_relay(cluster: Cluster, api_key: str, site: str):
    """A gateway on another host than the node splices through the node's relay; force that
    path here and check the same behaviour (connect, drive, end on disconnect)."""
    from tests.cluster import Proc, free_port

    port = free_port()
    env = dict(cluster.env, BROWSERPLANE_GATEWAY_ONE_HOP_CDP="false")
    gateway = Proc("gateway-two-hop", ["gateway", "--port", str(port), "--control-plane",
                                       cluster.address], env, cluster.tmp / "gateway2.log").start()
    try:
        cluster.wait(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), 30, "gateway not up")
        bb = Browserbase(api_key=api_key, base_url=f"http://127.0.0.1:{port}", max_retries=0)
        session = bb.sessions.create()
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            assert page.title() == "Hello from Browserplane"
            browser.close()
        Cluster.wait(lambda: bb.sessions.retrieve(session.id).status == "COMPLETED", 10,
                     "disconnect not seen through the relay path")
    finally:
        gateway.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_allowed_domains_block_everything_else(bb: Browserbase, site: str):
    port = site.rsplit(":", 1)[1]
    session = bb.sessions.create(browser_settings={"allowedDomains": ["localhost"]}, keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            assert page.goto(f"http://localhost:{port}/hello.html").status == 200
            with pytest.raises(Exception, match="ERR_NAME_NOT_RESOLVED"):
                page.goto(f"http://127.0.0.1:{port}/hello.html")
            browser.close()
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
    with pytest.raises(BadRequestError):  # a comma would smuggle in resolver rules
        bb.sessions.create(browser_settings={"allowedDomains": ["a.com, MAP evil 1.2.3.4"]})
