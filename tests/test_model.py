"""The model-backed Automation calls against a REAL model: SmolLM2-135M-Instruct served by
`browserplane model` (llama.cpp through xllamacpp) on loopback, on real Chromium.

A 135M model is weak: these tests assert mechanics (schema-valid answers, usage and credits,
budgets, pagination, the agent loop's limits and stopping, errors) and facts that do not depend
on the model's quality, never that a task succeeded.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import jsonschema
import pytest
from google.protobuf import json_format

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node import intelligence
from node.model_client import BudgetReached, Meter, ModelClient, check_schema, credits_for, trim
from tests.cluster import ROOT, Cluster, free_port
from tests.conftest import smollm2_gguf

MODEL = "SmolLM2-135M-Instruct.Q4_1"
# Small answers keep the file's run time bounded on a 2-core machine.
NODE_MODEL_FLAGS = ("--model", MODEL, "--model-max-tokens", "128", "--model-max-input-chars", "4000")


@pytest.fixture(scope="module")
def hung_port():
    """A server that accepts connections and never answers: a model that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture(scope="module")
def mcluster(tmp_path_factory, model_server, hung_port):
    """Nodes told apart by a label: `smol` has the real model, `hung` one that never answers
    (2 s timeout), `down` one on a closed port, `none` no model at all."""
    c = Cluster(tmp_path_factory.mktemp("mcluster"))
    try:
        c.start_controlplane()
        c.start_node("smol", 3, 1, ("model=smol",), 0, "--model-base-url", model_server, *NODE_MODEL_FLAGS)
        c.start_node("hung", 1, 0, ("model=hung",), 0, "--model-base-url",
                     f"http://127.0.0.1:{hung_port}/v1", "--model", "x", "--model-timeout", "2")
        c.start_node("down", 1, 0, ("model=down",), 0, "--model-base-url",
                     f"http://127.0.0.1:{free_port()}/v1", "--model", "x")
        c.start_node("none", 1, 0, ("model=none",))
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def mkey(mcluster):
    return (("authorization", f"Bearer {mcluster.create_key('default')}"),)


@pytest.fixture(scope="module")
def auto(mcluster):
    with grpc.insecure_channel(mcluster.address) as channel:
        yield automation_pb2_grpc.AutomationStub(channel)


def _session(cluster, md, node):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        keep_alive=True, node_selector={"model": node})), metadata=md, timeout=60)
    assert s.node_id == node
    return s.id


@pytest.fixture
def sid(mcluster, mkey):
    sid = _session(mcluster, mkey, "smol")
    yield sid
    mcluster.stub.TerminateSession(cp.TerminateSessionRequest(id=sid), metadata=mkey)


def _goto(auto, md, sid, url):
    auto.Navigate(A.NavigateRequest(session_id=sid, url=url), metadata=md, timeout=30)


def _reason(err: grpc.RpcError) -> str:
    return errors.describe(err).reason


def _log(auto, md, sid):
    return auto.GetActionLog(A.LogRequest(session_id=sid), metadata=md).entries


def _check_usage(usage):
    assert usage.model == MODEL and usage.calls >= 1
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.credits == math.ceil((usage.prompt_tokens + usage.completion_tokens) / 1000)
    assert usage.duration_ms > 0


# -- answers, schemas and usage -----------------------------------------------------------------


def test_ask_with_a_schema_answers_conforming_data_and_counts_usage(auto, mkey, sid, site):
    _goto(auto, mkey, sid, f"{site}/model-shop.html")
    schema = {"type": "object", "properties": {"product": {"type": "string", "maxLength": 40},
                                               "price": {"type": "number"}},
              "required": ["product", "price"]}
    answer = auto.Ask(A.AskRequest(session_id=sid, prompt="What product is sold and what does it cost?",
                                   json_schema=json.dumps(schema)), metadata=mkey, timeout=120)
    assert answer.status == "success"
    data = json_format.MessageToDict(answer.data)
    jsonschema.validate(data, schema)  # the answer conforms to the schema we gave
    assert json.loads(answer.text) == data
    _check_usage(answer.usage)
    assert list(answer.urls_read) == [f"{site}/model-shop.html"]
    # The call and what it spent are in the session's action log.
    entry = [e for e in _log(auto, mkey, sid) if e.type == "ask"][-1]
    assert entry.success
    logged = json_format.MessageToDict(entry.details)
    assert logged["usage"]["prompt_tokens"] == answer.usage.prompt_tokens
    assert logged["session_usage"]["prompt_tokens"] >= answer.usage.prompt_tokens  # a running total


