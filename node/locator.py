"""Locate: a description ("delete in Bob's row", "the second result") becomes an element.

Offline and deterministic. The page reader hands over every element a user could mean, with
what a person sees around it (node/page_reader.js `candidates`); this module scores them against
the description for an intended action in pure Python (`rank`, testable without a browser).
A model, when the node has one, only breaks a close tie among the few best candidates it is
shown (`Chooser`). Resolutions are remembered per project (`ResolutionCache`) and reused while the
element they found is still there and still looks the same.

Scoring, in short: the description's words (by their Porter2 roots, after synonyms grouped by
concept: "log in" = "sign in", "basket" = "cart", "silence" = "mute" ...) are looked for in the
element's own words (accessible name, text, title, placeholder, alt, svg title, id-ish hints;
a select's options when choosing) and in its context (the row or card, heading, legend,
landmark, frame). Words after "in", "for", "on", "next to" ... are context words. Role words
("button", "field", "toggle") and the intent (TYPE wants a text box, CHECK a checkbox) move the
score up or down; verbs that only restate the intent, fillers and words the page never mentions
count for little. Ordinals ("the second ...") pick among equally good candidates in document
order, within a list of alike rows or cards when the best is a lone control.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import snowballstemmer
from playwright.async_api import Page

from browserplane import errors
from browserplane.errors import BrowserplaneError
from browserplane.v1 import automation_pb2 as A
from node import page_reader

MAX_DESCRIPTION = 500
THRESHOLD = 0.35      # below it, nothing matched
AMBIGUOUS_MARGIN = 0.05  # a runner-up this close to the best makes the answer ambiguous
ORDINAL_MARGIN = 0.03    # candidates this close to the best count as "the same kind" for ordinals
CHOOSER_MARGIN = 0.15    # the model sees the best and those this close to it
CHOOSER_MAX = 5
DEFAULT_CANDIDATES = 5
MAX_CANDIDATES = 50

# A model's tie-break: (description, intent, candidates) -> (an index into candidates or None, usage).
Chooser = Callable[[str, str, list[dict[str, Any]]], Awaitable[tuple[int | None, A.ModelUsage]]]

INTENT_NAMES = {A.INTENT_UNSPECIFIED: "any", A.CLICK: "click", A.TYPE: "type", A.SELECT: "select",
                A.HOVER: "hover", A.SCROLL: "scroll", A.CHECK: "check"}

# ---- words ---------------------------------------------------------------------------------

# Several words for the same control, written once: the first word of a group is its name.
_GROUPS = [
    "signin login log-in sign-in logon log-on sign-on",
    "signout logout log-out sign-out logoff log-off",
    "signup register registration sign-up create-account create-an-account create-your-account "
    "create-my-account",
    "cart basket bag trolley shopping-cart shopping-bag shopping-basket 🛒",
    "delete remove trash bin discard trash-can garbage 🗑",
    "search find magnifier magnifying-glass look-up lookup 🔍 🔎",
    "close dismiss x × ✕ ✖ ✗",
    "settings preferences gear cog ⚙ ⚙️",
    "menu hamburger ☰ ≡ main-menu",
    "next forward → › » ⟶",
    "previous prev ← ‹ « ⟵",
    "submit send continue proceed",
    "email e-mail mail ✉",
    "password passcode pwd pass-word",
    "phone telephone mobile tel phone-number cell",
    "zip zipcode zip-code postcode post-code postal-code",
    "firstname first-name given-name forename",
    "lastname last-name surname family-name",
    "username user-name",
    "birthday date-of-birth birth-date dob birthdate",
    "twofactor two-factor 2fa two-step mfa multi-factor two-factor-authentication",
    "promo coupon voucher discount promo-code discount-code coupon-code",
    "cvc cvv csc security-code",
    "expiry expiration expires exp expiry-date expiration-date",
    "accept agree allow okay ok got-it i-agree",
    "reject decline deny refuse",
    "edit modify change pencil ✎ ✏ ✏️",
    "add new plus create + ＋",
    "notification notifications bell alert alerts 🔔",
    "wishlist wish-list favorite favourite heart ♡ ♥ ❤ ❤️",
    "more ⋮ … ⋯ kebab three-dots overflow",
    "refresh reload ⟳ ↻ ⟲ 🔄",
    "microphone mic voice 🎤",
    "play ▶ ►",
    "eye 👁 👁️",
    "star ☆ ★",
    "dark night ☾ 🌙 ☽",
    "top ↑",
    "folder 📁",
    "archive 📥",
    "attachment attach paperclip 📎",
    "qty quantity amount",
    "header masthead top-bar",
    "footer bottom",
    "nav navigation navbar",
    "aside sidebar side-bar",
    "dialog modal popup pop-up overlay lightbox",
    "theme mode",
    "timezone time-zone",
    "careers jobs hiring",
    "tc terms-and-conditions terms-of-service tos terms-of-use terms",
    # media players
    "mute silence quiet",
    "volume sound loudness audio",
    "caption subtitle cc closed-caption closed-captions",
    "fullscreen full-screen maximise maximize enlarge",
    "theater theatre cinema-mode wide-mode",
    "miniplayer mini-player picture-in-picture pip",
    "like thumbs-up upvote 👍",
    "dislike thumbs-down downvote 👎",
    "seek progress-bar scrubber timeline",
    "autoplay auto-play",
    "bookmark watch-later read-later save-for-later",
    # quantities and steppers
    "decrease reduce fewer less lower minus halve −",
    "increase raise",
    # keeping, finding, leaving
    "save remember keep",
    "clear reset",
    "cancel abandon abort quit",
    "confirm verify validate",
    "contact get-in-touch reach-us",
    "only just solely",
    "export download-as",
    "spreadsheet csv excel xlsx",
    "import upload",
    "sort order-by sort-by arrange",
    "swap reverse flip",
    # work items, orders, money
    "issue ticket task story",
    "fulfil fulfill ship dispatch",
    "collapse hide fold minimise minimize",
    "payee recipient beneficiary",
    "price cheap cheapest cost fare",
    # travel and time
    "return round-trip roundtrip come-back coming-back",
    "depart departure outbound leave leaving",
    "direct nonstop non-stop",
    "today now immediately right-away straight-away",
    "later future scheduled",
    "vegetarian veggie veg",
]
# Related words count for part of a match.
_RELATED = {("next", "more"): 0.6, ("previous", "back"): 0.8, ("wishlist", "save"): 0.6,
            ("wishlist", "like"): 0.8, ("notification", "news"): 0.5, ("account", "avatar"): 0.8,
            ("account", "profile"): 0.6, ("settings", "manage"): 0.5, ("submit", "go"): 0.6,
            ("previous", "older"): 0.7, ("next", "newer"): 0.7, ("signup", "join"): 0.7,
            ("delete", "revoke"): 0.5, ("cart", "buy"): 0.8, ("add", "buy"): 0.7,
            ("close", "cancel"): 0.6, ("close", "clear"): 0.5, ("message", "chat"): 0.6,
            ("search", "query"): 0.7, ("menu", "open"): 0.3, ("archive", "inbox"): 0.3,
            ("folder", "move"): 0.6, ("like", "heart"): 0.8,
            ("signin", "account"): 0.4, ("tc", "agree"): 0.3, ("dark", "theme"): 0.2,
            ("attachment", "download"): 0.6, ("edit", "write"): 0.3, ("add", "write"): 0.3,
            ("add", "compose"): 0.6, ("compose", "write"): 0.8, ("video", "demo"): 0.5,
            ("play", "watch"): 0.8, ("sales", "talk"): 0.3, ("contact", "talk"): 0.5,
            ("starter", "basic"): 0.5, ("code", "promo"): 0.5, ("address", "street"): 0.6,
            ("instruction", "note"): 0.7, ("order", "buy"): 0.4, ("expand", "show"): 0.6,
            ("expand", "more"): 0.5, ("confirm", "repeat"): 0.9, ("confirm", "again"): 0.8,
            ("confirm", "retype"): 0.9, ("all", "everyone"): 0.9, ("all", "every"): 0.9,
            ("contents", "toc"): 1.0, ("filter", "refine"): 0.8, ("reply", "answer"): 0.8,
            ("reply", "respond"): 0.8, ("report", "flag"): 0.8, ("follow", "connect"): 0.7,
            ("revoke", "cancel"): 0.8, ("revoke", "withdraw"): 0.8, ("order", "purchase"): 0.7,
            ("place", "complete"): 0.6, ("checkout", "purchase"): 0.7, ("submit", "complete"): 0.5,
            # question words stand for the kind of field that answers them
            ("who", "name"): 0.6, ("who", "payee"): 0.8, ("who", "person"): 0.7,
            ("when", "date"): 0.8, ("when", "time"): 0.7, ("where", "address"): 0.7,
            ("where", "location"): 0.8, ("where", "destination"): 0.7,
            ("increase", "add"): 0.8, ("increase", "more"): 0.7, ("bigger", "fullscreen"): 0.6,
            ("bigger", "theater"): 0.6, ("subscribe", "follow"): 0.8, ("bookmark", "save"): 0.8,
            ("bookmark", "playlist"): 0.7, ("bookmark", "wishlist"): 0.6, ("more", "rest"): 0.7,
            ("expand", "rest"): 0.6, ("more", "option"): 0.7, ("menu", "option"): 0.6,
            ("export", "download"): 0.8, ("contact", "support"): 0.6, ("contact", "help"): 0.4,
            ("rate", "star"): 0.7, ("instruction", "method"): 0.8, ("instruction", "direction"): 0.8,
            ("instruction", "step"): 0.6, ("jump", "skip"): 0.8, ("next", "skip"): 0.7,
            ("recommend", "related"): 0.7, ("recommend", "suggest"): 0.9, ("avatar", "profile"): 0.8,
            ("clear", "empty"): 0.8, ("later", "schedule"): 0.7, ("receipt", "confirmation"): 0.7,
            ("autoplay", "automatic"): 0.7, ("next", "continue"): 0.6, ("wishlist", "star"): 0.7}
_CANON: dict[str, str] = {}
_PHRASES: dict[tuple[str, ...], str] = {}
for _group in _GROUPS:
    _words = _group.split()
    for _w in _words:
        parts = tuple(_w.split("-"))
        if len(parts) > 1:
            _PHRASES[parts] = _words[0]
        else:
            _CANON[_w] = _words[0]
# Phrases that mark what follows as context ("next to Dan").
_CONTEXT_PHRASES = {("next", "to"): "@ctx", ("close", "to"): "@ctx", ("in", "front", "of"): "@ctx",
                    ("turn", "on"): "@soft", ("turn", "off"): "@soft", ("switch", "on"): "@soft",
                    ("switch", "off"): "@soft", ("check", "box"): "checkbox",
                    ("tick", "box"): "checkbox", ("text", "box"): "@field", ("text", "field"): "@field",
                    ("input", "field"): "@field", ("text", "area"): "@field",
                    ("search", "bar"): "search @field", ("search", "box"): "search @field",
                    ("search", "field"): "search @field", ("drop", "down"): "dropdown",
                    ("radio", "button"): "radio", ("table", "of", "contents"): "contents",
                    ("how", "many"): "qty", ("how", "much"): "qty", ("look", "for"): "search for",
                    ("searching", "for"): "search for", ("less", "than"): "@soft",
                    ("more", "than"): "@soft", ("half", "an", "hour"): "30 minute"}
# "last week" is a time, not the last of a list.
for _unit in ("hour", "day", "night", "week", "month", "year", "time"):
    _CONTEXT_PHRASES[("last", _unit)] = f"past {_unit}"
_PHRASES.update(_CONTEXT_PHRASES)
_MAX_PHRASE = max(len(p) for p in _PHRASES)

STOP = frozenset("""the a an this that these those my your our their its it me i we you please
    then here there which whose is are be being been was called named labeled labelled
    saying says say text and or to at with by as want would can could should let lets
    thing something one icon symbol element control
    him her them they he she us itself myself some any also really actually maybe kindly
    am will shall may might must need needs wanna gonna does did didn don doesn isn aren wasn
    won t s ll ve re m d get gets getting got have has had yet stuff things bit lot bunch
    around again okay whatever""".split())
# Verbs and fillers that add to a match when an element has them but are not required.
SOFT = frozenset("""click tap press hit push choose pick go open turn switch enable disable
    toggle mark make put set use view show see display visit do done type enter fill
    tick untick uncheck check select give try about regarding just only""".split())
# A description that starts with one of these names an action: a button more likely than a link.
ACTIONS = frozenset("""delete add edit submit accept reject close follow reply like apply save
    copy report archive refresh star snooze resend revoke invite export share subscribe""".split())
CONTEXT_WORDS = frozenset("in inside within under on for of from beside near below above "
                          "at among".split())
# Words for the kind of thing a container is: they say "a row", not what is in it.
STRUCTURAL = frozenset("row card section tile panel area region part line entry column cell "
                       "list item page screen site website window result results description "
                       "detail details info information".split())
# Verbs that only restate the intent ("write some feedback" to TYPE): soft for that intent.
INTENT_VERBS = {A.TYPE: frozenset("write put type enter fill add key say".split()),
                A.SELECT: frozenset("choose pick select set change switch use".split()),
                A.CHECK: frozenset("tick check mark select choose pick turn set".split()),
                A.HOVER: frozenset("hover point move".split()),
                A.SCROLL: frozenset("scroll move go browse".split())}
ROLE_WORDS: dict[str, frozenset[str]] = {
    "button": frozenset({"button"}), "btn": frozenset({"button"}),
    "link": frozenset({"link"}), "hyperlink": frozenset({"link"}),
    "checkbox": frozenset({"checkbox", "switch", "menuitemcheckbox"}),
    "@field": frozenset({"textbox", "searchbox", "combobox", "spinbutton"}),
    "field": frozenset({"textbox", "searchbox", "combobox", "spinbutton"}),
    "input": frozenset({"textbox", "searchbox", "combobox", "spinbutton"}),
    "box": frozenset({"textbox", "searchbox", "combobox", "spinbutton", "checkbox"}),
    "textbox": frozenset({"textbox", "searchbox"}), "textarea": frozenset({"textbox"}),
    "toggle": frozenset({"switch", "checkbox", "@pressed"}),
    "switch": frozenset({"switch", "checkbox", "@pressed"}),
    "tab": frozenset({"tab"}), "tabs": frozenset({"tab"}),
    "dropdown": frozenset({"combobox", "listbox", "@popup"}),
    "select": frozenset({"combobox", "listbox"}), "picker": frozenset({"combobox", "listbox"}),
    "combobox": frozenset({"combobox"}),
    "radio": frozenset({"radio"}), "slider": frozenset({"slider"}),
    "option": frozenset({"option", "radio", "menuitem"}),
    "menuitem": frozenset({"menuitem", "menuitemcheckbox", "menuitemradio"}),
}
# "select" and "option" are role words only at the end ("the country select"); elsewhere verbs.
_ROLE_ONLY_AT_END = {"select", "option", "box", "input", "switch", "toggle"}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
            "4th": 4, "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7,
            "eighth": 8, "8th": 8, "ninth": 9, "9th": 9, "tenth": 10, "10th": 10, "last": -1,
            "final": -1}
NUMBERS = {"two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
           "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30",
           "fifty": "50", "hundred": "100"}  # "one" is too often "one way", "that one"
_NTH = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
# Words that say how a control looks, not what it is called: an icon is meant.
ICON_LOOKS = frozenset("""icon symbol glyph magnifying magnifier heart bin pencil gear cog bell dots
    hamburger kebab ellipsis cross chevron caret arrow paperclip trash thumbs thumb""".split())
TEXTUAL = frozenset({"textbox", "searchbox", "combobox", "spinbutton"})
CHOOSABLE = frozenset({"combobox", "listbox"})
CHECKABLE = frozenset({"checkbox", "radio", "switch", "menuitemcheckbox", "menuitemradio"})
_TOKEN = re.compile(r"[^\W_]+(?:[.@][^\W_]+)*|[^\w\s]", re.UNICODE)
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_POSSESSIVE = re.compile(r"(\w)['’]s\b")
_ASCII_PUNCT = set("!\"#$%&'()*,-./:;<=>?@[\\]^_`{|}~")
_KEEP_SYMBOLS = {"+", ">", "<"}


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Porter2 roots ("shipped" = "ship", "coming" = "come", "replies" = "reply"), so inflections match
# exactly; a vocabulary word is known by its root too.
_ENGLISH = snowballstemmer.stemmer("english")
_IRREGULAR = {"children": "child", "kids": "child", "kid": "child", "people": "person", "men": "man",
              "women": "woman", "feet": "foot", "mice": "mouse", "went": "go", "gone": "go"}


@functools.lru_cache(maxsize=65536)
def _root(word: str) -> str:
    word = _IRREGULAR.get(word, word)
    if not word.isalpha() or len(word) <= 3:
        return word
    return _ENGLISH.stemWord(word)


@functools.lru_cache(maxsize=65536)
def _canon(word: str) -> str:
    if word in _CANON:
        return _CANON[word]
    stem = _stem(word)
    if stem in _CANON:
        return _CANON[stem]
    root = _root(word)
    return _CANON_ROOTS.get(root, root)


# Every vocabulary word is also known by its root; roots two groups share stay unmapped.
_CANON_ROOTS: dict[str, str] = {}
_clashes: set[str] = set()
for _w, _c in list(_CANON.items()):
    _r = _root(_w)
    if len(_r) < 4:  # "settings" -> "set" would make the verb a gear
        continue
    if _CANON_ROOTS.setdefault(_r, _c) != _c:
        _clashes.add(_r)
for _r in _clashes:
    del _CANON_ROOTS[_r]
_RELATED_ANY: dict[tuple[str, str], float] = {}
for (_a, _b), _v in _RELATED.items():
    _a, _b = _canon(_a), _canon(_b)
    _RELATED_ANY[(_a, _b)] = _RELATED_ANY[(_b, _a)] = _v


def _light_canon(word: str) -> str:
    """The vocabulary's word for it by plural folding only: what SOFT and STRUCTURAL are in."""
    stem = _stem(word)
    return _CANON.get(word) or _CANON.get(stem, stem)


