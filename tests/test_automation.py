"""browserplane.v1.Automation through the control plane, on real Chromium (pages, navigation,
screenshots, PDF, scripts, cookies), and taking turns with Playwright on the same session."""

from __future__ import annotations

import grpc
import pytest
from playwright.sync_api import sync_playwright

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from tests.cluster import Cluster


@pytest.fixture
def automation(cluster: Cluster):
    with grpc.insecure_channel(cluster.address) as channel:
        yield automation_pb2_grpc.AutomationStub(channel)


@pytest.fixture
def session(cluster: Cluster, md):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(keep_alive=True)),
                                   metadata=md, timeout=60)
    yield s
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_pages_navigation_capture_scripts_and_cookies(automation, session, md, site: str):
    sid = session.id
    opened = automation.OpenPage(A.OpenPageRequest(session_id=sid, url=f"{site}/hello.html"),
                                 metadata=md, timeout=30)
    assert opened.title == "Hello from Browserplane" and opened.active
    pages = automation.ListPages(A.ListPagesRequest(session_id=sid), metadata=md).pages
    assert opened.id in [p.id for p in pages] and len(pages) == 2  # the first blank page too

    moved = automation.Navigate(A.NavigateRequest(session_id=sid, url=f"{site}/files.html"),
                                metadata=md, timeout=30)
    assert moved.http_status == 200 and moved.page.id == opened.id and moved.page.title == "Files"
    back = automation.Navigate(A.NavigateRequest(session_id=sid, kind=A.NavigateRequest.BACK),
                               metadata=md, timeout=30)
    assert back.page.url.endswith("/hello.html")

    png = automation.Screenshot(A.ScreenshotRequest(session_id=sid), metadata=md, timeout=60)
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n" and (png.width, png.height) == (1280, 720)
    jpeg = automation.Screenshot(A.ScreenshotRequest(
        session_id=sid, format=A.ScreenshotRequest.JPEG, quality=60,
        element=A.ElementTarget(selector="h1")), metadata=md, timeout=60)
    assert jpeg.data[:2] == b"\xff\xd8" and 0 < jpeg.height < 200
    pdf = automation.Pdf(A.PdfRequest(session_id=sid, paper_format="A4"), metadata=md, timeout=60)
    assert pdf.data.startswith(b"%PDF")

    value = automation.Evaluate(A.EvaluateRequest(session_id=sid, expression="[1 + 1, document.title]"),
                                metadata=md).result
    assert [v.number_value if v.HasField("number_value") else v.string_value
            for v in value.list_value.values] == [2, "Hello from Browserplane"]
    thrown = automation.Evaluate(A.EvaluateRequest(session_id=sid, expression="nope.nope"),
                                 metadata=md)
    assert "nope is not defined" in thrown.error

    automation.SetCookies(A.SetCookiesRequest(session_id=sid, cookies=[
        S.Cookie(name="cart", value="3-items", url=site)]), metadata=md)
    names = [c.name for c in automation.GetCookies(A.GetCookiesRequest(session_id=sid),
                                                   metadata=md).cookies]
    assert "cart" in names
    assert "cart=3-items" in automation.Evaluate(A.EvaluateRequest(
        session_id=sid, expression="document.cookie"), metadata=md).result.string_value
    automation.ClearCookies(A.ClearCookiesRequest(session_id=sid), metadata=md)
    assert not automation.GetCookies(A.GetCookiesRequest(session_id=sid), metadata=md).cookies

    health = automation.CheckHealth(A.CheckHealthRequest(session_id=sid), metadata=md)
    assert health.responsive and health.current_url.endswith("/hello.html") and health.pages == 2

    closed = automation.ClosePage(A.ClosePageRequest(session_id=sid, page_id=opened.id), metadata=md)
    assert closed.page.id == opened.id
    assert opened.id not in [p.id for p in automation.ListPages(
        A.ListPagesRequest(session_id=sid), metadata=md).pages]


