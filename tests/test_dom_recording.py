"""Browserbase's DOM recording: rrweb events of a recorded session's pages, through the
official `browserbase` SDK after the session ends (node/dom_recording.py)."""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.error
import urllib.request
import warnings

import grpc
import pytest
from browserbase import Browserbase, NotFoundError
from playwright.sync_api import sync_playwright

from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node import dom_recording
from tests.cluster import Cluster

FULL_SNAPSHOT, INCREMENTAL = 2, 3
BINDING = "__browserplaneRecord"


@pytest.fixture
def bb(gateway_url: str, api_key: str) -> Browserbase:
    return Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)


def recording(bb: Browserbase, session_id: str) -> list:
    with warnings.catch_warnings():  # the SDK marks recording.retrieve deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        return bb.sessions.recording.retrieve(session_id)


def texts(node: dict) -> list[str]:
    """Every text node's content in an rrweb serialized node tree."""
    found = [node["textContent"]] if node.get("type") == 3 else []
    for child in node.get("childNodes", []):
        found += texts(child)
    return found


def dom_artifact(cluster: Cluster, md: tuple, session_id: str) -> cp.Artifact | None:
    found = cluster.stub.ListArtifacts(cp.ListArtifactsRequest(
        session_id=session_id, kind=cp.ARTIFACT_DOM_EVENTS), metadata=md, timeout=90)
    return found.artifacts[0] if found.artifacts else None


def test_binding_payloads_are_parsed_defensively():
    good = {"type": 3, "timestamp": 1700000000000.5, "data": {"source": 0}}
    assert dom_recording.parse_batch(json.dumps({"events": [good], "dropped": 2})) == (
        [{"type": 3, "timestamp": 1700000000000, "data": {"source": 0}}], 2)
    bad_events = [1, "x", None, [], {"type": "2", "timestamp": 1, "data": {}},
                  {"type": True, "timestamp": 1, "data": {}}, {"type": 2, "timestamp": "1", "data": {}},
                  {"type": 2, "timestamp": 1, "data": []}, {"type": 99, "timestamp": 1, "data": {}}]
    assert dom_recording.parse_batch(json.dumps({"events": bad_events, "dropped": -1})) == ([], 9)
    for junk in (None, 5, b"{}", "", "not json", "[]", "null", '{"events": 5}', "[" * 100000,
                 "[" * 50000 + "]" * 50000, "x" * (dom_recording.MAX_BATCH_CHARS + 1)):
        assert dom_recording.parse_batch(junk) == ([], 1)


def test_without_rrweb_the_node_records_no_dom(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("BROWSERPLANE_RRWEB_BUILD", str(tmp_path / "missing.js"))
    assert dom_recording.recorder_script() is None
    assert not dom_recording.DomRecorder("ws://127.0.0.1:9/", "s").available
    monkeypatch.delenv("BROWSERPLANE_RRWEB_BUILD")
    assert "rrweb" in (dom_recording.recorder_script() or "")


def test_recorded_session_yields_rrweb_events_with_the_dom(bb: Browserbase, site: str,
                                                           cluster: Cluster, md: tuple):
    session = bb.sessions.create(browser_settings={"recordSession": True})
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.connect_url)
        page = browser.contexts[0].pages[0]
        page.goto(f"{site}/recording.html")
        page.fill("#user", "visible-user-name")
        page.type("#secret", "hunter2-typed-secret")
        page.click("#add")
        page.wait_for_selector("#list li")
        assert page.title() == "Recorded page"  # the recorder leaves the page working
        second = browser.contexts[0].new_page()  # a tab opened later is recorded too
        second.goto(f"{site}/hello.html")
        assert recording(bb, session.id) == []  # while it runs: nothing yet
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
        browser.close()

    events = recording(bb, session.id)
    assert events and all(e.session_id == session.id for e in events)
    stamps = [e.timestamp for e in events]
    assert stamps == sorted(stamps)
    snapshots = [e for e in events if e.type == FULL_SNAPSHOT]
    assert snapshots, [e.type for e in events]
    page_texts = [t for s in snapshots for t in texts(s.data["node"])]
    assert "rrweb-marker-7f3a9c" in page_texts
    by_page = {e.to_dict()["pageId"] for e in snapshots}
    assert len(by_page) == 2, by_page
    assert "A page served by the test on 127.0.0.1." in page_texts
    # The click added a list item after the snapshot: an incremental mutation carries it.
    mutations = [e.data for e in events if e.type == INCREMENTAL and e.data.get("source") == 0]
    added = [a["node"].get("textContent") for m in mutations for a in m.get("adds", [])]
    assert "added-item-0" in added
    # Inputs are recorded, the password masked.
    raw = json.dumps([e.data for e in events])
    assert "visible-user-name" in raw
    assert "hunter2-typed-secret" not in raw
    inputs = [e.data for e in events if e.type == INCREMENTAL and e.data.get("source") == 5]
    assert any(set(i.get("text", "")) == {"*"} for i in inputs)
    artifact = dom_artifact(cluster, md, session.id)
    assert artifact is not None and artifact.metadata["events"] == str(len(events))