_STRUCTURAL_C = frozenset(STRUCTURAL | {_root(w) for w in STRUCTURAL})


def _raw_words(text: str) -> list[str]:
    text = _POSSESSIVE.sub(r"\1", text.lower().replace("e-mail", "email"))
    words = []
    for w in _TOKEN.findall(text):
        if len(w) == 1 and w in _ASCII_PUNCT and w not in _KEEP_SYMBOLS:
            continue
        if w in (">", "<"):
            w = {">": "›", "<": "‹"}[w]
        words.append(w)
    return words


def _phrased(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(_MAX_PHRASE, len(words) - i), 1, -1):
            hit = _PHRASES.get(tuple(words[i:i + size]))
            if hit is not None:
                out.extend(hit.split())
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


@functools.lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """An element's text as canonical words (synonyms folded, plurals stemmed, stop words out)."""
    if not text:
        return ()
    out = []
    for w in _phrased(_raw_words(text)):
        if w.startswith("@"):
            continue
        if w in STOP or w in CONTEXT_WORDS:
            continue
        c = _canon(w)
        if c not in STOP and c not in CONTEXT_WORDS:
            out.append(c)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Word:
    text: str
    context: bool   # said after "in", "for", "next to" ...: where the element is
    weight: float   # the first word a person says is usually the thing itself
    soft: bool = False
    named: bool = False  # written with a capital or digits after the first word: a name, an id


