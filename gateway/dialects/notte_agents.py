"""Notte's agents (`/agents/...`), by plain HTTP as Notte documents them (notte-sdk 1.10.0 has
no agent endpoints).

An agent is a RunAgent background call in the control plane (controlplane/background_calls.py):
its id is the call's id, its status and steps are the call's events, and the control plane
keeps agent calls in its store, so any gateway answers for them after the session has ended
and after a restart. `/workflow/code` writes the run's successful steps as a notte-sdk script;
vault fills appear as notte-core's vault placeholders, never as values.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format, message, timestamp_pb2

from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import controlplane_pb2_grpc
from gateway.http_api import ApiError, bad_request, check_http_url, json_body, public_base, typed

METHOD = "RunAgent"
START_FIELDS = {"task", "session_id", "url", "response_format", "session_offset",
                "reasoning_model", "use_vision", "max_steps", "vault_id", "persona_id",
                "notifier_config"}
MAX_STEPS = 150
MAX_TASK_CHARS = 10_000
STOPPED_BECAUSE = {A.AgentResult.DONE: "done", A.AgentResult.FAILED: "failed",
                   A.AgentResult.STEP_LIMIT: "step_limit", A.AgentResult.NEEDS_HUMAN: "needs_human",
                   A.AgentResult.BUDGET: "budget"}
# What the node types from the session's vault, written as notte-core's placeholder for it
# (a fill with the placeholder fills from the vault again when the script runs).
VAULT_FILLS = {"fill_username": "cooljohnny1567", "fill_password": "mycoolpassword",
               "fill_mfa_code": "999779"}
MASKED = "••••"  # the node's stand-in for text typed into a password field
# Steps a script can repeat (completion and help end a run; they do nothing to the page).
REPLAYED = {"goto", "click", "fill", "select_dropdown_option", "scroll_down", "go_back", "wait"}


def _iso(stamp: timestamp_pb2.Timestamp) -> str | None:
    return stamp.ToJsonString() if stamp.seconds or stamp.nanos else None


def _flag(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name, str(default)).lower()
    if raw not in ("true", "false"):
        raise bad_request(name, "must be True or False")
    return raw == "true"


def _number(request: web.Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name, str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
        raise bad_request(name, f"must be 1..{high}")
    return int(raw)


def run_request(body: dict[str, Any]) -> tuple[A.RunAgentRequest, str]:
    """An AgentStartRequest as RunAgent's request, and the vault it names; what Browserplane
    cannot honour is refused with the field named, what changes nothing here is accepted (both
    in the README)."""
    unknown = sorted(set(body) - START_FIELDS)
    if unknown:
        raise bad_request(unknown[0], "is not an AgentStartRequest field")
    task = typed(body, "task", str, "")
    if not task.strip():
        raise bad_request("task", "is required")
    if len(task) > MAX_TASK_CHARS:
        raise bad_request("task", f"must be at most {MAX_TASK_CHARS} characters")
    url = typed(body, "url", str, "")
    if url:
        check_http_url("url", url)
    max_steps = typed(body, "max_steps", int, 20)
    if not 1 <= max_steps <= MAX_STEPS:
        raise bad_request("max_steps", f"must be 1..{MAX_STEPS}")
    schema = typed(body, "response_format", dict, None)
    # The node's model runs every agent, and it reads the page as text and elements.
    typed(body, "reasoning_model", str, None)
    typed(body, "use_vision", bool, True)
    if typed(body, "session_offset", int, None) is not None:
        raise bad_request("session_offset", "is not supported: every agent starts with fresh memory")
    vault_id = typed(body, "vault_id", str, "")
    # The agent acts as the persona (its name and address in the prompt, read_email for its
    # inbox); the node answers NOT_FOUND for a persona of another project before any step.
    persona_id = typed(body, "persona_id", str, "")
    if typed(body, "notifier_config", dict, None) is not None:
        raise bad_request("notifier_config", "no notifier is offered here: poll GET /agents/{id}")
    session_id = typed(body, "session_id", str, "")
    if not session_id:
        raise bad_request("session_id", "is required (start a session with POST /sessions/start)")
    return A.RunAgentRequest(session_id=session_id, task=task, max_steps=max_steps, start_url=url,
                             json_schema=json.dumps(schema) if schema is not None else "",
                             persona_id=persona_id), vault_id


def _events(call: cp.Call) -> tuple[list[A.AgentStep], A.AgentResult | None]:
    steps, result = [], None
    for raw in call.events:
        try:
            event = A.AgentEvent.FromString(raw)
        except message.DecodeError:
            continue
        if event.HasField("step"):
            steps.append(event.step)
        elif event.HasField("result"):
            result = event.result
    return steps, result


def _request(call: cp.Call) -> A.RunAgentRequest:
    try:
        return A.RunAgentRequest.FromString(call.request)
    except message.DecodeError:
        return A.RunAgentRequest()


def notte_action(step: A.AgentStep) -> dict[str, Any]:
    """A step's action as the Notte action it amounts to."""
    kind, text = step.action, step.text
    target = {"selector": step.selector} if step.selector else {}
    if kind == "click":
        return {"type": "click", **target, "text_label": step.label or None}
    if kind == "type":
        return {"type": "fill", **target, "value": text}
    if kind in VAULT_FILLS:
        return {"type": "fill", **target, "value": VAULT_FILLS[kind]}
    if kind == "select":
        return {"type": "select_dropdown_option", **target, "value": text}
    if kind == "scroll":
        return {"type": "scroll_down", **target}
    if kind == "navigate":
        return {"type": "goto", "url": text}
    if kind == "back":
        return {"type": "go_back"}
    if kind == "wait":
        return {"type": "wait", "time_ms": 1000}
    if kind in ("done", "fail"):
        return {"type": "completion", "success": kind == "done", "answer": text}
    if kind == "ask_human":
        return {"type": "help", "reason": text}
    return {"type": kind or "none"}