def test_unrecorded_session_has_no_recording(bb: Browserbase, site: str, cluster: Cluster,
                                             md: tuple):
    session = bb.sessions.create(browser_settings={"recordSession": False})
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.connect_url)
        page = browser.contexts[0].pages[0]
        page.goto(f"{site}/recording.html")
        # Nothing was injected into the page.
        assert page.evaluate(f"typeof window.{BINDING}") == "undefined"
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
        browser.close()
    assert recording(bb, session.id) == []
    assert dom_artifact(cluster, md, session.id) is None


def test_another_projects_recording_is_not_found(bb: Browserbase, gateway_url: str,
                                                 cluster: Cluster):
    session = bb.sessions.create(browser_settings={"recordSession": True})
    bb.sessions.update(session.id, status="REQUEST_RELEASE")
    other = Browserbase(api_key=cluster.create_key("dom-other"), base_url=gateway_url,
                        max_retries=0)
    with pytest.raises(NotFoundError):
        recording(other, session.id)
    with pytest.raises(NotFoundError):
        recording(bb, "no-such-session")
    # Over plain HTTP: Browserbase's error shape, never a 500.
    for key, path, status in ((other.api_key, session.id, 404), (bb.api_key, "x" * 300, 404),
                              (bb.api_key, "%00", 404), ("", session.id, 401)):
        request = urllib.request.Request(f"{gateway_url}/v1/sessions/{path}/recording",
                                         headers={"X-BB-API-Key": key} if key else {})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        body = json.loads(caught.value.read())
        assert caught.value.code == status and body["statusCode"] == status and body["message"]


def test_hostile_page_cannot_crash_the_node_or_overfill_the_recording(
        bb: Browserbase, site: str, cluster: Cluster, md: tuple):
    session = bb.sessions.create(browser_settings={"recordSession": True})
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.connect_url)
        page = browser.contexts[0].pages[0]
        page.goto(f"{site}/recording.html")
        page.evaluate("() => window.__browserplaneRecorderFlush()")  # the full snapshot, sent
        # Garbage of every kind through the recorder's binding.
        page.evaluate(f"""() => {{
            const send = window.{BINDING};
            for (const junk of ['', 'not json', '[]', 'null', '{{"events": 5}}',
                                '{{"events": [1, "x", {{"type": "2"}}, {{"type": 2}}], "dropped": -4}}',
                                '{{"events": [{{"type": 3, "timestamp": 1, "data": {{"x": 1}}}}]}}',
                                '['.repeat(100000) + ']'.repeat(100000)]) send(junk);
            try {{ send(); }} catch (e) {{}}
            try {{ send({{}}); }} catch (e) {{}}
        }}""")
        # Too big for one batch (dropped unread), then too big for the connection (it is made
        # anew).
        page.evaluate(f"() => window.{BINDING}('x'.repeat(5 << 20))")
        page.evaluate(f"() => window.{BINDING}('\"'.repeat(6 << 20))")
        # The page still works and is still recorded after all that.
        page.click("#add")
        page.wait_for_selector("#list li")
        page.evaluate("() => window.__browserplaneRecorderFlush()")  # before the flood
        # A flood of well-formed batches past the session's bound.
        page.evaluate(f"""() => {{
            const data = 'y'.repeat(1 << 20);
            const event = JSON.stringify({{type: 3, timestamp: Date.now(),
                                           data: {{source: 0, filler: data}}}});
            const batch = '{{"events":[' + Array(3).fill(event).join(',') + ']}}';
            for (let i = 0; i < 16; i++) window.{BINDING}(batch);
        }}""")
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
        browser.close()

    artifact = dom_artifact(cluster, md, session.id)
    assert artifact is not None
    assert artifact.size_bytes <= 32 << 20
    assert int(artifact.metadata["dropped"]) > 0
    events = recording(bb, session.id)
    assert any(e.type == FULL_SNAPSHOT for e in events)
    added = [a["node"].get("textContent") for e in events
             if e.type == INCREMENTAL and e.data.get("source") == 0 for a in e.data.get("adds", [])]
    assert "added-item-0" in added
    # The node is up: a new recorded session works.
    again = bb.sessions.create(browser_settings={"recordSession": True})
    assert again.status == "RUNNING"
    bb.sessions.update(again.id, status="REQUEST_RELEASE")