def test_summarize_and_plain_ask_answer_text(auto, mkey, sid, site):
    _goto(auto, mkey, sid, f"{site}/model-shop.html")
    summary = auto.Summarize(A.SummarizeRequest(session_id=sid), metadata=mkey, timeout=120)
    assert summary.status == "success" and summary.text.strip()
    assert not summary.HasField("data")
    _check_usage(summary.usage)
    answer = auto.Ask(A.AskRequest(session_id=sid, prompt="What is this page about?"), metadata=mkey,
                      timeout=120)
    assert answer.text.strip() and answer.status == "success"


def test_no_password_reaches_the_model(auto, mkey, sid, site):
    """What is sent is what the page reader shows: password values masked."""
    _goto(auto, mkey, sid, f"{site}/model-shop.html")
    obs = auto.Observe(A.ObserveRequest(session_id=sid), metadata=mkey)
    assert "hunter2" not in obs.markdown
    assert all("hunter2" not in e.value for e in obs.elements)


def test_an_answer_the_schema_refuses_is_repaired_once_then_model_failed(auto, mkey, sid, site):
    """llama.cpp enforces what its grammar can and ignores the rest (`not`): our validation
    catches what it let through. This schema nothing satisfies, whatever the model answers."""
    _goto(auto, mkey, sid, f"{site}/model-shop.html")
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 10}},
              "required": ["a"], "not": {}}
    with pytest.raises(grpc.RpcError) as info:
        auto.Ask(A.AskRequest(session_id=sid, prompt="What is sold?", json_schema=json.dumps(schema)),
                 metadata=mkey, timeout=120)
    assert _reason(info.value) == errors.MODEL_FAILED
    assert "after one repair" in info.value.details()
    entry = [e for e in _log(auto, mkey, sid) if e.type == "ask"][-1]
    assert not entry.success and entry.error_reason == errors.MODEL_FAILED


def test_json_object_fallback_validates_and_repairs(model_server):
    """A server without json_schema support: json_object, our own validation, one repair."""
    async def run():
        client = ModelClient(model_server, MODEL, max_tokens=64)
        client.json_schema_supported = False  # as learnt from a server that refused it
        schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        meter = Meter(MODEL, None, 60)
        try:
            answer = await client.complete(meter, "You answer in JSON.", "Name a city in France.",
                                           schema=schema, max_tokens=40)
        except errors.BrowserplaneError as err:  # the model could not produce it, even repaired
            assert err.reason == errors.MODEL_FAILED and "schema" in err.message
            assert meter.usage.calls == 2  # the answer and exactly one repair
        else:
            jsonschema.validate(answer.data, schema)
            assert 1 <= meter.usage.calls <= 2
        finally:
            await client.close()
    asyncio.run(run())


def test_choose_element_answers_only_an_index_it_was_given(model_server):
    async def run():
        client = ModelClient(model_server, MODEL, max_tokens=64)
        try:
            candidates = [{"ref": "e1", "role": "button", "label": "Sign up"},
                          {"ref": "e2", "role": "link", "label": "Log in"}]
            index, usage = await client.choose_element("the sign up button", "click", candidates)
            assert index is None or index in (0, 1)
            assert usage.calls == 1 and usage.prompt_tokens > 0
            assert await client.choose_element("anything", "click", []) == (None, A.ModelUsage(model=MODEL))
        finally:
            await client.close()
    asyncio.run(run())


def test_a_bad_schema_is_invalid_argument(auto, mkey, sid, site):
    for bad in ("{not json", "[1]", json.dumps({"type": 12})):
        with pytest.raises(grpc.RpcError) as info:
            auto.Ask(A.AskRequest(session_id=sid, prompt="x", json_schema=bad), metadata=mkey)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        auto.Ask(A.AskRequest(session_id=sid, prompt=" "), metadata=mkey)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- budget arithmetic (no model needed) -------------------------------------------------------------


