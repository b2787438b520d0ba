"""The official `airtop` SDK (0.0.49) and Playwright against the gateway's Airtop dialect."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from airtop import Airtop, SessionConfigV1
from airtop.core.api_error import ApiError
from browserbase import Browserbase
from playwright.sync_api import Page, sync_playwright

from tests.cluster import Cluster

MODEL_ROUTES = ("page-query", "prompt-content", "summarize-content", "paginated-extraction",
                "monitor")


@pytest.fixture(scope="module")
def at(gateway_url: str, api_key: str) -> Airtop:
    return Airtop(api_key=api_key, base_url=f"{gateway_url}/api", timeout=120)


@pytest.fixture(scope="module")
def raw(gateway_url: str, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{gateway_url}/api/v1", timeout=120,
                      headers={"Authorization": f"Bearer {api_key}"}) as client:
        yield client


@pytest.fixture
def session(at: Airtop) -> Iterator[Any]:
    s = at.sessions.create(configuration=SessionConfigV1(timeout_minutes=10)).data
    yield s
    with contextlib.suppress(ApiError):
        at.sessions.terminate(s.id)


@pytest.fixture
def shop(at: Airtop, session: Any, site: str) -> tuple[str, str]:
    window = at.windows.create(session.id, url=f"{site}/airtop-shop.html").data
    return session.id, window.window_id


@contextlib.contextmanager
def page_of(cdp_url: str, window_id: str, **connect: Any) -> Iterator[Page]:
    """The window as a Playwright page (found by its CDP target id), over the session's CDP URL."""
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(cdp_url, **connect)
        try:
            for page in browser.contexts[0].pages:
                cdp = page.context.new_cdp_session(page)
                if cdp.send("Target.getTargetInfo")["targetInfo"]["targetId"] == window_id:
                    yield page
                    return
            raise AssertionError(f"window {window_id} is not a page of the session")
        finally:
            browser.close()


def error_of(excinfo: pytest.ExceptionInfo) -> dict[str, Any]:
    body = excinfo.value.body
    if not isinstance(body, dict):  # ErrorModel-parsed errors keep the fields as attributes
        body = body.dict() if hasattr(body, "dict") else json.loads(body)
    assert {"title", "status", "detail", "errors"} <= set(body), body
    return body


# ---- translation, without sockets ------------------------------------------------------------

def test_file_ids_say_where_a_file_is_and_links_open_only_their_file():
    from browserplane.credentials import check_url_token, issue_url_token
    from browserplane.v1 import automation_pb2 as A
    from gateway.dialects.airtop import file_id, parse_file_id
    from gateway.http_api import ApiError as HttpError

    fid = file_id(["s-1", "s-2"], A.UPLOAD, "notes.txt")
    assert parse_file_id(fid) == (["s-1", "s-2"], A.UPLOAD, "notes.txt")
    for bad in ("file_", "file_e30", "file_!!", "nope", "file_" + "A" * 9000,
                file_id(["../x"], A.UPLOAD, "n"), file_id(["s"], 99, "n")):
        with pytest.raises(HttpError) as e:
            parse_file_id(bad)
        assert e.value.status == 404
    token = issue_url_token("secret", f"airtop-upload|p1|{fid}", time.time() + 60)
    assert check_url_token("secret", token, f"airtop-upload|p1|{fid}").ok
    assert not check_url_token("secret", token, f"airtop-download|p1|{fid}").ok
    assert not check_url_token("secret", token, f"airtop-upload|p2|{fid}").ok
    assert not check_url_token("other", token, f"airtop-upload|p1|{fid}").ok
    old = issue_url_token("secret", "airtop-upload|p1|f", time.time() - 1)
    assert check_url_token("secret", old, "airtop-upload|p1|f").reason == "token expired"


def test_proxy_forms_become_rules():
    from browserplane.v1 import session_pb2 as S
    from gateway.dialects.airtop import Airtop as Dialect
    from gateway.http_api import ApiError as HttpError

    o = S.SessionOptions()
    Dialect._proxy([{"domainPattern": "*.a.com", "relay": "http://u:p@h:8080"},  # noqa: SLF001
                    {"domainPattern": "b.com", "relay": False},
                    {"domainPattern": "*", "relay": {"url": "socks5://h2:1080", "username": "x"}}], o)
    assert [(r.kind, r.server, r.domain_pattern, r.username) for r in o.proxies] == [
        (S.ProxyRule.EXTERNAL, "http://h:8080", "*.a.com", "u"),
        (S.ProxyRule.NONE, "", "b.com", ""),
        (S.ProxyRule.EXTERNAL, "socks5://h2:1080", "*", "x")]
    for bad in (True, {"country": "US"}, 5, "h:80", [{"relay": "http://h:1"}],
                [{"domainPattern": "x", "relay": True}], "http://h:1/\n"):
        with pytest.raises(HttpError) as e:
            Dialect._proxy(bad, S.SessionOptions())  # noqa: SLF001
        assert e.value.status == 400


