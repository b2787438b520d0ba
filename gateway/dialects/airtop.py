"""Airtop v1 (`Authorization: Bearer`), as the official `airtop` SDK (0.0.49) speaks it.

Served under `/api/v1/...` (the SDK's base URL is the gateway plus `/api`). Every answer is the
`{"data": ..., "meta": {...}}` envelope the SDK's strict parser needs; every error is Airtop's
RFC 7807-like `ErrorModel` (`title`, `status`, `detail`, `errors[]`). Windows are the session's
CDP page targets (a window id is a targetId). Interactions are Automation `Act` calls with a
description target, the page questions are Automation `Ask`/`Summarize`/`Monitor`/
`PaginatedExtract`, and the async routes start the same calls as the control plane's background
calls (`StartCall`), read back with `GET v1/requests/{id}/status`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import datetime
import http
import json
import math
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format, message, message_factory, timestamp_pb2

from browserplane import errors
from browserplane.credentials import check_url_token, cluster_metadata, issue_url_token
from browserplane.logs import request_id_var
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from gateway.cdp_endpoint import CdpEndpoint
from gateway.http_api import (
    ApiError,
    RateLimiter,
    bad_request,
    endpoint,
    grpc_metadata,
    json_body,
    public_base,
    read_body,
    stream_chunks,
    typed,
    url_scheme,
    whole_number,
)
from gateway.live_view import live_url

DIALECT = "airtop"
PREFIX = "/api/v1"
STATUS = {S.PENDING: "initializing", S.RUNNING: "running", S.COMPLETED: "ended",
          S.TIMED_OUT: "ended", S.FAILED: "ended"}
# The SDK's list filter values. Browserplane does not tell a queued session from a starting
# one, so awaitingCapacity and initializing both mean "not running yet"; cancelled = failed.
LIST_STATES = {"awaitingCapacity": [S.PENDING], "initializing": [S.PENDING],
               "running": [S.RUNNING], "ended": [S.COMPLETED, S.TIMED_OUT, S.FAILED],
               "completed": [S.COMPLETED, S.TIMED_OUT], "cancelled": [S.FAILED], "all": []}
WAIT_UNTIL = {"load": A.LOAD, "domContentLoaded": A.DOM_CONTENT_LOADED,
              "complete": A.NETWORK_IDLE, "noWait": A.NO_WAIT}
NAV_WAIT = {"load": A.LOAD, "domcontentloaded": A.DOM_CONTENT_LOADED,
            "networkidle0": A.NETWORK_IDLE, "networkidle2": A.NETWORK_IDLE}
CLICK_TYPES = {"click": (A.Click.LEFT, 1), "doubleClick": (A.Click.LEFT, 2),
               "rightClick": (A.Click.RIGHT, 1)}
CALL_STATUS = {cp.Call.RUNNING: "pending", cp.Call.COMPLETED: "completed",
               cp.Call.FAILED: "failed", cp.Call.CANCELLED: "failed"}
FILE_TYPES = {A.DOWNLOAD: "browser_download", A.UPLOAD: "customer_upload"}
SESSION_CONFIG_KEYS = {"baseProfileId", "extensionIds", "persistProfile", "profileName", "proxy",
                       "solveCaptcha", "timeoutMinutes"}
ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
PROFILE_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
RESOLUTION = re.compile(r"^([0-9]{2,4})x([0-9]{2,4})$")
SCROLL_AMOUNT = re.compile(r"^(-?[0-9]{1,6}(?:\.[0-9]+)?)(px|%)?$")
MAX_TEXT = 20_000           # characters of a prompt, condition or typed text
MAX_SCHEMA = 64 * 1024      # characters of an output schema
MAX_IDS = 100               # ids in one list filter or file
MAX_UPLOAD = 100 * 1024 * 1024
URL_SECONDS = 3600          # how long an upload or download link works
ACT_TIMEOUT_S = 120
MODEL_TIMEOUT_S = 600       # the SDK waits 600 s for window calls
SCRAPE_TEXT = 500_000
MAX_PAGES_LISTED = 10_000   # sessions walked for one list answer


def error_body(err: ApiError, request_id: str) -> dict[str, Any]:
    """Airtop's ErrorModel, plus the envelope's `errors[]` Issue fields and the request id."""
    try:
        title = http.HTTPStatus(err.status).phrase
    except ValueError:
        title = "Error"
    issue: dict[str, Any] = {"message": err.message, "code": err.code}
    if err.field:
        issue["location"] = err.field
    return {"title": title, "status": err.status, "detail": err.message,
            "type": f"https://browserplane.dev/errors/{err.code}", "code": err.code,
            "errors": [issue], "meta": {"requestId": request_id}}


def envelope(data: Any, warnings: list[dict[str, Any]] | None = None,
             **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data, "meta": {"requestId": request_id_var.get(), **meta}}
    if warnings:
        body["warnings"] = warnings
    return body


def _iso(stamp: timestamp_pb2.Timestamp) -> str | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToJsonString()


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


def session_json(s: S.Session, profile_name: str = "") -> dict[str, Any]:
    o = s.options
    configuration: dict[str, Any] = {
        "timeoutMinutes": max(1, s.idle_timeout_seconds // 60) if s.idle_timeout_seconds else None,
        "persistProfile": o.profile.persist,
    }
    if o.profile.profile_id:
        configuration["baseProfileId"] = o.profile.profile_id
    if profile_name:
        configuration["profileName"] = profile_name
    body: dict[str, Any] = {
        "id": s.id, "status": STATUS.get(s.state, "ended"), "configuration": configuration,
        "dateCreated": _iso(s.created_at), "lastActivity": _iso(s.last_activity_at)
        or _iso(s.created_at), "currentUsage": int(s.browser_seconds // 60),
    }
    if o.profile.profile_id:
        body["profileId"] = o.profile.profile_id
    if s.cdp_url and s.state in (S.PENDING, S.RUNNING):
        body["cdpWsUrl"] = s.cdp_url
        # Playwright's http:// form: it appends json/version/ to the path and keeps the query.
        base, _, query = s.cdp_url.partition("?")
        prefix = base.split("/devtools/", 1)[0]
        http_prefix = "http" + prefix[2:] if prefix.startswith("ws") else prefix
        body["cdpUrl"] = f"{http_prefix}?{query}" if query else http_prefix
    if s.end_reason:
        body["endReason"] = s.end_reason
    return body


# ---- reading request bodies -----------------------------------------------------------------

def known(source: dict[str, Any], keys: set[str] | tuple[str, ...], where: str = "") -> None:
    unknown = sorted(set(source) - set(keys))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise bad_request(name, f"is not a field here; the fields are {', '.join(sorted(keys))}")


def text(source: dict[str, Any], key: str, *, required: bool = False, limit: int = MAX_TEXT,
         field: str | None = None) -> str:
    value = typed(source, key, str, "", field)
    if required and not value.strip():
        raise bad_request(field or key, "is required")
    if len(value) > limit:
        raise bad_request(field or key, f"must be at most {limit} characters")
    return value


def object_(source: dict[str, Any], key: str, field: str | None = None) -> dict[str, Any]:
    return typed(source, key, dict, {}, field)


def check_id(kind: str, value: str) -> str:
    if not ID.match(value):
        raise bad_request(kind, "is not an id this API issued")
    return value


def budget(body: dict[str, Any]) -> A.Budget:
    seconds = whole_number(body, "timeThresholdSeconds", 0, high=3600)
    credits = whole_number(body, "costThresholdCredits", 0, high=1_000_000)
    return A.Budget(time_limit_ms=seconds * 1000, credit_limit=credits)


def output_schema(configuration: dict[str, Any]) -> str:
    """configuration.outputSchema: JSON Schema text (the SDK json.dumps a dict) or an object."""
    value = configuration.get("outputSchema")
    if value is None or value == "":
        return ""
    if isinstance(value, dict):
        value = json.dumps(value)
    if not isinstance(value, str):
        raise bad_request("configuration.outputSchema", "must be a JSON schema (text or object)")
    if len(value) > MAX_SCHEMA:
        raise bad_request("configuration.outputSchema", f"must be at most {MAX_SCHEMA} characters")
    try:
        parsed = json.loads(value)
    except ValueError as err:
        raise bad_request("configuration.outputSchema", f"is not JSON: {err}") from None
    if not isinstance(parsed, dict):
        raise bad_request("configuration.outputSchema", "must be a JSON Schema object")
    return value


def resolution(value: str, field: str) -> S.Viewport | None:
    if not value:
        return None
    match = RESOLUTION.match(value)
    width, height = (int(match[1]), int(match[2])) if match else (0, 0)
    if not match or not 100 <= width <= 7680 or not 100 <= height <= 4320:
        raise bad_request(field, "must be WIDTHxHEIGHT, e.g. 1280x720 (100..7680 x 100..4320)")
    return S.Viewport(width=width, height=height)


def query_bool(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if value.lower() not in ("true", "false"):
        raise bad_request(name, "must be true or false")
    return value.lower() == "true"


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise bad_request(name, f"must be a whole number {low}..{high}")
    return int(value)


def query_list(request: web.Request, name: str) -> list[str]:
    values = [v for v in request.query.getall(name, []) if v]
    if len(values) > MAX_IDS:
        raise bad_request(name, f"at most {MAX_IDS} values")
    return [check_id(name, v) for v in values]


# ---- file ids: where a file lives, so the gateway keeps no table of its own ------------------

def file_id(session_ids: list[str], kind: int, name: str) -> str:
    raw = json.dumps({"s": session_ids, "k": kind, "n": name}, separators=(",", ":"))
    return "file_" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_file_id(value: str) -> tuple[list[str], int, str]:
    not_ours = ApiError(404, "file_not_found", f"file {value[:80]!r} not found")
    if not value.startswith("file_") or len(value) > 8192:
        raise not_ours
    encoded = value[5:]
    try:
        raw = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error):
        raise not_ours from None
    if not isinstance(raw, dict) or not isinstance(raw.get("s"), list) or not raw["s"] \
            or not all(isinstance(s, str) and ID.match(s) for s in raw["s"]) \
            or raw.get("k") not in (A.DOWNLOAD, A.UPLOAD, A.ARTIFACT) \
            or not isinstance(raw.get("n"), str) or not raw["n"]:
        raise not_ours
    return raw["s"], raw["k"], raw["n"]


def file_type(info: A.FileInfo) -> str:
    if info.kind == A.ARTIFACT:
        return "video" if info.mime_type.startswith("video/") else "screenshot"
    return FILE_TYPES.get(info.kind, "customer_upload")


# ---- what the AI window calls answer ---------------------------------------------------------

@dataclasses.dataclass
class Answer:
    """What one window call produced, before it is put in Airtop's envelope."""

    model_response: Any
    status: str = "success"
    credits: int = 0
    screenshots: list[str] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def ai_body(answer: Answer, client_request_id: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"status": answer.status,
                            "usage": {"id": request_id_var.get(), "credits": answer.credits}}
    if client_request_id:
        meta["clientProvided"] = {"clientRequestId": client_request_id}
    if answer.screenshots:
        meta["screenshots"] = [{"dataUrl": url} for url in answer.screenshots]
    return envelope({"modelResponse": answer.model_response, **answer.extra}, **meta)


