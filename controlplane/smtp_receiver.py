"""The personas' SMTP receiver: `aiosmtpd`'s SMTP protocol on the control plane's event loop.

It takes mail for personas' addresses only: a recipient at another domain, or one no persona
has, is refused at RCPT with 550 (no relay, no catch-all), so nothing is accepted that would
then be dropped. Recipients per message and message size are bounded (aiosmtpd answers 552 past
the size, at MAIL FROM when the client declares SIZE and at the end of DATA otherwise), and so
are open connections (421 past the bound) and their idle time. The
protocol is asyncio all the way; parsing a message runs in a thread, the store write (a sealed
row) on the loop, like every other store write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from browserplane.times import timestamp
from controlplane.mail_message import read_message
from controlplane.personas import PersonaService

log = logging.getLogger(__name__)
# aiosmtpd logs every command line (MAIL FROM, RCPT TO: addresses) at INFO; addresses are
# personal data the store seals, so only its warnings reach the log.
logging.getLogger("mail.log").setLevel(logging.WARNING)
MAX_RECIPIENTS = 10
MAX_CONNECTIONS = 100  # at once; a connection idle this long is closed (IDLE_TIMEOUT_S)
IDLE_TIMEOUT_S = 60


class _BoundedSmtp(SMTP):
    """aiosmtpd's SMTP, answering 421 and hanging up when too many connections are open."""

    def __init__(self, live: set[SMTP], limit: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._live = live
        self._limit = limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if len(self._live) >= self._limit:
            if self._handler_coroutine is not None:
                self._handler_coroutine.cancel()  # before it greets
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self._live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._live.discard(self)
        super().connection_lost(error)


class _Handler:
    def __init__(self, personas: PersonaService) -> None:
        self.personas = personas

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients (at most {MAX_RECIPIENTS} a message)"
        persona = self.personas.recipient(address)
        if persona is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        ids = getattr(envelope, "persona_ids", [])
        if persona.id not in ids:
            ids.append(persona.id)
        envelope.persona_ids = ids  # type: ignore[attr-defined]
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            mail = await asyncio.to_thread(read_message, raw, envelope.mail_from or "")
        except Exception:  # noqa: BLE001 - a message the parser chokes on is refused, not a crash
            log.warning("could not read a received message", extra={"fields": {"bytes": len(raw)}})
            return "554 5.6.0 Message could not be read"
        mail.received_at.CopyFrom(timestamp(time.time()))
        kept = 0
        for persona_id in getattr(envelope, "persona_ids", []):
            kept += self.personas.deliver(persona_id, mail)
        log.info("persona mail received", extra={"fields": {
            "bytes": len(raw), "recipients": kept}})
        return "250 2.0.0 OK: kept" if kept else "550 5.1.1 No such mailbox here"


class SmtpReceiver:
    def __init__(self, personas: PersonaService, host: str, port: int, max_bytes: int,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.personas = personas
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self.max_connections = max_connections
        self._live: set[SMTP] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Listens; answers the bound port."""
        loop = asyncio.get_running_loop()
        handler = _Handler(self.personas)
        hostname = self.personas.limits.domain  # never socket.getfqdn(): a DNS lookup per connection

        def protocol() -> Any:
            return _BoundedSmtp(self._live, self.max_connections, handler,
                                data_size_limit=self.max_bytes, enable_SMTPUTF8=True,
                                hostname=hostname, ident="Browserplane personas",
                                timeout=IDLE_TIMEOUT_S, loop=loop)

        self._server = await loop.create_server(protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