# ---- sessions -------------------------------------------------------------------------------

def test_session_create_get_list_terminate(at: Airtop, cluster: Cluster, gateway_url: str):
    created = at.sessions.create(configuration=SessionConfigV1(timeout_minutes=15))
    s = created.data
    assert s.status == "running"
    assert s.cdp_ws_url.startswith(f"ws://127.0.0.1:{cluster.gateway_port}/session/{s.id}/")
    assert at._client_wrapper._api_key not in s.cdp_ws_url  # noqa: SLF001
    assert s.configuration.timeout_minutes == 15
    info = at.sessions.get_info(s.id)
    assert info.data.id == s.id and info.data.status == "running"
    assert at.sessions.getinfo(s.id).data.id == s.id  # the deprecated spelling
    assert at.sessions.wait_for_session_ready(s.id) == "running"
    other = at.sessions.create(configuration=SessionConfigV1()).data

    listed = at.sessions.list(session_ids=[s.id, other.id], status="running")
    assert sorted(x.id for x in listed.data.sessions) == sorted([s.id, other.id])
    page = at.sessions.list(session_ids=[s.id, other.id], limit=1, offset=1)
    p = page.data.pagination
    assert len(page.data.sessions) == 1 and p.total_items == 2 and p.current_page == 2
    assert not p.has_more and p.next_offset == 2 and p.number_of_pages == 2
    everything = at.sessions.list(status="running", limit=100)
    assert {s.id, other.id} <= {x.id for x in everything.data.sessions}
    assert everything.data.pagination.total_items >= 2

    at.sessions.terminate(s.id)
    assert at.sessions.get_info(s.id).data.status == "ended"
    ended = at.sessions.list(session_ids=[s.id, other.id], status="ended")
    assert [x.id for x in ended.data.sessions] == [s.id]
    at.sessions.terminate(other.id)


def test_create_accepts_every_config_field_and_refuses_what_cannot_be(at: Airtop, raw: httpx.Client,
                                                                      site: str):
    # What the SDK sends: every field, unset ones as explicit nulls.
    body = {"configuration": {"timeoutMinutes": 5, "baseProfileId": None, "extensionIds": None,
                              "persistProfile": None, "profileName": None, "proxy": None,
                              "solveCaptcha": True}}
    answer = raw.post("/sessions", json=body).json()
    assert answer["data"]["status"] in ("initializing", "running")
    assert answer["warnings"][0]["code"] == "captcha_solver_unavailable"
    at.sessions.terminate(answer["data"]["id"])
    # An external proxy in each form is taken (the test site stands in for one).
    proxy = site.replace("http://", "http://user:pass@")
    for form in (proxy, {"url": site, "username": "u", "password": "p"},
                 [{"domain_pattern": "*.example.com", "relay": proxy}]):
        s = at.sessions.create(configuration=SessionConfigV1(proxy=form)).data
        assert s.status == "running", form
        at.sessions.terminate(s.id)
    for bad, field in ((True, "proxy"), ({"country": "US"}, "proxy"),
                       ("ftp://x", "proxy")):
        with pytest.raises(ApiError) as e:
            at.sessions.create(configuration=SessionConfigV1(proxy=bad))
        assert e.value.status_code == 400 and field in error_of(e)["detail"]
    with pytest.raises(ApiError) as e:
        at.sessions.create(configuration=SessionConfigV1(timeout_minutes=0))
    assert e.value.status_code == 400 and "timeoutMinutes" in error_of(e)["detail"]
    with pytest.raises(ApiError) as e:
        at.sessions.create(configuration=SessionConfigV1(extension_ids=["no-such-extension"]))
    assert e.value.status_code in (400, 404)


def test_events_stream_status_and_window_events(at: Airtop, site: str):
    s = at.sessions.create(configuration=SessionConfigV1()).data
    seen: list[Any] = []

    def read() -> None:
        for event in at.sessions.events(s.id):
            seen.append(event)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    Cluster.wait(lambda: any(e.event == "status" for e in seen), 10, "no status event")
    window = at.windows.create(s.id, url=f"{site}/airtop-page2.html").data
    Cluster.wait(lambda: any(e.event == "windowEvent" and e.data.window_id == window.window_id
                             for e in seen), 10, "no windowEvent for the new window")
    at.sessions.terminate(s.id)
    reader.join(15)
    assert not reader.is_alive(), "the event stream did not end with the session"
    statuses = [e.data.status for e in seen if e.event == "status"]
    assert statuses[0] == "running" and statuses[-1] == "ended"
    opened = [e for e in seen if e.event == "windowEvent"]
    assert opened[0].data.event == "windowOpened" and opened[0].data.id == s.id


