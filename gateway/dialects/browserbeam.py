"""Browserbeam v1 (`Authorization: Bearer`), as the official `browserbeam` SDK speaks it.

Served under `/browserbeam/v1/...`, and at `/v1/...` for requests that carry a Bearer key
(Browserbase's SDK sends `X-BB-API-Key` there instead). A session is driven with steps; each
step becomes one Automation call, the steps stop at the first failure, and every answer ends
with a fresh observation of the page (the session envelope).

Steps are checked before any runs: an unknown type, a step with two keys or bad parameters is a
400 naming the step, and nothing has happened to the page. A step that fails while running
(nothing matches, navigation fails) is a 200 envelope whose `error` names the step.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import urllib.parse
from collections.abc import Callable
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from browserplane import errors
from browserplane.credentials import REPLAYED_HEADER
from browserplane.logs import request_id_var
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from gateway.http_api import (
    ApiError,
    RateLimiter,
    endpoint,
    grpc_metadata,
    header_text,
    json_body,
    typed,
    url_scheme,
)

DIALECT = "browserbeam"
STATUS = {S.PENDING: "active", S.RUNNING: "active", S.COMPLETED: "closed", S.TIMED_OUT: "closed",
          S.FAILED: "failed"}
STATES = {"active": [S.PENDING, S.RUNNING], "closed": [S.COMPLETED, S.TIMED_OUT], "failed": [S.FAILED]}
RESOURCES = {"image": S.IMAGE, "font": S.FONT, "stylesheet": S.STYLESHEET, "script": S.SCRIPT}
WAIT_UNTIL = {"load": A.LOAD, "domcontentloaded": A.DOM_CONTENT_LOADED,
              "networkidle": A.NETWORK_IDLE, "commit": A.COMMIT}
EDGES = {"top": A.Scroll.TOP, "bottom": A.Scroll.BOTTOM, "left": A.Scroll.LEFT, "right": A.Scroll.RIGHT}
TARGET_KEYS = ("ref", "text", "label", "selector")
STEP_TIMEOUT_S = 120

# Browserplane reasons (lower case) -> Browserbeam error codes.
# Every 429 is rate_limited (this gateway's per-key limit) or quota_exceeded (no room: the
# queue, a concurrency limit, any RESOURCE_EXHAUSTED), the two the SDK tells apart.
HTTP_CODES = {"unauthenticated": "unauthorized", "session_not_found": "session_not_found",
              "session_ended": "session_not_found", "no_matching_node": "engine_unavailable",
              "node_unavailable": "engine_unavailable",
              "browser_launch_failed": "engine_unavailable", "invalid_argument": "invalid_request",
              "invalid_json": "invalid_request"}
STEP_CODES = {errors.ELEMENT_NOT_FOUND: "element_not_found", errors.NAVIGATION_FAILED: "navigation_failed",
              errors.INVALID_ARGUMENT: "invalid_request", errors.FILE_NOT_FOUND: "invalid_request",
              errors.PERMISSION_DENIED: "access_denied"}


def error_body(err: ApiError, request_id: str) -> dict[str, Any]:
    code = HTTP_CODES.get(err.code, err.code)
    if err.status == 404 and code not in ("session_not_found", "not_found"):
        code = "session_not_found" if "session" in err.message else "not_found"
    if err.status == 503:
        code = "engine_unavailable"
    if err.status == 429:
        code = "rate_limited" if err.code == "rate_limited" else "quota_exceeded"
    if err.status == 413:
        code = "invalid_request"
    body: dict[str, Any] = {"code": code, "message": err.message}
    context = dict(err.context or {}) if isinstance(err, StepInputError) else {}
    if err.field:
        context.setdefault("field", err.field)
    if context:
        body["context"] = context
    return {"error": body, "request_id": request_id}


@dataclasses.dataclass
class StepInputError(ApiError):
    context: dict[str, Any] | None = None


def step_error(index: int, action: str, message: str) -> StepInputError:
    return StepInputError(400, "invalid_request", f"steps[{index}] ({action}): {message}",
                          context={"step": index, "action": action})


# ---- step parsing (no I/O: each JSON step becomes the call that runs it) ------------------------

@dataclasses.dataclass
class Step:
    index: int
    action: str
    params: dict[str, Any]
    request: Any = None  # the gRPC request this step makes


class Params:
    """Typed reads of one step's parameters; every complaint names the step."""

    def __init__(self, index: int, action: str, params: dict[str, Any]) -> None:
        self.index, self.action, self.params = index, action, params

    def fail(self, message: str) -> StepInputError:
        return step_error(self.index, self.action, message)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        try:
            return typed(self.params, key, kind, default)
        except ApiError as err:
            raise self.fail(err.message) from None

    def number(self, key: str, low: float, high: float, default: Any = None) -> Any:
        value = self.get(key, (int, float), default)
        if value is not None and value != default and not low <= value <= high:
            raise self.fail(f"{key} must be {low:g}..{high:g}")
        return value

    def known(self, *keys: str) -> None:
        unknown = sorted(set(self.params) - set(keys))
        if unknown:
            takes = f"this step takes {', '.join(keys)}" if keys else "this step takes no parameters"
            raise self.fail(f"unknown parameter {unknown[0]!r}; {takes}")

    def target(self, required: bool = True) -> A.ElementTarget | None:
        given = [k for k in TARGET_KEYS if self.params.get(k) is not None]
        if len(given) > 1:
            raise self.fail(f"name the element one way, not by {' and '.join(given)}")
        if not given:
            if required:
                raise self.fail("name the element: ref (from observe), text, label or selector")
            return None
        value = self.get(given[0], str)
        if not value.strip():
            raise self.fail(f"{given[0]} must not be empty")
        return A.ElementTarget(**{given[0]: value})


