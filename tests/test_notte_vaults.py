"""Notte vaults through the official `notte-sdk` (1.10.0): CRUD, project isolation, and a vault
login by notte-core's placeholders whose password then crosses no API answer, log or file.

Telemetry and the SDK's PyPI version check are off before the SDK is imported (as in
tests/test_notte.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

os.environ["DISABLE_TELEMETRY"] = "true"  # read by notte_core at import time

import httpx  # noqa: E402
import notte_sdk.endpoints.base as notte_base  # noqa: E402
import pytest  # noqa: E402
from notte_core.credentials import base as placeholders  # noqa: E402
from notte_sdk import NotteClient  # noqa: E402
from notte_sdk.errors import NotteAPIError  # noqa: E402

from tests.cluster import Cluster  # noqa: E402

# The version check would GET pypi.org on the first client; it has no switch but this flag.
notte_base._version_check_performed = True


@pytest.fixture(scope="module")
def client(cluster: Cluster, gateway_url: str) -> NotteClient:
    """A project of its own for these tests."""
    return NotteClient(api_key=cluster.create_key("notte-vaults"), server_url=gateway_url)


@pytest.fixture(scope="module")
def other(cluster: Cluster, gateway_url: str) -> NotteClient:
    return NotteClient(api_key=cluster.create_key("notte-vaults-other"), server_url=gateway_url)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every HTTP answer the SDK reads while the test runs (the transport is httpx's, untouched)."""
    seen: list[bytes] = []
    real_read = httpx.Response.read

    def read(self: httpx.Response) -> bytes:  # the SDK reads every answer whole through this
        body = real_read(self)
        seen.append(body)
        return body

    monkeypatch.setattr(httpx.Response, "read", read)
    yield seen


def _password() -> str:
    return "Pw-" + secrets.token_urlsafe(18)


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


def test_the_placeholders_are_notte_cores() -> None:
    # The dialect maps these exact values onto vault secrets; they come from notte-core.
    assert placeholders.EmailField.placeholder_value == "user@example.org"
    assert placeholders.UserNameField.placeholder_value == "cooljohnny1567"
    assert placeholders.PasswordField.placeholder_value == "mycoolpassword"
    assert placeholders.MFAField.placeholder_value == "999779"


def test_vault_round_trip(client: NotteClient) -> None:
    vault = client.Vault(name="team")
    vid = vault.vault_id
    assert vid in [v.vault_id for v in client.vaults.list()]
    listed = next(v for v in client.vaults.list() if v.vault_id == vid)
    assert listed.name == "team" and listed.created_at and listed.for_persona is False
    assert client.vaults.update(vid, name="renamed").name == "renamed"

    password = _password()
    vault.add_credentials("https://github.com", email="me@example.com", password=password)
    vault.add_credentials("https://example.org", username="bob", password="other-" + password)
    creds = sorted(vault.list_credentials(), key=lambda c: c.url)
    assert [(c.url, c.username, c.email) for c in creds] == [
        ("https://example.org", "bob", None), ("https://github.com", None, "me@example.com")]
    got = vault.get_credentials("https://github.com/login")
    assert got == {"email": "me@example.com", "password": password}
    assert vault.has_credential("https://example.org")

    card = {"card_holder_name": "Ada L", "card_number": "4242424242424242", "card_cvv": "123",
            "card_full_expiration": "12/30"}
    vault.set_credit_card(**card)
    assert vault.get_credit_card() == card
    vault.delete_credit_card()
    with pytest.raises(NotteAPIError) as err:
        vault.get_credit_card()
    assert err.value.status_code == 404

    vault.delete_credentials("https://github.com")
    assert [c.url for c in vault.list_credentials()] == ["https://example.org"]
    with pytest.raises(NotteAPIError) as err:
        vault.get_credentials("https://github.com")
    assert err.value.status_code == 404

    vault.delete()
    assert vid not in [v.vault_id for v in client.vaults.list()]
    with pytest.raises(NotteAPIError) as err:
        client.Vault(vid)  # the SDK checks an id by listing its credentials
    assert err.value.status_code == 404


def test_bad_input_is_a_4xx_that_never_echoes_a_secret(client: NotteClient, answers) -> None:
    vault = client.Vault(name="bad")
    password = _password()
    try:
        calls = [
            lambda: client.vaults.credentials_add(vault.vault_id, url="https://a.test",
                                                  username="u", password=password,
                                                  mfa_secret="not base32!"),
            lambda: client.vaults.credit_card_set(vault.vault_id, card_holder_name="A",
                                                  card_number=password, card_cvv="",
                                                  card_full_expiration="12/30"),
            lambda: client.vaults.credentials_add(vault.vault_id, url="https://a.test",
                                                  username="u", password=password * 300),
        ]
        for call in calls:
            with pytest.raises(NotteAPIError) as err:
                call()
            assert 400 <= err.value.status_code < 500
            assert password not in str(err.value) and "not base32!" not in str(err.value)
        assert not [a for a in answers if password.encode() in a]
    finally:
        vault.delete()


