"""The `/api/sessions` dialect over plain HTTP (httpx; no SDK exists), against the shared
cluster's real gateway, control plane and Chromium; the agent's model is the real SmolLM2-135M."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.cluster import Cluster
from tests.test_model import NODE_MODEL_FLAGS

TERMINAL = {"completed", "failed", "cancelled"}


def _client(gateway: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway, timeout=120, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def http(gateway_url: str, api_key: str) -> Iterator[httpx.Client]:
    with _client(gateway_url, api_key) as client:
        yield client


def _wait(http: httpx.Client, sid: str, want: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        details = http.get(f"/api/sessions/{sid}").json()
        if details["status"] in want or time.monotonic() > deadline:
            assert details["status"] in want, details
            return details
        time.sleep(0.2)


def _until(probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        time.sleep(0.2)


def _error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "field"?}, "requestId"}."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "requestId"}, body
    assert set(body["error"]) <= {"code", "message", "field"} and body["error"]["message"]
    assert body["error"]["code"].replace("_", "").isalpha()
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_create_answers_creating_then_runs_and_navigates(http: httpx.Client, cluster: Cluster,
                                                         site: str):
    answer = http.post("/api/sessions", json={"initialPrompt": f"{site}/noisy.html",
                                              "options": {"browser": "chromium",
                                                          "viewport": {"width": 900, "height": 700}}})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["status"] == "creating"
    assert created["machineId"] == cluster.node("n1").id  # a node had room: placed at once
    sid = created["sessionId"]
    try:
        running = _wait(http, sid, {"running"})
        assert running["machineId"] == created["machineId"]
        assert running["viewport"] == {"width": 900, "height": 700}
        # The prompt's navigation is logged as an action once the page has loaded.
        details = _until(lambda: (d := http.get(f"/api/sessions/{sid}").json())["actionCount"]
                         and d)
        assert details["currentUrl"].endswith("/noisy.html")
        assert details["title"] == "Noisy" and details["navigationCount"] >= 1
        assert details["actionCount"] >= 1 and details["duration"] >= 0
        listed = http.get("/api/sessions", params={"limit": 100}).json()
        assert sid in [s["sessionId"] for s in listed["sessions"]]
        # The console and network logs of the page the prompt opened.
        logs = _until(lambda: [e for e in http.get(f"/api/sessions/{sid}/console").json()["logs"]
                               if "hello from the page" in e["message"]])
        assert logs[0]["level"] == "log" and logs[0]["timestamp"]
        requests = _until(lambda: [r for r in http.get(f"/api/sessions/{sid}/network").json()["requests"]
                                   if r["url"].endswith("/report.csv")])
        assert requests[0]["method"] == "GET" and requests[0]["status"] == 200
        assert requests[0]["size"] > 0
        actions = http.get(f"/api/sessions/{sid}/actions").json()
        navigate = [a for a in actions["actions"] if a["type"] == "navigate"]
        assert navigate and navigate[0]["success"] and "noisy.html" in str(navigate[0]["details"])
        assert {"type", "timestamp", "success", "details", "duration"} <= set(navigate[0])
        health = http.get(f"/api/sessions/{sid}/health").json()
        assert health["status"] == "healthy" and health["browserResponsive"] is True
        assert health["sessionState"] == "running" and health["uptimeMs"] > 0
        assert health["currentUrl"].endswith("/noisy.html")

        # A navigation made over CDP (Playwright through the session's cdp_url) counts too.
        before = http.get(f"/api/sessions/{sid}").json()
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(before["cdpUrl"])
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/hello.html")
            browser.close()
        after = _until(lambda: (d := http.get(f"/api/sessions/{sid}").json())["navigationCount"]
                       > before["navigationCount"] and d)
        assert after["currentUrl"].endswith("/hello.html")
        assert after["actionCount"] == before["actionCount"]  # not an Automation call
    finally:
        ended = http.delete(f"/api/sessions/{sid}")
    assert ended.status_code == 200 and ended.json() == {"success": True,
                                                         "message": "Session terminated"}
    gone = http.get(f"/api/sessions/{sid}").json()
    assert gone["status"] == "cancelled" and gone["duration"] > 0
    assert http.get(f"/api/sessions/{sid}/health").json()["status"] == "terminated"
    assert http.delete(f"/api/sessions/{sid}").json()["success"] is True  # already ended
    live = [s["sessionId"] for s in http.get("/api/sessions", params={"limit": 100}).json()["sessions"]]
    assert sid not in live
    every = http.get("/api/sessions", params={"limit": 100, "includeTerminated": "true"}).json()
    assert sid in [s["sessionId"] for s in every["sessions"]]


def test_another_dialects_session_shows_up_with_its_actions_and_logs(
        http: httpx.Client, gateway_url: str, site: str):
    """A Notte session driven with Notte calls, read through /api/sessions."""
    sid = http.post("/sessions/start", json={}).json()["session_id"]
    try:
        done = http.post(f"/sessions/{sid}/page/execute",
                         json={"type": "goto", "url": f"{site}/noisy.html"})
        assert done.status_code == 200, done.text
        shot = http.post(f"/sessions/{sid}/page/screenshot", json={})
        assert shot.status_code == 200, shot.text
        listed = http.get("/api/sessions", params={"limit": 100}).json()
        mine = [s for s in listed["sessions"] if s["sessionId"] == sid]
        assert mine and mine[0]["status"] == "running" and mine[0]["dialect"] == "notte"
        # The screenshot's artifact is kept in the background, just after the answer.
        details = _until(lambda: (d := http.get(f"/api/sessions/{sid}").json())["screenshotCount"]
                         and d)
        assert details["actionCount"] >= 2
        types = [a["type"] for a in http.get(f"/api/sessions/{sid}/actions").json()["actions"]]
        assert "navigate" in types and "screenshot" in types
        assert _until(lambda: [e for e in http.get(f"/api/sessions/{sid}/console").json()["logs"]
                               if e["level"] == "warning" and e["message"] == "careful"])
        assert _until(lambda: [r for r in http.get(f"/api/sessions/{sid}/network").json()["requests"]
                               if r["url"].endswith("/noisy.html")])
        page = http.get(f"/api/sessions/{sid}/actions", params={"offset": 1, "limit": 1}).json()
        assert len(page["actions"]) == 1 and page["total"] == len(types)
    finally:
        http.delete(f"/sessions/{sid}/stop")
    # The screenshot is an artifact, kept after the session, with a URL that needs no key.
    assert _wait(http, sid, TERMINAL)["screenshotCount"] >= 1
    artifacts = http.get(f"/api/sessions/{sid}/artifacts").json()["artifacts"]
    shots = [a for a in artifacts if a["type"] == "screenshot"]
    assert shots and shots[0]["objectId"] and shots[0]["timestamp"]
    download = httpx.get(shots[0]["publicUrl"])
    assert download.status_code == 200 and download.content[:4] == b"\x89PNG"
    # What the session did stays readable after it ended: its node kept its logs as it stopped.
    ended = http.get(f"/api/sessions/{sid}").json()
    assert ended["actionCount"] == len(types) and ended["navigationCount"] >= 1
    assert ended["currentUrl"].endswith("/noisy.html") and ended["title"]
    kept = http.get(f"/api/sessions/{sid}/actions").json()
    assert [a["type"] for a in kept["actions"]] == types and kept["total"] == len(types)
    assert [e for e in http.get(f"/api/sessions/{sid}/console").json()["logs"]
            if e["message"] == "careful"]
    assert [r for r in http.get(f"/api/sessions/{sid}/network").json()["requests"]
            if r["url"].endswith("/noisy.html")]
    health = http.get(f"/api/sessions/{sid}/health").json()
    assert health["browserResponsive"] is False


def test_list_pages_with_total_and_has_more(http: httpx.Client):
    sids = [http.post("/api/sessions", json={}).json()["sessionId"] for _ in range(3)]
    try:
        first = http.get("/api/sessions", params={"limit": 1}).json()
        assert len(first["sessions"]) == 1 and first["total"] >= 3 and first["hasMore"] is True
        everything = http.get("/api/sessions", params={"limit": 100}).json()
        assert everything["hasMore"] is False and set(sids) <= {s["sessionId"] for s in
                                                                everything["sessions"]}
        last = http.get("/api/sessions", params={"limit": 1, "offset": everything["total"] - 1}).json()
        assert len(last["sessions"]) == 1 and last["hasMore"] is False
        assert http.get("/api/sessions", params={"offset": 10_000}).json()["sessions"] == []
    finally:
        for sid in sids:
            http.delete(f"/api/sessions/{sid}")


def test_a_text_prompt_without_a_model_is_400_and_leaves_no_session(http: httpx.Client):
    before = http.get("/api/sessions", params={"limit": 100, "includeTerminated": "true"}).json()
    error = _error(http.post("/api/sessions", json={"initialPrompt": "find the cheapest flight"}),
                   400, "model_not_configured")
    assert "--model-base-url" in error["message"] and "--model-file" in error["message"]
    assert error["field"] == "initialPrompt"
    after = http.get("/api/sessions", params={"limit": 100, "includeTerminated": "true"}).json()
    assert after["total"] == before["total"]


def test_another_projects_session_is_404(http: httpx.Client, cluster: Cluster, gateway_url: str):
    sid = http.post("/api/sessions", json={}).json()["sessionId"]
    try:
        with _client(gateway_url, cluster.create_key("other-api")) as other:
            for path in ("", "/actions", "/console", "/network", "/health", "/artifacts"):
                _error(other.get(f"/api/sessions/{sid}{path}"), 404, "session_not_found")
            _error(other.delete(f"/api/sessions/{sid}"), 404, "session_not_found")
            assert sid not in [s["sessionId"] for s in other.get("/api/sessions").json()["sessions"]]
    finally:
        http.delete(f"/api/sessions/{sid}")


UNKNOWN = "/api/sessions/00000000-0000-0000-0000-000000000000"
BAD_INPUT = [
    # (method, path, keyword arguments, status, code, field)
    ("POST", "/api/sessions", {"content": b"{not json"}, 400, "invalid_json", None),
    ("POST", "/api/sessions", {"content": b"[1, 2]"}, 400, "invalid_argument", None),
    ("POST", "/api/sessions", {"content": b'{"a": NaN}'}, 400, "invalid_json", None),
    ("POST", "/api/sessions", {"json": {"initialPrompt": 5}}, 400, "invalid_argument", "initialPrompt"),
    ("POST", "/api/sessions", {"json": {"initialPrompt": "http://"}}, 400, "invalid_argument",
     "initialPrompt"),
    ("POST", "/api/sessions", {"json": {"bogus": 1}}, 400, "invalid_argument", "bogus"),
    ("POST", "/api/sessions", {"json": {"options": []}}, 400, "invalid_argument", "options"),
    ("POST", "/api/sessions", {"json": {"options": {"browser": "firefox"}}}, 400,
     "invalid_argument", "options.browser"),
    ("POST", "/api/sessions", {"json": {"options": {"browser": 1}}}, 400, "invalid_argument",
     "options.browser"),
    ("POST", "/api/sessions", {"json": {"options": {"headless": True}}}, 400, "invalid_argument",
     "options.headless"),
    ("POST", "/api/sessions", {"json": {"options": {"viewport": {"width": 50, "height": 600}}}},
     400, "invalid_argument", "options.viewport.width"),
    ("POST", "/api/sessions", {"json": {"options": {"viewport": {"width": 800}}}}, 400,
     "invalid_argument", "options.viewport.height"),
    ("POST", "/api/sessions", {"json": {"options": {"viewport": {"width": "800", "height": 600}}}},
     400, "invalid_argument", "options.viewport.width"),
    ("POST", "/api/sessions", {"json": {"options": {"viewport": {"width": 800.5, "height": 600}}}},
     400, "invalid_argument", "options.viewport.width"),
    ("POST", "/api/sessions", {"json": {"options": {"viewport": "800x600"}}}, 400,
     "invalid_argument", "options.viewport"),
    ("POST", "/api/sessions", {"json": {"options": {"viewport": {"width": 800, "height": 600,
                                                                  "depth": 2}}}},
     400, "invalid_argument", "options.viewport.depth"),
    ("POST", "/api/sessions", {"content": b'{"initialPrompt": "\\ud800"}'}, 400, "invalid_json", None),
    ("GET", "/api/sessions?limit=0", {}, 400, "invalid_argument", "limit"),
    ("GET", "/api/sessions?limit=101", {}, 400, "invalid_argument", "limit"),
    ("GET", "/api/sessions?limit=-1", {}, 400, "invalid_argument", "limit"),
    ("GET", "/api/sessions?limit=ten", {}, 400, "invalid_argument", "limit"),
    ("GET", "/api/sessions?offset=-5", {}, 400, "invalid_argument", "offset"),
    ("GET", "/api/sessions?offset=99999999999999999999", {}, 400, "invalid_argument", "offset"),
    ("GET", "/api/sessions?includeTerminated=maybe", {}, 400, "invalid_argument",
     "includeTerminated"),
    ("GET", UNKNOWN, {}, 404, "session_not_found", None),
    ("DELETE", UNKNOWN, {}, 404, "session_not_found", None),
    ("GET", UNKNOWN + "/actions", {}, 404, "session_not_found", None),
    ("GET", UNKNOWN + "/artifacts", {}, 404, "session_not_found", None),
    ("GET", UNKNOWN + "/health", {}, 404, "session_not_found", None),
    ("GET", UNKNOWN + "/console", {}, 404, "session_not_found", None),
    ("GET", UNKNOWN + "/network", {}, 404, "session_not_found", None),
    ("GET", "/api/sessions/%ED%A0%80", {}, 404, "session_not_found", None),  # not UTF-8
    ("GET", "/api/sessions/" + "x" * 5000, {}, 404, "session_not_found", None),
    ("GET", UNKNOWN + "/actions?limit=0", {}, 400, "invalid_argument", "limit"),
    ("GET", UNKNOWN + "/actions?limit=1001", {}, 400, "invalid_argument", "limit"),
    ("GET", UNKNOWN + "/actions?offset=x", {}, 400, "invalid_argument", "offset"),
    ("GET", UNKNOWN + "/console?offset=-1", {}, 400, "invalid_argument", "offset"),
    ("GET", UNKNOWN + "/network?limit=1.5", {}, 400, "invalid_argument", "limit"),
    ("GET", UNKNOWN + "/recording", {}, 404, "not_found", None),
    ("GET", "/api/sessions/a/b/c", {}, 404, "not_found", None),
    ("PUT", "/api/sessions", {}, 405, "method_not_allowed", None),
    ("PATCH", UNKNOWN, {}, 405, "method_not_allowed", None),
    ("POST", UNKNOWN + "/health", {}, 405, "method_not_allowed", None),
]


@pytest.mark.parametrize("method, path, kwargs, status, code, field", BAD_INPUT,
                         ids=[f"{m} {p[:60]} {k}"[:100] for m, p, k, *_ in BAD_INPUT])
def test_bad_input_is_one_error_shape_never_a_500(http: httpx.Client, method: str, path: str,
                                                  kwargs: dict, status: int,
                                                  code: str | None, field: str | None):
    answer = http.request(method, path, **kwargs)
    error = _error(answer, status, code)
    if field is not None:
        assert error.get("field") == field, error


@pytest.mark.parametrize("path", ["/api/sessions", UNKNOWN, UNKNOWN + "/actions", "/api/sessions/x/y"])
def test_without_a_key_is_401_in_the_same_shape(gateway_url: str, path: str):
    answer = httpx.get(gateway_url + path)
    if path.endswith("/x/y"):
        _error(answer, 404, "not_found")  # no route: nothing to authenticate for
        return
    _error(answer, 401, "unauthenticated")
    _error(httpx.get(gateway_url + path, headers={"Authorization": "Bearer bp_wrong"}), 401,
           "unauthenticated")


def test_airtop_routes_under_api_v1_are_untouched(gateway_url: str, api_key: str):
    """Airtop's SDK calls /api/v1/...; /api/sessions is beside it, not over it."""
    answer = httpx.get(f"{gateway_url}/api/v1/sessions", headers={"Authorization": f"Bearer {api_key}"})
    assert answer.status_code == 200, answer.text
    assert "sessions" in answer.json().get("data", {})