def test_a_browserbase_session_is_an_airtop_session(at: Airtop, gateway_url: str, api_key: str,
                                                     site: str):
    bb = Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)
    created = bb.sessions.create(keep_alive=True)
    try:
        info = at.sessions.get_info(created.id).data
        assert info.status == "running"
        window = at.windows.create(created.id, url=f"{site}/airtop-page2.html").data
        scraped = at.windows.scrape_content(created.id, window.window_id)
        assert "Red kettle" in scraped.data.model_response.scraped_content.text
        assert any(p.url.endswith("/airtop-page2.html") for p in bb.sessions.debug(created.id).pages)
    finally:
        at.sessions.terminate(created.id)
    assert bb.sessions.retrieve(created.id).status == "COMPLETED"


# ---- windows --------------------------------------------------------------------------------

def test_windows_create_info_load_close(at: Airtop, session: Any, site: str, raw: httpx.Client):
    made = at.windows.create(session.id, url=f"{site}/airtop-shop.html", wait_until="load",
                             wait_until_timeout_seconds=20, screen_resolution="800x600")
    wid = made.data.window_id
    assert made.data.target_id == wid
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.title() == "Airtop test shop"

    info = at.windows.get_window_info(session.id, wid, include_navigation_bar=False,
                                      disable_resize=True, screen_resolution="1024x768")
    assert info.data.window_id == wid and info.data.target_id == wid
    live = info.data.live_view_url
    assert f"/session/{session.id}/live?token=" in live and f"page={wid}" in live
    assert "navbar=false" in live and "resize=false" in live and "width=1024&height=768" in live
    assert httpx.get(live).status_code == 200  # the live view itself opens

    loaded = at.windows.load_url(session.id, wid, url=f"{site}/airtop-page2.html",
                                 wait_until="domContentLoaded")
    assert loaded.data.success
    scraped = at.windows.scrape_content(session.id, wid).data.model_response
    assert scraped.title == "Airtop page two"
    assert "Red kettle" in scraped.scraped_content.text
    assert scraped.scraped_content.content_type == "text/markdown"

    windows = raw.get(f"/sessions/{session.id}/windows").json()["data"]["windows"]
    assert wid in [w["windowId"] for w in windows]
    closed = at.windows.close(session.id, wid)
    assert closed.data.window_id == wid
    windows = raw.get(f"/sessions/{session.id}/windows").json()["data"]["windows"]
    assert wid not in [w["windowId"] for w in windows]
    with pytest.raises(ApiError) as e:
        at.windows.get_window_info(session.id, wid)
    assert e.value.status_code == 404


def test_window_screen_resolution(at: Airtop, session: Any, site: str):
    made = at.windows.create(session.id, url=f"{site}/airtop-shop.html", screen_resolution="800x600")
    with page_of(session.cdp_ws_url, made.data.window_id) as page:
        assert page.evaluate("[innerWidth, innerHeight]") == [800, 600]
    other = at.windows.create(session.id, url=f"{site}/airtop-shop.html",
                              screen_resolution="1024x700").data
    with page_of(session.cdp_ws_url, other.window_id) as page:
        assert page.evaluate("[innerWidth, innerHeight]") == [1024, 700]
    for bad in ("99x600", "800x4321", "800*600"):
        with pytest.raises(ApiError) as e:
            at.windows.create(session.id, url=f"{site}/airtop-shop.html", screen_resolution=bad)
        assert e.value.status_code == 400 and "screenResolution" in error_of(e)["detail"]


def test_a_playwright_page_is_a_window(at: Airtop, session: Any, site: str):
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.cdp_ws_url)
        page = browser.contexts[0].new_page()
        page.goto(f"{site}/airtop-page2.html")
        info = at.windows.get_window_info_for_playwright_page(session, page)
        scraped = at.windows.scrape_content(session.id, info.data.window_id)
        assert scraped.data.model_response.title == "Airtop page two"
        browser.close()


def test_screenshot_and_scrape(at: Airtop, shop: tuple[str, str]):
    sid, wid = shop
    shot = at.windows.screenshot(sid, wid)
    assert shot.meta.status == "success" and shot.meta.usage.credits == 0
    assert shot.meta.screenshots[0].data_url.startswith("data:image/jpeg;base64,")
    scraped = at.windows.scrape_content(sid, wid)
    assert "Blue mug" in scraped.data.model_response.scraped_content.text
    assert scraped.meta.usage.credits == 0


# ---- interactions (descriptions resolved on the node, no model) -----------------------------

def test_click_by_description(at: Airtop, session: Any, shop: tuple[str, str]):
    sid, wid = shop
    answer = at.windows.click(sid, wid, element_description="the Sign up button")
    assert answer.meta.status == "success" and answer.meta.usage.credits == 0
    assert "Sign up" in answer.data.model_response
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.text_content("#signup") == "Signed up!"
        assert page.text_content("#status") == "signup clicked"


def test_click_waits_for_navigation(at: Airtop, session: Any, shop: tuple[str, str]):
    sid, wid = shop
    at.windows.click(sid, wid, element_description="the next page link", wait_for_navigation=True)
    assert at.windows.scrape_content(sid, wid).data.model_response.title == "Airtop page two"