def step_json(step: A.AgentStep) -> dict[str, Any]:
    return {"step": step.index, "action": notte_action(step), "reasoning": step.thought,
            "success": step.success, "message": step.message or None, "url": step.url,
            "timestamp": _iso(step.timestamp), "duration_ms": round(step.duration_ms)}


def agent_json(call: cp.Call) -> dict[str, Any]:
    running = call.state == cp.Call.RUNNING
    return {"agent_id": call.id, "created_at": _iso(call.created_at), "session_id": call.session_id,
            "status": "active" if running else "closed",
            "closed_at": None if running else _iso(call.finished_at), "saved": False}


def status_json(call: cp.Call) -> dict[str, Any]:
    body = agent_json(call)
    request = _request(call)
    steps, result = _events(call)
    body.update(task=request.task, url=request.start_url or None,
                max_steps=request.max_steps, steps=[step_json(s) for s in steps],
                success=None, answer=None, stopped_because=None, error=None)
    if result is not None:
        body["success"] = result.status == A.AgentResult.DONE
        body["answer"] = result.answer or result.message or None
        body["stopped_because"] = STOPPED_BECAUSE.get(result.status, "failed")
        if result.status == A.AgentResult.NEEDS_HUMAN:
            body["answer"] = f"needs a human: {result.answer or result.message}"
        if result.HasField("data"):  # the answer in the response_format's shape
            body["answer"] = json_format.MessageToJson(result.data, indent=None)
    elif call.state != cp.Call.RUNNING:
        body["success"] = False
        body["stopped_because"] = "stopped" if call.state == cp.Call.CANCELLED else "error"
        body["error"] = call.error_message or call.error_reason or "the agent failed"
        body["answer"] = body["error"]
    return body


def replay_actions(call: cp.Call) -> list[dict[str, Any]]:
    """The Notte actions that repeat the run: its start URL, then each successful step."""
    request = _request(call)
    actions = [{"type": "goto", "url": request.start_url}] if request.start_url else []
    for step in _events(call)[0]:
        action = notte_action(step)
        if step.success and action["type"] in REPLAYED:
            action.pop("text_label", None)
            actions.append(action)
    return actions


def _comment(text: str) -> str:
    """Text that stays inside a one-line comment (no newline, NUL or other control)."""
    return "".join(c if c.isprintable() else " " for c in text)


