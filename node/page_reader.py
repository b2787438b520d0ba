"""Reading a page the way an agent needs it: Observe, Extract and blocker dismissal.

The work happens inside the page, in one evaluation of `page_reader.js` (a walk of the DOM is
one round trip, not one per element). The script keeps element refs in the document, so a ref
names the same element across observations until the page navigates away.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import pathlib
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from playwright.async_api import ElementHandle, Frame, Page
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
MAX_FRAMES = 10  # iframes read per observation (ads and trackers can bring dozens)
FRAME_REF = re.compile(r"^f(\d+)(e\d+)$")
# Each iframe gets a number for as long as it lives; an element in it has the ref f<number>e<n>.
_frame_numbers: weakref.WeakKeyDictionary[Frame, int] = weakref.WeakKeyDictionary()
_frame_counters: weakref.WeakKeyDictionary[Page, Any] = weakref.WeakKeyDictionary()
# Called when a page does not answer in time, to stop whatever script keeps it busy.
Stop = Callable[[], Awaitable[Any]] | None


async def _run(page: Page | Frame, op: str, stop: Stop = None, **args: Any) -> Any:
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
    if not request.scope:
        await _observe_frames(page, request, obs)
    if request.include_screenshot:
        obs.screenshot = await page.screenshot(type="png")
    return obs


def _frame_number(page: Page, frame: Frame) -> int:
    if frame not in _frame_numbers:
        counter = _frame_counters.setdefault(page, itertools.count(1))
        _frame_numbers[frame] = next(counter)
    return _frame_numbers[frame]


def _child_frames(page: Page) -> list[Frame]:
    found: list[Frame] = []

    def walk(frame: Frame, depth: int) -> None:
        for child in frame.child_frames:
            if len(found) < MAX_FRAMES and depth < 3 and not child.is_detached():
                found.append(child)
                walk(child, depth + 1)
    walk(page.main_frame, 0)
    return found


async def _observe_frames(page: Page, request: A.ObserveRequest, obs: A.Observation) -> None:
    """What a user sees in the page's iframes (an embedded form, a consent dialog) joins the
    observation: their content as sections of the markdown, their elements with refs f<n>e<m>."""
    limit = request.max_text_length or DEFAULT_TEXT
    text, total = obs.markdown, obs.markdown_total
    for frame in _child_frames(page):
        if frame.url in ("", "about:blank", "about:srcdoc") and not frame.name:
            continue
        try:
            result = await asyncio.wait_for(_run(frame, "observe", None, scope="", full=False,
                                                 links=request.include_links, map=False,
                                                 max_text_length=limit, max_elements=0), 5)
        except (BrowserplaneError, TimeoutError):
            continue  # a frame that went away or does not answer is left out
        if not result["scroll"]["viewport_width"] or not result["scroll"]["viewport_height"]:
            continue  # a hidden frame
        prefix = f"f{_frame_number(page, frame)}"
        if result["markdown"]:
            section = f"\n\n## [frame] {result['title'] or result['url']}\n{result['markdown']}"
            text += section
            total += len(section) - len(result["markdown"]) + result["markdown_total"]
        for element in result["elements"]:
            element["ref"] = prefix + element["ref"]
            element["form_ref"] = prefix + element["form_ref"] if element["form_ref"] else ""
            obs.elements.append(A.Element(**element))
        for form in result["forms"]:
            form["ref"] = prefix + form["ref"]
            form["field_refs"] = [prefix + r for r in form["field_refs"]]
            obs.forms.append(A.Form(**form))
        obs.links.extend(A.Link(**link) for link in result["links"])
        changes = result["changes"]
        if changes is not None and obs.HasField("changes"):
            obs.changes.content_changed |= changes["content_changed"]
            if changes["content_delta"]:
                obs.changes.content_delta += ("\n" if obs.changes.content_delta else "") + \
                    changes["content_delta"]
            obs.changes.elements_added.extend(prefix + r for r in changes["elements_added"])
            obs.changes.elements_removed.extend(prefix + r for r in changes["elements_removed"])
    obs.markdown = text[:limit]
    obs.markdown_shown = len(obs.markdown)
    obs.markdown_total = total


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
    where: Page | Frame = page
    inner = ref
    framed = FRAME_REF.match(ref)
    if framed:
        number, inner = int(framed.group(1)), framed.group(2)
        frame = next((f for f in _child_frames(page) if _frame_numbers.get(f) == number), None)
        if frame is None:
            raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND,
                                    f"the frame of ref {ref!r} is no longer on the page",
                                    metadata={"ref": ref})
        where = frame
    # No reader in the document means no refs were handed out for it.
    handle = await where.evaluate_handle(f"(ref) => {_INSTALLED} ? {_INSTALLED}.byRef(ref) : null", inner)
    found = handle.as_element()
    if found is None:
        await handle.dispose()
        raise BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND,
                                f"no element has ref {ref!r} on this page; refs come from the last "
                                "observation of the current page", metadata={"ref": ref})
    return found


async def candidates(page: Page, *, extra: bool = False, scroll: bool = False) -> list[dict[str, Any]]:
    """Every element a description may name, on the page and in its frames (one evaluation per
    frame, run side by side), in document order, each with its context (row, card, heading,
    legend, landmarks; for a frame's elements, the frame's title). `extra` adds elements a user
    may point at without acting (images, elements with a title or tooltip), `scroll` scrollable
    boxes."""
    frames = [f for f in _child_frames(page)
              if f.url not in ("", "about:blank", "about:srcdoc") or f.name]

    async def read(frame: Frame) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(_run(frame, "candidates", None, extra=extra, scroll=scroll), 5)
        except (BrowserplaneError, TimeoutError):
            return None  # a frame that went away or does not answer is left out

    main, *inner = await asyncio.gather(_run(page, "candidates", None, extra=extra, scroll=scroll),
                                        *(read(f) for f in frames))
    found: list[dict[str, Any]] = []
    for element in main["elements"]:
        element["frame"] = ""
        found.append(element)
    titles = {(f["src"], f["name"]): f["title"] for f in main["frames"]}
    for frame, result in zip(frames, inner, strict=True):
        if result is None or not result["viewport"]["w"] or not result["viewport"]["h"]:
            continue  # gone, or a hidden frame
        prefix = f"f{_frame_number(page, frame)}"
        title = titles.get((frame.url, frame.name)) or next(
            (t for (src, name), t in titles.items() if src == frame.url or (name and name == frame.name)), "")
        for element in result["elements"]:
            element["ref"] = prefix + element["ref"]
            element["form_ref"] = prefix + element["form_ref"] if element["form_ref"] else ""
            element["frame"] = frame.url
            element["context"]["frame"] = title or result.get("url", "")
            found.append(element)
    return found


async def recall(page: Page, frame_url: str, path: list[str]) -> dict[str, Any] | None:
    """The element at a remembered deep path (in the frame at frame_url, or the page), with the
    same fields as `candidates`; None when nothing visible is there now."""
    where: Page | Frame = page
    prefix = ""
    if frame_url:
        frame = next((f for f in _child_frames(page) if f.url == frame_url), None)
        if frame is None:
            return None
        where, prefix = frame, f"f{_frame_number(page, frame)}"
    try:
        element = (await _run(where, "recall", None, path=path))["element"]
    except BrowserplaneError:
        return None
    if element is None:
        return None
    element["ref"] = prefix + element["ref"]
    element["form_ref"] = prefix + element["form_ref"] if element["form_ref"] else ""
    element["frame"] = frame_url
    return element
