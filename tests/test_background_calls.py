"""Background calls in the control plane (StartCall, GetCall, ListCalls, CancelCall): an
Automation call runs on the session's node while the caller holds only an id, on real Chromium."""

from __future__ import annotations

import time

import grpc
import pytest

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from tests.cluster import Cluster


@pytest.fixture
def sid(cluster: Cluster, md):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(keep_alive=True)),
                                   metadata=md, timeout=60)
    yield s.id
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


def _reason(err: grpc.RpcError) -> str:
    return errors.describe(err).reason


def _wait_done(cluster: Cluster, md, call_id: str) -> cp.Call:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        call = cluster.stub.GetCall(cp.GetCallRequest(id=call_id), metadata=md)
        if call.state != cp.Call.RUNNING:
            return call
        time.sleep(0.1)
    raise AssertionError(f"call {call_id} still running")


def test_a_call_runs_in_the_background_and_its_answer_is_kept(cluster, md, sid, site):
    auto = automation_pb2_grpc.AutomationStub(grpc.insecure_channel(cluster.address))
    auto.Navigate(A.NavigateRequest(session_id=sid, url=f"{site}/form.html"), metadata=md, timeout=30)
    # A wait that takes a while: the start answers before it ends.
    slow = A.ActRequest(session_id=sid, action=A.Action(wait=A.Wait(time_ms=1500)))
    started = time.monotonic()
    call = cluster.stub.StartCall(cp.StartCallRequest(method="Act", request=slow.SerializeToString(),
                                                      client_request_id="mine-1"), metadata=md)
    assert time.monotonic() - started < 1.4
    assert call.state == cp.Call.RUNNING and call.session_id == sid and call.client_request_id == "mine-1"
    done = _wait_done(cluster, md, call.id)
    assert done.state == cp.Call.COMPLETED and done.finished_at.seconds > 0
    assert A.ActResponse.FromString(done.response).success

    # The answer is what the page said: Evaluate through a background call.
    evaluate = A.EvaluateRequest(session_id=sid, expression="document.title")
    call = cluster.stub.StartCall(cp.StartCallRequest(method="Evaluate",
                                                      request=evaluate.SerializeToString()), metadata=md)
    done = _wait_done(cluster, md, call.id)
    assert A.EvaluateResponse.FromString(done.response).result.string_value == "Sign up"

    listed = cluster.stub.ListCalls(cp.ListCallsRequest(session_id=sid), metadata=md).calls
    assert {c.method for c in listed} >= {"Act", "Evaluate"}
    assert cluster.stub.ListCalls(cp.ListCallsRequest(session_id=sid, method="Evaluate"),
                                  metadata=md).calls[0].id == call.id


def test_a_failed_call_keeps_the_nodes_reason_and_a_cancelled_one_stops(cluster, md, sid, site):
    missing = A.ActRequest(session_id=sid, action=A.Action(click=A.Click(
        target=A.ElementTarget(ref="e99999"))))
    call = cluster.stub.StartCall(cp.StartCallRequest(method="Act", request=missing.SerializeToString()),
                                  metadata=md)
    done = _wait_done(cluster, md, call.id)
    assert done.state == cp.Call.FAILED and done.error_code == "NOT_FOUND"
    assert done.error_reason == errors.ELEMENT_NOT_FOUND and "e99999" in done.error_message

    long = A.ActRequest(session_id=sid, action=A.Action(wait=A.Wait(time_ms=20_000), timeout_ms=30_000))
    call = cluster.stub.StartCall(cp.StartCallRequest(method="Act", request=long.SerializeToString()),
                                  metadata=md)
    cancelled = cluster.stub.CancelCall(cp.GetCallRequest(id=call.id), metadata=md)
    assert cancelled.state == cp.Call.CANCELLED
    # The session still answers at once afterwards.
    auto = automation_pb2_grpc.AutomationStub(grpc.insecure_channel(cluster.address))
    health = auto.CheckHealth(A.CheckHealthRequest(session_id=sid), metadata=md, timeout=10)
    assert health.responsive


def test_calls_are_checked_up_front_and_stay_in_their_project(cluster, md, sid):
    def start(method: str, raw: bytes, metadata=md) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as err:
            cluster.stub.StartCall(cp.StartCallRequest(method=method, request=raw), metadata=metadata)
        return err.value

    ok = A.EvaluateRequest(session_id=sid, expression="1").SerializeToString()
    assert start("Nope", ok).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert start("WriteFile", ok).code() == grpc.StatusCode.INVALID_ARGUMENT  # client streaming
    assert start("ReadFile", ok).code() == grpc.StatusCode.INVALID_ARGUMENT   # chunks are not kept
    assert start("Evaluate", b"\xff\xff\xff").code() == grpc.StatusCode.INVALID_ARGUMENT
    no_session = A.EvaluateRequest(expression="1").SerializeToString()
    assert start("Evaluate", no_session).code() == grpc.StatusCode.INVALID_ARGUMENT
    unknown = A.EvaluateRequest(session_id="nope", expression="1").SerializeToString()
    assert _reason(start("Evaluate", unknown)) == errors.SESSION_NOT_FOUND

    other = (("authorization", f"Bearer {cluster.create_key('other-calls')}"),)
    assert _reason(start("Evaluate", ok, other)) == errors.SESSION_NOT_FOUND  # not their session
    call = cluster.stub.StartCall(cp.StartCallRequest(method="Evaluate", request=ok), metadata=md)
    with pytest.raises(grpc.RpcError) as err:
        cluster.stub.GetCall(cp.GetCallRequest(id=call.id), metadata=other)
    assert _reason(err.value) == errors.CALL_NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        cluster.stub.CancelCall(cp.GetCallRequest(id=call.id), metadata=other)
    assert _reason(err.value) == errors.CALL_NOT_FOUND
    assert not cluster.stub.ListCalls(cp.ListCallsRequest(), metadata=other).calls
    assert _wait_done(cluster, md, call.id).state == cp.Call.COMPLETED


def test_a_stream_the_node_refuses_is_startcalls_error_and_leaves_no_call(cluster, md, sid):
    # The shared node has no model: RunAgent is refused before it starts, and StartCall says so.
    run = A.RunAgentRequest(session_id=sid, task="read the page", max_steps=2).SerializeToString()
    with pytest.raises(grpc.RpcError) as err:
        cluster.stub.StartCall(cp.StartCallRequest(method="RunAgent", request=run), metadata=md)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(err.value) == errors.MODEL_NOT_CONFIGURED
    assert not cluster.stub.ListCalls(cp.ListCallsRequest(session_id=sid, method="RunAgent"),
                                      metadata=md).calls


def test_stored_calls_are_sealed_and_bounded_per_project(tmp_path):
    from controlplane.record_cipher import RecordCipher
    from controlplane.store import Store

    store = Store(tmp_path / "cp.sqlite3", RecordCipher(b"k" * 32))
    for project, count in (("p1", 5), ("p2", 2)):
        for i in range(count):
            call = cp.Call(id=f"call_{project}_{i}", session_id="s", method="RunAgent",
                           state=cp.Call.COMPLETED, request=A.RunAgentRequest(
                               task=f"secret task {project} {i}").SerializeToString())
            call.created_at.FromSeconds(1000 + i)
            store.save_call(call, project)
    store.prune_calls("p1", 3)
    assert [c.id for _, c in store.calls("p1")] == ["call_p1_4", "call_p1_3", "call_p1_2"]
    assert len(store.calls("p2")) == 2 and store.call("call_p1_0") is None
    project, call = store.call("call_p2_1")
    assert project == "p2" and b"secret task p2 1" in call.request
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"secret task" not in raw