def resolved_json(r: A.Resolution) -> dict[str, Any]:
    return {"description": r.description, "ref": r.ref, "label": r.label, "role": r.role,
            "score": round(r.score, 3), "why": r.why, "ambiguous": r.ambiguous,
            "chosenBy": r.chosen_by, "selector": r.selector}


def render_act(answers: list[Any], verb: str = "Done") -> Answer:
    resolved = [a.resolved for a in answers if isinstance(a, A.ActResponse) and a.HasField("resolved")]
    last = next((a for a in reversed(answers) if isinstance(a, A.ActResponse)), None)
    if resolved:
        r = resolved[0]
        what = f"{r.label or r.ref!r} ({r.role or 'element'}, {r.ref})" if r.label else r.ref
        text_ = f"{verb} {what}, resolved from {r.description!r} by the {r.chosen_by or 'resolver'}"
        text_ += f" (score {r.score:.2f}: {r.why})" if r.why else ""
        if r.ambiguous:
            text_ += "; ambiguous: another element scored close to it"
    else:
        text_ = f"{verb}."
    extra: dict[str, Any] = {}
    if resolved:
        extra["resolved"] = resolved_json(resolved[0])
    if last is not None:
        extra.update(navigated=last.navigated, url=last.page.url)
    # Credits only when a model broke a tie resolving the element (offline resolution is free).
    credits = sum(a.usage.credits for a in answers if isinstance(a, A.ActResponse))
    return Answer(text_, "success", credits, extra=extra)


def render_model(answers: list[Any], verb: str = "") -> Answer:
    a: A.ModelAnswer = answers[-1]
    extra: dict[str, Any] = {}
    if a.HasField("data"):
        extra["data"] = json_format.MessageToDict(a.data)
    if a.urls_read:
        extra["urlsRead"] = list(a.urls_read)
    if a.message:
        extra["message"] = a.message
    return Answer(a.text, a.status or "success", a.usage.credits, extra=extra)


def render_monitor(answers: list[Any], verb: str = "") -> Answer:
    a: A.MonitorResponse = answers[-1]
    return Answer(a.explanation, a.status or ("success" if a.met else "partial"), a.usage.credits,
                  extra={"conditionMet": a.met, "checks": a.checks})


def render_extract(answers: list[Any], verb: str = "") -> Answer:
    a: A.PaginatedExtractResponse = answers[-1]
    items = json_format.MessageToDict(a.items) if a.HasField("items") else []
    return Answer(json.dumps(items), a.status or "success", a.usage.credits,
                  extra={"pages": a.pages, "stoppedBecause": a.stopped_because,
                         "urlsRead": list(a.urls_read)})


def render_screenshot(answers: list[Any], verb: str = "") -> Answer:
    a: A.ScreenshotResponse = answers[-1]
    mime = a.mime_type or "image/png"
    url = f"data:{mime};base64,{base64.b64encode(a.data).decode()}"
    return Answer("", "success", 0, [url], extra={"width": a.width, "height": a.height})


def render_scrape(answers: list[Any], verb: str = "") -> Answer:
    o: A.Observation = answers[-1]
    return Answer({"scrapedContent": {"contentType": "text/markdown", "text": o.markdown},
                   "title": o.page.title}, "success", 0,
                  extra={"url": o.page.url})


RENDER: dict[str, Callable[..., Answer]] = {
    "Act": render_act, "Ask": render_model, "Summarize": render_model,
    "Monitor": render_monitor, "PaginatedExtract": render_extract,
    "Screenshot": render_screenshot, "Observe": render_scrape}


@dataclasses.dataclass
class Op:
    """One window call: how its body becomes Automation requests, and how the answers read."""

    name: str
    build: Callable[..., Awaitable[list[message.Message]]]
    method: str
    verb: str = ""