@dataclasses.dataclass(frozen=True)
class Query:
    words: tuple[Word, ...]
    roles: frozenset[str]
    role_words: tuple[str, ...]
    ordinal: int  # 0: none; -1: last
    head: tuple[str, ...]  # the non-context words, to compare with a name exactly
    icon: bool = False     # "the trash icon": an element that shows a symbol, not words
    action: bool = False   # it starts with an action verb as said ("delete ...", not "deleted ...")
    last_page: bool = False  # "the last page": of the numbered page links, the highest
    surface: frozenset[str] = frozenset()  # the words as said, before roots and synonyms


@functools.lru_cache(maxsize=4096)
def parse(description: str, intent: int = A.INTENT_UNSPECIFIED) -> Query:
    raw = _phrased(_raw_words(description))
    restates = INTENT_VERBS.get(intent, frozenset())
    named = {_canon(w.lower()) for w in _TOKEN.findall(_POSSESSIVE.sub(r"\1", description))[1:]
             if any(c.isupper() or c.isdigit() for c in w)}
    found: list[Word] = []
    roles: set[str] = set()
    role_words: list[str] = []
    ordinal = ordinal_at = 0
    context = False
    first = True
    action = False
    negate = searching = False
    last_page = False
    surface: set[str] = set()
    for i, w in enumerate(raw):
        if w == "for" and found and found[-1].text == "search" and not found[-1].context:
            searching = True  # "search for pasta": what follows is what to type, not where
            continue
        if w in ("@ctx",) or w in CONTEXT_WORDS:
            context = True
            searching = False
            continue
        if w == "@soft" or (w.startswith("@") and context):
            continue
        at_end = True  # of what is said before any context words
        for x in raw[i + 1:]:
            if x in CONTEXT_WORDS or x == "@ctx":
                break
            if x not in STOP:
                at_end = False
                break
        if w in ROLE_WORDS and not context and (w not in _ROLE_ONLY_AT_END or at_end):
            roles |= ROLE_WORDS[w]
            role_words.append(w.lstrip("@"))
            continue
        if w in ORDINALS and not ordinal:
            ordinal, ordinal_at = ORDINALS[w], i
            continue
        if w in STOP:
            continue
        if w == "not":
            negate = True  # "not yet fulfilled": the "unfulfilled" tab
            continue
        w = NUMBERS.get(w, w)
        dated = _NTH.match(w)
        if dated:  # "the 14th" (past the ordinals: a date or a number, not a position)
            w = dated.group(1)
        if negate and w.isalpha():
            w, negate = "un" + w, False
        c = _canon(w)
        if c in STOP or c.startswith("@"):
            continue
        light = _light_canon(w)
        if light in SOFT or w in SOFT or light in STRUCTURAL or searching or (first and w in restates):
            found.append(Word(c, context, 0.5, soft=True))
            continue
        if first and not context:
            action = w in ACTIONS
        surface.add(w)
        found.append(Word(c, context, 1.5 if first and not context else 1.0, named=c in named))
        first = False
    if ordinal > 0 and "page" in raw[ordinal_at:]:
        found.append(Word(str(ordinal), False, 1.0))  # "the second page": the link "2"
        ordinal = 0
    elif ordinal == -1 and "page" in raw[ordinal_at:]:
        last_page, ordinal = True, 0  # "the last page": the highest page number
    if found and all(w.soft for w in found) and not last_page:
        # Only soft words ("my cards", "just mine"): they are all there is to match.
        found = [Word(w.text, w.context, 1.5 if i == 0 else 1.0, named=w.text in named)
                 for i, w in enumerate(found)]
    head = tuple(w.text for w in found if not w.context and not w.soft)
    icon = any(w in ICON_LOOKS for w in raw)
    return Query(tuple(found), frozenset(roles), tuple(role_words), ordinal, head, icon, action, last_page,
                 frozenset(surface))


