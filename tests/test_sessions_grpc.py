"""Sessions over gRPC against a real control plane, node and Chromium."""

from __future__ import annotations

import signal
import time

import grpc
import pytest
from playwright.sync_api import sync_playwright

from browserplane import errors
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node.chromium import processes_mentioning
from tests.cluster import Cluster, session_dir


def create(cluster: Cluster, md, **options) -> S.Session:
    return cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(**options)),
                                      metadata=md, timeout=60)


def get(cluster: Cluster, md, sid: str) -> S.Session:
    return cluster.stub.GetSession(cp.GetSessionRequest(id=sid), metadata=md, timeout=10)


def wait_state(cluster: Cluster, md, sid: str, state: int, timeout: float) -> S.Session:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = get(cluster, md, sid)
        if s.state == state:
            return s
        time.sleep(0.1)
    raise AssertionError(f"session {sid} is {S.SessionState.Name(s.state)}, wanted "
                         f"{S.SessionState.Name(state)}")


def test_create_connect_load_terminate_leaves_nothing(cluster: Cluster, md, site: str):
    s = create(cluster, md, keep_alive=True)
    assert s.state == S.RUNNING
    assert s.cdp_url.startswith("ws://127.0.0.1:") and "token=" in s.cdp_url
    browser_dir = session_dir(cluster.browsers_root(), s.id)
    assert browser_dir is not None and processes_mentioning(browser_dir)

    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(s.cdp_url)
        context = browser.contexts[0]
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(f"{site}/hello.html")
        assert page.title() == "Hello from Browserplane"
        browser.close()

    ended = cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md,
                                          timeout=10)
    assert ended.state == S.COMPLETED and ended.end_cause == S.REQUESTED
    Cluster.wait(lambda: not browser_dir.exists(), 10, "browser directory left behind")
    assert processes_mentioning(browser_dir) == []


def test_warm_default_session_and_cold_custom_one(cluster: Cluster, md):
    cluster.wait(lambda: cluster.node("n1").warm_browsers >= 1, 30, "pool empty")
    warm = create(cluster, md)
    cold = create(cluster, md, viewport=S.Viewport(width=800, height=600), locale="de-DE",
                  timezone="Europe/Berlin")
    try:
        assert warm.warm is True
        assert cold.warm is False
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(cold.cdp_url)
            page = browser.contexts[0].pages[0]
            size = page.evaluate("[innerWidth, innerHeight]")
            zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
            lang = page.evaluate("navigator.language")
            browser.close()
        assert size == [800, 600]
        assert zone == "Europe/Berlin"
        assert lang == "de-DE"
    finally:
        for s in (warm, cold):
            cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_initial_cookies_are_in_the_browser(cluster: Cluster, md, site: str):
    s = create(cluster, md, cookies=[S.Cookie(name="flavour", value="oat", url=site)])
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(s.cdp_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            assert "flavour=oat" in page.evaluate("document.cookie")
            browser.close()
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


@pytest.mark.parametrize(("options", "field"), [
    ({"viewport": S.Viewport(width=0, height=600)}, "options.viewport.width"),
    ({"viewport": S.Viewport(width=800, height=99999)}, "options.viewport.height"),
    ({"timezone": "Mars/Olympus"}, "options.timezone"),
    ({"locale": "not a locale"}, "options.locale"),
    ({"user_agent": "two\nlines"}, "options.user_agent"),
    ({"proxies": [S.ProxyRule(server="ftp://proxy:21")]}, "options.proxies[0].server"),
    ({"cookies": [S.Cookie(name="a", value="b")]}, "options.cookies[0].domain"),
    ({"max_duration_seconds": 10**8}, "options.max_duration_seconds"),
    ({"profile": S.ProfileRef(profile_id="no-such-profile")}, "options.profile.profile_id"),
    ({"extension_ids": ["no-such-extension"]}, "options.extension_ids[0]"),
])
def test_invalid_options_name_the_field(cluster: Cluster, md, options, field):
    before = cluster.stub.ListSessions(cp.ListSessionsRequest(), metadata=md).total_size
    with pytest.raises(grpc.RpcError) as info:
        create(cluster, md, **options)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    described = errors.describe(info.value)
    assert described.metadata.get("field") == field
    assert field in described.message
    assert cluster.stub.ListSessions(cp.ListSessionsRequest(), metadata=md).total_size == before


def test_unknown_or_missing_key_is_unauthenticated(cluster: Cluster):
    for md in ((), (("authorization", "Bearer nope"),)):
        with pytest.raises(grpc.RpcError) as info:
            cluster.stub.ListSessions(cp.ListSessionsRequest(), metadata=md)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_projects_do_not_see_each_others_sessions(cluster: Cluster, md):
    other = (("authorization", f"Bearer {cluster.create_key('other-project')}"),)
    s = create(cluster, md)
    try:
        with pytest.raises(grpc.RpcError) as info:
            get(cluster, other, s.id)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError):
            cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=other)
        listed = cluster.stub.ListSessions(cp.ListSessionsRequest(), metadata=other).sessions
        assert s.id not in {x.id for x in listed}
        assert get(cluster, md, s.id).state == S.RUNNING
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_cdp_token_opens_only_its_own_session(cluster: Cluster, md):
    a, b = create(cluster, md), create(cluster, md)
    try:
        forged = a.cdp_url.replace(a.id, b.id)
        with sync_playwright() as p:
            with pytest.raises(Exception, match="401"):
                p.chromium.connect_over_cdp(forged, timeout=10_000)
            with pytest.raises(Exception, match="401"):
                p.chromium.connect_over_cdp(a.cdp_url.split("?")[0], timeout=10_000)
    finally:
        for s in (a, b):
            cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_session_without_keep_alive_ends_when_client_leaves(cluster: Cluster, md):
    s = create(cluster, md)
    with sync_playwright() as p:
        p.chromium.connect_over_cdp(s.cdp_url).close()
    ended = wait_state(cluster, md, s.id, S.COMPLETED, 10)
    assert ended.end_cause == S.CLIENT_DISCONNECTED