def test_meter_credits_trim_and_schema_checks():
    assert [credits_for(n) for n in (0, 1, 1000, 1001)] == [0, 1, 1, 2]
    meter = Meter(MODEL, A.Budget(credit_limit=2), 60)
    meter.check(900)  # fits
    with pytest.raises(BudgetReached) as info:
        meter.check(2500)  # would pass the limit
    assert info.value.what == "credits"
    meter.add(1500, 600, 10.0)
    assert meter.usage.credits == 3 and meter.usage.calls == 1
    with pytest.raises(BudgetReached):
        meter.check()  # reached
    assert meter.exhausted_error(BudgetReached("credits", "x")).code == grpc.StatusCode.RESOURCE_EXHAUSTED
    timed = Meter(MODEL, A.Budget(time_limit_ms=1), 60)
    time.sleep(0.01)
    with pytest.raises(BudgetReached) as info:
        timed.check()
    assert info.value.what == "time"
    assert Meter(MODEL, None, 60, grpc_remaining=5).time_limit_s == 4.5  # the caller's deadline first
    text = "line\n" * 1000
    cut = trim(text, 100)
    assert len(cut) < 150 and cut.startswith("line\n") and "left out" in cut
    assert trim("short", 100) == "short"
    assert check_schema("") is None and check_schema('{"type": "object"}') == {"type": "object"}
    assert check_schema('{"$defs": {"n": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}')
    for bad in ("{", "[]", '{"type": 3}', '{"properties": {"a": {"$ref": "https://example.com/s.json"}}}',
                '{"properties": {"a": {"$ref": "#/$defs/missing"}}}'):
        with pytest.raises(errors.BrowserplaneError):
            check_schema(bad)


# -- budgets ---------------------------------------------------------------------------------------


def test_budgets_stop_calls(auto, mkey, sid, site):
    # A credit limit the page alone would pass: refused before the model is asked.
    _goto(auto, mkey, sid, f"{site}/model-long.html")
    with pytest.raises(grpc.RpcError) as info:
        auto.Ask(A.AskRequest(session_id=sid, prompt="Summarize", budget=A.Budget(credit_limit=1)),
                 metadata=mkey, timeout=60)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _reason(info.value) == errors.BUDGET_EXCEEDED and "credit limit" in info.value.details()
    # A time limit reached before any answer.
    _goto(auto, mkey, sid, f"{site}/model-shop.html")
    with pytest.raises(grpc.RpcError) as info:
        auto.Ask(A.AskRequest(session_id=sid, prompt="What is sold?", budget=A.Budget(time_limit_ms=1)),
                 metadata=mkey, timeout=60)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert _reason(info.value) == errors.BUDGET_EXCEEDED
    # A call of several model requests stops after the one that reached the limit: partial.
    _goto(auto, mkey, sid, f"{site}/model-list-1.html")
    out = auto.PaginatedExtract(A.PaginatedExtractRequest(
        session_id=sid, prompt="the city names", budget=A.Budget(credit_limit=1),
        json_schema=json.dumps({"type": "object", "properties": {"name": {"type": "string"}}})),
        metadata=mkey, timeout=120)
    assert out.status == "partial" and out.stopped_because == "budget" and out.pages == 1
    assert out.usage.credits == 1
    # The session still works, and the node kept the session's running total.
    assert auto.Observe(A.ObserveRequest(session_id=sid), metadata=mkey).page.title == "Cities, page 1"


# -- pagination ------------------------------------------------------------------------------------


ITEM = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30}},
        "required": ["name"]}


def test_paginated_extract_follows_next_to_the_last_page(auto, mkey, sid, site):
    _goto(auto, mkey, sid, f"{site}/model-list-1.html")
    out = auto.PaginatedExtract(A.PaginatedExtractRequest(
        session_id=sid, prompt="every city name in the list", json_schema=json.dumps(ITEM)),
        metadata=mkey, timeout=180)
    # rel=next on page 1, a "Next page" link on page 2, none on page 3.
    assert [u.rsplit("/", 1)[1] for u in out.urls_read] == [
        "model-list-1.html", "model-list-2.html", "model-list-3.html"]
    # A page the 135M model fails to answer in the schema's shape makes the result partial.
    assert out.pages == 3 and out.stopped_because == "last_page"
    assert out.status in ("success", "partial", "failure")
    items = json_format.MessageToDict(out.items)
    for item in items:
        jsonschema.validate(item, ITEM)
    assert len({json.dumps(i, sort_keys=True) for i in items}) == len(items)  # deduplicated
    _check_usage(out.usage)
    assert out.usage.calls >= 3

    _goto(auto, mkey, sid, f"{site}/model-list-1.html")
    out = auto.PaginatedExtract(A.PaginatedExtractRequest(
        session_id=sid, prompt="city names", json_schema=json.dumps(ITEM), max_pages=2),
        metadata=mkey, timeout=180)
    assert out.pages == 2 and out.stopped_because == "page_limit"