def test_errors_carry_reasons_and_the_session_stays_usable(automation, session, md, cluster, site):
    sid = session.id

    def reason(call, request):
        with pytest.raises(grpc.RpcError) as info:
            call(request, metadata=md, timeout=30)
        return info.value.code(), errors.describe(info.value).reason

    assert reason(automation.Navigate, A.NavigateRequest(session_id=sid, page_id="NOPE",
                                                         url=f"{site}/hello.html")) == \
        (grpc.StatusCode.NOT_FOUND, errors.PAGE_NOT_FOUND)
    assert reason(automation.Navigate, A.NavigateRequest(session_id=sid, url="http://127.0.0.1:9/")) \
        == (grpc.StatusCode.FAILED_PRECONDITION, errors.NAVIGATION_FAILED)
    assert reason(automation.Navigate, A.NavigateRequest(session_id=sid, url="javascript:alert(1)")) \
        == (grpc.StatusCode.INVALID_ARGUMENT, errors.INVALID_ARGUMENT)
    assert reason(automation.Screenshot, A.ScreenshotRequest(
        session_id=sid, element=A.ElementTarget(selector="#does-not-exist"))) == \
        (grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND)
    assert reason(automation.SetCookies, A.SetCookiesRequest(session_id=sid, cookies=[
        S.Cookie(name="x", value="y")])) == (grpc.StatusCode.INVALID_ARGUMENT, errors.INVALID_ARGUMENT)
    other = (("authorization", f"Bearer {cluster.create_key('automation-other')}"),)
    with pytest.raises(grpc.RpcError) as info:
        automation.ListPages(A.ListPagesRequest(session_id=sid), metadata=other)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # Still usable after all that.
    ok = automation.Navigate(A.NavigateRequest(session_id=sid, url=f"{site}/hello.html"),
                             metadata=md, timeout=30)
    assert ok.http_status == 200


def test_ended_session_answers_session_ended(automation, cluster, md):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=60)
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    with pytest.raises(grpc.RpcError) as info:
        automation.ListPages(A.ListPagesRequest(session_id=s.id), metadata=md)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert errors.describe(info.value).reason == errors.SESSION_ENDED


def test_playwright_and_automation_take_turns_on_the_same_pages(automation, session, md, site):
    sid = session.id
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.cdp_url)
        context = browser.contexts[0]
        # Playwright opens a page; Automation sees it, under its CDP targetId.
        mine = context.new_page()
        mine.goto(f"{site}/files.html")
        target = context.new_cdp_session(mine).send("Target.getTargetInfo")["targetInfo"]["targetId"]
        listed = automation.ListPages(A.ListPagesRequest(session_id=sid), metadata=md).pages
        assert [pg.url for pg in listed if pg.id == target] == [f"{site}/files.html"]

        # Automation navigates that page; Playwright sees the result.
        automation.Navigate(A.NavigateRequest(session_id=sid, page_id=target,
                                              url=f"{site}/hello.html"), metadata=md, timeout=30)
        mine.wait_for_url(f"{site}/hello.html", timeout=5000)  # this client sees it too
        assert mine.title() == "Hello from Browserplane"

        # Automation opens a page; Playwright finds it in the same context.
        opened = automation.OpenPage(A.OpenPageRequest(session_id=sid, url=f"{site}/files.html"),
                                     metadata=md, timeout=30)
        theirs: list = []
        for _ in range(50):  # this client learns of the new target from its own events
            theirs = [pg for pg in context.pages if pg.url == f"{site}/files.html"]
            if theirs:
                break
            mine.wait_for_timeout(100)
        assert len(theirs) == 1
        # Playwright types; Automation reads what it typed.
        theirs[0].evaluate("document.body.insertAdjacentHTML('beforeend', '<input id=q>')")
        theirs[0].fill("#q", "typed by Playwright")
        read = automation.Evaluate(A.EvaluateRequest(session_id=sid, page_id=opened.id,
                                                     expression="document.querySelector('#q').value"),
                                   metadata=md)
        assert read.result.string_value == "typed by Playwright"
        browser.close()
