"""Notte personas through the official `notte-sdk` (1.10.0): create, list, get, rename, delete;
real mail sent with the stdlib `smtplib` to the control plane's SMTP receiver on loopback and
read back through the SDK (subject, bodies, links); refusals at RCPT (550) and for size (552);
project isolation; mail sealed at rest and gone with its persona; SMS and phone numbers 501.

Telemetry and the SDK's PyPI version check are off before the SDK is imported (as in
tests/test_notte.py)."""

from __future__ import annotations

import datetime as dt
import email.policy
import os
import secrets
import smtplib
import sqlite3
import time
import urllib.error
import urllib.request
from email.message import EmailMessage

os.environ["DISABLE_TELEMETRY"] = "true"  # read by notte_core at import time

import notte_sdk.endpoints.base as notte_base  # noqa: E402
import pytest  # noqa: E402
from notte_sdk import NotteClient  # noqa: E402
from notte_sdk.errors import NotteAPIError  # noqa: E402

from controlplane.mail_message import read_message  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

notte_base._version_check_performed = True  # no GET to pypi.org
DOMAIN = "personas.localhost"


@pytest.fixture(scope="module")
def key(cluster: Cluster) -> str:
    return cluster.create_key("notte-personas")


@pytest.fixture(scope="module")
def client(key: str, gateway_url: str) -> NotteClient:
    return NotteClient(api_key=key, server_url=gateway_url)


@pytest.fixture(scope="module")
def other(cluster: Cluster, gateway_url: str) -> NotteClient:
    return NotteClient(api_key=cluster.create_key("notte-personas-other"), server_url=gateway_url)