def test_type_clear_enter_tab_and_focused(at: Airtop, session: Any, shop: tuple[str, str]):
    sid, wid = shop
    at.windows.type(sid, wid, element_description="the email address field", text="ann@example.com",
                    press_enter_key=True)
    at.windows.type(sid, wid, element_description="the city field", text="Lyon",
                    clear_input_field=True, press_tab_key=True)
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.input_value("#email") == "ann@example.com"
        assert page.text_content("#status") == "submitted ann@example.com"
        assert page.input_value("#city") == "Lyon"
        page.focus("#city")
    at.windows.type(sid, wid, text=" centre")  # no description: the focused element
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.input_value("#city") == "Lyon centre"


def test_hover(at: Airtop, session: Any, shop: tuple[str, str]):
    sid, wid = shop
    answer = at.windows.hover(sid, wid, element_description="the show details button")
    assert answer.meta.status == "success"
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.text_content("#status") == "details hovered"


def test_scroll_by_edge_element_within(at: Airtop, session: Any, shop: tuple[str, str]):
    sid, wid = shop

    def scroll_y() -> float:
        with page_of(session.cdp_ws_url, wid) as page:
            return page.evaluate("scrollY")

    at.windows.scroll(sid, wid, scroll_by={"yAxis": "400px"})
    assert scroll_y() == 400
    at.windows.scroll(sid, wid, scroll_by={"yAxis": "-50%"})
    assert scroll_y() < 400
    at.windows.scroll(sid, wid, scroll_to_edge={"yAxis": "bottom"})
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.evaluate("innerHeight + scrollY >= document.body.scrollHeight - 2")
    at.windows.scroll(sid, wid, scroll_to_edge={"yAxis": "top"})
    assert scroll_y() == 0
    at.windows.scroll(sid, wid, scroll_to_element="the contact us button")
    with page_of(session.cdp_ws_url, wid) as page:
        box = page.evaluate("document.getElementById('bottom').getBoundingClientRect().top")
        assert 0 <= box <= page.evaluate("innerHeight")
    at.windows.scroll(sid, wid, scroll_to_edge={"yAxis": "top"})
    at.windows.scroll(sid, wid, scroll_within="the activity log", scroll_by={"yAxis": "300px"})
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.evaluate("document.getElementById('log-box').scrollTop") == 300
        assert page.evaluate("scrollY") == 0


# ---- page intelligence without a model ------------------------------------------------------

def test_model_routes_without_a_model_answer_airtop_errors_and_keep_the_session(
        at: Airtop, session: Any, shop: tuple[str, str], raw: httpx.Client):
    sid, wid = shop
    with page_of(session.cdp_ws_url, wid) as page:
        page.fill("#email", "kept@example.com")
    calls = {
        "page-query": lambda: at.windows.page_query(sid, wid, prompt="What does the Blue mug cost?",
                                                    configuration={"output_schema": {
                                                        "type": "object"}}),
        "prompt-content": lambda: at.windows.prompt_content(sid, wid, prompt="Prices?"),
        "summarize-content": lambda: at.windows.summarize_content(sid, wid),
        "paginated-extraction": lambda: at.windows.paginated_extraction(sid, wid,
                                                                        prompt="product names"),
        "monitor": lambda: at.windows.monitor(sid, wid, condition="the status says done"),
    }
    for name, call in calls.items():
        with pytest.raises(ApiError) as e:
            call()
        body = error_of(e)
        assert e.value.status_code in (409, 501), (name, body)
        assert "model" in body["detail"].lower(), (name, body)
        if e.value.status_code == 409:
            assert body["code"] == "model_not_configured"
    # The async forms fail the same way, through the request's status.
    bodies = {"page-query": {"prompt": "What does the Blue mug cost?"},
              "prompt-content": {"prompt": "Prices?"}, "summarize-content": {},
              "paginated-extraction": {"prompt": "product names"},
              "monitor": {"condition": "the status says done"}}
    for name, body in bodies.items():
        started = raw.post(f"/async/sessions/{sid}/windows/{wid}/{name}", json=body).json()
        status = at.requests.wait_for_request_completion(started["requestId"], timeout_seconds=60,
                                                         interval_seconds=0.5)
        assert status.status == "failed" and "model" in status.error.lower(), (name, status)
        assert at.requests.get_request_status(started["requestId"]).status == "failed"
    # Nothing was lost: the session runs, the window is open, the typed value is still there.
    assert at.sessions.get_info(sid).data.status == "running"
    with page_of(session.cdp_ws_url, wid) as page:
        assert page.input_value("#email") == "kept@example.com"


