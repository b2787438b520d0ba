"""Failures a production cluster sees: nodes dying, the control plane restarting, no room."""

from __future__ import annotations

import signal
import threading
import time

import grpc
import pytest
from playwright.sync_api import sync_playwright

from browserplane import errors
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node.chromium import processes_mentioning
from tests.cluster import Cluster, session_dir


def _md(cluster: Cluster) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {cluster.create_key()}"),)


def _create(cluster: Cluster, md, timeout: float = 60, **options) -> S.Session:
    return cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(**options)),
                                      metadata=md, timeout=timeout)


def _get(cluster: Cluster, md, sid: str) -> S.Session:
    return cluster.stub.GetSession(cp.GetSessionRequest(id=sid), metadata=md, timeout=10)


def test_sigkilled_node_fails_its_sessions_within_the_lease(fresh_cluster: Cluster):
    c = fresh_cluster.start_controlplane()
    node = c.start_node("victim", capacity=2, pool=0)
    md = _md(c)
    s = _create(c, md, keep_alive=True)
    root = c.browsers_root("victim")
    assert processes_mentioning(root)

    killed_at = time.monotonic()
    node.stop(signal.SIGKILL)
    c.wait(lambda: _get(c, md, s.id).state == S.FAILED, 3 + 3, "session not failed within lease")
    took = time.monotonic() - killed_at
    failed = _get(c, md, s.id)
    assert failed.end_cause == S.NODE_LOST
    assert "lease expired" in failed.end_reason and "victim" in failed.end_reason
    assert took < 6
    assert not c.node("victim").up
    # The browsers die with their agent (parent-death signal), not at some later restart.
    c.wait(lambda: not processes_mentioning(root), 10, "Chromium outlived its node agent")

    # A restarted agent clears what the killed one left on disk.
    c.start_node("victim", capacity=2, pool=0)
    assert list(root.iterdir()) == []
    with pytest.raises(grpc.RpcError):  # the failed session is not resurrected
        c.stub.UpdateSession(cp.UpdateSessionRequest(id=s.id, keep_alive=True), metadata=md)


def test_restarted_control_plane_keeps_running_sessions(fresh_cluster: Cluster, site: str):
    c = fresh_cluster.start_controlplane()
    c.start_node("n1", capacity=3, pool=1)
    md = _md(c)
    running = _create(c, md, keep_alive=True)
    finished = _create(c, md, keep_alive=True)
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=finished.id), metadata=md)
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(running.cdp_url)
        browser.contexts[0].pages[0].goto(f"{site}/hello.html")
        browser.close()

    c.controlplane.stop(signal.SIGKILL)  # no chance to save anything on the way out
    c.start_controlplane()
    c.wait(lambda: c.node_up("n1"), 15, "node did not re-register")

    listed = {s.id: s for s in c.stub.ListSessions(cp.ListSessionsRequest(), metadata=md).sessions}
    assert listed[running.id].state == S.RUNNING
    assert listed[finished.id].state == S.COMPLETED
    again = _get(c, md, running.id)
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(again.cdp_url)
        assert browser.contexts[0].pages[0].title() == "Hello from Browserplane"
        browser.close()
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=running.id), metadata=md)


def test_browser_no_session_owns_is_stopped_after_restart(fresh_cluster: Cluster):
    c = fresh_cluster.start_controlplane()
    c.start_node("n1", capacity=2, pool=0)
    md = _md(c)
    s = _create(c, md, keep_alive=True)
    browser_dir = session_dir(c.browsers_root(), s.id)
    assert browser_dir is not None

    # The control plane comes back without any memory of the session (its state was lost).
    c.controlplane.stop(signal.SIGKILL)
    for path in (c.tmp / "cp").glob("controlplane.sqlite3*"):
        path.unlink()
    c.start_controlplane()
    c.wait(lambda: not browser_dir.exists(), 15, "orphaned browser kept running")
    assert processes_mentioning(browser_dir) == []