def test_keep_alive_session_survives_disconnect_and_reconnects(cluster: Cluster, md, site: str):
    s = create(cluster, md, keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(s.cdp_url)
            browser.contexts[0].pages[0].goto(f"{site}/hello.html")
            browser.close()
        time.sleep(2)  # several heartbeats
        again = get(cluster, md, s.id)
        assert again.state == S.RUNNING
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(again.cdp_url)
            assert browser.contexts[0].pages[0].title() == "Hello from Browserplane"
            browser.close()
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_idle_timeout_ends_an_unused_session(cluster: Cluster, md):
    s = create(cluster, md, idle_timeout_seconds=2, keep_alive=True)
    ended = wait_state(cluster, md, s.id, S.TIMED_OUT, 15)
    assert ended.end_cause == S.IDLE_TIMEOUT
    assert "idle" in ended.end_reason


def test_connected_client_keeps_session_from_idling_until_max_duration(cluster: Cluster, md):
    s = create(cluster, md, idle_timeout_seconds=3, max_duration_seconds=8, keep_alive=True)
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(s.cdp_url)
        time.sleep(4.5)  # past the idle timeout, but a client is connected
        assert get(cluster, md, s.id).state == S.RUNNING
        ended = wait_state(cluster, md, s.id, S.TIMED_OUT, 10)
        assert ended.end_cause == S.MAX_DURATION
        with pytest.raises(Exception):  # noqa: B017 - the browser is gone, any error will do
            browser.contexts[0].pages[0].evaluate("1", timeout=5000)


def test_list_filters_by_state_and_metadata_and_pages(cluster: Cluster, md):
    from google.protobuf import struct_pb2

    meta = struct_pb2.Struct()
    meta.update({"team": "search", "run": 7})
    tagged = [create(cluster, md, user_metadata=meta, keep_alive=True) for _ in range(3)]
    try:
        found = cluster.stub.ListSessions(cp.ListSessionsRequest(
            states=[S.RUNNING], metadata_filter={"team": "search"}), metadata=md).sessions
        assert {s.id for s in tagged} <= {s.id for s in found}
        assert all(s.state == S.RUNNING for s in found)
        page1 = cluster.stub.ListSessions(cp.ListSessionsRequest(page_size=2), metadata=md)
        page2 = cluster.stub.ListSessions(cp.ListSessionsRequest(
            page_size=2, page_token=page1.next_page_token), metadata=md)
        assert len(page1.sessions) == 2 and page1.next_page_token
        assert not {s.id for s in page1.sessions} & {s.id for s in page2.sessions}
    finally:
        for s in tagged:
            cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def test_watch_streams_start_and_end(cluster: Cluster, md):
    import threading

    events: list = []
    call = cluster.stub.WatchSessions(cp.WatchSessionsRequest(), metadata=md)
    def read() -> None:
        try:
            for event in call:
                events.append(event)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.CANCELLED  # we cancel it below

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)
    s = create(cluster, md)
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    Cluster.wait(lambda: any(e.kind == cp.SessionEvent.ENDED and e.session.id == s.id
                             for e in events), 10, "no ENDED event")
    call.cancel()
    kinds = [e.kind for e in events if e.session.id == s.id]
    assert kinds[0] == cp.SessionEvent.STARTED and kinds[-1] == cp.SessionEvent.ENDED
    assert all(not e.session.cdp_token for e in events)


