"""Vaults over gRPC: CRUD, project isolation, and a vault login on real Chromium whose password
is then looked for everywhere Browserplane writes (data dirs, logs, action/console/CDP logs,
observations) and found nowhere."""

from __future__ import annotations

import base64
import hashlib
import pathlib
import secrets
import time

import grpc
import pytest

from browserplane import errors, totp
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from node import intelligence, vault_credentials
from tests.cluster import Cluster


@pytest.fixture
def auto(cluster: Cluster):
    with grpc.insecure_channel(cluster.address) as channel:
        yield automation_pb2_grpc.AutomationStub(channel)


@pytest.fixture(scope="module")
def vmd(cluster: Cluster) -> tuple[tuple[str, str], ...]:
    """A project of its own for these tests."""
    return (("authorization", f"Bearer {cluster.create_key('vaults')}"),)


@pytest.fixture(scope="module")
def other_md(cluster: Cluster) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {cluster.create_key('vaults-other')}"),)


def _reason(err: grpc.RpcError) -> str:
    return errors.describe(err).reason


def _password() -> str:
    return "Pw-" + secrets.token_urlsafe(18)


def test_vault_crud_credentials_and_card(cluster: Cluster, vmd):
    stub = cluster.stub
    vault = stub.CreateVault(cp.CreateVaultRequest(name="team"), metadata=vmd)
    assert vault.id.startswith("vault_") and vault.name == "team" and vault.credential_count == 0
    assert stub.CreateVault(cp.CreateVaultRequest(), metadata=vmd).name == "default"
    listed = stub.ListVaults(cp.ListVaultsRequest(), metadata=vmd)
    assert vault.id in [v.id for v in listed.vaults] and listed.total_size >= 2

    password = _password()
    info = stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url="https://github.com", email="me@example.com", password=password,
        mfa_secret="JBSWY3DPEHPK3PXP")), metadata=vmd)
    assert info.url == "https://github.com" and info.email == "me@example.com" and info.has_mfa
    stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url="example.org", username="bob", password="other-" + password)), metadata=vmd)
    assert stub.GetVault(cp.GetVaultRequest(id=vault.id), metadata=vmd).credential_count == 2

    # Listing never carries a secret (the message has no field for one, and no bytes of it).
    creds = stub.ListCredentials(cp.ListCredentialsRequest(vault_id=vault.id), metadata=vmd)
    assert sorted(c.url for c in creds.credentials) == ["example.org", "https://github.com"]
    assert password.encode() not in creds.SerializeToString()
    assert password.encode() not in listed.SerializeToString()

    # The owning project reads a credential by a page URL of its origin.
    got = stub.GetCredentials(cp.GetCredentialsRequest(vault_id=vault.id,
                                                       url="https://github.com/login?x=1"), metadata=vmd)
    assert got.password == password and got.email == "me@example.com"
    # A bare host serves any scheme; another port or scheme of a full URL does not match.
    assert stub.GetCredentials(cp.GetCredentialsRequest(
        vault_id=vault.id, url="http://www.example.org/a"), metadata=vmd).username == "bob"
    with pytest.raises(grpc.RpcError) as err:
        stub.GetCredentials(cp.GetCredentialsRequest(vault_id=vault.id, url="http://github.com"),
                            metadata=vmd)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert _reason(err.value) == errors.CREDENTIAL_NOT_FOUND
    # Adding for the same origin replaces.
    stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url="https://github.com/", email="me@example.com", password=password + "2")), metadata=vmd)
    assert stub.GetVault(cp.GetVaultRequest(id=vault.id), metadata=vmd).credential_count == 2

    card = cp.CreditCard(card_holder_name="Ada L", card_number="4242424242424242",
                         card_cvv="123", card_full_expiration="12/30")
    assert stub.SetCreditCard(cp.SetCreditCardRequest(vault_id=vault.id, credit_card=card),
                              metadata=vmd).has_credit_card
    assert stub.GetCreditCard(cp.GetCreditCardRequest(vault_id=vault.id), metadata=vmd) == card
    stub.DeleteCreditCard(cp.DeleteCreditCardRequest(vault_id=vault.id), metadata=vmd)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetCreditCard(cp.GetCreditCardRequest(vault_id=vault.id), metadata=vmd)
    assert _reason(err.value) == errors.CREDIT_CARD_NOT_FOUND

    renamed = stub.UpdateVault(cp.UpdateVaultRequest(id=vault.id, name="renamed"), metadata=vmd)
    assert renamed.name == "renamed"
    stub.DeleteCredentials(cp.DeleteCredentialsRequest(vault_id=vault.id, url="https://github.com"),
                           metadata=vmd)
    assert [c.url for c in stub.ListCredentials(cp.ListCredentialsRequest(vault_id=vault.id),
                                                metadata=vmd).credentials] == ["example.org"]
    stub.DeleteVault(cp.DeleteVaultRequest(id=vault.id), metadata=vmd)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetVault(cp.GetVaultRequest(id=vault.id), metadata=vmd)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and _reason(err.value) == errors.VAULT_NOT_FOUND