# ---- scoring -------------------------------------------------------------------------------

# Where a word may be found, and what a match there is worth: (own, as context word).
_OWN_FIELDS = (("name", 1.0), ("text", 0.9), ("aria", 1.0), ("title", 0.9), ("placeholder", 0.9),
               ("alt", 0.85), ("value", 0.9), ("hints", 0.6), ("options", 0.3))
_SELECT_FIELDS = tuple((f, 0.85 if f == "options" else w) for f, w in _OWN_FIELDS)
_CONTEXT_FIELDS = (("container", 0.55, 1.0), ("heading", 0.5, 0.9), ("group", 0.55, 1.0),
                   ("landmark", 0.45, 0.9), ("frame", 0.4, 0.8))
_LANDMARK_WORDS = {"header": "header top", "nav": "nav menu", "footer": "footer bottom",
                   "aside": "aside", "dialog": "dialog", "main": "main", "search": "search",
                   "toolbar": "toolbar", "tabs": "tab", "menu": "menu"}


@dataclasses.dataclass
class Scored:
    element: dict[str, Any]
    score: float
    why: str
    order: int
    base: float = 0.0
    matches: tuple[float, ...] = ()  # per word of the query, how well it matched here
    raw: float = 0.0  # the score before it is clipped to 0..1: what ranks

    @property
    def ref(self) -> str:
        return self.element["ref"]