def test_full_queue_answers_resource_exhausted_and_leaks_nothing(fresh_cluster: Cluster):
    fresh_cluster.cp_flags.update({"queue-size": 1, "queue-timeout": 3})
    c = fresh_cluster.start_controlplane()
    c.start_node("n1", capacity=1, pool=0)
    md = _md(c)
    occupant = _create(c, md, keep_alive=True)

    results: dict[str, object] = {}

    def queued(name: str) -> None:
        try:
            results[name] = _create(c, md, keep_alive=True)
        except grpc.RpcError as err:
            results[name] = err

    waiter = threading.Thread(target=queued, args=("waiter",))
    waiter.start()
    time.sleep(0.5)

    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as full:
        _create(c, md)
    assert time.monotonic() - started < 1.5, "a full queue must answer at once"
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    described = errors.describe(full.value)
    assert described.reason == errors.QUEUE_FULL and described.retry_after

    waiter.join(10)
    timed_out = results["waiter"]
    assert isinstance(timed_out, grpc.RpcError)
    assert timed_out.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert errors.describe(timed_out).reason == errors.QUEUE_TIMEOUT

    # Nothing was left behind by the two refused creates.
    listed = c.stub.ListSessions(cp.ListSessionsRequest(), metadata=md)
    assert [s.id for s in listed.sessions] == [occupant.id]
    assert len(list(c.browsers_root().iterdir())) == 1

    # A queued create is served as soon as a slot frees.
    waiter = threading.Thread(target=queued, args=("served",))
    waiter.start()
    time.sleep(0.5)
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=occupant.id), metadata=md)
    waiter.join(30)
    served = results["served"]
    assert isinstance(served, S.Session) and served.state == S.RUNNING


def test_selector_no_node_matches_fails_fast(cluster: Cluster, md):
    with pytest.raises(grpc.RpcError) as info:
        _create(cluster, md, node_selector={"region": "mars"})
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert errors.describe(info.value).reason == errors.NO_MATCHING_NODE


def test_project_concurrency_limit(cluster: Cluster):
    import subprocess
    import sys

    from tests.cluster import ROOT

    key = cluster.create_key("limited")
    subprocess.run([sys.executable, "-m", "browserplane_cli.main", "projects", "limit",
                    "--project", "limited", "--max-concurrent", "1",
                    "--data-dir", str(cluster.tmp / "cp")], check=True, cwd=ROOT,
                   capture_output=True)
    md = (("authorization", f"Bearer {key}"),)
    first = _create(cluster, md, keep_alive=True)
    try:
        with pytest.raises(grpc.RpcError) as info:
            _create(cluster, md)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert errors.describe(info.value).reason == errors.PROJECT_CONCURRENCY_LIMIT
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=first.id), metadata=md)
    second = _create(cluster, md, keep_alive=True)  # room again once the first ended
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=second.id), metadata=md)


def test_drained_node_takes_no_new_sessions(fresh_cluster: Cluster):
    c = fresh_cluster.start_controlplane()
    c.start_node("n1", capacity=2, pool=0)
    md = _md(c)
    c.stub.DrainNode(cp.DrainNodeRequest(node_id="n1"), metadata=c.admin)
    assert c.node("n1").draining
    with pytest.raises(grpc.RpcError) as info:
        _create(c, md, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_pooled_browsers_count_against_capacity(fresh_cluster: Cluster):
    c = fresh_cluster.start_controlplane()
    c.start_node("n1", capacity=2, pool=2)
    md = _md(c)
    root = c.browsers_root()
    cold = [_create(c, md, keep_alive=True, viewport=S.Viewport(width=900, height=700))
            for _ in range(2)]
    assert not any(s.warm for s in cold)
    time.sleep(1.5)  # give the pool every chance to refill past capacity
    assert len(list(root.iterdir())) == 2, "node holds more browsers than its capacity"
    for s in cold:
        c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    c.wait(lambda: c.node("n1").warm_browsers == 2, 30, "pool did not refill once room freed")