def test_a_vault_login_is_recorded_without_its_secrets(bb: Browserbase, cluster: Cluster,
                                                      md: tuple, site: str):
    """In a session with a vault every input is masked: a secret may go into any field."""
    password = "Pw-" + secrets.token_urlsafe(18)
    vault = cluster.stub.CreateVault(cp.CreateVaultRequest(name="dom-login"), metadata=md)
    cluster.stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url=site, username="ada-in-the-vault", password=password)), metadata=md)
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        keep_alive=True, vault_id=vault.id, record_session=True)), metadata=md, timeout=60)
    digest = hashlib.sha256(password.encode()).hexdigest()
    with grpc.insecure_channel(cluster.address) as channel:
        auto = automation_pb2_grpc.AutomationStub(channel)
        try:
            url = f"{site}/vault-login.html#ada-in-the-vault:{digest}"
            auto.Navigate(A.NavigateRequest(session_id=s.id, url=url), metadata=md, timeout=30)
            for selector, which in (("#username", A.VAULT_USERNAME), ("#password", A.VAULT_PASSWORD)):
                auto.Act(A.ActRequest(session_id=s.id, action=A.Action(fill=A.Fill(
                    target=A.ElementTarget(selector=selector), vault_secret=which))),
                    metadata=md, timeout=60)
            auto.Act(A.ActRequest(session_id=s.id, action=A.Action(click=A.Click(
                target=A.ElementTarget(selector="button[type=submit]")))), metadata=md, timeout=60)
            cluster.wait(lambda: auto.Evaluate(A.EvaluateRequest(
                session_id=s.id, expression="document.getElementById('result').textContent"),
                metadata=md).result.string_value == "Welcome", 10, "the login did not go through")
        finally:
            cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    events = recording(bb, s.id)
    raw = json.dumps([e.data for e in events])
    assert "Welcome" in raw  # the page after the login is in the recording
    assert password not in raw and "ada-in-the-vault" not in raw.replace(f"#ada-in-the-vault:{digest}", "")
    artifact = dom_artifact(cluster, md, s.id)
    stored = b"".join(c.data for c in cluster.stub.ReadArtifact(
        cp.ReadArtifactRequest(id=artifact.id), metadata=md, timeout=30))
    assert password.encode() not in stored


PAGES = ("hello.html", "form.html", "locate.html", "many.html", "consent.html", "framed.html",
         "media.html", "scroll.html", "products.html", "noisy.html", "files.html", "ads.html")


def page_behaviour(bb: Browserbase, site: str, record: bool) -> list:
    """What each test page does (title, text, errors) in a session recorded or not."""
    session = bb.sessions.create(browser_settings={"recordSession": record})
    seen = []
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.connect_url)
        page = browser.contexts[0].pages[0]
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name in PAGES:
            page.goto(f"{site}/{name}", wait_until="load")
            seen.append((name, page.title(), page.evaluate("document.body.innerText.length"),
                         page.evaluate(f"typeof window.{BINDING}") == "function", list(errors)))
            errors.clear()
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
        browser.close()
    return seen


def test_the_recorder_does_not_change_the_test_pages(bb: Browserbase, site: str):
    recorded = page_behaviour(bb, site, record=True)
    plain = page_behaviour(bb, site, record=False)
    assert all(r[3] for r in recorded) and not any(p[3] for p in plain)
    assert [(r[0], r[1], r[2], r[4]) for r in recorded] == [(p[0], p[1], p[2], p[4]) for p in plain]
