"""The node's `browserplane.v1.Automation` service (reached through the control plane).

Callers are the control plane's router: cluster secret plus the session's project in
`x-browserplane-project`. Reading pages lives in node/page_reader.py, acting on them in
node/page_actions.py; this module checks requests and answers in the contract's terms.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import functools
import json
import math
import re
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from playwright.async_api import Error as PwError
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PwTimeout

from browserplane import errors
from browserplane.cookies import check_cookie, cookie_from_cdp, cookie_param
from browserplane.credentials import PROJECT_HEADER, bearer, is_cluster_secret, metadata_value
from browserplane.egress import EgressDenied, EgressPolicy
from browserplane.errors import BrowserplaneError
from browserplane.times import timestamp
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, session_pb2
from node import (
    locator,
    page_actions,
    page_reader,
    session_files,
    session_logs,
    vault_credentials,
)
from node.fleet import Fleet, SessionSlot
from node.intelligence import Intelligence, Tab
from node.model_client import ModelClient, check_schema, not_configured
from node.page_driver import WAIT_UNTIL, PageDriver, PlaywrightHost
from node.persona_mail import PersonaMail


def _target(target: A.ElementTarget) -> dict[str, str]:
    which = target.WhichOneof("by")
    return {which: getattr(target, which)} if which else {}


def _act_details(request: A.ActRequest) -> dict[str, Any]:
    kind = request.action.WhichOneof("kind") or ""
    action = getattr(request.action, kind) if kind else None
    target = getattr(action, "target", None) if action is not None else None
    # What was acted on, never what was typed (it may be a password).
    details = {"action": kind, **(_target(target) if target is not None else {})}
    if kind == "fill" and request.action.fill.vault_secret:  # which part, never the value
        details["vault_secret"] = vault_credentials.SECRET_NAMES.get(
            request.action.fill.vault_secret, str(request.action.fill.vault_secret))
    return details


def _contract_error(err: ValueError | PwError) -> BrowserplaneError:
    """An error no branch of a method expected, in the contract's terms: a value the standard
    library cannot parse is INVALID_ARGUMENT, a Playwright error is the page's answer
    (ACTION_FAILED, or INVALID_ARGUMENT for a selector or URL it cannot read), never INTERNAL."""
    if isinstance(err, ValueError):
        return errors.invalid("request", str(err)[:300] or "a value could not be read")
    message = str(err).split("\n", 1)[0][:300]
    if any(m in message for m in ("not a valid selector", "SyntaxError", "Unexpected token",
                                  "Invalid URL", "Cannot navigate to invalid URL", "Invalid url")):
        return errors.invalid("request", message)
    return BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.ACTION_FAILED, message)


def translated(method: Any) -> Any:
    """The method, with unexpected errors in the contract's terms (_contract_error)."""
    @functools.wraps(method)
    async def run(self: AutomationServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except (ValueError, PwError) as err:
            raise _contract_error(err) from None
    return run


def _log_action(slot: SessionSlot | None, kind: str, started: float, reason: str,
                details: dict[str, Any]) -> None:
    """One entry of the session's action log. Calls refused for the session itself (unknown
    session, wrong project) are not the session's actions and are not logged."""
    if slot is None or reason in (errors.SESSION_NOT_FOUND, errors.UNAUTHENTICATED):
        return
    slot.actions.add({"type": kind, "timestamp": time.time(), "success": not reason,
                      "reason": reason, "details": details,
                      "duration_ms": (time.monotonic() - started) * 1000})


def _kind_name(kind: int) -> str:
    """A NavigateRequest kind for the action log (an unknown number as itself)."""
    try:
        return A.NavigateRequest.Kind.Name(kind or 1).lower()
    except ValueError:
        return str(kind)


def recorded(kind: str | None, details: Any = lambda request: {}) -> Any:
    """Adds each call of the method to the session's action log (GetActionLog, _log_action),
    with how long it took and, when it failed, the reason."""
    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        async def run(self: AutomationServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.monotonic()
            reason = ""
            result = None
            try:
                result = await translated(method)(self, request, context)
                return result
            except BrowserplaneError as err:
                reason = err.reason
                raise
            finally:
                slot = self.fleet.sessions.get(request.session_id)
                entry = details(request)
                usage = getattr(result, "usage", None)
                if slot is not None and isinstance(usage, A.ModelUsage) and usage.calls:
                    entry["usage"] = json_format.MessageToDict(usage, preserving_proto_field_name=True)
                    entry["session_usage"] = dict(slot.model_usage)  # the session's total so far
                _log_action(slot, kind or request.action.WhichOneof("kind") or "act", started, reason,
                            entry)
        return run
    return wrap


class AutomationServicer(automation_pb2_grpc.AutomationServicer):
    def __init__(self, fleet: Fleet, secret: str, egress: EgressPolicy | None = None, *,
                 model: Any = None) -> None:
        self.fleet = fleet
        self.secret = secret
        self.egress = egress or EgressPolicy()
        self.playwright = PlaywrightHost()
        self.model: ModelClient | None = model  # None: the model-backed calls say how to set one
        self.intelligence = Intelligence(model) if model is not None else None
        # Descriptions resolved before, per project (node-local, bounded).
        self.resolutions = locator.ResolutionCache()
        # The control plane's vaults (set once the node has its link): Fill.vault_secret.
        self.vaults: vault_credentials.VaultCredentials | None = None
        # Personas' inboxes in the control plane (set with the link): RunAgentRequest.persona_id.
        self.personas: PersonaMail | None = None

    def _vault(self, slot: SessionSlot) -> Any:
        """What an Actor calls to fill a vault secret of this session."""
        async def secret(url: str, which: int) -> str:
            if self.vaults is None:
                raise vault_credentials.missing("this node has no link to the control plane's vaults")
            return await self.vaults.secret(slot.project_id, slot.vault_id, url, which)
        return secret

    def _vault_offer(self, slot: SessionSlot) -> Any:
        """What the agent is told the vault can fill on a page (never a value)."""
        async def offer(url: str) -> list[str]:
            if self.vaults is None or not slot.vault_id:
                return []
            return await self.vaults.available(slot.project_id, slot.vault_id, url)
        return offer

    def _locating(self, slot: SessionSlot) -> locator.Locating:
        return locator.Locating(project=slot.project_id, cache=self.resolutions,
                                chooser=self.model.choose_element if self.model is not None else None)

    async def _check_url(self, url: str, allow_empty: bool = False) -> None:
        """Schemes a session may open, and hosts the egress policy lets it reach: refused here
        with a reason a user can act on (the browser's own rules would refuse them anyway, with
        a bare ERR_CONNECTION_REFUSED or ERR_BLOCKED_BY_ADMINISTRATOR)."""
        if not url and allow_empty:
            return
        try:
            scheme = urllib.parse.urlsplit(url).scheme.lower()
        except ValueError:
            raise errors.invalid("url", "is not a URL that can be parsed") from None
        if scheme not in ("http", "https", "about", "data"):
            raise errors.invalid("url", "must be an absolute http(s), about: or data: URL "
                                 "(file:, chrome: and other local schemes are refused)")
        try:
            await self.egress.check_url(url)
        except EgressDenied as err:
            raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.NAVIGATION_FAILED,
                                    str(err), metadata={"url": url, "egress": "denied"}) from None

    def _driver(self, slot: SessionSlot) -> PageDriver:
        if slot.driver is None:
            browser = slot.browser
            slot.driver = PageDriver(self.playwright,
                                     f"ws://127.0.0.1:{browser.port}{browser.browser_path}",
                                     browser.downloads_dir)
        return slot.driver

    async def _page(self, session_id: str, page_id: str,
                    context: grpc.aio.ServicerContext) -> tuple[SessionSlot, PageDriver, str, Page]:
        """The session and the page a call is about; waits (briefly) until the recorder is
        attached to the pages the session started with, so the first navigation is recorded
        (its console, network and navigation count) and blocked too."""
        slot = self._slot(session_id, context)
        events = slot.events
        if events is not None and not events.ready.is_set():
            try:
                await asyncio.wait_for(events.ready.wait(), 5)
            except TimeoutError:
                pass
        await slot.watched()
        driver = self._driver(slot)
        tid, page = await driver.page(page_id)
        return slot, driver, tid, page

    @staticmethod
    def _stop(slot: SessionSlot, tid: str) -> Any:
        """What stops a script that keeps a page busy (through the recorder's CDP session)."""
        async def stop() -> None:
            if slot.events is not None:
                await slot.events.interrupt(tid)
        return stop

    async def _info(self, driver: PageDriver, tid: str, page: Page, index: int = 0) -> A.PageInfo:
        try:
            title = await page.title()
        except PwError:
            title = ""
        return A.PageInfo(id=tid, url=page.url, title=title, active=tid == driver.active,
                          index=index)

    # -- pages -----------------------------------------------------------------------------

    async def ListPages(self, request: A.ListPagesRequest,
                        context: grpc.aio.ServicerContext) -> A.ListPagesResponse:
        driver = self._driver(self._slot(request.session_id, context))
        pages = await driver.pages()
        if pages and not any(tid == driver.active for tid, _ in pages):
            driver.active = pages[-1][0]
        return A.ListPagesResponse(pages=[await self._info(driver, tid, page, i)
                                          for i, (tid, page) in enumerate(pages)])

    @recorded("open_page", lambda r: {"url": r.url})
    async def OpenPage(self, request: A.OpenPageRequest,
                       context: grpc.aio.ServicerContext) -> A.PageInfo:
        driver = self._driver(self._slot(request.session_id, context))
        size = _page_viewport(request.viewport) if request.HasField("viewport") else None
        await self._check_url(request.url, allow_empty=True)
        tid, page = await driver.open(request.url, request.wait_until, request.timeout_ms,
                                      viewport=size)
        return await self._info(driver, tid, page)

    @recorded("close_page", lambda r: {"page_id": r.page_id})
    async def ClosePage(self, request: A.ClosePageRequest,
                        context: grpc.aio.ServicerContext) -> A.ClosePageResponse:
        driver = self._driver(self._slot(request.session_id, context))
        tid, page = await driver.page(request.page_id)
        info = await self._info(driver, tid, page)
        await page.close()
        driver.active = ""
        return A.ClosePageResponse(page=info)

    @recorded("switch_page", lambda r: {"page_id": r.page_id} if r.page_id else {"index": r.index})
    async def SwitchPage(self, request: A.SwitchPageRequest,
                         context: grpc.aio.ServicerContext) -> A.PageInfo:
        driver = self._driver(self._slot(request.session_id, context))
        if request.WhichOneof("which") == "index":
            pages = await driver.pages()
            if request.index >= len(pages):
                raise errors.invalid("index", f"the session has {len(pages)} pages")
            tid, page = pages[request.index]
        else:
            tid, page = await driver.page(request.page_id)
        driver.active = tid
        await page.bring_to_front()
        return await self._info(driver, tid, page)

    @recorded("navigate", lambda r: {"kind": _kind_name(r.kind), "url": r.url})
    async def Navigate(self, request: A.NavigateRequest,
                       context: grpc.aio.ServicerContext) -> A.NavigateResponse:
        slot, driver, tid, page = await self._page(request.session_id, request.page_id, context)
        timeout = request.timeout_ms or 30_000
        status = 0
        kind = request.kind or A.NavigateRequest.GOTO
        if kind not in (A.NavigateRequest.GOTO, A.NavigateRequest.BACK, A.NavigateRequest.FORWARD,
                        A.NavigateRequest.RELOAD):
            raise errors.invalid("kind", "must be GOTO, BACK, FORWARD or RELOAD")
        try:
            if kind == A.NavigateRequest.GOTO:
                await self._check_url(request.url)
                status = await driver.goto(page, request.url, request.wait_until, timeout)
            else:
                how = {A.NavigateRequest.BACK: page.go_back, A.NavigateRequest.FORWARD: page.go_forward,
                       A.NavigateRequest.RELOAD: page.reload}[kind]
                response = await how(timeout=timeout,
                                     wait_until=WAIT_UNTIL.get(request.wait_until, "load"))
                status = response.status if response else 0
            if request.wait_for_selector:
                await page.wait_for_selector(request.wait_for_selector, timeout=timeout)
        except PwTimeout:
            raise BrowserplaneError(grpc.StatusCode.DEADLINE_EXCEEDED, errors.TIMEOUT,
                                    f"navigation did not finish in {timeout} ms") from None
        dismissed = (await page_reader.dismiss_blockers(page, self._stop(slot, tid))
                     if slot.dismiss_blockers else [])
        return A.NavigateResponse(page=await self._info(driver, tid, page), http_status=status,
                                  blockers_dismissed=dismissed)

    # -- reading and acting ------------------------------------------------------------------

    @recorded("observe", lambda r: {"scope": r.scope} if r.scope else {})
    async def Observe(self, request: A.ObserveRequest,
                      context: grpc.aio.ServicerContext) -> A.Observation:
        slot, driver, tid, page = await self._page(request.session_id, request.page_id, context)
        observation = await page_reader.observe(page, request, self._stop(slot, tid))
        # Stable: the document has loaded and none of its requests is still on the way.
        if observation.stable and slot.events is not None and slot.events.busy(tid):
            observation.stable = False
        observation.page.CopyFrom(await self._info(driver, tid, page))
        pages = await driver.pages()
        observation.pages.extend([await self._info(driver, pid, p, i)
                                  for i, (pid, p) in enumerate(pages)])
        return observation

    @recorded(None, _act_details)
    async def Act(self, request: A.ActRequest, context: grpc.aio.ServicerContext) -> A.ActResponse:
        slot, driver, tid, page = await self._page(request.session_id, request.page_id, context)
        events = slot.events
        actor = page_actions.Actor(page, slot.browser.uploads_dir, slot.browser.config.allowed_domains,
                                   egress=self.egress,
                                   busy=(lambda: events.busy(tid)) if events is not None else None,
                                   locating=self._locating(slot), vault=self._vault(slot))
        response = await actor.run(request.action)
        if response.HasField("usage"):  # a model broke a tie resolving the target
            _add_session_usage(slot, response.usage)
        if actor.page is not page:  # the action opened a tab: it is in front now
            tid, page = await driver.target_id(actor.page), actor.page
            driver.active = tid
        response.page.CopyFrom(await self._info(driver, tid, page))
        return response

    @recorded("locate", lambda r: {"description": r.description[:200],
                                   "intent": locator.INTENT_NAMES.get(r.intent, str(r.intent))})
    async def Locate(self, request: A.LocateRequest,
                     context: grpc.aio.ServicerContext) -> A.LocateResponse:
        locator.check_description(request.description)
        locator.check_intent(request.intent)
        if request.max_candidates > locator.MAX_CANDIDATES:
            raise errors.invalid("max_candidates", f"at most {locator.MAX_CANDIDATES}")
        slot, _, _, page = await self._page(request.session_id, request.page_id, context)
        located = await locator.resolve(page, request.description, request.intent,
                                        locating=self._locating(slot), offline=request.offline,
                                        no_cache=request.no_cache)
        if located.usage is not None:
            _add_session_usage(slot, located.usage)
        return located.response(request.max_candidates or locator.DEFAULT_CANDIDATES)

    @recorded("extract")
    async def Extract(self, request: A.ExtractRequest,
                      context: grpc.aio.ServicerContext) -> A.ExtractResponse:
        slot, _, tid, page = await self._page(request.session_id, request.page_id, context)
        return A.ExtractResponse(data=await page_reader.extract(page, request.schema,
                                                                self._stop(slot, tid)))

    @recorded("dismiss_blockers")
    async def DismissBlockers(self, request: A.DismissBlockersRequest,
                              context: grpc.aio.ServicerContext) -> A.DismissBlockersResponse:
        slot, _, tid, page = await self._page(request.session_id, request.page_id, context)
        return A.DismissBlockersResponse(
            dismissed=await page_reader.dismiss_blockers(page, self._stop(slot, tid)))

    # -- page intelligence (model-backed) ---------------------------------------------------------

    async def _model_call(self, request: Any, context: grpc.aio.ServicerContext,
                          default_s: float | None = None) -> tuple[Intelligence, Tab, Any]:
        """The model, the page and a meter for one model-backed call; FAILED_PRECONDITION /
        MODEL_NOT_CONFIGURED (and nothing touched) when the node has no model."""
        slot = self._slot(request.session_id, context)
        if self.intelligence is None:
            raise not_configured()
        slot, driver, tid, page = await self._page(request.session_id, request.page_id, context)

        async def observe(page: Page, observe_request: A.ObserveRequest) -> A.Observation:
            return await page_reader.observe(page, observe_request,
                                             self._stop(slot, await driver.target_id(page)))

        async def act(page: Page, action: A.Action) -> tuple[Page, A.ActResponse]:
            events = slot.events
            page_tid = await driver.target_id(page)
            actor = page_actions.Actor(page, slot.browser.uploads_dir, slot.browser.config.allowed_domains,
                                       egress=self.egress,
                                       busy=(lambda: events.busy(page_tid)) if events is not None else None,
                                       locating=self._locating(slot), vault=self._vault(slot))
            response = await actor.run(action)
            if actor.page is not page:  # the action opened a tab: it is in front now
                driver.active = await driver.target_id(actor.page)
            return actor.page, response

        meter = self.intelligence.meter(getattr(request, "budget", None), context.time_remaining(),
                                        lambda usage: _add_session_usage(slot, usage), default_s)
        return self.intelligence, Tab(page, observe, act, self._check_url,
                                      vault_offer=self._vault_offer(slot)), meter

    @recorded("ask", lambda r: {"prompt": r.prompt[:200], "follow_pagination": r.follow_pagination})
    async def Ask(self, request: A.AskRequest, context: grpc.aio.ServicerContext) -> A.ModelAnswer:
        schema = check_schema(request.json_schema)
        brain, tab, meter = await self._model_call(request, context)
        return await brain.ask(tab, request, schema, meter)

    @recorded("summarize", lambda r: {"prompt": r.prompt[:200]})
    async def Summarize(self, request: A.SummarizeRequest,
                        context: grpc.aio.ServicerContext) -> A.ModelAnswer:
        schema = check_schema(request.json_schema)
        brain, tab, meter = await self._model_call(request, context)
        return await brain.summarize(tab, request, schema, meter)

    @recorded("monitor", lambda r: {"condition": r.condition[:200], "reload": r.reload})
    async def Monitor(self, request: A.MonitorRequest,
                      context: grpc.aio.ServicerContext) -> A.MonitorResponse:
        if request.timeout_ms > 3_600_000:
            raise errors.invalid("timeout_ms", "at most 3,600,000 (an hour)")
        # Unless the budget says otherwise, a monitor may take its timeout and one last check.
        default_s = (request.timeout_ms or 60_000) / 1000 + (self.model.timeout if self.model else 0)
        brain, tab, meter = await self._model_call(request, context, default_s)
        return await brain.monitor(tab, request, meter)

    @recorded("paginated_extract", lambda r: {"prompt": r.prompt[:200], "max_pages": r.max_pages})
    async def PaginatedExtract(self, request: A.PaginatedExtractRequest,
                               context: grpc.aio.ServicerContext) -> A.PaginatedExtractResponse:
        schema = check_schema(request.json_schema)
        brain, tab, meter = await self._model_call(request, context)
        return await brain.paginated_extract(tab, request, schema, meter)

    async def RunAgent(self, request: A.RunAgentRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[A.AgentEvent]:
        """Streams each step as it ends, then the result; the run and every step are in the
        session's action log."""
        started = time.monotonic()
        reason, result = "", None
        try:
            try:
                schema = check_schema(request.json_schema)
                if request.start_url:
                    await self._check_url(request.start_url)
                brain, tab, meter = await self._model_call(request, context)
                slot = self.fleet.sessions[request.session_id]
                if request.persona_id:  # checked before the first step
                    if self.personas is None:
                        raise errors.not_found(errors.PERSONA_NOT_FOUND, "persona", request.persona_id)
                    tab.inbox = await self.personas.open(slot.project_id, request.persona_id)

                def record(step: A.AgentStep) -> None:
                    _log_action(slot, "agent_step", time.monotonic() - step.duration_ms / 1000,
                                "" if step.success else errors.ACTION_FAILED,
                                {"index": step.index, "action": step.action, "ref": step.ref,
                                 "message": step.message[:300],
                                 "usage": json_format.MessageToDict(
                                     step.usage, preserving_proto_field_name=True)})

                async def accepted() -> None:
                    # The stream's headers tell a background caller the run has begun; a
                    # refusal before them (no model, a bad request) is the call's error.
                    await context.send_initial_metadata(())

                async for event in brain.run_agent(tab, request, schema, meter, record, accepted):
                    if event.HasField("result"):
                        result = event.result
                    yield event
            except (ValueError, PwError) as err:
                raise _contract_error(err) from None
        except BrowserplaneError as err:
            reason = err.reason
            raise
        finally:
            details: dict[str, Any] = {"task": request.task[:200]}
            if result is not None:
                details.update(status=A.AgentResult.Status.Name(result.status), steps=result.steps,
                               usage=json_format.MessageToDict(result.usage,
                                                               preserving_proto_field_name=True))
            _log_action(self.fleet.sessions.get(request.session_id), "run_agent", started, reason,
                        details)

    # -- capturing and scripts ---------------------------------------------------------------

    @recorded("screenshot", lambda r: {"full_page": r.full_page})
    async def Screenshot(self, request: A.ScreenshotRequest,
                         context: grpc.aio.ServicerContext) -> A.ScreenshotResponse:
        slot = self._slot(request.session_id, context)
        _, page = await self._driver(slot).page(request.page_id)
        jpeg = request.format == A.ScreenshotRequest.JPEG
        if request.quality and not (jpeg and 1 <= request.quality <= 100):
            raise errors.invalid("quality", "1..100, and only for JPEG")
        options: dict = {"type": "jpeg" if jpeg else "png", "full_page": request.full_page}
        if jpeg and request.quality:
            options["quality"] = request.quality
        try:
            if request.HasField("element"):
                data = await (await page_actions.locate(page, request.element,
                                                        locating=self._locating(slot))).screenshot(
                    type=options["type"], quality=options.get("quality"), timeout=15_000)
            else:
                data = await page.screenshot(**options, timeout=60_000)
        except PwTimeout:
            raise BrowserplaneError(grpc.StatusCode.DEADLINE_EXCEEDED, errors.TIMEOUT,
                                    "the screenshot did not finish") from None
        width, height = _image_size(data)
        return A.ScreenshotResponse(data=data, mime_type=f"image/{options['type']}",
                                    width=width, height=height)

    @recorded("pdf")
    async def Pdf(self, request: A.PdfRequest, context: grpc.aio.ServicerContext) -> A.PdfResponse:
        driver = self._driver(self._slot(request.session_id, context))
        _, page = await driver.page(request.page_id)
        if request.scale and not 0.1 <= request.scale <= 2:
            raise errors.invalid("scale", "must be 0.1..2")
        margin = {k: v for k, v in (("top", request.margin_top), ("right", request.margin_right),
                                    ("bottom", request.margin_bottom), ("left", request.margin_left))
                  if v}
        try:
            data = await page.pdf(format=request.paper_format or "Letter",
                                  landscape=request.landscape,
                                  print_background=request.print_background,
                                  scale=request.scale or 1, margin=margin or None)
        except PwError as err:
            raise BrowserplaneError(grpc.StatusCode.INVALID_ARGUMENT, errors.ACTION_FAILED,
                                    f"PDF failed: {str(err).splitlines()[0]}") from None
        return A.PdfResponse(data=data)

    @recorded("evaluate")
    async def Evaluate(self, request: A.EvaluateRequest,
                       context: grpc.aio.ServicerContext) -> A.EvaluateResponse:
        slot, _, tid, page = await self._page(request.session_id, request.page_id, context)
        if not request.expression.strip():
            raise errors.invalid("expression", "is required")
        try:
            if request.HasField("element"):
                element = await page_actions.locate(page, request.element, locating=self._locating(slot))
                result = await asyncio.wait_for(element.evaluate(request.expression),
                                                (request.timeout_ms or 30_000) / 1000)
            else:
                result = await asyncio.wait_for(page.evaluate(request.expression),
                                                (request.timeout_ms or 30_000) / 1000)
        except TimeoutError:
            await self._stop(slot, tid)()
            raise BrowserplaneError(grpc.StatusCode.DEADLINE_EXCEEDED, errors.TIMEOUT,
                                    f"the script did not finish in {request.timeout_ms or 30_000} ms "
                                    "and was stopped") from None
        except PwError as err:
            return A.EvaluateResponse(error=str(err).splitlines()[0])
        value = struct_pb2.Value()
        value.MergeFrom(_to_value(result))
        return A.EvaluateResponse(result=value)

    # -- cookies -------------------------------------------------------------------------------

    @translated
    async def GetCookies(self, request: A.GetCookiesRequest,
                         context: grpc.aio.ServicerContext) -> A.GetCookiesResponse:
        driver = self._driver(self._slot(request.session_id, context))
        browser = await driver._connected()
        cookies = []
        for ctx in browser.contexts:
            cookies += await ctx.cookies(list(request.urls) or None)
        return A.GetCookiesResponse(cookies=[_cookie(c) for c in cookies])

    @translated
    async def SetCookies(self, request: A.SetCookiesRequest,
                         context: grpc.aio.ServicerContext) -> A.SetCookiesResponse:
        driver = self._driver(self._slot(request.session_id, context))
        for i, c in enumerate(request.cookies):
            check_cookie(f"cookies[{i}]", c)
        browser = await driver._connected()
        await browser.contexts[0].add_cookies([cookie_param(c) for c in request.cookies])
        return A.SetCookiesResponse(set=len(request.cookies))

    async def ClearCookies(self, request: A.ClearCookiesRequest,
                           context: grpc.aio.ServicerContext) -> A.ClearCookiesResponse:
        driver = self._driver(self._slot(request.session_id, context))
        browser = await driver._connected()
        for ctx in browser.contexts:
            await ctx.clear_cookies()
        return A.ClearCookiesResponse()

    async def CheckHealth(self, request: A.CheckHealthRequest,
                          context: grpc.aio.ServicerContext) -> A.BrowserHealth:
        slot = self._slot(request.session_id, context)
        driver = self._driver(slot)
        navigations = slot.events.navigations if slot.events is not None else 0
        try:
            pages = await asyncio.wait_for(driver.pages(), 5)
            _, page = await driver.page()
            await asyncio.wait_for(page.evaluate("1"), 5)
            title = await asyncio.wait_for(page.title(), 5)
            return A.BrowserHealth(responsive=True, current_url=page.url,
                                   title=title, pages=len(pages), navigations=navigations,
                                   uptime_ms=(time.time() - slot.started_at) * 1000)
        except (TimeoutError, PwError, BrowserplaneError):
            return A.BrowserHealth(responsive=False, navigations=navigations,
                                   uptime_ms=(time.time() - slot.started_at) * 1000)

    def _slot(self, session_id: str, context: grpc.aio.ServicerContext) -> SessionSlot:
        md = context.invocation_metadata()
        if not is_cluster_secret(bearer(md), self.secret):
            raise BrowserplaneError(grpc.StatusCode.UNAUTHENTICATED, errors.UNAUTHENTICATED,
                                    "node calls need the cluster secret")
        slot = self.fleet.sessions.get(session_id)
        if slot is None or metadata_value(md, PROJECT_HEADER) != slot.project_id:
            raise errors.not_found(errors.SESSION_NOT_FOUND, "session", session_id)
        return slot

    def _events(self, request: A.LogRequest, context: grpc.aio.ServicerContext) -> tuple:
        slot = self._slot(request.session_id, context)
        if slot.events is None:
            raise BrowserplaneError(grpc.StatusCode.UNAVAILABLE, errors.ACTION_FAILED,
                                    "this session records no page events")
        return slot.events, request.offset, request.limit or 100

    async def GetConsoleLog(self, request: A.LogRequest,
                            context: grpc.aio.ServicerContext) -> A.ConsoleLogResponse:
        events, offset, limit = self._events(request, context)
        return session_logs.console_log(events, offset, limit, request.page_id)

    async def GetNetworkLog(self, request: A.LogRequest,
                            context: grpc.aio.ServicerContext) -> A.NetworkLogResponse:
        events, offset, limit = self._events(request, context)
        return session_logs.network_log(events, offset, limit, request.page_id)

    async def GetActionLog(self, request: A.LogRequest,
                           context: grpc.aio.ServicerContext) -> A.ActionLogResponse:
        slot = self._slot(request.session_id, context)
        return session_logs.action_log(slot.actions, request.offset, request.limit or 100)

    async def GetCdpLog(self, request: A.LogRequest,
                        context: grpc.aio.ServicerContext) -> A.CdpLogResponse:
        events, offset, limit = self._events(request, context)
        window, total = session_logs.window(events.cdp, offset, limit, request.page_id)
        return A.CdpLogResponse(total=total, entries=[
            A.CdpLogEntry(method=e["method"], page_id=e["page"],
                          page_index=events.page_number(e["page"]) if e["page"] else 0,
                          params_json=json.dumps(e["params"]), timestamp=timestamp(e["timestamp"]))
            for e in window])

    async def ListFiles(self, request: A.ListFilesRequest,
                        context: grpc.aio.ServicerContext) -> A.ListFilesResponse:
        slot = self._slot(request.session_id, context)
        # Hashing reads the files: in a thread, off the event loop.
        files = await asyncio.to_thread(session_files.listing, slot.browser, request.kind, True)
        return A.ListFilesResponse(files=files)

    async def ReadFile(self, request: A.ReadFileRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[A.FileChunk]:
        slot = self._slot(request.session_id, context)
        kind, name = session_files.from_id(request.id) if request.id else (request.kind, request.name)
        first = True
        async for data in session_files.read_chunks(slot.browser, kind, name):
            if first:
                yield A.FileChunk(session_id=request.session_id, kind=kind, name=name, data=data)
                first = False
            else:
                yield A.FileChunk(data=data)
        if first:  # an empty file still answers one (empty) chunk
            yield A.FileChunk(session_id=request.session_id, kind=kind, name=name)

    async def WriteFile(self, request_iterator: AsyncIterator[A.FileChunk],
                        context: grpc.aio.ServicerContext) -> A.FileInfo:
        upload = None
        kind = 0
        try:
            async for chunk in request_iterator:
                if upload is None:
                    slot = self._slot(chunk.session_id, context)
                    kind = chunk.kind or A.UPLOAD
                    upload = session_files.Upload(slot.browser, kind, chunk.name)
                await asyncio.to_thread(upload.write, chunk.data)
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        if upload is None:
            raise errors.invalid("session_id", "an empty stream names no session")
        return await asyncio.to_thread(session_files.info, upload.finish(), kind, True)

    async def DeleteFiles(self, request: A.DeleteFilesRequest,
                          context: grpc.aio.ServicerContext) -> A.DeleteFilesResponse:
        slot = self._slot(request.session_id, context)
        if request.id:
            session_files.delete(slot.browser, *session_files.from_id(request.id))
            return A.DeleteFilesResponse(deleted=1)
        if request.name:
            session_files.delete(slot.browser, request.kind, request.name)
            return A.DeleteFilesResponse(deleted=1)
        deleted = 0
        for entry in session_files.listing(slot.browser, request.kind):
            session_files.folder(slot.browser, entry.kind).joinpath(entry.name).unlink(missing_ok=True)
            deleted += 1
        return A.DeleteFilesResponse(deleted=deleted)


def _add_session_usage(slot: SessionSlot, usage: A.ModelUsage) -> None:
    """The session's running total of model usage (in its action log)."""
    total = slot.model_usage
    for name in ("calls", "prompt_tokens", "completion_tokens", "credits", "duration_ms"):
        total[name] = total.get(name, 0) + getattr(usage, name)


PAGE_VIEWPORT = ((100, 7680), (100, 4320))  # CSS pixels, as Airtop's screenResolution allows


def _page_viewport(v: session_pb2.Viewport) -> dict[str, int] | None:
    """A new page's size; scale and mobile emulation belong to the session (its launch)."""
    if not v.width and not v.height and not v.device_scale_factor and not v.mobile:
        return None
    (low_w, high_w), (low_h, high_h) = PAGE_VIEWPORT
    if not low_w <= v.width <= high_w:
        raise errors.invalid("viewport.width", f"must be {low_w}..{high_w}, got {v.width}")
    if not low_h <= v.height <= high_h:
        raise errors.invalid("viewport.height", f"must be {low_h}..{high_h}, got {v.height}")
    if v.device_scale_factor or v.mobile:
        raise errors.invalid("viewport.device_scale_factor" if v.device_scale_factor
                             else "viewport.mobile",
                             "is set per session (SessionOptions.viewport), not per page")
    return {"width": v.width, "height": v.height}


def _image_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    # JPEG: walk the segments to the frame header.
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            break
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return 0, 0


MAX_RESULT_DEPTH = 32  # protobuf refuses messages nested ~100 deep; each JSON level is two
EXACT_INT = 2**53      # up to it every integer is a double


def _to_value(result: Any) -> struct_pb2.Value:
    """What page.evaluate answered, as a JSON value every client can parse.

    Playwright hands back what JSON has no word for: NaN and ±Infinity (written as the strings
    "NaN", "Infinity", "-Infinity", as the proto3 JSON mapping writes doubles), BigInts no double
    holds (their digits), Dates (ISO 8601), RegExps, URLs, Errors, cyclic objects and
    lone UTF-16 surrogates. None of these may fail the call or yield invalid JSON further on.
    """
    return _json_value(result, 0, set())


def _json_value(item: Any, depth: int, seen: set[int]) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if item is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(item, bool):
        out.bool_value = item
    elif isinstance(item, int):
        if abs(item) <= EXACT_INT or _is_double(item):
            out.number_value = float(item)
        else:  # a BigInt: its digits, exactly
            out.string_value = str(item)
    elif isinstance(item, float):
        if math.isfinite(item):
            out.number_value = item
        else:
            out.string_value = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
    elif isinstance(item, str):
        out.string_value = _text(item)
    elif isinstance(item, urllib.parse.ParseResult):  # a URL (a tuple, so before lists)
        out.string_value = _text(item.geturl())
    elif isinstance(item, (dict, list, tuple)):
        if depth >= MAX_RESULT_DEPTH:
            out.string_value = f"[nested deeper than {MAX_RESULT_DEPTH} levels]"
        elif id(item) in seen:
            out.string_value = "[Circular]"
        else:
            seen.add(id(item))
            if isinstance(item, dict):
                out.struct_value.SetInParent()
                for key, value in item.items():
                    out.struct_value.fields[_text(str(key))].CopyFrom(
                        _json_value(value, depth + 1, seen))
            else:
                out.list_value.SetInParent()
                for value in item:
                    out.list_value.values.add().CopyFrom(_json_value(value, depth + 1, seen))
            seen.discard(id(item))
    elif isinstance(item, datetime.datetime):
        out.string_value = item.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elif isinstance(item, re.Pattern):
        out.string_value = f"/{_text(item.pattern)}/"
    else:  # an Error, and whatever else Playwright learns to hand back
        out.string_value = _text(str(item))
    return out


def _is_double(value: int) -> bool:
    """A JavaScript number reaches Python as the integer its shortest decimal spells (2**64 as
    18446744073709552000); a BigInt as its exact value."""
    if abs(value) >= 2**1024:
        return False
    return int(decimal.Decimal(repr(float(value)))) == value


def _text(text: str) -> str:
    """Lone surrogates (JavaScript strings may hold them; UTF-8 cannot) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


_cookie = cookie_from_cdp