def test_async_requests_run_in_the_background(at: Airtop, shop: tuple[str, str],
                                              raw: httpx.Client):
    sid, wid = shop
    started = raw.post(f"/async/sessions/{sid}/windows/{wid}/scrape-content",
                       json={"clientRequestId": "mine-1"}).json()
    status = at.requests.wait_for_request_completion(started["requestId"], timeout_seconds=60,
                                                     interval_seconds=0.5)
    assert status.status == "completed"
    response = status.response
    assert "Blue mug" in response["data"]["modelResponse"]["scrapedContent"]["text"]
    assert response["meta"]["clientProvided"]["clientRequestId"] == "mine-1"
    with pytest.raises(ApiError) as e:
        at.requests.get_request_status("no-such-request")
    assert e.value.status_code == 404


def test_automations_are_an_honest_empty_list(at: Airtop, shop: tuple[str, str]):
    sid, wid = shop
    assert at.automations.list().automations == []
    with pytest.raises(ApiError) as e:
        at.automations.get("nope")
    assert e.value.status_code == 404
    with pytest.raises(ApiError) as e:
        at.automations.delete("nope")
    assert e.value.status_code == 404
    with pytest.raises(ApiError) as e:
        at.windows.fill_form(sid, wid, automation_id="nope")
    assert e.value.status_code == 404
    with pytest.raises(ApiError) as e:
        at.automations.update(description="d", id="nope", org_id="o")
    assert e.value.status_code == 404
    for call in (lambda: at.windows.create_form_filler(sid, wid),
                 lambda: at.windows.async_create_form_filler(sid, wid),
                 lambda: at.windows.async_create_automation(sid, wid),
                 lambda: at.windows.async_execute_automation(sid, wid, automation_id="nope"),
                 lambda: at.windows.async_fill_form(sid, wid, automation_id="nope")):
        with pytest.raises(ApiError) as e:
            call()
        assert e.value.status_code == 404 and "automation" in error_of(e)["detail"]


# ---- profiles --------------------------------------------------------------------------------

def test_profiles_persist_load_and_delete(at: Airtop, site: str):
    name = f"airtop-p-{int(time.time() * 1000)}"
    first = at.sessions.create(configuration=SessionConfigV1(profile_name=name,
                                                             persist_profile=True)).data
    assert first.profile_id
    window = at.windows.create(first.id, url=f"{site}/airtop-page2.html").data
    with page_of(first.cdp_ws_url, window.window_id) as page:
        page.evaluate("localStorage.setItem('remembered', 'yes')")
    at.sessions.save_profile_on_termination(first.id, name)  # the same profile: accepted
    at.sessions.terminate(first.id)

    def loaded() -> Any:
        s = at.sessions.create(configuration=SessionConfigV1(profile_name=name)).data
        w = at.windows.create(s.id, url=f"{site}/airtop-page2.html").data
        with page_of(s.cdp_ws_url, w.window_id) as page:
            value = page.evaluate("localStorage.getItem('remembered')")
        at.sessions.terminate(s.id)
        return value

    Cluster.wait(lambda: loaded() == "yes", 30, "the profile did not carry localStorage", 1)
    # The same profile by id (baseProfileId), as a Browserbase context too.
    by_id = at.sessions.create(configuration=SessionConfigV1(base_profile_id=first.profile_id)).data
    assert by_id.profile_id == first.profile_id
    at.sessions.terminate(by_id.id)

    at.profiles.delete(profile_names=[name])
    with pytest.raises(ApiError) as e:
        at.sessions.create(configuration=SessionConfigV1(profile_name=name))
    assert e.value.status_code == 404
    at.profiles.delete(profile_ids=[first.profile_id])  # already gone: still fine


def test_save_profile_on_termination_of_a_session_started_without_one(at: Airtop, site: str):
    name = f"airtop-late-{int(time.time() * 1000)}"
    first = at.sessions.create(configuration=SessionConfigV1()).data
    assert not first.profile_id
    window = at.windows.create(first.id, url=f"{site}/airtop-page2.html").data
    with page_of(first.cdp_ws_url, window.window_id) as page:
        page.evaluate("document.cookie = 'late=kept; max-age=3600; path=/';"
                      "localStorage.setItem('late', 'stored')")
    at.sessions.save_profile_on_termination(first.id, name)  # no profile of that name yet: made
    at.sessions.terminate(first.id)

    def loaded() -> Any:
        s = at.sessions.create(configuration=SessionConfigV1(profile_name=name)).data
        w = at.windows.create(s.id, url=f"{site}/airtop-page2.html").data
        with page_of(s.cdp_ws_url, w.window_id) as page:
            value = page.evaluate("[document.cookie, localStorage.getItem('late')]")
        at.sessions.terminate(s.id)
        return value

    Cluster.wait(lambda: loaded() == ["late=kept", "stored"], 30,
                 "the saved profile did not carry the cookie and localStorage", 1)
    with pytest.raises(ApiError) as e:  # the browser is gone: nothing left to save
        at.sessions.save_profile_on_termination(first.id, name)
    assert e.value.status_code == 409 and "ended" in error_of(e)["detail"]
    at.profiles.delete(profile_names=[name])


