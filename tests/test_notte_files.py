"""Notte session files, profiles and replay through the official `notte-sdk` (1.10.0): uploads
used by an upload action, page downloads fetched byte-exact, profiles shared with Browserbase
contexts (a profile saved in Notte loads in a Browserbase session), duplicate, profile cookies,
saving a session's state into a profile, and replay ("not ready" while active, then the video).

Telemetry and the SDK's PyPI version check are off before the SDK is imported (as in
tests/test_notte.py); sessions are used as context managers, which release the SDK's own
Playwright driver."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import urllib.error
import urllib.request
from typing import Any

os.environ["DISABLE_TELEMETRY"] = "true"  # read by notte_core at import time

import notte_sdk.endpoints.base as notte_base  # noqa: E402
import pytest  # noqa: E402
from browserbase import Browserbase  # noqa: E402
from notte_sdk import NotteClient  # noqa: E402
from notte_sdk.errors import NotteAPIError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.cluster import Cluster  # noqa: E402

# The version check would GET pypi.org on the first client; it has no switch but this flag.
notte_base._version_check_performed = True

PAGES = pathlib.Path(__file__).parent / "pages"


@pytest.fixture(scope="module")
def key(cluster: Cluster) -> str:
    return cluster.create_key("notte-files")


@pytest.fixture(scope="module")
def client(key: str, gateway_url: str) -> NotteClient:
    return NotteClient(api_key=key, server_url=gateway_url)


@pytest.fixture(scope="module")
def other(cluster: Cluster, gateway_url: str) -> NotteClient:
    return NotteClient(api_key=cluster.create_key("notte-files-other"), server_url=gateway_url)


@pytest.fixture(scope="module")
def bb(key: str, gateway_url: str) -> Browserbase:
    return Browserbase(api_key=key, base_url=gateway_url, max_retries=0)


def _raw(gateway_url: str, key: str, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(gateway_url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _api_error(call: Any, status: int) -> dict[str, Any]:
    with pytest.raises(NotteAPIError) as caught:
        call()
    assert caught.value.status_code == status, caught.value.error
    assert caught.value.error["message"]
    return caught.value.error


def test_upload_used_by_an_upload_action_download_and_delete(client: NotteClient, key: str,
                                                            gateway_url: str, site: str,
                                                            tmp_path: pathlib.Path) -> None:
    local = tmp_path / "notes.txt"
    local.write_bytes(b"hello from a notte upload")
    with client.Session() as session:
        sid = session.session_id
        up = client.files.upload(sid, str(local))
        assert (up.filename, up.source, up.size, up.session_id) == ("notes.txt", "user_upload", 25, sid)
        assert up.checksum == hashlib.sha256(local.read_bytes()).hexdigest()
        assert up.expires_at > up.created_at

        # The upload action on a local page, by the file's id (execute/file) ...
        session.execute(type="goto", url=f"{site}/upload.html")
        answer = client.files.execute(sid, action={"type": "upload_file", "selector": "#file",
                                                   "file_path": "notes.txt"}, target_id=up.id)
        assert answer.success
        assert session.evaluate_js("document.querySelector('#content').textContent") \
            == "hello from a notte upload"
        # ... and by the name the SDK's storage passes as file_path.
        session.execute(type="reload")
        session.execute(type="upload_file", selector="#file", file_path="notes.txt")
        assert "notes.txt (25 bytes)" in session.evaluate_js(
            "document.querySelector('#chosen').textContent")

        # A download the page starts appears as a session_download, and downloads byte-exact.
        session.execute(type="goto", url=f"{site}/files.html")
        session.execute(type="download_file", selector="#report")
        downloads: list[Any] = []
        for _ in range(100):
            downloads = list(client.files.list(sid, source="session_download").files)
            if downloads:
                break
            session.execute(type="wait", time_ms=100)
        assert [(f.filename, f.source) for f in downloads] == [("report.csv", "session_download")]
        fetched = pathlib.Path(client.files.download(sid, downloads[0].id, str(tmp_path / "out")))
        assert fetched.read_bytes() == (PAGES / "report.csv").read_bytes()
        assert downloads[0].checksum == hashlib.sha256(fetched.read_bytes()).hexdigest()

        page = client.files.list(sid)
        assert page.total == 2 and {f.source for f in page.files} == {"user_upload",
                                                                       "session_download"}
        second = client.files.list(sid, limit=1, offset=1)
        assert (second.total, second.limit, second.offset, len(second.files)) == (2, 1, 1, 1)
        assert second.files[0].id == page.files[1].id
        assert [f.id for f in client.files.list(sid, source="user_upload").files] == [up.id]
        # The storage's view of it, as agents read it.
        assert [f.filename for f in session.storage.list(source="user_upload").files] == ["notes.txt"]

        client.files.delete(sid, up.id)
        assert client.files.list(sid).total == 1
        with pytest.raises(FileNotFoundError):
            client.files.metadata(sid, up.id)

        # Bad input: an unknown or deleted id, a traversal name, a name the node refuses.
        for method in ("GET", "DELETE"):
            for file_id in (up.id, "up-Li4vLi4vZXRjL3Bhc3N3ZA", "nope", "..%2F..%2Fetc"):
                status, body = _raw(gateway_url, key, method, f"/sessions/{sid}/files/{file_id}")
                assert status == 404 and body["error"] == "file_not_found", (method, file_id)
        for name in ("../evil.txt", "..", "a/b.txt"):
            error = _api_error(lambda n=name: client.files.upload(sid, str(local), n), 400)
            assert "name" in error["message"]
        status, body = _raw(gateway_url, key, "GET", f"/sessions/{sid}/files?source=elsewhere")
        assert status == 400 and body["field"] == "source"
        status, body = _raw(gateway_url, key, "GET", f"/sessions/{sid}/files?limit=0")
        assert status == 400 and body["field"] == "limit"
        status, body = _raw(gateway_url, key, "POST", f"/sessions/{sid}/files", {"file": "x"})
        assert status == 400 and "multipart" in body["message"]
        status, body = _raw(gateway_url, key, "POST", f"/sessions/{sid}/page/execute/file",
                            {"action": {"type": "click", "id": "B1"}, "target_id": up.id})
        assert status == 400 and body["field"] == "action.type"
        status, body = _raw(gateway_url, key, "POST", f"/sessions/{sid}/page/execute/file",
                            {"action": {"type": "upload_file", "selector": "#file",
                                        "file_path": "x"}, "target_id": up.id})
        assert status == 404 and body["field"] == "target_id"
        # The session is still usable.
        assert session.observe().metadata.url.endswith("/files.html")
    _api_error(lambda: client.files.list("no-such-session"), 404)


def test_profile_saved_in_notte_loads_in_browserbase(client: NotteClient, bb: Browserbase,
                                                     site: str) -> None:
    profile = client.profiles.create(name="n10 shared")
    assert profile.name == "n10 shared" and profile.persisted_domains == []
    with client.Session(profile={"id": profile.profile_id, "persist": True}) as session:
        session.execute(type="goto", url=f"{site}/hello.html")
        session.evaluate_js("document.cookie = 'from_notte=yes; max-age=3600; path=/'")
        session.evaluate_js("localStorage.setItem('notte_key', 'kept')")
    Cluster.wait(lambda: "127.0.0.1" in client.profiles.get(profile.profile_id).persisted_domains,
                 30, "the profile was not saved")
    assert {c.name for c in client.profiles.cookies_get(profile.profile_id).cookies} \
        == {"from_notte"}

    # The same profile is a Browserbase context.
    assert bb.contexts.retrieve(profile.profile_id).id == profile.profile_id
    second = bb.sessions.create(browser_settings={"context": {"id": profile.profile_id}},
                                keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(second.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            assert "from_notte=yes" in page.evaluate("document.cookie")
            assert page.evaluate("localStorage.getItem('notte_key')") == "kept"
            browser.close()
    finally:
        bb.sessions.update(second.id, status="REQUEST_RELEASE")


def test_profiles_list_duplicate_cookies_state_delete(client: NotteClient, other: NotteClient,
                                                      bb: Browserbase, gateway_url: str,
                                                      key: str, site: str) -> None:
    context = bb.contexts.create()  # a Browserbase context is a Notte profile
    listed = [p.profile_id for p in client.profiles.list(page_size=100)]
    assert context.id in listed
    assert [p.profile_id for p in client.profiles.list(page_size=1, page=listed.index(context.id)
                                                       + 1)] == [context.id]

    source = client.profiles.create(name="original")
    client.profiles.cookies_set(source.profile_id, cookies=[
        {"name": "a", "value": "1", "domain": "127.0.0.1", "path": "/", "httpOnly": False}])
    answer = client.profiles.cookies_set(source.profile_id, mode="append", cookies=[
        {"name": "b", "value": "2", "domain": "127.0.0.1", "path": "/", "httpOnly": True,
         "expirationDate": 4102444800}])
    assert (answer.success, answer.cookies_count, answer.mode) == (True, 1, "append")
    assert sorted(c.name for c in client.profiles.cookies_get(source.profile_id).cookies) \
        == ["a", "b"]

    copy = client.profiles.duplicate(source.profile_id, name="copy")
    assert copy.profile_id != source.profile_id and copy.name == "copy"
    assert copy.persisted_domains == ["127.0.0.1"]
    assert client.profiles.duplicate(source.profile_id).name == "original"
    # Cookies set through the API are there in the next session that loads the profile.
    with client.Session(profile={"id": copy.profile_id}) as session:
        session.execute(type="goto", url=f"{site}/hello.html")
        assert session.evaluate_js("document.cookie") == "a=1"  # b is httpOnly
        assert {c["name"] for c in session.get_cookies()} >= {"a", "b"}
    client.profiles.cookies_set(copy.profile_id, cookies=[
        {"name": "only", "value": "me", "domain": "127.0.0.1", "path": "/", "httpOnly": False}])
    with client.Session(profile={"id": copy.profile_id}) as session:
        session.execute(type="goto", url=f"{site}/hello.html")
        assert session.evaluate_js("document.cookie") == "only=me"  # replace is the default

    state = client.profiles.state_set(source.profile_id, cookies=[
        {"name": "c", "value": "3", "domain": "127.0.0.1", "path": "/", "httpOnly": False}],
        mode="append")
    assert (state.success, state.cookies_count, state.local_storage_origins) == (True, 1, 0)
    assert sorted(c.name for c in client.profiles.cookies_get(source.profile_id).cookies) \
        == ["a", "b", "c"]
    error = _api_error(lambda: client.profiles.state_set(
        source.profile_id, local_storage={"http://127.0.0.1": {"k": "v"}}), 400)
    assert "local_storage" in error["message"]

    # Another project sees none of it.
    for call in (lambda: other.profiles.get(source.profile_id),
                 lambda: other.profiles.cookies_get(source.profile_id),
                 lambda: other.profiles.duplicate(source.profile_id),
                 lambda: other.profiles.delete(source.profile_id)):
        _api_error(call, 404)
    assert source.profile_id not in [p.profile_id for p in other.profiles.list(page_size=100)]
    with pytest.raises(NotteAPIError) as caught:
        with other.Session(profile={"id": source.profile_id}):
            pass
    assert caught.value.status_code == 404 and "profile" in caught.value.error["message"]

    # Wrong types answer 400 in Notte's shape.
    for method, path, body in [
        ("POST", "/profiles/create", {"name": 3}),
        ("POST", "/profiles/create", {"name": "x", "color": "red"}),
        ("POST", f"/profiles/{source.profile_id}/duplicate", {"name": ["x"]}),
        ("POST", f"/profiles/{source.profile_id}/cookies", {"cookies": "a=1"}),
        ("POST", f"/profiles/{source.profile_id}/cookies", {"cookies": []}),
        ("POST", f"/profiles/{source.profile_id}/cookies", {"cookies": [{"name": "a",
                                                                          "value": 1}]}),
        ("POST", f"/profiles/{source.profile_id}/cookies", {"cookies": [
            {"name": "a", "value": "1", "domain": "x"}], "mode": "merge"}),
        ("POST", f"/profiles/{source.profile_id}/state", {"cookies": {"a": 1}}),
        ("POST", f"/profiles/{source.profile_id}/state", {"domains": []}),
        ("GET", "/profiles?page_size=101", None),
        ("GET", "/profiles?page=zero", None),
    ]:
        status, answer_body = _raw(gateway_url, key, method, path, body)
        assert status == 400 and answer_body["message"] and "detail" in answer_body, (path, body)

    assert client.profiles.delete(copy.profile_id) is True
    _api_error(lambda: client.profiles.get(copy.profile_id), 404)
    _api_error(lambda: client.profiles.cookies_get(copy.profile_id), 404)
    _api_error(lambda: client.profiles.get("no-such-profile"), 404)


def test_session_profile_save(client: NotteClient, gateway_url: str, key: str, site: str) -> None:
    with client.Session() as session:
        sid = session.session_id
        session.execute(type="goto", url=f"{site}/hello.html")
        session.evaluate_js("document.cookie = 'saved=by-save; max-age=3600; path=/'")
        saved = session.save_profile(name="saved from a session")
        assert saved.name == "saved from a session"
        with pytest.raises(ValueError):
            session.save_profile(profile_id=saved.profile_id, name="both")
        status, body = _raw(gateway_url, key, "POST", f"/sessions/{sid}/profile/save",
                            {"profile_id": saved.profile_id, "name": "both"})
        assert status == 400 and body["field"] == "name"
        status, body = _raw(gateway_url, key, "POST", f"/sessions/{sid}/profile/save", {})
        assert status == 400 and "without a profile" in body["message"]
        status, body = _raw(gateway_url, key, "POST", f"/sessions/{sid}/profile/save",
                            {"profile_id": "no-such-profile"})
        assert status == 404
    # The state lands in the profile when the session stops.
    Cluster.wait(lambda: client.profiles.get(saved.profile_id).persisted_domains == ["127.0.0.1"],
                 30, "not saved")
    with client.Session(profile={"id": saved.profile_id}) as session:
        session.execute(type="goto", url=f"{site}/hello.html")
        assert session.evaluate_js("document.cookie") == "saved=by-save"
        # With neither, into the profile the session started with.
        assert session.save_profile().profile_id == saved.profile_id
    status, body = _raw(gateway_url, key, "POST", f"/sessions/{sid}/profile/save",
                        {"name": "too late"})
    assert status == 409  # the session has ended: its state is gone


def test_replay_is_not_ready(client: NotteClient) -> None:
    with client.Session() as session:
        sid = session.session_id
        error = _api_error(lambda: client.sessions.replay(sid, wait=False), 404)
        assert "still active" in error["message"]
        with pytest.raises(ValueError, match="close the session first"):
            client.sessions.replay(sid, wait=True, timeout=5, poll_interval=1)
    # Once closed, the recording is put by the node as the browser stops: the SDK's wait
    # polls until it is there (tests/test_recording.py checks the video itself).
    replay = client.sessions.replay(sid, wait=True, timeout=60, poll_interval=1, _session_closed=True)
    assert replay.mp4_url and replay.video_duration_ms and replay.video_start_ms == 0
    _api_error(lambda: client.sessions.replay("no-such-session", wait=False), 404)


def test_airtop_profile_is_a_notte_profile(client: NotteClient, key: str, gateway_url: str,
                                           site: str) -> None:
    from airtop import Airtop, SessionConfigV1

    at = Airtop(api_key=key, base_url=f"{gateway_url}/api", timeout=120)
    made = at.sessions.create(configuration=SessionConfigV1(profile_name="from-airtop",
                                                            persist_profile=True)).data
    window = at.windows.create(made.id, url=f"{site}/hello.html").data
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(made.cdp_ws_url)
        page = next(pg for ctx in browser.contexts for pg in ctx.pages if "hello" in pg.url)
        page.evaluate("document.cookie = 'from_airtop=1; max-age=3600; path=/'")
        browser.close()
    at.sessions.terminate(made.id)
    assert window.window_id
    Cluster.wait(lambda: [p.persisted_domains for p in client.profiles.list(name="from-airtop")]
                 == [["127.0.0.1"]], 30, "the Airtop profile is not listed in Notte with its state")
    listed = client.profiles.list(name="from-airtop")[0]
    assert listed.profile_id == made.profile_id
    assert [c.name for c in client.profiles.cookies_get(made.profile_id).cookies] == ["from_airtop"]