def test_bad_input_is_refused_without_echoing_secrets(cluster: Cluster, vmd):
    stub = cluster.stub
    vault = stub.CreateVault(cp.CreateVaultRequest(name="bad"), metadata=vmd)
    password = _password()
    cases = [
        cp.Credential(url="", username="u", password=password),
        cp.Credential(url="http://", username="u", password=password),
        cp.Credential(url="not a url at all", username="u", password=password),
        cp.Credential(url="https://a.test", username="u"),
        cp.Credential(url="https://a.test", username="u", password=password, mfa_secret="not base32!"),
        cp.Credential(url="https://a.test", username="u", password="x" * 5000),
    ]
    for credential in cases:
        with pytest.raises(grpc.RpcError) as err:
            stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=credential),
                                metadata=vmd)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, credential
        assert password not in err.value.details() and "not base32!" not in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.SetCreditCard(cp.SetCreditCardRequest(vault_id=vault.id, credit_card=cp.CreditCard(
            card_number="4242")), metadata=vmd)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4242" not in err.value.details()
    # A session cannot start with a vault that does not exist: nothing starts.
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(vault_id="vault_nope")),
                           metadata=vmd, timeout=30)
    assert _reason(err.value) == errors.VAULT_NOT_FOUND
    stub.DeleteVault(cp.DeleteVaultRequest(id=vault.id), metadata=vmd)


