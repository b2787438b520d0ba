"""Observe, Act, Extract and resource blocking through the control plane, on real Chromium and
the pages in tests/pages/. Every assertion checks what the page itself did."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from tests.cluster import Cluster


@pytest.fixture
def auto(cluster: Cluster):
    with grpc.insecure_channel(cluster.address) as channel:
        yield automation_pb2_grpc.AutomationStub(channel)


def _session(cluster: Cluster, md, **options):
    return cluster.stub.CreateSession(cp.CreateSessionRequest(
        options=S.SessionOptions(keep_alive=True, **options)), metadata=md, timeout=60)


@pytest.fixture
def sid(cluster: Cluster, md):
    s = _session(cluster, md)
    yield s.id
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def _goto(auto, md, sid, url):
    return auto.Navigate(A.NavigateRequest(session_id=sid, url=url), metadata=md, timeout=30)


def _act(auto, md, sid, **action):
    return auto.Act(A.ActRequest(session_id=sid, action=A.Action(**action)), metadata=md, timeout=60)


def _js(auto, md, sid, expression):
    return auto.Evaluate(A.EvaluateRequest(session_id=sid, expression=expression), metadata=md).result


def test_observe_reads_content_elements_forms_and_keeps_refs(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/form.html")
    first = auto.Observe(A.ObserveRequest(session_id=sid, include_page_map=True), metadata=md)
    assert first.page.title == "Sign up" and first.page.url.endswith("/form.html")
    assert "# Sign up" in first.markdown and first.markdown_shown == first.markdown_total
    assert not first.HasField("changes")  # nothing to compare with yet
    by_label = {e.label: e for e in first.elements}
    assert by_label["Full name"].role == "textbox" and by_label["Full name"].tag == "input"
    assert by_label["Plan"].role == "combobox" and by_label["Plan"].value == "Free"
    assert list(by_label["Plan"].options) == ["Free", "Pro", "Team"]
    assert by_label["I accept the terms"].role == "checkbox"
    assert by_label["Create account"].role == "button"
    assert "Hidden button" not in by_label  # hidden elements are not offered
    assert not any(e.type == "hidden" for e in first.elements)
    (form,) = first.forms
    assert form.method == "GET" and form.action.endswith("/form-done.html")
    assert by_label["Email"].ref in form.field_refs and by_label["Email"].form_ref == form.ref
    assert any(section.section == "main" for section in first.map)
    assert first.scroll.viewport_height > 0 and first.scroll.height >= first.scroll.viewport_height

    # Acting by ref changes the page; the next observation keeps the refs and reports the change.
    counter = by_label["Clicked 0 times"]
    _act(auto, md, sid, click=A.Click(target=A.ElementTarget(ref=counter.ref)))
    _act(auto, md, sid, fill=A.Fill(target=A.ElementTarget(ref=by_label["Full name"].ref), value="Ann"))
    second = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    again = {e.ref: e for e in second.elements}
    assert again[counter.ref].label == "Clicked 1 times"
    assert again[by_label["Full name"].ref].value == "Ann"
    assert second.changes.content_changed and "Clicked 1 times" in second.changes.content_delta
    _js(auto, md, sid, "document.querySelector('main').insertAdjacentHTML('beforeend', "
                       "'<button id=late>Late button</button>')")
    third = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    late = [e.ref for e in third.elements if e.label == "Late button"]
    assert list(third.changes.elements_added) == late
    _js(auto, md, sid, "document.getElementById('late').remove()")
    fourth = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    assert list(fourth.changes.elements_removed) == late


def test_markdown_is_truncated_with_counts_and_scope_narrows(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/products.html")
    short = auto.Observe(A.ObserveRequest(session_id=sid, max_text_length=40), metadata=md)
    assert short.markdown_shown == 40 == len(short.markdown) and short.markdown_total > 40
    full = auto.Observe(A.ObserveRequest(session_id=sid, mode=A.ObserveRequest.FULL,
                                         include_links=True), metadata=md)
    assert "© Test Shop" in full.markdown and "[footer]" in full.markdown
    assert any(link.text == "Next" and link.href.endswith("page=2") for link in full.links)
    main = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    assert "Product 1" in main.markdown and "© Test Shop" not in main.markdown
    scoped = auto.Observe(A.ObserveRequest(session_id=sid, scope=".pagination"), metadata=md)
    assert [e.label for e in scoped.elements] == ["Next"]
    with pytest.raises(grpc.RpcError) as info:
        auto.Observe(A.ObserveRequest(session_id=sid, scope="#nothing-here"), metadata=md)
    assert errors.describe(info.value).reason == errors.ELEMENT_NOT_FOUND


def test_off_screen_elements_are_listed_but_marked(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/many.html")
    obs = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    assert len(obs.elements) == 1000
    on_screen = [e for e in obs.elements if e.in_viewport]
    assert 0 < len(on_screen) < 1000
    limited = auto.Observe(A.ObserveRequest(session_id=sid, max_elements=10), metadata=md)
    assert len(limited.elements) == 10 and all(e.in_viewport for e in limited.elements)
    far = obs.elements[-1]  # the last checkbox, far below the fold
    _act(auto, md, sid, check=A.Check(target=A.ElementTarget(ref=far.ref), checked=True))
    assert _js(auto, md, sid, "document.getElementById('option250').checked").bool_value


def test_every_action_does_what_a_user_would(auto, md, sid, site, tmp_path):
    _goto(auto, md, sid, f"{site}/form.html")
    _act(auto, md, sid, click=A.Click(target=A.ElementTarget(text="Clicked 0 times"), click_count=2))
    assert _js(auto, md, sid, "document.getElementById('counter').textContent").string_value == \
        "Clicked 2 times"
    _act(auto, md, sid, hover=A.Hover(target=A.ElementTarget(selector="#hover-target")))
    assert _js(auto, md, sid, "document.body.dataset.hovered").string_value == "yes"
    _act(auto, md, sid, type=A.TypeText(target=A.ElementTarget(label="Key log"), text="ab"))
    _act(auto, md, sid, press=A.PressKey(key="Enter"))
    assert _js(auto, md, sid, "document.getElementById('keylog').textContent").string_value == \
        "a b Enter "
    _act(auto, md, sid, select=A.Select(target=A.ElementTarget(label="Plan"), values=["Team"]))
    _act(auto, md, sid, check=A.Check(target=A.ElementTarget(label="I accept the terms")))
    filled = _act(auto, md, sid, fill_form=A.FillForm(fields={
        "Full name": "Ann Lee", "Email": "ann@example.com", "Password": "pw", "About you": "hi"},
        submit=True))
    assert filled.submitted and filled.navigated and list(filled.fields_filled)
    assert filled.page.title == "Welcome"
    received = _js(auto, md, sid, "Object.fromEntries(new URLSearchParams(location.search))")
    got = {k: v.string_value for k, v in received.struct_value.fields.items()}
    assert got == {"csrf": "x", "name": "Ann Lee", "email": "ann@example.com", "password": "pw",
                   "plan": "team", "terms": "yes", "bio": "hi"}

    # Waiting: for a selector that appears later, for text, for a script, for time.
    _js(auto, md, sid, "setTimeout(() => document.body.insertAdjacentHTML('beforeend', "
                       "'<p id=later>Arrived</p>'), 300)")
    _act(auto, md, sid, wait=A.Wait(selector="#later", timeout_ms=5000))
    _act(auto, md, sid, wait=A.Wait(text="Arrived", until_js="document.readyState === 'complete'"))
    with pytest.raises(grpc.RpcError) as info:
        _act(auto, md, sid, wait=A.Wait(selector="#never", timeout_ms=300))
    assert errors.describe(info.value).reason == errors.TIMEOUT

    # Upload from a URL into a file input; the page reads the file.
    _goto(auto, md, sid, f"{site}/upload.html")
    _act(auto, md, sid, upload=A.Upload(target=A.ElementTarget(label="Attachment"),
                                        files=[f"{site}/report.csv"]))
    _act(auto, md, sid, wait=A.Wait(selector="#content:not(:empty)"))
    chosen = _js(auto, md, sid, "document.getElementById('chosen').textContent").string_value
    assert chosen.startswith("report.csv (")
    with pytest.raises(grpc.RpcError) as info:
        _act(auto, md, sid, upload=A.Upload(target=A.ElementTarget(label="Attachment"),
                                            files=["/etc/passwd"]))
    assert errors.describe(info.value).reason == errors.INVALID_ARGUMENT

    # Scrolling: by pixels, to the end, to an element.
    _goto(auto, md, sid, f"{site}/scroll.html")
    _act(auto, md, sid, scroll=A.Scroll(delta_y=500))
    assert _js(auto, md, sid, "window.scrollY").number_value == 500
    _act(auto, md, sid, scroll=A.Scroll(edge=A.Scroll.BOTTOM))
    _act(auto, md, sid, wait=A.Wait(until_js="document.querySelectorAll('.item').length >= 20"))
    _act(auto, md, sid, scroll=A.Scroll(to_element=A.ElementTarget(text="Item 2")))
    top = _js(auto, md, sid, "document.querySelectorAll('.item')[1].getBoundingClientRect().top")
    assert 0 <= top.number_value < 720


def test_scroll_collect_gathers_the_whole_feed(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/scroll.html")
    got = _act(auto, md, sid, scroll_collect=A.ScrollCollect(max_scrolls=30, wait_ms=300))
    assert "Item 1" in got.collected_markdown and "Item 50" in got.collected_markdown
    assert "End of feed" in got.collected_markdown
    assert got.collected_total == len(got.collected_markdown)


def test_bad_targets_answer_reasons_and_the_page_stays_usable(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/form.html")

    def reason(**action):
        with pytest.raises(grpc.RpcError) as info:
            _act(auto, md, sid, **action)
        return errors.describe(info.value).reason

    assert reason(click=A.Click(target=A.ElementTarget(ref="e999"))) == errors.ELEMENT_NOT_FOUND
    assert reason(click=A.Click(target=A.ElementTarget(selector="#nope"))) == errors.ELEMENT_NOT_FOUND
    assert reason(click=A.Click(target=A.ElementTarget(text="Hidden button"))) == errors.ELEMENT_NOT_FOUND
    assert reason(click=A.Click(target=A.ElementTarget(selector="::nonsense("))) == errors.INVALID_ARGUMENT
    assert reason(click=A.Click()) == errors.INVALID_ARGUMENT
    assert reason(select=A.Select(target=A.ElementTarget(label="Plan"), values=["Gold"])) == \
        errors.ELEMENT_NOT_FOUND
    assert reason(press=A.PressKey(key="NoSuchKey")) == errors.INVALID_ARGUMENT
    assert reason(wait=A.Wait()) == errors.INVALID_ARGUMENT
    # Refs die with the document: after a reload, old refs are not found.
    obs = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    auto.Navigate(A.NavigateRequest(session_id=sid, kind=A.NavigateRequest.RELOAD), metadata=md)
    assert reason(click=A.Click(target=A.ElementTarget(ref=obs.elements[0].ref))) == \
        errors.ELEMENT_NOT_FOUND
    ok = _act(auto, md, sid, click=A.Click(target=A.ElementTarget(selector="#counter")))
    assert ok.success


def test_extract_follows_the_browserbeam_schema(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/products.html?page=2")
    schema = struct_pb2.Struct()
    schema.update({
        "title": "h1 >> text",
        "page": "#page-indicator",
        "links": [".pagination a >> href"],
        "products": [{"_parent": ".product", "_limit": 3, "name": ".name >> text",
                      "price": ".price >> text", "url": "a.details >> href"}],
        "missing": ".nothing >> text",
    })
    data = auto.Extract(A.ExtractRequest(session_id=sid, schema=schema), metadata=md).data
    got = {k: v for k, v in data.items()}
    assert got["title"] == "Products" and got["page"] == "Page 2 of 3"
    assert [u.rsplit("/", 1)[1] for u in got["links"]] == ["products.html?page=1",
                                                           "products.html?page=3"]
    products = [dict(p) for p in got["products"]]
    assert [p["name"] for p in products] == ["Product 5", "Product 6", "Product 7"]
    assert products[0]["price"] == "$14.00" and products[0]["url"].endswith("product.html?id=5")
    assert got["missing"] is None
    bad = struct_pb2.Struct()
    bad.update({"x": "[[[ >> text"})
    with pytest.raises(grpc.RpcError) as info:
        auto.Extract(A.ExtractRequest(session_id=sid, schema=bad), metadata=md)
    assert errors.describe(info.value).reason == errors.INVALID_ARGUMENT


def test_blocked_resources_never_load_and_blockers_are_dismissed(cluster, auto, md, site):
    s = _session(cluster, md, blocked_resource_types=[S.IMAGE, S.STYLESHEET, S.MEDIA],
                 dismiss_blockers=True)
    try:
        _goto(auto, md, s.id, f"{site}/consent.html")
        # The banner was accepted by clicking its own button: the page set its cookie.
        assert _js(auto, md, s.id, "document.body.dataset.consent").string_value == "accepted"
        assert "consent=yes" in _js(auto, md, s.id, "document.cookie").string_value
        moved = _goto(auto, md, s.id, f"{site}/media.html")
        assert moved.http_status == 200 and moved.page.title == "Media 1"  # scripts still run
        assert _js(auto, md, s.id, "document.getElementById('dot').naturalWidth").number_value == 0
        assert _js(auto, md, s.id, "getComputedStyle(document.body).color").string_value != \
            "rgb(255, 0, 0)"  # the stylesheet never applied
        log = auto.GetNetworkLog(A.LogRequest(session_id=s.id, limit=500), metadata=md).entries
        blocked = {e.url.rsplit("/", 1)[1]: e for e in log if e.failed}
        assert {"dot.png", "style.css"} <= set(blocked)
        assert "BLOCKED" in blocked["dot.png"].error_text.upper()
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    plain = _session(cluster, md)
    try:
        _goto(auto, md, plain.id, f"{site}/media.html")
        assert _js(auto, md, plain.id, "document.getElementById('dot').naturalWidth").number_value == 4
        _goto(auto, md, plain.id, f"{site}/consent.html")
        assert not _js(auto, md, plain.id, "document.body.dataset.consent").string_value
        dismissed = auto.DismissBlockers(A.DismissBlockersRequest(session_id=plain.id), metadata=md)
        assert list(dismissed.dismissed) == ["cookie_consent"]
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=plain.id), metadata=md)


def test_uploads_are_fetched_only_from_allowed_domains(cluster, auto, md, site):
    s = _session(cluster, md, allowed_domains=["127.0.0.1"])
    try:
        _goto(auto, md, s.id, f"{site}/upload.html")
        elsewhere = site.replace("127.0.0.1", "localhost") + "/report.csv"
        with pytest.raises(grpc.RpcError) as info:
            _act(auto, md, s.id, upload=A.Upload(target=A.ElementTarget(label="Attachment"),
                                                 files=[elsewhere]))
        assert errors.describe(info.value).reason == errors.PERMISSION_DENIED
        _act(auto, md, s.id, upload=A.Upload(target=A.ElementTarget(label="Attachment"),
                                             files=[f"{site}/report.csv"]))
        _act(auto, md, s.id, wait=A.Wait(text="report.csv ("))
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_a_script_that_never_ends_is_stopped_and_the_page_stays_usable(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/form.html")
    with pytest.raises(grpc.RpcError) as info:
        auto.Evaluate(A.EvaluateRequest(session_id=sid, expression="while (true) {}", timeout_ms=500),
                      metadata=md, timeout=30)
    assert errors.describe(info.value).reason == errors.TIMEOUT
    assert _js(auto, md, sid, "1 + 1").number_value == 2
    assert auto.Observe(A.ObserveRequest(session_id=sid), metadata=md, timeout=30).page.title == "Sign up"


def test_the_action_log_lists_what_automation_did(cluster, auto, md, site):
    s = _session(cluster, md)
    try:
        _goto(auto, md, s.id, f"{site}/form.html")
        obs = auto.Observe(A.ObserveRequest(session_id=s.id), metadata=md)
        ref = next(e.ref for e in obs.elements if e.label == "Password")
        _act(auto, md, s.id, fill=A.Fill(target=A.ElementTarget(ref=ref), value="hunter2"))
        with pytest.raises(grpc.RpcError):
            _act(auto, md, s.id, click=A.Click(target=A.ElementTarget(selector="#missing")))
        other = (("authorization", f"Bearer {cluster.create_key('action-log-other')}"),)
        with pytest.raises(grpc.RpcError):  # someone else's call is not this session's action
            auto.Act(A.ActRequest(session_id=s.id, action=A.Action(
                click=A.Click(target=A.ElementTarget(ref=ref)))), metadata=other)
        log = auto.GetActionLog(A.LogRequest(session_id=s.id), metadata=md)
        kinds = [(e.type, e.success, e.error_reason) for e in log.entries]
        assert kinds == [("navigate", True, ""), ("observe", True, ""), ("fill", True, ""),
                         ("click", False, errors.ELEMENT_NOT_FOUND)]
        assert log.total == 4 and all(e.duration_ms > 0 for e in log.entries)
        assert dict(log.entries[0].details)["url"] == f"{site}/form.html"
        assert dict(log.entries[2].details) == {"action": "fill", "ref": ref}  # not the password
        paged = auto.GetActionLog(A.LogRequest(session_id=s.id, offset=3, limit=5), metadata=md)
        assert [e.type for e in paged.entries] == ["click"] and paged.total == 4
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_a_consent_dialog_in_an_iframe_is_dismissed(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/consent-frame.html")
    dismissed = auto.DismissBlockers(A.DismissBlockersRequest(session_id=sid), metadata=md)
    assert list(dismissed.dismissed) == ["cookie_consent"]
    assert _js(auto, md, sid, "document.body.dataset.consent").string_value == "accepted"
    assert not auto.DismissBlockers(A.DismissBlockersRequest(session_id=sid), metadata=md).dismissed


def test_a_newsletter_pop_up_is_closed_not_subscribed_to(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/newsletter.html")
    dismissed = auto.DismissBlockers(A.DismissBlockersRequest(session_id=sid), metadata=md)
    assert list(dismissed.dismissed) == ["newsletter_popup"]
    assert _js(auto, md, sid, "document.body.dataset.modal").string_value == "closed"


def test_iframes_are_read_and_acted_on_like_the_page(auto, md, sid, site):
    _goto(auto, md, sid, f"{site}/framed.html")
    obs = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    assert "# Contact us" in obs.markdown and "## [frame] Sign up" in obs.markdown
    assert "Hello from Browserplane" not in obs.markdown  # the hidden frame is left out
    framed = {e.label: e for e in obs.elements if e.ref.startswith("f")}
    counter = framed["Clicked 0 times"]
    assert counter.ref.startswith("f") and counter.ref[1:].split("e")[0].isdigit()
    assert any(f.ref.startswith("f") and framed["Email"].ref in f.field_refs for f in obs.forms)
    _act(auto, md, sid, click=A.Click(target=A.ElementTarget(ref=counter.ref)))
    _act(auto, md, sid, fill=A.Fill(target=A.ElementTarget(ref=framed["Full name"].ref), value="Ann"))
    again = auto.Observe(A.ObserveRequest(session_id=sid), metadata=md)
    by_ref = {e.ref: e for e in again.elements}
    assert by_ref[counter.ref].label == "Clicked 1 times"  # same ref, same element
    assert by_ref[framed["Full name"].ref].value == "Ann"
    assert "Clicked 1 times" in again.changes.content_delta
    inside = _js(auto, md, sid, "document.getElementById('widget').contentDocument"
                                ".getElementById('counter').textContent")
    assert inside.string_value == "Clicked 1 times"


def test_block_ads_fails_requests_to_ad_hosts_only(cluster, auto, md, site):
    def failures(session_id):
        log = auto.GetNetworkLog(A.LogRequest(session_id=session_id, limit=500), metadata=md).entries
        return {e.url.split("/")[2]: e.error_text for e in log if e.failed}

    blocking = _session(cluster, md, block_ads=True)
    plain = _session(cluster, md)
    try:
        for s in (blocking, plain):
            _goto(auto, md, s.id, f"{site}/ads.html")
            _act(auto, md, s.id, wait=A.Wait(until_js="document.title === 'Ads (page loaded)'"))
            _act(auto, md, s.id, wait=A.Wait(time_ms=300))  # the ad request's outcome lands
        blocked = failures(blocking.id)
        assert "ERR_BLOCKED_BY_CLIENT" in blocked["securepubads.g.doubleclick.net"]
        assert "127.0.0.1" not in " ".join(blocked)  # the page's own requests went through
        # Without block_ads the ad request is made (and fails on this offline machine for
        # another reason: no such host).
        unblocked = failures(plain.id)
        assert "BLOCKED" not in unblocked.get("securepubads.g.doubleclick.net", "").upper()
    finally:
        for s in (blocking, plain):
            cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