def test_ask_follows_pagination(auto, mkey, sid, site):
    _goto(auto, mkey, sid, f"{site}/model-list-1.html")
    answer = auto.Ask(A.AskRequest(session_id=sid, prompt="Which cities are listed?",
                                   follow_pagination=True, max_pages=2), metadata=mkey, timeout=120)
    assert [u.rsplit("/", 1)[1] for u in answer.urls_read] == ["model-list-1.html", "model-list-2.html"]
    assert answer.usage.calls == 1  # the pages are read first, then asked about once


# -- Monitor -----------------------------------------------------------------------------------------


def test_monitor_rechecks_until_met_or_timeout(auto, mkey, sid, site):
    # The page says "Pending", then "Shipped" after 1.5 s; checks every 400 ms for at most 8 s.
    # SmolLM2 reads "Pending" as not shipped (at temperature 0 the answer is the same each run).
    _goto(auto, mkey, sid, f"{site}/model-monitor.html?after=1500")
    out = auto.Monitor(A.MonitorRequest(session_id=sid, condition="the order status says Shipped",
                                        interval_ms=400, timeout_ms=8000), metadata=mkey, timeout=120)
    assert out.checks > 1 and out.status in ("success", "partial")
    assert out.met == (out.status == "success")
    _check_usage(out.usage)
    # Never true (the status never changes): it stops by the timeout, after several checks; an
    # unchanged page is not sent to the model again.
    _goto(auto, mkey, sid, f"{site}/model-monitor.html?after=-1")
    out = auto.Monitor(A.MonitorRequest(session_id=sid, condition="the total is 999 dollars",
                                        interval_ms=300, timeout_ms=2500, reload=True),
                       metadata=mkey, timeout=120)
    assert not out.met and out.status == "partial" and out.checks > 1
    assert "not met within 2500 ms" in out.explanation
    assert out.usage.calls == 1
    with pytest.raises(grpc.RpcError) as info:
        auto.Monitor(A.MonitorRequest(session_id=sid, condition=""), metadata=mkey)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- the agent loop ------------------------------------------------------------------------------------


def test_run_agent_streams_valid_steps_within_its_limits(auto, mkey, sid, site):
    _goto(auto, mkey, sid, f"{site}/model-shop.html")
    refs = {e.ref for e in auto.Observe(A.ObserveRequest(session_id=sid), metadata=mkey).elements}
    events = list(auto.RunAgent(A.RunAgentRequest(session_id=sid, task="Add the Blue Mug to the cart",
                                                  max_steps=3, max_failures=3),
                                metadata=mkey, timeout=180))
    *steps, last = events
    assert last.HasField("result") and all(e.HasField("step") for e in steps)
    result = last.result
    assert 1 <= len(steps) <= 3 and result.steps == len(steps)
    for i, event in enumerate(steps, 1):
        step = event.step
        assert step.index == i
        # A valid action each step; an answer the model botched (cut off by the small token
        # limit) is a failed step with no action, never an action on the page.
        assert step.action in intelligence.AGENT_ACTIONS or (step.action == "" and not step.success)
        assert step.ref == "" or step.ref in refs  # only refs it was shown
        assert step.usage.calls >= 1 and step.timestamp.seconds > 0
        assert "hunter2" not in step.text
    assert result.status != A.AgentResult.STATUS_UNSPECIFIED
    if result.status == A.AgentResult.STEP_LIMIT:
        assert len(steps) == 3
    if result.status in (A.AgentResult.DONE, A.AgentResult.NEEDS_HUMAN):
        assert steps[-1].step.action in ("done", "ask_human")
    _check_usage(result.usage)
    assert result.usage.calls >= len(steps)
    log = _log(auto, mkey, sid)
    assert len([e for e in log if e.type == "agent_step"]) >= len(steps)
    assert [e for e in log if e.type == "run_agent"][-1].success


def test_run_agent_step_limit_and_budget(auto, mkey, sid, site):
    _goto(auto, mkey, sid, f"{site}/model-shop.html")
    events = list(auto.RunAgent(A.RunAgentRequest(session_id=sid, task="Find the help page", max_steps=1),
                                metadata=mkey, timeout=120))
    assert len(events) <= 2 and events[-1].HasField("result") and events[-1].result.steps <= 1
    # A credit limit of one stops the run once the first step's tokens reach it.
    events = list(auto.RunAgent(A.RunAgentRequest(session_id=sid, task="Add the mug to the cart",
                                                  max_steps=5, budget=A.Budget(credit_limit=1)),
                                metadata=mkey, timeout=120))
    result = events[-1].result
    assert result.steps <= 1 or result.status != A.AgentResult.BUDGET
    if result.status == A.AgentResult.BUDGET:
        assert "credit limit" in result.message


