"""Notte's agents by plain HTTP (notte-sdk 1.10.0 has no agent endpoints), against real
gateways, control planes and Chromium; the agent's model is the real SmolLM2-135M.

A 135M model does not solve tasks: the tests assert what holds whatever it decides (steps
recorded with their action and url, a terminal status, max_steps honoured, stop, status after
the session and the control plane are gone, a generated script that runs)."""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Iterator
from typing import Any

os.environ["DISABLE_TELEMETRY"] = "true"  # read by notte_core at import time

import httpx  # noqa: E402
import notte_sdk.endpoints.base as notte_base  # noqa: E402
import pytest  # noqa: E402

from browserplane.v1 import automation_pb2 as A  # noqa: E402
from browserplane.v1 import controlplane_pb2 as cp  # noqa: E402
from gateway.dialects import notte_agents  # noqa: E402
from tests.cluster import Cluster  # noqa: E402
from tests.test_model import NODE_MODEL_FLAGS  # noqa: E402

# The version check would GET pypi.org on the first client; it has no switch but this flag.
notte_base._version_check_performed = True

TERMINAL = {"done", "failed", "step_limit", "needs_human", "budget", "stopped", "error"}


def _client(gateway: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway, timeout=120, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def http(gateway_url: str, api_key: str) -> Iterator[httpx.Client]:
    with _client(gateway_url, api_key) as client:
        yield client


@pytest.fixture
def session_id(http: httpx.Client) -> Iterator[str]:
    sid = http.post("/sessions/start", json={}).json()["session_id"]
    yield sid
    http.delete(f"/sessions/{sid}/stop")


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == status and body["message"] and body["detail"] == body["message"]
    return body


# ---- without a model (the shared cluster's node has none) -------------------------------------

def test_no_model_is_a_4xx_that_says_how_to_configure_one(http: httpx.Client, session_id: str,
                                                          site: str):
    answer = http.post("/agents/start", json={"task": "read the page", "session_id": session_id,
                                              "url": f"{site}/hello.html", "max_steps": 2})
    body = _error(answer, 409)
    assert body["error"] == "model_not_configured"
    assert "--model-base-url" in body["message"] and "--model-file" in body["message"]
    # Nothing started: no agent, the session untouched (still active, never navigated).
    assert not [a for a in http.get("/agents").json() if a["session_id"] == session_id]
    assert http.get(f"/sessions/{session_id}").json()["status"] == "active"
    observed = http.post(f"/sessions/{session_id}/page/observe", json={}).json()
    assert "hello.html" not in observed["metadata"]["url"]


@pytest.mark.parametrize("change, field", [
    ({"bogus": 1}, "bogus"),
    ({"task": 5}, "task"),
    ({"task": "  "}, "task"),
    ({"max_steps": "3"}, "max_steps"),
    ({"max_steps": 0}, "max_steps"),
    ({"max_steps": 151}, "max_steps"),
    ({"use_vision": "yes"}, "use_vision"),
    ({"response_format": "json"}, "response_format"),
    ({"reasoning_model": 4}, "reasoning_model"),
    ({"url": "ftp://example.org/"}, "url"),
    ({"url": 12}, "url"),
    ({"session_offset": 2}, "session_offset"),
    ({"notifier_config": {"type": "email"}}, "notifier_config"),
    ({"persona_id": 5}, "persona_id"),
    ({"vault_id": "vault_other"}, "vault_id"),
    ({"session_id": 7}, "session_id"),
])
def test_bad_agent_requests_name_the_field(http: httpx.Client, session_id: str,
                                           change: dict[str, Any], field: str):
    body = {"task": "read the page", "session_id": session_id, **change}
    error = _error(http.post("/agents/start", json=body), 400)
    assert error["field"] == field, error


def test_the_sessions_own_vault_is_accepted(http: httpx.Client):
    vault = http.post("/vaults/create", json={"name": "agents"}).json()["vault_id"]
    sid = http.post("/sessions/start", json={"vault_id": vault}).json()["session_id"]
    try:
        answer = http.post("/agents/start", json={"task": "log in", "session_id": sid,
                                                  "vault_id": vault})
        assert _error(answer, 409)["error"] == "model_not_configured"  # past the checks
    finally:
        http.delete(f"/sessions/{sid}/stop")
        http.delete(f"/vaults/{vault}")


def test_unknown_sessions_and_agents_are_404(http: httpx.Client):
    missing = http.post("/agents/start", json={"task": "x", "session_id": "sess_nope"})
    assert _error(missing, 404)["error"] == "session_not_found"
    _error(http.post("/agents/start", json={"task": "x"}), 400)
    _error(http.post("/agents/start", content=b"[1]"), 400)
    for path in ("/agents/call_nope", "/agents/call_nope/workflow/code"):
        _error(http.get(path), 404)
    _error(http.delete("/agents/call_nope/stop"), 404)
    _error(http.get("/agents/a/b/c"), 404)
    _error(http.get("/agents", params={"page": 0}), 400)
    _error(http.get("/agents", params={"only_active": "maybe"}), 400)
    assert isinstance(http.get("/agents", params={"only_active": "True"}).json(), list)


# ---- the translation of a run (real messages, no cluster) -------------------------------------

def _run_call(steps: list[A.AgentStep], result: A.AgentResult | None,
              state: int = cp.Call.COMPLETED) -> cp.Call:
    request = A.RunAgentRequest(session_id="s1", task='Log in\nthen say "hi"\x00\r"""', max_steps=5,
                                start_url="http://127.0.0.1:9/login")
    events = [A.AgentEvent(step=s).SerializeToString() for s in steps]
    if result is not None:
        events.append(A.AgentEvent(result=result).SerializeToString())
    call = cp.Call(id="call_1", session_id="s1", method="RunAgent", state=state,
                   request=request.SerializeToString(), events=events)
    call.created_at.GetCurrentTime()
    call.finished_at.GetCurrentTime()
    return call


def test_a_run_reads_as_notte_status_and_a_script_without_secrets():
    steps = [
        A.AgentStep(index=1, action="fill_username", ref="e2", selector="#user", success=True,
                    thought="the login form", url="http://127.0.0.1:9/login"),
        A.AgentStep(index=2, action="type", ref="e3", selector="#pass", text="••••", success=True),
        A.AgentStep(index=3, action="click", ref="e4", selector="button.go", label="Go",
                    success=True),
        A.AgentStep(index=4, action="click", ref="e9", selector="#gone", success=False,
                    message="not there"),
        A.AgentStep(index=5, action="ask_human", text="a captcha", success=True),
    ]
    call = _run_call(steps, A.AgentResult(status=A.AgentResult.NEEDS_HUMAN, answer="a captcha",
                                          steps=5))
    status = notte_agents.status_json(call)
    assert status["status"] == "closed" and status["success"] is False
    assert status["stopped_because"] == "needs_human" and "a captcha" in status["answer"]
    assert status["task"].startswith("Log in") and status["url"] == "http://127.0.0.1:9/login"
    assert [s["action"]["type"] for s in status["steps"]] == ["fill", "fill", "click", "click", "help"]
    assert status["steps"][0]["reasoning"] == "the login form"
    assert status["steps"][0]["url"] == "http://127.0.0.1:9/login"
    actions = notte_agents.replay_actions(call)
    assert [a["type"] for a in actions] == ["goto", "fill", "fill", "click"]  # failed ones left out
    code = notte_agents.workflow_code(call, "vault_1", "http://gw")
    compile(code, "workflow.py", "exec")
    assert "vault_id='vault_1'" in code and "value='cooljohnny1567'" in code  # the vault's placeholder
    assert "••••" not in code and "<password>" in code
    assert "#gone" not in code and "captcha" not in code

    running = _run_call(steps[:1], None, cp.Call.RUNNING)
    assert notte_agents.status_json(running)["success"] is None
    assert notte_agents.agent_json(running)["closed_at"] is None
    cancelled = notte_agents.status_json(_run_call([], None, cp.Call.CANCELLED))
    assert cancelled["stopped_because"] == "stopped" and cancelled["success"] is False
    empty = notte_agents.workflow_code(_run_call([], None), "", "http://gw")
    compile(empty, "workflow.py", "exec")
    assert "with client.Session() as session:" in empty


# ---- with the real model ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory, model_server: str) -> Iterator[Cluster]:
    """A cluster of its own whose node has the model, and its gateway."""
    c = Cluster(tmp_path_factory.mktemp("notte-agents"))
    try:
        c.start_controlplane()
        c.start_node("smol", 2, 1, (), 0, "--model-base-url", model_server, *NODE_MODEL_FLAGS)
        c.start_gateway()
        yield c
    finally:
        c.stop()


def _wait_closed(http: httpx.Client, agent_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get(f"/agents/{agent_id}").json()
        if status["status"] == "closed":
            return status
        time.sleep(0.5)
    raise AssertionError(f"agent {agent_id} still active: {status}")


def test_an_agent_runs_its_steps_and_outlives_its_session_and_a_restart(
        smol: Cluster, site: str, monkeypatch: pytest.MonkeyPatch):
    gateway = f"http://127.0.0.1:{smol.gateway_port}"
    key = smol.create_key("agents")
    marker = "zebra-7781"  # the task is sealed at rest: never in the data dir as written
    with _client(gateway, key) as http:
        sid = http.post("/sessions/start", json={}).json()["session_id"]
        started = http.post("/agents/start", json={
            "task": f"Read the page and finish ({marker})", "session_id": sid,
            "url": f"{site}/hello.html", "max_steps": 2, "use_vision": False,
            "reasoning_model": "openai/gpt-4o"})
        assert started.status_code == 200, started.text
        agent = started.json()
        assert agent["session_id"] == sid and agent["status"] in ("active", "closed")
        assert set(agent) == {"agent_id", "created_at", "session_id", "status", "closed_at", "saved"}
        agent_id = agent["agent_id"]
        assert agent_id in [a["agent_id"] for a in http.get("/agents").json()]

        status = _wait_closed(http, agent_id)
        assert status["task"].endswith(f"({marker})") and status["url"] == f"{site}/hello.html"
        assert status["stopped_because"] in TERMINAL and isinstance(status["success"], bool)
        assert status["closed_at"] and status["max_steps"] == 2
        steps = status["steps"]
        assert 1 <= len(steps) <= 2  # max_steps honoured
        if status["stopped_because"] == "step_limit":
            assert len(steps) == 2
        for i, step in enumerate(steps, 1):
            assert step["step"] == i and isinstance(step["action"]["type"], str)
            assert isinstance(step["reasoning"], str) and isinstance(step["success"], bool)
            assert step["url"].startswith(site)  # the page after the step, on the test site
        assert agent_id not in [a["agent_id"] for a in http.get(
            "/agents", params={"only_active": "True"}).json()]

        # The status outlives the session.
        assert http.delete(f"/sessions/{sid}/stop").json()["status"] == "closed"
        assert http.get(f"/agents/{agent_id}").json()["steps"] == steps
        stopped = http.delete(f"/agents/{agent_id}/stop")  # a finished agent answers as it is
        assert stopped.status_code == 200 and stopped.json()["status"] == "closed"

        # The script of the successful steps runs with the notte-sdk against this gateway.
        script = http.get(f"/agents/{agent_id}/workflow/code").json()
        assert script["code"] == script["python_script"]
        assert script["json_actions"][0] == {"type": "goto", "url": f"{site}/hello.html"}
        code = compile(script["code"], "workflow.py", "exec")
        monkeypatch.setenv("NOTTE_API_URL", gateway)
        monkeypatch.setenv("NOTTE_API_KEY", key)
        before = {s["session_id"] for s in http.get("/sessions", params={"page_size": 100}
                                                    ).json()["items"]}
        exec(code, {"__name__": "workflow"})  # noqa: S102 - the script the gateway wrote
        replayed = [s for s in http.get("/sessions", params={"page_size": 100}).json()["items"]
                    if s["session_id"] not in before]
        assert len(replayed) == 1 and replayed[0]["status"] == "closed"

        # Another project sees no such agent.
        with _client(gateway, smol.create_key("agents-other")) as other:
            for answer in (other.get(f"/agents/{agent_id}"), other.delete(f"/agents/{agent_id}/stop"),
                           other.get(f"/agents/{agent_id}/workflow/code")):
                assert answer.status_code == 404, answer.text
            assert other.get("/agents").json() == []

    data = b"".join(p.read_bytes() for p in pathlib.Path(smol.tmp / "cp").rglob("*") if p.is_file())
    assert marker.encode() not in data

    # And a control-plane restart: the record comes back from the store, not from memory.
    assert smol.controlplane is not None
    smol.controlplane.stop()
    smol.start_controlplane()
    with _client(gateway, key) as http:
        deadline = time.monotonic() + 30
        while True:
            again = http.get(f"/agents/{agent_id}")
            if again.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert again.status_code == 200, again.text
        assert again.json()["steps"] == steps and again.json()["task"] == status["task"]
        assert agent_id in [a["agent_id"] for a in http.get("/agents").json()]


def test_a_running_agent_stops(smol: Cluster, site: str):
    gateway = f"http://127.0.0.1:{smol.gateway_port}"
    with _client(gateway, smol.create_key("agents-stop")) as http:
        smol.wait(lambda: smol.node_up("smol"), 30, "node did not come back")
        sid = http.post("/sessions/start", json={}).json()["session_id"]
        try:
            agent = http.post("/agents/start", json={"task": "Read the page", "session_id": sid,
                                                     "url": f"{site}/hello.html", "max_steps": 20})
            assert agent.status_code == 200, agent.text
            agent_id = agent.json()["agent_id"]
            stopped = http.delete(f"/agents/{agent_id}/stop", params={"session_id": sid})
            assert stopped.status_code == 200 and stopped.json()["status"] == "closed"
            status = http.get(f"/agents/{agent_id}").json()
            assert status["status"] == "closed" and status["stopped_because"] in TERMINAL
            assert len(status["steps"]) < 20
            wrong = http.delete(f"/agents/{agent_id}/stop", params={"session_id": "other"})
            assert wrong.status_code == 404
            # The session is still usable.
            assert http.get(f"/sessions/{sid}").json()["status"] == "active"
        finally:
            http.delete(f"/sessions/{sid}/stop")


def test_an_agent_a_restart_interrupted_reads_as_failed(smol: Cluster, site: str):
    gateway = f"http://127.0.0.1:{smol.gateway_port}"
    with _client(gateway, smol.create_key("agents-restart")) as http:
        smol.wait(lambda: smol.node_up("smol"), 30, "node did not come back")
        sid = http.post("/sessions/start", json={}).json()["session_id"]
        agent = http.post("/agents/start", json={"task": "Read the page", "session_id": sid,
                                                 "url": f"{site}/hello.html", "max_steps": 20})
        assert agent.status_code == 200, agent.text
        agent_id = agent.json()["agent_id"]
        assert smol.controlplane is not None
        smol.controlplane.stop()
        smol.start_controlplane()
        deadline = time.monotonic() + 30
        while (answer := http.get(f"/agents/{agent_id}")).status_code == 503 \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        status = answer.json()
        assert status["status"] == "closed" and status["success"] is False, status
        assert status["stopped_because"] == "error" and "the control plane" in status["error"]
        assert len(status["steps"]) < 20


def test_an_agent_acts_as_a_persona_of_its_own_project_only(smol: Cluster, site: str):
    gateway = f"http://127.0.0.1:{smol.gateway_port}"
    with _client(gateway, smol.create_key("agents-persona")) as http, \
            _client(gateway, smol.create_key("agents-persona-other")) as other:
        smol.wait(lambda: smol.node_up("smol"), 30, "node did not come back")
        mine = http.post("/personas/create", json={"name": "Ada Agent"})
        assert mine.status_code == 200, mine.text
        theirs = other.post("/personas/create", json={}).json()["persona_id"]
        sid = http.post("/sessions/start", json={}).json()["session_id"]
        try:
            for persona in (theirs, "persona-that-does-not-exist"):
                refused = http.post("/agents/start", json={
                    "task": "Read the page", "session_id": sid, "persona_id": persona})
                assert refused.status_code == 404 and "persona" in refused.json()["message"], \
                    refused.text
            assert http.get("/agents", params={"only_active": "True"}).json() == []
            agent = http.post("/agents/start", json={
                "task": "Read the page", "session_id": sid, "max_steps": 1,
                "url": f"{site}/hello.html", "persona_id": mine.json()["persona_id"]})
            assert agent.status_code == 200, agent.text
            agent_id = agent.json()["agent_id"]
            smol.wait(lambda: http.get(f"/agents/{agent_id}").json()["status"] == "closed", 120,
                      "the persona's agent did not end")
        finally:
            http.delete(f"/sessions/{sid}/stop")