def _fields(el: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    own = el.get("own", {})
    ctx = el.get("context", {})
    landmark = ctx.get("landmark", "")
    # Landmark kinds come first in each part ("header", "nav Main"); say them in plain words.
    landmark_text = " ".join(_LANDMARK_WORDS.get(part.split(" ", 1)[0], "") + " " + part
                             for part in landmark.split(" | ")) if landmark else ""
    return {
        "name": words(el.get("label", "")), "text": words(own.get("text", "")),
        "aria": words(own.get("aria", "")), "title": words(own.get("title", "")),
        "placeholder": words(own.get("placeholder", "")), "alt": words(own.get("alt", "")),
        "value": words(own.get("value", "")),
        # A button that opens a menu is a menu button ("the menu on the first card").
        "hints": _hint_words(own.get("hints", "")) + (("menu",) if own.get("popup") in ("menu", "true")
                                                       else ()),
        "options": words(" ".join(el.get("options", [])[:20])),
        "container": words(ctx.get("container", "")), "heading": words(ctx.get("heading", "")),
        "group": words(ctx.get("group", "")), "landmark": words(landmark_text),
        "frame": words(ctx.get("frame", "")),
    }


@functools.lru_cache(maxsize=16384)
def _surface(label: str) -> frozenset[str]:
    return frozenset(_raw_words(label))


@functools.lru_cache(maxsize=16384)
def _hint_words(hints: str) -> tuple[str, ...]:
    # ids and class names: "btn-delete", "cartIcon", "search_button"
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", hints).replace("_", " ").replace("-", " ")
    return words(spaced)


def _similar(a: str, b: str) -> float:
    if a == b:
        return 1.0
    related = _RELATED_ANY.get((a, b))
    if related:
        return related
    # A shared beginning: "subscribe" / "subscription", "star" / "starred".
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= 4 and long_.startswith(short[:max(4, len(short) - 2)]):
        return 0.7
    # A toggle's other state: "unsave" / "save", "unmute" / "mute" (roots may drop an "e").
    if len(long_) > 4 and long_.startswith("un") and not short.startswith("un"):
        rest = long_[2:]
        if len(rest) >= 3 and abs(len(rest) - len(short)) <= 1 and (
                short.startswith(rest) or rest.startswith(short)):
            return 0.75
    return 0.0


def _best_in(word: str, field: tuple[str, ...], sims: dict[str, float]) -> tuple[float, str]:
    """The best match of a query word among a field's words; `sims` remembers the word's
    similarity to each page word already seen (a page repeats its words)."""
    best, hit = 0.0, ""
    for w in field:
        s = sims.get(w)
        if s is None:
            s = sims[w] = _similar(word, w)
        if s > best:
            best, hit = s, w
            if s == 1.0:
                break
    return best, hit


def _role_of(el: dict[str, Any]) -> set[str]:
    role = el.get("role", "")
    own = el.get("own", {})
    found = {role}
    if own.get("pressed") in ("true", "false", "mixed"):
        found.add("@pressed")
    if own.get("popup") in ("true", "listbox", "menu"):
        found.add("@popup")
    if el.get("tag") == "input" and el.get("type") in ("checkbox", "radio"):
        found.add(el["type"])
    return found


def _intent_fit(el: dict[str, Any], intent: int) -> tuple[float, str]:
    role = el.get("role", "")
    tag = el.get("tag", "")
    textual = (role in TEXTUAL and tag != "select") or role == "textbox"
    if intent == A.TYPE:
        return (0.15, "takes text") if textual else (-0.4, "does not take text")
    if intent == A.SELECT:
        if role in CHOOSABLE or tag == "select":
            return 0.15, "a list to choose from"
        if role in ("option", "radio", "menuitem", "menuitemradio") or el.get("own", {}).get("popup"):
            return 0.05, ""
        return -0.2, "not a list"
    if intent == A.CHECK:
        if role in CHECKABLE or el.get("type") in ("checkbox", "radio"):
            return 0.15, "checkable"
        if el.get("own", {}).get("pressed") in ("true", "false"):
            return 0.1, "a toggle button"
        return -0.2, "not checkable"
    if intent == A.CLICK:
        if textual:
            return -0.1, "a text field"
        return 0.0, ""
    if intent == A.SCROLL:
        if el.get("scrollable"):
            return 0.2, "scrollable"
        return (0.1, "a box") if role == "generic" and tag not in ("a", "button") else (0.0, "")
    return 0.0, ""


def _score(el: dict[str, Any], query: Query, intent: int, order: int,
           sims: dict[str, dict[str, float]]) -> Scored:
    f = _fields(el)
    # Choosing from a list names the option ("pick economy"): its options speak for it.
    own_fields = _SELECT_FIELDS if intent == A.SELECT else _OWN_FIELDS
    evidence: list[str] = []
    total = weight_sum = 0.0
    soft = 0.0
    matches: list[float] = []
    for word in query.words:
        best, where, hit = 0.0, "", ""
        for field, weight in own_fields:
            s, w = _best_in(word.text, f[field], sims[word.text])
            s *= weight * (0.8 if word.context else 1.0)
            if s > best:
                best, where, hit = s, field, w
        for field, head_w, ctx_w in _CONTEXT_FIELDS:
            s, w = _best_in(word.text, f[field], sims[word.text])
            s *= ctx_w if word.context else head_w
            if s > best:
                best, where, hit = s, field, w
        matches.append(best)
        if word.soft:
            soft += 0.05 if best >= 0.5 else 0.0
        else:
            total += best * word.weight
            weight_sum += word.weight
        if best > 0 and not word.soft:
            shown = (el.get("label") if where == "name" else
                     el.get("own", {}).get(where) or el.get("context", {}).get(where, ""))
            near = f" (as {hit!r})" if hit != word.text else ""  # a related word or a shared stem
            evidence.append(f"{where} {_quote(shown)} ~ {word.text!r}{near}")
        elif not word.soft:
            evidence.append(f"no {word.text!r}")
    roles = _role_of(el)
    if weight_sum:
        base = total / weight_sum
    else:  # only role words and an ordinal: "the checkbox", "the second link"
        base = 0.6 if query.roles and roles & query.roles else 0.0
    # How much of the element's name the description accounts for (counts and "items" aside).
    said = f["name"] or f["aria"] or f["text"]
    name = [w for w in said if not w.isdigit() and w not in _STRUCTURAL_C]
    if name:
        precision = sum(1 for w in name if any(_best_in(q.text, (w,), sims[q.text])[0] >= 0.7
                                               for q in query.words)) / len(name)
    else:  # no words at all, or only a number: matched only if the number was said
        precision = 0.5 if not said else float(any(w.text in said for w in query.words))
    score = 0.75 * base + 0.15 * precision + min(soft, 0.1)
    if query.head and name and tuple(name) == query.head:
        score += 0.05
        evidence.append("exact name")
    if query.surface and base > 0:
        # Of two equal matches, the one that says the words as they were said ("replies", not
        # "Reply") is the nearer.
        said_as = len(query.surface & _surface(el.get("label", ""))) / len(query.surface)
        score += 0.03 * said_as
    if query.roles:
        if roles & query.roles:
            score += 0.12
            evidence.append(f"role {el.get('role')}")
        elif base > 0:
            score -= 0.12
            evidence.append(f"role {el.get('role')} is not {'/'.join(query.role_words)}")
    if query.icon and base > 0 and not _LETTERS.search(el.get("own", {}).get("text", "")):
        score += 0.08
        evidence.append("an icon")
    if query.action and el.get("role") == "button" and base > 0:
        score += 0.03  # "delete ...": the Delete button, not the Trash folder's link
    fit, why = _intent_fit(el, intent)
    score += fit
    if why and fit:
        evidence.append(why)
    if el.get("disabled"):
        score -= 0.1
        evidence.append("disabled")
    if base == 0:
        score = min(score, 0.1)
    return Scored(el, round(max(0.0, min(1.0, score)), 4), "; ".join(evidence), order, base,
                  tuple(matches), round(score, 4))


def _quote(text: str) -> str:
    text = text or ""
    return repr(text if len(text) <= 40 else text[:39] + "…")


@dataclasses.dataclass
class Ranking:
    ranked: list[Scored]
    ambiguous: bool
    ordinal_note: str = ""

    @property
    def best(self) -> Scored | None:
        return self.ranked[0] if self.ranked and self.ranked[0].score >= THRESHOLD else None


def rank(elements: list[dict[str, Any]], description: str, intent: int = A.INTENT_UNSPECIFIED) -> Ranking:
    """The elements best first, for a description and an intent (pure: no page needed)."""
    query = parse(description, intent)
    sims: dict[str, dict[str, float]] = {w.text: {} for w in query.words}
    scored = [_score(el, query, intent, i, sims) for i, el in enumerate(elements)]
    # Ties: what a user can see first, then document order.
    # Words that say which one ("in Zed's row", "remove Zed", "SKU-1027") naming nothing on the
    # page: the element described is not here.
    absent = [w.text for i, w in enumerate(query.words)
              if (w.context or w.named) and not w.soft and not any(s.matches[i] > 0 for s in scored)]
    if absent:
        for s in scored:
            s.score = min(s.score, round(THRESHOLD - 0.01, 4))
            s.raw = min(s.raw, s.score)
            s.why += f"; nothing on the page mentions {', '.join(map(repr, absent))}"
    else:
        _discount_unmatched(scored, query)
    scored.sort(key=lambda s: (-s.raw, not s.element.get("in_viewport", True), s.order))
    if query.last_page:
        _last_page_first(scored)
    note = ""
    ambiguous = len(scored) > 1 and scored[1].raw >= scored[0].raw - AMBIGUOUS_MARGIN
    if query.ordinal and scored and scored[0].score >= THRESHOLD:
        n = query.ordinal
        top, pool = _ordinal_pool(scored, n)
        if n == -1 or n <= len(pool):
            pick = pool[-1] if n == -1 else pool[n - 1]
            position = len(pool) if n == -1 else n
            note = f"{_ordinal_word(position)} of {len(pool)} alike in page order"
            pick.why = (pick.why + "; " if pick.why else "") + note
            scored.remove(pick)
            scored.insert(0, pick)
            ambiguous = False
        else:
            note = f"asked for the {_ordinal_word(n)} but only {len(pool)} alike"
            top.why += "; " + note
    return Ranking(scored, ambiguous, note)


def _alike(scored: list[Scored], top: Scored) -> list[Scored]:
    return sorted((s for s in scored if s.raw >= top.raw - ORDINAL_MARGIN
                   and _kind(s.element) == _kind(top.element)), key=lambda s: s.order)


def _ordinal_pool(scored: list[Scored], n: int) -> tuple[Scored, list[Scored]]:
    """The list an ordinal counts in: the best candidate's kind, unless there are too few of
    those ("the second flight" when a lone nav link says "Flights"); then the best kind that is
    a list of enough alike ones (the results' Select links), if one scored above the threshold."""
    top = scored[0]
    pool = _alike(scored, top)
    need = 2 if n == -1 else n
    if len(pool) >= need:
        return top, pool
    seen = {_kind(top.element)}
    for s in scored[1:]:
        if s.score < THRESHOLD:
            break
        kind = _kind(s.element)
        if kind in seen:
            continue
        seen.add(kind)
        other = _alike(scored, s)
        if len(other) >= need and kind[1]:  # a kind of row or card, not loose controls
            return s, other
    return top, pool


def _discount_unmatched(scored: list[Scored], query: Query) -> None:
    """A word that matches nothing anywhere on the page ("the next lot of results", "who do I
    send it to") tells no candidate from another; it keeps a fifth of its weight, so the words
    that do match decide and the best is not pushed under the threshold by the others."""
    unmatched = [i for i, w in enumerate(query.words)
                 if not w.soft and not any(s.matches[i] > 0 for s in scored)]
    if not unmatched or len(unmatched) == sum(1 for w in query.words if not w.soft):
        return
    weights = [w.weight * (0.2 if i in unmatched else 1.0) for i, w in enumerate(query.words)]
    kept = sum(x for x, w in zip(weights, query.words, strict=True) if not w.soft)
    for s in scored:
        if s.base <= 0:
            continue
        base = sum(m * x for m, x, w in zip(s.matches, weights, query.words, strict=True)
                   if not w.soft) / kept
        # matches[] carry the field weights already; base was their mean at the full weights.
        lift = 0.75 * (base - s.base)
        s.base = base
        s.raw = round(s.raw + lift, 4)
        s.score = round(max(0.0, min(1.0, s.raw)), 4)
        s.why += f"; {len(unmatched)} word(s) found nowhere on the page counted less"


def _last_page_first(scored: list[Scored]) -> None:
    numbered = [s for s in scored if s.element.get("role") in ("link", "button")
                and s.element.get("label", "").strip().isdigit()]
    if not numbered:
        return
    pick = max(numbered, key=lambda s: (int(s.element["label"]), -s.order))
    pick.why = (pick.why + "; " if pick.why else "") + "the highest page number"
    pick.score = max(pick.score, THRESHOLD + 0.1)
    pick.raw = max(pick.raw, pick.score)
    scored.remove(pick)
    scored.insert(0, pick)


def _kind(el: dict[str, Any]) -> tuple[str, str]:
    """Alike for ordinals: the same role, in the same kind of row or card (or in none)."""
    return el.get("role", ""), el.get("context", {}).get("item", "")


def _ordinal_word(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


# ---- the remembered resolutions ------------------------------------------------------------

_WILD_SEGMENT = re.compile(
    r"^(\d+|[0-9a-f]{8,}|[0-9a-f-]{16,}|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\d{3,}[A-Za-z0-9_-]*)$",
    re.IGNORECASE)


def page_pattern(url: str) -> str:
    """A page's origin and path, with ids in the path as wildcards: /orders/123/items -> /orders/*/items."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    path = "/".join("*" if _WILD_SEGMENT.match(seg) else seg for seg in parts.path.split("/"))
    return f"{parts.scheme}://{parts.netloc}{path}"


def normalise(description: str) -> str:
    return " ".join(_raw_words(description))


def features(el: dict[str, Any]) -> tuple[Any, ...]:
    """What must still hold for a remembered element to be the same one."""
    ctx = el.get("context", {})
    own = el.get("own", {})
    return (el.get("tag"), el.get("role"), el.get("label"), el.get("name"), el.get("type"),
            own.get("aria"), own.get("hints"), ctx.get("container"), ctx.get("heading"),
            ctx.get("group"))


@dataclasses.dataclass
class Remembered:
    frame: str
    path: list[str]
    features: tuple[Any, ...]
    score: float
    why: str
    ambiguous: bool


class ResolutionCache:
    """Per project, node-local, bounded (least recently used out first)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.entries: collections.OrderedDict[tuple[str, str, str, int], Remembered] = \
            collections.OrderedDict()
        self.hits = self.misses = 0

    @staticmethod
    def key(project: str, url: str, description: str, intent: int) -> tuple[str, str, str, int]:
        return (project, page_pattern(url), normalise(description), intent)

    def get(self, key: tuple[str, str, str, int]) -> Remembered | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, str, str, int], entry: Remembered) -> None:
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def drop(self, key: tuple[str, str, str, int]) -> None:
        self.entries.pop(key, None)