def test_another_project_cannot_see_or_touch_a_vault(cluster: Cluster, vmd, other_md):
    stub = cluster.stub
    vault = stub.CreateVault(cp.CreateVaultRequest(name="mine"), metadata=vmd)
    stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url="https://a.test", username="u", password=_password())), metadata=vmd)
    assert vault.id not in [v.id for v in stub.ListVaults(cp.ListVaultsRequest(), metadata=other_md).vaults]
    calls = [
        lambda: stub.GetVault(cp.GetVaultRequest(id=vault.id), metadata=other_md),
        lambda: stub.ListCredentials(cp.ListCredentialsRequest(vault_id=vault.id), metadata=other_md),
        lambda: stub.GetCredentials(cp.GetCredentialsRequest(vault_id=vault.id, url="https://a.test"),
                                    metadata=other_md),
        lambda: stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
            url="https://b.test", username="x", password="y")), metadata=other_md),
        lambda: stub.DeleteCredentials(cp.DeleteCredentialsRequest(vault_id=vault.id, url="https://a.test"),
                                       metadata=other_md),
        lambda: stub.GetCreditCard(cp.GetCreditCardRequest(vault_id=vault.id), metadata=other_md),
        lambda: stub.DeleteVault(cp.DeleteVaultRequest(id=vault.id), metadata=other_md),
        # Nor can its sessions use it.
        lambda: stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(vault_id=vault.id)),
                                   metadata=other_md, timeout=30),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert _reason(err.value) == errors.VAULT_NOT_FOUND
    # Still whole for its owner; no key at all is refused.
    assert stub.GetVault(cp.GetVaultRequest(id=vault.id), metadata=vmd).credential_count == 1
    with pytest.raises(grpc.RpcError) as err:
        stub.ListVaults(cp.ListVaultsRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stub.DeleteVault(cp.DeleteVaultRequest(id=vault.id), metadata=vmd)


def _session(cluster: Cluster, md, vault_id: str = "") -> S.Session:
    return cluster.stub.CreateSession(cp.CreateSessionRequest(
        options=S.SessionOptions(keep_alive=True, vault_id=vault_id)), metadata=md, timeout=60)


def _fill(auto, md, sid, selector: str, which: int) -> A.ActResponse:
    return auto.Act(A.ActRequest(session_id=sid, action=A.Action(fill=A.Fill(
        target=A.ElementTarget(selector=selector), vault_secret=which))), metadata=md, timeout=60)


def _js(auto, md, sid, expression: str) -> str:
    return auto.Evaluate(A.EvaluateRequest(session_id=sid, expression=expression),
                         metadata=md).result.string_value


def _files_holding(root: pathlib.Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
        except OSError:  # a socket, or a file a browser removed meanwhile
            continue
        found += [f"{path} holds {n[:6]!r}…" for n in needles if n in data]
    return found


def test_a_vault_login_fills_the_form_and_leaves_no_trace(cluster: Cluster, auto, vmd, site):
    password = _password()
    vault = cluster.stub.CreateVault(cp.CreateVaultRequest(name="login"), metadata=vmd)
    cluster.stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url=site, username="ada", password=password)), metadata=vmd)
    s = _session(cluster, vmd, vault.id)
    sid = s.id
    answers: list[bytes] = []
    try:
        digest = hashlib.sha256(password.encode()).hexdigest()
        auto.Navigate(A.NavigateRequest(session_id=sid, url=f"{site}/vault-login.html#ada:{digest}"),
                      metadata=vmd, timeout=30)
        # The username by an observed ref, the password by a selector.
        obs = auto.Observe(A.ObserveRequest(session_id=sid), metadata=vmd)
        user_ref = next(e.ref for e in obs.elements if e.label.strip().lower() == "username")
        answers.append(auto.Act(A.ActRequest(session_id=sid, action=A.Action(fill=A.Fill(
            target=A.ElementTarget(ref=user_ref), vault_secret=A.VAULT_USERNAME))),
            metadata=vmd, timeout=60).SerializeToString())
        answers.append(_fill(auto, vmd, sid, "#password", A.VAULT_PASSWORD).SerializeToString())
        auto.Act(A.ActRequest(session_id=sid, action=A.Action(click=A.Click(
            target=A.ElementTarget(selector="button[type=submit]")))), metadata=vmd, timeout=60)
        cluster.wait(lambda: _js(auto, vmd, sid, "document.getElementById('result').textContent"),
                     10, "the page did not check the login")
        assert _js(auto, vmd, sid, "document.getElementById('result').textContent") == "Welcome"
        assert _js(auto, vmd, sid, "document.getElementById('username').value") == "ada"
        cluster.wait(lambda: _js(auto, vmd, sid, "document.getElementById('sent').textContent"),
                     10, "the page did not post the form")
        posts = [e for e in auto.GetNetworkLog(A.LogRequest(session_id=sid, limit=1000),
                                               metadata=vmd).entries if e.method == "POST"]
        assert posts, "the form's POST is in the network log (and its body nowhere)"

        # What callers can read about the session: answers, observations, every log.
        answers.append(auto.Observe(A.ObserveRequest(session_id=sid), metadata=vmd).SerializeToString())
        log = auto.GetActionLog(A.LogRequest(session_id=sid), metadata=vmd)
        fills = [e for e in log.entries if e.type == "fill"]
        assert [e.details["vault_secret"] for e in fills] == ["username", "password"]
        assert fills[0].details["ref"] == user_ref
        answers.append(log.SerializeToString())
        for method in (auto.GetConsoleLog, auto.GetNetworkLog, auto.GetCdpLog):
            answers.append(method(A.LogRequest(session_id=sid, limit=1000), metadata=vmd).SerializeToString())
        needles = [password.encode(), base64.b64encode(password.encode()),
                   base64.urlsafe_b64encode(password.encode()), password.encode("utf-16-le")]
        for answer in answers:
            assert not [n for n in needles if n in answer]
        # Must-show 3: while the browser runs and after it ends, the control plane's and the
        # node's data dirs and every component's log hold no trace of the password.
        assert _files_holding(cluster.tmp, needles) == []
        # (The search does read the stores: the vault's id, kept in the clear, is found.)
        assert _files_holding(cluster.tmp / "cp", [vault.id.encode()])
    finally:
        cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=sid), metadata=vmd)
    time.sleep(1)  # the node removes the browser's directories as it stops it
    assert _files_holding(cluster.tmp, needles) == []
    assert password not in cluster.logs()