def _cookie_and_storage(cdp_url: str, url: str, write: bool = False) -> list:
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(cdp_url)
        context = browser.contexts[0]
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(url)
        if write:
            page.evaluate("document.cookie = 'kept=1; max-age=3600; path=/';"
                          "localStorage.setItem('kept', 'yes')")
        value = page.evaluate("[document.cookie, localStorage.getItem('kept')]")
        browser.close()
    return value


def test_a_session_without_a_profile_saves_into_one_named_later_across_a_restart(
        fresh_cluster: Cluster, site: str):
    c = fresh_cluster.start_controlplane()
    c.start_node("n1", capacity=3, pool=0)
    md = (("authorization", f"Bearer {c.create_key('default')}"),)
    profile = c.stub.CreateProfile(cp.CreateProfileRequest(name="later"), metadata=md, timeout=10)
    s = create(c, md, keep_alive=True)
    assert not s.options.HasField("profile")
    _cookie_and_storage(s.cdp_url, f"{site}/hello.html", write=True)
    updated = c.stub.UpdateSession(cp.UpdateSessionRequest(
        id=s.id, save_profile=S.ProfileRef(profile_id=profile.id)), metadata=md, timeout=10)
    assert updated.save_profile_id == profile.id

    c.controlplane.stop(signal.SIGKILL)  # what UpdateSession recorded is on disk already
    c.start_controlplane()
    c.wait(lambda: c.node_up("n1"), 15, "node did not re-register")
    assert get(c, md, s.id).save_profile_id == profile.id
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md, timeout=10)

    # The next session that loads the profile waits for that save, then sees its state.
    loaded = create(c, md, keep_alive=True, profile=S.ProfileRef(profile_id=profile.id))
    try:
        assert _cookie_and_storage(loaded.cdp_url, f"{site}/hello.html") == ["kept=1", "yes"]
        saved = c.stub.GetProfile(cp.GetProfileRequest(id=profile.id), metadata=md, timeout=10)
        assert saved.size_bytes > 0 and saved.last_session_id == s.id
    finally:
        c.stub.TerminateSession(cp.TerminateSessionRequest(id=loaded.id), metadata=md)


def test_save_profile_refuses_a_foreign_profile_a_missing_id_and_an_ended_session(
        cluster: Cluster, md):
    other = (("authorization", f"Bearer {cluster.create_key('save-other')}"),)
    foreign = cluster.stub.CreateProfile(cp.CreateProfileRequest(name="theirs"), metadata=other,
                                         timeout=10)
    mine = cluster.stub.CreateProfile(cp.CreateProfileRequest(name="mine"), metadata=md, timeout=10)
    s = create(cluster, md, keep_alive=True)
    try:
        for ref, reason in ((S.ProfileRef(profile_id=foreign.id), errors.PROFILE_NOT_FOUND),
                            (S.ProfileRef(profile_id="no-such-profile"), errors.PROFILE_NOT_FOUND),
                            (S.ProfileRef(), errors.INVALID_ARGUMENT)):
            with pytest.raises(grpc.RpcError) as info:
                cluster.stub.UpdateSession(cp.UpdateSessionRequest(id=s.id, save_profile=ref),
                                           metadata=md, timeout=10)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert errors.describe(info.value).reason == reason
            assert "save_profile.profile_id" in info.value.details()
        assert not get(cluster, md, s.id).save_profile_id
        # With a release in the same request: recorded first, so the release saves.
        ended = cluster.stub.UpdateSession(cp.UpdateSessionRequest(
            id=s.id, request_release=True, save_profile=S.ProfileRef(profile_id=mine.id)),
            metadata=md, timeout=10)
        assert ended.state == S.COMPLETED and ended.save_profile_id == mine.id
        Cluster.wait(lambda: cluster.stub.GetProfile(cp.GetProfileRequest(id=mine.id), metadata=md,
                                                     timeout=10).size_bytes > 0,
                     30, "the released session's state was not saved")
        with pytest.raises(grpc.RpcError) as info:
            cluster.stub.UpdateSession(cp.UpdateSessionRequest(
                id=s.id, save_profile=S.ProfileRef(profile_id=mine.id)), metadata=md, timeout=10)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert errors.describe(info.value).reason == errors.SESSION_ENDED
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