# ---- on a page -----------------------------------------------------------------------------

@dataclasses.dataclass
class Locating:
    """What a node knows when it resolves descriptions for a session."""
    project: str = ""
    cache: ResolutionCache | None = None
    chooser: Chooser | None = None


@dataclasses.dataclass
class Located:
    candidates: list[Scored]
    resolution: A.Resolution | None
    usage: A.ModelUsage | None = None

    def response(self, limit: int) -> A.LocateResponse:
        # Candidates that share nothing with the description are not worth a line.
        answer = A.LocateResponse(candidates=[candidate(s) for s in self.candidates[:limit] if s.score > 0])
        if self.resolution is not None:
            answer.best.CopyFrom(self.resolution)
        if self.usage is not None:
            answer.usage.CopyFrom(self.usage)
        return answer


_ELEMENT_FIELDS = {f.name for f in A.Element.DESCRIPTOR.fields}


def element_message(el: dict[str, Any]) -> A.Element:
    return A.Element(**{k: v for k, v in el.items() if k in _ELEMENT_FIELDS})


def context_of(el: dict[str, Any]) -> str:
    ctx = el.get("context", {})
    parts = [ctx.get("container", ""), ctx.get("group", ""), ctx.get("heading", ""),
             ctx.get("landmark", ""), ("frame " + ctx["frame"]) if ctx.get("frame") else ""]
    return " · ".join(p for p in parts if p)[:300]


