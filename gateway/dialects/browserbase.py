"""Browserbase v1 (`X-BB-API-Key`), as the official `browserbase` SDK speaks it.

Served under `/browserbase/v1/...`, and at `/v1/...` for requests that carry `X-BB-API-Key`.
Sessions are Browserbase sessions; contexts are Browserplane profiles; `connectUrl` is this
gateway's CDP endpoint with a per-session token.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from browserplane import errors
from browserplane.egress import EgressPolicy
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from gateway import fetcher, recordings
from gateway.cdp_endpoint import CdpEndpoint
from gateway.http_api import (
    ApiError,
    RateLimiter,
    bad_request,
    check_http_url,
    endpoint,
    file_part,
    forwarded,
    grpc_metadata,
    json_body,
    public_base,
    stream_chunks,
    typed,
    whole_number,
)
from gateway.live_view import live_url

DIALECT = "browserbase"
STATUS = {S.PENDING: "PENDING", S.RUNNING: "RUNNING", S.COMPLETED: "COMPLETED",
          S.TIMED_OUT: "TIMED_OUT", S.FAILED: "ERROR"}
STATES = {v: k for k, v in STATUS.items()}
REGIONS = ("us-west-2", "us-east-1", "eu-central-1", "ap-southeast-1")
METADATA_QUERY = re.compile(r"user_metadata\['([^']+)'\]\s*:\s*'([^']*)'")
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18
HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
                429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
                502: "Bad Gateway", 503: "Service Unavailable",
                504: "Gateway Timeout"}


def error_body(err: ApiError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"statusCode": err.status, "error": HTTP_REASONS.get(err.status, "Error"),
                            "message": err.message, "code": err.code, "requestId": request_id}
    if err.field:
        body["field"] = err.field
    return body


def retry_headers(err: ApiError) -> dict[str, str]:
    # The SDK retries 408/409/429/5xx, POSTs included, without an idempotency key. Say when a
    # retry cannot help, so a client never repeats a create that did something.
    retryable = err.status == 429 or (err.status == 503 and err.code != "no_matching_node")
    return {"x-should-retry": "true" if retryable else "false"}


def _iso(stamp: timestamp_pb2.Timestamp) -> str | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToJsonString()


def session_json(s: S.Session) -> dict[str, Any]:
    created = _iso(s.created_at)
    body: dict[str, Any] = {
        "id": s.id, "createdAt": created, "updatedAt": _iso(s.updated_at) or created,
        "projectId": s.project_id, "startedAt": _iso(s.started_at) or created,
        "endedAt": _iso(s.ended_at), "expiresAt": _iso(s.expires_at) or created,
        "status": STATUS.get(s.state, "ERROR"), "proxyBytes": 0,
        "keepAlive": s.options.keep_alive, "region": s.options.region or REGIONS[0],
        "contextId": s.options.profile.profile_id or None,
        "userMetadata": json_format.MessageToDict(s.options.user_metadata)
        if s.options.HasField("user_metadata") else {},
    }
    if s.cdp_url:
        body.update(connectUrl=s.cdp_url, seleniumRemoteUrl="", signingKey=s.cdp_token)
    if s.end_reason:
        body["endReason"] = s.end_reason
    return body


class Browserbase:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub,
                 automation: automation_pb2_grpc.AutomationStub, cdp: CdpEndpoint,
                 limiter: RateLimiter, egress: EgressPolicy | None = None) -> None:
        self.limiter = limiter
        self.egress = egress or EgressPolicy()
        self.control = control
        self.automation = automation
        self.cdp = cdp

    def table(self) -> list[tuple[str, str, str, Any]]:
        """(method, path under /v1, route name, wrapped handler)."""
        routes = [
            ("POST", "/sessions", "create_session", self.create_session),
            ("GET", "/sessions", "list_sessions", self.list_sessions),
            ("GET", "/sessions/{id}", "get_session", self.get_session),
            ("POST", "/sessions/{id}", "update_session", self.update_session),
            ("GET", "/sessions/{id}/debug", "debug", self.debug),
            ("POST", "/sessions/{id}/uploads", "upload", self.upload),
            ("GET", "/sessions/{id}/logs", "logs", self.logs),
            ("GET", "/sessions/{id}/downloads", "downloads", self.downloads),
            ("GET", "/sessions/{id}/recording", "recording", self.recording),
            ("GET", "/sessions/{id}/recording/downloads", "recording_downloads",
             self.recording_downloads),
            ("POST", "/sessions/{id}/recording/downloads", "request_recording_downloads",
             self.recording_downloads),
            ("GET", "/sessions/{id}/replays", "replays", self.replays),
            ("GET", "/sessions/{id}/replays/{page_id}", "replay_page", self.replay_page),
            ("POST", "/extensions", "create_extension", self.create_extension),
            ("GET", "/extensions/{id}", "get_extension", self.get_extension),
            ("DELETE", "/extensions/{id}", "delete_extension", self.delete_extension),
            ("POST", "/contexts", "create_context", self.create_context),
            ("GET", "/contexts/{id}", "get_context", self.get_context),
            ("PUT", "/contexts/{id}", "update_context", self.update_context),
            ("DELETE", "/contexts/{id}", "delete_context", self.delete_context),
            ("GET", "/projects", "list_projects", self.list_projects),
            ("GET", "/projects/{id}", "get_project", self.get_project),
            ("GET", "/projects/{id}/usage", "project_usage", self.project_usage),
            ("POST", "/search", "search", self.search),
            ("POST", "/fetch", "fetch", self.fetch),
        ]
        return [(method, path, name, endpoint(DIALECT, name, error_body, retry_headers)(
            self._authed(handler, self.limiter))) for method, path, name, handler in routes]

    def unknown_handler(self) -> Any:
        return endpoint(DIALECT, "unknown", error_body, retry_headers)(self.unknown)

    @staticmethod
    def claims(request: web.Request) -> bool:
        return "X-BB-API-Key" in request.headers

    @staticmethod
    def _authed(handler: Any, limiter: RateLimiter) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            key = request.headers.get("X-BB-API-Key", "").strip()
            if not key:
                raise ApiError(401, "unauthenticated", "missing X-BB-API-Key header")
            request["ratelimit"] = limiter.hit(key)
            return await handler(request, grpc_metadata(key))
        return run

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise ApiError(404, "not_found", f"no route {request.method} {request.path}")

    # -- sessions ------------------------------------------------------------------------

    async def create_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        options = await self._options(body, md)
        session = await self.control.CreateSession(cp.CreateSessionRequest(
            options=options, cdp_base_url=public_base(request, websocket=True)),
            metadata=md, timeout=90)
        return web.json_response(session_json(session), status=201)

    async def _options(self, body: dict[str, Any], md: Any) -> S.SessionOptions:
        o = S.SessionOptions(dialect=DIALECT)
        settings = typed(body, "browserSettings", dict, {})
        viewport = typed(settings, "viewport", dict, None, "browserSettings.viewport")
        if viewport is not None:
            o.viewport.width = whole_number(viewport, "width", 0, "browserSettings.viewport.width")
            o.viewport.height = whole_number(viewport, "height", 0, "browserSettings.viewport.height")
        context = typed(settings, "context", dict, None, "browserSettings.context")
        if context is not None:
            context_id = typed(context, "id", str, "", "browserSettings.context.id")
            if not context_id:
                raise bad_request("browserSettings.context.id", "is required")
            o.profile.profile_id = context_id
            o.profile.persist = typed(context, "persist", bool, False, "browserSettings.context.persist")
        for source, name in ((body, "extensionId"), (settings, "extensionId")):
            ext = typed(source, name, str, "", name if source is body else f"browserSettings.{name}")
            if ext and ext not in o.extension_ids:
                o.extension_ids.append(ext)
        o.block_ads = typed(settings, "blockAds", bool, False, "browserSettings.blockAds")
        o.solve_captchas = typed(settings, "solveCaptchas", bool, False, "browserSettings.solveCaptchas")
        # Browserbase records every session unless told not to (its documented default).
        o.record_session = typed(settings, "recordSession", bool, True, "browserSettings.recordSession")
        o.log_session = typed(settings, "logSession", bool, False, "browserSettings.logSession")
        o.ignore_certificate_errors = typed(settings, "ignoreCertificateErrors", bool, False,
                                             "browserSettings.ignoreCertificateErrors")
        for i, domain in enumerate(typed(settings, "allowedDomains", list, [],
                                          "browserSettings.allowedDomains")):
            if not isinstance(domain, str):
                raise bad_request(f"browserSettings.allowedDomains[{i}]", "must be a string")
            o.allowed_domains.append(domain)
        o.keep_alive = typed(body, "keepAlive", bool, False)
        timeout = typed(body, "timeout", int, 0)
        if timeout and not 60 <= timeout <= 21600:
            raise bad_request("timeout", "must be 60..21600 seconds")
        o.max_duration_seconds = timeout
        region = typed(body, "region", str, "")
        if region and region not in REGIONS:
            raise bad_request("region", f"must be one of {', '.join(REGIONS)}")
        o.region = region
        metadata = typed(body, "userMetadata", dict, None)
        if metadata is not None:
            o.user_metadata.CopyFrom(_struct(metadata))
        self._proxies(body.get("proxies"), o)
        project_id = typed(body, "projectId", str, "")
        if project_id:
            me = await self.control.Authenticate(cp.AuthenticateRequest(), metadata=md, timeout=10)
            if me.project.id != project_id:
                raise ApiError(404, "project_not_found",
                               f"project {project_id!r} is not the project of this API key")
        return o

    @staticmethod
    def _proxies(value: Any, o: S.SessionOptions) -> None:
        if value is None or value is False:
            return
        if value is True:
            raise bad_request("proxies", "Browserbase-managed proxies are not available in a "
                              "self-hosted Browserplane; pass [{\"type\": \"external\", \"server\": "
                              "\"http://host:port\"}]")
        if not isinstance(value, list):
            raise bad_request("proxies", "must be a boolean or a list of proxy objects")
        for i, item in enumerate(value):
            field = f"proxies[{i}]"
            if not isinstance(item, dict):
                raise bad_request(field, "must be an object")
            kind = item.get("type")
            pattern = typed(item, "domainPattern", str, "", f"{field}.domainPattern")
            if kind == "external":
                server = typed(item, "server", str, "", f"{field}.server")
                if not server:
                    raise bad_request(f"{field}.server", "is required for an external proxy")
                o.proxies.add(kind=S.ProxyRule.EXTERNAL, server=server, domain_pattern=pattern,
                              username=typed(item, "username", str, "", f"{field}.username"),
                              password=typed(item, "password", str, "", f"{field}.password"))
            elif kind == "none":
                o.proxies.add(kind=S.ProxyRule.NONE, domain_pattern=pattern)
            elif kind == "browserbase":
                raise bad_request(f"{field}.type", "Browserbase-managed proxies are not available "
                                  "in a self-hosted Browserplane; use type 'external'")
            else:
                raise bad_request(f"{field}.type", "must be 'external', 'none' or 'browserbase'")

    async def list_sessions(self, request: web.Request, md: Any) -> web.StreamResponse:
        req = cp.ListSessionsRequest(page_size=1000, cdp_base_url=public_base(request, True))
        status = request.query.get("status", "")
        if status:
            if status not in STATES:
                raise bad_request("status", f"must be one of {', '.join(STATES)}")
            req.states.append(STATES[status])
        query = request.query.get("q", "").strip()
        if query:
            pairs = METADATA_QUERY.findall(query)
            if not pairs:
                raise bad_request("q", "expected user_metadata['key']:'value'")
            req.metadata_filter.update(dict(pairs))
        answer = await self.control.ListSessions(req, metadata=md, timeout=30)
        return web.json_response([session_json(s) for s in answer.sessions])

    async def get_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self.control.GetSession(cp.GetSessionRequest(
            id=request.match_info["id"], cdp_base_url=public_base(request, True)),
            metadata=md, timeout=10)
        return web.json_response(session_json(session))

    async def update_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        status = body.get("status")
        if status != "REQUEST_RELEASE":
            raise bad_request("status", "the only update is {\"status\": \"REQUEST_RELEASE\"}")
        session = await self.control.UpdateSession(cp.UpdateSessionRequest(
            id=request.match_info["id"], request_release=True), metadata=md, timeout=30)
        return web.json_response(session_json(session))

    async def debug(self, request: web.Request, md: Any) -> web.StreamResponse:
        expires = request.query.get("expiresIn")
        if expires is not None and not expires.isdigit():
            raise bad_request("expiresIn", "must be a whole number of seconds")
        session = await self.control.GetSession(cp.GetSessionRequest(
            id=request.match_info["id"], cdp_base_url=public_base(request, True)),
            metadata=md, timeout=10)
        if session.state != S.RUNNING:
            raise ApiError(409, "session_ended", f"session {session.id} is "
                           f"{STATUS.get(session.state, 'ERROR')}")
        targets = await self.cdp.targets(session.id, session.cdp_token, forwarded(request))
        # The live view has its own token: it opens the screen and input, never CDP.
        base, token = public_base(request), session.live_view_token
        pages = [{"id": t.get("id"), "url": t.get("url"), "title": t.get("title"),
                  "faviconUrl": t.get("faviconUrl", ""),
                  "debuggerUrl": live_url(base, session.id, token, page=t.get("id", "")),
                  "debuggerFullscreenUrl": live_url(base, session.id, token, navbar=False,
                                                    page=t.get("id", ""))}
                 for t in targets if t.get("type") == "page"]
        return web.json_response({
            "wsUrl": session.cdp_url, "debuggerUrl": live_url(base, session.id, token),
            "debuggerFullscreenUrl": live_url(base, session.id, token, navbar=False),
            "pages": pages,
        })

    async def logs(self, request: web.Request, md: Any) -> web.StreamResponse:
        """What happened in the session's pages (navigations, requests, console), oldest first."""
        session_id = request.match_info["id"]
        answer = await self.automation.GetCdpLog(A.LogRequest(session_id=session_id, limit=2000),
                                                 metadata=md, timeout=30)
        out = []
        for e in answer.entries:
            stamp = int(e.timestamp.ToMilliseconds())
            params = json.loads(e.params_json or "{}")
            out.append({"method": e.method, "pageId": e.page_index, "sessionId": session_id,
                        "frameId": params.get("frameId") or params.get("frame", {}).get("id"),
                        "loaderId": params.get("loaderId"), "timestamp": stamp,
                        "request": {"params": params, "rawBody": e.params_json, "timestamp": stamp}})
        return web.json_response(out)

    async def upload(self, request: web.Request, md: Any) -> web.StreamResponse:
        """Multipart part `file` lands in the session's uploads folder on its node; the answer
        says where, for set_input_files / DOM.setFileInputFiles."""
        session_id = request.match_info["id"]
        part = await file_part(request)
        name = part.filename

        async def chunks() -> Any:
            yield A.FileChunk(session_id=session_id, kind=A.UPLOAD, name=name)
            while data := await part.read_chunk(1024 * 1024):
                yield A.FileChunk(data=data)

        info = await self.automation.WriteFile(chunks(), metadata=md, timeout=300)
        return web.json_response({"message": "File uploaded", "fileName": info.name,
                                  "path": info.path, "size": info.size_bytes})

    async def downloads(self, request: web.Request, md: Any) -> web.StreamResponse:
        """Everything the session downloaded, as one zip (empty zip when nothing was): from
        its node while it runs, from the control plane's archive once it has ended."""
        session_id = request.match_info["id"]
        call: Any = self.automation.ReadFile(A.ReadFileRequest(
            session_id=session_id, kind=A.DOWNLOAD), metadata=md, timeout=300)
        try:
            first = await anext(aiter(call), None)  # errors surface here, before any byte is sent
        except grpc.aio.AioRpcError as err:
            if errors.describe(err).reason != errors.SESSION_ENDED:
                raise
            call = self.control.ReadSessionFiles(cp.ReadSessionFilesRequest(session_id=session_id),
                                                 metadata=md, timeout=300)
            first = await anext(aiter(call), None)
            if first is None:  # nothing was downloaded: an empty zip, as from a running session
                first = A.FileChunk(data=EMPTY_ZIP)
        return await stream_chunks(request, {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{request.match_info["id"]}-downloads.zip"'},
            first, call)

    async def recording(self, request: web.Request, md: Any) -> web.StreamResponse:
        """The session's DOM recording: rrweb events {data, sessionId, timestamp, type} (and
        pageId), oldest first, from its DOM_EVENTS artifact once the session has ended; an
        empty list while it runs and for a session that was not recorded."""
        session = await self.control.GetSession(cp.GetSessionRequest(id=request.match_info["id"]),
                                                metadata=md, timeout=10)
        if session.state in (S.PENDING, S.RUNNING):
            return web.json_response([])
        found = await self.control.ListArtifacts(cp.ListArtifactsRequest(
            session_id=session.id, kind=cp.ARTIFACT_DOM_EVENTS, limit=1), metadata=md, timeout=90)
        if not found.artifacts:
            return web.json_response([])
        # The artifact is already the JSON array this route answers: its bytes go through.
        call: Any = self.control.ReadArtifact(cp.ReadArtifactRequest(id=found.artifacts[0].id),
                                              metadata=md, timeout=300)
        first = await anext(aiter(call), None)  # errors surface here, before any byte is sent
        if first is None:
            return web.json_response([])
        return await stream_chunks(request, {"Content-Type": "application/json"}, first, call)

    # -- recordings (the session's video, kept once it ended) ----------------------------

    async def _recording(self, request: web.Request, md: Any) -> tuple[S.Session, Any]:
        session = await self.control.GetSession(cp.GetSessionRequest(
            id=request.match_info["id"]), metadata=md, timeout=10)
        return session, await recordings.find(self.control, md, session.id)

    async def recording_downloads(self, request: web.Request, md: Any) -> web.StreamResponse:
        """One MP4 of the session (the active tab's screen, following tab switches), pageId
        "0": COMPLETED with a signed URL once the session ended, PENDING while it records,
        and no downloads for a session that was not recorded. POST asks for nothing more:
        the video is made as the session ends."""
        session, recording = await self._recording(request, md)
        if recording is None:
            live = session.state in (S.PENDING, S.RUNNING) and session.options.record_session
            return web.json_response({"downloads": [{"pageId": "0", "status": "PENDING"}]
                                      if live else []})
        url, _ = await recordings.signed_url(request, self.control, md, recording.video)
        return web.json_response({"downloads": [{
            "pageId": "0", "status": "COMPLETED", "completedAt": _iso(recording.video.created_at),
            "downloadUrl": url}]})

    async def replays(self, request: web.Request, md: Any) -> web.StreamResponse:
        """The recorded pages: each time a page (tab) was on screen is a stretch of the one
        video, numbered by the page's order of appearance."""
        session, recording = await self._recording(request, md)
        if recording is None:
            raise ApiError(404, "replay_not_found", f"no replay for session {session.id}"
                           + (" yet: it is made when the session ends"
                              if session.options.record_session else ": it was not recorded"))
        pages = [{"pageId": str(s["number"]), "url": s["url"], "startTimeMs": s["start_ms"],
                  "endTimeMs": s["end_ms"]} for s in recordings.page_stretches(recording)]
        return web.json_response({"pageCount": len({p["pageId"] for p in pages}), "pages": pages})

    async def replay_page(self, request: web.Request, md: Any) -> web.StreamResponse:
        """An HLS VOD playlist of one page's stretches of the video: each stretch is one
        segment, the MP4 by its signed URL (players that take only TS or fMP4 segments
        should download the MP4 from /recording/downloads)."""
        session, recording = await self._recording(request, md)
        page_id = request.match_info["page_id"]
        stretches = [s for s in recordings.page_stretches(recording) if str(s["number"]) == page_id] \
            if recording is not None else []
        if not stretches:
            raise ApiError(404, "replay_not_found", f"no replay of page {page_id[:40]!r} in "
                           f"session {session.id}")
        url, _ = await recordings.signed_url(request, self.control, md, recording.video)
        longest = max((s["end_ms"] - s["start_ms"]) / 1000 for s in stretches)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-PLAYLIST-TYPE:VOD",
                 f"#EXT-X-TARGETDURATION:{int(longest) + 1}", "#EXT-X-MEDIA-SEQUENCE:0"]
        for s in stretches:
            lines += [f"#EXTINF:{(s['end_ms'] - s['start_ms']) / 1000:.3f},",
                      f"{url}#t={s['start_ms'] / 1000:.3f},{s['end_ms'] / 1000:.3f}"]
        lines.append("#EXT-X-ENDLIST")
        return web.Response(text="\n".join(lines) + "\n",
                            content_type="application/vnd.apple.mpegurl")

    # -- extensions ----------------------------------------------------------------------

    async def create_extension(self, request: web.Request, md: Any) -> web.StreamResponse:
        part = await file_part(request)
        name = part.filename

        async def chunks() -> Any:
            first = True
            while data := await part.read_chunk(1024 * 1024):
                yield cp.DataChunk(file_name=name if first else "", data=data)
                first = False
            if first:
                yield cp.DataChunk(file_name=name)

        extension = await self.control.CreateExtension(chunks(), metadata=md, timeout=120)
        return web.json_response(_extension(extension), status=201)

    async def get_extension(self, request: web.Request, md: Any) -> web.StreamResponse:
        extension = await self.control.GetExtension(
            cp.GetExtensionRequest(id=request.match_info["id"]), metadata=md, timeout=10)
        return web.json_response(_extension(extension))

    async def delete_extension(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.DeleteExtension(cp.DeleteExtensionRequest(id=request.match_info["id"]),
                                           metadata=md, timeout=10)
        return web.Response(status=204)

    # -- contexts (profiles) -------------------------------------------------------------

    async def create_context(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        name = typed(body, "name", str, "")
        profile = await self.control.CreateProfile(cp.CreateProfileRequest(name=name), metadata=md,
                                                   timeout=10)
        return web.json_response(_context_upload(profile), status=201)

    async def get_context(self, request: web.Request, md: Any) -> web.StreamResponse:
        profile = await self.control.GetProfile(cp.GetProfileRequest(id=request.match_info["id"]),
                                                metadata=md, timeout=10)
        return web.json_response(_context(profile))

    async def update_context(self, request: web.Request, md: Any) -> web.StreamResponse:
        profile = await self.control.GetProfile(cp.GetProfileRequest(id=request.match_info["id"]),
                                                metadata=md, timeout=10)
        return web.json_response(_context_upload(profile))

    async def delete_context(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.DeleteProfile(cp.DeleteProfileRequest(id=request.match_info["id"]),
                                         metadata=md, timeout=10)
        return web.Response(status=204)

    # -- projects ------------------------------------------------------------------------

    async def list_projects(self, request: web.Request, md: Any) -> web.StreamResponse:
        answer = await self.control.ListProjects(cp.ListProjectsRequest(), metadata=md, timeout=10)
        return web.json_response([_project(p) for p in answer.projects])

    async def get_project(self, request: web.Request, md: Any) -> web.StreamResponse:
        project = await self.control.GetProject(cp.GetProjectRequest(id=request.match_info["id"]),
                                                metadata=md, timeout=10)
        return web.json_response(_project(project))

    async def project_usage(self, request: web.Request, md: Any) -> web.StreamResponse:
        usage = await self.control.GetUsage(cp.GetUsageRequest(project_id=request.match_info["id"]),
                                            metadata=md, timeout=10)
        return web.json_response({"browserMinutes": round(usage.browser_minutes, 3),
                                  "proxyBytes": usage.proxy_bytes})

    async def fetch(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        url = typed(body, "url", str, "")
        if not url:
            raise bad_request("url", "is required")
        check_http_url("url", url)
        fmt = typed(body, "format", str, "raw")
        if fmt not in ("raw", "json", "markdown"):
            raise bad_request("format", "must be raw, json or markdown")
        if fmt != "raw":
            raise bad_request("format", f"{fmt!r} needs a page model Browserplane does not run for "
                              "plain fetches; use 'raw', or a session's page tools")
        if typed(body, "contextId", str, ""):
            raise bad_request("contextId", "fetch does not read contexts; open a session with "
                              "the context to use its cookies")
        if typed(body, "proxies", bool, False):
            raise bad_request("proxies", "Browserbase-managed proxies are not available in a "
                              "self-hosted Browserplane")
        # Only keys matter here; a project check keeps fetch behind the same credentials.
        await self.control.Authenticate(cp.AuthenticateRequest(), metadata=md, timeout=10)
        result = await fetcher.fetch(
            url, follow_redirects=typed(body, "allowRedirects", bool, False),
            verify_tls=not typed(body, "allowInsecureSsl", bool, False), policy=self.egress)
        return web.json_response({
            "id": str(uuid.uuid4()), "statusCode": result.status, "headers": result.headers,
            "contentType": result.content_type, "encoding": result.encoding,
            "content": result.content})

    async def search(self, request: web.Request, md: Any) -> web.StreamResponse:
        await json_body(request)
        raise ApiError(501, "search_not_configured",
                       "web search needs a search provider, and Browserplane has none configured. "
                       "Search with a session instead (open your search engine's results page "
                       "over CDP); see the README's 'Browserbase dialect' section.")


def _extension(extension: cp.Extension) -> dict[str, Any]:
    return {"id": extension.id, "fileName": extension.file_name, "projectId": extension.project_id,
            "createdAt": _iso(extension.created_at), "updatedAt": _iso(extension.updated_at),
            "name": extension.name, "version": extension.version}


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _context(profile: cp.Profile) -> dict[str, Any]:
    return {"id": profile.id, "name": profile.name or None, "projectId": profile.project_id,
            "createdAt": _iso(profile.created_at), "updatedAt": _iso(profile.updated_at)}


def _context_upload(profile: cp.Profile) -> dict[str, Any]:
    # Browserbase lets clients upload an encrypted profile archive; Browserplane fills contexts
    # from sessions (persist: true) only, so the upload fields are present but empty.
    return {"id": profile.id, "uploadUrl": "", "publicKey": "", "cipherAlgorithm": "",
            "initializationVectorSize": 0}


def _project(project: cp.Project) -> dict[str, Any]:
    created = _iso(project.created_at)
    return {"id": project.id, "name": project.name, "createdAt": created, "updatedAt": created,
            "defaultTimeout": project.default_timeout_seconds or 3600,
            "concurrency": project.max_concurrent_sessions or 0, "ownerId": ""}
