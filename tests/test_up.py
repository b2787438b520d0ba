"""`browserplane up`: one command runs everything, and SIGTERM stops everything."""

from __future__ import annotations

import os
import pathlib
import signal
import smtplib
import subprocess
import sys
import time

import grpc
from playwright.sync_api import sync_playwright

from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from node.chromium import processes_mentioning
from tests.cluster import ROOT, free_port


def test_up_serves_sessions_and_stops_cleanly_on_sigterm(tmp_path: pathlib.Path, site: str):
    port, grpc_port, smtp_port = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    env = dict(os.environ, BROWSERPLANE_API_KEY="bp_test_key_for_up", PYTHONUNBUFFERED="1")
    env.pop("BROWSERPLANE_CLUSTER_SECRET", None)
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "browserplane_cli.main", "up", "--port", str(port),
                             "--grpc-port", str(grpc_port), "--data-dir", str(data),
                             "--pool-size", "1", "--smtp-port", str(smtp_port),
                             "--persona-domain", "up.test", "--metrics-port", "0"],
                            env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        deadline = time.monotonic() + 90
        while b"Browserplane is up." not in (tmp_path / "up.log").read_bytes():
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.2)
        md = (("authorization", "Bearer bp_test_key_for_up"),)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = controlplane_pb2_grpc.ControlPlaneStub(channel)
            # `up` hands the SMTP flags to the control plane: a persona there gets mail.
            persona = stub.CreatePersona(cp.CreatePersonaRequest(), metadata=md, timeout=10)
            assert persona.email.endswith("@up.test") and persona.mail_receiving
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
                smtp.sendmail("a@b.test", [persona.email], b"Subject: hi\r\n\r\nhello\r\n")
            assert [m.subject for m in stub.ListPersonaEmails(cp.ListPersonaEmailsRequest(
                persona_id=persona.id), metadata=md, timeout=10).emails] == ["hi"]
            s = stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=60)
            with sync_playwright() as p:
                browser = p.chromium.connect_over_cdp(s.cdp_url)
                page = browser.contexts[0].pages[0]
                page.goto(f"{site}/hello.html")
                assert page.title() == "Hello from Browserplane"
                assert processes_mentioning(data / "node" / "browsers")
                browsers = [pid for pid in descendants(proc.pid) if is_chromium(pid)]
                assert browsers
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(40) == 0
                # At the moment `up` has exited, not a moment later: every browser is gone.
                assert [pid for pid in browsers if alive(pid)] == []
                assert processes_mentioning(data) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert processes_mentioning(data) == []
    assert list((data / "node" / "browsers").iterdir()) == []
    assert (data / "controlplane.sqlite3").exists()


def _stat(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return fh.read().rsplit(b")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """Every process under `root` now (children, their children, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat(int(entry))[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier}
        found += sorted(frontier)
    return found


def is_chromium(pid: int) -> bool:
    try:
        return "chrom" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Exists and is not a zombie (a zombie has exited; only its parent's bookkeeping is left)."""
    try:
        return _stat(pid)[0] != b"Z"
    except (OSError, IndexError):
        return False
