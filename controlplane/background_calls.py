"""Automation calls that run in the background on a caller's behalf (StartCall, GetCall...).

A model-backed question or an agent run can take minutes; an HTTP client (Airtop's async
requests, Notte's agents) wants an id at once and the outcome later. The gateway is stateless,
so the control plane holds the call: it routes it to the session's node exactly as the
Automation router does (same checks), keeps the answer (or each streamed event) and forgets it
an hour after it ends. Calls are memory only: a control-plane restart loses the ones in flight,
which then read as not found; except RunAgent calls (an agent's status must outlive its session,
the hour and a restart): those are also written to the store, sealed, as they start, after each
step and when they end, the newest MAX_STORED per project. One a restart interrupted reads as
failed.

A streaming call (RunAgent) is started only once the node has accepted it (its stream's headers
came): a refusal (no model configured, a bad request) is StartCall's own error and leaves no
call behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid

import grpc
from google.protobuf import message_factory

from browserplane import errors
from browserplane.errors import BrowserplaneError
from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2 as cp
from controlplane.automation_router import PREFIX, SERVICE, AutomationRouter
from controlplane.keys import Principal
from controlplane.store import Store

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600.0      # how long a finished call can be read
CALL_DEADLINE_S = 30 * 60  # no background call runs longer
MAX_RUNNING = 20           # per project, at once
MAX_KEPT = 500             # per project; the oldest finished calls go first
MAX_REQUEST_BYTES = 1 << 20
MAX_ANSWER_BYTES = 16 << 20  # a full-page screenshot fits; a call answering more fails
MAX_EVENTS = 1000
# Streaming methods whose messages are small enough to keep (ReadFile's chunks are not).
STREAMS = {"RunAgent"}
DURABLE = {"RunAgent"}     # calls kept in the store, past the hour and a restart
MAX_STORED = 200           # per project; the oldest stored calls go first
ACCEPT_TIMEOUT_S = 30      # how long StartCall waits for a stream's node to accept it
INTERRUPTED = "CALL_INTERRUPTED"


@dataclasses.dataclass
class _Call:
    record: cp.Call
    project_id: str
    task: asyncio.Task | None = None
    ended: float = 0.0  # monotonic, 0 while running


class BackgroundCalls:
    def __init__(self, router: AutomationRouter, store: Store | None = None) -> None:
        self.router = router
        self.store = store
        self.calls: dict[str, _Call] = {}
        self.closing = False
        if store is not None:
            for project_id, record in store.calls(None, state=cp.Call.RUNNING):
                # Its stream to the node broke with the old process, which stopped the run.
                _interrupted(record, "the control plane restarted while the call ran")
                record.finished_at.CopyFrom(timestamp(time.time()))
                store.save_call(record, project_id)

    async def start(self, principal: Principal, request: cp.StartCallRequest) -> cp.Call:
        if principal.project_id is None:
            raise errors.invalid("x-browserplane-project",
                                 "a cluster caller must name the project it calls for")
        method = SERVICE.methods_by_name.get(request.method)
        if method is None or method.client_streaming or (
                method.server_streaming and request.method not in STREAMS):
            runnable = sorted(m.name for m in SERVICE.methods if not m.client_streaming
                              and (not m.server_streaming or m.name in STREAMS))
            raise errors.invalid("method", f"must be an Automation method that runs in the "
                                 f"background: {', '.join(runnable)}")
        if len(request.request) > MAX_REQUEST_BYTES:
            raise errors.too_large("request", f"at most {MAX_REQUEST_BYTES} bytes")
        if len(request.client_request_id) > 200:
            raise errors.invalid("client_request_id", "at most 200 characters")
        try:
            parsed = message_factory.GetMessageClass(method.input_type).FromString(request.request)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise errors.invalid("request", f"is not a serialized {method.input_type.name}") from None
        if not parsed.session_id:
            raise errors.invalid("request.session_id", "is required")
        self._forget_old()
        mine = [c for c in self.calls.values() if c.project_id == principal.project_id]
        if sum(1 for c in mine if not c.ended) >= MAX_RUNNING:
            raise BrowserplaneError(grpc.StatusCode.RESOURCE_EXHAUSTED, errors.PROJECT_CONCURRENCY_LIMIT,
                                    f"at most {MAX_RUNNING} background calls run at once per project",
                                    retry_after=2)
        # The session's checks (visible to this project, running, its node up) answer now,
        # not as a failed call later.
        channel, md = self.router.target(principal, parsed.session_id)
        record = cp.Call(id=f"call_{uuid.uuid4().hex}", session_id=parsed.session_id,
                         method=request.method, state=cp.Call.RUNNING, request=request.request,
                         client_request_id=request.client_request_id, created_at=timestamp(time.time()))
        stream = None
        if method.server_streaming:
            stream = channel.unary_stream(PREFIX + request.method)(
                request.request, metadata=md, timeout=CALL_DEADLINE_S)
            await _accepted(stream)
        call = _Call(record, principal.project_id)
        self.calls[record.id] = call
        self._save(call, new=True)
        call.task = asyncio.get_running_loop().create_task(
            self._run(call, channel, md, request.request, stream))
        if len(mine) >= MAX_KEPT:
            finished = sorted((c for c in mine if c.ended), key=lambda c: c.ended)
            for old in finished[:len(mine) - MAX_KEPT + 1]:
                self.calls.pop(old.record.id, None)
        return _copy(record)

    def _save(self, call: _Call, new: bool = False) -> None:
        if self.store is None or call.record.method not in DURABLE:
            return
        self.store.save_call(call.record, call.project_id)
        if new:
            self.store.prune_calls(call.project_id, MAX_STORED)

    async def _run(self, call: _Call, channel: grpc.aio.Channel, md: tuple, raw: bytes,
                   stream: grpc.aio.UnaryStreamCall | None) -> None:
        path = PREFIX + call.record.method
        record = call.record
        try:
            if stream is not None:
                size = 0
                async for item in stream:
                    size += len(item)
                    if len(record.events) >= MAX_EVENTS or size > MAX_ANSWER_BYTES:
                        raise BrowserplaneError(grpc.StatusCode.RESOURCE_EXHAUSTED, errors.PAYLOAD_TOO_LARGE,
                                                f"the call streamed more than {MAX_EVENTS} events "
                                                f"or {MAX_ANSWER_BYTES} bytes")
                    record.events.append(item)
                    self._save(call)  # each agent step is kept as it ends
            else:
                answer = await channel.unary_unary(path)(raw, metadata=md, timeout=CALL_DEADLINE_S)
                if len(answer) > MAX_ANSWER_BYTES:
                    raise BrowserplaneError(grpc.StatusCode.RESOURCE_EXHAUSTED, errors.PAYLOAD_TOO_LARGE,
                                            f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
                record.response = answer
                self.router.keep_answer(path, raw, answer)  # a screenshot is an artifact
            record.state = cp.Call.COMPLETED
        except asyncio.CancelledError:
            if self.closing:  # no caller asked: the plane is going away
                _interrupted(record, "the control plane stopped while the call ran")
            else:
                record.state = cp.Call.CANCELLED
                record.error_code = grpc.StatusCode.CANCELLED.name
                record.error_reason = "CANCELLED"
                record.error_message = "the call was cancelled"
        except grpc.aio.AioRpcError as err:
            described = errors.describe(err)
            record.state = cp.Call.FAILED
            record.error_code, record.error_reason = described.code.name, described.reason
            record.error_message = described.message
        except BrowserplaneError as err:
            record.state = cp.Call.FAILED
            record.error_code, record.error_reason, record.error_message = (
                err.code.name, err.reason, str(err))
        except Exception as err:  # noqa: BLE001 - a call's failure is its outcome, not the plane's
            log.exception("background call failed", extra={"fields": {"call": record.id}})
            record.state = cp.Call.FAILED
            record.error_code, record.error_reason = grpc.StatusCode.INTERNAL.name, errors.INTERNAL
            record.error_message = f"the call failed: {type(err).__name__}"
        finally:
            record.finished_at.CopyFrom(timestamp(time.time()))
            call.ended = time.monotonic()
            call.task = None
            try:
                self._save(call)
            except Exception:  # noqa: BLE001 - the call's outcome stays readable from memory
                log.exception("could not store a finished call", extra={"fields": {"call": record.id}})

    def _find(self, principal: Principal, call_id: str) -> _Call:
        call = self.calls.get(call_id)
        if call is None and self.store is not None:
            stored = self.store.call(call_id)
            if stored is not None:  # ended, and forgotten here or before a restart
                call = _Call(stored[1], stored[0], ended=1.0)
        if call is None or principal.project_id not in (None, call.project_id):
            raise errors.not_found(errors.CALL_NOT_FOUND, "call", call_id)
        return call

    def get(self, principal: Principal, call_id: str) -> cp.Call:
        return _copy(self._find(principal, call_id).record)

    def list(self, principal: Principal, request: cp.ListCallsRequest) -> list[cp.Call]:
        """Newest first."""
        self._forget_old()
        found = {i: c.record for i, c in self.calls.items()
                 if principal.project_id in (None, c.project_id)
                 and (not request.session_id or c.record.session_id == request.session_id)
                 and (not request.method or c.record.method == request.method)}
        if self.store is not None and (not request.method or request.method in DURABLE):
            for _, record in self.store.calls(principal.project_id, request.session_id,
                                              request.method):
                found.setdefault(record.id, record)  # memory has the newest events
        ordered = sorted(found.values(), key=lambda r: (r.created_at.seconds, r.created_at.nanos),
                         reverse=True)
        return [_copy(r, request.summary) for r in ordered]

    async def cancel(self, principal: Principal, call_id: str) -> cp.Call:
        call = self._find(principal, call_id)
        task = call.task
        if task is not None:
            task.cancel()  # the node sees its call cancelled; _run records CANCELLED
            await asyncio.wait([task], timeout=5)
        return _copy(call.record)

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - KEEP_SECONDS
        for call_id in [i for i, c in self.calls.items() if c.ended and c.ended < cutoff]:
            del self.calls[call_id]

    async def close(self) -> None:
        self.closing = True
        tasks = [c.task for c in self.calls.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _interrupted(record: cp.Call, message: str) -> None:
    record.state = cp.Call.FAILED
    record.error_code, record.error_reason = grpc.StatusCode.UNAVAILABLE.name, INTERRUPTED
    record.error_message = message


async def _accepted(stream: grpc.aio.UnaryStreamCall) -> None:
    """Returns once the node has accepted a streaming call (its headers came), or raises the
    node's refusal as it was. A node slow to answer is not waited on past ACCEPT_TIMEOUT_S: the
    call's outcome tells the rest."""
    try:
        # Shielded: giving up waiting must not cancel the call itself.
        await asyncio.wait_for(asyncio.shield(stream.initial_metadata()), ACCEPT_TIMEOUT_S)
    except TimeoutError:
        return
    if not stream.done():
        return
    try:
        await stream.read()
    except grpc.aio.AioRpcError as err:
        described = errors.describe(err)
        raise BrowserplaneError(described.code, described.reason, described.message,
                                metadata=described.metadata,
                                retry_after=described.retry_after) from None


def _copy(record: cp.Call, summary: bool = False) -> cp.Call:
    out = cp.Call()
    out.CopyFrom(record)
    if summary:
        out.ClearField("request")
        out.ClearField("response")
        out.ClearField("events")
    return out
