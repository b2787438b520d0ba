"""A received mail read with the stdlib `email` package: subject, sender, date, the text and
HTML bodies, and the links in them (a sign-up confirmation link is what an agent wants).

Everything here came from anyone on the network: bodies are cut to a bound, links are only
http(s) and only so many, and nothing is ever interpreted (no HTML is rendered, no link fetched).
"""

from __future__ import annotations

import email
import email.policy
import html.parser
import re
from email.message import EmailMessage

from browserplane.v1 import controlplane_pb2 as cp

MAX_BODY_CHARS = 256 * 1024
MAX_HEADER_CHARS = 998  # RFC 5322 line length
MAX_LINKS = 100
MAX_LINK_CHARS = 2048
TEXT_LINK = re.compile(r"https?://[^\s<>\"'\]\)]+", re.I)


class _HtmlReader(html.parser.HTMLParser):
    """Text and <a href> links of an HTML body (script and style dropped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if href.lower().startswith(("http://", "https://")):
                self.links.append(href.strip())
        elif tag in ("br", "p", "div", "tr", "li", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1
        elif tag == "a" and self.links and not self._skip:
            self.parts.append(f" ({self.links[-1]})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts)
        return re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t]+", " ", joined)).strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


def _part(message: EmailMessage, kind: str) -> str:
    try:
        part = message.get_body(preferencelist=(kind,))
        if part is None:
            return ""
        content = part.get_content()
    except (LookupError, ValueError, KeyError, AttributeError, UnicodeError, AssertionError):
        return ""  # an unknown charset or a broken part: the rest of the mail still counts
    return content if isinstance(content, str) else ""


def _header(message: EmailMessage, name: str) -> object:
    try:
        return message[name]
    except (ValueError, IndexError, AttributeError, TypeError):
        return None


def read_message(raw: bytes, envelope_from: str = "") -> cp.PersonaEmail:
    """The PersonaEmail of a raw RFC 5322 message (no id, persona or receipt time yet)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    mail = cp.PersonaEmail(size_bytes=len(raw), envelope_from=_clip(envelope_from, 320))
    subject = _header(message, "subject")
    mail.subject = _clip(" ".join(str(subject or "").split()), MAX_HEADER_CHARS)
    sender = _header(message, "from")
    addresses = getattr(sender, "addresses", ()) or ()
    if addresses:
        mail.sender_email = _clip(addresses[0].addr_spec or "", 320)
        mail.sender_name = _clip(addresses[0].display_name or "", MAX_HEADER_CHARS)
    elif sender is not None:
        mail.sender_email = _clip(str(sender), 320)
    mail.date = _clip(str(_header(message, "date") or ""), 200)
    html_body = _clip(_part(message, "html"), MAX_BODY_CHARS)
    text_body = _clip(_part(message, "plain"), MAX_BODY_CHARS)
    reader = _HtmlReader()
    if html_body:
        try:
            reader.feed(html_body)
            reader.close()
        except AssertionError:  # html.parser on some malformed markup
            pass
    mail.html = html_body
    mail.text = text_body or _clip(reader.text(), MAX_BODY_CHARS)
    links: list[str] = []
    for link in [*TEXT_LINK.findall(text_body), *reader.links]:
        link = link.rstrip(".,;:!?")
        if link and len(link) <= MAX_LINK_CHARS and link not in links:
            links.append(link)
        if len(links) >= MAX_LINKS:
            break
    mail.links.extend(links)
    return mail
