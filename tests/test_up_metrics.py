"""`browserplane up` exposes every component's metrics, on its own port and all at once, and
each component's /metrics holds only what that component measures."""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from browserbase import Browserbase
from playwright.sync_api import sync_playwright
from prometheus_client.parser import text_string_to_metric_families

from browserplane_cli.up_metrics import TOKEN_ENV, UpMetrics
from tests.cluster import ROOT, free_port

API_KEY = "bp_test_key_for_up_metrics"
COMPONENTS = ("controlplane", "node", "gateway")
# What only one component measures: seen anywhere else, a component reports figures it has not.
OWN = {"controlplane": ("browserplane_sessions", "browserplane_queue_depth", "browserplane_node_up"),
       "node": ("browserplane_node_live_sessions", "browserplane_node_free_slots",
                "browserplane_node_warm_browsers"),
       "gateway": ("browserplane_gateway_requests_total", "browserplane_gateway_cdp_connections")}


class Up:
    def __init__(self, tmp_path: pathlib.Path, token: str = "", pool_size: int = 1,
                 **env_extra: str) -> None:
        self.port, self.grpc_port = free_port(), free_port()
        self.metrics_port, self.cp_port, self.node_port = free_port(), free_port(), free_port()
        self.urls = {"controlplane": f"http://127.0.0.1:{self.cp_port}/metrics",
                     "node": f"http://127.0.0.1:{self.node_port}/metrics",
                     "gateway": f"http://127.0.0.1:{self.port}/metrics",
                     "all": f"http://127.0.0.1:{self.metrics_port}/metrics"}
        self.data = tmp_path / "data"
        self.log_path = tmp_path / "up.log"
        env = dict(os.environ, BROWSERPLANE_API_KEY=API_KEY, PYTHONUNBUFFERED="1", **env_extra)
        env.pop("BROWSERPLANE_CLUSTER_SECRET", None)
        env.pop("BROWSERPLANE_METRICS_TOKEN", None)
        if token:
            env["BROWSERPLANE_METRICS_TOKEN"] = token  # the environment: argv is public
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "browserplane_cli.main", "up", "--port", str(self.port),
             "--grpc-port", str(self.grpc_port), "--data-dir", str(self.data),
             "--pool-size", str(pool_size), "--metrics-port", str(self.metrics_port),
             "--controlplane-metrics-port", str(self.cp_port), "--node-metrics-port",
             str(self.node_port)], env=env, stdout=self.log, stderr=self.log, cwd=ROOT)
        deadline = time.monotonic() + 90
        while b"Browserplane is up." not in self.log_path.read_bytes():
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def up(tmp_path: pathlib.Path) -> Iterator[Up]:
    running = Up(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def scrape(url: str, token: str = "") -> str:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=15) as answer:
        return answer.read().decode()


def status(url: str, token: str) -> int:
    try:
        scrape(url, token)
        return 200
    except urllib.error.HTTPError as err:
        return err.code


