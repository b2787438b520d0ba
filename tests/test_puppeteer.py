"""Puppeteer (puppeteer-core from npm, run by Node) connects through the gateway."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest
from browserbase import Browserbase

JS = pathlib.Path(__file__).parent / "js"


@pytest.fixture(scope="module")
def node_bin() -> str:
    node = shutil.which("node")
    assert node, "Node.js is required (scripts/bootstrap test installs it)"
    assert (JS / "node_modules" / "puppeteer-core").exists(), \
        "run `npm ci` in tests/js (scripts/bootstrap test does)"
    return node


def run_puppeteer(node: str, mode: str, endpoint: str, url: str) -> dict:
    argv = [node, "--import", str(JS / "wildcard_dns.mjs"), str(JS / "puppeteer_connect.mjs"),
            mode, endpoint, url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_puppeteer_connects_with_browser_ws_endpoint(node_bin: str, gateway_url: str, api_key: str,
                                                    site: str):
    bb = Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)
    session = bb.sessions.create(keep_alive=True)
    try:
        seen = run_puppeteer(node_bin, "ws", session.connect_url, f"{site}/hello.html")
        assert seen["title"] == "Hello from Browserplane"
        assert seen["version"].startswith("Chrome/")
        # Puppeteer only disconnected; the keep-alive session still holds the page it loaded.
        assert bb.sessions.retrieve(session.id).status == "RUNNING"
        again = run_puppeteer(node_bin, "ws", session.connect_url, f"{site}/hello.html")
        assert again["pages"] >= 1
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")


def test_puppeteer_connects_with_browser_url(node_bin: str, gateway_url: str, api_key: str,
                                            site: str):
    """browserURL keeps only the host of the URL: the gateway serves each session at
    <token>.<session id>.<suffix> (--cdp-host-suffix; here cdp.test, resolved by the test's
    stand-in for a wildcard DNS record)."""
    bb = Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)
    session = bb.sessions.create(keep_alive=True)
    port = gateway_url.rsplit(":", 1)[1]
    try:
        browser_url = f"http://{session.signing_key}.{session.id}.cdp.test:{port}"
        seen = run_puppeteer(node_bin, "url", browser_url, f"{site}/hello.html")
        assert seen["title"] == "Hello from Browserplane"
        # A wrong token in the host name opens nothing.
        forged = f"http://1999999999x{'0' * 32}.{session.id}.cdp.test:{port}"
        done = subprocess.run([node_bin, "--import", str(JS / "wildcard_dns.mjs"),
                               str(JS / "puppeteer_connect.mjs"), "url", forged,
                               f"{site}/hello.html"], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "Unauthorized" in done.stderr
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
