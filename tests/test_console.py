"""The console at `/`, driven in a real Chromium with Playwright (a person at the console), against
real sessions of the shared cluster. Screenshots of each view go to /work/notes/console-*.png
(set BROWSERPLANE_CONSOLE_SHOTS to put them elsewhere)."""

from __future__ import annotations

import os
import pathlib
import re
import threading
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, session_pb2
from browserplane.v1 import controlplane_pb2 as cp
from node.chromium import BASE_FLAGS, find_chromium
from tests.cluster import Cluster

SHOTS = pathlib.Path(os.environ.get("BROWSERPLANE_CONSOLE_SHOTS", "/work/notes"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=find_chromium(), headless=True,
                                     args=[f for f in BASE_FLAGS
                                           if not f.startswith("--remote-debugging")])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    # Nothing the console does may need more than its CSP allows (no inline script or style).
    tab.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield tab
    context.close()
    assert not errors, f"the console's script failed or broke its CSP: {errors}"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def login(page: Page, base: str, key: str) -> None:
    page.goto(base + "/")
    page.fill("#key", key)
    page.click("#login")
    expect(page.locator("#view-sessions")).to_be_visible(timeout=15_000)


def start_session(cluster: Cluster, md: tuple, url: str, dialect: str = "browserbase",
                  record: bool = False) -> str:
    session = cluster.stub.CreateSession(cp.CreateSessionRequest(options=session_pb2.SessionOptions(
        keep_alive=True, dialect=dialect, record_session=record)), metadata=md, timeout=60)
    automation = automation_pb2_grpc.AutomationStub(cluster.channel)
    automation.Navigate(A.NavigateRequest(session_id=session.id, url=url), metadata=md, timeout=30)
    return session.id


def test_root_answers_an_api_client_with_what_the_gateway_serves(gateway_url: str):
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        answer = httpx.get(gateway_url + "/", headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "application/json"), accept
        body = answer.json()
        assert body["dialects"]["apiSessions"]["baseUrl"] == gateway_url + "/api/sessions"
        assert body["dialects"]["browserbase"]["baseUrl"] == gateway_url + "/browserbase/v1"
        assert body["dialects"]["browserbeam"]["baseUrl"] == gateway_url + "/browserbeam/v1"
        assert body["dialects"]["airtop"]["baseUrl"] == gateway_url + "/api"
        assert body["dialects"]["notte"]["baseUrl"] == gateway_url
        assert body["cdp"]["browser"].startswith(gateway_url.replace("http", "ws") + "/session/")
        assert body["health"] == gateway_url + "/healthz" and body["metrics"] == gateway_url + "/metrics"
        assert "README.md" in body["docs"]["readme"]
    page = httpx.get(gateway_url + "/", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script src=\"/console/console.js\"" in page.text and " on" + "click=" not in page.text
    script = httpx.get(gateway_url + "/console/console.js", timeout=10)
    assert script.status_code == 200 and "innerHTML" not in script.text
    assert httpx.get(gateway_url + "/console/other.js", timeout=10).status_code == 404


@pytest.mark.parametrize(("accept", "html"), [
    ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", True),  # Chromium
    ("text/html", True), ("application/json", False), ("*/*", False), ("", False),
    ("application/json, text/html", False), ("text/html;q=0.5, application/json", False),
    ("application/json;q=0.1, text/html", True), ("text/html;q=0", False), ("text/html;q=x", False)])
def test_what_root_answers_follows_accept(accept: str, html: bool):
    from gateway.console import wants_html

    assert wants_html(accept) is html


def test_the_console_api_refuses_what_it_should(gateway_url: str, api_key: str):
    api = gateway_url + "/console/api"
    missing = httpx.get(api + "/whoami", timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    wrong = httpx.get(api + "/nodes", headers={"Authorization": "Bearer bp_nope"}, timeout=10)
    assert wrong.status_code == 401 and "invalid API key" in wrong.json()["error"]["message"]
    auth = {"Authorization": f"Bearer {api_key}"}
    assert httpx.get(api + "/nope", headers=auth, timeout=10).status_code == 404
    for path in ("/nodes", "/queue", "/whoami"):
        assert httpx.post(api + path, headers=auth, timeout=10).status_code in (404, 405)
    assert httpx.get(api + "/whoami", headers=auth, timeout=10).json()["scope"] == "project"


def test_a_wrong_key_is_refused(page: Page, gateway_url: str):
    page.goto(gateway_url + "/")
    expect(page.locator("#view-login")).to_be_visible()
    shot(page, "login")
    page.fill("#key", "bp_this-is-not-a-key")
    page.click("#login")
    expect(page.locator("#login-error")).to_contain_text("This key was refused")
    expect(page.locator("#view-sessions")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    shot(page, "wrong-key")


def test_a_running_session_its_live_view_and_ending_it(page: Page, cluster: Cluster, gateway_url: str,
                                                        api_key: str, md: tuple, site: str):
    sid = start_session(cluster, md, f"{site}/console-xss.html")
    login(page, gateway_url, api_key)
    assert page.evaluate("sessionStorage.length") == 1  # the key stays in this tab
    row = page.locator(f"tr[data-session='{sid}']")
    expect(row).to_be_visible(timeout=15_000)
    expect(row).to_contain_text("running")
    expect(row).to_contain_text("console-xss.html", timeout=15_000)
    expect(row).to_contain_text("browserbase")
    page.select_option("#filter-status", "live")
    expect(row).to_be_visible()
    page.select_option("#filter-status", "ended")
    expect(row).to_be_hidden()
    page.select_option("#filter-status", "live")
    page.select_option("#filter-dialect", "notte")
    expect(row).to_be_hidden()
    page.select_option("#filter-dialect", "browserbase")
    expect(row).to_be_visible()
    shot(page, "sessions")

    row.get_by_text("Live view").click()
    expect(page.locator("#live-frame")).to_be_visible(timeout=15_000)
    page.wait_for_function(
        "() => { const d = document.getElementById('live-frame').contentDocument;"
        " const s = d && d.getElementById('screen'); return s && s.naturalWidth > 0; }",
        timeout=20_000)
    # The page's title carries markup: the console shows it as text, nothing runs or loads.
    title = 'Shop <img src=x onerror="window.__pwned=1"> deals'
    expect(page.locator("#s-title")).to_have_text(title, timeout=15_000)
    expect(page.frame_locator("#live-frame").locator("#pages option")).to_have_text(title)
    assert page.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
    shot(page, "live")

    # The inspector while it runs: its console log shows the page's markup as text too.
    page.click("#s-tabs button[data-tab='console']")
    expect(page.locator("#console-body")).to_contain_text('<img src=x onerror="window.__pwned=2">',
                                                         timeout=15_000)
    assert page.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
    shot(page, "inspector-console")
    page.click("#s-tabs button[data-tab='actions']")
    expect(page.locator("#actions-body")).to_contain_text("navigate", timeout=15_000)
    shot(page, "inspector-actions")
    page.click("#s-tabs button[data-tab='network']")
    expect(page.locator("#network-body")).to_contain_text("console-xss.html", timeout=15_000)
    shot(page, "inspector-network")

    # Ending asks first: cancel keeps it running, confirming ends it.
    page.click("#s-end")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text(sid)
    shot(page, "confirm")
    page.click("#confirm-cancel")
    expect(page.locator("#confirm")).to_be_hidden()
    assert cluster.stub.GetSession(cp.GetSessionRequest(id=sid), metadata=md).state == session_pb2.RUNNING
    page.click("#s-end")
    page.click("#confirm-ok")
    cluster.wait(lambda: cluster.stub.GetSession(cp.GetSessionRequest(id=sid), metadata=md).state
                 == session_pb2.COMPLETED, 20, "the console did not end the session")
    expect(page.locator("#s-status")).to_have_text("cancelled", timeout=15_000)
    expect(page.locator("#s-end")).to_be_hidden()
    expect(page.locator("#rec-note")).to_contain_text(re.compile("no recording", re.I),
                                                      timeout=15_000)
    page.click("#nav a[data-view='sessions']")
    page.select_option("#filter-status", "ended")
    expect(row).to_contain_text("cancelled", timeout=15_000)


def test_nodes_and_sessions_with_a_key_and_with_the_cluster_secret(
        page: Page, cluster: Cluster, gateway_url: str, api_key: str, site: str):
    other_md = (("authorization", f"Bearer {cluster.create_key('console-other')}"),)
    other = start_session(cluster, other_md, f"{site}/hello.html", dialect="airtop")
    login(page, gateway_url, api_key)
    expect(page.locator("#sessions-body")).not_to_contain_text(other)  # another project's
    page.click("#nav a[data-view='nodes']")
    row = page.locator("tr[data-node='n1']")
    expect(row).to_be_visible(timeout=15_000)
    node = cluster.node("n1")
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("up")
    expect(cells.nth(2)).to_have_text(str(node.capacity))
    expect(page.locator("#nodes-totals")).to_contain_text("warm browsers")
    assert node.relay_address not in page.locator("#view-nodes").inner_text()  # a key: no addresses
    shot(page, "nodes")

    page.click("#logout")
    login(page, gateway_url, cluster.secret)
    expect(page.locator("#who")).to_contain_text("every project")
    expect(page.locator(f"tr[data-session='{other}']")).to_contain_text("airtop", timeout=15_000)
    shot(page, "sessions-cluster")
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=other), metadata=other_md)
    page.click("#nav a[data-view='nodes']")
    expect(page.locator("tr[data-node='n1']")).to_contain_text(node.relay_address, timeout=15_000)
    shot(page, "nodes-cluster")


def test_the_queue(page: Page, fresh_cluster: Cluster):
    """A node with room for one: a second create waits in the queue and the console shows it."""
    c = fresh_cluster
    c.start_controlplane()
    c.start_node("q1", capacity=1, pool=0)
    c.start_gateway()
    base = f"http://127.0.0.1:{c.gateway_port}"
    key = c.create_key("queueing")
    md = (("authorization", f"Bearer {key}"),)
    first = c.stub.CreateSession(cp.CreateSessionRequest(options=session_pb2.SessionOptions(
        keep_alive=True, dialect="notte")), metadata=md, timeout=60)
    waited: dict[str, object] = {}

    def create_waiting() -> None:
        try:
            waited["session"] = c.stub.CreateSession(cp.CreateSessionRequest(
                options=session_pb2.SessionOptions(keep_alive=True, dialect="browserbeam"),
                queue_timeout_seconds=90), metadata=md, timeout=100)
        except grpc.RpcError as err:
            waited["error"] = err

    thread = threading.Thread(target=create_waiting)
    thread.start()
    try:
        c.wait(lambda: len(c.stub.ListQueue(cp.ListQueueRequest(), metadata=md).sessions) == 1, 20,
               "the second create did not queue")
        login(page, base, key)
        page.click("#nav a[data-view='queue']")
        row = page.locator("#queue-body tr")
        expect(row).to_have_count(1, timeout=15_000)
        expect(row.locator("td").nth(0)).to_have_text("1")
        expect(row).to_contain_text("browserbeam")
        expect(page.locator("#queue-summary")).to_contain_text("1 waiting in all")
        shot(page, "queue")
        # Another project sees how long the queue is, not whose sessions wait in it.
        other = c.stub.ListQueue(cp.ListQueueRequest(), metadata=(
            ("authorization", f"Bearer {c.create_key('other')}"),))
        assert other.waiting == 1 and not other.sessions
        everyone = c.stub.ListQueue(cp.ListQueueRequest(), metadata=c.admin)
        assert [q.session.project_id for q in everyone.sessions] == [first.project_id]
        assert not everyone.sessions[0].session.cdp_token
    finally:
        c.stub.TerminateSession(cp.TerminateSessionRequest(id=first.id), metadata=md)
        thread.join(60)
    assert "session" in waited, waited
    expect(page.locator("#queue-empty")).to_be_visible(timeout=15_000)
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=waited["session"].id), metadata=md)