def value(text: str, series: str) -> float | None:
    """The value of the exact series `name{labels}` (labels as Prometheus writes them, sorted)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def names(text: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_up_serves_each_components_metrics_and_their_union(up: Up):
    printed = up.log_path.read_text()
    assert f"http://127.0.0.1:{up.metrics_port}/metrics" in printed
    assert f"control plane http://127.0.0.1:{up.cp_port}/metrics" in printed
    assert "metrics token" not in printed  # loopback: none by default

    bb = Browserbase(api_key=API_KEY, base_url=f"http://127.0.0.1:{up.port}")
    session = bb.sessions.create()
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(session.connect_url)  # through the gateway
        assert browser.contexts[0].pages[0].evaluate("1 + 1") == 2
        own = {name: scrape(url) for name, url in up.urls.items()}
        browser.close()

    # Each component serves its own figures and nobody else's.
    for component, text in own.items():
        if component == "all":
            continue
        present = names(text)
        assert "process_resident_memory_bytes" in present and "python_info" in present
        for owner, series in OWN.items():
            for name in series:
                assert (name in present) == (owner == component), (component, name)
    assert not [n for n in names(own["gateway"]) if n.startswith("browserplane_")
                and not n.startswith("browserplane_gateway_")]
    # The session is in the control plane's and the node's figures.
    assert value(own["controlplane"], 'browserplane_sessions{state="running"}') == 1
    assert value(own["node"], "browserplane_node_live_sessions") == 1
    assert value(own["gateway"], "browserplane_gateway_cdp_connections") == 1
    assert any(line.startswith('browserplane_gateway_requests_total{dialect="browserbase"')
               for line in own["gateway"].splitlines())

    # The union: every component, each series labelled with it, HELP and TYPE once per metric.
    union = own["all"]
    for component in COMPONENTS:
        assert value(union, f'browserplane_component_up{{component="{component}"}}') == 1
        assert value(union, f'process_start_time_seconds{{component="{component}"}}') is not None
    assert value(union, 'browserplane_sessions{component="controlplane",state="running"}') == 1
    assert value(union, 'browserplane_node_live_sessions{component="node"}') == 1
    assert value(union, 'browserplane_gateway_cdp_connections{component="gateway"}') == 1
    meta = [line for line in union.splitlines() if line.startswith(("# HELP", "# TYPE"))]
    assert len(meta) == len(set(meta)) and "# TYPE process_cpu_seconds_total counter" in meta
    assert len(list(text_string_to_metric_families(union))) > 0  # it parses

    # The client left: the gateway's connection gauge is back down and the bytes both ways counted.
    deadline = time.monotonic() + 15
    while value(scrape(up.urls["gateway"]), "browserplane_gateway_cdp_connections") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    gateway = scrape(up.urls["gateway"])
    for direction in ("to_browser", "to_client"):
        assert value(gateway, f'browserplane_gateway_relayed_bytes_total{{direction="{direction}"}}') > 0
    bb.sessions.update(session.id, status="REQUEST_RELEASE")
    deadline = time.monotonic() + 30
    while value(scrape(up.urls["controlplane"]), 'browserplane_sessions{state="running"}') != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(40) == 0


def test_up_metrics_token_refused_and_accepted(tmp_path: pathlib.Path):
    token = "metrics-token-for-up"
    # The gateway relays through the node here (no one-hop splice): both count that client.
    running = Up(tmp_path, token=token, pool_size=0, BROWSERPLANE_GATEWAY_ONE_HOP_CDP="false")
    try:
        assert "metrics token: the one given" in running.log_path.read_text()
        for name, url in running.urls.items():
            assert status(url, "") == 401, name
            assert status(url, "not-" + token) == 401, name
            assert status(url, token) == 200, name
        union = scrape(running.urls["all"], token)
        for component in COMPONENTS:  # up scrapes its components with the same token
            assert value(union, f'browserplane_component_up{{component="{component}"}}') == 1
        for pid in child_pids(running.proc.pid):  # handed over in the environment, never in argv
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                assert token.encode() not in fh.read()

        bb = Browserbase(api_key=API_KEY, base_url=f"http://127.0.0.1:{running.port}")
        session = bb.sessions.create()
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            assert browser.contexts[0].pages[0].evaluate("1 + 1") == 2
            gateway, node = (scrape(running.urls[c], token) for c in ("gateway", "node"))
            assert value(gateway, "browserplane_gateway_cdp_connections") == 1
            assert value(node, "browserplane_node_cdp_connections") == 1
            browser.close()
        deadline = time.monotonic() + 15
        while (value(scrape(running.urls["gateway"], token), "browserplane_gateway_cdp_connections"),
               value(scrape(running.urls["node"], token), "browserplane_node_cdp_connections")) != (0, 0):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        gateway, node = (scrape(running.urls[c], token) for c in ("gateway", "node"))
        for direction in ("to_browser", "to_client"):
            assert value(gateway, f'browserplane_gateway_relayed_bytes_total{{direction="{direction}"}}') > 0
            assert value(node, f'browserplane_node_relayed_bytes_total{{direction="{direction}"}}') > 0
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
    finally:
        running.stop()


def test_up_makes_a_token_for_a_non_loopback_host(tmp_path: pathlib.Path):
    """Bound past loopback with no --metrics-token, metrics are never open: `up` makes a token,
    keeps it in the data dir (the same on the next start) and hands it to every component."""
    args = argparse.Namespace(host="192.0.2.10", port=8080, metrics_port=9102, metrics_token="",
                              controlplane_metrics_port=9100, node_metrics_port=9101)
    first = UpMetrics(args, tmp_path)
    assert first.token and (tmp_path / "metrics-token").read_text() == first.token
    assert (tmp_path / "metrics-token").stat().st_mode & 0o077 == 0
    assert first.env() == dict.fromkeys(TOKEN_ENV, first.token)
    assert any(str(tmp_path / "metrics-token") in line for line in first.lines("192.0.2.10"))
    assert UpMetrics(args, tmp_path).token == first.token
    loopback = UpMetrics(argparse.Namespace(**{**vars(args), "host": "127.0.0.1"}), tmp_path / "lo")
    assert loopback.token == "" and not (tmp_path / "lo").exists()
    given = UpMetrics(argparse.Namespace(**{**vars(args), "metrics_token": "mine"}), tmp_path / "x")
    assert given.token == "mine" and not (tmp_path / "x").exists()


def child_pids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]