def test_a_create_with_no_room_is_placed_later_or_fails_on_record(tmp_path):
    """With the only slot taken, a create still answers at once (machineId null while queued);
    it runs once room appears, and a create that waited past the queue timeout reads failed."""
    c = Cluster(tmp_path, **{"queue-timeout": 3})
    try:
        c.start_controlplane()
        c.start_node("solo", 1, 0)
        c.start_gateway()
        with _client(f"http://127.0.0.1:{c.gateway_port}", c.create_key("queue")) as http:
            first = http.post("/api/sessions", json={}).json()
            _wait(http, first["sessionId"], {"running"})
            queued = http.post("/api/sessions", json={}).json()
            assert queued["status"] == "creating" and queued["machineId"] is None
            listed = http.get("/api/sessions").json()["sessions"]
            assert {"sessionId": queued["sessionId"], "status": "creating"}.items() <= \
                next(s for s in listed if s["sessionId"] == queued["sessionId"]).items()
            assert http.delete(f"/api/sessions/{first['sessionId']}").json()["success"]
            placed = _wait(http, queued["sessionId"], {"running"})
            assert placed["machineId"] == "solo"
            # Ended while it waits: cancelled, and it stays so.
            dropped = http.post("/api/sessions", json={}).json()
            assert dropped["machineId"] is None
            assert http.delete(f"/api/sessions/{dropped['sessionId']}").json() == {
                "success": True, "message": "Session terminated"}
            assert http.get(f"/api/sessions/{dropped['sessionId']}").json()["status"] == "cancelled"
            late = http.post("/api/sessions", json={}).json()
            failed = _wait(http, late["sessionId"], {"failed"}, timeout=30)
            assert failed["endReason"] and "did not start" in failed["endReason"]
            assert http.get(f"/api/sessions/{dropped['sessionId']}").json()["status"] == "cancelled"
            health = http.get(f"/api/sessions/{late['sessionId']}/health").json()
            assert health["status"] == "terminated" and health["browserResponsive"] is False
            http.delete(f"/api/sessions/{queued['sessionId']}")
    finally:
        c.stop()