def test_an_agent_step_never_acts_on_a_ref_it_was_not_shown():
    async def run():
        # No page is needed: a step naming an unknown ref (or none where one is needed) fails
        # before anything is touched.
        brain = intelligence.Intelligence(ModelClient("http://127.0.0.1:9/v1", MODEL))
        try:
            step = await brain._agent_step(None, 1, {"action": "click", "ref": "e999"}, {})
            assert not step.success and "e999" in step.message
            step = await brain._agent_step(None, 2, {"action": "type", "ref": "", "text": "x"}, {})
            assert not step.success and "needs a ref" in step.message
            step = await brain._agent_step(None, 3, {"action": "explode"}, {})
            assert not step.success
            step = await brain._agent_step(None, 4, {"action": "done", "text": "42"}, {})
            assert step.success and step.text == "42"
        finally:
            await brain.model.close()
    asyncio.run(run())


# -- errors ----------------------------------------------------------------------------------------------


def _all_model_calls(auto, md, sid):
    """Every model-backed RPC once; answers the error (or None) of each."""
    calls = {
        "Ask": lambda: auto.Ask(A.AskRequest(session_id=sid, prompt="What is sold?"), metadata=md,
                                timeout=60),
        "Summarize": lambda: auto.Summarize(A.SummarizeRequest(session_id=sid), metadata=md, timeout=60),
        "Monitor": lambda: auto.Monitor(A.MonitorRequest(session_id=sid, condition="it says Shipped",
                                                         timeout_ms=1000), metadata=md, timeout=60),
        "PaginatedExtract": lambda: auto.PaginatedExtract(A.PaginatedExtractRequest(
            session_id=sid, prompt="items"), metadata=md, timeout=60),
        "RunAgent": lambda: list(auto.RunAgent(A.RunAgentRequest(session_id=sid, task="buy"),
                                               metadata=md, timeout=60)),
    }
    found = {}
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as info:
            call()
        found[name] = info.value
    return found


def test_without_a_model_every_model_call_says_how_to_configure_one(mcluster, mkey, auto, site):
    sid = _session(mcluster, mkey, "none")
    try:
        _goto(auto, mkey, sid, f"{site}/model-shop.html")
        for name, err in _all_model_calls(auto, mkey, sid).items():
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, name
            assert _reason(err) == errors.MODEL_NOT_CONFIGURED, name
            assert "--model-base-url" in err.details() and "--model-file" in err.details(), name
        # The session is untouched and keeps working.
        obs = auto.Observe(A.ObserveRequest(session_id=sid), metadata=mkey)
        assert obs.page.title == "Mug shop"
        add = next(e for e in obs.elements if e.label == "Add to cart")
        auto.Act(A.ActRequest(session_id=sid, action=A.Action(click=A.Click(
            target=A.ElementTarget(ref=add.ref)))), metadata=mkey)
        assert "Cart: 1 item" in auto.Observe(A.ObserveRequest(session_id=sid), metadata=mkey).markdown
    finally:
        mcluster.stub.TerminateSession(cp.TerminateSessionRequest(id=sid), metadata=mkey)


def test_a_model_that_is_down_or_hangs_is_model_failed(mcluster, mkey, auto, site):
    for node, code, words in (("down", grpc.StatusCode.UNAVAILABLE, "cannot be reached"),
                              ("hung", grpc.StatusCode.DEADLINE_EXCEEDED, "did not answer within")):
        sid = _session(mcluster, mkey, node)
        try:
            _goto(auto, mkey, sid, f"{site}/model-shop.html")
            with pytest.raises(grpc.RpcError) as info:
                auto.Ask(A.AskRequest(session_id=sid, prompt="What is sold?"), metadata=mkey, timeout=60)
            assert info.value.code() == code, info.value.details()
            assert _reason(info.value) == errors.MODEL_FAILED and words in info.value.details()
            with pytest.raises(grpc.RpcError) as info:
                list(auto.RunAgent(A.RunAgentRequest(session_id=sid, task="buy"), metadata=mkey, timeout=60))
            assert _reason(info.value) == errors.MODEL_FAILED
            assert auto.Observe(A.ObserveRequest(session_id=sid), metadata=mkey).page.title == "Mug shop"
        finally:
            mcluster.stub.TerminateSession(cp.TerminateSessionRequest(id=sid), metadata=mkey)