def test_another_project_gets_the_sdk_error(client: NotteClient, other: NotteClient) -> None:
    vault = client.Vault(name="mine")
    vault.add_credentials("https://a.test", username="u", password=_password())
    try:
        calls = [
            lambda: other.Vault(vault.vault_id),
            lambda: other.vaults.credentials_get(vault.vault_id, url="https://a.test"),
            lambda: other.vaults.credentials_add(vault.vault_id, url="https://b.test",
                                                 username="x", password="y"),
            lambda: other.vaults.credit_card_get(vault.vault_id),
            lambda: other.vaults.delete(vault.vault_id),
            lambda: other.Session(vault_id=vault.vault_id).start(),
        ]
        for call in calls:
            with pytest.raises(NotteAPIError) as err:
                call()
            assert err.value.status_code == 404, err.value
        assert vault.vault_id not in [v.vault_id for v in other.vaults.list()]
        assert not [s for s in other.sessions.list(only_active=True)]  # nothing started
        assert [c.url for c in vault.list_credentials()] == ["https://a.test"]  # whole for its owner
    finally:
        vault.delete()


def test_a_vault_login_by_placeholder_leaves_no_trace(cluster: Cluster, client: NotteClient,
                                                      site: str, answers) -> None:
    password = _password()
    vault = client.Vault(name="login")
    vault.add_credentials(site, username="ada", password=password)
    digest = hashlib.sha256(password.encode()).hexdigest()
    session = client.Session(vault_id=vault.vault_id)
    session.start()
    try:
        session.execute(type="goto", url=f"{site}/vault-login.html#ada:{digest}")
        obs = session.observe()
        user_id = next(a.id for a in obs.space.interaction_actions
                       if (a.text_label or "").strip().lower() == "username")
        # By an observed id and by a selector; the values are notte-core's placeholders.
        filled = session.execute(type="fill", id=user_id, value="cooljohnny1567")
        assert filled.success
        session.execute(type="fill", selector="#password", value="mycoolpassword")
        session.execute(type="click", selector="button[type=submit]")
        cluster.wait(lambda: session.evaluate_js("document.getElementById('result').textContent"),
                     10, "the page did not check the login")
        assert session.evaluate_js("document.getElementById('result').textContent") == "Welcome"
        assert session.evaluate_js("document.getElementById('username').value") == "ada"
        session.observe()
        session.scrape()
        session.status()
        vault.list_credentials()
    finally:
        session.stop()
    needles = [password.encode(), base64.b64encode(password.encode()),
               base64.urlsafe_b64encode(password.encode()), password.encode("utf-16-le")]
    # The password was sent once (add_credentials) and read back by no answer.
    assert answers and not [a for a in answers if any(n in a for n in needles)]
    time.sleep(1)  # the node removes the browser's directories as it stops it
    assert _files_holding(cluster.tmp, needles) == []
    assert password not in cluster.logs()
    vault.delete()


def test_a_placeholder_without_a_vault_fills_nothing(client: NotteClient, site: str) -> None:
    with client.Session() as session:
        session.execute(type="goto", url=f"{site}/vault-login.html#ada:x")
        with pytest.raises(NotteAPIError) as err:
            session.execute(type="fill", selector="#password", value="mycoolpassword")
        assert err.value.status_code == 409 and "vault_credential_missing" in str(err.value)
        assert session.evaluate_js("document.getElementById('password').value") == ""
        # The session is usable afterwards; an ordinary value still types as it is.
        session.execute(type="fill", selector="#username", value="someone")
        assert session.evaluate_js("document.getElementById('username').value") == "someone"


def test_start_with_an_empty_or_unknown_vault_id_starts_nothing(client: NotteClient) -> None:
    for vault_id, status in (("", 400), ("vault_doesnotexist", 404)):
        with pytest.raises(NotteAPIError) as err:
            client.Session(vault_id=vault_id).start()
        assert err.value.status_code == status
    assert not list(client.sessions.list(only_active=True))


def test_bad_vault_requests_answer_4xx_in_notte_shape(cluster: Cluster, gateway_url: str) -> None:
    key = cluster.create_key("notte-vaults-raw")
    client = NotteClient(api_key=key, server_url=gateway_url)
    vault = client.Vault(name="raw")
    v = f"/vaults/{vault.vault_id}"
    password = _password()
    cases = [
        ("POST", "/vaults/create", b"{not json"),
        ("POST", "/vaults/create", {"name": 5}),
        ("POST", "/vaults/create", {"name": "x", "color": "red"}),
        ("PATCH", v, {}),
        ("POST", v + "/credentials", {"url": "https://a.test", "credentials": password}),
        ("POST", v + "/credentials", {"url": "https://a.test",
                                      "credentials": {"username": "u", "password": 5}}),
        ("POST", v + "/credentials", {"url": "https://a.test",
                                      "credentials": {"username": "u", "pin": password}}),
        ("POST", v + "/credentials", {"credentials": {"username": "u", "password": password}}),
        ("POST", v + "/credentials", {"url": "http://", "credentials": {
            "username": "u", "password": password}}),
        ("GET", v + "/credentials", None),  # no ?url=
        ("DELETE", v + "/credentials?url=https://nowhere.test", None),
        ("POST", v + "/card", {"credit_card": {"card_number": password}}),
        ("GET", v + "/card", None),  # none set
        ("GET", "/vaults/vault_nope", None),
        ("GET", "/vaults/" + "x" * 3000, None),
        ("GET", v + "/nothing/here", None),
        ("GET", "/vaults?page=0", None),
    ]
    try:
        for method, path, body in cases:
            status, answer = _raw(gateway_url, key, method, path, body)
            assert 400 <= status < 500, (method, path, status, answer)
            assert answer["message"] and answer["status"] == status, (method, path, answer)
            assert password not in json.dumps(answer)
        assert [c.url for c in vault.list_credentials()] == []  # nothing was kept
    finally:
        vault.delete()
    assert password not in cluster.logs()


def _raw(gateway_url: str, key: str, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(gateway_url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