def test_a_credential_of_another_origin_is_never_filled(cluster: Cluster, auto, vmd, site):
    vault = cluster.stub.CreateVault(cp.CreateVaultRequest(name="elsewhere"), metadata=vmd)
    cluster.stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url="https://example.com", username="ada", password=_password())), metadata=vmd)
    with_vault, without = _session(cluster, vmd, vault.id), _session(cluster, vmd)
    try:
        for sid in (with_vault.id, without.id):
            auto.Navigate(A.NavigateRequest(session_id=sid, url=f"{site}/vault-login.html#ada:x"),
                          metadata=vmd, timeout=30)
            with pytest.raises(grpc.RpcError) as err:
                _fill(auto, vmd, sid, "#password", A.VAULT_PASSWORD)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert _reason(err.value) == errors.VAULT_CREDENTIAL_MISSING
            assert "nothing was filled" in err.value.details()
            assert _js(auto, vmd, sid, "document.getElementById('password').value") == ""
        assert site.removeprefix("http://") in err_details(auto, vmd, with_vault.id)
        # A value and a vault secret at once is a caller's mistake.
        with pytest.raises(grpc.RpcError) as err:
            auto.Act(A.ActRequest(session_id=with_vault.id, action=A.Action(fill=A.Fill(
                target=A.ElementTarget(selector="#password"), value="x",
                vault_secret=A.VAULT_PASSWORD))), metadata=vmd, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The session is still usable.
        auto.Act(A.ActRequest(session_id=with_vault.id, action=A.Action(fill=A.Fill(
            target=A.ElementTarget(selector="#username"), value="typed"))), metadata=vmd, timeout=30)
        assert _js(auto, vmd, with_vault.id, "document.getElementById('username').value") == "typed"
    finally:
        for s in (with_vault, without):
            cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=vmd)


def err_details(auto, md, sid: str) -> str:
    with pytest.raises(grpc.RpcError) as err:
        _fill(auto, md, sid, "#username", A.VAULT_USERNAME)
    return err.value.details()


def test_the_agent_is_offered_vault_fills_without_any_value():
    note = intelligence._vault_note(["fill_username", "fill_password"])
    assert "fill_username" in note and "fill_password" in note and "never see" in note
    assert intelligence._vault_note([]) == ""
    schema = intelligence._agent_schema(["a1"], ["fill_password"])
    assert "fill_password" in schema["properties"]["action"]["enum"]
    assert "fill_password" not in intelligence._agent_schema(["a1"])["properties"]["action"]["enum"]


def test_mfa_codes_follow_rfc_6238():
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits).
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code(secret, at=59, digits=8) == "94287082"
    cred = cp.Credential(url="https://a.test", email="e@a.test", password="p")
    assert vault_credentials.pick(cred, A.VAULT_USERNAME) == "e@a.test"
    with pytest.raises(errors.BrowserplaneError):
        vault_credentials.pick(cred, A.VAULT_MFA_CODE)


@pytest.fixture(scope="module")
def agent_cluster(tmp_path_factory, model_server):
    """A cluster of its own whose node has the real model (SmolLM2-135M)."""
    c = Cluster(tmp_path_factory.mktemp("vault-agent"))
    try:
        c.start_controlplane()
        c.start_node("smol", 2, 0, (), 0, "--model-base-url", model_server,
                     "--model", "SmolLM2-135M-Instruct.Q4_1", "--model-max-tokens", "128",
                     "--model-max-input-chars", "4000")
        yield c
    finally:
        c.stop()