class Airtop:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub,
                 automation: automation_pb2_grpc.AutomationStub, cdp: CdpEndpoint,
                 limiter: RateLimiter, secret: str) -> None:
        self.control = control
        self.automation = automation
        self.cdp = cdp
        self.limiter = limiter
        self.secret = secret
        self.ops = {op.name: op for op in (
            Op("click", self._click, "Act", "Clicked"),
            Op("hover", self._hover, "Act", "Hovered over"),
            Op("type", self._type, "Act", "Typed into"),
            Op("scroll", self._scroll, "Act", "Scrolled"),
            Op("page-query", self._ask, "Ask"),
            Op("prompt-content", self._ask, "Ask"),
            Op("summarize-content", self._summarize, "Summarize"),
            Op("paginated-extraction", self._extract, "PaginatedExtract"),
            Op("monitor", self._monitor, "Monitor"),
            Op("screenshot", self._screenshot, "Screenshot"),
            Op("scrape-content", self._scrape, "Observe"),
        )}

    def table(self) -> list[tuple[str, str, str, Any]]:
        """(method, path under /api/v1, route name, wrapped handler)."""
        w = "/sessions/{sid}/windows/{wid}"
        routes: list[tuple[str, str, str, Any]] = [
            ("POST", "/sessions", "create_session", self.create_session),
            ("GET", "/sessions", "list_sessions", self.list_sessions),
            ("GET", "/sessions/{sid}", "get_session", self.get_session),
            ("DELETE", "/sessions/{sid}", "terminate_session", self.terminate_session),
            ("GET", "/sessions/{sid}/events", "session_events", self.events),
            ("PUT", "/sessions/{sid}/save-profile-on-termination/{name}", "save_profile",
             self.save_profile),
            ("PUT", "/sessions/{sid}/profile", "save_profile_body", self.save_profile),
            ("GET", "/sessions/{sid}/windows", "list_windows", self.list_windows),
            ("POST", "/sessions/{sid}/windows", "create_window", self.create_window),
            ("GET", w, "get_window", self.get_window),
            ("POST", w, "load_url", self.load_url),
            ("POST", w + "/load-url", "load_url", self.load_url),
            ("DELETE", w, "close_window", self.close_window),
            ("DELETE", "/profiles", "delete_profiles", self.delete_profiles),
            ("DELETE", "/profiles/{id}", "delete_profile", self.delete_profiles),
            ("GET", "/files", "list_files", self.list_files),
            ("POST", "/files", "create_file", self.create_file),
            ("GET", "/files/{id}", "get_file", self.get_file),
            ("DELETE", "/files/{id}", "delete_file", self.delete_file),
            ("GET", "/automations", "list_automations", self.list_automations),
            ("GET", "/automations/{id}", "get_automation", self.no_automation),
            ("DELETE", "/automations/{id}", "delete_automation", self.no_automation),
            ("PUT", "/automations/description", "update_automation", self.no_automation),
            ("GET", "/requests/{id}/status", "request_status", self.request_status),
            ("GET", "/requests/{id}", "request_status", self.request_status),
        ]
        for name in self.ops:
            routes.append(("POST", f"{w}/{name}", name.replace("-", "_"), self._window_call(name)))
            routes.append(("POST", f"/async{w}/{name}", "async_" + name.replace("-", "_"),
                           self._async_call(name)))
        routes.append(("POST", w + "/scrape", "scrape_content", self._window_call("scrape-content")))
        for name in ("create-automation", "create-form-filler", "execute-automation", "fill-form"):
            routes.append(("POST", f"{w}/{name}", name.replace("-", "_"), self.no_automation))
            routes.append(("POST", f"/async{w}/{name}", "async_" + name.replace("-", "_"),
                           self.no_automation))
        out = [(method, path, name, endpoint(DIALECT, name, error_body)(self._authed(handler)))
               for method, path, name, handler in routes]
        # Signed links, used without the account key (the signature is the credential).
        for method in ("PUT", "POST"):
            out.append((method, "/files/{id}/upload", "upload_file",
                        endpoint(DIALECT, "upload_file", error_body)(self.upload)))
        out.append(("GET", "/files/{id}/content", "download_file",
                    endpoint(DIALECT, "download_file", error_body)(self.download)))
        return out

    def unknown_handler(self) -> Any:
        return endpoint(DIALECT, "unknown", error_body)(self.unknown)

    @staticmethod
    def claims(request: web.Request) -> bool:
        return request.headers.get("Authorization", "").lower().startswith("bearer ")

    def _authed(self, handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            scheme, _, key = request.headers.get("Authorization", "").partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not key:
                raise ApiError(401, "unauthenticated", "missing Authorization: Bearer <api key>")
            request["ratelimit"] = self.limiter.hit(key)
            return await handler(request, grpc_metadata(key))
        return run

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise ApiError(404, "not_found", f"no route {request.method} {request.path}")

    # -- sessions --------------------------------------------------------------------------------

    async def create_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        known(body, {"configuration"})
        config = object_(body, "configuration")
        known(config, SESSION_CONFIG_KEYS, "configuration")
        created: list[str] = []  # profiles made for this session, gone again if it is not
        options, warnings, profile_name = await self._options(config, md, created)
        try:
            session = await self.control.CreateSession(cp.CreateSessionRequest(
                options=options, cdp_base_url=public_base(request, websocket=True)),
                metadata=md, timeout=90)
        except (grpc.aio.AioRpcError, ApiError):
            for pid in created:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self.control.DeleteProfile(cp.DeleteProfileRequest(id=pid),
                                                     metadata=md, timeout=10)
            raise
        return web.json_response(envelope(session_json(session, profile_name), warnings))

    async def _options(self, config: dict[str, Any], md: Any, created: list[str],
                       ) -> tuple[S.SessionOptions, list[dict[str, Any]], str]:
        # Airtop sessions outlive their CDP clients; timeoutMinutes is the idle timeout.
        o = S.SessionOptions(dialect=DIALECT, keep_alive=True)
        minutes = whole_number(config, "timeoutMinutes", 10, "configuration.timeoutMinutes",
                               low=1, high=10080)
        o.idle_timeout_seconds = minutes * 60
        warnings: list[dict[str, Any]] = []
        if typed(config, "solveCaptcha", bool, False, "configuration.solveCaptcha"):
            o.solve_captchas = True  # recorded; there is no solver
            warnings.append({"code": "captcha_solver_unavailable", "message":
                             "configuration.solveCaptcha: Browserplane has no captcha solver; "
                             "the session runs without one"})
        for i, ext in enumerate(typed(config, "extensionIds", list, [],
                                      "configuration.extensionIds")):
            if not isinstance(ext, str) or not ID.match(ext):
                raise bad_request(f"configuration.extensionIds[{i}]",
                                  "must be the id of an extension uploaded to Browserplane")
            if ext not in o.extension_ids:
                o.extension_ids.append(ext)
        self._proxy(config.get("proxy"), o)
        name = text(config, "profileName", field="configuration.profileName", limit=64)
        base_id = text(config, "baseProfileId", field="configuration.baseProfileId", limit=128)
        persist = typed(config, "persistProfile", bool, False, "configuration.persistProfile")
        if name and base_id:
            raise bad_request("configuration.profileName", "name the profile one way: "
                              "profileName or baseProfileId, not both")
        if name:
            if not PROFILE_NAME.match(name):
                raise bad_request("configuration.profileName",
                                  "only letters, numbers and hyphens, at most 64")
            profile = await self._profile_named(name, md)
            if profile is None:
                if not persist:
                    raise ApiError(404, "profile_not_found", f"no profile named {name!r}; "
                                   "create it with persistProfile: true", field="profileName")
                profile = await self.control.CreateProfile(cp.CreateProfileRequest(name=name),
                                                           metadata=md, timeout=10)
                created.append(profile.id)
            o.profile.profile_id, o.profile.persist = profile.id, persist
        elif base_id:
            check_id("configuration.baseProfileId", base_id)
            profile = await self.control.GetProfile(cp.GetProfileRequest(id=base_id),
                                                    metadata=md, timeout=10)
            o.profile.profile_id, o.profile.persist = profile.id, persist
            name = profile.name
        elif persist:
            profile = await self.control.CreateProfile(cp.CreateProfileRequest(), metadata=md,
                                                       timeout=10)
            created.append(profile.id)
            o.profile.profile_id, o.profile.persist = profile.id, True
        return o, warnings, name

    async def _profile_named(self, name: str, md: Any) -> cp.Profile | None:
        """The most recently saved profile with this name (names are not unique in the store)."""
        found: list[cp.Profile] = []
        async for profile in self._profiles(md):
            if profile.name == name:
                found.append(profile)
        found.sort(key=lambda p: (p.updated_at.seconds, p.created_at.seconds), reverse=True)
        return found[0] if found else None

    async def _profiles(self, md: Any) -> Any:
        token = ""
        for _ in range(100):
            page = await self.control.ListProfiles(cp.ListProfilesRequest(
                page_size=1000, page_token=token), metadata=md, timeout=30)
            for profile in page.profiles:
                yield profile
            token = page.next_page_token
            if not token:
                return

    @staticmethod
    def _proxy(value: Any, o: S.SessionOptions) -> None:
        """proxy: false/null (none), a URL string, {url, username, password}, or a list of
        {domainPattern, relay} rules. Airtop-managed proxies (true, {country, sticky}) do not
        exist in a self-hosted Browserplane."""
        managed = ("Airtop-managed proxies are not available in a self-hosted Browserplane; pass "
                   "your proxy's URL (\"http://user:pass@host:port\" or {\"url\": ...})")
        if value is None or value is False:
            return
        if isinstance(value, list):
            if len(value) > 100:
                raise bad_request("configuration.proxy", "at most 100 rules")
            for i, rule in enumerate(value):
                field = f"configuration.proxy[{i}]"
                if not isinstance(rule, dict):
                    raise bad_request(field, "must be {domainPattern, relay}")
                known(rule, {"domainPattern", "relay"}, field)
                pattern = text(rule, "domainPattern", required=True, limit=253,
                               field=f"{field}.domainPattern")
                relay = rule.get("relay")
                if relay is None or relay is False:
                    o.proxies.add(kind=S.ProxyRule.NONE, domain_pattern=pattern)
                    continue
                rule_pb = _proxy_rule(relay, f"{field}.relay", managed)
                rule_pb.domain_pattern = pattern
                o.proxies.append(rule_pb)
            return
        o.proxies.append(_proxy_rule(value, "configuration.proxy", managed))

    async def list_sessions(self, request: web.Request, md: Any) -> web.StreamResponse:
        status = request.query.get("status", "") or "all"
        if status not in LIST_STATES:
            raise bad_request("status", f"must be one of {', '.join(LIST_STATES)}")
        ids = query_list(request, "sessionIds")
        offset = query_int(request, "offset", 0, 0, MAX_PAGES_LISTED)
        limit = query_int(request, "limit", 10, 1, 100)
        states = LIST_STATES[status]
        base = public_base(request, True)
        if ids:
            found = []
            for sid in dict.fromkeys(ids):
                try:
                    s = await self.control.GetSession(cp.GetSessionRequest(id=sid, cdp_base_url=base),
                                                      metadata=md, timeout=10)
                except grpc.aio.AioRpcError as err:
                    if err.code() == grpc.StatusCode.NOT_FOUND:
                        continue
                    raise
                if not states or s.state in states:
                    found.append(s)
            total, page = len(found), found[offset:offset + limit]
        else:
            page, total, token, seen = [], 0, "", 0
            while True:
                answer = await self.control.ListSessions(cp.ListSessionsRequest(
                    states=states, page_size=1000, page_token=token, cdp_base_url=base),
                    metadata=md, timeout=30)
                total = answer.total_size or (seen + len(answer.sessions))
                for s in answer.sessions:
                    if offset <= seen < offset + limit:
                        page.append(s)
                    seen += 1
                token = answer.next_page_token
                if not token or seen >= offset + limit:
                    break
        pagination = {"currentLimit": limit, "currentPage": offset // limit + 1,
                      "initialCount": offset, "finalCount": offset + len(page),
                      "hasMore": offset + len(page) < total, "nextOffset": offset + len(page),
                      "numberOfPages": math.ceil(total / limit) if total else 0,
                      "totalItems": total}
        return web.json_response(envelope({"sessions": [session_json(s) for s in page],
                                           "pagination": pagination}))

    async def _session(self, request: web.Request, md: Any) -> S.Session:
        sid = check_id("sessionId", request.match_info["sid"])
        return await self.control.GetSession(cp.GetSessionRequest(
            id=sid, cdp_base_url=public_base(request, True)), metadata=md, timeout=10)

    async def get_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        return web.json_response(envelope(session_json(await self._session(request, md))))

    async def terminate_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        sid = check_id("sessionId", request.match_info["sid"])
        session = await self.control.TerminateSession(cp.TerminateSessionRequest(
            id=sid, reason="terminated through the Airtop API"), metadata=md, timeout=60)
        return web.json_response(envelope(session_json(session)))

    async def save_profile(self, request: web.Request, md: Any) -> web.StreamResponse:
        """When the session ends, its browser state is saved into the newest profile of that
        name (made now when there is none, so it is the newest the next profileName finds)."""
        name = request.match_info.get("name")
        if name is None:
            body = await json_body(request, allow_empty=False)
            known(body, {"profileName"})
            name = text(body, "profileName", required=True, limit=64)
        if not PROFILE_NAME.match(name):
            raise bad_request("profileName", "only letters, numbers and hyphens, at most 64")
        session = await self._session(request, md)
        if session.state not in (S.PENDING, S.RUNNING):
            raise ApiError(409, "session_ended", f"session {session.id} has ended; its browser "
                           "state is gone and cannot be saved into a profile")
        profile = await self._profile_named(name, md)
        if profile is None:
            profile = await self.control.CreateProfile(cp.CreateProfileRequest(name=name),
                                                       metadata=md, timeout=10)
        await self.control.UpdateSession(cp.UpdateSessionRequest(
            id=session.id, save_profile=S.ProfileRef(profile_id=profile.id, persist=True)),
            metadata=md, timeout=10)
        return web.json_response(envelope({"profileName": name, "profileId": profile.id,
                                           "sessionId": session.id}))

    async def events(self, request: web.Request, md: Any) -> web.StreamResponse:
        """Server-sent events: the session's status now and on every change, and windows opening
        and closing, until the session ends. Each `data:` line is the whole event as JSON (the
        SDK ignores the SSE `event:` line). There is no history to replay: lastEventId and all
        only number the events."""
        session = await self._session(request, md)
        query_bool(request, "all")
        counter = query_int(request, "lastEventId", 0, 0, 2**31)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue: asyncio.Queue = asyncio.Queue()

        async def send(kind: str, data: dict[str, Any]) -> None:
            nonlocal counter
            counter += 1
            data.setdefault("eventTime", _now_iso())
            payload = json.dumps({"event": kind, "data": {"eventId": counter, **data},
                                  "id": counter})
            await response.write(f"id: {counter}\nevent: {kind}\ndata: {payload}\n\n".encode())

        async def watch() -> None:
            stream = self.control.WatchSessions(cp.WatchSessionsRequest(session_id=session.id),
                                                metadata=md)
            try:
                async for event in stream:
                    await queue.put(("status", event.session))
            except grpc.aio.AioRpcError:
                pass  # the control plane went away: the stream ends here
            finally:
                await queue.put(("end", None))

        async def windows() -> None:
            known_pages: dict[str, str] | None = None
            while True:
                try:
                    pages = await self.automation.ListPages(
                        A.ListPagesRequest(session_id=session.id), metadata=md, timeout=10)
                    now = {p.id: p.url for p in pages.pages}
                except grpc.aio.AioRpcError:
                    now = known_pages or {}
                if known_pages is not None:
                    for wid in now.keys() - known_pages.keys():
                        await queue.put(("window", ("windowOpened", wid, now[wid])))
                    for wid in known_pages.keys() - now.keys():
                        await queue.put(("window", ("windowClosed", wid, known_pages[wid])))
                known_pages = now
                await asyncio.sleep(1)

        last = STATUS.get(session.state, "ended")
        await send("status", {"event": "status", "id": session.id, "status": last})
        tasks = [asyncio.ensure_future(watch())]
        if session.state in (S.PENDING, S.RUNNING):
            tasks.append(asyncio.ensure_future(windows()))
        try:
            while last != "ended":
                kind, item = await queue.get()
                if kind == "end":
                    break
                if kind == "status":
                    status = STATUS.get(item.state, "ended")
                    if status != last:
                        last = status
                        await send("status", {"event": "status", "id": session.id,
                                              "status": status})
                else:
                    name, wid, url = item
                    await send("windowEvent", {"event": name, "id": session.id, "windowId": wid,
                                               "eventData": {"url": url}})
        except ConnectionResetError:
            pass  # the client left
        finally:
            for task in tasks:
                task.cancel()
        await response.write_eof()
        return response

    # -- windows ---------------------------------------------------------------------------------

    @staticmethod
    def _ids(request: web.Request) -> tuple[str, str]:
        return (check_id("sessionId", request.match_info["sid"]),
                check_id("windowId", request.match_info["wid"]))

    async def list_windows(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._session(request, md)
        pages = await self.automation.ListPages(A.ListPagesRequest(session_id=session.id),
                                                metadata=md, timeout=30)
        base = public_base(request)
        return web.json_response(envelope({"windows": [
            {"windowId": p.id, "targetId": p.id, "url": p.url, "title": p.title,
             "liveViewUrl": live_url(base, session.id, session.live_view_token, page=p.id)}
            for p in pages.pages]}))

    async def create_window(self, request: web.Request, md: Any) -> web.StreamResponse:
        sid = check_id("sessionId", request.match_info["sid"])
        body = await json_body(request)
        known(body, {"url", "screenResolution", "waitUntil", "waitUntilTimeoutSeconds"})
        url = text(body, "url", limit=8192)
        if url and url_scheme(url) not in ("http", "https", "about", "data"):
            raise bad_request("url", "must be an absolute http(s) URL")
        req = A.OpenPageRequest(session_id=sid, url=url, **_wait(body))
        viewport = resolution(text(body, "screenResolution", limit=16), "screenResolution")
        if viewport is not None:
            req.viewport.CopyFrom(viewport)
        page = await self.automation.OpenPage(req, metadata=md, timeout=ACT_TIMEOUT_S)
        return web.json_response(envelope({"windowId": page.id, "targetId": page.id,
                                           "url": page.url, "title": page.title}))

    async def get_window(self, request: web.Request, md: Any) -> web.StreamResponse:
        sid, wid = self._ids(request)
        navbar = query_bool(request, "includeNavigationBar")
        disable_resize = query_bool(request, "disableResize")
        size = resolution(request.query.get("screenResolution", ""), "screenResolution")
        session = await self._session(request, md)
        pages = await self.automation.ListPages(A.ListPagesRequest(session_id=sid),
                                                metadata=md, timeout=30)
        page = next((p for p in pages.pages if p.id == wid), None)
        if page is None:
            raise ApiError(404, "window_not_found", f"window {wid} is not open in session {sid}")
        # The live view shows the page's own screen; the navigation bar is its page picker.
        url = live_url(public_base(request), sid, session.live_view_token,
                       navbar=navbar is not False, page=wid)
        if disable_resize:
            url += "&resize=false"
        if size is not None:
            url += f"&width={size.width}&height={size.height}"
        return web.json_response(envelope({"windowId": wid, "targetId": wid, "url": page.url,
                                           "title": page.title, "liveViewUrl": url}))

    async def load_url(self, request: web.Request, md: Any) -> web.StreamResponse:
        sid, wid = self._ids(request)
        body = await json_body(request, allow_empty=False)
        known(body, {"url", "waitUntil", "waitUntilTimeoutSeconds"})
        url = text(body, "url", required=True, limit=8192)
        if url_scheme(url) not in ("http", "https", "about", "data"):
            raise bad_request("url", "must be an absolute http(s) URL")
        answer = await self.automation.Navigate(A.NavigateRequest(
            session_id=sid, page_id=wid, url=url, **_wait(body)), metadata=md,
            timeout=ACT_TIMEOUT_S)
        return web.json_response(envelope({"success": True, "url": answer.page.url,
                                           "httpStatus": answer.http_status}))

    async def close_window(self, request: web.Request, md: Any) -> web.StreamResponse:
        sid, wid = self._ids(request)
        await self.automation.ClosePage(A.ClosePageRequest(session_id=sid, page_id=wid),
                                        metadata=md, timeout=30)
        return web.json_response(envelope({"windowId": wid, "targetId": wid}))

    # -- window calls: interactions and page intelligence ---------------------------------------

    def _window_call(self, name: str) -> Any:
        op = self.ops[name]

        async def run(request: web.Request, md: Any) -> web.StreamResponse:
            sid, wid = self._ids(request)
            body = await json_body(request)
            client_id = text(body, "clientRequestId", limit=256)
            requests = await op.build(body, sid, wid, md)
            answers = []
            for req in requests:
                method = type(req).__name__.removesuffix("Request")
                call = getattr(self.automation, method)
                answers.append(await call(req, metadata=md, timeout=_timeout(req)))
            answer = RENDER[op.method](answers, op.verb)
            return web.json_response(ai_body(answer, client_id))

        return run

    def _async_call(self, name: str) -> Any:
        op = self.ops[name]

        async def run(request: web.Request, md: Any) -> web.StreamResponse:
            sid, wid = self._ids(request)
            body = await json_body(request)
            client_id = text(body, "clientRequestId", limit=256)
            requests = await op.build(body, sid, wid, md)
            if len(requests) != 1:
                raise bad_request("body", f"this {name} takes several steps; call the "
                                  "synchronous route instead")
            req = requests[0]
            call = await self.control.StartCall(cp.StartCallRequest(
                method=type(req).__name__.removesuffix("Request"),
                request=req.SerializeToString(), client_request_id=client_id),
                metadata=md, timeout=30)
            return web.json_response({"requestId": call.id, "meta": {
                "requestId": request_id_var.get()}, "data": {"requestId": call.id,
                                                             "status": "pending"}})

        return run

    async def _click(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits",
                     "elementDescription", "timeThresholdSeconds", "waitForNavigation"})
        config = object_(body, "configuration")
        click_type = typed(config, "clickType", str, "click", "configuration.clickType")
        if click_type not in CLICK_TYPES:
            raise bad_request("configuration.clickType", "must be click, doubleClick or rightClick")
        button, count = CLICK_TYPES[click_type]
        click = A.Click(target=_described(body, "elementDescription"), button=button,
                        click_count=count,
                        wait_for_navigation=typed(body, "waitForNavigation", bool, False))
        return [_act(sid, wid, body, click=click)]

    async def _hover(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits",
                     "elementDescription", "timeThresholdSeconds"})
        object_(body, "configuration")
        return [_act(sid, wid, body, hover=A.Hover(target=_described(body, "elementDescription")))]

    async def _type(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clearInputField", "clientRequestId", "configuration", "costThresholdCredits",
                     "elementDescription", "pressEnterKey", "pressTabKey", "text",
                     "timeThresholdSeconds", "waitForNavigation"})
        object_(body, "configuration")
        value = typed(body, "text", str, None)
        if value is None:
            raise bad_request("text", "is required")
        if len(value) > 10_000:
            raise bad_request("text", "must be at most 10000 characters")
        typing_ = A.TypeText(text=value,
                             clear_first=typed(body, "clearInputField", bool, False),
                             press_enter=typed(body, "pressEnterKey", bool, False),
                             press_tab=typed(body, "pressTabKey", bool, False))
        if text(body, "elementDescription"):  # absent: the focused element
            typing_.target.CopyFrom(_described(body, "elementDescription"))
        steps = [_act(sid, wid, body, type=typing_)]
        if typed(body, "waitForNavigation", bool, False):
            steps.append(_act(sid, wid, body, wait=A.Wait(
                until_js="document.readyState === 'complete'", timeout_ms=30_000)))
        return steps

    async def _scroll(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits", "scrollBy",
                     "scrollToEdge", "scrollToElement", "scrollWithin", "timeThresholdSeconds"})
        object_(body, "configuration")
        within = text(body, "scrollWithin")
        element = text(body, "scrollToElement")
        edge = object_(body, "scrollToEdge")
        by = object_(body, "scrollBy")
        known(edge, {"xAxis", "yAxis"}, "scrollToEdge")
        known(by, {"xAxis", "yAxis"}, "scrollBy")

        def scroll(**kw: Any) -> A.ActRequest:
            s = A.Scroll(**kw)
            if within:
                s.within.CopyFrom(_described(body, "scrollWithin"))
            return _act(sid, wid, body, scroll=s)

        if element:  # the element wins; edges and offsets are then ignored (as Airtop does)
            return [scroll(to_element=_described(body, "scrollToElement"))]
        steps = []
        edges = {"xAxis": {"left": A.Scroll.LEFT, "right": A.Scroll.RIGHT},
                 "yAxis": {"top": A.Scroll.TOP, "bottom": A.Scroll.BOTTOM}}
        for axis, names in edges.items():
            value = typed(edge, axis, str, "", f"scrollToEdge.{axis}")
            if value:
                if value not in names:
                    raise bad_request(f"scrollToEdge.{axis}", f"must be {' or '.join(names)}")
                steps.append(scroll(edge=names[value]))
        deltas = {}
        for axis in ("xAxis", "yAxis"):
            value = typed(by, axis, (str, int, float), "", f"scrollBy.{axis}")
            match = SCROLL_AMOUNT.match(str(value).strip()) if value != "" else None
            if value != "" and match is None:
                raise bad_request(f"scrollBy.{axis}", "must be pixels or a percentage of the "
                                  "window, e.g. \"300px\", \"-50%\"")
            if match:
                deltas[axis] = (float(match[1]), match[2] == "%")
        if any(percent for _, percent in deltas.values()):
            size = await self.automation.Evaluate(A.EvaluateRequest(
                session_id=sid, page_id=wid, expression="[innerWidth, innerHeight]"),
                metadata=md, timeout=30)
            width, height = (v.number_value for v in size.result.list_value.values)
        else:
            width = height = 0
        if deltas:
            dx, px = deltas.get("xAxis", (0.0, False))
            dy, py = deltas.get("yAxis", (0.0, False))
            dx, dy = dx * width / 100 if px else dx, dy * height / 100 if py else dy
            if not all(-1_000_000 <= d <= 1_000_000 for d in (dx, dy)):
                raise bad_request("scrollBy", "at most 1000000 pixels")
            if round(dx) or round(dy):
                steps.append(scroll(delta_x=round(dx), delta_y=round(dy)))
        if not steps:
            raise bad_request("scrollBy", "say where to scroll: scrollToElement, scrollToEdge "
                              "or scrollBy")
        return steps

    async def _ask(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits",
                     "followPaginationLinks", "prompt", "timeThresholdSeconds"})
        config = object_(body, "configuration")
        known(config, {"outputSchema", "scrape", "visualAnalysis", "experimental"}, "configuration")
        return [A.AskRequest(session_id=sid, page_id=wid, prompt=text(body, "prompt", required=True),
                             json_schema=output_schema(config), budget=budget(body),
                             follow_pagination=typed(body, "followPaginationLinks", bool, False))]

    async def _summarize(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits", "prompt",
                     "timeThresholdSeconds"})
        config = object_(body, "configuration")
        known(config, {"outputSchema", "experimental"}, "configuration")
        return [A.SummarizeRequest(session_id=sid, page_id=wid, prompt=text(body, "prompt"),
                                   json_schema=output_schema(config), budget=budget(body))]

    async def _extract(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits", "prompt",
                     "timeThresholdSeconds"})
        config = object_(body, "configuration")
        known(config, {"outputSchema", "paginationMode", "interactionMode", "scrape",
                       "experimental"}, "configuration")
        mode = typed(config, "paginationMode", str, "auto", "configuration.paginationMode")
        if mode not in ("auto", "paginated"):
            raise bad_request("configuration.paginationMode", "must be auto or paginated "
                              "(Browserplane follows next-page controls; infinite scroll is not "
                              "supported here)")
        schema = output_schema(config)
        if schema:  # an array schema describes the whole answer; PaginatedExtract takes one item
            parsed = json.loads(schema)
            if parsed.get("type") == "array" and isinstance(parsed.get("items"), dict):
                schema = json.dumps(parsed["items"])
        return [A.PaginatedExtractRequest(session_id=sid, page_id=wid,
                                          prompt=text(body, "prompt", required=True),
                                          json_schema=schema, budget=budget(body))]

    async def _monitor(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "condition", "configuration", "costThresholdCredits",
                     "timeThresholdSeconds"})
        config = object_(body, "configuration")
        known(config, {"interval", "includeVisualAnalysis", "monitorType"}, "configuration")
        interval = object_(config, "interval", "configuration.interval")
        known(interval, {"intervalSeconds", "timeoutSeconds"}, "configuration.interval")
        every = whole_number(interval, "intervalSeconds", 0, "configuration.interval.intervalSeconds",
                             high=3600)
        limit = whole_number(interval, "timeoutSeconds", 0, "configuration.interval.timeoutSeconds",
                             high=3600)
        return [A.MonitorRequest(session_id=sid, page_id=wid,
                                 condition=text(body, "condition", required=True),
                                 interval_ms=every * 1000, timeout_ms=limit * 1000,
                                 budget=budget(body))]

    async def _screenshot(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits",
                     "timeThresholdSeconds"})
        config = object_(body, "configuration")
        known(config, {"screenshot", "visualAnalysis"}, "configuration")
        shot = object_(config, "screenshot", "configuration.screenshot")
        known(shot, {"maxHeight", "maxWidth", "quality", "scope"}, "configuration.screenshot")
        whole_number(shot, "maxWidth", 0, "configuration.screenshot.maxWidth", high=7680)
        whole_number(shot, "maxHeight", 0, "configuration.screenshot.maxHeight", high=7680)
        quality = whole_number(shot, "quality", 0, "configuration.screenshot.quality", high=100)
        scope = typed(shot, "scope", str, "viewport", "configuration.screenshot.scope")
        if scope not in ("viewport", "page"):
            raise bad_request("configuration.screenshot.scope", "must be viewport or page")
        return [A.ScreenshotRequest(session_id=sid, page_id=wid, full_page=scope == "page",
                                    format=A.ScreenshotRequest.JPEG, quality=quality or 80)]

    async def _scrape(self, body: dict[str, Any], sid: str, wid: str, md: Any) -> list[Any]:
        known(body, {"clientRequestId", "configuration", "costThresholdCredits",
                     "timeThresholdSeconds"})
        object_(body, "configuration")
        return [A.ObserveRequest(session_id=sid, page_id=wid, mode=A.ObserveRequest.FULL,
                                 max_text_length=SCRAPE_TEXT, max_elements=1)]

    # -- background requests ---------------------------------------------------------------------

    async def request_status(self, request: web.Request, md: Any) -> web.StreamResponse:
        call_id = check_id("requestId", request.match_info["id"])
        call = await self.control.GetCall(cp.GetCallRequest(id=call_id), metadata=md, timeout=10)
        body: dict[str, Any] = {"status": CALL_STATUS.get(call.state, "pending"),
                                "requestId": call.id, "meta": {"requestId": request_id_var.get()}}
        if call.state == cp.Call.COMPLETED and call.method in RENDER:
            method = A.DESCRIPTOR.services_by_name["Automation"].methods_by_name[call.method]
            try:
                answer = message_factory.GetMessageClass(method.output_type).FromString(
                    call.response)
            except message.DecodeError:
                answer = None  # not this method's answer: the status alone says what is known
            if answer is not None:
                body["response"] = ai_body(RENDER[call.method]([answer]), call.client_request_id)
        elif call.state in (cp.Call.FAILED, cp.Call.CANCELLED):
            body["error"] = call.error_message or call.error_reason or "the request failed"
            body["errorCode"] = (call.error_reason or call.error_code).lower()
        return web.json_response(body)

    # -- automations (Browserplane stores none) -------------------------------------------------

    async def list_automations(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.Authenticate(cp.AuthenticateRequest(), metadata=md, timeout=10)
        return web.json_response({"automations": [], "data": {"automations": []},
                                  "meta": {"requestId": request_id_var.get()}})

    async def no_automation(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.Authenticate(cp.AuthenticateRequest(), metadata=md, timeout=10)
        raise ApiError(404, "automation_not_found", "Browserplane has no stored automations or "
                       "form fillers; drive the window with click, type and page-query instead")

    # -- profiles --------------------------------------------------------------------------------

    async def delete_profiles(self, request: web.Request, md: Any) -> web.StreamResponse:
        ids = query_list(request, "profileIds")
        if "id" in request.match_info:
            ids.append(check_id("profileId", request.match_info["id"]))
        names = [v for v in request.query.getall("profileNames", []) if v]
        if len(names) > MAX_IDS:
            raise bad_request("profileNames", f"at most {MAX_IDS} values")
        for name in names:
            if not PROFILE_NAME.match(name):
                raise bad_request("profileNames", f"{name[:80]!r}: only letters, numbers and "
                                  "hyphens, at most 64")
        if not ids and not names:
            raise bad_request("profileIds", "name the profiles to delete: profileIds or "
                              "profileNames")
        if names:
            wanted = set(names)
            async for profile in self._profiles(md):
                if profile.name in wanted:
                    ids.append(profile.id)
        deleted, missing = [], []
        for pid in dict.fromkeys(ids):
            try:
                await self.control.DeleteProfile(cp.DeleteProfileRequest(id=pid), metadata=md,
                                                 timeout=10)
                deleted.append(pid)
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                missing.append(pid)
        return web.json_response(envelope({"deletedProfileIds": deleted,
                                           "notFoundProfileIds": missing}))

    # -- files -------------------------------------------------------------------------------------

    async def _project_id(self, md: Any) -> str:
        me = await self.control.Authenticate(cp.AuthenticateRequest(), metadata=md, timeout=10)
        return me.project.id

    def _signed(self, request: web.Request, fid: str, project: str, action: str) -> str:
        expires = time.time() + URL_SECONDS
        token = issue_url_token(self.secret, f"airtop-{action}|{project}|{fid}", expires)
        path = "upload" if action == "upload" else "content"
        return (f"{public_base(request)}{PREFIX}/files/{fid}/{path}?"
                + urllib.parse.urlencode({"project": project, "token": token}))

    def _file_json(self, request: web.Request, project: str, sessions: list[str],
                   info: A.FileInfo | None, kind: int, name: str) -> dict[str, Any]:
        fid = file_id(sessions, kind, name)
        created = _iso(info.created_at) if info is not None else None
        body = {"id": fid, "fileName": name, "fileBytes": info.size_bytes if info else 0,
                "fileType": file_type(info) if info else FILE_TYPES.get(kind, "customer_upload"),
                "orgId": project, "sessionIds": sessions,
                "status": "available" if info is not None else "uploading",
                "uploadStartTime": created or _now_iso(), "uploadCompleteTime": created,
                "deleted": False, "visibleInApi": True, "visibleInPortal": False,
                "mimeType": info.mime_type if info else ""}
        if info is not None:
            body["downloadUrl"] = self._signed(request, fid, project, "download")
            body["path"] = info.path  # on the session's node, for <input type=file>
        return body

    async def list_files(self, request: web.Request, md: Any) -> web.StreamResponse:
        ids = query_list(request, "sessionIds")
        offset = query_int(request, "offset", 0, 0, 1_000_000)
        limit = query_int(request, "limit", 10, 1, 100)
        project = await self._project_id(md)
        if not ids:
            running = await self.control.ListSessions(cp.ListSessionsRequest(
                states=[S.RUNNING], page_size=MAX_IDS), metadata=md, timeout=30)
            ids = [s.id for s in running.sessions]
        files = []
        for sid in dict.fromkeys(ids):
            try:
                listing = await self.automation.ListFiles(A.ListFilesRequest(session_id=sid),
                                                          metadata=md, timeout=30)
            except grpc.aio.AioRpcError as err:
                if errors.describe(err).reason in (errors.SESSION_ENDED,
                                                   errors.SESSION_NOT_FOUND):
                    continue  # ended sessions' files are not listed
                raise
            files += [self._file_json(request, project, [sid], f, f.kind, f.name)
                      for f in listing.files]
        page = files[offset:offset + limit]
        total = len(files)
        pagination = {"currentLimit": limit, "currentPage": offset // limit + 1,
                      "initialCount": offset, "finalCount": offset + len(page),
                      "hasMore": offset + len(page) < total, "nextOffset": offset + len(page),
                      "numberOfPages": math.ceil(total / limit) if total else 0,
                      "totalItems": total}
        return web.json_response(envelope({"files": page, "pagination": pagination}))

    async def create_file(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        known(body, {"fileName", "fileType", "id", "sessionIds"})
        name = text(body, "fileName", required=True, limit=255)
        if "/" in name or "\\" in name or name in (".", "..") or any(ord(c) < 32 for c in name):
            raise bad_request("fileName", "must be a plain file name")
        kind = typed(body, "fileType", str, "customer_upload")
        if kind != "customer_upload":
            raise bad_request("fileType", "only customer_upload files can be created; downloads, "
                              "screenshots and videos come from sessions")
        text(body, "id", limit=128)  # the server chooses ids (they say where the file lives)
        sessions = typed(body, "sessionIds", list, [])
        if not sessions or len(sessions) > MAX_IDS or not all(
                isinstance(s, str) and ID.match(s) for s in sessions):
            raise bad_request("sessionIds", f"name 1..{MAX_IDS} sessions to upload the file into "
                              "(Browserplane keeps files in sessions)")
        sessions = list(dict.fromkeys(sessions))
        for sid in sessions:  # each must be this project's and running
            s = await self.control.GetSession(cp.GetSessionRequest(id=sid), metadata=md, timeout=10)
            if s.state != S.RUNNING:
                raise ApiError(409, "session_ended", f"session {sid} is not running")
        project = await self._project_id(md)
        data = self._file_json(request, project, sessions, None, A.UPLOAD, name)
        data["uploadUrl"] = self._signed(request, data["id"], project, "upload")
        return web.json_response(envelope(data))

    async def _find_file(self, fid: str, md: Any) -> tuple[list[str], int, str, A.FileInfo | None]:
        sessions, kind, name = parse_file_id(fid)
        listing = await self.automation.ListFiles(A.ListFilesRequest(
            session_id=sessions[0], kind=kind), metadata=md, timeout=30)
        info = next((f for f in listing.files if f.name == name), None)
        return sessions, kind, name, info

    async def get_file(self, request: web.Request, md: Any) -> web.StreamResponse:
        fid = request.match_info["id"]
        sessions, kind, name, info = await self._find_file(fid, md)
        if info is None and kind != A.UPLOAD:
            raise ApiError(404, "file_not_found", f"file {name!r} is not in session {sessions[0]}")
        project = await self._project_id(md)
        data = self._file_json(request, project, sessions, info, kind, name)
        data.setdefault("downloadUrl", "")
        return web.json_response(envelope(data))

    async def delete_file(self, request: web.Request, md: Any) -> web.StreamResponse:
        """Deletes the file from each session it was put in; 404 when none of them holds it."""
        sessions, kind, name = parse_file_id(request.match_info["id"])
        deleted = 0
        for sid in sessions:
            try:
                await self.automation.DeleteFiles(A.DeleteFilesRequest(
                    session_id=sid, kind=kind, name=name), metadata=md, timeout=30)
                deleted += 1
            except grpc.aio.AioRpcError as err:
                if errors.describe(err).reason != errors.FILE_NOT_FOUND:
                    raise
        if not deleted:
            raise ApiError(404, "file_not_found", f"file {request.match_info['id']!r} not found")
        return web.json_response(envelope({"id": request.match_info["id"], "deleted": True}))

    def _check_link(self, request: web.Request, action: str) -> tuple[str, list[str], int, str]:
        fid = request.match_info["id"]
        project = request.query.get("project", "")
        token = request.query.get("token", "")
        if not ID.match(project) or not token or len(token) > 64:
            raise ApiError(403, "link_invalid", "this link has no valid signature")
        check = check_url_token(self.secret, token, f"airtop-{action}|{project}|{fid}")
        if not check.ok:
            raise ApiError(403, "link_invalid", f"this link does not open the file: {check.reason}")
        sessions, kind, name = parse_file_id(fid)
        return project, sessions, kind, name

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """The signed upload URL: the body is the file; it lands in each named session's
        uploads (for `<input type=file>`)."""
        project, sessions, kind, name = self._check_link(request, "upload")
        data = await read_body(request, MAX_UPLOAD)
        md = cluster_metadata(self.secret, project)
        info = None
        for sid in sessions:
            async def chunks(sid: str = sid) -> Any:
                yield A.FileChunk(session_id=sid, kind=A.UPLOAD, name=name)
                for i in range(0, len(data), 1024 * 1024):
                    yield A.FileChunk(data=data[i:i + 1024 * 1024])

            info = await self.automation.WriteFile(chunks(), metadata=md, timeout=300)
        assert info is not None
        return web.json_response(envelope({"id": request.match_info["id"], "fileName": info.name,
                                           "fileBytes": info.size_bytes, "status": "available",
                                           "sessionIds": sessions}))

    async def download(self, request: web.Request) -> web.StreamResponse:
        project, sessions, kind, name = self._check_link(request, "download")
        md = cluster_metadata(self.secret, project)
        call: Any = self.automation.ReadFile(A.ReadFileRequest(
            session_id=sessions[0], kind=kind, name=name), metadata=md, timeout=300)
        first = await anext(aiter(call), None)  # errors surface here, before any byte is sent
        safe = re.sub(r'[^A-Za-z0-9._-]', "_", name)[:200] or "file"
        return await stream_chunks(request, {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{safe}"'}, first, call)


# ---- small translations ----------------------------------------------------------------------

def _proxy_rule(value: Any, field: str, managed: str) -> S.ProxyRule:
    if value is True or (isinstance(value, dict) and ("country" in value or "sticky" in value)):
        raise bad_request(field, managed)
    username = password = ""
    if isinstance(value, dict):
        known(value, {"url", "username", "password"}, field)
        url = text(value, "url", required=True, limit=2048, field=f"{field}.url")
        username = text(value, "username", limit=256, field=f"{field}.username")
        password = text(value, "password", limit=256, field=f"{field}.password")
    elif isinstance(value, str):
        url = value
    else:
        raise bad_request(field, "must be false, a proxy URL, {url, username, password} or a "
                          "list of {domainPattern, relay}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https", "socks5", "socks4") \
            or not parts.hostname or any(ord(c) <= 0x20 for c in url):
        raise bad_request(field, "must be a proxy URL such as http://user:pass@host:8080")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    server = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return S.ProxyRule(kind=S.ProxyRule.EXTERNAL, server=server,
                       username=username or urllib.parse.unquote(parts.username or ""),
                       password=password or urllib.parse.unquote(parts.password or ""))


def _wait(body: dict[str, Any]) -> dict[str, Any]:
    until = typed(body, "waitUntil", str, "load")
    if until not in WAIT_UNTIL:
        raise bad_request("waitUntil", f"must be one of {', '.join(WAIT_UNTIL)}")
    seconds = whole_number(body, "waitUntilTimeoutSeconds", 30, low=1, high=110)
    return {"wait_until": WAIT_UNTIL[until], "timeout_ms": seconds * 1000}


def _described(body: dict[str, Any], key: str) -> A.ElementTarget:
    description = text(body, key, required=True, limit=1000)
    return A.ElementTarget(description=description)


def _act(sid: str, wid: str, body: dict[str, Any], **action: Any) -> A.ActRequest:
    # A threshold, not a hard limit (Airtop's words): an action waits at most 110 s whatever it says.
    seconds = min(110, whole_number(body, "timeThresholdSeconds", 0, high=3600))
    whole_number(body, "costThresholdCredits", 0, high=1_000_000)
    return A.ActRequest(session_id=sid, page_id=wid,
                        action=A.Action(timeout_ms=seconds * 1000, **action))


def _timeout(req: message.Message) -> float:
    limit = getattr(req, "budget", None)
    if limit is not None and limit.time_limit_ms:
        return limit.time_limit_ms / 1000 + 30
    return MODEL_TIMEOUT_S if isinstance(req, (A.AskRequest, A.SummarizeRequest, A.MonitorRequest,
                                               A.PaginatedExtractRequest)) else ACT_TIMEOUT_S