# ---- files -----------------------------------------------------------------------------------

def test_files_upload_list_get_delete_and_downloads(at: Airtop, session: Any, site: str):
    sid = session.id
    created = at.files.create(file_name="notes.txt", session_ids=[sid]).data
    assert created.status == "uploading" and created.upload_url.startswith("http")
    tampered = created.upload_url.replace("token=", "token=1")
    assert httpx.put(tampered, content=b"x").status_code == 403
    assert httpx.put(created.upload_url, content=b"hello airtop").status_code == 200

    got = at.files.get(created.id).data
    assert got.status == "available" and got.file_bytes == len(b"hello airtop")
    assert got.file_type == "customer_upload"
    assert httpx.get(got.download_url).content == b"hello airtop"
    # The uploaded file is the session's: a page can pick it, and what it downloads is a file.
    window = at.windows.create(sid, url=f"{site}/files.html").data
    with page_of(session.cdp_ws_url, window.window_id) as page:
        page.set_input_files("#picker", got.path)
        page.wait_for_function("document.getElementById('picked').textContent !== ''")
        assert page.inner_text("#picked") == "notes.txt:hello airtop"
        cdp = page.context.new_cdp_session(page)
        cdp.send("Browser.setDownloadBehavior",
                 {"behavior": "allow", "downloadPath": "downloads", "eventsEnabled": True})
        page.click("#report")
        Cluster.wait(lambda: "report.csv" in {f.file_name for f in at.files.list(
            session_ids=[sid]).data.files}, 15, "the download is not listed as a file")
    listed = at.files.list(session_ids=[sid], limit=1)
    assert len(listed.data.files) == 1 and listed.data.pagination.total_items == 2
    report = next(f for f in at.files.list(session_ids=[sid]).data.files
                  if f.file_name == "report.csv")
    assert report.file_type == "browser_download"
    assert httpx.get(at.files.get(report.id).data.download_url).content == b"id,amount\n1,42\n2,7\n"

    # Another upload of the same kind: deleting one file leaves the other.
    second = at.files.create(file_name="second.txt", session_ids=[sid]).data
    assert httpx.put(second.upload_url, content=b"second").status_code == 200
    at.files.delete(created.id)
    names = {f.file_name for f in at.files.list(session_ids=[sid]).data.files}
    assert "notes.txt" not in names and {"second.txt", "report.csv"} <= names
    assert httpx.get(at.files.get(second.id).data.download_url).content == b"second"
    with pytest.raises(ApiError) as e:  # already gone
        at.files.delete(created.id)
    assert e.value.status_code == 404
    at.files.delete(second.id)
    assert "second.txt" not in {f.file_name for f in at.files.list(session_ids=[sid]).data.files}


# ---- CDP ------------------------------------------------------------------------------------

def test_cdp_with_the_url_the_bearer_key_and_a_foreign_key(at: Airtop, session: Any,
                                                           cluster: Cluster, api_key: str):
    url = session.cdp_ws_url
    with sync_playwright() as p:
        p.chromium.connect_over_cdp(url).close()
        p.chromium.connect_over_cdp(url, headers={"Authorization": f"Bearer {api_key}"}).close()
        bare = url.split("?", 1)[0]  # no token: the key alone opens it
        p.chromium.connect_over_cdp(bare, headers={"Authorization": f"Bearer {api_key}"}).close()
        foreign = cluster.create_key("airtop-other")
        for target in (url, bare):
            with pytest.raises(Exception, match="403|Unexpected"):
                p.chromium.connect_over_cdp(target, headers={"Authorization": f"Bearer {foreign}"},
                                            timeout=10_000)
        with pytest.raises(Exception, match="401|Unexpected"):
            p.chromium.connect_over_cdp(bare, timeout=10_000)
    assert at.sessions.get_info(session.id).data.status == "running"
    other = Airtop(api_key=foreign, base_url=at._client_wrapper._base_url)  # noqa: SLF001
    with pytest.raises(ApiError) as e:
        other.sessions.get_info(session.id)
    assert e.value.status_code == 404


# ---- bad input --------------------------------------------------------------------------------