def parse_steps(raw: Any, session_id: str) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "invalid_request", "steps must be a non-empty list of step objects")
    if len(raw) > 100:
        raise ApiError(400, "invalid_request", "at most 100 steps in one call")
    steps = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or len(item) != 1:
            keys = sorted(item) if isinstance(item, dict) else []
            raise StepInputError(
                400, "invalid_request",
                f"steps[{i}] must be an object with exactly one key (the step type), got "
                + (f"{len(keys)} keys: {', '.join(keys)}" if isinstance(item, dict) else type(item).__name__),
                context={"step": i})
        (action, params), = item.items()
        builder = BUILDERS.get(action)
        if builder is None:
            raise StepInputError(400, "invalid_request",
                                 f"steps[{i}]: unknown step type {action!r}; the types are "
                                 + ", ".join(sorted(BUILDERS)), context={"step": i, "action": action})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise step_error(i, action, "the step's parameters must be an object")
        if action == "close" and i != len(raw) - 1:
            raise step_error(i, action, "close must be the last step")
        steps.append(Step(i, action, params, builder(Params(i, action, params), session_id)))
    return steps


def _act(session_id: str, **action: Any) -> A.ActRequest:
    return A.ActRequest(session_id=session_id, action=A.Action(**action))


def _goto(p: Params, sid: str) -> A.NavigateRequest:
    p.known("url", "wait_for", "wait_until", "wait_timeout")
    url = p.get("url", str, "")
    if url_scheme(url) not in ("http", "https", "about", "data", "file"):
        raise p.fail("url must be an absolute http(s) URL")
    until = p.get("wait_until", str, "load")
    if until not in WAIT_UNTIL:
        raise p.fail(f"wait_until must be one of {', '.join(WAIT_UNTIL)}")
    return A.NavigateRequest(session_id=sid, url=url, wait_until=WAIT_UNTIL[until],
                             wait_for_selector=p.get("wait_for", str, ""),
                             timeout_ms=int(p.number("wait_timeout", 1, 120_000, 30_000)))


def _observe(p: Params, sid: str) -> A.ObserveRequest:
    p.known("scope", "format", "mode", "include_page_map", "include_links", "max_text_length",
            "max_elements")
    if p.get("format", str, "markdown") != "markdown":
        raise p.fail("format must be markdown")
    mode = p.get("mode", str, "main")
    if mode not in ("main", "full"):
        raise p.fail("mode must be main or full")
    return A.ObserveRequest(
        session_id=sid, scope=p.get("scope", str, ""),
        mode=A.ObserveRequest.FULL if mode == "full" else A.ObserveRequest.MAIN,
        include_page_map=p.get("include_page_map", bool, False),
        include_links=p.get("include_links", bool, False),
        max_text_length=int(p.number("max_text_length", 1, 1_000_000, 0)),
        max_elements=int(p.number("max_elements", 1, 100_000, 0)))


