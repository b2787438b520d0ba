"""The official `notte-sdk` (1.10.0) against the gateway's Notte dialect, on tests/pages/notte-*.html.

Telemetry and the SDK's PyPI version check are off before the SDK is imported, and every
connection this process opens is checked to be to loopback."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

os.environ["DISABLE_TELEMETRY"] = "true"  # read by notte_core at import time

import notte_sdk.endpoints.base as notte_base  # noqa: E402
import pytest  # noqa: E402
from notte_sdk import NotteClient  # noqa: E402
from notte_sdk.errors import NotteAPIError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

# The version check would GET pypi.org on the first client; it has no switch but this flag.
notte_base._version_check_performed = True

_real_connect = socket.socket.connect
OUTSIDE: list[Any] = []


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1",
                                                                         "localhost"):
        OUTSIDE.append(address)
        raise OSError(f"test refused a connection to {address!r}")
    return _real_connect(self, address)


@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> Iterator[None]:
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    assert OUTSIDE == [], f"something tried to leave 127.0.0.1: {OUTSIDE}"


@pytest.fixture
def client(gateway_url: str, api_key: str) -> NotteClient:
    return NotteClient(api_key=api_key, server_url=gateway_url)


def _raw(gateway_url: str, api_key: str, method: str, path: str, body: Any = None
         ) -> tuple[int, dict[str, Any]]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(gateway_url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _ids(obs: Any) -> dict[str, str]:
    return {a.text_label or a.description: a.id for a in obs.space.interaction_actions}


def _text(session: Any, selector: str) -> str:
    return session.evaluate_js(f"document.querySelector({selector!r}).textContent")


def test_health_without_auth(client: NotteClient, gateway_url: str) -> None:
    client.health_check()  # raises unless 200
    with urllib.request.urlopen(gateway_url + "/health", timeout=10) as answer:
        assert answer.status == 200 and json.loads(answer.read())["status"] == "ok"


def test_start_attach_status_list_stop(client: NotteClient, site: str) -> None:
    session = client.Session(idle_timeout_minutes=4, max_duration_minutes=20, viewport_width=1000,
                             viewport_height=700, browser_type="chrome")
    session.start()
    try:
        sid = session.session_id
        status = session.status()
        assert status.status == "active" and status.idle_timeout_minutes == 4
        assert status.max_duration_minutes == 20 and status.viewport_width == 1000
        listed = client.sessions.list(only_active=True, page_size=100)
        assert sid in [s.session_id for s in listed]
        debug = session.debug_info()
        assert debug.ws.cdp and debug.debug_url and len(debug.tabs) >= 1
        # The SDK connects Playwright with the URL alone (no Authorization on CDP).
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.cdp_url())
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/notte-app.html")
            assert page.title() == "Notte app"
            browser.close()
        assert client.sessions.status(sid).status == "active"
        assert client.sessions.auth_readiness(sid).status == "active"
    finally:
        session.stop()
    closed = client.sessions.status(sid)
    assert closed.status == "closed" and closed.closed_at and closed.close_reason == "manual"
    again = client.sessions.stop(sid)  # stopping an ended session answers it, closed
    assert again.status == "closed" and again.close_reason == "manual"


def test_sdk_page_and_stop_reason(client: NotteClient, site: str) -> None:
    # The context manager is how the SDK releases its own Playwright driver (stop() leaves it
    # running, and a driver left running breaks every later sync Playwright in the process);
    # leaving the block by an exception stops the session with close_reason "error".
    with pytest.raises(RuntimeError, match="leave the block"), client.Session() as session:
        page = session.page  # the SDK's own Playwright connection: contexts[0].pages[0]
        page.goto(f"{site}/notte-next.html")
        assert session.observe().metadata.title == "Notte next"
        raise RuntimeError("leave the block")
    assert client.sessions.status(session.session_id).close_reason == "error"


def test_observe_then_execute_by_id(client: NotteClient, site: str) -> None:
    with client.Session() as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        obs = session.observe()
        assert obs.metadata.title == "Notte app" and obs.metadata.url.endswith("/notte-app.html")
        assert obs.metadata.viewport.viewport_height > 0 and len(obs.metadata.tabs) == 1
        assert obs.screenshot.bytes()[:2] in (b"\xff\xd8", b"\x89P")  # JPEG or PNG
        ids = _ids(obs)
        button, link, city = ids["Clicked 0 times"], ids["Next page"], ids["City"]
        assert button[0] == "B" and link[0] == "L" and city[0] == "I"
        assert f"* {link}: Click 'Next page'" in obs.space.description
        # Ids stay the same across observations of the same document.
        assert _ids(session.observe())["Next page"] == link
        result = session.execute(type="click", id=button)
        assert result.success
        assert _text(session, "#counter") == "Clicked 1 times"
        assert _ids(session.observe())["Clicked 1 times"] == button
        # The observed action object itself, as agent code passes it back.
        observed = next(a for a in session.observe().space.interaction_actions if a.id == button)
        assert session.execute(observed).success
        assert _text(session, "#counter") == "Clicked 2 times"
        session.execute(type="fill", id=city, value="Lyon")
        assert _text(session, "#echo") == "Lyon"
        session.execute(type="click", id=link)
        assert session.observe().metadata.title == "Notte next"


def test_every_action_type(client: NotteClient, gateway_url: str, api_key: str, site: str) -> None:
    app, nxt = f"{site}/notte-app.html", f"{site}/notte-next.html"
    with client.Session() as session:
        session.execute(type="goto", url=app)
        ids = _ids(session.observe())
        session.execute(type="select_dropdown_option", id=ids["Size"], value="Large")
        assert _text(session, "#chosen") == "l"
        session.execute(type="check", id=ids["I agree"], value=True)
        assert session.evaluate_js("document.querySelector('#agree').checked") \
            == "true"
        session.execute(type="click", selector="#keys")
        session.execute(type="press_key", key="Enter")
        assert _text(session, "#keylog") == "[Enter]"
        # by selector: css, xpath, and a description resolved offline
        session.execute(type="click", selector={"css_selector": "#counter", "xpath_selector": "",
                                                "in_iframe": False, "in_shadow_root": False,
                                                "iframe_parent_css_selectors": []})
        session.execute(type="click", selector="xpath=//button[@id='counter']")
        # The SDK insists on an id or a selector; plain HTTP may name the element in words.
        status, body = _raw(gateway_url, api_key, "POST", f"/sessions/{session.session_id}/page/execute",
                            {"type": "click", "description": "the Clicked button"})
        assert status == 200 and body["success"], body
        assert _text(session, "#counter") == "Clicked 3 times"
        session.execute(type="fill", selector="#city", value="Paris")
        assert _text(session, "#echo") == "Paris"
        session.execute(type="scroll_down", amount=800)
        assert session.observe().metadata.viewport.scroll_y >= 700
        session.execute(type="scroll_up")
        assert session.observe().metadata.viewport.scroll_y < 700
        session.execute(type="wait", time_ms=50)
        session.execute(type="goto", url=nxt)
        session.execute(type="go_back")
        assert session.observe().metadata.title == "Notte app"
        session.execute(type="go_forward")
        assert session.observe().metadata.title == "Notte next"
        session.execute(type="reload")
        session.execute(type="goto_new_tab", url=app)
        obs = session.observe()
        assert len(obs.metadata.tabs) == 2 and obs.metadata.title == "Notte app"
        session.execute(type="switch_tab", tab_index=0)
        assert session.observe().metadata.title == "Notte next"
        session.execute(type="switch_tab", tab_index=1)
        session.execute(type="close_tab")
        assert len(session.observe().metadata.tabs) == 1
        scraped = session.execute(type="scrape")
        assert "Second page" in scraped.data.markdown
        done = session.execute(type="completion", success=True, answer="all done")
        assert done.success and done.message == "all done"


def test_scrape_without_a_model(client: NotteClient, site: str) -> None:
    with client.Session() as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        markdown = session.scrape()
        assert "# Notte app" in markdown and "Next page" in markdown
        scoped = session.scrape(selector="#bottom")
        assert "The end." in scoped and "Notte app" not in scoped
        with pytest.raises(NotteAPIError) as failed:
            session.scrape(instructions="What is the page about?")
        assert failed.value.status_code == 409 and "model" in str(failed.value).lower()
        # the session is still usable
        assert session.status().status == "active"


def test_cookies_set_and_get(client: NotteClient, site: str) -> None:
    with client.Session() as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        session.set_cookies(cookies=[{"name": "flavour", "value": "oat", "domain": "127.0.0.1",
                                      "path": "/", "httpOnly": False, "secure": False,
                                      "sameSite": "Lax"}])
        cookies = {c["name"]: c for c in session.get_cookies()}
        assert cookies["flavour"]["value"] == "oat" and cookies["flavour"]["domain"] == "127.0.0.1"
        assert session.evaluate_js("document.cookie") == "flavour=oat"


def test_one_shot_scrapes_and_search(client: NotteClient, gateway_url: str, api_key: str,
                                     site: str) -> None:
    # The SDK's client.scrape(url): start, goto, scrape, stop.
    assert "Second page" in client.scrape(f"{site}/notte-next.html")
    status, body = _raw(gateway_url, api_key, "POST", "/scrape", {"url": f"{site}/notte-next.html"})
    assert status == 200 and "Second page" in body["markdown"]
    status, body = _raw(gateway_url, api_key, "POST", "/scrape_from_html",
                        {"frames": [{"html": "<h1>Given HTML</h1><p>No fetch.</p>"}]})
    assert status == 200 and "Given HTML" in body["markdown"], body
    status, body = _raw(gateway_url, api_key, "POST", "/scrape_from_html",
                        {"frames": [{"html": "x" * (3 * 1024 * 1024)}]})
    assert status == 413 and body["message"]
    status, body = _raw(gateway_url, api_key, "POST", "/search", {"q": "x"})
    assert status == 501 and "SearXNG" in body["message"]


def test_chrome_args_from_the_allowlist(client: NotteClient, site: str) -> None:
    with client.Session(chrome_args=["--lang=fr", "--hide-scrollbars"]) as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        assert session.evaluate_js("navigator.language") == "fr"
    before = len(client.sessions.list(only_active=True, page_size=100))
    for flags in (["--gpu-launcher=x"], ["--lang=fr", "--renderer-cmd-prefix=/bin/sh"],
                  ["--remote-debugging-address=0.0.0.0"], ["--user-data-dir=/tmp/x"]):
        with pytest.raises(NotteAPIError) as err:
            client.Session(chrome_args=flags).start()
        assert err.value.status_code == 400 and "chrome_args" in str(err.value), flags
        assert flags[-1].split("=")[0] in str(err.value)
    assert len(client.sessions.list(only_active=True, page_size=100)) == before  # nothing started


def test_bad_input(client: NotteClient, gateway_url: str, api_key: str, site: str) -> None:
    before = len(client.sessions.list(only_active=True, page_size=100))
    for bad in ({"chrome_args": ["--gpu-launcher=/bin/sh"]}, {"browser_type": "firefox"},
                {"idle_timeout_minutes": "five"}, {"proxies": True}, {"vault_id": "v1"},
                {"extra_http_headers": {"X-A": 1}}, {"extra_http_headers": {"Host": "x"}},
                {"extra_http_headers": {"X A": "1"}}, {"nonsense": 1}):
        status, body = _raw(gateway_url, api_key, "POST", "/sessions/start", bad)
        assert 400 <= status < 500 and body["message"], (bad, body)
    assert len(client.sessions.list(only_active=True, page_size=100)) == before
    with client.Session() as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        sid = session.session_id
        cases = [
            {"type": "fly_away"},
            {"type": "click", "id": "B99999"},
            {"type": "click", "id": "nonsense"},
            {"type": "click", "selector": "#no-such-thing", "timeout": 500},
            {"type": "goto", "url": 5},
            {"type": "wait", "time_ms": "soon"},
            {"type": "check", "id": "I1", "value": "yes"},
            {"type": "goto", "url": "http://127.0.0.1:1/refused"},  # the egress policy says no
            {"type": "upload_file", "selector": "#city", "file_path": "/etc/passwd"},
        ]
        for action in cases:
            status, body = _raw(gateway_url, api_key, "POST", f"/sessions/{sid}/page/execute", action)
            assert 400 <= status < 500 and body["message"] and "detail" in body, (action, body)
        with pytest.raises(NotteAPIError):
            session.execute(type="click", id="B99999")
        status, body = _raw(gateway_url, api_key, "POST", f"/sessions/{sid}/page/execute", b"{not")
        assert status == 400
        status, _ = _raw(gateway_url, api_key, "POST", "/sessions/nope/page/observe", {})
        assert status == 404
        # still usable afterwards
        assert session.observe().metadata.title == "Notte app"


def test_observe_instructions_rank_and_page_reads(client: NotteClient, gateway_url: str,
                                                  api_key: str, site: str) -> None:
    with client.Session() as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        with pytest.warns(DeprecationWarning):
            ranked = session.observe(instructions="the Next page link")
        assert ranked and ranked[0].text_label == "Next page" and ranked[0].id.startswith("L")
        sid = session.session_id
        status, shot = _raw(gateway_url, api_key, "POST", f"/sessions/{sid}/page/screenshot")
        assert status == 200 and len(shot["screenshot"]) > 100
        status, logs = _raw(gateway_url, api_key, "GET", f"/sessions/{sid}/network/logs")
        assert status == 200 and any(e["url"].endswith("/notte-app.html") for e in logs["entries"])
        tab = client.sessions.debug_tab_info(sid, 0)
        assert tab.metadata.url.endswith("/notte-app.html") and tab.ws_url


def test_profile_from_browserbase_loads_in_notte(client: NotteClient, gateway_url: str,
                                                 api_key: str, site: str) -> None:
    from browserbase import Browserbase

    context = Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0).contexts.create()
    with client.Session(profile={"id": context.id, "persist": True}) as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        session.evaluate_js("document.cookie = 'kept=yes; max-age=3600'")
    with client.Session(profile={"id": context.id, "persist": False}) as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        assert session.evaluate_js("document.cookie") == "kept=yes"


def test_wrong_types_in_every_model(client: NotteClient, gateway_url: str, api_key: str,
                                    site: str) -> None:
    with client.Session() as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        sid = session.session_id
        for method, path, body in [
            ("POST", f"/sessions/{sid}/page/observe", {"max_nb_actions": "many"}),
            ("POST", f"/sessions/{sid}/page/observe", {"instructions": 3}),
            ("POST", f"/sessions/{sid}/page/scrape", {"only_main_content": "yes"}),
            ("POST", f"/sessions/{sid}/page/scrape", {"selector": ["#a"]}),
            ("POST", f"/sessions/{sid}/cookies", {"cookies": "flavour=oat"}),
            ("POST", f"/sessions/{sid}/cookies", {"cookies": [{"name": "a", "value": 1}]}),
            ("POST", f"/sessions/{sid}/page/execute", {"type": "select_dropdown_option",
                                                       "id": "I1", "value": {"x": 1}}),
            ("POST", f"/sessions/{sid}/page/execute", {"type": "switch_tab", "tab_index": 7}),
            ("GET", f"/sessions/{sid}/debug/tab?tab_idx=x", None),
            ("GET", "/sessions/?only_active=maybe", None),
            ("GET", "/sessions/?page=0", None),
            ("GET", "/sessions/?page_size=%C2%B2", None),
            ("GET", f"/sessions/{sid}/network/logs?limit=%C2%B2", None),
            ("DELETE", f"/sessions/{sid}/stop?close_reason=bored", None),
            ("POST", "/scrape", {"url": "ftp://example.com"}),
            ("POST", "/scrape_from_html", {"frames": [{"html": 5}]}),
            ("GET", f"/sessions/{sid}/no-such-route", None),
        ]:
            status, answer = _raw(gateway_url, api_key, method, path, body)
            assert 400 <= status < 500 and answer["message"], (path, body, answer)
        status, answer = _raw(gateway_url, "", "GET", "/sessions/")
        assert status == 401 and answer["message"]
        assert session.observe().metadata.title == "Notte app"
        assert session.status().status == "active"


# ---- with a real model (SmolLM2-135M on loopback): the answers' shape, never their quality -----

@pytest.fixture(scope="module")
def smol_client(tmp_path_factory: pytest.TempPathFactory, model_server: str) -> Iterator[NotteClient]:
    from tests.cluster import Cluster

    c = Cluster(tmp_path_factory.mktemp("notte-model"))
    try:
        c.start_controlplane()
        c.start_node("smol", 2, 1, (), 0, "--model-base-url", model_server,
                     "--model", "SmolLM2-135M-Instruct.Q4_1", "--model-max-tokens", "128",
                     "--model-max-input-chars", "4000")
        c.start_gateway()
        yield NotteClient(api_key=c.create_key("notte-model"),
                          server_url=f"http://127.0.0.1:{c.gateway_port}")
    finally:
        c.stop()


def test_scrape_with_a_model(smol_client: NotteClient, site: str) -> None:
    from pydantic import BaseModel

    class Title(BaseModel):
        title: str

    with smol_client.Session() as session:
        session.execute(type="goto", url=f"{site}/notte-next.html")
        answer = session.scrape(instructions="What is the page's heading?", raise_on_failure=False)
        assert answer.success in (True, False) and (answer.data is not None or answer.error)
        typed_answer = session.scrape(instructions="The page's heading", response_format=Title,
                                      raise_on_failure=False)
        if typed_answer.success:
            assert isinstance(typed_answer.data.title, str)
        else:
            assert typed_answer.error


def test_upload_download_and_frames(client: NotteClient, cluster: Any, md: Any, site: str) -> None:
    from browserplane.v1 import automation_pb2 as A
    from browserplane.v1 import automation_pb2_grpc

    automation = automation_pb2_grpc.AutomationStub(cluster.channel)
    with client.Session() as session:
        sid = session.session_id
        # A file in the session's uploads (Notte's files API is not built yet: gRPC puts it there).
        automation.WriteFile(iter([A.FileChunk(session_id=sid, kind=A.UPLOAD, name="notes.txt",
                                               data=b"hello from notte")]), metadata=md, timeout=30)
        session.execute(type="goto", url=f"{site}/upload.html")
        upload = next(a for a in session.observe().space.interaction_actions
                      if a.type == "upload_file")
        assert upload.id.startswith("I")
        session.execute(type="upload_file", id=upload.id, file_path="notes.txt")
        assert session.evaluate_js("document.querySelector('#content').textContent") \
            == "hello from notte"
        session.execute(type="goto", url=f"{site}/files.html")
        session.execute(type="download_file", selector="#report")
        for _ in range(50):
            files = automation.ListFiles(A.ListFilesRequest(session_id=sid, kind=A.DOWNLOAD),
                                         metadata=md, timeout=30).files
            if files:
                break
            session.execute(type="wait", time_ms=100)
        assert [f.name for f in files] == ["report.csv"]
        # An element inside an iframe, by its parent frame's selector.
        session.execute(type="goto", url=f"{site}/framed.html")
        session.execute(type="fill", selector={"css_selector": "#name", "xpath_selector": "",
                                               "in_iframe": True, "in_shadow_root": False,
                                               "iframe_parent_css_selectors": ["#widget"]},
                        value="Framed Jane")
        assert session.evaluate_js("document.querySelector('#widget').contentDocument"
                                   ".querySelector('#name').value") == "Framed Jane"


def test_start_options_reach_the_browser(client: NotteClient, site: str) -> None:
    with client.Session(user_agent="NotteTest/1.0 (Browserplane)", viewport_width=900,
                        viewport_height=600, block_ads=True, solve_captchas=True) as session:
        session.execute(type="goto", url=f"{site}/notte-app.html")
        assert session.evaluate_js("navigator.userAgent") == "NotteTest/1.0 (Browserplane)"
        assert session.evaluate_js("String(window.innerWidth)") == "900"
        status = session.status()
        assert status.user_agent == "NotteTest/1.0 (Browserplane)" and status.solve_captchas
    # An external proxy becomes the session's proxy rule (the egress policy checks it: the
    # test site's address is the one loopback destination allowed).
    with client.Session(proxies=[{"type": "external", "server": site}]) as session:
        assert session.status().proxies
    with pytest.raises(NotteAPIError, match="egress"):
        client.Session(proxies=[{"type": "external", "server": "http://127.0.0.1:9"}]).start()


def test_extra_http_headers_reach_every_page(client: NotteClient, site: str) -> None:
    with client.Session(extra_http_headers={"X-Tenant-Trace": "abc 123"}) as session:
        session.execute(type="goto", url=f"{site}/echo-headers")
        seen = json.loads(session.evaluate_js("document.body.innerText"))
        assert seen["x-tenant-trace"] == "abc 123"
        session.execute(type="goto_new_tab", url=f"{site}/echo-headers?tab=2")  # opened later
        assert session.evaluate_js("location.search") == "?tab=2"
        seen = json.loads(session.evaluate_js("document.body.innerText"))
        assert seen["x-tenant-trace"] == "abc 123"
        # The page's own fetches carry them too.
        fetched = session.evaluate_js(
            "fetch('/echo-headers').then(r => r.json()).then(h => h['x-tenant-trace'])")
        assert fetched == "abc 123"


def test_ids_and_selectors_translate_without_a_server() -> None:
    from browserplane.v1 import automation_pb2 as A
    from gateway.dialects import notte
    from gateway.http_api import ApiError

    cases = [(A.Element(ref="e17", tag="button", role="button"), "B17"),
             (A.Element(ref="e3", tag="a", role="link"), "L3"),
             (A.Element(ref="e4", tag="input", role="textbox", type="text"), "I4"),
             (A.Element(ref="e5", tag="input", role="button", type="submit"), "B5"),
             (A.Element(ref="e6", tag="select", role="combobox"), "I6"),
             (A.Element(ref="e7", tag="img", role="img"), "F7"),
             (A.Element(ref="e8", tag="li", role="option"), "O8")]
    for element, expected in cases:
        assert notte.notte_id(element) == expected
        assert notte._ref_of(expected) == element.ref
    for bad in ("B0", "X1", "B", "b3", "B1e", "B01"):
        with pytest.raises(ApiError):
            notte._ref_of(bad)
    assert notte._selector({"css_selector": "#a", "iframe_parent_css_selectors": ["#f1", "#f2"]}) \
        == "#f1 >> internal:control=enter-frame >> #f2 >> internal:control=enter-frame >> #a"
    assert notte._selector({"xpath_selector": "//a"}) == "xpath=//a"
    assert notte._selector({"css_selector": ""}) is None
