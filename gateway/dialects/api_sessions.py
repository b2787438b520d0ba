"""The `/api/sessions` dialect (`Authorization: Bearer <key>`), plain HTTP as its spec documents
it (no SDK exists).

Create answers at once with `status: "creating"`: the control plane places the session and
starts the browser behind the answer (CreateSessionRequest.start_in_background); a launch that
fails later reads as `failed` in the details. `initialPrompt` is one of the session's initial
calls, which the control plane starts once the browser runs: a Navigate for an http(s) URL, a
RunAgent for any other text. An agent needs a node with a model (nodes with one carry the
label has_model=true, so the session is placed on one); with none, the create is a 400 and no
session exists.

Statuses: creating (starting or queued), running, completed (ended on its own: its client
left, idle timeout or maximum duration), cancelled (ended on request, e.g. DELETE), failed.
Any session of the key's project is listed and readable, whichever dialect made it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format, timestamp_pb2

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from gateway.artifact_urls import url_of
from gateway.http_api import (
    ApiError,
    RateLimiter,
    bad_request,
    check_http_url,
    check_text,
    endpoint,
    grpc_metadata,
    json_body,
    public_base,
    typed,
    url_scheme,
)
from gateway.live_view import live_url

DIALECT = "api"
PREFIX = "/api/sessions"
LIVE = (S.PENDING, S.RUNNING)
ENDED = [S.COMPLETED, S.TIMED_OUT, S.FAILED]
MODEL_LABEL = {"has_model": "true"}  # what a node with a model adds to its labels
HOW_TO_CONFIGURE_MODEL = (
    "initialPrompt is not a URL, so it runs an agent, and no node has a model configured: start "
    "the node with --model-base-url URL --model NAME (env BROWSERPLANE_MODEL_BASE_URL, "
    "BROWSERPLANE_MODEL) for any OpenAI-compatible endpoint, or run `browserplane up "
    "--model-file PATH.gguf` to serve a local GGUF model; or pass an http(s) URL to navigate")
AGENT_MAX_STEPS = 20
MAX_PROMPT_CHARS = 10_000
MAX_LOG_LIMIT = 1000
MAX_OFFSET = 1_000_000
HEALTH_TIMEOUT_S = 6  # the node gives the browser 5 s for its CDP round trip
ARTIFACT_TYPES = {cp.ARTIFACT_SCREENSHOT: "screenshot", cp.ARTIFACT_VIDEO: "recording",
                  cp.ARTIFACT_TIMELINE: "timeline", cp.ARTIFACT_DOM_EVENTS: "dom_events",
                  cp.ARTIFACT_DOWNLOAD: "download", cp.ARTIFACT_PDF: "pdf"}
# One code per HTTP status, except the few a client acts on differently.
STATUS_CODES = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
                404: "not_found", 405: "method_not_allowed", 409: "conflict", 410: "gone",
                413: "payload_too_large", 422: "unprocessable", 429: "resource_exhausted",
                500: "internal", 501: "not_implemented", 503: "unavailable", 504: "timeout"}
KEPT_CODES = {"invalid_json", "model_not_configured", "rate_limited", "session_not_found"}


def error_body(err: ApiError, request_id: str) -> dict[str, Any]:
    """`{"error": {"code", "message", "field"?}, "requestId"}` on every route."""
    code = err.code if err.code in KEPT_CODES else STATUS_CODES.get(err.status, "error")
    body: dict[str, Any] = {"code": code, "message": err.message}
    if err.field:
        body["field"] = err.field
    return {"error": body, "requestId": request_id}


def _iso(stamp: timestamp_pb2.Timestamp) -> str | None:
    return stamp.ToJsonString() if stamp.seconds or stamp.nanos else None


def status_of(s: S.Session) -> str:
    if s.state in LIVE:
        return "creating" if s.state == S.PENDING else "running"
    if s.state == S.FAILED:
        return "failed"
    return "cancelled" if s.end_cause == S.REQUESTED else "completed"


def _duration_ms(s: S.Session) -> int:
    start = s.started_at if s.started_at.seconds else s.created_at
    if not start.seconds:
        return 0
    end = s.ended_at.ToNanoseconds() if s.ended_at.seconds else _now_ns()
    return max(0, (end - start.ToNanoseconds()) // 1_000_000)


def _now_ns() -> int:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp.ToNanoseconds()


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise bad_request(name, f"must be an integer {low}..{high}")
    return int(raw)


def _query_flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise bad_request(name, "must be true or false")
    return raw in ("true", "1")


def create_request(body: dict[str, Any]) -> tuple[cp.CreateSessionRequest, bool]:
    """The body as a background create, and whether its prompt runs an agent."""
    unknown = sorted(set(body) - {"initialPrompt", "options"})
    if unknown:
        raise bad_request(unknown[0], "is not a field of this request (initialPrompt, options)")
    options = typed(body, "options", dict, {})
    unknown = sorted(set(options) - {"browser", "viewport"})
    if unknown:
        raise bad_request(f"options.{unknown[0]}", "is not an option (browser, viewport)")
    browser = typed(options, "browser", str, "chromium", "options.browser")
    if browser != "chromium":
        raise bad_request("options.browser", "must be chromium (the only engine here)")
    # Recorded: what the browser did is the point of this dialect (video, timeline, DOM events).
    o = S.SessionOptions(dialect=DIALECT, keep_alive=True, record_session=True)
    viewport = typed(options, "viewport", dict, None, "options.viewport")
    if viewport is not None:
        unknown = sorted(set(viewport) - {"width", "height"})
        if unknown:
            raise bad_request(f"options.viewport.{unknown[0]}", "is not a viewport field")
        for side, high in (("width", 7680), ("height", 4320)):
            field = f"options.viewport.{side}"
            value = typed(viewport, side, int, None, field)
            if value is None:
                raise bad_request(field, "is required with a viewport")
            if not 100 <= value <= high:
                raise bad_request(field, f"must be 100..{high}")
            setattr(o.viewport, side, value)
    prompt = check_text("initialPrompt", typed(body, "initialPrompt", str, "")).strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise bad_request("initialPrompt", f"must be at most {MAX_PROMPT_CHARS} characters")
    request = cp.CreateSessionRequest(options=o, start_in_background=True)
    agent = False
    if prompt and url_scheme(prompt) in ("http", "https") and not any(c.isspace() for c in prompt):
        check_http_url("initialPrompt", prompt)
        request.initial_calls.add(method="Navigate", request=A.NavigateRequest(
            url=prompt, timeout_ms=30_000).SerializeToString())
    elif prompt:
        agent = True
        request.options.node_selector.update(MODEL_LABEL)
        request.initial_calls.add(method="RunAgent", request=A.RunAgentRequest(
            task=prompt, max_steps=AGENT_MAX_STEPS).SerializeToString())
    return request, agent


def session_summary(s: S.Session, health: A.BrowserHealth | None) -> dict[str, Any]:
    return {"sessionId": s.id, "status": status_of(s),
            "currentUrl": health.current_url or None if health else None,
            "createdAt": _iso(s.created_at),
            "navigationCount": health.navigations if health else 0,
            "dialect": s.options.dialect or None, "projectId": s.project_id}


class ApiSessions:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub,
                 automation: automation_pb2_grpc.AutomationStub, limiter: RateLimiter) -> None:
        self.control = control
        self.automation = automation
        self.limiter = limiter

    def routes(self, app: web.Application) -> None:
        table = [
            ("POST", "", "create", self.create),
            ("GET", "", "list", self.list),
            ("GET", "/{id}", "details", self.details),
            ("DELETE", "/{id}", "terminate", self.terminate),
            ("GET", "/{id}/actions", "actions", self.actions),
            ("GET", "/{id}/artifacts", "artifacts", self.artifacts),
            ("GET", "/{id}/health", "health", self.health),
            ("GET", "/{id}/console", "console", self.console),
            ("GET", "/{id}/network", "network", self.network),
        ]
        paths: dict[str, list[str]] = {}
        for method, path, name, handler in table:
            app.router.add_route(method, PREFIX + path,
                                 endpoint(DIALECT, name, error_body)(self._authed(handler)))
            paths.setdefault(path, []).append(method)
        for path, methods in paths.items():  # a known path with another method: 405
            app.router.add_route("*", PREFIX + path, endpoint(DIALECT, "method_not_allowed",
                                                              error_body)(self._refuse(methods)))
        app.router.add_route("*", PREFIX + "/{tail:.*}",
                             endpoint(DIALECT, "unknown", error_body)(self.unknown))

    def _authed(self, handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            scheme, _, key = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise ApiError(401, "unauthenticated", "send Authorization: Bearer <API key>")
            request["ratelimit"] = self.limiter.hit(key.strip())
            if "id" in request.match_info:
                check_text("sessionId", request.match_info["id"])
            try:
                return await handler(request, grpc_metadata(key.strip()))
            except grpc.RpcError as err:
                failure = ApiError.from_grpc(err)
                if failure.status == 404:
                    failure.code = "session_not_found" if "session" in failure.code else "not_found"
                raise failure from None
        return run

    @staticmethod
    def _refuse(methods: list[str]) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not served here; "
                           f"use {', '.join(methods)}", headers={"Allow": ", ".join(methods)})
        return run

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise ApiError(404, "not_found", f"no route {request.method} {request.path}")

    async def _session(self, request: web.Request, md: Any) -> S.Session:
        return await self.control.GetSession(cp.GetSessionRequest(
            id=request.match_info["id"], cdp_base_url=public_base(request, websocket=True)),
            metadata=md, timeout=10)

    async def _health(self, session_id: str, md: Any) -> A.BrowserHealth | None:
        """The browser's health from a CDP round trip; None when it cannot be asked (the
        session is not running, its node is gone, the browser did not answer in time)."""
        try:
            return await self.automation.CheckHealth(A.CheckHealthRequest(session_id=session_id),
                                                     metadata=md, timeout=HEALTH_TIMEOUT_S)
        except grpc.RpcError:
            return None

    # -- sessions -------------------------------------------------------------------------------

    async def create(self, request: web.Request, md: Any) -> web.StreamResponse:
        create, agent = create_request(await json_body(request))
        try:
            s = await self.control.CreateSession(create, metadata=md, timeout=30)
        except grpc.RpcError as err:
            if agent and errors.describe(err).reason == errors.NO_MATCHING_NODE:
                raise ApiError(400, "model_not_configured", HOW_TO_CONFIGURE_MODEL,
                               field="initialPrompt") from None
            raise
        return web.json_response({"sessionId": s.id, "status": status_of(s),
                                  "machineId": s.node_id or None}, status=201)

    async def list(self, request: web.Request, md: Any) -> web.StreamResponse:
        limit = _query_int(request, "limit", 30, 1, 100)
        offset = _query_int(request, "offset", 0, 0, MAX_OFFSET)
        states = [] if _query_flag(request, "includeTerminated") else list(LIVE)
        found: list[S.Session] = []
        token, total = "", 0
        while len(found) < offset + limit:  # the control plane pages by cursor
            page = await self.control.ListSessions(cp.ListSessionsRequest(
                states=states, page_size=min(1000, offset + limit - len(found)), page_token=token),
                metadata=md, timeout=30)
            found += page.sessions
            token, total = page.next_page_token, page.total_size
            if not token:
                break
        window = found[offset:offset + limit]
        healths = await asyncio.gather(*(self._health(s.id, md) if s.state == S.RUNNING
                                         else _none() for s in window))
        return web.json_response({
            "sessions": [session_summary(s, h) for s, h in zip(window, healths, strict=True)],
            "total": max(total, len(found)), "hasMore": offset + len(window) < total})

    async def details(self, request: web.Request, md: Any) -> web.StreamResponse:
        s = await self._session(request, md)
        health, actions = None, None
        if s.state != S.PENDING:  # an ended session answers from the logs its node kept
            health, actions = await asyncio.gather(self._health(s.id, md), self._action_log(s.id, md))
        screenshots = await self._screenshot_count(s.id, md, actions)
        base = public_base(request)
        body = session_summary(s, health)
        body.update({
            "machineId": s.node_id or None, "title": health.title if health else None,
            "actionCount": actions.total if actions else 0, "screenshotCount": screenshots,
            "duration": _duration_ms(s), "startedAt": _iso(s.started_at),
            "endedAt": _iso(s.ended_at), "endReason": s.end_reason or None,
            "viewport": {"width": s.options.viewport.width, "height": s.options.viewport.height}
            if s.options.viewport.width else None,
            "cdpUrl": s.cdp_url or None,
            "liveViewUrl": live_url(base, s.id, s.live_view_token) if s.live_view_token else None})
        return web.json_response(body)

    async def _action_log(self, session_id: str, md: Any) -> A.ActionLogResponse | None:
        try:
            return await self.automation.GetActionLog(A.LogRequest(
                session_id=session_id, limit=100_000), metadata=md, timeout=10)
        except grpc.RpcError:
            return None

    async def _screenshot_count(self, session_id: str, md: Any,
                                actions: A.ActionLogResponse | None) -> int:
        """Screenshot artifacts (kept after the session ends), else the action log's."""
        try:
            found = await self.control.ListArtifacts(cp.ListArtifactsRequest(
                session_id=session_id, kind=cp.ARTIFACT_SCREENSHOT, limit=1), metadata=md, timeout=10)
            return found.total
        except grpc.RpcError:  # an older control plane without artifacts
            return sum(1 for a in actions.entries if a.type == "screenshot") if actions else 0

    async def terminate(self, request: web.Request, md: Any) -> web.StreamResponse:
        s = await self._session(request, md)
        if s.state not in LIVE:
            return web.json_response({"success": True,
                                      "message": f"Session had already ended ({status_of(s)})"})
        await self.control.TerminateSession(cp.TerminateSessionRequest(
            id=s.id, reason="terminated through the /api/sessions API"), metadata=md, timeout=30)
        return web.json_response({"success": True, "message": "Session terminated"})

    # -- what happened in it --------------------------------------------------------------------

    async def _log(self, request: web.Request, md: Any, call: Any) -> tuple[Any, bool]:
        """A log of the session, (None, False) while it starts (or once it has ended when its
        node kept no logs: a node lost with its session); an ended session's log is what its
        node kept as it stopped."""
        offset = _query_int(request, "offset", 0, 0, MAX_OFFSET)
        limit = _query_int(request, "limit", 100, 1, MAX_LOG_LIMIT)
        s = await self._session(request, md)
        if s.state == S.PENDING:
            return None, False
        try:
            return await call(A.LogRequest(session_id=s.id, offset=offset, limit=limit),
                              metadata=md, timeout=10), True
        except grpc.RpcError as err:
            if errors.describe(err).reason in (errors.SESSION_ENDED, errors.SESSION_NOT_FOUND):
                return None, False  # it ended between the two calls
            raise

    async def actions(self, request: web.Request, md: Any) -> web.StreamResponse:
        log, _ = await self._log(request, md, self.automation.GetActionLog)
        entries = [{"type": e.type, "timestamp": _iso(e.timestamp), "success": e.success,
                    "details": json_format.MessageToDict(e.details),
                    "duration": round(e.duration_ms), "error": e.error_reason or None}
                   for e in (log.entries if log else [])]
        return web.json_response({"actions": entries, "total": log.total if log else 0})

    async def console(self, request: web.Request, md: Any) -> web.StreamResponse:
        log, _ = await self._log(request, md, self.automation.GetConsoleLog)
        entries = [{"level": e.level, "message": e.text, "timestamp": _iso(e.timestamp),
                    "url": e.url or None} for e in (log.entries if log else [])]
        return web.json_response({"logs": entries, "total": log.total if log else 0,
                                  "dropped": log.dropped if log else 0})

    async def network(self, request: web.Request, md: Any) -> web.StreamResponse:
        log, _ = await self._log(request, md, self.automation.GetNetworkLog)
        entries = [{"url": e.url, "method": e.method, "status": e.status or None,
                    "duration": round(e.duration_ms), "size": e.size_bytes,
                    "resourceType": e.resource_type or None, "mimeType": e.mime_type or None,
                    "timestamp": _iso(e.started_at), "failed": e.failed,
                    "error": e.error_text or None} for e in (log.entries if log else [])]
        return web.json_response({"requests": entries, "total": log.total if log else 0,
                                  "dropped": log.dropped if log else 0})

    async def health(self, request: web.Request, md: Any) -> web.StreamResponse:
        s = await self._session(request, md)
        health = await self._health(s.id, md) if s.state != S.PENDING else None
        responsive = bool(health and health.responsive)
        if s.state == S.PENDING:
            status = "starting"
        elif s.state != S.RUNNING:
            status = "terminated"
        else:
            status = "healthy" if responsive else "unhealthy"
        return web.json_response({
            "status": status, "sessionState": status_of(s), "browserResponsive": responsive,
            "currentUrl": health.current_url or None if health else None,
            "uptimeMs": round(health.uptime_ms) if health else _duration_ms(s)})

    async def artifacts(self, request: web.Request, md: Any) -> web.StreamResponse:
        s = await self._session(request, md)
        found = await self.control.ListArtifacts(cp.ListArtifactsRequest(
            session_id=s.id, limit=1000), metadata=md, timeout=10)
        signed = await asyncio.gather(*(self.control.SignArtifactUrl(
            cp.SignArtifactUrlRequest(id=a.id), metadata=md, timeout=10) for a in found.artifacts))
        return web.json_response({"artifacts": [{
            "objectId": a.id, "type": ARTIFACT_TYPES.get(a.kind, "file"), "name": a.name,
            "mimeType": a.mime_type, "size": a.size_bytes, "timestamp": _iso(a.created_at),
            "publicUrl": url_of(request, u),
            "expiresAt": u.expires, "metadata": dict(a.metadata)}
            for a, u in zip(found.artifacts, signed, strict=True)], "total": found.total})


async def _none() -> None:
    return None