# -- `browserplane up --model-file` -------------------------------------------------------------------


def test_up_with_a_model_file_serves_it_and_points_the_node_at_it(tmp_path, site):
    port, grpc_port = free_port(), free_port()
    env = dict(os.environ, BROWSERPLANE_API_KEY="bp_test_key_for_model_up", PYTHONUNBUFFERED="1",
               BROWSERPLANE_MODEL_MAX_TOKENS="32")
    env.pop("BROWSERPLANE_CLUSTER_SECRET", None)
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "browserplane_cli.main", "up", "--port", str(port),
                                 "--grpc-port", str(grpc_port), "--data-dir", str(tmp_path / "data"),
                                 "--pool-size", "0", "--model-file", str(smollm2_gguf()),
                                 "--metrics-port", "0"],
                                env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while b"Browserplane is up." not in log_path.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        model_port = int(re.search(rf"model: {MODEL} at http://127.0.0.1:(\d+)/v1",
                                   log_path.read_text()).group(1))
        md = (("authorization", "Bearer bp_test_key_for_model_up"),)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
            auto = automation_pb2_grpc.AutomationStub(channel)
            s = stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=60)
            auto.Navigate(A.NavigateRequest(session_id=s.id, url=f"{site}/hello.html"), metadata=md,
                          timeout=30)
            answer = auto.Ask(A.AskRequest(session_id=s.id, prompt="What is the page's title?"),
                              metadata=md, timeout=120)
            assert answer.usage.model == MODEL and answer.usage.completion_tokens <= 32
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
        with pytest.raises(OSError):  # the model server went with it
            socket.create_connection(("127.0.0.1", model_port), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_close_tie_in_locate_is_put_to_the_model_among_the_top_candidates_only(auto, mkey, sid, site):
    _goto(auto, mkey, sid, f"{site}/locate.html")
    asked = auto.Locate(A.LocateRequest(session_id=sid, description="learn more", intent=A.CLICK,
                                        no_cache=True), metadata=mkey, timeout=60)
    # Two equal "Learn more" links: the model was asked (its usage is on the answer) and what it
    # chose is one of the candidates it was shown; a refusal or a bad index leaves the resolver's.
    assert asked.best.ambiguous and asked.usage.calls == 1 and asked.usage.prompt_tokens > 0
    assert asked.best.chosen_by in ("model", "resolver")
    assert asked.best.ref in [c.element.ref for c in asked.candidates]
    offline = auto.Locate(A.LocateRequest(session_id=sid, description="learn more", intent=A.CLICK,
                                          offline=True, no_cache=True), metadata=mkey, timeout=60)
    assert offline.best.chosen_by == "resolver" and not offline.HasField("usage")


def test_an_act_whose_target_the_model_chose_reports_and_counts_the_usage(mcluster, auto, site):
    # A project of its own: no description resolved before is remembered for it.
    md = (("authorization", f"Bearer {mcluster.create_key('act-usage')}"),)
    sid = _session(mcluster, md, "smol")
    offline_sid = _session(mcluster, md, "none")
    try:
        click = A.Action(click=A.Click(target=A.ElementTarget(description="learn more")))
        for s in (sid, offline_sid):
            _goto(auto, md, s, f"{site}/locate.html")
        acted = auto.Act(A.ActRequest(session_id=sid, action=click), metadata=md, timeout=120)
        # Two equal "Learn more" links: the model was asked, whichever it picked was clicked.
        assert acted.success and acted.resolved.ambiguous
        assert acted.usage.model == MODEL and acted.usage.calls >= 1
        assert acted.usage.prompt_tokens > 0 and acted.usage.credits >= 1
        assert acted.page.url.endswith(("#a", "#b"))
        entry = [e for e in _log(auto, md, sid) if e.type == "click"][-1]
        logged = json_format.MessageToDict(entry.details)
        assert logged["usage"]["calls"] == acted.usage.calls
        assert logged["session_usage"]["prompt_tokens"] >= acted.usage.prompt_tokens
        # No model on the node: the resolver's best is clicked, ambiguous, and nothing is spent.
        offline = auto.Act(A.ActRequest(session_id=offline_sid, action=click), metadata=md,
                           timeout=60)
        assert offline.success and offline.resolved.ambiguous
        assert offline.resolved.chosen_by == "resolver" and not offline.HasField("usage")
    finally:
        for s in (sid, offline_sid):
            mcluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s), metadata=md)