# ---- with a model: the prompt runs an agent -----------------------------------------------------

@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory, model_server: str) -> Iterator[Cluster]:
    """A cluster of its own whose node has the model, and its gateway."""
    c = Cluster(tmp_path_factory.mktemp("api-agents"))
    try:
        c.start_controlplane()
        c.start_node("smol", 2, 1, (), 0, "--model-base-url", model_server, *NODE_MODEL_FLAGS)
        c.start_gateway()
        yield c
    finally:
        c.stop()


def test_a_text_prompt_runs_an_agent_on_the_session(smol: Cluster, site: str):
    with _client(f"http://127.0.0.1:{smol.gateway_port}", smol.create_key("agents")) as http:
        created = http.post("/api/sessions", json={"initialPrompt": "Say what the page is about"})
        assert created.status_code == 201, created.text
        sid = created.json()["sessionId"]
        try:
            _wait(http, sid, {"running"})
            # The agent's run is in the session's action log (its steps as they end).
            actions = _until(lambda: [a for a in http.get(f"/api/sessions/{sid}/actions").json()
                                      ["actions"] if a["type"].startswith("agent")], timeout=300)
            assert actions[0]["timestamp"]
            # It is a RunAgent background call of the session (Notte lists those as agents).
            agents = [a for a in http.get("/agents").json() if a["session_id"] == sid]
            assert len(agents) == 1
        finally:
            http.delete(f"/api/sessions/{sid}")