def candidate(s: Scored) -> A.Candidate:
    return A.Candidate(element=element_message(s.element), score=s.score, why=s.why,
                       context=context_of(s.element))


def _path(el: dict[str, Any]) -> list[str]:
    """Where the element is: one CSS path per (shadow) root, outermost first."""
    return el.get("path") or [el.get("selector", "")]


def selector_of(el: dict[str, Any]) -> str:
    path = el.get("path") or []
    if len(path) > 1:  # inside shadow roots: Playwright's CSS goes through them from each host
        return " >> ".join(p.removeprefix(":host > ") for p in path)
    return el.get("selector", "")


def check_description(description: str) -> None:
    if not description.strip():
        raise errors.invalid("description", "must not be empty")
    if len(description) > MAX_DESCRIPTION:
        raise errors.invalid("description", f"at most {MAX_DESCRIPTION} characters")


def check_intent(intent: int) -> None:
    if intent not in INTENT_NAMES:
        raise errors.invalid("intent", "must be one of " + ", ".join(
            A.Intent.Name(i) for i in INTENT_NAMES))


def _resolution(description: str, s: Scored, *, ambiguous: bool, chosen_by: str,
                started: float) -> A.Resolution:
    el = s.element
    return A.Resolution(description=description, ref=el["ref"], label=el.get("label", ""),
                        role=el.get("role", ""), score=s.score, why=s.why, ambiguous=ambiguous,
                        chosen_by=chosen_by, selector=selector_of(el),
                        duration_ms=(time.monotonic() - started) * 1000)