def test_a_key_lists_nodes_without_their_addresses(cluster: Cluster, md: tuple):
    (node,) = [n for n in cluster.stub.ListNodes(cp.ListNodesRequest(), metadata=md).nodes
               if n.id == "n1"]
    assert node.capacity and node.up and not node.relay_address and not node.grpc_address
    assert not node.labels and not node.HasField("lease_expires_at")


def test_the_inspector_plays_the_recording(page: Page, cluster: Cluster, gateway_url: str,
                                          api_key: str, md: tuple, site: str):
    """A recorded session: after the console ended it, the inspector plays its video, and a
    click on a timeline event seeks the video there."""
    sid = start_session(cluster, md, f"{site}/form.html", record=True)
    automation = automation_pb2_grpc.AutomationStub(cluster.channel)
    automation.Act(A.ActRequest(session_id=sid, action=A.Action(click=A.Click(
        target=A.ElementTarget(selector="#counter")))), metadata=md, timeout=30)
    automation.Navigate(A.NavigateRequest(session_id=sid, url=f"{site}/hello.html"), metadata=md,
                        timeout=30)
    auth = {"Authorization": f"Bearer {api_key}"}

    def status() -> str:
        return httpx.get(f"{gateway_url}/api/sessions/{sid}", headers=auth, timeout=10).json()["status"]

    time.sleep(3)  # something to see in the recording: the page for a few seconds
    login(page, gateway_url, api_key)
    row = page.locator(f"tr[data-session='{sid}']")
    expect(row).to_be_visible(timeout=15_000)
    row.get_by_text("End").click()
    page.click("#confirm-ok")
    Cluster.wait(lambda: status() not in ("running", "creating"), 30, "the session did not end")
    page.goto(f"{gateway_url}/#/session/{sid}/recording")
    video = page.locator("#rec-video")
    expect(video).to_be_visible(timeout=60_000)
    page.wait_for_function("() => document.getElementById('rec-video').readyState >= 1",
                           timeout=30_000)
    page.evaluate("document.getElementById('rec-video').muted = true")
    page.evaluate("document.getElementById('rec-video').play()")
    page.wait_for_function("() => document.getElementById('rec-video').currentTime > 0.5",
                           timeout=30_000)
    events = page.locator("#rec-timeline li button")
    expect(events.first).to_be_visible(timeout=15_000)
    page.evaluate("document.getElementById('rec-video').pause()")
    last = events.last
    target = float(last.locator(".at").inner_text().split(":")[0]) * 60 + float(
        last.locator(".at").inner_text().split(":")[1])
    last.click()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('rec-video').currentTime - {target}) < 1.5",
        timeout=15_000)
    shot(page, "recording")
    page.click("#s-tabs button[data-tab='artifacts']")
    expect(page.locator("#artifacts-body a").first).to_be_visible(timeout=15_000)
    shot(page, "artifacts")