def workflow_code(call: cp.Call, vault_id: str, base_url: str) -> str:
    """A notte-sdk script of the run's successful steps."""
    request = _request(call)
    lines = [f"# Replays Browserplane agent {call.id}: the successful steps of its run.",
             *("# Task: " + _comment(line) for line in request.task.splitlines()[:20] or [""]),
             f"# Run with NOTTE_API_KEY set and NOTTE_API_URL={_comment(base_url)}",
             "from notte_sdk import NotteClient", "", "client = NotteClient()", ""]
    session_args = f"vault_id={vault_id!r}" if vault_id else ""
    lines.append(f"with client.Session({session_args}) as session:")
    body = []
    for action in replay_actions(call):
        if action["type"] == "fill" and action.get("value") == MASKED:
            body.append("    # a password was typed here; it is never recorded: put yours in")
            action = {**action, "value": "<password>"}
        elif action["type"] == "fill" and action.get("value") in VAULT_FILLS.values():
            body.append("    # filled from the session's vault (notte-core's placeholder)")
        args = ", ".join(f"{key}={value!r}" for key, value in action.items())
        body.append(f"    session.execute({args})")
    lines += body or ["    pass  # the run has no successful step to repeat"]
    return "\n".join(lines) + "\n"


class NotteAgents:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub) -> None:
        self.control = control

    def table(self) -> list[tuple[str, str, str, Any]]:
        return [
            ("POST", "/agents/start", "agent_start", self.start),
            ("GET", "/agents", "agent_list", self.list),
            ("GET", "/agents/", "agent_list", self.list),
            ("GET", "/agents/{agent}", "agent_status", self.status),
            ("DELETE", "/agents/{agent}/stop", "agent_stop", self.stop),
            ("GET", "/agents/{agent}/workflow/code", "agent_script", self.script),
        ]

    async def _call(self, request: web.Request, md: Any) -> cp.Call:
        agent_id = request.match_info["agent"]
        call = await self.control.GetCall(cp.GetCallRequest(id=agent_id), metadata=md, timeout=10)
        if call.method != METHOD:
            raise ApiError(404, "agent_not_found", f"no agent {agent_id!r}")
        return call

    async def start(self, request: web.Request, md: Any) -> web.StreamResponse:
        run, vault_id = run_request(await json_body(request, allow_empty=False))
        session = await self.control.GetSession(cp.GetSessionRequest(id=run.session_id),
                                                metadata=md, timeout=10)
        have = session.options.vault_id
        if vault_id and vault_id != have:
            raise bad_request("vault_id", "an agent uses its session's vault: start the session "
                              f"with vault_id={vault_id!r}" + (f" (this one has {have!r})"
                                                               if have else ""))
        # The node accepts the run before StartCall answers: no model configured, a bad schema
        # or an ended session is this request's error, and nothing is started or kept.
        call = await self.control.StartCall(cp.StartCallRequest(
            method=METHOD, request=run.SerializeToString()), metadata=md, timeout=60)
        return web.json_response(agent_json(call))

    async def list(self, request: web.Request, md: Any) -> web.StreamResponse:
        only_active = _flag(request, "only_active", False)
        page = _number(request, "page", 1, 100_000)
        size = _number(request, "page_size", 10, 100)
        calls = (await self.control.ListCalls(cp.ListCallsRequest(method=METHOD, summary=True),
                                              metadata=md, timeout=30)).calls
        if only_active:
            calls = [c for c in calls if c.state == cp.Call.RUNNING]
        start = (page - 1) * size
        return web.json_response([agent_json(c) for c in calls[start:start + size]])

    async def status(self, request: web.Request, md: Any) -> web.StreamResponse:
        return web.json_response(status_json(await self._call(request, md)))

    async def stop(self, request: web.Request, md: Any) -> web.StreamResponse:
        call = await self._call(request, md)
        wanted = request.query.get("session_id", "")
        if wanted and wanted != call.session_id:
            raise ApiError(404, "agent_not_found",
                           f"agent {call.id!r} does not run on session {wanted!r}")
        if call.state == cp.Call.RUNNING:
            call = await self.control.CancelCall(cp.GetCallRequest(id=call.id), metadata=md,
                                                 timeout=30)
        return web.json_response(agent_json(call))

    async def script(self, request: web.Request, md: Any) -> web.StreamResponse:
        _flag(request, "as_workflow", True)
        _flag(request, "infer_response_format", False)
        call = await self._call(request, md)
        try:
            session = await self.control.GetSession(cp.GetSessionRequest(id=call.session_id),
                                                    metadata=md, timeout=10)
            vault_id = session.options.vault_id
        except grpc.RpcError:  # a session long gone: the script names no vault
            vault_id = ""
        code = workflow_code(call, vault_id, public_base(request))
        return web.json_response({"code": code, "python_script": code,
                                  "json_actions": replay_actions(call)})