async def resolve(page: Page, description: str, intent: int = A.INTENT_UNSPECIFIED, *,
                  locating: Locating | None = None, offline: bool = False,
                  no_cache: bool = False) -> Located:
    """Ranks what is on the page for a description; `resolution` is absent when nothing scored
    above the threshold. A remembered resolution is reused when its element is still there and
    unchanged; a close tie goes to the chooser (the model) unless `offline`."""
    started = time.monotonic()
    check_description(description)
    check_intent(intent)
    locating = locating or Locating()
    cache = locating.cache
    key = ResolutionCache.key(locating.project, page.url, description, intent)
    if cache is not None and not no_cache:
        entry = cache.get(key)
        if entry is not None:
            el = await page_reader.recall(page, entry.frame, entry.path)
            if el is not None and features(el) == entry.features:
                cache.hits += 1
                s = Scored(el, entry.score, "remembered for this page and description: " + entry.why, 0)
                return Located([s], _resolution(description, s, ambiguous=entry.ambiguous,
                                                chosen_by="cache", started=started))
            cache.misses += 1
    elements = await page_reader.candidates(page, extra=intent in (A.INTENT_UNSPECIFIED, A.HOVER, A.SCROLL),
                                            scroll=intent == A.SCROLL)
    ranking = rank(elements, description, intent)
    best = ranking.best
    if best is None:
        return Located(ranking.ranked, None)
    chosen_by = "resolver"
    usage = None
    if ranking.ambiguous and locating.chooser is not None and not offline:
        best, usage, chosen_by = await choose(locating.chooser, description, intent, ranking)
    if best is not ranking.ranked[0]:
        ranking.ranked.remove(best)
        ranking.ranked.insert(0, best)
    if cache is not None:
        cache.put(key, Remembered(best.element.get("frame", ""), _path(best.element),
                                  features(best.element), best.score, best.why, ranking.ambiguous))
    return Located(ranking.ranked, _resolution(description, best, ambiguous=ranking.ambiguous,
                                               chosen_by=chosen_by, started=started), usage)


async def choose(chooser: Chooser, description: str, intent: int,
                  ranking: Ranking) -> tuple[Scored, A.ModelUsage | None, str]:
    """Asks the chooser among the best few only; an answer outside the list is refused."""
    best = ranking.ranked[0]
    top = [s for s in ranking.ranked[:CHOOSER_MAX] if s.raw >= best.raw - CHOOSER_MARGIN]
    shown = [{"index": i, "ref": s.ref, "role": s.element.get("role", ""),
              "label": s.element.get("label", ""), "tag": s.element.get("tag", ""),
              "context": context_of(s.element), "score": s.score} for i, s in enumerate(top)]
    try:
        index, usage = await chooser(description, INTENT_NAMES.get(intent, "any"), shown)
    except Exception:  # noqa: BLE001 - a model that fails leaves the resolver's answer standing
        return best, None, "resolver"
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(top):
        return best, usage, "resolver"
    pick = top[index]
    pick.why = (pick.why + "; " if pick.why else "") + f"the model chose it among {len(top)}"
    return pick, usage, "model"


def not_found(description: str, located: Located) -> BrowserplaneError:
    """NOT_FOUND naming the near misses, so a caller can rephrase."""
    near = [s for s in located.candidates[:3] if s.score > 0]
    if near:
        named = ", ".join(f"{s.element.get('role', '')} {_quote(s.element.get('label', ''))} ({s.score:.2f})"
                          for s in near)
        detail = f"; the nearest were {named}"
    else:
        detail = "; nothing on the page shares a word with it"
    return BrowserplaneError(grpc.StatusCode.NOT_FOUND, errors.ELEMENT_NOT_FOUND,
                             f"no element matches the description {_quote(description)} well enough"
                             f" (threshold {THRESHOLD}){detail}",
                             metadata={"description": description[:200]})