def _click(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "button", "click_count")
    button = p.get("button", str, "left")
    if button not in ("left", "right", "middle"):
        raise p.fail("button must be left, right or middle")
    return _act(sid, click=A.Click(target=p.target(), click_count=int(p.number("click_count", 1, 3, 1)),
                                   button={"left": A.Click.LEFT, "right": A.Click.RIGHT,
                                           "middle": A.Click.MIDDLE}[button]))


def _fill(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "value")
    value = p.get("value", (str, int, float))
    if value is None:
        raise p.fail("value is required")
    return _act(sid, fill=A.Fill(target=p.target(), value=str(value)))


def _type(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "value", "delay")
    value = p.get("value", str)
    if value is None:
        raise p.fail("value is required")
    target = p.target(required=False)
    typed = A.TypeText(text=value, delay_ms=int(p.number("delay", 0, 1000, 0)))
    if target is not None:
        typed.target.CopyFrom(target)
    return _act(sid, type=typed)


def _select(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "value")
    value = p.get("value", (str, list))
    values = [value] if isinstance(value, str) else value
    if not values or not all(isinstance(v, str) for v in values):
        raise p.fail("value must be an option's value or label, or a list of them")
    return _act(sid, select=A.Select(target=p.target(), values=values))


def _check(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "checked")
    check = A.Check(target=p.target())
    check.checked = p.get("checked", bool, True)
    return _act(sid, check=check)


def _hover(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS)
    return _act(sid, hover=A.Hover(target=p.target()))


def _press(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "key")
    key = p.get("key", str, "")
    if not key:
        raise p.fail("key is required, e.g. Enter, Tab or Control+A")
    press = A.PressKey(key=key)
    target = p.target(required=False)
    if target is not None:
        press.target.CopyFrom(target)
    return _act(sid, press=press)


def _scroll(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "to", "direction", "amount", "times")
    target = p.target(required=False)
    scroll = A.Scroll(times=int(p.number("times", 1, 100, 1)))
    to = p.get("to", str)
    if target is not None:
        scroll.to_element.CopyFrom(target)
    elif to is not None:
        if to not in EDGES:
            raise p.fail("to must be top, bottom, left or right (or name an element)")
        scroll.edge = EDGES[to]
    else:
        direction = p.get("direction", str, "down")
        amount = int(p.number("amount", 1, 100_000, 0))
        if direction not in ("up", "down", "left", "right"):
            raise p.fail("direction must be up, down, left or right")
        if direction == "down":
            scroll.delta_y = amount  # 0: one screen
        else:
            amount = amount or 600
            if direction == "up":
                scroll.delta_y = -amount
            else:
                scroll.delta_x = amount if direction == "right" else -amount
    return _act(sid, scroll=scroll)


def _scroll_collect(p: Params, sid: str) -> A.ActRequest:
    p.known("max_scrolls", "wait_ms", "timeout_ms", "max_text_length")
    return _act(sid, scroll_collect=A.ScrollCollect(
        max_scrolls=int(p.number("max_scrolls", 1, 200, 0)), wait_ms=int(p.number("wait_ms", 0, 10_000, 0)),
        timeout_ms=int(p.number("timeout_ms", 1, 110_000, 0)),
        max_text_length=int(p.number("max_text_length", 1, 1_000_000, 0))))


def _screenshot(p: Params, sid: str) -> A.ScreenshotRequest:
    p.known("full_page", "format", "quality", "selector")
    fmt = p.get("format", str, "png")
    if fmt not in ("png", "jpeg", "jpg"):
        raise p.fail("format must be png or jpeg")
    jpeg = fmt != "png"
    quality = int(p.number("quality", 1, 100, 0))
    if quality and not jpeg:
        raise p.fail("quality applies to jpeg only")
    request = A.ScreenshotRequest(session_id=sid, full_page=p.get("full_page", bool, False),
                                  format=A.ScreenshotRequest.JPEG if jpeg else A.ScreenshotRequest.PNG,
                                  quality=quality)
    selector = p.get("selector", str, "")
    if selector:
        request.element.selector = selector
    return request