def test_an_agent_on_a_vault_session_never_sees_the_password(agent_cluster: Cluster, site):
    """Whatever the real model chooses, no step, answer, log or file carries the password."""
    c = agent_cluster
    md = (("authorization", f"Bearer {c.create_key('agent')}"),)
    password = _password()
    vault = c.stub.CreateVault(cp.CreateVaultRequest(), metadata=md)
    c.stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url=site, username="ada", password=password)), metadata=md)
    s = _session(c, md, vault.id)
    with grpc.insecure_channel(c.address) as channel:
        auto = automation_pb2_grpc.AutomationStub(channel)
        digest = hashlib.sha256(password.encode()).hexdigest()
        events = list(auto.RunAgent(A.RunAgentRequest(
            session_id=s.id, task="Sign in with the saved login.", max_steps=3,
            start_url=f"{site}/vault-login.html#ada:{digest}"), metadata=md, timeout=300))
        assert events[-1].HasField("result")
        log = auto.GetActionLog(A.LogRequest(session_id=s.id), metadata=md)
        steps = [e for e in log.entries if e.type == "agent_step"]
        assert len(steps) == events[-1].result.steps
        answers = [e.SerializeToString() for e in events] + [log.SerializeToString()]
        answers.append(auto.GetCdpLog(A.LogRequest(session_id=s.id, limit=1000),
                                      metadata=md).SerializeToString())
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md)
    needles = [password.encode(), base64.b64encode(password.encode())]
    assert not [n for a in answers for n in needles if n in a]
    assert _files_holding(c.tmp, needles) == []


def test_an_agent_step_fills_the_vault_login_by_ref_without_the_value(cluster: Cluster, vmd, site):
    """The agent's vault actions on a real page, through the node's own parts (page reader,
    actor, the control plane's vaults over gRPC): the model only names the field."""
    import asyncio

    from playwright.async_api import async_playwright

    from node import page_actions, page_reader
    from node.chromium import find_chromium
    from node.model_client import ModelClient

    password = _password()
    vault = cluster.stub.CreateVault(cp.CreateVaultRequest(name="agent-step"), metadata=vmd)
    cluster.stub.AddCredentials(cp.AddCredentialsRequest(vault_id=vault.id, credential=cp.Credential(
        url=site, username="ada", password=password)), metadata=vmd)
    project = cluster.stub.Authenticate(cp.AuthenticateRequest(), metadata=vmd).project.id
    digest = hashlib.sha256(password.encode()).hexdigest()

    async def run() -> None:
        channel = grpc.aio.insecure_channel(cluster.address)
        vaults = vault_credentials.VaultCredentials(
            controlplane_pb2_grpc.ControlPlaneStub(channel), cluster.admin)
        # A model that is never asked: _agent_step runs one choice the test makes.
        brain = intelligence.Intelligence(ModelClient("http://127.0.0.1:9/v1", "unused"))
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=find_chromium())
            page = await browser.new_page()
            await page.goto(f"{site}/vault-login.html#ada:{digest}")

            async def act(pg, action):
                actor = page_actions.Actor(pg, pathlib.Path("/nonexistent"), vault=lambda url, which:
                                           vaults.secret(project, vault.id, url, which))
                return actor.page, await actor.run(action)

            tab = intelligence.Tab(page, page_reader.observe, act, lambda url: asyncio.sleep(0),
                                   vault_offer=lambda url: vaults.available(project, vault.id, url))
            offer = await tab.vault_offer(page.url)
            assert offer == ["username", "password"]
            assert await vaults.available(project, vault.id, "https://elsewhere.test/") == []
            obs = await tab.observe(max_text=2000)
            shown = {e.ref: e for e in obs.elements}
            ref = {e.label.lower().strip(): e.ref for e in obs.elements}
            actions = [f"fill_{part}" for part in offer]
            for action, label in (("fill_username", "username"), ("fill_password", "password")):
                step = await brain._agent_step(tab, 1, {"action": action, "ref": ref[label],
                                                        "text": "whatever the model wrote"},
                                               shown, actions)
                assert step.success, step.message
                assert step.text == "" and password not in str(step)
            await page.click("button[type=submit]")
            await page.wait_for_function("document.getElementById('result').textContent !== ''")
            assert await page.text_content("#result") == "Welcome"
            assert await page.input_value("#username") == "ada"
            await browser.close()
        await brain.model.close()
        await channel.close()

    asyncio.run(run())