def _signup_mail(to: str, token: str, link: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Example Shop <no-reply@shop.example>"
    mail["To"] = to
    mail["Subject"] = f"Confirm your account {token}"
    mail["Date"] = "Tue, 01 Dec 2026 21:00:00 +0000"
    mail.set_content(f"Welcome!\n\nConfirm your sign-up: {link}\n\nThanks.")
    mail.add_alternative(f'<html><body><p>Welcome!</p><a href="{link}">Confirm</a>'
                         '<a href="https://shop.example/help">Help</a></body></html>',
                         subtype="html")
    return mail


def _send(cluster: Cluster, mail: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", cluster.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)


def _http(url: str, key: str, method: str = "GET") -> tuple[int, dict]:
    import json

    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_persona_mail_round_trip(cluster: Cluster, client: NotteClient, gateway_url: str,
                                 key: str) -> None:
    persona = client.Persona(name="signup bot")
    info = persona.info
    assert info.status == "active" and info.name == "signup bot"
    assert info.email.endswith("@" + DOMAIN) and info.internal_email == info.email
    assert info.first_name and info.last_name and info.phone_number is None
    assert info.vault_id is None and not persona.has_vault
    assert persona.emails() == []

    token = secrets.token_hex(6)
    link = f"https://shop.example/confirm?token={token}&u=1"
    _send(cluster, _signup_mail(info.email.upper(), token, link))  # addresses match in any case

    emails = persona.emails()
    assert len(emails) == 1
    got = emails[0]
    assert got.subject == f"Confirm your account {token}"
    assert got.sender_email == "no-reply@shop.example" and got.sender_name == "Example Shop"
    assert got.text_content is not None and "Confirm your sign-up" in got.text_content
    assert got.html_content is not None and f'href="{link}"' in got.html_content
    assert got.links() == [link]  # the SDK's own reading of text_content
    status, plain = _http(f"{gateway_url}/personas/{info.persona_id}/emails", key)
    assert status == 200 and plain[0]["links"] == [link, "https://shop.example/help"]  # both parts
    assert got.created_at.tzinfo is not None
    assert abs((dt.datetime.now(dt.UTC) - got.created_at).total_seconds()) < 300

    # Listed once = read (Notte's rule): only_unread then finds nothing; the mail is still there.
    assert persona.emails(only_unread=True) == []
    assert len(persona.emails(timedelta=dt.timedelta(minutes=10))) == 1
    assert [e.email_id for e in client.personas.emails_list(info.persona_id, limit=5)] == [got.email_id]
    persona.delete()


def test_mail_is_sealed_at_rest_and_goes_with_its_persona(cluster: Cluster,
                                                          client: NotteClient) -> None:
    info = client.personas.create()
    token = "sealed-" + secrets.token_hex(8)
    _send(cluster, _signup_mail(info.email, token, f"https://shop.example/c/{token}"))
    assert len(client.personas.emails_list(info.persona_id)) == 1
    db = cluster.tmp / "cp" / "controlplane.sqlite3"
    for path in db.parent.glob("controlplane.sqlite3*"):
        data = path.read_bytes()
        assert token.encode() not in data and info.email.encode() not in data, path
    log = (cluster.tmp / "controlplane.log").read_text(errors="replace")
    assert info.email not in log and token not in log  # aiosmtpd's command log is kept quiet

    client.personas.delete(info.persona_id)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        left = conn.execute("SELECT COUNT(*) FROM persona_emails WHERE persona_id=?",
                            (info.persona_id,)).fetchone()[0]
    assert left == 0
    with pytest.raises(NotteAPIError) as err:
        client.personas.get(info.persona_id)
    assert err.value.status_code == 404
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:  # the address is gone too
        _send(cluster, _signup_mail(info.email, token, "https://shop.example/"))
    assert refused.value.recipients[info.email][0] == 550


def test_unknown_recipients_and_other_domains_are_refused(cluster: Cluster,
                                                          client: NotteClient) -> None:
    info = client.personas.create()
    local = info.email.split("@")[0]
    for address in (f"nobody.{secrets.token_hex(4)}@{DOMAIN}", f"{local}@elsewhere.example",
                    f"{local}@{DOMAIN}.evil.example"):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send(cluster, _signup_mail(address, "x", "https://shop.example/"))
        assert refused.value.recipients[address][0] == 550
    # One good recipient among refused ones: only it gets the mail.
    with smtplib.SMTP("127.0.0.1", cluster.smtp_port, timeout=10) as smtp:
        refused_now = smtp.sendmail("a@shop.example", [info.email, f"x@{DOMAIN}"],
                                    _signup_mail(info.email, "mixed", "https://shop.example/").as_bytes(
                                        policy=email.policy.SMTP))
    assert refused_now[f"x@{DOMAIN}"][0] == 550
    assert [e.subject for e in client.personas.emails_list(info.persona_id)] == ["Confirm your account mixed"]
    # Too many recipients in one message: 452 past the bound.
    with smtplib.SMTP("127.0.0.1", cluster.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("a@shop.example")
        codes = [smtp.rcpt(info.email)[0] for _ in range(11)]
    assert codes[:10] == [250] * 10 and codes[10] == 452
    client.personas.delete(info.persona_id)


def test_a_message_too_big_is_refused_with_552(cluster: Cluster, client: NotteClient) -> None:
    info = client.personas.create()
    big = _signup_mail(info.email, "big", "https://shop.example/")
    big.add_attachment(b"x" * (1 << 20), maintype="application", subtype="octet-stream")
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # declared SIZE: 552 at MAIL FROM
        _send(cluster, big)
    assert refused.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", cluster.smtp_port, timeout=10) as smtp:  # no SIZE: at DATA
        smtp.ehlo()
        assert smtp.mail("a@shop.example")[0] == 250
        assert smtp.rcpt(info.email)[0] == 250
        # smtplib answers the final reply of DATA as it is
        assert smtp.data(big.as_bytes(policy=email.policy.SMTP))[0] == 552
    assert client.personas.emails_list(info.persona_id) == []
    client.personas.delete(info.persona_id)


def test_another_projects_persona_is_not_found(cluster: Cluster, client: NotteClient,
                                               other: NotteClient) -> None:
    info = client.personas.create()
    calls = [lambda: other.personas.get(info.persona_id),
             lambda: other.personas.emails_list(info.persona_id),
             lambda: other.personas.update(info.persona_id, name="mine now"),
             lambda: other.personas.delete(info.persona_id),
             lambda: other.personas.sms_list(info.persona_id)]
    for call in calls:
        with pytest.raises(NotteAPIError) as err:
            call()
        assert err.value.status_code == 404
    assert info.persona_id not in [p.persona_id for p in other.personas.list()]
    assert client.personas.get(info.persona_id).persona_id == info.persona_id
    client.personas.delete(info.persona_id)


def test_list_rename_vault_and_delete(client: NotteClient) -> None:
    made = [client.personas.create(name=f"p{i}") for i in range(3)]
    listed = client.personas.list(page_size=100)
    assert {p.persona_id for p in made} <= {p.persona_id for p in listed}
    first_page = client.personas.list(page=1, page_size=2)
    assert len(first_page) == 2
    renamed = client.personas.update(made[0].persona_id, name="renamed")
    assert renamed.name == "renamed" and client.personas.get(made[0].persona_id).name == "renamed"

    with_vault = client.Persona(create_vault=True)
    assert with_vault.has_vault
    with_vault.add_credentials("https://shop.example")  # the SDK's own: a password into the vault
    creds = with_vault.vault.get_credentials("https://shop.example")
    assert creds is not None and creds["email"] == with_vault.info.email
    vault_id = with_vault.info.vault_id
    with_vault.stop()  # deletes the persona and the vault made with it
    with pytest.raises(NotteAPIError) as err:
        client.vaults.credentials_list(vault_id)
    assert err.value.status_code == 404
    with_vault.stop()  # a second delete: the SDK reads "already ... not found" as done
    for p in made:
        assert client.personas.delete(p.persona_id).status == "success"


def test_sms_and_phone_numbers_answer_501(client: NotteClient, gateway_url: str, key: str) -> None:
    info = client.personas.create()
    for call in (lambda: client.personas.sms_list(info.persona_id),
                 lambda: client.personas.create_number(info.persona_id),
                 lambda: client.personas.delete_number(info.persona_id),
                 lambda: client.personas.create(create_phone_number=True)):
        with pytest.raises(NotteAPIError) as err:
            call()
        assert err.value.status_code == 501
        assert "telephony provider" in str(err.value)
    status, body = _http(f"{gateway_url}/personas/{info.persona_id}/sms", key)
    assert status == 501 and "telephony provider" in body["message"]
    status, _ = _http(f"{gateway_url}/personas/persona_nope/sms", key)
    assert status == 404
    assert len(client.personas.list(page_size=100)) >= 1  # nothing was made by the refused create
    client.personas.delete(info.persona_id)


def test_mail_and_sms_actions_on_a_session_answer_501(client: NotteClient, gateway_url: str,
                                                      key: str) -> None:
    import json

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(gateway_url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    status, started = call("POST", "/sessions/start", {})
    assert status == 200, started
    sid = started["session_id"]
    try:
        for action, words in (({"type": "email_read"}, "/personas/{persona_id}/emails"),
                              ({"type": "sms_read"}, "telephony provider")):
            status, body = call("POST", f"/sessions/{sid}/page/execute", action)
            assert status == 501 and words in body["message"], body
        status, body = call("POST", f"/sessions/{sid}/page/execute",
                            {"type": "wait", "time_ms": 1})
        assert status == 200 and body["success"], body  # the session goes on
    finally:
        call("DELETE", f"/sessions/{sid}/stop")


def test_bad_persona_requests(gateway_url: str, key: str, client: NotteClient) -> None:
    import json

    def post(body: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(f"{gateway_url}/personas/create", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    before = len(client.personas.list(page_size=100))
    for body, field in ((b'{"nope": 1}', "nope"), (b'{"create_vault": "yes"}', "create_vault"),
                        (b'{"email_provider": "agentmail"}', "email_provider"),
                        (b'{"name": 5}', "name"), (b"[1]", None), (b"{", None)):
        status, answer = post(body)
        assert status == 400, (body, answer)
        assert answer["message"] and (field is None or answer.get("field") == field)
    assert len(client.personas.list(page_size=100)) == before
    info = client.personas.create()
    for query in ("limit=0", "limit=101", "limit=x", "only_unread=maybe", "timedelta=soon"):
        status, answer = _http(f"{gateway_url}/personas/{info.persona_id}/emails?{query}", key)
        assert status == 400, (query, answer)
    status, _ = _http(f"{gateway_url}/personas/{info.persona_id}/emails?timedelta=PT5M", key)
    assert status == 200
    status, _ = _http(f"{gateway_url}/personas/{info.persona_id}/nothing", key)
    assert status == 404
    status, _ = _http(f"{gateway_url}/personas", "")
    assert status == 401
    client.personas.delete(info.persona_id)


def test_read_message_html_only_and_encoded_headers() -> None:
    raw = (b"From: =?utf-8?q?Caf=C3=A9?= <hello@cafe.example>\r\n"
           b"Subject: =?utf-8?b?Qm9uam91ciDimJU=?=\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n"
           b"<html><head><style>p{}</style></head><body><p>Click "
           b"<a href='https://cafe.example/verify?id=7'>here</a>.</p>"
           b"<a href='javascript:alert(1)'>x</a><script>evil()</script></body></html>\r\n")
    mail = read_message(raw, "bounce@cafe.example")
    assert mail.subject == "Bonjour ☕" and mail.sender_name == "Café"
    assert mail.sender_email == "hello@cafe.example" and mail.envelope_from == "bounce@cafe.example"
    assert list(mail.links) == ["https://cafe.example/verify?id=7"]
    assert "Click here (https://cafe.example/verify?id=7)" in mail.text
    assert "evil" not in mail.text and "p{}" not in mail.text
    broken = read_message(b"Subject: no body, bad charset\r\nContent-Type: text/plain; "
                          b"charset=x-nonesuch\r\n\r\n\xff\xfe https://a.example/x")
    assert broken.subject == "no body, bad charset"


# ---- an agent acting as a persona (RunAgentRequest.persona_id) ---------------------------------

def test_read_email_puts_the_mail_in_the_prompt_only(cluster: Cluster) -> None:
    """The agent's read_email step through the node's own parts and the control plane over gRPC:
    the link reaches what the model is shown; the step says only how many mails were read."""
    import asyncio

    import grpc

    from browserplane.v1 import controlplane_pb2 as cp
    from browserplane.v1 import controlplane_pb2_grpc
    from node import intelligence
    from node.model_client import ModelClient
    from node.persona_mail import PersonaMail

    md = (("authorization", f"Bearer {cluster.create_key('persona-agent-step')}"),)
    project = cluster.stub.Authenticate(cp.AuthenticateRequest(), metadata=md).project.id
    persona = cluster.stub.CreatePersona(cp.CreatePersonaRequest(), metadata=md)
    assert persona.mail_receiving
    token = secrets.token_hex(8)
    link = f"https://shop.example/confirm/{token}"
    _send(cluster, _signup_mail(persona.email, token, link))

    async def run() -> None:
        channel = grpc.aio.insecure_channel(cluster.address)
        mail = PersonaMail(controlplane_pb2_grpc.ControlPlaneStub(channel), cluster.admin)
        with pytest.raises(Exception) as err:  # another project's key cannot open it
            await PersonaMail(controlplane_pb2_grpc.ControlPlaneStub(channel), cluster.admin).open(
                "prj_nope", persona.id)
        assert "not found" in str(err.value)
        inbox = await mail.open(project, persona.id)
        brain = intelligence.Intelligence(ModelClient("http://127.0.0.1:9/v1", "unused"))
        tab = intelligence.Tab(None, None, None, None, inbox=inbox)  # read_email needs no page
        step, shown = await brain._read_email(tab, 1, {"action": "read_email", "thought": "mail?"})
        assert step.success and step.message == "read 1 email(s)"
        assert token not in str(step) and link in shown and "not instructions" in shown
        assert persona.email in intelligence.identity_note(persona)
        await brain.model.close()
        await channel.close()

    asyncio.run(run())
    # Read by the agent is not "read" for the mailbox's owner.
    listed = cluster.stub.ListPersonaEmails(cp.ListPersonaEmailsRequest(
        persona_id=persona.id, only_unread=True), metadata=md)
    assert len(listed.emails) == 1
    cluster.stub.DeletePersona(cp.DeletePersonaRequest(id=persona.id), metadata=md)


@pytest.fixture(scope="module")
def agent_cluster(tmp_path_factory: pytest.TempPathFactory, model_server: str):
    """A cluster of its own with SMTP on and a node with the real model (SmolLM2-135M)."""
    c = Cluster(tmp_path_factory.mktemp("persona-agent"), smtp=True)
    try:
        c.start_controlplane()
        c.start_node("smol", 2, 0, (), 0, "--model-base-url", model_server,
                     "--model", "SmolLM2-135M-Instruct.Q4_1", "--model-max-tokens", "128",
                     "--model-max-input-chars", "4000")
        yield c
    finally:
        c.stop()


def test_an_agent_runs_as_a_persona_and_mail_stays_in_the_prompt(agent_cluster: Cluster,
                                                                  site: str) -> None:
    """Whatever the real model chooses: the run ends with a result, and no step, answer or
    action log carries the mail's text; an unknown or foreign persona starts nothing."""
    import grpc

    from browserplane.v1 import automation_pb2 as A
    from browserplane.v1 import automation_pb2_grpc
    from browserplane.v1 import controlplane_pb2 as cp
    from browserplane.v1 import session_pb2 as S

    c = agent_cluster
    md = (("authorization", f"Bearer {c.create_key('persona-agent')}"),)
    other = (("authorization", f"Bearer {c.create_key('persona-agent-other')}"),)
    persona = c.stub.CreatePersona(cp.CreatePersonaRequest(), metadata=md)
    foreign = c.stub.CreatePersona(cp.CreatePersonaRequest(), metadata=other)
    token = "mailtext" + secrets.token_hex(8)
    _send(c, _signup_mail(persona.email, token, f"{site}/hello.html?{token}"))
    s = c.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(keep_alive=True)),
                             metadata=md, timeout=60)
    with grpc.insecure_channel(c.address) as channel:
        auto = automation_pb2_grpc.AutomationStub(channel)
        for persona_id in ("persona_nope", foreign.id):
            with pytest.raises(grpc.RpcError) as err:
                list(auto.RunAgent(A.RunAgentRequest(session_id=s.id, task="Sign up", max_steps=2,
                                                     persona_id=persona_id), metadata=md, timeout=60))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
        log = auto.GetActionLog(A.LogRequest(session_id=s.id), metadata=md)
        assert not [e for e in log.entries if e.type == "agent_step"]  # nothing started

        events = list(auto.RunAgent(A.RunAgentRequest(
            session_id=s.id, task="Read the confirmation email and open its link.", max_steps=3,
            start_url=f"{site}/hello.html", persona_id=persona.id), metadata=md, timeout=300))
        assert events[-1].HasField("result")
        log = auto.GetActionLog(A.LogRequest(session_id=s.id), metadata=md)
        answers = [e.SerializeToString() for e in events] + [log.SerializeToString()]
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    # The model may navigate to the link (the URL is then the page's), but no message, thought
    # or log line repeats the mail's body text.
    body = f"Confirm your sign-up: {site}".encode()
    assert not [a for a in answers if body in a]
    assert not [e for e in events if e.HasField("step") and token in e.step.message]


def test_persona_bounds_in_the_store(tmp_path) -> None:
    """Personas per project, mails per persona (the oldest dropped), retention, other domains."""
    import time as clock

    from browserplane import errors
    from browserplane.errors import BrowserplaneError
    from browserplane.times import timestamp
    from browserplane.v1 import controlplane_pb2 as cp
    from controlplane.personas import PersonaLimits, PersonaService
    from controlplane.record_cipher import RecordCipher
    from controlplane.store import Store
    from controlplane.vaults import VaultService

    store = Store(tmp_path / "db.sqlite3", RecordCipher(secrets.token_bytes(32)))
    service = PersonaService(store, VaultService(store), PersonaLimits(
        domain="mail.test", per_project=2, mails_per_persona=2, retention_seconds=3600))
    first = service.create("prj_a", cp.CreatePersonaRequest(name="one"))
    second = service.create("prj_a", cp.CreatePersonaRequest())
    with pytest.raises(BrowserplaneError) as err:
        service.create("prj_a", cp.CreatePersonaRequest())
    assert err.value.reason == errors.PAYLOAD_TOO_LARGE
    assert service.create("prj_b", cp.CreatePersonaRequest()).project_id == "prj_b"  # per project
    assert service.recipient(first.email) is not None
    assert service.recipient(first.email.replace("@mail.test", "@other.test")) is None
    assert service.recipient("nobody@mail.test") is None
    now = clock.time()
    for i, age in enumerate((7200, 30, 20, 10)):  # the first is past the retention
        service.deliver(first.id, cp.PersonaEmail(subject=f"m{i}", received_at=timestamp(now - age)))
    kept = service.emails("prj_a", cp.ListPersonaEmailsRequest(persona_id=first.id))
    assert [m.subject for m in kept] == ["m3", "m2"]  # the newest two
    assert [m.subject for m in service.emails("prj_a", cp.ListPersonaEmailsRequest(
        persona_id=first.id, newer_than_seconds=15))] == ["m3"]
    service.deliver(second.id, cp.PersonaEmail(subject="old", received_at=timestamp(now - 7200)))
    assert service.forget_old() == 1
    assert service.emails("prj_a", cp.ListPersonaEmailsRequest(persona_id=second.id)) == []
    with pytest.raises(BrowserplaneError) as err:
        service.emails("prj_b", cp.ListPersonaEmailsRequest(persona_id=first.id))
    assert err.value.reason == errors.PERSONA_NOT_FOUND
    with pytest.raises(BrowserplaneError) as err:
        service.create("prj_b", cp.CreatePersonaRequest(create_phone_number=True))
    assert err.value.reason == errors.TELEPHONY_UNAVAILABLE
    store.close()


def test_the_smtp_receiver_bounds_its_connections(tmp_path) -> None:
    """Past the bound a connection hears 421 and is closed; a slot frees when one ends."""
    import asyncio

    from browserplane.v1 import controlplane_pb2 as cp
    from controlplane.personas import PersonaLimits, PersonaService
    from controlplane.record_cipher import RecordCipher
    from controlplane.smtp_receiver import SmtpReceiver
    from controlplane.store import Store
    from controlplane.vaults import VaultService

    store = Store(tmp_path / "db.sqlite3", RecordCipher(secrets.token_bytes(32)))
    personas = PersonaService(store, VaultService(store), PersonaLimits(domain="mail.test"))
    persona = personas.create("prj", cp.CreatePersonaRequest())

    async def run() -> None:
        receiver = SmtpReceiver(personas, "127.0.0.1", 0, 1 << 16, max_connections=2)
        port = await receiver.start()

        def clients() -> None:
            first = smtplib.SMTP("127.0.0.1", port, timeout=10)
            second = smtplib.SMTP("127.0.0.1", port, timeout=10)
            with pytest.raises(smtplib.SMTPConnectError) as err:
                smtplib.SMTP("127.0.0.1", port, timeout=10)
            assert err.value.smtp_code == 421
            first.sendmail("a@b.test", [persona.email], b"Subject: one\r\n\r\nhi\r\n")
            first.quit()
            for _ in range(50):  # the server side of `first` closes a moment after QUIT
                try:
                    third = smtplib.SMTP("127.0.0.1", port, timeout=10)
                    break
                except smtplib.SMTPConnectError:
                    time.sleep(0.05)
            third.quit()
            second.quit()

        await asyncio.to_thread(clients)
        await receiver.close()

    asyncio.run(run())
    assert [m.subject for m in personas.emails("prj", cp.ListPersonaEmailsRequest(
        persona_id=persona.id))] == ["one"]
    store.close()