def _wait(p: Params, sid: str) -> A.ActRequest:
    p.known("ms", "selector", "text", "until", "timeout", "network_idle", "url")
    wait = A.Wait(time_ms=int(p.number("ms", 0, 60_000, 0)), selector=p.get("selector", str, ""),
                  text=p.get("text", str, ""), until_js=p.get("until", str, ""),
                  network_idle=p.get("network_idle", bool, False), url_pattern=p.get("url", str, ""),
                  timeout_ms=int(p.number("timeout", 1, 110_000, 0)))
    if not (wait.time_ms or wait.selector or wait.text or wait.until_js or wait.network_idle
            or wait.url_pattern):
        raise p.fail("name what to wait for: ms, selector, text, until or network_idle")
    return _act(sid, wait=wait)


def _extract(p: Params, sid: str) -> A.ExtractRequest:
    if not p.params:
        raise p.fail('name at least one field, e.g. {"title": "h1 >> text"}')
    schema = struct_pb2.Struct()
    schema.update(p.params)
    return A.ExtractRequest(session_id=sid, schema=schema)


def _fill_form(p: Params, sid: str) -> A.ActRequest:
    p.known("fields", "submit")
    fields = p.get("fields", dict)
    if not fields:
        raise p.fail("fields must map field labels (or names) to values")
    values = {}
    for key, value in fields.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            raise p.fail(f"fields[{key!r}] must be a string, number or boolean")
        values[key] = str(value)
    return _act(sid, fill_form=A.FillForm(fields=values, submit=p.get("submit", bool, False)))


def _upload(p: Params, sid: str) -> A.ActRequest:
    p.known(*TARGET_KEYS, "files")
    files = p.get("files", list)
    if not files or not all(isinstance(f, str) and f for f in files):
        raise p.fail("files must list file URLs (http, https or data:) or names of files "
                     "uploaded to the session")
    return _act(sid, upload=A.Upload(target=p.target(), files=files))


def _pdf(p: Params, sid: str) -> A.PdfRequest:
    p.known("format", "landscape", "print_background", "scale", "margin")
    margin = p.get("margin", dict, {})
    for side, value in margin.items():
        if side not in ("top", "right", "bottom", "left") or not isinstance(value, str):
            raise p.fail("margin maps top, right, bottom and left to CSS lengths such as \"1cm\"")
    return A.PdfRequest(session_id=sid, paper_format=p.get("format", str, ""),
                        landscape=p.get("landscape", bool, False),
                        print_background=p.get("print_background", bool, False),
                        scale=float(p.number("scale", 0.1, 2, 0)),
                        **{f"margin_{side}": value for side, value in margin.items()})


def _execute_js(p: Params, sid: str) -> A.EvaluateRequest:
    p.known("code", "result_key", "timeout")
    code = p.get("code", str, "")
    if not code.strip():
        raise p.fail("code is required")
    p.get("result_key", str)
    return A.EvaluateRequest(session_id=sid, expression=code,
                             timeout_ms=int(p.number("timeout", 1, 110_000, 0)))


def _close(p: Params, sid: str) -> cp.TerminateSessionRequest:
    p.known()
    return cp.TerminateSessionRequest(id=sid, reason="closed by a Browserbeam close step")


BUILDERS: dict[str, Callable[[Params, str], Any]] = {
    "goto": _goto, "observe": _observe, "click": _click, "fill": _fill, "type": _type,
    "select": _select, "check": _check, "hover": _hover, "press": _press, "scroll": _scroll,
    "scroll_collect": _scroll_collect, "screenshot": _screenshot, "wait": _wait,
    "extract": _extract, "fill_form": _fill_form, "upload": _upload, "pdf": _pdf,
    "execute_js": _execute_js, "close": _close,
}


# ---- rendering --------------------------------------------------------------------------------

def _iso(stamp: timestamp_pb2.Timestamp) -> str | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToJsonString()


