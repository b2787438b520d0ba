"""Locate and actions by description, on real Chromium through the control plane, on
tests/pages/locate.html (not one of the bench's tuning pages); plus the pure scoring of
node/locator.py without a browser. Every action asserts what the page did."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node import locator
from tests.cluster import Cluster


@pytest.fixture(scope="module")
def md(cluster: Cluster):
    """A project of this file's own: resolutions are remembered per project, and other files
    resolve descriptions on the same pages."""
    return (("authorization", f"Bearer {cluster.create_key('locate-tests')}"),)


@pytest.fixture
def auto(cluster: Cluster):
    with grpc.insecure_channel(cluster.address) as channel:
        yield automation_pb2_grpc.AutomationStub(channel)


@pytest.fixture
def sid(cluster: Cluster, md, site):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(keep_alive=True)),
                                   metadata=md, timeout=60)
    yield s.id
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)


@pytest.fixture
def page(auto, md, sid, site):
    auto.Navigate(A.NavigateRequest(session_id=sid, url=f"{site}/locate.html"), metadata=md, timeout=30)
    return sid


def _by(description: str) -> A.ElementTarget:
    return A.ElementTarget(description=description)


def _act(auto, md, sid, **action) -> A.ActResponse:
    return auto.Act(A.ActRequest(session_id=sid, action=A.Action(**action)), metadata=md, timeout=60)


def _js(auto, md, sid, expression):
    result = auto.Evaluate(A.EvaluateRequest(session_id=sid, expression=expression), metadata=md).result
    return result.WhichOneof("kind") and getattr(result, result.WhichOneof("kind"))


def _locate(auto, md, sid, description, intent=A.INTENT_UNSPECIFIED, **kw) -> A.LocateResponse:
    return auto.Locate(A.LocateRequest(session_id=sid, description=description, intent=intent, **kw),
                       metadata=md, timeout=30)


def _id_of(auto, md, sid, ref: str) -> str:
    """The id attribute of the element a ref names (read back through Evaluate by ref)."""
    result = auto.Evaluate(A.EvaluateRequest(session_id=sid, element=A.ElementTarget(ref=ref),
                                             expression="(e) => e.id"), metadata=md).result
    return result.string_value


def test_act_by_description_does_what_was_described(auto, md, page):
    sid = page
    answer = _act(auto, md, sid, click=A.Click(target=_by("remove in Bob's row")))
    rows = _js(auto, md, sid, "Array.from(document.querySelectorAll('#people tr')).map(r => r.id).join(',')")
    assert rows == "row-ann,row-cho"  # Bob's row, and only Bob's, is gone
    resolved = answer.resolved
    assert resolved.label == "Remove" and resolved.role == "button"
    assert resolved.chosen_by in ("resolver", "cache")
    assert resolved.ref and resolved.selector and 0 < resolved.score <= 1 and resolved.duration_ms > 0
    assert "bob" in resolved.why.lower() and not resolved.ambiguous

    _act(auto, md, sid, click=A.Click(target=_by("add the kettle to my cart")))
    counts = _js(auto, md, sid, "['teapot', 'kettle', 'toaster']"
                                ".map(i => document.getElementById('n-' + i).textContent).join(',')")
    assert counts == "0,1,0"

    typed = _act(auto, md, sid, fill=A.Fill(target=_by("office phone number"), value="555-0101"))
    assert _js(auto, md, sid, "document.getElementById('op').value") == "555-0101"
    assert _js(auto, md, sid, "document.getElementById('hp').value") == ""
    assert typed.resolved.role == "textbox"

    _act(auto, md, sid, check=A.Check(target=_by("turn on the notifications switch"), checked=True))
    assert _js(auto, md, sid, "document.getElementById('notif').getAttribute('aria-checked')") == "true"

    # A styled switch whose input is hidden: its label stands in, and checking it checks the input.
    sms = _act(auto, md, sid, check=A.Check(target=_by("text message delivery updates"), checked=True))
    assert sms.resolved.role == "checkbox" and _id_of(auto, md, sid, sms.resolved.ref) == "sms-label"
    assert _js(auto, md, sid, "document.getElementById('sms').checked") is True

    gear = _act(auto, md, sid, click=A.Click(target=_by("the settings gear")))
    assert _js(auto, md, sid, "document.getElementById('prefs').dataset.clicks") == "1"
    assert gear.resolved.label == "Preferences"  # an icon-only button, named by aria-label

    # A ref-targeted action answers no resolution.
    plain = _act(auto, md, sid, hover=A.Hover(target=A.ElementTarget(selector="#prefs")))
    assert not plain.HasField("resolved")


def test_locate_ranks_candidates_with_why_and_context(auto, md, page):
    sid = page
    answer = _locate(auto, md, sid, "like the second post", A.CLICK, max_candidates=3)
    assert len(answer.candidates) == 3
    assert _id_of(auto, md, sid, answer.best.ref) == "like-2"
    assert answer.candidates[0].element.ref == answer.best.ref
    assert "second post" in answer.candidates[0].context.lower()
    assert answer.best.why and answer.best.chosen_by == "resolver"

    second = _locate(auto, md, sid, "the second like button", A.CLICK)
    assert _id_of(auto, md, sid, second.best.ref) == "like-2" and "2nd of 3" in second.best.why
    last = _locate(auto, md, sid, "the last like button", A.CLICK)
    assert _id_of(auto, md, sid, last.best.ref) == "like-3"

    header = _locate(auto, md, sid, "sign in link in the header", A.CLICK)
    footer = _locate(auto, md, sid, "log in at the bottom of the page", A.CLICK)
    assert _id_of(auto, md, sid, header.best.ref) == "head-signin"
    assert _id_of(auto, md, sid, footer.best.ref) == "foot-signin"
    assert "footer" in footer.best.why

    # Intent matters: TYPE prefers the field, not the button that shares its words.
    office = _locate(auto, md, sid, "phone in the office section", A.TYPE)
    assert _id_of(auto, md, sid, office.best.ref) == "op"
    assert "office" in office.candidates[0].context.lower()

    # A disabled control still answers, below where it would be.
    archive = _locate(auto, md, sid, "archive everything", A.CLICK)
    assert _id_of(auto, md, sid, archive.best.ref) == "off" and "disabled" in archive.best.why
    scores = [c.score for c in answer.candidates]
    assert scores == sorted(scores, reverse=True)


def test_iframe_and_shadow_root_targets(auto, md, page):
    sid = page
    _act(auto, md, sid, fill=A.Fill(target=_by("the message box in the support chat"), value="hello there"))
    sent = _act(auto, md, sid, click=A.Click(target=_by("send the message")))
    assert sent.resolved.ref.startswith("f")  # an element of the frame
    frame_sent = auto.Evaluate(A.EvaluateRequest(
        session_id=sid, element=A.ElementTarget(ref=sent.resolved.ref),
        expression="(e) => e.ownerDocument.body.dataset.sent"), metadata=md).result.string_value
    assert frame_sent == "hello there"

    _act(auto, md, sid, fill=A.Fill(target=_by("your email for the weekly letter"), value="a@b.test"))
    joined = _act(auto, md, sid, click=A.Click(target=_by("join the list")))
    assert _js(auto, md, sid, "document.querySelector('signup-box').getAttribute('joined')") == "a@b.test"
    assert ">>" in joined.resolved.selector  # a path through the shadow root


def test_ambiguous_without_a_model_takes_the_best(auto, md, page):
    sid = page
    answer = _locate(auto, md, sid, "learn more", A.CLICK)
    assert answer.best.ambiguous and answer.best.chosen_by == "resolver"
    assert _id_of(auto, md, sid, answer.best.ref) == "more-a"  # the first of equals, in page order
    assert not answer.HasField("usage")


def test_remembered_resolution_then_fallback_when_the_page_changes(auto, md, page):
    sid = page
    first = _locate(auto, md, sid, "remove Cho", A.CLICK)
    again = _locate(auto, md, sid, "remove Cho", A.CLICK)
    assert first.best.chosen_by == "resolver" and again.best.chosen_by == "cache"
    assert again.best.ref == first.best.ref
    fresh = _locate(auto, md, sid, "remove Cho", A.CLICK, no_cache=True)
    assert fresh.best.chosen_by == "resolver"
    # A row that moves keeps its id: the remembered path still finds the same button.
    _js(auto, md, sid, "const t = document.querySelector('#people tbody');"
                       " t.prepend(document.getElementById('row-cho')); true")
    moved = _locate(auto, md, sid, "remove Cho", A.CLICK)
    assert moved.best.chosen_by == "cache" and moved.best.ref == first.best.ref
    # The table is drawn anew (no ids, Cho last but one): the remembered place is gone.
    _js(auto, md, sid, "document.querySelector('#people tbody').innerHTML ="
                       " ['Ann Lee', 'Cho Park', 'Bob Stone'].map(n =>"
                       " `<tr><td>${n}</td><td><button class=rm>Remove</button></td></tr>`).join('');"
                       " for (const b of document.querySelectorAll('.rm'))"
                       " b.addEventListener('click', () => b.closest('tr').remove()); true")
    after = _act(auto, md, sid, click=A.Click(target=_by("remove Cho")))
    assert after.resolved.chosen_by == "resolver" and after.resolved.ref != first.best.ref
    rows = _js(auto, md, sid, "Array.from(document.querySelectorAll('#people tr'))"
                              ".map(r => r.cells[0].textContent).join(',')")
    assert rows == "Ann Lee,Bob Stone"
    log = auto.GetActionLog(A.LogRequest(session_id=sid), metadata=md)
    assert any(e.type == "locate" and e.details["description"] == "remove Cho" for e in log.entries)


def test_screenshot_and_evaluate_take_descriptions(auto, md, page):
    sid = page
    shot = auto.Screenshot(A.ScreenshotRequest(session_id=sid, element=_by("the preferences icon")),
                           metadata=md, timeout=30)
    assert shot.data.startswith(b"\x89PNG") and 0 < shot.width < 200
    value = auto.Evaluate(A.EvaluateRequest(session_id=sid, element=_by("kettle's add to basket"),
                                            expression="(e) => e.dataset.item"), metadata=md).result
    assert value.string_value == "kettle"


def test_no_match_and_bad_input(auto, md, page):
    sid = page

    def fails(call) -> errors.ErrorDescription:
        with pytest.raises(grpc.RpcError) as info:
            call()
        return errors.describe(info.value)

    missing = fails(lambda: _act(auto, md, sid, click=A.Click(target=_by("the purple elephant"))))
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == errors.ELEMENT_NOT_FOUND
    assert "purple elephant" in missing.message
    near = fails(lambda: _act(auto, md, sid, click=A.Click(target=_by("remove Zed from the team"))))
    assert near.reason == errors.ELEMENT_NOT_FOUND and "nearest" in near.message and "Remove" in near.message
    nothing = _locate(auto, md, sid, "the purple elephant")
    assert not nothing.HasField("best")
    for request in (A.LocateRequest(session_id=sid, description=""),
                    A.LocateRequest(session_id=sid, description="   "),
                    A.LocateRequest(session_id=sid, description="x" * 501),
                    A.LocateRequest(session_id=sid, description="ok", intent=99),
                    A.LocateRequest(session_id=sid, description="ok", max_candidates=51)):
        bad = fails(lambda r=request: auto.Locate(r, metadata=md, timeout=30))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT, request
    empty = fails(lambda: _act(auto, md, sid, click=A.Click(target=_by(""))))
    assert empty.code == grpc.StatusCode.INVALID_ARGUMENT
    unknown = fails(lambda: _locate(auto, md, "no-such-session", "x"))
    assert unknown.reason == errors.SESSION_NOT_FOUND


# ---- the pure part: no browser -------------------------------------------------------------

def _el(ref, label, role="button", tag="button", order_text="", **extra) -> dict:
    context = {"container": order_text, "heading": "", "group": "", "landmark": "main", "item": "TR."}
    context.update(extra.pop("context", {}))
    own = {"aria": "", "title": "", "placeholder": "", "text": label, "alt": "", "hints": "",
           "value": "", "pressed": "", "expanded": "", "popup": "", "selected": False,
           "checked_state": "", "shadow": False}
    own.update(extra.pop("own", {}))
    return {"ref": ref, "tag": tag, "role": role, "label": label, "value": "", "type": "", "name": "",
            "disabled": False, "in_viewport": True, "options": [], "selector": f"#{ref}", "path": [f"#{ref}"],
            "own": own, "context": context, "frame": "", **extra}


ROWS = [_el("e1", "Delete", order_text="Alice Martin alice@x.test"),
        _el("e2", "Delete", order_text="Bob Chen bob@x.test"),
        _el("e3", "Edit", order_text="Bob Chen bob@x.test"),
        _el("e4", "Delete all"),
        _el("e5", "", role="textbox", tag="input", own={"placeholder": "Search users", "text": ""})]


def test_rank_uses_context_synonyms_ordinals_and_intent():
    assert locator.rank(ROWS, "delete in Bob's row", A.CLICK).best.ref == "e2"
    assert locator.rank(ROWS, "trash Bob", A.CLICK).best.ref == "e2"        # trash = delete
    assert locator.rank(ROWS, "remove alice", A.CLICK).best.ref == "e1"     # remove = delete
    assert locator.rank(ROWS, "the second delete button", A.CLICK).best.ref == "e2"
    assert locator.rank(ROWS, "the last delete button", A.CLICK).best.ref == "e2"
    assert locator.rank(ROWS, "find users", A.TYPE).best.ref == "e5"  # find = search; TYPE: a field
    edit = locator.rank(ROWS, "edit bob", A.CLICK)
    assert edit.best.ref == "e3" and "bob" in edit.best.why
    plain = locator.rank(ROWS, "delete", A.CLICK)
    assert plain.ambiguous and plain.best.ref == "e1"  # two alike: the first, flagged
    assert locator.rank(ROWS, "a purple elephant", A.CLICK).best is None
    # Deterministic: the same input, the same answer.
    once, twice = (locator.rank(ROWS, "delete in Bob's row", A.CLICK) for _ in range(2))
    assert [s.ref for s in once.ranked] == [s.ref for s in twice.ranked]


def test_rank_icon_buttons_roles_and_disabled():
    elements = [_el("e1", "Close", own={"aria": "Close", "text": "×"}, context={"landmark": "dialog"}),
                _el("e2", "Close account"),
                _el("e3", "Sign in", role="link", tag="a", context={"landmark": "header"}),
                _el("e4", "Sign in", role="link", tag="a", context={"landmark": "footer"}),
                _el("e5", "Log in", disabled=True),
                _el("e6", "Dark mode", role="switch", own={"aria": "Dark mode", "text": ""})]
    assert locator.rank(elements, "the x icon", A.CLICK).best.ref == "e1"
    assert locator.rank(elements, "dismiss the popup", A.CLICK).best.ref == "e1"
    assert locator.rank(elements, "login link in the footer", A.CLICK).best.ref == "e4"
    assert locator.rank(elements, "sign in at the top", A.CLICK).best.ref == "e3"
    ranked = locator.rank(elements, "log in button", A.CLICK).ranked
    assert "disabled" in next(s.why for s in ranked if s.ref == "e5")
    assert locator.rank(elements, "dark mode toggle", A.CHECK).best.ref == "e6"


def test_the_chooser_picks_only_among_what_it_was_shown():
    ranking = locator.rank(ROWS, "delete", A.CLICK)
    seen: list[list[dict]] = []

    async def pick_second(description: str, intent: str, candidates: list[dict]):
        seen.append(candidates)
        return 1, A.ModelUsage(model="rule", calls=1)

    async def out_of_range(description: str, intent: str, candidates: list[dict]):
        return len(candidates), A.ModelUsage(calls=1)

    best, usage, by = asyncio.run(locator.choose(pick_second, "delete", A.CLICK, ranking))
    assert by == "model" and best is ranking.ranked[1] and usage.calls == 1
    assert 1 < len(seen[0]) <= locator.CHOOSER_MAX and all("ref" in c and "context" in c for c in seen[0])
    best, _, by = asyncio.run(locator.choose(out_of_range, "delete", A.CLICK, ranking))
    assert by == "resolver" and best is ranking.ranked[0]


def test_words_page_patterns_and_the_bounded_cache():
    assert locator.words("Log in") == locator.words("sign-in") == ("signin",)
    assert locator.words("Shopping basket") == ("cart",)
    assert locator.words("E-mail address") == locator.words("email addresses")
    assert locator.page_pattern("https://shop.test/orders/12345/items?x=1") == "https://shop.test/orders/*/items"
    assert locator.page_pattern("https://a.test/u/3f2a9c1e-7d0b-4c1e-9a7e-2b8c9d0e1f2a") == "https://a.test/u/*"
    cache = locator.ResolutionCache(size=2)
    entry = locator.Remembered("", ["#a"], (), 0.9, "", False)
    for i in range(3):
        cache.put(("p", "u", str(i), 1), entry)
    assert len(cache.entries) == 2 and cache.get(("p", "u", "0", 1)) is None
    assert locator.ResolutionCache.key("p", "https://x.test/a/7", "The  Delete button", 1) == \
        locator.ResolutionCache.key("p", "https://x.test/a/8", "the delete button", 1)


def test_rank_roots_numbers_unmatched_words_and_ordinals_in_lists():
    card = {"item": "LI.card"}
    cards = [_el("n1", "Flights", role="link", tag="a", context={"landmark": "nav", "item": ""}),
             _el("s1", "Select", role="link", tag="a", order_text="TAP flight £89", context=card),
             _el("s2", "Select", role="link", tag="a", order_text="easyJet flight £64", context=card),
             _el("m1", "Mark as fulfilled"), _el("p2", "2", role="link", tag="a"),
             _el("p5", "5", role="link", tag="a"), _el("nx", "Next page", role="link", tag="a"),
             _el("st", "4 stars", role="radio", tag="span")]
    assert locator.rank(cards, "choose the second flight", A.CLICK).best.ref == "s2"  # a list, not the nav
    assert locator.rank(cards, "mark them shipped", A.CLICK).best.ref == "m1"  # roots: shipped = ship
    assert locator.rank(cards, "page two", A.CLICK).best.ref == "p2"
    assert locator.rank(cards, "jump to the last page", A.CLICK).best.ref == "p5"
    assert locator.rank(cards, "give it four stars", A.CLICK).best.ref == "st"
    # "lot" and "results" are on no element here: the word that is decides.
    assert locator.rank(cards, "go to the next lot of results", A.CLICK).best.ref == "nx"
    assert locator.rank(cards, "a purple elephant", A.CLICK).best is None
    assert locator.words("Shipped orders") == locator.words("ship order")
