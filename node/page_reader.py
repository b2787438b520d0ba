"""Reading a page the way an agent needs it: Observe, Extract and blocker dismissal.

The work happens inside the page, in one evaluation of `page_reader.js` (a walk of the DOM is
one round trip, not one per element). The script keeps element refs in the document, so a ref
names the same element across observations until the page navigates away.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from playwright.async_api import ElementHandle, Page
from playwright.async_api import Error as PwError

from browserplane import errors
from browserplane.errors import BrowserplaneError
from browserplane.v1 import automation_pb2 as A

_SCRIPT = pathlib.Path(__file__).with_name("page_reader.js").read_text()
# The answer crosses as one JSON string: Playwright's own serialisation of a result with a
# thousand objects costs several times the walk that built it.
_CALL = "(args) => JSON.stringify((" + _SCRIPT + ")()[args.op](args))"
# Once the reader is in the document, calls skip sending and compiling the script again.
_INSTALLED = "window[Symbol.for('browserplane.reader.v1')]"
_QUICK_CALL = f"(args) => {_INSTALLED} ? JSON.stringify({_INSTALLED}[args.op](args)) : null"
DEFAULT_TEXT = 12_000
READ_TIMEOUT_S = 20.0
# Called when a page does not answer in time, to stop whatever script keeps it busy.
Stop = Callable[[], Awaitable[Any]] | None


async def _run(page: Page, op: str, stop: Stop = None, **args: Any) -> Any:
    try:
        answer = await asyncio.wait_for(page.evaluate(_QUICK_CALL, {"op": op, **args}), READ_TIMEOUT_S)
        if answer is None:
            answer = await asyncio.wait_for(page.evaluate(_CALL, {"op": op, **args}), READ_TIMEOUT_S)
        return json.loads(answer)
    except TimeoutError:
        if stop is not None:  # the page's main thread is busy (a script that never ends)
            await stop()
        raise BrowserplaneError(grpc.StatusCode.DEADLINE_EXCEEDED, errors.TIMEOUT,
                                f"the page did not answer in {READ_TIMEOUT_S:g} s (its scripts "
                                "kept it busy; they were stopped)") from None
    except PwError as err:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Execution context was destroyed" in text or "navigation" in text.lower():
            raise BrowserplaneError(grpc.StatusCode.UNAVAILABLE, errors.ACTION_FAILED,
                                    "the page navigated while it was read; try again",
                                    retry_after=0.2) from None
        raise BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.ACTION_FAILED,
                                f"reading the page failed: {text}") from None


async def observe(page: Page, request: A.ObserveRequest, stop: Stop = None) -> A.Observation:
    result = await _run(page, "observe", stop, scope=request.scope,
                        full=request.mode == A.ObserveRequest.FULL,
                        links=request.include_links, map=request.include_page_map,
                        max_text_length=request.max_text_length or DEFAULT_TEXT,
                        max_elements=request.max_elements)
    if result.get("error") == "scope":
        raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND, result["message"])
    if result.get("error") == "scope_invalid":
        raise errors.invalid("scope", result["message"])
    scroll = result["scroll"]
    obs = A.Observation(
        page=A.PageInfo(url=result["url"], title=result["title"]),
        stable=result["stable"], markdown=result["markdown"],
        markdown_shown=len(result["markdown"]), markdown_total=result["markdown_total"],
        elements=[A.Element(**element) for element in result["elements"]],
        forms=[A.Form(**form) for form in result["forms"]],
        map=[A.PageSection(**section) for section in result["map"]],
        scroll=A.ScrollState(x=scroll["x"], y=scroll["y"], height=scroll["height"],
                             width=scroll["width"], viewport_height=scroll["viewport_height"],
                             viewport_width=scroll["viewport_width"], percent=scroll["percent"]),
        links=[A.Link(**link) for link in result["links"]])
    if result["changes"] is not None:
        obs.changes.CopyFrom(A.Changes(**result["changes"]))
    if request.include_screenshot:
        obs.screenshot = await page.screenshot(type="png")
    return obs


async def extract(page: Page, schema: struct_pb2.Struct, stop: Stop = None) -> struct_pb2.Struct:
    as_dict = json_format.MessageToDict(schema)
    if not as_dict:
        raise errors.invalid("schema", "name at least one field, e.g. {\"title\": \"h1 >> text\"}")
    result = await _run(page, "extract", stop, schema=as_dict)
    if "error" in result:
        raise BrowserplaneError(grpc.StatusCode.INVALID_ARGUMENT, errors.INVALID_ARGUMENT,
                                f"extract: {result['error']}", metadata={"field": "schema"})
    data = struct_pb2.Struct()
    data.update(result["data"])
    return data


async def content(page: Page) -> str:
    return await _run(page, "content")


async def dismiss_blockers(page: Page, stop: Stop = None) -> list[str]:
    """Closes cookie-consent banners and pop-ups; answers what it closed, e.g. cookie_consent.
    Consent platforms often sit in an iframe of their own, so every frame is looked at."""
    dismissed: list[str] = []
    try:
        dismissed += await _run(page, "dismiss", stop)
    except BrowserplaneError:
        return dismissed  # a page that navigated away has nothing left to dismiss
    if "cookie_consent" in dismissed:
        return dismissed
    for frame in page.main_frame.child_frames:
        try:
            found = json.loads(await asyncio.wait_for(frame.evaluate(
                "() => JSON.stringify((" + _SCRIPT + ")().dismiss({defer: true}))"), 5))
        except (PwError, TimeoutError):
            continue  # a frame that went away or never answered
        dismissed += [kind for kind in found if kind not in dismissed]
    return dismissed


async def element(page: Page, ref: str) -> ElementHandle:
    # No reader in the document means no refs were handed out for it.
    handle = await page.evaluate_handle(f"(ref) => {_INSTALLED} ? {_INSTALLED}.byRef(ref) : null", ref)
    found = handle.as_element()
    if found is None:
        await handle.dispose()
        raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND,
                                f"no element has ref {ref!r} on this page; refs come from the last "
                                "observation of the current page", metadata={"ref": ref})
    return found