def page_json(obs: A.Observation, collected: tuple[str, int] | None = None) -> dict[str, Any]:
    elements = [_element(e) for e in obs.elements]
    by_ref = {e["ref"]: e for e in elements}
    markdown, total = (collected if collected else (obs.markdown, obs.markdown_total))
    page: dict[str, Any] = {
        "url": obs.page.url, "title": obs.page.title, "stable": obs.stable,
        "markdown": {"content": markdown, "length": {"shown": len(markdown), "total": total}},
        "interactive_elements": elements,
        "forms": [{"ref": f.ref, "action": f.action, "method": f.method, "selector": f.selector,
                   "fields": [by_ref.get(r, {"ref": r}) for r in f.field_refs]} for f in obs.forms],
        "scroll": {"y": round(obs.scroll.y), "height": round(obs.scroll.height),
                   "viewport": round(obs.scroll.viewport_height), "percent": round(obs.scroll.percent)},
        "changes": None,
    }
    if obs.map:
        page["map"] = [{"section": m.section, "selector": m.selector, "hint": m.hint} for m in obs.map]
    if obs.links:
        page["links"] = [{"text": link.text, "href": link.href} for link in obs.links]
    if obs.HasField("changes"):
        c = obs.changes
        page["changes"] = {"content_changed": c.content_changed,
                           "content_delta": c.content_delta or None,
                           "elements_added": [by_ref.get(r, {"ref": r}) for r in c.elements_added],
                           "elements_removed": [{"ref": r} for r in c.elements_removed]}
    return page


def _element(e: A.Element) -> dict[str, Any]:
    item: dict[str, Any] = {"ref": e.ref, "tag": e.tag, "role": e.role, "label": e.label}
    if e.value:
        item["value"] = e.value
    if e.type:
        item["type"] = e.type
    if e.name:
        item["name"] = e.name
    if e.href:
        item["href"] = e.href
    if e.role in ("checkbox", "radio", "switch"):
        item["checked"] = e.checked
    if e.disabled:
        item["disabled"] = True
    if e.options:
        item["options"] = list(e.options)
    if not e.in_viewport:
        item["in_viewport"] = False
    return item


def session_info(s: S.Session) -> dict[str, Any]:
    ended = _iso(s.ended_at)
    started = _iso(s.started_at) or _iso(s.created_at)
    duration = None
    if ended and s.started_at.seconds:
        duration = max(0, s.ended_at.seconds - s.started_at.seconds)
    failed = s.state == S.FAILED
    return {"session_id": s.id, "status": STATUS.get(s.state, "failed"), "started_at": started,
            "ended_at": ended, "duration_seconds": duration, "expires_at": _iso(s.expires_at),
            "error_code": S.EndCause.Name(s.end_cause).lower() if failed else None,
            "error_message": s.end_reason or None if failed else None}


@dataclasses.dataclass
class Run:
    """What a sequence of steps produced, for the envelope."""

    completed: int = 0
    media: list[dict[str, str]] = dataclasses.field(default_factory=list)
    extraction: dict[str, Any] | None = None
    blockers: list[str] = dataclasses.field(default_factory=list)
    error: dict[str, Any] | None = None
    observation: A.Observation | None = None  # the last observe step's, if it was last
    collected: tuple[str, int] | None = None
    closed: bool = False


