"""The official `browserbeam` SDK against the gateway's Browserbeam dialect, on the pages in
tests/pages/. Every step type runs at least once, and each assertion checks what the page did."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from browserbeam import Browserbeam
from browserbeam.errors import (
    AuthenticationError,
    InvalidRequestError,
    RateLimitError,
    SessionNotFoundError,
)
from playwright.sync_api import sync_playwright

from browserplane.v1 import controlplane_pb2 as cp
from tests.cluster import Cluster


@pytest.fixture
def beam(gateway_url: str, api_key: str):
    client = Browserbeam(api_key=api_key, base_url=gateway_url, timeout=120)
    yield client
    client.close()


@pytest.fixture
def session(beam: Browserbeam):
    s = beam.sessions.create()
    yield s
    try:
        beam.sessions.destroy(s.session_id)
    except SessionNotFoundError:
        pass


def _labels(envelope) -> dict[str, str]:
    return {e.label: e.ref for e in envelope.page.interactive_elements}


def test_create_with_url_observes_and_lifecycle(beam: Browserbeam, site: str):
    s = beam.sessions.create(url=f"{site}/products.html", viewport={"width": 1100, "height": 700},
                             timeout=120)
    assert s.session_id and s.expires_at and s.request_id.startswith("req_")
    assert s.error is None and s.completed == 0
    assert s.page.title == "Products" and s.page.url.endswith("/products.html")
    assert "# Products" in s.page.markdown.content and "Product 4" in s.page.markdown.content
    assert s.page.markdown.length["shown"] == len(s.page.markdown.content)
    assert s.page.scroll.viewport == 700
    assert "Next" in _labels(s)
    info = beam.sessions.get(s.session_id)
    assert info.status == "active" and info.started_at and info.ended_at is None
    listed = beam.sessions.list(status="active", limit=100)
    assert s.session_id in [x.session_id for x in listed.sessions]
    beam.sessions.destroy(s.session_id)
    ended = beam.sessions.get(s.session_id)
    assert ended.status == "closed" and ended.ended_at and ended.duration_seconds is not None
    with pytest.raises(SessionNotFoundError):
        s.click(text="Next")
    beam.sessions.destroy(s.session_id)  # destroying twice is fine


def test_create_with_steps_only_and_bare(beam: Browserbeam, site: str):
    s = beam.sessions.create(steps=[{"goto": {"url": f"{site}/products.html?page=3"}},
                                    {"extract": {"indicator": "#page-indicator >> text"}}])
    try:
        assert s.completed == 2 and s.extraction == {"indicator": "Page 3 of 3"}
        assert s.page.url.endswith("page=3")
    finally:
        beam.sessions.destroy(s.session_id)
    broken = beam.sessions.create(url="http://127.0.0.1:9/", steps=[{"observe": {}}])
    try:
        assert broken.completed == 0 and (broken.error.step, broken.error.code) == (0, "navigation_failed")
        assert broken.error.context["from"] == "url"
    finally:
        beam.sessions.destroy(broken.session_id)
    bare = beam.sessions.create()
    try:
        assert bare.completed == 0 and bare.error is None and bare.page.url == "about:blank"
    finally:
        beam.sessions.destroy(bare.session_id)


def test_create_options_reach_the_browser(beam: Browserbeam, site: str):
    s = beam.sessions.create(
        url=f"{site}/hello.html", viewport={"width": 900, "height": 600}, user_agent="BeamTest/1.0",
        locale="de-DE", timezone="Asia/Tokyo", cookies=[{"name": "sid", "value": "abc", "url": site}],
        steps=[{"execute_js": {"result_key": "seen", "code": "({ua: navigator.userAgent, "
               "lang: navigator.language, tz: Intl.DateTimeFormat().resolvedOptions().timeZone, "
               "size: [innerWidth, innerHeight], cookie: document.cookie})"}}])
    try:
        assert s.extraction["seen"] == {"ua": "BeamTest/1.0", "lang": "de-DE", "tz": "Asia/Tokyo",
                                        "size": [900, 600], "cookie": "sid=abc"}
        assert s.page.scroll.viewport == 600
    finally:
        beam.sessions.destroy(s.session_id)


def test_form_steps_fill_type_select_check_click_and_submit(session, site: str):
    page = session.goto(f"{site}/form.html")
    refs = _labels(page)
    session.fill("Ann", ref=refs["Full name"])
    session.type("ann@example.com", label="Email")
    session.select("Pro", label="Plan")
    session.check(label="I accept the terms")
    session.fill("pw", label="Password")
    after = session.click(ref=refs["Clicked 0 times"])
    assert after.error is None and "Clicked 1 times" in _labels(after)
    assert _labels(after)["Full name"] == refs["Full name"]  # refs stay put
    assert after.page.changes.content_changed
    element = {e.ref: e for e in after.page.interactive_elements}
    assert element[refs["Full name"]].value == "Ann" and element[refs["Plan"]].value == "Pro"
    form = after.page.forms[0]
    assert form["method"] == "GET" and {f["ref"] for f in form["fields"]} >= {refs["Email"]}
    done = session.click(text="Create account")
    assert done.page.title == "Welcome"
    got = session.extract(received=[{"_parent": "#received dt", "key": ":scope >> text"}],
                          values=["#received dd >> text"])
    received = dict(zip([k["key"] for k in got.extraction["received"]], got.extraction["values"],
                        strict=True))
    assert received == {"csrf": "x", "name": "Ann", "email": "ann@example.com", "password": "pw",
                        "plan": "pro", "terms": "yes", "bio": ""}


def test_fill_form_submits_by_labels(session, site: str):
    session.goto(f"{site}/form.html")
    done = session.fill_form({"Full name": "Bo", "Email": "bo@example.com", "Plan": "Team",
                              "I accept the terms": "true", "About you": "hello"}, submit=True)
    assert done.error is None and done.page.title == "Welcome"
    assert done.page.url.split("?", 1)[1] == \
        "csrf=x&name=Bo&email=bo%40example.com&password=&plan=team&terms=yes&bio=hello"


def test_products_extract_pagination_and_media(session, site: str):
    first = session.goto(f"{site}/products.html")
    data = session.extract(title="h1 >> text", products=[{"_parent": ".product", "_limit": 2,
                                                          "name": ".name >> text",
                                                          "url": "a.details >> href"}])
    assert data.extraction["title"] == "Products"
    assert [p["name"] for p in data.extraction["products"]] == ["Product 1", "Product 2"]
    assert data.extraction["products"][0]["url"] == f"{site}/product.html?id=1"
    nxt = session.click(ref=_labels(first)["Next"])
    assert nxt.page.url.endswith("products.html?page=2")
    assert "Product 5" in nxt.page.markdown.content and "Product 1\n" not in nxt.page.markdown.content
    shots = session.act([{"screenshot": {}}, {"screenshot": {"format": "jpeg", "quality": 50,
                                                             "full_page": True}},
                         {"pdf": {"format": "A4"}}])
    kinds = [(m.type, m.format) for m in shots.media]
    assert kinds == [("screenshot", "png"), ("screenshot", "jpeg"), ("pdf", "pdf")]
    assert base64.b64decode(shots.media[0].data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert base64.b64decode(shots.media[1].data)[:2] == b"\xff\xd8"
    assert base64.b64decode(shots.media[2].data)[:5] == b"%PDF-"
    ran = session.execute_js("document.querySelectorAll('.product').length", result_key="count")
    assert ran.extraction == {"count": 4}


def test_cookie_banner_is_dismissed_and_reported(beam: Browserbeam, site: str):
    s = beam.sessions.create(url=f"{site}/consent.html")
    try:
        assert s.blockers_dismissed == ["cookie_consent"]
        assert "We use cookies" not in s.page.markdown.content
        checked = s.execute_js("document.body.dataset.consent", result_key="consent")
        assert checked.extraction == {"consent": "accepted"}
    finally:
        beam.sessions.destroy(s.session_id)
    kept = beam.sessions.create(url=f"{site}/consent.html", auto_dismiss_blockers=False)
    try:
        assert kept.blockers_dismissed == []
        assert "We use cookies" in kept.page.markdown.content
    finally:
        beam.sessions.destroy(kept.session_id)


def test_images_are_blocked_by_default_and_can_be_allowed(beam: Browserbeam, site: str):
    width = [{"execute_js": {"code": "document.getElementById('dot').naturalWidth", "result_key": "w"}}]
    s = beam.sessions.create(url=f"{site}/media.html", steps=width)
    try:
        assert s.extraction == {"w": 0} and s.completed == 1
    finally:
        beam.sessions.destroy(s.session_id)
    s = beam.sessions.create(url=f"{site}/media.html", steps=width, block_resources=[])
    try:
        assert s.extraction == {"w": 4}
    finally:
        beam.sessions.destroy(s.session_id)


def test_infinite_scroll_scroll_and_wait(session, site: str):
    session.goto(f"{site}/scroll.html")
    down = session.scroll(direction="down", amount=400)
    assert down.page.scroll.y == 400
    session.scroll(to="bottom")
    grown = session.wait(until_js="document.querySelectorAll('.item').length >= 20", timeout=5000)
    assert grown.error is None
    at = session.scroll(text="Item 15")
    assert "Item 15" in at.page.markdown.content
    collected = session.scroll_collect(max_scrolls=30, wait_ms=300)
    text = collected.page.markdown.content
    assert "Item 1\n" in text and "Item 50" in text and "End of feed" in text
    assert collected.page.markdown.length["total"] >= len(text)
    waited = session.wait(ms=50)
    assert waited.error is None and waited.completed == 1
    session.wait(selector="#end")
    assert session.wait(text="End of feed").error is None


def test_upload_reaches_the_file_input(session, site: str):
    session.goto(f"{site}/upload.html")
    done = session.upload([f"{site}/report.csv"], label="Attachment")
    assert done.error is None
    session.wait(selector="#content:not(:empty)")
    got = session.extract(chosen="#chosen li >> text", content="#content >> text")
    assert got.extraction["chosen"].startswith("report.csv (")
    assert got.extraction["content"]
    data_url = "data:text/plain;name=note.txt;base64," + base64.b64encode(b"hello note").decode()
    session.upload([data_url], ref=_labels(session.observe())["Attachment"])
    session.wait(text="note.txt (10 bytes)")
    assert session.extract(content="#content >> text").extraction["content"] == "hello note"


def test_observe_options_and_close_step(beam: Browserbeam, site: str):
    s = beam.sessions.create(url=f"{site}/products.html")
    full = s.observe(mode="full", include_page_map=True, include_links=True, max_text_length=5000)
    assert "© Test Shop" in full.page.markdown.content
    assert {m.section for m in full.page.map} >= {"header", "nav", "main", "footer"}
    short = s.observe(max_text_length=20)
    assert short.page.markdown.length == {"shown": 20, "total": full.page.markdown.length["total"]
                                          - len("© Test Shop")} or short.page.markdown.length["shown"] == 20
    scoped = s.observe(scope=".pagination")
    assert [e.label for e in scoped.page.interactive_elements] == ["Next"]
    closed = s.close()
    assert closed.page is None and closed.completed == 1 and closed.session_id == s.session_id
    assert beam.sessions.get(s.session_id).status == "closed"


def test_bad_steps_name_the_step_and_the_session_stays_usable(session, site: str):
    session.goto(f"{site}/form.html")
    sid = session.session_id
    with pytest.raises(InvalidRequestError) as info:
        session.act([{"observe": {}}, {"teleport": {"to": "mars"}}])
    assert info.value.code == "invalid_request" and info.value.context["step"] == 1
    assert "teleport" in info.value.message
    with pytest.raises(InvalidRequestError) as info:
        session.act([{"click": {"ref": "e1"}, "fill": {"value": "x"}}])
    assert info.value.context["step"] == 0
    with pytest.raises(InvalidRequestError) as info:
        session.act([{"goto": {"url": f"{site}/form.html"}}, {"click": {}}])
    assert info.value.context == {"step": 1, "action": "click"}
    with pytest.raises(InvalidRequestError):
        session.act([])
    # Nothing ran: the counter is still at zero.
    assert "Clicked 0 times" in _labels(session.observe())

    # A ref that does not exist: a 200 envelope with the failing step, the earlier steps done.
    missing = session.act([{"click": {"text": "Clicked 0 times"}}, {"click": {"ref": "e9999"}},
                           {"click": {"text": "Clicked 1 times"}}])
    assert session.session_id == sid  # the SDK took the echoed id
    assert missing.completed == 1
    assert (missing.error.step, missing.error.action, missing.error.code) == \
        (1, "click", "element_not_found")
    assert "Clicked 1 times" in _labels(missing)  # the page state after the failure
    nothing = session.act([{"fill": {"selector": "#no-such-field", "value": "x"}}])
    assert (nothing.error.step, nothing.error.code) == (0, "element_not_found")
    bad_extract = session.extract(title="[[[ >> text")
    assert bad_extract.error.code == "extract_failed"
    thrown = session.execute_js("nope.nope")
    assert thrown.error.code == "action_failed" and "nope" in thrown.error.message
    nav = session.goto("http://127.0.0.1:9/")
    assert (nav.error.action, nav.error.code) == ("goto", "navigation_failed")
    # Still usable.
    ok = session.goto(f"{site}/form.html")
    assert ok.error is None and ok.page.title == "Sign up"
    ok = session.click(text="Clicked 0 times")
    assert ok.error is None and "Clicked 1 times" in _labels(ok)


def test_hover_and_press_extensions(session, site: str):
    session.goto(f"{site}/form.html")
    session.act([{"hover": {"selector": "#hover-target"}},
                 {"click": {"label": "Key log"}}, {"press": {"key": "x"}}, {"press": {"key": "Enter"}}])
    got = session.extract(hovered="body >> data-hovered", keys="#keylog >> text")
    assert got.extraction == {"hovered": "yes", "keys": "x Enter"}


def _raw(url: str, method: str = "GET", body: object = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_wire_details_idempotency_headers_pagination_and_errors(beam, gateway_url, api_key, site):
    auth = {"Authorization": f"Bearer {api_key}"}
    status, headers, first = _raw(f"{gateway_url}/v1/sessions", "POST", {"url": f"{site}/form.html"},
                                  {**auth, "Idempotency-Key": "order-42"})
    assert status == 201 and first["page"]["title"] == "Sign up"
    assert headers["X-RateLimit-Limit"] and headers["X-Request-Id"] == first["request_id"]
    int(headers["X-RateLimit-Remaining"]), int(headers["X-RateLimit-Reset"])
    assert "Idempotent-Replayed" not in headers
    status, headers, again = _raw(f"{gateway_url}/v1/sessions", "POST", {"url": f"{site}/form.html"},
                                  {**auth, "Idempotency-Key": "order-42"})
    assert status == 201 and again["session_id"] == first["session_id"]
    assert headers["Idempotent-Replayed"] == "true"
    # The replay did not navigate again: the page is what the first request left.
    assert again["page"]["changes"] is not None
    status, _, prefixed = _raw(f"{gateway_url}/browserbeam/v1/sessions/{first['session_id']}",
                               headers=auth)
    assert status == 200 and prefixed["status"] == "active"

    # Cursor pagination over this key's sessions.
    made = [beam.sessions.create().session_id for _ in range(2)]
    seen, cursor = [], None
    while True:
        page = beam.sessions.list(limit=1, after=cursor) if cursor else beam.sessions.list(limit=1)
        seen += [s.session_id for s in page.sessions]
        assert len(page.sessions) <= 1
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert set(made) | {first["session_id"]} <= set(seen) and len(seen) == len(set(seen))
    for sid in [*made, first["session_id"]]:
        beam.sessions.destroy(sid)

    # Errors in Browserbeam's shape.
    status, _, body = _raw(f"{gateway_url}/v1/sessions", "POST", {"timeout": 5}, auth)
    assert status == 400 and body["error"]["code"] == "invalid_request"
    assert "timeout" in body["error"]["message"]
    status, _, body = _raw(f"{gateway_url}/v1/sessions", "POST", {"block_resources": ["video"]}, auth)
    assert status == 400 and body["error"]["context"]["field"] == "block_resources[0]"
    status, _, body = _raw(f"{gateway_url}/v1/sessions/nope/act", "POST", {"steps": [{"observe": {}}]}, auth)
    assert status == 404 and body["error"]["code"] == "session_not_found"
    status, _, body = _raw(f"{gateway_url}/v1/sessions/nope/act", "POST", None, auth)
    assert status == 400 and body["error"]["code"] == "invalid_request"
    status, _, body = _raw(f"{gateway_url}/v1/sessions?limit=0", headers=auth)
    assert status == 400 and body["error"]["context"]["field"] == "limit"
    status, _, body = _raw(f"{gateway_url}/v1/sessions?after=garbage", headers=auth)
    assert status == 400 and body["error"]["context"]["field"] == "after"
    long_id = "x" * 5000  # echoed in the error, which must still fit gRPC's metadata limit
    status, _, body = _raw(f"{gateway_url}/v1/sessions/{long_id}/act", "POST",
                           {"steps": [{"observe": {}}]}, auth)
    assert status == 404 and body["error"]["code"] == "session_not_found"
    status, _, body = _raw(f"{gateway_url}/v1/nothing-here", headers=auth)
    assert status == 404 and body["error"]["code"] == "not_found"
    with pytest.raises(AuthenticationError):
        Browserbeam(api_key="bp_wrong", base_url=gateway_url).sessions.create()
    status, _, body = _raw(f"{gateway_url}/v1/sessions", "POST", {})
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_rate_limit_answers_integer_retry_after(tmp_path, site):
    c = Cluster(tmp_path)
    try:
        c.start_controlplane()
        c.start_node(capacity=1, pool=0)
        c.start_gateway("--rate-limit", "2")
        key = c.create_key("limited")
        client = Browserbeam(api_key=key, base_url=f"http://127.0.0.1:{c.gateway_port}")
        client.sessions.list()
        client.sessions.list()
        with pytest.raises(RateLimitError) as info:
            client.sessions.list()
        assert info.value.code == "rate_limited" and 1 <= info.value.retry_after <= 60
    finally:
        c.stop()


def test_one_session_browserbeam_steps_and_playwright_take_turns(beam, cluster, md, site):
    s = beam.sessions.create(url=f"{site}/form.html")
    try:
        cdp_url = cluster.stub.GetSession(cp.GetSessionRequest(id=s.session_id), metadata=md).cdp_url
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(cdp_url)
            page = next(pg for pg in browser.contexts[0].pages if pg.url.endswith("/form.html"))
            page.fill("#name", "from Playwright")
            seen = s.observe()
            fields = {e.label: e for e in seen.page.interactive_elements}
            assert fields["Full name"].value == "from Playwright"
            s.click(text="Clicked 0 times")
            assert page.text_content("#counter") == "Clicked 1 times"
            browser.close()
    finally:
        beam.sessions.destroy(s.session_id)


def test_a_click_waits_for_the_request_it_started(session, site: str):
    session.goto(f"{site}/more.html")
    after = session.click(text="Load more")
    assert "Row 2 (" in after.page.markdown.content  # the slow answer is in this observation
    assert after.page.stable and "Row 2" in (after.page.changes.content_delta or "")
