"""Serves one GGUF model with llama.cpp's own HTTP server (the `xllamacpp` wheel, no compiling).

The server speaks the OpenAI API (`/v1/chat/completions` with `response_format` json_schema,
`/v1/models`, `/health`), so the node's model client talks to it like to any hosted model. It
runs in a process of its own at a lower scheduling priority: generating tokens is CPU-bound
and must not starve the node's control path or the browsers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import signal
import threading
import time
import urllib.request
from typing import Any, ClassVar

from browserplane.settings import flag

log = logging.getLogger(__name__)
MISSING = ("`browserplane model` needs llama.cpp's server, the optional `model` extra: "
           "pip install 'browserplane[model]' (or pip install xllamacpp)")


@dataclasses.dataclass
class ModelServerSettings:
    ENV_PREFIX: ClassVar[str] = "MODEL_SERVER_"

    model_file: str = flag("", "the GGUF model file to serve", env="BROWSERPLANE_MODEL_FILE")
    host: str = flag("127.0.0.1", "address to listen on (keep it loopback: the API has no key)")
    port: int = flag(8181, "port of the OpenAI-compatible API")
    alias: str = flag("", "model name the API answers to (default: the file's name without .gguf)")
    threads: int = flag(0, "CPU threads for generation (0 = half the CPUs, at least 1)")
    ctx_size: int = flag(8192, "context size in tokens, shared by the parallel slots")
    parallel: int = flag(1, "requests generated at once (each gets ctx-size / parallel tokens)")
    nice: int = flag(10, "niceness added to the server's process (0 = none), so browsers and the "
                         "node come first")
    log_level: str = flag("info", "log level")


def model_name(settings: ModelServerSettings) -> str:
    return settings.alias or pathlib.Path(settings.model_file).name.removesuffix(".gguf")


def serve(settings: ModelServerSettings) -> None:
    """Loads the model, serves it until SIGTERM or SIGINT."""
    path = pathlib.Path(settings.model_file).expanduser()
    if not settings.model_file:
        raise SystemExit("model: --model-file PATH.gguf (BROWSERPLANE_MODEL_FILE) is required")
    if not path.is_file():
        raise SystemExit(f"model: {path} is not a file")
    try:
        import xllamacpp
    except ImportError:
        raise SystemExit(f"model: {MISSING}") from None
    if settings.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("the model server listens beyond loopback: its API has no key, and prompts hold "
                    "what users' pages show", extra={"fields": {"host": settings.host}})
    if settings.nice:
        os.nice(settings.nice)
    threads = settings.threads or max(1, (os.cpu_count() or 2) // 2)
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {model_name(settings)}
    params.hostnames = [settings.host]
    params.port = settings.port
    params.n_ctx = settings.ctx_size
    params.n_parallel = settings.parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.endpoint_slots = False  # a prompt is a page a user browsed: not for anyone who asks
    params.ui = False
    params.verbosity = 0 if settings.log_level != "debug" else 3
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started = time.monotonic()
    server = xllamacpp.Server(params)
    base = f"http://{settings.host}:{settings.port}"
    if not wait_healthy(base, 300, stop):
        raise SystemExit(f"model: the server at {base} did not become healthy")
    log.info("model server up", extra={"fields": {
        "base_url": f"{base}/v1", "model": model_name(settings), "file": str(path),
        "threads": threads, "ctx_size": settings.ctx_size, "load_s": round(time.monotonic() - started, 2)}})
    stop.wait()
    log.info("model server stopping")
    del server


def wait_healthy(base: str, timeout: float, stop: threading.Event | None = None,
                 alive: Any = None) -> bool:
    """True once `GET /health` answers ok (the model has loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        if alive is not None and not alive():
            return False
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200 and json.loads(response.read() or b"{}").get("status") == "ok":
                    return True
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return False
