"""Stealth by default and the chrome_args allowlist, against a real cluster and Chromium."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import json_format
from grpc_status import rpc_status
from playwright.sync_api import sync_playwright

from browserplane import errors
from browserplane.chrome_flags import FlagRefused, check_flags
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node.chromium import LaunchConfig, LaunchError
from tests.cluster import Cluster

FORBIDDEN = [
    "--gpu-launcher=/bin/sh -c id",
    "--renderer-cmd-prefix=/usr/bin/touch /tmp/pwned",
    "--utility-cmd-prefix=/bin/sh",
    "--remote-debugging-address=0.0.0.0",
    "--remote-debugging-port=9222",
    "--user-data-dir=/root",
    "--load-extension=/tmp/ext",
    "--no-sandbox",
    "--proxy-server=http://127.0.0.1:1",
    "--host-resolver-rules=MAP * 127.0.0.1",
    "--disable-web-security",
    "--enable-logging=/etc/passwd",
    # Allowed names with values they do not allow.
    "--lang=en-US --no-sandbox",
    "--window-size=99999,10",
    "--disable-features=IsolateOrigins,site-per-process",
    "--disable-blink-features=AutomationControlled,Foo",
    "--force-dark-mode=/tmp/x",
    "--mute-audio\n--no-sandbox",
]


def create(cluster: Cluster, md, **options) -> S.Session:
    return cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(**options)),
                                      metadata=md, timeout=60)


def end(cluster: Cluster, md, *sessions: S.Session) -> None:
    for s in sessions:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md, timeout=10)


def record_headers(page) -> dict[str, str]:
    """The headers the browser actually sends for stealth.html (client hints included)."""
    sent: dict[str, str] = {}
    page.on("request", lambda r: sent.update(r.all_headers()) if r.url.endswith("stealth.html") else None)
    return sent


def signals(page) -> dict:
    return page.evaluate("window.signals")


def test_default_session_shows_no_headless_signal(cluster: Cluster, md, site: str):
    cluster.wait(lambda: cluster.node("n1").warm_browsers >= 1, 30, "pool empty")
    s = create(cluster, md, keep_alive=True)
    try:
        assert s.warm is True  # stealth holds for pooled browsers, not only cold ones
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(s.cdp_url)
            page = browser.contexts[0].pages[0]
            sent = record_headers(page)
            page.goto(f"{site}/stealth.html")
            seen = signals(page)
            assert seen["headless"] == [], seen
            assert seen["webdriver"] is False
            ua = seen["userAgent"]
            assert "HeadlessChrome" not in ua and "Chrome/" in ua
            assert s.user_agent == ua  # the session record says what pages send
            major = ua.split("Chrome/")[1].split(".")[0]
            assert browser.version.startswith(major + ".")  # the browser's real version
            assert "Linux" in ua and seen["platform"] == "Linux" and seen["mobile"] is False
            assert "Chromium" in seen["brands"] and not seen["brandsHeadless"]
            assert seen["languages"] and seen["plugins"] > 0 and seen["chrome"] == "object"
            assert not seen["permissionMismatch"]
            # The client hints on the wire agree with the page's view.
            assert sent["user-agent"] == ua
            assert "Headless" not in sent["sec-ch-ua"] and f'"Chromium";v="{major}"' in sent["sec-ch-ua"]
            assert sent["sec-ch-ua-platform"] == '"Linux"' and sent["sec-ch-ua-mobile"] == "?0"

            # A new tab and an iframe, opened by the client, are the same.
            tab = browser.contexts[0].new_page()
            tab.goto(f"{site}/framed.html")
            frame = tab.frame_locator("#widget").locator("body")
            assert frame.evaluate("() => [navigator.webdriver, navigator.userAgent]") == [False, ua]
            assert tab.evaluate("navigator.webdriver") is False
            browser.close()

        # Pages opened through the Automation service too.
        with grpc.insecure_channel(cluster.address) as channel:
            automation = automation_pb2_grpc.AutomationStub(channel)
            opened = automation.OpenPage(A.OpenPageRequest(session_id=s.id, url=f"{site}/stealth.html"),
                                         metadata=md, timeout=30)
            answer = automation.Evaluate(A.EvaluateRequest(
                session_id=s.id, page_id=opened.id, expression="window.signals"),
                metadata=md, timeout=30)
            seen = json_format.MessageToDict(answer.result)
            assert seen["headless"] == [] and seen["userAgent"] == ua
    finally:
        end(cluster, md, s)


def test_locale_and_own_user_agent_are_consistent(cluster: Cluster, md, site: str):
    french = create(cluster, md, locale="fr-FR")
    own = create(cluster, md, user_agent="Mozilla/5.0 (X11; Linux x86_64) ExampleBot/1.0")
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(french.cdp_url)
            page = browser.contexts[0].pages[0]
            sent = record_headers(page)
            page.goto(f"{site}/stealth.html")
            seen = signals(page)
            assert seen["language"] == "fr-FR" and seen["languages"] == ["fr-FR", "fr"]
            assert sent["accept-language"].startswith("fr-FR,fr")
            assert seen["headless"] == []
            browser.close()

            browser = p.chromium.connect_over_cdp(own.cdp_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/stealth.html")
            seen = signals(page)
            assert seen["userAgent"] == "Mozilla/5.0 (X11; Linux x86_64) ExampleBot/1.0"
            assert seen["webdriver"] is False
            browser.close()
    finally:
        end(cluster, md, french, own)


def test_forbidden_chrome_args_are_refused_and_nothing_starts(cluster: Cluster, md):
    before = {s.id for s in cluster.stub.ListSessions(cp.ListSessionsRequest(), metadata=md,
                                                     timeout=10).sessions}
    browsers = set(cluster.browsers_root().iterdir())
    for flag in FORBIDDEN:
        with pytest.raises(grpc.RpcError) as caught:
            create(cluster, md, chrome_args=["--mute-audio", flag])
        err = caught.value
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, flag
        message = err.details()
        assert "options.chrome_args[1]" in message and repr(flag)[:60] in message, message
        assert "--force-dark-mode" in message  # the allowlist is named
        info = rpc_status.from_call(err)
        assert info is not None and errors.INVALID_ARGUMENT in str(info.details[0].value)
    after = {s.id for s in cluster.stub.ListSessions(cp.ListSessionsRequest(), metadata=md,
                                                    timeout=10).sessions}
    assert after == before
    assert set(cluster.browsers_root().iterdir()) <= browsers


def test_allowed_chrome_args_take_effect_and_launch_cold(cluster: Cluster, md, site: str):
    s = create(cluster, md, chrome_args=["--lang=fr", "--force-dark-mode", "--hide-scrollbars",
                                         "--window-size=1000,700", "--disable-features=Translate"])
    plain = create(cluster, md)
    try:
        assert s.warm is False  # a different command line: never a pooled browser
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(s.cdp_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/many.html")
            assert page.evaluate("navigator.language") == "fr"
            assert page.evaluate("[outerWidth, outerHeight]") == [1000, 700]
            # No scrollbar takes room from a long page.
            assert page.evaluate("[document.documentElement.scrollHeight > innerHeight, "
                                 "innerWidth - document.documentElement.clientWidth]") == [True, 0]
            browser.close()
            # The control: without the flag the same page has a scrollbar.
            browser = p.chromium.connect_over_cdp(plain.cdp_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/many.html")
            assert page.evaluate("innerWidth - document.documentElement.clientWidth") > 0
            assert page.evaluate("navigator.language") == "en-US"
            browser.close()
    finally:
        end(cluster, md, s, plain)


def test_node_refuses_flags_the_control_plane_would_refuse():
    """Defence in depth: the node's command line is built only from allowlisted flags."""
    for flag in FORBIDDEN:
        with pytest.raises(LaunchError, match="chrome_args"):
            LaunchConfig(chrome_args=(flag,)).flags()
        with pytest.raises(FlagRefused):
            check_flags([flag])
    flags = LaunchConfig(chrome_args=("--mute-audio", "--lang=de"),
                         stealth_user_agent="Mozilla/5.0 Chrome/1.0.0.0").flags()
    assert flags[-2:] == ["--mute-audio", "--lang=de"]
    assert "--disable-blink-features=AutomationControlled" in flags
    assert "--user-agent=Mozilla/5.0 Chrome/1.0.0.0" in flags
    with pytest.raises(FlagRefused, match="limit"):
        check_flags(["--mute-audio"] * 40)
    assert json.dumps(check_flags(["--window-size=1920,1080", "--font-render-hinting=none"])) == "null"