class Browserbeam:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub,
                 automation: automation_pb2_grpc.AutomationStub, limiter: RateLimiter) -> None:
        self.control = control
        self.automation = automation
        self.limiter = limiter

    def table(self) -> list[tuple[str, str, str, Any]]:
        """(method, path under /v1, route name, wrapped handler)."""
        routes = [
            ("POST", "/sessions", "create_session", self.create_session),
            ("GET", "/sessions", "list_sessions", self.list_sessions),
            ("GET", "/sessions/{id}", "get_session", self.get_session),
            ("DELETE", "/sessions/{id}", "destroy_session", self.destroy_session),
            ("POST", "/sessions/{id}/act", "act", self.act),
        ]
        return [(method, path, name, endpoint(DIALECT, name, error_body)(self._authed(handler)))
                for method, path, name, handler in routes]

    def unknown_handler(self) -> Any:
        return endpoint(DIALECT, "unknown", error_body)(self.unknown)

    @staticmethod
    def claims(request: web.Request) -> bool:
        return request.headers.get("Authorization", "").lower().startswith("bearer ")

    def _authed(self, handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            scheme, _, key = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise ApiError(401, "unauthorized", "missing Authorization: Bearer <API key> header")
            request["ratelimit"] = self.limiter.hit(key.strip())
            try:
                return await handler(request, grpc_metadata(key.strip()))
            except grpc.RpcError as err:
                failure = ApiError.from_grpc(err)
                if failure.code == "session_ended":  # "not found or expired" to this SDK
                    failure.status = 404
                raise failure from None
        return run

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise ApiError(404, "not_found", f"no route {request.method} {request.path}")

    # -- sessions ------------------------------------------------------------------------------

    async def create_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        options = self._options(body)
        url = body.get("url")
        if url is not None:
            schemes = ("http", "https", "about", "data", "file")
            if not isinstance(url, str) or url_scheme(url) not in schemes:
                raise ApiError(400, "invalid_request", "url must be an absolute http(s) URL",
                               field="url")
        raw_steps = body.get("steps")
        steps = parse_steps(raw_steps, "") if raw_steps not in (None, []) else []
        key = header_text(request, "Idempotency-Key", 255)
        call = self.control.CreateSession(cp.CreateSessionRequest(options=options, idempotency_key=key),
                                          metadata=md, timeout=90)
        session = await call
        replayed = dict(await call.initial_metadata() or ()).get(REPLAYED_HEADER) == "true"
        run = Run()
        if not replayed and (url or steps):
            for step in steps:
                _bind(step, session.id)
            if url:
                # Not one of the caller's steps: not counted; its failure is step 0 with
                # context.from = "url".
                steps.insert(0, Step(0, "goto", {"url": url}, A.NavigateRequest(
                    session_id=session.id, url=url, timeout_ms=30_000)))
            run = await self._run(steps, md)
            if url:
                if run.completed == 0 and run.error is not None:
                    run.error["context"]["from"] = "url"
                run.completed = max(0, run.completed - 1)
        envelope = await self._envelope(session, run, md, request)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return web.json_response(envelope, status=201, headers=headers)

    def _options(self, body: dict[str, Any]) -> S.SessionOptions:
        known = {"url", "steps", "timeout", "viewport", "user_agent", "locale", "timezone", "proxy",
                 "block_resources", "auto_dismiss_blockers", "cookies"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ApiError(400, "invalid_request", f"unknown field {unknown[0]!r}", field=unknown[0])
        o = S.SessionOptions(dialect=DIALECT, keep_alive=True)
        timeout = typed(body, "timeout", int, 300)
        if not 10 <= timeout <= 1800:
            raise ApiError(400, "invalid_request", "timeout must be 10..1800 seconds", field="timeout")
        o.max_duration_seconds = timeout
        o.idle_timeout_seconds = timeout  # the lifetime is the timeout, used or not
        viewport = typed(body, "viewport", dict, {})
        for side, default in (("width", 1280), ("height", 720)):
            value = viewport.get(side, default)
            if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 7680:
                raise ApiError(400, "invalid_request", f"viewport.{side} must be 100..7680",
                               field=f"viewport.{side}")
            setattr(o.viewport, side, value)
        o.user_agent = typed(body, "user_agent", str, "")
        o.locale = typed(body, "locale", str, "")
        o.timezone = typed(body, "timezone", str, "")
        proxy = typed(body, "proxy", (str, dict), None)
        if isinstance(proxy, dict):
            raise ApiError(400, "invalid_request", "managed proxies (kind/country) are not available "
                           "in a self-hosted Browserplane; pass your proxy's URL as a string",
                           field="proxy")
        if isinstance(proxy, str):
            try:
                parts = urllib.parse.urlsplit(proxy)
                port = parts.port
            except ValueError:  # an invalid IPv6 literal, a port that is no number
                parts, port = None, None
            # urlsplit drops CR, LF and tabs silently, so look for them in what was sent
            if parts is None or parts.scheme not in ("http", "https", "socks5", "socks4") \
                    or not parts.hostname or any(ord(c) <= 0x20 for c in proxy):
                raise ApiError(400, "invalid_request", "proxy must be a URL such as "
                               "http://user:pass@host:8080", field="proxy")
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            server = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
            o.proxies.add(kind=S.ProxyRule.EXTERNAL, server=server,
                          username=urllib.parse.unquote(parts.username or ""),
                          password=urllib.parse.unquote(parts.password or ""))
        blocked = typed(body, "block_resources", list, ["image", "font"])
        for i, name in enumerate(blocked):
            if not isinstance(name, str) or name not in RESOURCES:
                raise ApiError(400, "invalid_request", f"block_resources[{i}] must be one of "
                               + ", ".join(RESOURCES), field=f"block_resources[{i}]")
            o.blocked_resource_types.append(RESOURCES[name])
        o.blocked_resource_types.append(S.MEDIA)  # video and audio never load
        o.dismiss_blockers = typed(body, "auto_dismiss_blockers", bool, True)
        for i, cookie in enumerate(typed(body, "cookies", list, [])):
            field = f"cookies[{i}]"
            if not isinstance(cookie, dict) or not isinstance(cookie.get("name"), str) \
                    or not isinstance(cookie.get("value"), str):
                raise ApiError(400, "invalid_request", f"{field} needs a name and a value", field=field)
            try:
                o.cookies.append(json_format.ParseDict({
                    "name": cookie["name"], "value": cookie["value"],
                    "domain": cookie.get("domain", ""), "url": cookie.get("url", ""),
                    "path": cookie.get("path", ""), "expires": cookie.get("expires", 0),
                    "httpOnly": cookie.get("httpOnly", False), "secure": cookie.get("secure", False),
                    "sameSite": cookie.get("sameSite", "")}, S.Cookie()))
            except (json_format.ParseError, TypeError):
                raise ApiError(400, "invalid_request", f"{field} has a field of the wrong type",
                               field=field) from None
        return o

    async def list_sessions(self, request: web.Request, md: Any) -> web.StreamResponse:
        query = request.query
        status = query.get("status", "")
        if status and status not in STATES:
            raise ApiError(400, "invalid_request", "status must be active, closed or failed",
                           field="status")
        limit_raw = query.get("limit", "25")
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 100:
            raise ApiError(400, "invalid_request", "limit must be 1..100", field="limit")
        req = cp.ListSessionsRequest(page_size=int(limit_raw), page_token=query.get("after", ""),
                                     states=STATES.get(status, []))
        try:
            answer = await self.control.ListSessions(req, metadata=md, timeout=30)
        except grpc.aio.AioRpcError as err:
            if errors.describe(err).metadata.get("field") == "page_token":
                raise ApiError(400, "invalid_request", "after is not a cursor this API issued",
                               field="after") from None
            raise
        items = []
        for s in answer.sessions:
            info = session_info(s)
            items.append({k: info[k] for k in ("session_id", "status", "started_at", "error_code")})
        return web.json_response({"sessions": items, "has_more": bool(answer.next_page_token),
                                  "next_cursor": answer.next_page_token or None})

    async def get_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self.control.GetSession(cp.GetSessionRequest(id=request.match_info["id"]),
                                                metadata=md, timeout=10)
        return web.json_response(session_info(session))

    async def destroy_session(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.TerminateSession(cp.TerminateSessionRequest(
            id=request.match_info["id"], reason="destroyed through the Browserbeam API"),
            metadata=md, timeout=30)
        return web.Response(status=204)

    async def act(self, request: web.Request, md: Any) -> web.StreamResponse:
        session_id = request.match_info["id"]
        body = await json_body(request, allow_empty=False)
        steps = parse_steps(body.get("steps"), session_id)
        # The session must exist and be this key's before anything runs.
        session = await self.control.GetSession(cp.GetSessionRequest(id=session_id), metadata=md,
                                                timeout=10)
        if session.state not in (S.PENDING, S.RUNNING):
            raise ApiError(404, "session_not_found", f"session {session_id} has ended "
                           f"({STATUS.get(session.state, 'failed')})")
        run = await self._run(steps, md)
        return web.json_response(await self._envelope(session, run, md, request))

    # -- running steps ---------------------------------------------------------------------------

    async def _run(self, steps: list[Step], md: Any) -> Run:
        run = Run()
        for step in steps:
            try:
                await self._step(step, run, md)
            except _StepFailed as failed:
                run.error = {"step": step.index, "action": step.action, "code": "action_failed",
                             "message": str(failed), "context": {}}
                break
            except grpc.aio.AioRpcError as err:
                described = errors.describe(err)
                if described.reason in (errors.SESSION_NOT_FOUND, errors.SESSION_ENDED,
                                        errors.UNAUTHENTICATED) or \
                        err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED) \
                        and described.reason != errors.ACTION_FAILED:
                    raise  # not the step's fault: the session or the engine is gone
                run.error = {"step": step.index, "action": step.action,
                             "code": _step_code(step.action, described.reason, err.code()),
                             "message": described.message,
                             "context": {k: v for k, v in described.metadata.items()}}
                break
            run.completed += 1
            if step.action != "observe":
                run.observation = None
            if step.action != "scroll_collect" and step.action != "observe":
                run.collected = None
        return run

    async def _step(self, step: Step, run: Run, md: Any) -> None:
        r = step.request
        a = self.automation
        if step.action == "goto":
            answer = await a.Navigate(r, metadata=md, timeout=STEP_TIMEOUT_S)
            run.blockers += [b for b in answer.blockers_dismissed if b not in run.blockers]
        elif step.action == "observe":
            run.observation = await a.Observe(r, metadata=md, timeout=STEP_TIMEOUT_S)
        elif step.action == "screenshot":
            shot = await a.Screenshot(r, metadata=md, timeout=STEP_TIMEOUT_S)
            run.media.append({"type": "screenshot", "format": "jpeg" if "jpeg" in shot.mime_type else "png",
                              "data": base64.b64encode(shot.data).decode()})
        elif step.action == "pdf":
            pdf = await a.Pdf(r, metadata=md, timeout=STEP_TIMEOUT_S)
            run.media.append({"type": "pdf", "format": "pdf", "data": base64.b64encode(pdf.data).decode()})
        elif step.action == "extract":
            data = await a.Extract(r, metadata=md, timeout=STEP_TIMEOUT_S)
            run.extraction = {**(run.extraction or {}), **json_format.MessageToDict(data.data)}
        elif step.action == "execute_js":
            answer = await a.Evaluate(r, metadata=md, timeout=STEP_TIMEOUT_S)
            if answer.error:
                raise _StepFailed(answer.error)
            key = step.params.get("result_key") or "result"
            run.extraction = {**(run.extraction or {}), key: json_format.MessageToDict(answer.result)
                              if answer.HasField("result") else None}
        elif step.action == "close":
            await self.control.TerminateSession(r, metadata=md, timeout=30)
            run.closed = True
        else:
            answer = await a.Act(r, metadata=md, timeout=STEP_TIMEOUT_S)
            if step.action == "scroll_collect":
                run.collected = (answer.collected_markdown, answer.collected_total)

    async def _envelope(self, session: S.Session, run: Run, md: Any,
                        request: web.Request) -> dict[str, Any]:
        page = None
        if not run.closed:
            observation = run.observation
            if observation is None:
                try:
                    observation = await self._observe(session.id, md)
                except grpc.aio.AioRpcError:
                    if run.error is None:
                        raise
                    observation = None  # the step's error says more than this one
            if observation is not None:
                page = page_json(observation, run.collected)
        return {"session_id": session.id, "expires_at": _iso(session.expires_at),
                "request_id": request_id_var.get(),
                "completed": run.completed, "page": page, "media": run.media,
                "extraction": run.extraction, "blockers_dismissed": run.blockers, "error": run.error}


    async def _observe(self, session_id: str, md: Any) -> A.Observation:
        """The auto-observation; a page caught mid-navigation is read again once it settles."""
        for attempt in range(3):
            try:
                return await self.automation.Observe(A.ObserveRequest(session_id=session_id),
                                                     metadata=md, timeout=STEP_TIMEOUT_S)
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE or attempt == 2 or \
                        errors.describe(err).reason != errors.ACTION_FAILED:
                    raise
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")


class _StepFailed(Exception):
    pass


def _bind(step: Step, session_id: str) -> None:
    """Steps parsed before the session existed get its id."""
    r = step.request
    if isinstance(r, cp.TerminateSessionRequest):
        r.id = session_id
    else:
        r.session_id = session_id


def _step_code(action: str, reason: str, code: grpc.StatusCode) -> str:
    if action == "extract" and reason == errors.INVALID_ARGUMENT:
        return "extract_failed"
    if reason == errors.TIMEOUT and action == "goto":
        return "navigation_failed"
    return STEP_CODES.get(reason, "action_failed")
