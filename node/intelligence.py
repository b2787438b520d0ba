"""The model-backed Automation calls, once for every dialect: Ask, Summarize, Monitor,
PaginatedExtract and RunAgent.

The page is read with the page reader (password values are masked there, so they never reach
a model), cut to the node's input budget, and sent through node/model_client.py. Finding the
"next" control and acting are the page's own business (no model): page_actions does both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import struct_pb2
from playwright.async_api import Error as PwError
from playwright.async_api import Page

from browserplane import errors
from browserplane.errors import BrowserplaneError
from browserplane.times import timestamp
from browserplane.v1 import automation_pb2 as A
from node import page_actions
from node.model_client import Answer, BudgetReached, Meter, ModelClient, trim
from node.page_driver import PageDriver
from node.persona_mail import PersonaInbox, identity_note, mails_for_prompt

DEFAULT_PAGES = 5
DEFAULT_STEPS = 20
DEFAULT_FAILURES = 3
AGENT_ELEMENTS = 60  # elements an agent step is shown
# Offered only when the session's vault holds a credential for the page: the node types the
# secret, the model only names the field.
VAULT_ACTIONS = {"fill_username": A.VAULT_USERNAME, "fill_password": A.VAULT_PASSWORD,
                 "fill_mfa_code": A.VAULT_MFA_CODE}
AGENT_ACTIONS = ("click", "type", "select", "scroll", "navigate", "back", "wait", "done", "fail",
                 "ask_human")
NEEDS_REF = ("click", "type", "select")
# Link texts that lead to the following page on nearly every site (before the resolver is asked).
NEXT_TEXT = re.compile(r"^\s*(next|next page|next results|older( posts| entries)?|suivant|weiter)"
                       r"\s*[›»→>]*\s*$|^\s*[›»→>]{1,2}\s*$", re.I)
REL_NEXT = """() => { const e = document.querySelector('a[rel~="next" i][href], link[rel~="next" i][href]');
  return e ? e.href : null; }"""


class Tab:
    """One page of a session as the model-backed calls use it: read, act, go somewhere."""

    def __init__(self, page: Page, observe: Callable[[Page, A.ObserveRequest], Awaitable[A.Observation]],
                 act: Callable[[Page, A.Action], Awaitable[tuple[Page, A.ActResponse]]],
                 check_url: Callable[[str], Awaitable[None]],
                 vault_offer: Callable[[str], Awaitable[list[str]]] | None = None,
                 inbox: PersonaInbox | None = None) -> None:
        self.page = page
        # What the session's vault can fill on a page (["username", "password"]), never values.
        self.vault_offer = vault_offer
        self.inbox = inbox  # the persona an agent acts as (RunAgentRequest.persona_id)
        self._observe = observe
        self._act = act
        self._check_url = check_url

    async def observe(self, max_text: int, max_elements: int = 0) -> A.Observation:
        return await self._observe(self.page, A.ObserveRequest(max_text_length=max_text,
                                                               max_elements=max_elements))

    async def act(self, action: A.Action) -> A.ActResponse:
        self.page, response = await self._act(self.page, action)
        return response

    async def goto(self, url: str) -> None:
        await self._check_url(url)
        await PageDriver.goto(self.page, url, 0, 30_000)

    async def back(self) -> None:
        await self.page.go_back(wait_until="load", timeout=30_000)

    async def reload(self) -> None:
        await self.page.reload(wait_until="load", timeout=30_000)


class Intelligence:
    """The calls' logic, over one model client (which also holds the node's bounds: tokens per
    answer, characters of page per request, a call's default time budget)."""

    def __init__(self, model: ModelClient) -> None:
        self.model = model

    def meter(self, budget: A.Budget | None, grpc_remaining: float | None,
              on_usage: Callable[[A.ModelUsage], None] | None, default_s: float | None = None) -> Meter:
        return Meter(self.model.model, budget, default_s or self.model.time_limit, grpc_remaining, on_usage)

    def _tokens(self, wanted: int) -> int:
        return max(16, min(wanted, self.model.max_tokens))

    # -- Ask and Summarize ----------------------------------------------------------------------

    async def ask(self, tab: Tab, request: A.AskRequest, schema: dict | None, meter: Meter) -> A.ModelAnswer:
        if not request.prompt.strip():
            raise errors.invalid("prompt", "is required")
        pages = (request.max_pages or DEFAULT_PAGES) if request.follow_pagination else 1
        if pages > 50:
            raise errors.invalid("max_pages", "at most 50")
        contents, urls, note = await self._read_pages(tab, pages, meter)
        system = ("You answer questions about web pages. Use only the page content you are given; "
                  "say so when it does not hold the answer.")
        user = f"{contents}\n\nQuestion: {request.prompt.strip()}"
        return await self._answer(meter, system, user, schema, urls, note)

    async def summarize(self, tab: Tab, request: A.SummarizeRequest, schema: dict | None,
                        meter: Meter) -> A.ModelAnswer:
        contents, urls, note = await self._read_pages(tab, 1, meter)
        focus = f" Focus on: {request.prompt.strip()}" if request.prompt.strip() else ""
        system = "You summarize web pages briefly and faithfully, from the content you are given."
        return await self._answer(meter, system, f"{contents}\n\nSummarize this page.{focus}",
                                  schema, urls, note)

    async def _answer(self, meter: Meter, system: str, user: str, schema: dict | None,
                      urls: list[str], note: str) -> A.ModelAnswer:
        try:
            answer = await self.model.complete(meter, system, user, schema=schema,
                                               max_tokens=self._tokens(1024))
        except BudgetReached as reached:
            raise meter.exhausted_error(reached) from None
        out = A.ModelAnswer(text=answer.text, status="partial" if note else "success",
                            urls_read=urls, message=note)
        if schema is not None:
            out.data.CopyFrom(_value(answer.data))
        out.usage.CopyFrom(meter.usage)
        return out

    async def _read_pages(self, tab: Tab, pages: int, meter: Meter) -> tuple[str, list[str], str]:
        """The page (and, for pagination, the ones after it) as text within the input budget."""
        budget = self.model.max_input_chars
        parts: list[str] = []
        urls: list[str] = []
        seen: set[str] = set()
        note = ""
        for number in range(pages):
            obs = await tab.observe(max_text=budget)
            digest = hashlib.sha256(obs.markdown.encode()).hexdigest()
            if digest in seen:
                break  # the "next" control led back to a page already read
            seen.add(digest)
            urls.append(obs.page.url)
            parts.append(f"Page: {obs.page.title} ({obs.page.url})\n\n{obs.markdown}")
            if number + 1 >= pages:
                break
            if meter.remaining() <= 0:
                note = "the time limit was reached while reading pages; the answer covers the pages read"
                break
            if not await follow_next(tab, obs, "next page"):
                break
        share = max(500, budget // max(1, len(parts)))
        text = "\n\n---\n\n".join(trim(p, share) for p in parts)
        return trim(text, budget), urls, note

    # -- Monitor ----------------------------------------------------------------------------------

    async def monitor(self, tab: Tab, request: A.MonitorRequest, meter: Meter) -> A.MonitorResponse:
        if not request.condition.strip():
            raise errors.invalid("condition", "is required")
        interval = (request.interval_ms or 2000) / 1000
        timeout = (request.timeout_ms or 60_000) / 1000
        ends = time.monotonic() + timeout
        schema = {"type": "object", "properties": {
            "met": {"type": "boolean"}, "explanation": {"type": "string", "maxLength": 120}},
            "required": ["met", "explanation"]}
        system = ("You check whether a condition holds on a web page, from its content only. "
                  "met is true only when the page content shows the condition holds now.")
        out = A.MonitorResponse(status="partial")
        answers: dict[str, Answer] = {}  # the same content gets the same answer (temperature 0)
        while True:
            if out.checks:
                await asyncio.sleep(max(0.0, min(interval, ends - time.monotonic(), meter.remaining())))
                if request.reload:
                    await tab.reload()
            obs = await tab.observe(max_text=self.model.max_input_chars)
            # The title, not the URL: a query string is noise a small model reads as content.
            content = f"Page: {obs.page.title}\n\n{obs.markdown}"
            key = hashlib.sha256(content.encode()).hexdigest()
            try:
                answer = answers.get(key) or await self.model.complete(
                    meter, system, f"{trim(content, self.model.max_input_chars)}\n\nCondition: "
                    f"{request.condition.strip()}\nDoes the page show that the condition holds?",
                    schema=schema, max_tokens=self._tokens(120))
            except BudgetReached as reached:
                if not out.checks:
                    raise meter.exhausted_error(reached) from None
                out.explanation = f"stopped: {reached.message}"
                break
            except BrowserplaneError as err:
                if err.code != grpc.StatusCode.FAILED_PRECONDITION or err.reason != errors.MODEL_FAILED:
                    raise  # the model cannot be reached
                # An answer out of shape is a check that did not find the condition met.
                answer = Answer(text="", data={"met": False, "explanation": err.message})
            answers[key] = answer
            out.checks += 1
            out.explanation = str(answer.data.get("explanation", ""))
            if answer.data.get("met") is True:
                out.met, out.status = True, "success"
                break
            if time.monotonic() >= ends:
                out.explanation = (f"the condition was not met within {timeout * 1000:.0f} ms "
                                   f"({out.checks} checks); last: {out.explanation}")
                break
            if meter.remaining() <= 0:
                out.explanation = f"the time limit was reached ({out.checks} checks)"
                break
        out.usage.CopyFrom(meter.usage)
        return out

    # -- PaginatedExtract ---------------------------------------------------------------------------

    async def paginated_extract(self, tab: Tab, request: A.PaginatedExtractRequest,
                                item_schema: dict | None, meter: Meter) -> A.PaginatedExtractResponse:
        if not request.prompt.strip():
            raise errors.invalid("prompt", "is required")
        max_pages = request.max_pages or DEFAULT_PAGES
        if max_pages > 100:
            raise errors.invalid("max_pages", "at most 100")
        schema = {"type": "object", "properties": {
            "items": {"type": "array", "items": item_schema or {"type": "object"}}},
            "required": ["items"]}
        system = ("You extract items from a web page into JSON, exactly as the page shows them. "
                  "Answer {\"items\": []} when the page holds none.")
        out = A.PaginatedExtractResponse(status="success", stopped_because="last_page")
        seen_items: set[str] = set()
        seen_pages: set[str] = set()
        failed_pages = 0
        while True:
            obs = await tab.observe(max_text=self.model.max_input_chars)
            digest = hashlib.sha256(obs.markdown.encode()).hexdigest()
            if digest in seen_pages:
                break  # the control led back to a page already read: the last one
            seen_pages.add(digest)
            content = trim(f"Page: {obs.page.title} ({obs.page.url})\n\n{obs.markdown}",
                           self.model.max_input_chars)
            try:
                answer = await self.model.complete(meter, system, f"{content}\n\nExtract: "
                                                   f"{request.prompt.strip()}", schema=schema,
                                                   max_tokens=self._tokens(1024))
            except BudgetReached as reached:
                if not out.pages:
                    raise meter.exhausted_error(reached) from None
                out.status = "partial"
                out.stopped_because = "timeout" if reached.what == "time" else "budget"
                break
            except BrowserplaneError as err:
                if err.code != grpc.StatusCode.FAILED_PRECONDITION or err.reason != errors.MODEL_FAILED:
                    raise  # the model cannot be reached
                # A page the model could not put in the schema's shape loses its items, not the
                # other pages' (the status says the result is incomplete).
                answer = Answer(text="", data={"items": []})
                failed_pages += 1
            out.pages += 1
            out.urls_read.append(obs.page.url)
            for item in answer.data.get("items", []):
                key = json.dumps(item, sort_keys=True)
                if key not in seen_items:  # the same item on two pages is one item
                    seen_items.add(key)
                    out.items.values.add().CopyFrom(_value(item))
            if out.pages >= max_pages:
                out.stopped_because = "page_limit"
                break
            try:
                meter.check()  # no page is turned that could not be read
            except BudgetReached as reached:
                out.status = "partial"
                out.stopped_because = "timeout" if reached.what == "time" else "budget"
                break
            if not await follow_next(tab, obs, request.next_description or "next page"):
                break
        if failed_pages:
            out.status = "partial" if failed_pages < out.pages else "failure"
        out.usage.CopyFrom(meter.usage)
        return out

    # -- RunAgent --------------------------------------------------------------------------------------

    async def run_agent(self, tab: Tab, request: A.RunAgentRequest, schema: dict | None, meter: Meter,
                        record: Callable[[A.AgentStep], None],
                        accepted: Callable[[], Awaitable[None]] | None = None,
                        ) -> AsyncIterator[A.AgentEvent]:
        """Observe, let the model pick one action among what it was shown, act, repeat. Yields
        each step as it ends and the result last. `accepted` is awaited once the request's
        checks have passed, before the page is touched."""
        if not request.task.strip():
            raise errors.invalid("task", "is required")
        max_steps = request.max_steps or DEFAULT_STEPS
        max_failures = request.max_failures or DEFAULT_FAILURES
        if max_steps > 200:
            raise errors.invalid("max_steps", "at most 200")
        if accepted is not None:
            await accepted()
        if request.start_url:
            await tab.goto(request.start_url)
        result = A.AgentResult(status=A.AgentResult.STEP_LIMIT,
                               message=f"the step limit ({max_steps}) was reached")
        history: list[str] = []
        failures = 0
        persona = identity_note(tab.inbox.persona) if tab.inbox is not None else ""
        mail_actions = ["read_email"] if tab.inbox is not None else []
        inbox_text = ""  # the last mails read, shown from the next step on
        for index in range(1, max_steps + 1):
            started = time.monotonic()
            before = A.ModelUsage()
            before.CopyFrom(meter.usage)
            obs = await tab.observe(max_text=self.model.max_input_chars // 2, max_elements=AGENT_ELEMENTS)
            shown = {e.ref: e for e in obs.elements}
            offer = await tab.vault_offer(tab.page.url) if tab.vault_offer is not None else []
            vault_actions = [f"fill_{part}" for part in offer]
            try:
                choice = await self.model.complete(
                    meter, _AGENT_SYSTEM, _agent_prompt(request.task, obs, history,
                                                        self.model.max_input_chars // 2)
                    + _vault_note(vault_actions) + persona + inbox_text,
                    schema=_agent_schema(list(shown), [*vault_actions, *mail_actions]),
                    max_tokens=self._tokens(200))
            except BudgetReached as reached:
                result = A.AgentResult(status=A.AgentResult.BUDGET, message=reached.message)
                break
            except BrowserplaneError as err:
                if err.code != grpc.StatusCode.FAILED_PRECONDITION or err.reason != errors.MODEL_FAILED:
                    raise  # the model cannot be reached: the caller hears it as it is
                choice = Answer(text="", data={"action": "", "ref": "", "text": "",
                                               "thought": err.message})
            if mail_actions and choice.data.get("action") == "read_email":
                step, inbox_text = await self._read_email(tab, index, choice.data)
            else:
                step = await self._agent_step(tab, index, choice.data, shown, vault_actions)
            step.duration_ms = (time.monotonic() - started) * 1000
            step.url = tab.page.url
            step.timestamp.CopyFrom(timestamp(time.time()))
            step.usage.CopyFrom(_minus(meter.usage, before))
            record(step)
            yield A.AgentEvent(step=step)
            history.append(f"{index}. {step.action} {step.ref} {'ok' if step.success else 'failed'}"
                           f"{': ' + step.message if step.message else ''}")
            failures = 0 if step.success else failures + 1
            if step.action in ("done", "fail", "ask_human") and step.success:
                status = {"done": A.AgentResult.DONE, "fail": A.AgentResult.FAILED,
                          "ask_human": A.AgentResult.NEEDS_HUMAN}[step.action]
                result = A.AgentResult(status=status, answer=step.text, message=step.message)
                break
            if failures >= max_failures:
                result = A.AgentResult(status=A.AgentResult.FAILED,
                                       message=f"{failures} steps in a row failed")
                break
        result.steps = len(history)
        if result.status == A.AgentResult.DONE and schema is not None:
            await self._final_data(tab, request.task, result, schema, meter)
        result.usage.CopyFrom(meter.usage)
        yield A.AgentEvent(result=result)

    async def _agent_step(self, tab: Tab, index: int, choice: dict,
                          shown: dict[str, A.Element], vault_actions: list[str] = ()) -> A.AgentStep:
        action, ref = str(choice.get("action", "")), str(choice.get("ref", ""))
        text = str(choice.get("text", ""))
        step = A.AgentStep(index=index, thought=str(choice.get("thought", ""))[:500], action=action,
                           ref=ref, text=text)
        if ref in shown:  # what a replay finds the element by once this page's refs are gone
            step.selector, step.label = shown[ref].selector, shown[ref].label[:200]
        if action in vault_actions:
            step.text = ""  # the node types the vault's secret; nothing the model wrote is used
            if ref not in shown:
                step.message = f"{action} needs a ref among the elements shown"
                return step
            try:
                await tab.act(A.Action(fill=A.Fill(target=A.ElementTarget(ref=ref),
                                                   vault_secret=VAULT_ACTIONS[action]),
                                       timeout_ms=10_000))
            except (BrowserplaneError, PwError) as err:
                step.message = getattr(err, "message", "") or "failed"
                return step
            step.success = True
            return step
        if action not in AGENT_ACTIONS:
            step.message = step.thought or f"the model chose no valid action ({action!r})"
            return step
        if ref and ref not in shown or action in NEEDS_REF and not ref:
            # Never acted on: the model may only name elements of this step's observation.
            step.message = f"ref {ref!r} was not among the elements shown" if ref else \
                f"{action} needs a ref"
            return step
        element = shown.get(ref)
        if element is not None and element.type == "password":
            step.text = "••••" if text else ""
        target = A.ElementTarget(ref=ref)
        try:
            if action == "click":
                await tab.act(A.Action(click=A.Click(target=target), timeout_ms=10_000))
            elif action == "type":
                await tab.act(A.Action(fill=A.Fill(target=target, value=text), timeout_ms=10_000))
            elif action == "select":
                await tab.act(A.Action(select=A.Select(target=target, values=[text]), timeout_ms=10_000))
            elif action == "scroll":
                scroll = A.Scroll(to_element=target) if ref else A.Scroll()
                await tab.act(A.Action(scroll=scroll, timeout_ms=10_000))
            elif action == "navigate":
                await tab.goto(text)
            elif action == "back":
                await tab.back()
            elif action == "wait":
                await tab.act(A.Action(wait=A.Wait(time_ms=1000)))
        except BrowserplaneError as err:
            step.message = err.message
            return step
        except PwError as err:
            step.message = str(err).strip().splitlines()[0][:300] if str(err).strip() else "failed"
            return step
        step.success = True
        return step

    async def _read_email(self, tab: Tab, index: int, choice: dict) -> tuple[A.AgentStep, str]:
        """The persona's newest mail, for the next prompts only: the step says how many were
        read, never what they say (mail is anyone's text)."""
        assert tab.inbox is not None
        step = A.AgentStep(index=index, thought=str(choice.get("thought", ""))[:500],
                           action="read_email")
        try:
            mails = await tab.inbox.read()
        except BrowserplaneError as err:
            step.message = err.message
            return step, ""
        step.success = True
        step.message = f"read {len(mails)} email(s)"
        return step, trim(mails_for_prompt(mails), self.model.max_input_chars // 4)

    async def _final_data(self, tab: Tab, task: str, result: A.AgentResult, schema: dict,
                          meter: Meter) -> None:
        """The answer in the caller's shape, from the last page and the model's own words."""
        obs = await tab.observe(max_text=self.model.max_input_chars)
        try:
            answer = await self.model.complete(
                meter, "You give the final answer of a finished web task as JSON.",
                f"Task: {task}\nThe agent's answer: {result.answer}\n\nPage: {obs.page.url}\n"
                f"{trim(obs.markdown, self.model.max_input_chars)}", schema=schema,
                max_tokens=self._tokens(1024))
        except (BudgetReached, BrowserplaneError) as err:
            result.message = f"the answer could not be put in the schema's shape: {err}"
            return
        result.data.CopyFrom(_value(answer.data))


async def follow_next(tab: Tab, obs: A.Observation, description: str) -> bool:
    """Goes to the following page; False when there is none (the last page). The page's own
    signs come first (rel=next, a "Next" link or button), then the element resolver."""
    try:
        href = await tab.page.evaluate(REL_NEXT)
    except PwError:
        href = None
    if href and href != tab.page.url:
        await tab.goto(href)
        return True
    wanted = description.strip().lower()
    for element in obs.elements:
        if element.disabled or element.role not in ("link", "button"):
            continue
        if NEXT_TEXT.match(element.label) or element.label.strip().lower() == wanted:
            await tab.act(A.Action(click=A.Click(target=A.ElementTarget(ref=element.ref)),
                                   timeout_ms=10_000))
            return True
    # The resolver (ElementTarget.description): only an enabled, visible match is followed.
    target = A.ElementTarget(description=description)
    try:
        found = await page_actions.locate(tab.page, target, timeout_ms=300, intent=A.CLICK)
        if not await found.is_enabled() or await found.get_attribute("aria-disabled") == "true":
            return False
        await tab.act(A.Action(click=A.Click(target=target), timeout_ms=10_000))
    except (BrowserplaneError, PwError):
        return False
    return True


_AGENT_SYSTEM = (
    "You operate a web browser to do a task, one action at a time. Choose exactly one action:\n"
    "click (ref), type (ref, text), select (ref, text = the option), scroll (ref optional), "
    "navigate (text = URL), back, wait, done (text = the answer, when the task is complete), "
    "fail (text = why it cannot be done), ask_human (text = what a person must do, e.g. a captcha "
    "or a login you have no password for).\nOnly use refs from the element list.")


def _agent_prompt(task: str, obs: A.Observation, history: list[str], max_chars: int) -> str:
    lines = []
    for e in obs.elements:
        facts = [e.ref, e.role or e.tag, json.dumps(e.label[:80])]
        if e.value:
            facts.append(f"value={json.dumps(e.value[:60])}")
        if e.disabled:
            facts.append("disabled")
        lines.append(" ".join(facts))
    past = "\n".join(history[-6:]) or "(none)"
    return (f"Task: {task.strip()}\n\nSteps so far:\n{past}\n\nPage: {obs.page.title} ({obs.page.url})\n"
            f"{trim(obs.markdown, max_chars)}\n\nElements:\n" + "\n".join(lines) + "\n\nThe next action?")


def _vault_note(vault_actions: list[str]) -> str:
    if not vault_actions:
        return ""
    return ("\n\nA saved login is available for this site. You never see it: to fill the login "
            f"form use {', '.join(vault_actions)} with the field's ref (no text), then click the "
            "form's submit button.")


def _agent_schema(refs: list[str], vault_actions: list[str] = ()) -> dict:
    return {"type": "object", "properties": {
        "action": {"type": "string", "enum": [*AGENT_ACTIONS, *vault_actions]},
        "ref": {"type": "string", "enum": [*refs, ""]},
        "text": {"type": "string", "maxLength": 300},
        "thought": {"type": "string", "maxLength": 120}},
        "required": ["action", "ref", "text", "thought"]}


def _minus(after: A.ModelUsage, before: A.ModelUsage) -> A.ModelUsage:
    prompt = after.prompt_tokens - before.prompt_tokens
    completion = after.completion_tokens - before.completion_tokens
    return A.ModelUsage(model=after.model, calls=after.calls - before.calls, prompt_tokens=prompt,
                        completion_tokens=completion, credits=-(-(prompt + completion) // 1000),
                        duration_ms=after.duration_ms - before.duration_ms)


def _value(item: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    if item is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(item, bool):
        value.bool_value = item
    elif isinstance(item, int | float):
        value.number_value = float(item)
    elif isinstance(item, str):
        value.string_value = item
    elif isinstance(item, dict):
        value.struct_value.update(item)
    elif isinstance(item, list):
        value.list_value.extend(item)
    return value