def test_bad_input_on_every_route_is_a_4xx_in_airtop_shape(raw: httpx.Client, shop: tuple[str, str],
                                                           gateway_url: str):
    sid, wid = shop
    w = f"/sessions/{sid}/windows/{wid}"
    junk = [b"{", b"[1]", b'{"a": NaN}', json.dumps({"x": "y" * 10}).encode(),
            json.dumps({"configuration": 5}).encode(), b'"\\ud800"', b"9" * 400]
    routes = [("POST", "/sessions"), ("GET", "/sessions?status=weird"), ("GET", "/sessions?limit=0"),
              ("GET", "/sessions?offset=-1"), ("GET", "/sessions/%20bad"),
              ("DELETE", "/sessions/no-such"), ("GET", f"/sessions/{sid}/events?all=maybe"),
              ("PUT", f"/sessions/{sid}/save-profile-on-termination/bad name"),
              ("POST", f"/sessions/{sid}/windows"), ("GET", f"{w}?screenResolution=huge"),
              ("GET", f"/sessions/{sid}/windows/not-a-window"), ("POST", w),
              ("DELETE", f"/sessions/{sid}/windows/not-a-window"),
              ("DELETE", "/profiles"), ("GET", "/files?limit=1000"), ("POST", "/files"),
              ("GET", "/files/garbage"), ("DELETE", "/files/file_e30"),
              ("PUT", "/files/file_e30/upload?project=x&token=1x00"),
              ("GET", "/files/file_e30/content"), ("GET", "/requests/%20/status"),
              ("GET", "/automations/x"), ("POST", "/no/such/route")]
    routes += [("POST", f"{w}/{name}") for name in (
        "click", "hover", "type", "scroll", "screenshot", "scrape-content", *MODEL_ROUTES)]
    routes += [("POST", f"/async{w}/{name}") for name in ("click", "page-query", "monitor")]
    for method, path in routes:
        for body in junk:
            r = raw.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, (method, path, body[:30], r.status_code, r.text)
            answer = r.json()
            assert answer["status"] == r.status_code and answer["detail"], (method, path, answer)
    # Well-formed JSON with wrong values, route by route.
    cases = [
        ("POST", "/sessions", {"configuration": {"timeoutMinutes": "ten"}}),
        ("POST", "/sessions", {"configuration": {"proxy": [{"relay": "http://h:1"}]}}),
        ("POST", "/sessions", {"configuration": {"profileName": "a b"}}),
        ("POST", "/sessions", {"configuration": {"extensionIds": [5]}}),
        ("POST", f"/sessions/{sid}/windows", {"url": "javascript:alert(1)"}),
        ("POST", f"/sessions/{sid}/windows", {"waitUntil": "never"}),
        ("POST", f"/sessions/{sid}/windows", {"screenResolution": "1x1"}),
        ("POST", w, {"url": "x" * 9000}),
        ("POST", f"{w}/click", {"elementDescription": ""}),
        ("POST", f"{w}/click", {"elementDescription": "x", "configuration": {"clickType": "triple"}}),
        ("POST", f"{w}/type", {"elementDescription": "x"}),
        ("POST", f"{w}/type", {"text": "x" * 10_001}),
        ("POST", f"{w}/scroll", {}),
        ("POST", f"{w}/scroll", {"scrollBy": {"yAxis": "lots"}}),
        ("POST", f"{w}/scroll", {"scrollToEdge": {"yAxis": "left"}}),
        ("POST", f"{w}/page-query", {"prompt": ""}),
        ("POST", f"{w}/page-query", {"prompt": "x", "configuration": {"outputSchema": "{"}}),
        ("POST", f"{w}/page-query", {"prompt": "x", "timeThresholdSeconds": -1}),
        ("POST", f"{w}/page-query", {"prompt": "x", "costThresholdCredits": 2**40}),
        ("POST", f"{w}/monitor", {"condition": "x", "configuration": {"interval": {
            "intervalSeconds": 99999}}}),
        ("POST", f"{w}/paginated-extraction", {"prompt": "x", "configuration": {
            "paginationMode": "infinite-scroll"}}),
        ("POST", f"{w}/screenshot", {"configuration": {"screenshot": {"quality": 500}}}),
        ("POST", "/files", {"fileName": "../x", "sessionIds": [sid]}),
        ("POST", "/files", {"fileName": "x", "sessionIds": []}),
        ("POST", "/files", {"fileName": "x", "fileType": "video", "sessionIds": [sid]}),
    ]
    for method, path, body in cases:
        r = raw.request(method, path, json=body)
        assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text)
        assert r.json()["status"] == r.status_code
    unauthenticated = httpx.get(f"{gateway_url}/api/v1/sessions")
    assert unauthenticated.status_code == 401 and unauthenticated.json()["title"] == "Unauthorized"
    # None of it hurt the session.
    assert raw.get(f"/sessions/{sid}").json()["data"]["status"] == "running"


# ---- page intelligence with a real model (SmolLM2-135M on loopback) ---------------------------
# A 135M model is weak: these assert the answers' shape and Airtop's envelope, never quality.

@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory, model_server: str, site: str,
         ) -> Iterator[tuple[Airtop, str, str]]:
    """A cluster of its own whose node has the model, its gateway, and a session on the shop."""
    c = Cluster(tmp_path_factory.mktemp("airtop-model"))
    try:
        c.start_controlplane()
        c.start_node("smol", 2, 1, (), 0, "--model-base-url", model_server,
                     "--model", "SmolLM2-135M-Instruct.Q4_1", "--model-max-tokens", "128",
                     "--model-max-input-chars", "4000")
        c.start_gateway()
        client = Airtop(api_key=c.create_key("airtop-model"),
                        base_url=f"http://127.0.0.1:{c.gateway_port}/api", timeout=300)
        s = client.sessions.create(configuration=SessionConfigV1()).data
        w = client.windows.create(s.id, url=f"{site}/airtop-shop.html").data
        yield client, s.id, w.window_id
    finally:
        c.stop()


NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}},
               "required": ["name"]}


def test_page_query_with_an_output_schema_answers_schema_valid_json(smol: tuple[Airtop, str, str]):
    import jsonschema

    at, sid, wid = smol
    answer = at.windows.page_query(sid, wid, prompt="What is the name of the first product?",
                                   configuration={"output_schema": NAME_SCHEMA},
                                   client_request_id="q-1")
    assert answer.meta.status in ("success", "partial")
    assert answer.meta.usage.credits >= 1 and answer.meta.usage.id
    assert answer.meta.client_provided.client_request_id == "q-1"
    if answer.meta.status == "success":
        jsonschema.validate(json.loads(answer.data.model_response), NAME_SCHEMA)
    plain = at.windows.prompt_content(sid, wid, prompt="What is this page?")
    assert isinstance(plain.data.model_response, str) and plain.meta.usage.credits >= 1


def test_a_click_the_model_broke_a_tie_for_reports_its_credits(smol: tuple[Airtop, str, str],
                                                               at: Airtop, site: str):
    client, sid, _ = smol
    window = client.windows.create(sid, url=f"{site}/locate.html").data
    # Two equal "Learn more" links: the model is asked which one is meant.
    answer = client.windows.click(sid, window.window_id, element_description="learn more")
    assert answer.meta.status == "success" and answer.meta.usage.credits >= 1
    # Without a model the resolver's best is clicked and nothing is spent.
    s = at.sessions.create(configuration=SessionConfigV1()).data
    try:
        w = at.windows.create(s.id, url=f"{site}/locate.html").data
        offline = at.windows.click(s.id, w.window_id, element_description="learn more")
        assert offline.meta.status == "success" and offline.meta.usage.credits == 0
        assert "ambiguous" in offline.data.model_response
        with page_of(s.cdp_ws_url, w.window_id) as page:
            assert page.evaluate("location.hash") in ("#a", "#b")
    finally:
        at.sessions.terminate(s.id)


def test_summarize_extract_and_monitor_answer_airtop_envelopes(smol: tuple[Airtop, str, str],
                                                              site: str):
    at, sid, wid = smol
    summary = at.windows.summarize_content(sid, wid, prompt="in one sentence")
    assert summary.meta.status in ("success", "partial") and summary.data.model_response
    extracted = at.windows.paginated_extraction(
        sid, wid, prompt="the product names",
        configuration={"output_schema": json.dumps({"type": "array", "items": NAME_SCHEMA})})
    assert isinstance(json.loads(extracted.data.model_response), list)
    assert extracted.meta.usage.credits >= 1
    watched = at.windows.monitor(sid, wid, condition="the page shows a Sign up button",
                                 configuration={"interval": {"interval_seconds": 1,
                                                             "timeout_seconds": 5}})
    assert watched.meta.status in ("success", "partial", "failure")
    assert isinstance(watched.data.model_response, str)


def test_thresholds_reach_the_model_call(smol: tuple[Airtop, str, str], site: str):
    at, sid, _ = smol
    wid = at.windows.create(sid, url=f"{site}/model-list-1.html").data.window_id
    for limits in ({"cost_threshold_credits": 1}, {"time_threshold_seconds": 1}):
        try:
            answer = at.windows.page_query(sid, wid, prompt="List every city on every page.",
                                           follow_pagination_links=True, **limits)
        except ApiError as e:  # stopped with nothing to show: Airtop's error, never a 5xx
            assert e.status_code == 422, e.body
            assert e.body["code"] == "budget_exceeded"
            continue
        assert answer.meta.status in ("success", "partial")  # stopped with something, or within
    assert at.sessions.get_info(sid).data.status == "running"


def test_a_model_call_in_the_background(smol: tuple[Airtop, str, str]):
    at, sid, wid = smol
    with httpx.Client(base_url=str(at._client_wrapper.get_base_url()),  # noqa: SLF001
                      headers=at._client_wrapper.get_headers(), timeout=60) as raw:  # noqa: SLF001
        started = raw.post(f"v1/async/sessions/{sid}/windows/{wid}/page-query",
                           json={"prompt": "What does the Blue mug cost?",
                                 "timeThresholdSeconds": 120}).json()
    done = at.requests.wait_for_request_completion(started["requestId"], timeout_seconds=240,
                                                   interval_seconds=1)
    assert done.status in ("completed", "failed")
    if done.status == "completed":
        assert done.response["meta"]["usage"]["credits"] >= 1
        assert isinstance(done.response["data"]["modelResponse"], str)
