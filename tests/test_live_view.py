"""The live view: Browserbase's debugger URLs open a page that shows the session's page and
passes input through. A second, local Chromium plays the person watching."""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request

import httpx
import pytest
from browserbase import Browserbase
from playwright.sync_api import sync_playwright

from node.chromium import BASE_FLAGS, find_chromium


@pytest.fixture
def bb(gateway_url: str, api_key: str) -> Browserbase:
    return Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_live_view_shows_the_page_and_passes_input_through(bb: Browserbase, site: str):
    session = bb.sessions.create(keep_alive=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        client = p.chromium.connect_over_cdp(session.connect_url)
        page = client.contexts[0].pages[0]
        page.goto(f"{site}/form.html")
        debug = bb.sessions.debug(session.id)
        assert "/live?token=" in debug.debugger_url and "navbar=false" in debug.debugger_fullscreen_url
        (listed,) = [pg for pg in debug.pages if pg.url.endswith("/form.html")]
        assert f"page={listed.id}" in listed.debugger_fullscreen_url

        viewer_browser = p.chromium.launch_persistent_context(
            profile, executable_path=find_chromium(), headless=True,
            args=[f for f in BASE_FLAGS if not f.startswith("--remote-debugging")],
            viewport={"width": 1400, "height": 900})
        viewer = viewer_browser.pages[0]
        viewer.goto(listed.debugger_fullscreen_url)
        viewer.wait_for_function("() => document.getElementById('screen').naturalWidth > 0",
                                timeout=15_000)

        def click_on(selector: str) -> None:
            """Clicks in the viewer where the element is on the session's page."""
            box = page.locator(selector).bounding_box()
            width = page.evaluate("innerWidth")
            shown = viewer.locator("#screen").bounding_box()
            scale = shown["width"] / width
            viewer.mouse.click(shown["x"] + (box["x"] + box["width"] / 2) * scale,
                               shown["y"] + (box["y"] + box["height"] / 2) * scale)

        click_on("#counter")
        page.wait_for_function("document.getElementById('counter').textContent === 'Clicked 1 times'",
                               timeout=10_000)
        click_on("#name")
        viewer.keyboard.type("Zoe")
        page.wait_for_function("document.getElementById('name').value === 'Zoe'", timeout=10_000)
        # What changed on the page reaches the viewer too: its frames keep coming.
        before = viewer.evaluate("() => document.getElementById('screen').src.length")
        page.evaluate("document.body.style.background = 'rgb(0, 90, 200)'")
        viewer.wait_for_function(f"() => document.getElementById('screen').src.length !== {before}",
                                 timeout=10_000)
        viewer_browser.close()
        client.close()

    live = debug.debugger_url
    assert _status(live.split("?")[0]) == 401  # no token
    assert _status(live.replace("token=", "token=1x" + "0" * 32 + "&old=")) == 401
    bb.sessions.update(session.id, status="REQUEST_RELEASE")
    assert _status(live) == 410


def test_discovery_answers_on_a_connection_that_began_as_an_api_call(bb, gateway_url, api_key):
    """The front door hands a connection to the HTTP API for good once its first request was
    one; a client that reuses it for /json/version must still be answered."""
    session = bb.sessions.create(keep_alive=True)
    try:
        token = session.connect_url.split("token=")[1]
        with httpx.Client(base_url=gateway_url, headers={"X-BB-API-Key": api_key}) as http:
            assert http.get(f"/v1/sessions/{session.id}").status_code == 200
            version = http.get(f"/session/{session.id}/json/version/", params={"token": token})
            assert version.status_code == 200
            assert version.json()["webSocketDebuggerUrl"].startswith(
                gateway_url.replace("http", "ws") + f"/session/{session.id}/devtools/browser")
            listing = http.get(f"/session/{session.id}/json/list", params={"token": token}).json()
            assert any(t["type"] == "page" for t in listing)
            assert http.get(f"/session/{session.id}/json/list",
                            params={"token": "1x" + "0" * 32}).status_code == 401
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
