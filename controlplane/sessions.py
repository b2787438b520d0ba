"""Sessions' lifecycle: create (place, queue, start), read, update, end; node reports; timeouts.

The in-memory map holds live sessions (PENDING, RUNNING) and is the working copy; every state
change is written to the store before it is answered, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection

import grpc

from browserplane import errors
from browserplane.credentials import (
    check_cdp_token,
    check_live_view_token,
    cluster_metadata,
    issue_cdp_token,
    issue_live_view_token,
)
from browserplane.errors import BrowserplaneError, not_found
from browserplane.times import seconds, timestamp
from browserplane.v1 import controlplane_pb2, node_pb2, session_pb2
from controlplane import metrics
from controlplane.keys import Principal
from controlplane.leases import NodeRegistry
from controlplane.profile_cookies import ProfileCookieStore
from controlplane.scheduler import NodeView, WaitQueue, can_ever_match, pick_node
from controlplane.store import Store
from controlplane.validation import validate_options

log = logging.getLogger(__name__)
S = session_pb2
LIVE = (S.PENDING, S.RUNNING)
STATE_NAMES = {S.PENDING: "pending", S.RUNNING: "running", S.COMPLETED: "completed",
               S.TIMED_OUT: "timed_out", S.FAILED: "failed"}


@dataclasses.dataclass
class SessionPolicy:
    idle_timeout: int = 300
    max_duration: int = 3600
    queue_timeout: float = 30.0
    queue_size: int = 64
    start_timeout: float = 60.0
    idempotency_seconds: float = 24 * 3600
    live_view_token_seconds: int = 600
    project_max_sessions: int = 50  # live sessions per project unless it sets its own; 0 = no cap


class SessionService:
    def __init__(self, store: Store, registry: NodeRegistry, policy: SessionPolicy,
                 cluster_secret: str) -> None:
        self.store = store
        self.registry = registry
        self.policy = policy
        self.secret = cluster_secret
        # Live sessions by id; added and removed only through _add_live/_pop_live, and a live
        # session's node_id changed only through _set_node, which keep the counts below true.
        self.live: dict[str, session_pb2.Session] = {}
        # Live sessions per node: placement reads it on every create, and counting it from
        # `live` each time would cost a scan of every live session per placement.
        self._per_node: dict[str, int] = {}
        self._per_project: dict[str, int] = {}  # live sessions per project, for its limit
        self.had_client: set[str] = set()
        self.queue = WaitQueue(policy.queue_size, metrics.QUEUE_DEPTH.set)
        self._watchers: list[tuple[Principal, str, asyncio.Queue]] = []
        self._tasks: set[asyncio.Task] = set()
        self._profile_saves: dict[str, asyncio.Task] = {}
        self._stops: dict[str, asyncio.Task] = {}  # session id -> its browser being stopped
        self.profile_cookies: ProfileCookieStore | None = None  # set by the control plane
        for state in LIVE:  # counted when /metrics is read, not on every change
            metrics.SESSIONS.labels(STATE_NAMES[state]).set_function(
                lambda state=state: self._count_state(state))

    # -- start-up ------------------------------------------------------------------------

    def recover(self) -> None:
        """Reloads live sessions after a restart. Creations cut short by the restart failed;
        running ones wait for their node to report them (see `node_registered`)."""
        self.registry.load(self.store.nodes())
        for s in self.store.live_sessions():
            if s.state == S.PENDING:
                self._finish(s, S.FAILED, S.LAUNCH_FAILED, "control plane restarted while starting")
            else:
                self._add_live(s)

    # -- helpers -------------------------------------------------------------------------

    def _add_live(self, s: session_pb2.Session) -> None:
        self._pop_live(s.id)
        self.live[s.id] = s
        self._per_project[s.project_id] = self._per_project.get(s.project_id, 0) + 1
        if s.node_id:
            self._per_node[s.node_id] = self._per_node.get(s.node_id, 0) + 1

    def _pop_live(self, session_id: str) -> session_pb2.Session | None:
        s = self.live.pop(session_id, None)
        if s is not None:
            _decrement(self._per_project, s.project_id)
            if s.node_id:
                _decrement(self._per_node, s.node_id)
        return s

    def _set_node(self, s: session_pb2.Session, node_id: str) -> None:
        if self.live.get(s.id) is s:
            if s.node_id:
                _decrement(self._per_node, s.node_id)
            if node_id:
                self._per_node[node_id] = self._per_node.get(node_id, 0) + 1
        s.node_id = node_id

    def _count_state(self, state: int) -> int:
        # A copy first: /metrics is served from another thread (the copy is one step under
        # the GIL, iterating the dict while the loop changes it is not).
        return sum(1 for s in list(self.live.values()) if s.state == state)

    def _assigned(self, project_id: str | None = None) -> dict[str, int]:
        """Live sessions per node (only `project_id`'s when given)."""
        if project_id is None:
            return dict(self._per_node)
        counts: dict[str, int] = {}
        for s in self.live.values():
            if s.node_id and project_id in (None, s.project_id):
                counts[s.node_id] = counts.get(s.node_id, 0) + 1
        return counts

    def queued(self) -> list[session_pb2.Session]:
        """Sessions waiting for a node, oldest first (the queue serves them in that order),
        without their tokens."""
        out = []
        for s in self.live.values():  # insertion order is creation order
            if s.state == S.PENDING and not s.node_id:
                copy = session_pb2.Session()
                copy.CopyFrom(s)
                copy.ClearField("cdp_token")
                copy.ClearField("live_view_token")
                out.append(copy)
        return out

    def _views(self) -> list[NodeView]:
        return self.registry.views(self._assigned())

    def _place(self, selector: dict[str, str], exclude: Collection[str] = ()) -> NodeView | None:
        """Picks a node (not one in `exclude`) and reserves a slot on it."""
        views = self._views()
        if exclude:
            views = [v for v in views if v.id not in exclude]
        node = pick_node(views, selector)
        if node is not None:
            self.registry.nodes[node.id].reserved += 1
        return node

    def dispatch(self) -> None:
        """Room may have appeared: give it to queued creates."""
        if len(self.queue):
            self.queue.dispatch(self._place)

    def _publish(self, kind: int, s: session_pb2.Session) -> None:
        for principal, session_id, queue in self._watchers:
            if principal.project_id not in (None, s.project_id):
                continue
            if session_id and session_id != s.id:
                continue
            event = controlplane_pb2.SessionEvent(kind=kind)
            event.session.CopyFrom(s)
            event.session.ClearField("cdp_token")
            queue.put_nowait(event)

    def _spawn(self, coro: object) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def with_url(self, s: session_pb2.Session, cdp_base_url: str = "") -> session_pb2.Session:
        """A copy carrying the CDP URL (node relay, or the caller's public base) when running."""
        out = session_pb2.Session()
        out.CopyFrom(s)
        if s.state == S.RUNNING and s.cdp_token:
            base = cdp_base_url.rstrip("/")
            if not base:
                entry = self.registry.nodes.get(s.node_id)
                # With TLS configured, nodes' CDP relays serve TLS too.
                scheme = "wss" if self.registry.tls.enabled else "ws"
                base = f"{scheme}://{entry.info.relay_address}" if entry else ""
            if base:
                out.cdp_url = f"{base}/session/{s.id}/devtools/browser?token={s.cdp_token}"
            # Minted per answer, never stored: a link handed out expires on its own.
            expires = min(time.time() + self.policy.live_view_token_seconds,
                          seconds(s.expires_at) + 60)
            out.live_view_token = issue_live_view_token(self.secret, s.id, s.project_id, expires)
        else:
            out.cdp_token = ""
        if s.started_at.seconds:
            end = seconds(s.ended_at) if s.ended_at.seconds else time.time()
            out.browser_seconds = max(0.0, end - seconds(s.started_at))
        return out

    def _visible(self, principal: Principal, session_id: str) -> session_pb2.Session:
        s = self.live.get(session_id) or self.store.session(session_id)
        if s is None or principal.project_id not in (None, s.project_id):
            raise not_found(errors.SESSION_NOT_FOUND, "session", session_id)
        return s

    # -- create --------------------------------------------------------------------------

    async def create(self, principal: Principal, request: controlplane_pb2.CreateSessionRequest,
                     time_left: float | None = None,
                     on_started: Callable[[session_pb2.Session], None] | None = None,
                     ) -> session_pb2.Session:
        """`time_left` is the caller's remaining deadline: queueing ends a second before it, so
        the caller hears RESOURCE_EXHAUSTED with a retry hint rather than DEADLINE_EXCEEDED
        (with start_in_background the answer comes at once and the queue timeout applies).
        `on_started` runs once the browser runs."""
        if principal.project_id is None:
            raise errors.invalid("x-browserplane-project",
                                 "a cluster caller must name the project it creates for")
        started = time.monotonic()
        options = request.options
        validate_options(options)
        self._check_references(principal.project_id, options)
        if request.idempotency_key:
            earlier = self.store.idempotent_session(principal.project_id, request.idempotency_key,
                                                    self.policy.idempotency_seconds)
            if earlier:
                s = self.live.get(earlier) or self.store.session(earlier)
                if s is not None:
                    return s
        self._check_project_limit(principal.project_id)
        now = time.time()
        s = S.Session(
            id=str(uuid.uuid4()), project_id=principal.project_id, state=S.PENDING,
            options=options, created_at=timestamp(now), updated_at=timestamp(now),
            last_activity_at=timestamp(now),
            idle_timeout_seconds=options.idle_timeout_seconds or self.policy.idle_timeout,
            max_duration_seconds=options.max_duration_seconds or self.policy.max_duration,
        )
        self._add_live(s)
        queue_timeout = request.queue_timeout_seconds or self.policy.queue_timeout
        if time_left is not None and not request.start_in_background:
            queue_timeout = max(0.0, min(queue_timeout, time_left - 1.0))
        starting = asyncio.get_running_loop().create_task(self._start(s, queue_timeout))
        if request.start_in_background:
            # One turn of the loop runs _start up to its first wait: the node is picked by
            # then (or the create queued), and what is refused at once (no matching node)
            # still fails this call with nothing left behind.
            await asyncio.sleep(0)
            if not starting.done():
                self.store.save_session(s)  # listed now; a restart fails it rather than lose it
                if request.idempotency_key:
                    self.store.remember_idempotency(s.project_id, request.idempotency_key, s.id)
                self._spawn(self._start_behind(s, starting, started, on_started))
                return s
        try:
            await starting
        except BaseException as err:
            self._start_failed(s, err)
            raise
        if request.idempotency_key:
            self.store.remember_idempotency(s.project_id, request.idempotency_key, s.id)
        metrics.CREATE_SECONDS.labels("warm" if s.warm else "cold").observe(
            time.monotonic() - started)
        if on_started is not None:
            on_started(s)
        return s

    def _start_failed(self, s: session_pb2.Session, err: BaseException) -> None:
        self._pop_live(s.id)
        if isinstance(err, BrowserplaneError) and err.reason == errors.BROWSER_LAUNCH_FAILED:
            # A session that really failed to launch stays on record, FAILED with the reason.
            self._finish(s, S.FAILED, S.LAUNCH_FAILED, err.message)
        if isinstance(err, BrowserplaneError):
            metrics.REJECTED.labels(err.reason).inc()
        self.dispatch()

    async def _start_behind(self, s: session_pb2.Session, starting: asyncio.Task, since: float,
                            on_started: Callable[[session_pb2.Session], None] | None) -> None:
        """A create answered before its browser ran: any failure from here on is the session's
        state (FAILED, end_reason), since no caller is waiting to hear it."""
        try:
            await starting
        except BaseException as err:  # noqa: BLE001 - every failure must end up on record
            if s.state in LIVE and self.live.get(s.id) is s:
                self._start_failed(s, err)
                if s.state in LIVE:
                    message = err.message if isinstance(err, BrowserplaneError) else repr(err)
                    self._finish(s, S.FAILED, S.LAUNCH_FAILED,
                                 f"the browser did not start: {message}")
            else:  # terminated while it started: its end is already on record
                self.dispatch()
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        metrics.CREATE_SECONDS.labels("warm" if s.warm else "cold").observe(
            time.monotonic() - since)
        if on_started is not None:
            on_started(s)

    def _check_references(self, project_id: str, options: session_pb2.SessionOptions) -> None:
        if options.HasField("profile"):
            self._check_profile(project_id, options.profile.profile_id, "options.profile.profile_id")
        for i, ext_id in enumerate(options.extension_ids):
            ext = self.store.extension(ext_id)
            if ext is None or ext.project_id != project_id:
                raise BrowserplaneError(
                    grpc.StatusCode.INVALID_ARGUMENT, errors.EXTENSION_NOT_FOUND,
                    f"options.extension_ids[{i}]: extension {ext_id!r} not found",
                    metadata={"field": f"options.extension_ids[{i}]"})

    def _check_profile(self, project_id: str, profile_id: str, field: str) -> None:
        profile = self.store.profile(profile_id)
        if profile is None or profile.project_id != project_id:
            raise BrowserplaneError(grpc.StatusCode.INVALID_ARGUMENT, errors.PROFILE_NOT_FOUND,
                                    f"{field}: profile {profile_id!r} not found",
                                    metadata={"field": field})

    def _check_project_limit(self, project_id: str) -> None:
        project = self.store.project(project_id)
        limit = (project.max_concurrent_sessions if project else 0) or \
            self.policy.project_max_sessions
        if limit:
            running = self._per_project.get(project_id, 0)
            if running >= limit:
                raise BrowserplaneError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, errors.PROJECT_CONCURRENCY_LIMIT,
                    f"project allows {limit} concurrent sessions ({running} are live); end "
                    "one or ask the operator for a higher limit", retry_after=5,
                    metadata={"limit": str(limit)})

    async def _start(self, s: session_pb2.Session, queue_timeout: float) -> None:
        if s.options.HasField("profile"):
            # A session that persisted into this profile may still be saving it: load the
            # newest state, not the one before.
            saving = self._profile_saves.get(s.options.profile.profile_id)
            if saving is not None and not saving.done():
                await asyncio.wait([saving], timeout=120)
        selector = dict(s.options.node_selector)
        tried: set[str] = set()
        while True:
            # Not a node that just refused: it would stay the least loaded on our books, be
            # picked again and refuse again.
            node = self._place(selector, tried)
            if node is None:
                if not can_ever_match(self._views(), selector):
                    raise BrowserplaneError(
                        grpc.StatusCode.FAILED_PRECONDITION, errors.NO_MATCHING_NODE,
                        "no registered node matches options.node_selector"
                        if selector else "no node is registered",
                        metadata={"field": "options.node_selector"})
                node = await self.queue.wait(selector, queue_timeout)
            entry = self.registry.nodes[node.id]
            entry.reserved -= 1
            self._set_node(s, node.id)
            start = node_pb2.StartBrowserRequest(session_id=s.id, project_id=s.project_id,
                                                 options=s.options)
            if s.options.HasField("profile") and self.profile_cookies is not None:
                pending = self.profile_cookies.pending(s.options.profile.profile_id)
                if pending is not None:
                    start.set_profile_cookies = True
                    start.profile_cookies.extend(pending)
            try:
                answer = await entry.agent.StartBrowser(
                    start,
                    metadata=cluster_metadata(self.secret), timeout=self.policy.start_timeout)
            except grpc.aio.AioRpcError as err:
                self._set_node(s, "")
                described = errors.describe(err)
                if err.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE) \
                        and described.reason != errors.BROWSER_LAUNCH_FAILED \
                        and node.id not in tried:
                    tried.add(node.id)  # that node was full or unreachable: try another
                    log.warning("node refused a session", extra={"session_id": s.id, "fields": {
                        "node": node.id, "code": err.code().name}})
                    continue
                if err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
                    # The session asks for something no node will do (a proxy the egress policy
                    # refuses): the caller's error, with the node's reason, not an outage.
                    raise BrowserplaneError(err.code(), described.reason, described.message,
                                            metadata=dict(described.metadata)) from None
                metrics.LAUNCH_FAILURES.labels(node.id).inc()
                raise BrowserplaneError(
                    grpc.StatusCode.UNAVAILABLE, errors.BROWSER_LAUNCH_FAILED,
                    f"browser did not start on node {node.id}: {described.message}") from None
            break
        if self.live.get(s.id) is not s:  # terminated while starting
            self._spawn(self._stop_browser(s.node_id, s.id))
            raise BrowserplaneError(grpc.StatusCode.ABORTED, errors.SESSION_ENDED,
                                    "session was terminated while starting")
        now = time.time()
        browser = answer.browser
        s.state = S.RUNNING
        s.warm = browser.warm
        s.browser_version = browser.version
        s.user_agent = browser.user_agent
        s.started_at.CopyFrom(timestamp(now))
        s.updated_at.CopyFrom(timestamp(now))
        s.last_activity_at.CopyFrom(timestamp(now))
        s.expires_at.CopyFrom(timestamp(now + s.max_duration_seconds))
        s.cdp_token = issue_cdp_token(self.secret, s.id, s.project_id, now + s.max_duration_seconds + 60)
        self.store.save_session(s)
        self._publish(controlplane_pb2.SessionEvent.STARTED, s)

    # -- read and change -----------------------------------------------------------------

    def get(self, principal: Principal, session_id: str) -> session_pb2.Session:
        # Reading a session's status is not activity: a dashboard polling every session
        # would otherwise keep all of them alive. Calls that use it (automation, updates,
        # TouchSession) reset the idle timer.
        return self._visible(principal, session_id)

    def touch(self, s: session_pb2.Session) -> None:
        if s.state == S.RUNNING and s.id in self.live:
            s.last_activity_at.CopyFrom(timestamp(time.time()))

    def list(self, principal: Principal, request: controlplane_pb2.ListSessionsRequest,
             ) -> tuple[list[session_pb2.Session], str, int]:
        size = request.page_size or 100
        if size > 1000:
            raise errors.invalid("page_size", "must be at most 1000")
        before = None
        if request.page_token:
            try:
                created, _, last_id = request.page_token.partition("/")
                before = (float(created), last_id)
            except ValueError:
                raise errors.invalid("page_token", "not a token this server issued") from None
        states = list(request.states)
        filters = dict(request.metadata_filter)
        out: list[session_pb2.Session] = []
        while len(out) < size:
            batch = self.store.list_sessions(principal.project_id, states, before, size * 2)
            if not batch:
                break
            for s in batch:
                s = self.live.get(s.id, s)
                if filters and not _metadata_matches(s, filters):
                    continue
                out.append(s)
                if len(out) == size:
                    break
            before = (seconds(batch[-1].created_at), batch[-1].id)
            if len(batch) < size * 2:
                break
        token = ""
        if len(out) == size:
            last = out[-1]
            token = f"{seconds(last.created_at)!r}/{last.id}"
        # Sessions are written once they run (background creates as they are answered), so
        # blocking creates still queued or starting are not listed yet (GetSession finds them
        # by id from the live map).
        total = self.store.count_sessions(principal.project_id, states) if not filters else len(out)
        return out, token, total

    def update(self, principal: Principal,
               request: controlplane_pb2.UpdateSessionRequest) -> session_pb2.Session:
        s = self._visible(principal, request.id)
        if request.HasField("save_profile"):
            # Checked and recorded before a release in the same request, so that release saves.
            if s.state not in LIVE:
                raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.SESSION_ENDED,
                                        f"session {s.id} has ended ({STATE_NAMES[s.state]}); "
                                        "its browser state is gone and cannot be saved")
            self._check_profile(s.project_id, request.save_profile.profile_id,
                                "save_profile.profile_id")
            s.save_profile_id = request.save_profile.profile_id
        if request.request_release:
            return self.end(s, S.COMPLETED, S.REQUESTED, "release requested")
        if s.state not in LIVE:
            raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.SESSION_ENDED,
                                    f"session {s.id} has ended ({STATE_NAMES[s.state]})")
        if request.HasField("keep_alive"):
            s.options.keep_alive = request.keep_alive
        for key, value in request.labels.items():
            s.options.labels[key] = value
        s.updated_at.CopyFrom(timestamp(time.time()))
        self.touch(s)
        if s.state == S.RUNNING:
            self.store.save_session(s)
        self._publish(controlplane_pb2.SessionEvent.UPDATED, s)
        return s

    def terminate(self, principal: Principal, session_id: str, reason: str) -> session_pb2.Session:
        s = self._visible(principal, session_id)
        return self.end(s, S.COMPLETED, S.REQUESTED, reason or "terminated on request")

    def resolve(self, session_id: str, token: str, live_view: bool = False,
                ) -> tuple[session_pb2.Session, str]:
        """The running session a token opens, and its node's relay. `live_view`: the token
        must be a live-view token (else a CDP token); neither kind passes for the other."""
        s = self.live.get(session_id)
        if s is None or s.state != S.RUNNING:
            ended = s or self.store.session(session_id)
            if ended is None:
                raise not_found(errors.SESSION_NOT_FOUND, "session", session_id)
            raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.SESSION_ENDED,
                                    f"session {session_id} is not running")
        check = (check_live_view_token if live_view else check_cdp_token)(
            self.secret, token, s.id, s.project_id)
        if not check.ok:
            raise BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.TOKEN_INVALID,
                                    check.reason)
        entry = self.registry.nodes.get(s.node_id)
        if entry is None or not entry.info.up:
            raise BrowserplaneError(grpc.StatusCode.UNAVAILABLE, errors.NODE_UNAVAILABLE,
                                    f"node {s.node_id} of session {s.id} is down")
        return s, entry.info.relay_address

    async def watch(self, principal: Principal, session_id: str,
                    ) -> AsyncIterator[controlplane_pb2.SessionEvent]:
        queue: asyncio.Queue = asyncio.Queue(maxsize=10_000)
        item = (principal, session_id, queue)
        self._watchers.append(item)
        try:
            while True:
                yield await queue.get()
        finally:
            self._watchers.remove(item)

    # -- ending --------------------------------------------------------------------------

    def end(self, s: session_pb2.Session, state: int, cause: int, reason: str,
            stop_browser: bool = True) -> session_pb2.Session:
        """Ends a live session (idempotent for ended ones) and stops its browser."""
        if s.state not in LIVE:
            return s
        self._pop_live(s.id)
        self.had_client.discard(s.id)
        node_id = s.node_id
        self._finish(s, state, cause, reason)
        if stop_browser and node_id:
            target = save_target(s)
            task = self._spawn(self._stop_browser(node_id, s.id, profile_id=target))
            if target:  # a session that loads it waits for this save
                self._profile_saves[target] = task
            self._stops[s.id] = task
            task.add_done_callback(lambda _, sid=s.id: self._stops.pop(sid, None))
        self.dispatch()
        return s

    def _finish(self, s: session_pb2.Session, state: int, cause: int, reason: str) -> None:
        now = time.time()
        s.state = state
        s.end_cause = cause
        s.end_reason = reason
        s.connected_clients = 0
        s.ended_at.CopyFrom(timestamp(now))
        s.updated_at.CopyFrom(timestamp(now))
        self.store.save_session(s)
        metrics.SESSIONS_ENDED.labels(STATE_NAMES[state], S.EndCause.Name(cause).lower()).inc()
        log.info("session ended", extra={"session_id": s.id, "fields": {
            "state": STATE_NAMES[state], "cause": S.EndCause.Name(cause), "reason": reason}})
        self._publish(controlplane_pb2.SessionEvent.ENDED, s)

    async def stopped(self, session_id: str, timeout: float = 60) -> None:
        """Returns once the session's browser has been stopped (and its node has archived what
        it downloaded), or at the timeout."""
        task = self._stops.get(session_id)
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=timeout)

    async def _stop_browser(self, node_id: str, session_id: str, profile_id: str = "") -> None:
        """Stops a session's browser; with profile_id, its state is saved into that profile."""
        entry = self.registry.nodes.get(node_id)
        if entry is None or not entry.info.up:
            return
        try:
            await entry.agent.StopBrowser(
                node_pb2.StopBrowserRequest(session_id=session_id, save_profile=bool(profile_id),
                                            profile_id=profile_id),
                metadata=cluster_metadata(self.secret), timeout=120 if profile_id else 60)
        except grpc.aio.AioRpcError as err:
            # The next heartbeat reports it again and is told to stop it.
            log.warning("StopBrowser failed", extra={"session_id": session_id,
                                                     "fields": {"code": err.code().name}})

    # -- nodes' reports ------------------------------------------------------------------

    def node_registered(self, node_id: str,
                        reports: list[controlplane_pb2.NodeSessionReport]) -> list[str]:
        """Reconciles after either side restarted; returns browsers the node must stop."""
        reported = {r.session_id for r in reports}
        for s in list(self.live.values()):
            if s.node_id == node_id and s.state == S.RUNNING and s.id not in reported:
                self.end(s, S.FAILED, S.BROWSER_EXITED,
                         f"node {node_id} restarted and no longer runs this browser",
                         stop_browser=False)
        stop = self.apply_reports(node_id, reports)
        self.dispatch()
        return stop

    def apply_reports(self, node_id: str,
                      reports: list[controlplane_pb2.NodeSessionReport]) -> list[str]:
        stop = []
        for r in reports:
            s = self.live.get(r.session_id)
            if s is None or s.node_id != node_id:
                # A browser whose StopBrowser is on its way is not the node's to stop on its own:
                # that stop saves the profile and hands the downloads over, a heartbeat's does not.
                if (s is None or s.state != S.PENDING) and r.session_id not in self._stops:
                    stop.append(r.session_id)
                continue
            if s.state != S.RUNNING:
                continue
            if not r.alive:
                self.end(s, S.FAILED, S.BROWSER_EXITED, r.exit_reason or "browser exited")
                continue
            s.connected_clients = r.connected_clients
            if seconds(r.last_activity_at) > seconds(s.last_activity_at):
                s.last_activity_at.CopyFrom(r.last_activity_at)
            if r.connected_clients or r.total_connections:
                self.had_client.add(s.id)
            if not r.connected_clients and s.id in self.had_client and not s.options.keep_alive:
                self.end(s, S.COMPLETED, S.CLIENT_DISCONNECTED,
                         "last CDP client disconnected (session not kept alive)")
        return stop

    def node_lost(self, node_id: str, reason: str) -> None:
        for s in list(self.live.values()):
            if s.node_id == node_id:
                self.end(s, S.FAILED, S.NODE_LOST, f"node {node_id} lost: {reason}",
                         stop_browser=False)

    def enforce_timeouts(self) -> None:
        now = time.time()
        for s in list(self.live.values()):
            if s.state != S.RUNNING:
                continue
            if now >= seconds(s.expires_at):
                self.end(s, S.TIMED_OUT, S.MAX_DURATION,
                         f"maximum duration of {s.max_duration_seconds}s reached")
            elif not s.connected_clients and \
                    now - seconds(s.last_activity_at) >= s.idle_timeout_seconds:
                self.end(s, S.TIMED_OUT, S.IDLE_TIMEOUT,
                         f"idle for {s.idle_timeout_seconds}s (no CDP client, no API call)")

    async def close(self) -> None:
        for task in list(self._tasks):
            try:
                await asyncio.wait_for(task, 5)
            except (TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
                pass


def _decrement(counts: dict[str, int], key: str) -> None:
    """One fewer under `key`; a count that reaches 0 is removed (as if never counted)."""
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def save_target(s: session_pb2.Session) -> str:
    """The profile a session's state is saved into when it ends: the one UpdateSession named,
    else the one it started with when that persists, else none."""
    if s.save_profile_id:
        return s.save_profile_id
    return s.options.profile.profile_id if s.options.profile.persist else ""


def _metadata_matches(s: session_pb2.Session, filters: dict[str, str]) -> bool:
    meta = s.options.user_metadata.fields if s.options.HasField("user_metadata") else {}
    for key, want in filters.items():
        if s.options.labels.get(key) == want:
            continue
        value = meta.get(key)
        if value is None:
            return False
        kind = value.WhichOneof("kind")
        got = {"string_value": value.string_value,
               "number_value": f"{value.number_value:g}",
               "bool_value": str(value.bool_value).lower()}.get(kind or "", None)
        if got != want:
            return False
    return True
