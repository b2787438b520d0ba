"""Notte (`Authorization: Bearer`), as the official `notte-sdk` 1.10.0 speaks it.

Served at the gateway's root: the SDK's `server_url` is the gateway and it calls `/sessions/...`,
`/scrape`, `/health` with no version prefix. Sessions are Browserplane sessions; the perception
layer (observe, execute, scrape) is Automation's Observe, Act, Locate and Ask; `/vaults` is the
control plane's vaults, and a `fill` whose value is a notte-core vault placeholder becomes
Fill.vault_secret, so the node types the secret and it never crosses this API. Session files are
Automation's files (uploads and downloads, by FileInfo.id), `/profiles` the control plane's one
profile store (Browserbase contexts and Airtop profiles are the same profiles). `/personas` is
the control plane's personas (mail through its SMTP receiver); SMS and phone numbers answer 501.

Observe names each element with a Notte-style id: a letter for its role (L links, B buttons,
I inputs, O options, F images) and the number of its Observe ref (`e17` -> `B17`). Refs are
stable for the element while the document lives, so ids are too, and an id reads back to its
ref without any state kept here.

The SDK reads any 2xx body with a top-level `detail` key as an error, and its models are
strict: success bodies never carry `detail`, and error bodies are `{status, message, detail}`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.parse
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format, timestamp_pb2

from browserplane import errors
from browserplane.logs import request_id_var
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc, controlplane_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from gateway import recordings
from gateway.cdp_endpoint import CdpEndpoint
from gateway.dialects.notte_agents import NotteAgents
from gateway.http_api import (
    ApiError,
    RateLimiter,
    bad_request,
    check_http_url,
    endpoint,
    file_part,
    forwarded,
    grpc_metadata,
    json_body,
    public_base,
    stream_chunks,
    typed,
)
from gateway.live_view import live_url

DIALECT = "notte"
TIMEOUT_S = 120
STATUS = {S.PENDING: "active", S.RUNNING: "active", S.COMPLETED: "closed", S.TIMED_OUT: "timed_out",
          S.FAILED: "error"}
CLOSE_REASONS = ("manual", "idle_timeout", "max_duration", "error", "unknown")
END_CAUSES = {S.IDLE_TIMEOUT: "idle_timeout", S.MAX_DURATION: "max_duration",
              S.REQUESTED: "manual", S.CLIENT_DISCONNECTED: "manual"}
BROWSERS = ("chromium", "chrome")  # both served by the node's Chromium
OTHER_BROWSERS = ("firefox", "chrome-nightly", "chrome-turbo")
WAIT_UNTIL = {"load": A.LOAD, "domcontentloaded": A.DOM_CONTENT_LOADED,
              "networkidle": A.NETWORK_IDLE, "commit": A.COMMIT}
# SessionStartRequest fields; those not listed in the checks below are accepted and have no
# effect here (documented in the README).
START_FIELDS = {"headless", "solve_captchas", "max_duration_minutes", "idle_timeout_minutes",
                "proxies", "browser_type", "user_agent", "chrome_args", "viewport_width",
                "viewport_height", "aspect_ratio", "cdp_url", "profile", "web_bot_auth",
                "extra_http_headers", "vault_id", "auth_ids", "wait_for_authentication",
                "auth_retry", "block_ads", "advanced_stealth", "use_file_storage",
                "screenshot_type"}
SCRAPE_FIELDS = {"selector", "scrape_links", "scrape_images", "only_main_content", "only_images",
                 "ignored_tags", "instructions", "response_format", "use_link_placeholders",
                 "model"}

# Notte id letter by Observe role (anything else a user can act on is a button).
ROLE_LETTER = {"link": "L", "textbox": "I", "searchbox": "I", "combobox": "I", "spinbutton": "I",
               "checkbox": "I", "radio": "I", "switch": "I", "slider": "I", "listbox": "I",
               "option": "O", "img": "F", "image": "F"}
# What an action met on the page, not a server fault: answered 422 so the SDK does not retry
# the action (it retries POSTs on 503).
PAGE_FAILURES = {errors.ACTION_FAILED, errors.NAVIGATION_FAILED, errors.TIMEOUT,
                 errors.ELEMENT_NOT_FOUND, errors.PAGE_NOT_FOUND, errors.FILE_NOT_FOUND}
ID_PATTERN = re.compile(r"^([LBIOF])([1-9][0-9]{0,8})$")
INTERACTION = "Interaction Actions"
MAX_HTML_CHARS = 2 * 1024 * 1024  # a data: URL travels in one gRPC message (4 MiB)
# notte-core's vault placeholders (notte_core.credentials): a fill with one of these values types
# that secret of the session's vault credential for the page's origin, node-side, so the value
# never crosses the API.
VAULT_PLACEHOLDERS = {"user@example.org": A.VAULT_EMAIL, "cooljohnny1567": A.VAULT_USERNAME,
                      "mycoolpassword": A.VAULT_PASSWORD, "999779": A.VAULT_MFA_CODE}
CREDENTIAL_FIELDS = ("email", "username", "password", "mfa_secret")
CARD_FIELDS = ("card_holder_name", "card_number", "card_cvv", "card_full_expiration")
FILE_SOURCES = {"user_upload": A.UPLOAD, "session_download": A.DOWNLOAD}
SOURCE_OF = {A.UPLOAD: "user_upload", A.DOWNLOAD: "session_download"}
FILE_ID = re.compile(r"^(up|dl)-[A-Za-z0-9_-]{1,400}$")  # node/session_files.py's ids
IMAGES_JS = ("Array.from(document.images).map(i => ({url: i.currentSrc || i.src, "
             "description: i.alt || null})).filter(i => i.url)")


def error_body(err: ApiError, request_id: str) -> dict[str, Any]:
    # `status` is read from the body by Session.start (it retries 5xx); `detail` by some paths.
    body: dict[str, Any] = {"status": err.status, "error": err.code, "message": err.message,
                            "detail": err.message, "request_id": request_id}
    if err.field:
        body["field"] = err.field
    return body


def _iso(stamp: timestamp_pb2.Timestamp) -> str | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToJsonString()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def session_json(s: S.Session, request: web.Request) -> dict[str, Any]:
    created = _iso(s.created_at) or _now()
    status = STATUS.get(s.state, "error")
    o = s.options
    body: dict[str, Any] = {
        "session_id": s.id, "status": status, "created_at": created,
        "last_accessed_at": _iso(s.last_activity_at) or _iso(s.updated_at) or created,
        "idle_timeout_minutes": max(1, round(s.idle_timeout_seconds / 60)),
        "max_duration_minutes": max(1, round(s.max_duration_seconds / 60)),
        "closed_at": _iso(s.ended_at), "close_reason": None, "error": None, "steps": [],
        "proxies": bool(o.proxies), "browser_type": o.labels.get("notte_browser_type", "chromium"),
        "user_agent": s.user_agent or o.user_agent or None,
        "viewport_width": o.viewport.width or None, "viewport_height": o.viewport.height or None,
        "solve_captchas": o.solve_captchas, "network_request_bytes": 0,
        "network_response_bytes": 0, "web_bot_auth": False, "auth_ids": [],
    }
    if status in ("active",):
        body["cdp_url"] = s.cdp_url or None
        body["viewer_url"] = live_url(public_base(request), s.id, s.live_view_token) \
            if s.live_view_token else None
    else:
        match = re.search(r"close_reason=(\w+)", s.end_reason)
        reason = match.group(1) if match and match.group(1) in CLOSE_REASONS else \
            END_CAUSES.get(s.end_cause, "error" if s.state == S.FAILED else "unknown")
        body["close_reason"] = reason
        body["closed_at"] = body["closed_at"] or _now()
        if s.state == S.FAILED:
            body["error"] = s.end_reason or "the session failed"
    return body


def _ref_of(action_id: str) -> str:
    match = ID_PATTERN.match(action_id)
    if not match:
        raise ApiError(404, "action_not_found", f"no action with id {action_id!r} on this page "
                       "(ids look like B3, L1, I2: observe the page to list them)", field="id")
    return "e" + match.group(2)


def _letter(e: A.Element) -> str:
    if e.tag == "img":
        return "F"
    if e.tag in ("input", "textarea", "select") and e.type not in ("submit", "button", "reset",
                                                                  "image"):
        return "I"
    return ROLE_LETTER.get(e.role, "B")


def notte_id(e: A.Element) -> str:
    return _letter(e) + e.ref.removeprefix("e")


def interaction_action(e: A.Element) -> dict[str, Any]:
    """The Notte action model an element offers (the SDK validates it by `type`)."""
    label = e.label or e.name or e.type or e.tag
    item: dict[str, Any] = {"id": notte_id(e), "category": INTERACTION, "text_label": e.label or None}
    if e.tag == "select" or e.options:
        item.update(type="select_dropdown_option", value="",
                    description=f"Select an option of '{label}'")
    elif e.role in ("checkbox", "radio", "switch"):
        item.update(type="check", value=not e.checked, description=f"Check '{label}'")
    elif e.tag == "input" and e.type == "file":
        item.update(type="upload_file", file_path="", description=f"Upload a file to '{label}'")
    elif _letter(e) == "I":
        item.update(type="fill", value="", description=f"Fill '{label}'")
    else:
        item.update(type="click", description=f"Click '{label}'")
    return item


def _viewport(obs: A.Observation) -> dict[str, int]:
    s = obs.scroll
    return {"scroll_x": round(s.x), "scroll_y": round(s.y), "viewport_width": round(s.viewport_width),
            "viewport_height": round(s.viewport_height), "total_width": round(s.width),
            "total_height": round(s.height)}


def _tabs(pages: Any) -> list[dict[str, Any]]:
    return [{"tab_id": p.index, "title": p.title, "url": p.url} for p in pages]


# ---- actions ------------------------------------------------------------------------------------

def _field(action: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None,
           required: bool = False) -> Any:
    if required and action.get(key) is None:
        raise bad_request(key, f"is required for a {action.get('type')} action")
    return typed(action, key, kind, default)


def _selector(raw: Any) -> str | None:
    """A Playwright selector from Notte's `selector` (a string or NodeSelectors)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, dict):
        raise bad_request("selector", "must be a string or an object with css_selector/xpath_selector")
    css = typed(raw, "css_selector", str, "", "selector.css_selector")
    xpath = typed(raw, "xpath_selector", str, "", "selector.xpath_selector")
    frames = typed(raw, "iframe_parent_css_selectors", list, [],
                   "selector.iframe_parent_css_selectors")
    typed(raw, "in_iframe", bool, False, "selector.in_iframe")
    typed(raw, "in_shadow_root", bool, False, "selector.in_shadow_root")  # Playwright's css pierces
    playwright = typed(raw, "playwright_selector", str, "", "selector.playwright_selector")
    if not css and not xpath and not playwright:
        return None
    inner = playwright or css or ("xpath=" + xpath)
    chain = []
    for i, frame in enumerate(frames):
        if not isinstance(frame, str) or not frame:
            raise bad_request(f"selector.iframe_parent_css_selectors[{i}]", "must be a CSS selector")
        chain += [frame, "internal:control=enter-frame"]
    return " >> ".join(chain + [inner])


DEFAULT_DESCRIPTIONS = {
    "click": "Click on an element of the current page", "fill": "Fill an input field with a value",
}


def _target(action: dict[str, Any]) -> A.ElementTarget:
    action_id = typed(action, "id", str, "")
    if action_id:
        return A.ElementTarget(ref=_ref_of(action_id))
    selector = _selector(action.get("selector"))
    if selector:
        return A.ElementTarget(selector=selector)
    text = typed(action, "text_label", str, "")
    if text:
        return A.ElementTarget(text=text)
    name = typed(action, "accessible_name", str, "")
    if name:
        return A.ElementTarget(label=name)
    description = typed(action, "description", str, "")
    kind = action.get("type")
    if description and not description.startswith(DEFAULT_DESCRIPTIONS.get(kind, "\0")) \
            and not description.startswith(("Fill ", "Check a checkbox", "Select ", "Upload ",
                                            "Download ")):
        return A.ElementTarget(description=description)
    raise bad_request("id", f"a {kind} action names its element by id (from observe), selector "
                      "(css_selector or xpath_selector) or a description")


def _value(action: dict[str, Any]) -> str:
    value = action.get("value")
    if not isinstance(value, str):
        raise bad_request("value", "must be a string (a vault placeholder such as mycoolpassword "
                          "fills from the session's vault)")
    return value


def vault_json(v: cp.Vault) -> dict[str, Any]:
    return {"vault_id": v.id, "name": v.name, "created_at": _iso(v.created_at) or _now(),
            "for_persona": bool(v.persona_id)}


def persona_json(p: cp.Persona) -> dict[str, Any]:
    # One address serves as both the readable `email` and the `internal_email`.
    return {"persona_id": p.id, "status": "active", "first_name": p.first_name,
            "last_name": p.last_name, "email": p.email, "internal_email": p.email,
            "vault_id": p.vault_id or None, "phone_number": None, "email_provider": "notte",
            "name": p.name or None, "created_at": _iso(p.created_at) or _now()}


def email_json(m: cp.PersonaEmail) -> dict[str, Any]:
    return {"email_id": m.id, "subject": m.subject, "created_at": _iso(m.received_at) or _now(),
            "sender_email": m.sender_email or None, "sender_name": m.sender_name or None,
            "text_content": m.text or None, "html_content": m.html or None,
            "links": list(m.links), "read": m.read}


DURATION = re.compile(r"^(?:(\d{1,5}) days?, )?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d{1,6})?)$")
ISO_DURATION = re.compile(r"^P(?:(\d{1,5})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,8})M)?"
                          r"(?:(\d{1,10}(?:\.\d{1,6})?)S)?)?$", re.I)


def duration_seconds(text: str) -> float:
    """A `timedelta` query value as the SDK sends it (`str(timedelta)`: "0:05:00",
    "1 day, 2:00:00"), as ISO 8601 ("PT5M") or as seconds ("300")."""
    text = text.strip()
    if text.isascii() and text.replace(".", "", 1).isdigit():
        return float(text)
    if match := DURATION.match(text):
        days, hours, minutes, seconds = match.groups()
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if (match := ISO_DURATION.match(text)) and text.upper() not in ("P", "PT"):
        days, hours, minutes, seconds = match.groups()
        return (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
                + float(seconds or 0))
    raise bad_request("timedelta", "must be a duration: seconds, H:MM:SS or ISO 8601 (PT5M)")


def _secrets(body: dict[str, Any], key: str, names: tuple[str, ...], required: tuple[str, ...]
             ) -> dict[str, str]:
    """body[key] as {name: string}; errors name the field, never its value."""
    given = typed(body, key, dict, None)
    if given is None:
        raise bad_request(key, "is required")
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise bad_request(f"{key}.{unknown[0]}", "is not a known field (" + ", ".join(names) + ")")
    values = {name: typed(given, name, str, "", f"{key}.{name}") for name in names}
    for name in required:
        if not values[name]:
            raise bad_request(f"{key}.{name}", "is required")
    return values


class Notte:
    def __init__(self, control: controlplane_pb2_grpc.ControlPlaneStub,
                 automation: automation_pb2_grpc.AutomationStub, cdp: CdpEndpoint,
                 limiter: RateLimiter) -> None:
        self.control = control
        self.automation = automation
        self.cdp = cdp
        self.limiter = limiter
        self.agents = NotteAgents(control)

    def routes(self, app: web.Application) -> None:
        """Mounted at the root, each path on its own (the root is shared with every other route,
        so there is no catch-all here but the one under /sessions/)."""
        table = [
            ("POST", "/sessions/start", "start", self.start),
            ("GET", "/sessions", "list", self.list_sessions),
            ("GET", "/sessions/", "list", self.list_sessions),
            ("GET", "/sessions/{id}", "status", self.status),
            ("DELETE", "/sessions/{id}/stop", "stop", self.stop),
            ("GET", "/sessions/{id}/auth", "auth", self.auth),
            ("GET", "/sessions/{id}/debug", "debug", self.debug),
            ("GET", "/sessions/{id}/debug/tab", "debug_tab", self.debug_tab),
            ("POST", "/sessions/{id}/page/observe", "observe", self.observe),
            ("POST", "/sessions/{id}/page/execute", "execute", self.execute),
            ("POST", "/sessions/{id}/page/scrape", "scrape", self.page_scrape),
            ("POST", "/sessions/{id}/page/screenshot", "screenshot", self.screenshot),
            ("GET", "/sessions/{id}/cookies", "cookies_get", self.get_cookies),
            ("POST", "/sessions/{id}/cookies", "cookies_set", self.set_cookies),
            ("GET", "/sessions/{id}/network/logs", "network_logs", self.network_logs),
            ("GET", "/sessions/{id}/files", "files_list", self.files_list),
            ("POST", "/sessions/{id}/files", "file_upload", self.file_upload),
            ("GET", "/sessions/{id}/files/{file}", "file_download", self.file_download),
            ("DELETE", "/sessions/{id}/files/{file}", "file_delete", self.file_delete),
            ("POST", "/sessions/{id}/page/execute/file", "execute_file", self.execute_file),
            ("GET", "/sessions/{id}/replay", "replay", self.replay),
            ("POST", "/sessions/{id}/profile/save", "profile_save", self.profile_save),
            ("POST", "/profiles/create", "profile_create", self.profile_create),
            ("GET", "/profiles", "profile_list", self.profile_list),
            ("GET", "/profiles/", "profile_list", self.profile_list),
            ("GET", "/profiles/{pid}", "profile_get", self.profile_get),
            ("DELETE", "/profiles/{pid}", "profile_delete", self.profile_delete),
            ("POST", "/profiles/{pid}/duplicate", "profile_duplicate", self.profile_duplicate),
            ("GET", "/profiles/{pid}/cookies", "profile_cookies_get", self.profile_cookies_get),
            ("POST", "/profiles/{pid}/cookies", "profile_cookies_set", self.profile_cookies_set),
            ("POST", "/profiles/{pid}/state", "profile_state", self.profile_state),
            ("POST", "/scrape", "scrape_url", self.scrape_url),
            ("POST", "/scrape_from_html", "scrape_html", self.scrape_html),
            ("POST", "/search", "search", self.search),
            ("POST", "/vaults/create", "vault_create", self.vault_create),
            ("GET", "/vaults", "vault_list", self.vault_list),
            ("GET", "/vaults/", "vault_list", self.vault_list),
            ("GET", "/vaults/{vault}", "vault_credentials_list", self.credentials_list),
            ("PATCH", "/vaults/{vault}", "vault_update", self.vault_update),
            ("DELETE", "/vaults/{vault}", "vault_delete", self.vault_delete),
            ("GET", "/vaults/{vault}/credentials", "vault_credentials_get", self.credentials_get),
            ("POST", "/vaults/{vault}/credentials", "vault_credentials_add", self.credentials_add),
            ("DELETE", "/vaults/{vault}/credentials", "vault_credentials_delete",
             self.credentials_delete),
            ("GET", "/vaults/{vault}/card", "vault_card_get", self.card_get),
            ("POST", "/vaults/{vault}/card", "vault_card_set", self.card_set),
            ("DELETE", "/vaults/{vault}/card", "vault_card_delete", self.card_delete),
            ("POST", "/personas/create", "persona_create", self.persona_create),
            ("GET", "/personas", "persona_list", self.persona_list),
            ("GET", "/personas/", "persona_list", self.persona_list),
            ("GET", "/personas/{persona}", "persona_get", self.persona_get),
            ("PATCH", "/personas/{persona}", "persona_update", self.persona_update),
            ("DELETE", "/personas/{persona}", "persona_delete", self.persona_delete),
            ("GET", "/personas/{persona}/emails", "persona_emails", self.persona_emails),
            ("GET", "/personas/{persona}/sms", "persona_sms", self.persona_phone),
            ("POST", "/personas/{persona}/sms/number", "persona_number_create", self.persona_phone),
            ("DELETE", "/personas/{persona}/sms/number", "persona_number_delete",
             self.persona_phone),
        ]
        table += self.agents.table()
        for method, path, name, handler in table:
            app.router.add_route(method, path, endpoint(DIALECT, name, error_body)(self._authed(handler)))
        app.router.add_get("/health", endpoint(DIALECT, "health", error_body)(self.health))
        for prefix in ("/sessions/", "/vaults/", "/personas/", "/profiles/", "/agents/"):
            app.router.add_route("*", prefix + "{tail:.*}",
                                 endpoint(DIALECT, "unknown", error_body)(self.unknown))

    def _authed(self, handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            scheme, _, key = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise ApiError(401, "unauthorized", "missing Authorization: Bearer <API key> header")
            request["ratelimit"] = self.limiter.hit(key.strip())
            try:
                return await handler(request, grpc_metadata(key.strip()))
            except grpc.RpcError as err:
                raise ApiError.from_grpc(err) from None
        return run

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise ApiError(404, "not_found", f"no route {request.method} {request.path}")

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    async def search(self, request: web.Request, md: Any) -> web.StreamResponse:
        raise ApiError(501, "not_implemented", "web search needs a search backend and none is "
                       "configured in this Browserplane (a SearXNG-compatible URL is the natural one)")

    # -- vaults (controlplane/vaults.py keeps and seals them; secrets are never logged here) --------

    async def vault_create(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        unknown = sorted(set(body) - {"name"})
        if unknown:
            raise bad_request(unknown[0], "is not a VaultCreateRequest field")
        vault = await self.control.CreateVault(cp.CreateVaultRequest(
            name=typed(body, "name", str, "")), metadata=md, timeout=30)
        return web.json_response(vault_json(vault))

    async def vault_list(self, request: web.Request, md: Any) -> web.StreamResponse:
        numbers = {}
        for name, default, high in (("page", 1, 100_000), ("page_size", 10, 100)):
            raw = request.query.get(name, str(default))
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
                raise bad_request(name, f"must be 1..{high}")
            numbers[name] = int(raw)
        if request.query.get("only_active", "true").lower() not in ("true", "false"):
            raise bad_request("only_active", "must be True or False")
        page, size = numbers["page"], numbers["page_size"]
        found: list[cp.Vault] = []
        token = ""
        while len(found) < page * size + 1:
            answer = await self.control.ListVaults(cp.ListVaultsRequest(
                page_size=1000, page_token=token), metadata=md, timeout=30)
            found += answer.vaults
            token = answer.next_page_token
            if not token:
                break
        start = (page - 1) * size
        return web.json_response({"items": [vault_json(v) for v in found[start:start + size]],
                                  "page": page, "page_size": size,
                                  "has_next": len(found) > start + size, "has_previous": page > 1})

    async def vault_update(self, request: web.Request, md: Any) -> web.StreamResponse:
        name = await _new_name(request, "VaultUpdateRequest")
        vault = await self.control.UpdateVault(cp.UpdateVaultRequest(
            id=request.match_info["vault"], name=name), metadata=md, timeout=30)
        return web.json_response(vault_json(vault))

    async def vault_delete(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.DeleteVault(cp.DeleteVaultRequest(id=request.match_info["vault"]),
                                       metadata=md, timeout=30)
        return web.json_response({"status": "success", "message": "Vault deleted successfully"})

    async def credentials_list(self, request: web.Request, md: Any) -> web.StreamResponse:
        answer = await self.control.ListCredentials(cp.ListCredentialsRequest(
            vault_id=request.match_info["vault"]), metadata=md, timeout=30)
        return web.json_response({"credentials": [
            {"url": c.url, "username": c.username or None, "email": c.email or None}
            for c in answer.credentials]})

    @staticmethod
    def _url(request: web.Request) -> str:
        url = request.query.get("url", "")
        if not url:
            raise bad_request("url", "is required (the site whose credentials these are)")
        return url

    async def credentials_add(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        unknown = sorted(set(body) - {"url", "credentials"})
        if unknown:
            raise bad_request(unknown[0], "is not an AddCredentialsRequest field")
        url = typed(body, "url", str, "")
        if not url:
            raise bad_request("url", "is required")
        creds = _secrets(body, "credentials", CREDENTIAL_FIELDS, ("password",))
        await self.control.AddCredentials(cp.AddCredentialsRequest(
            vault_id=request.match_info["vault"], credential=cp.Credential(url=url, **creds)),
            metadata=md, timeout=30)
        return web.json_response({"status": "success"})

    async def credentials_get(self, request: web.Request, md: Any) -> web.StreamResponse:
        got = await self.control.GetCredentials(cp.GetCredentialsRequest(
            vault_id=request.match_info["vault"], url=self._url(request)), metadata=md, timeout=30)
        creds = {name: getattr(got, name) for name in CREDENTIAL_FIELDS if getattr(got, name)}
        return web.json_response({"credentials": creds})

    async def credentials_delete(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.DeleteCredentials(cp.DeleteCredentialsRequest(
            vault_id=request.match_info["vault"], url=self._url(request)), metadata=md, timeout=30)
        return web.json_response({"status": "success",
                                  "message": "Credentials deleted successfully"})

    async def card_set(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        unknown = sorted(set(body) - {"credit_card"})
        if unknown:
            raise bad_request(unknown[0], "is not an AddCreditCardRequest field")
        card = _secrets(body, "credit_card", CARD_FIELDS, CARD_FIELDS)
        await self.control.SetCreditCard(cp.SetCreditCardRequest(
            vault_id=request.match_info["vault"], credit_card=cp.CreditCard(**card)),
            metadata=md, timeout=30)
        return web.json_response({"status": "success"})

    async def card_get(self, request: web.Request, md: Any) -> web.StreamResponse:
        card = await self.control.GetCreditCard(cp.GetCreditCardRequest(
            vault_id=request.match_info["vault"]), metadata=md, timeout=30)
        return web.json_response({"credit_card": {name: getattr(card, name) for name in CARD_FIELDS}})

    async def card_delete(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.DeleteCreditCard(cp.DeleteCreditCardRequest(
            vault_id=request.match_info["vault"]), metadata=md, timeout=30)
        return web.json_response({"status": "success",
                                  "message": "Credit card deleted successfully"})

    # -- personas (controlplane/personas.py keeps them; mail arrives over its SMTP receiver) ----

    @staticmethod
    def _page(request: web.Request) -> tuple[int, int]:
        numbers = {}
        for name, default, high in (("page", 1, 100_000), ("page_size", 10, 100)):
            raw = request.query.get(name, str(default))
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
                raise bad_request(name, f"must be 1..{high}")
            numbers[name] = int(raw)
        if request.query.get("only_active", "true").lower() not in ("true", "false"):
            raise bad_request("only_active", "must be True or False")
        return numbers["page"], numbers["page_size"]

    async def persona_create(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        known = {"create_vault", "create_phone_number", "email_provider", "name"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise bad_request(unknown[0], "is not a PersonaCreateRequest field")
        provider = typed(body, "email_provider", str, "notte")
        if provider != "notte":
            raise bad_request("email_provider", "only 'notte' is served here (mail arrives at this "
                              "Browserplane's own SMTP receiver)")
        persona = await self.control.CreatePersona(cp.CreatePersonaRequest(
            name=typed(body, "name", str, ""), create_vault=typed(body, "create_vault", bool, False),
            create_phone_number=typed(body, "create_phone_number", bool, False)),
            metadata=md, timeout=30)
        return web.json_response(persona_json(persona))

    async def persona_list(self, request: web.Request, md: Any) -> web.StreamResponse:
        page, size = self._page(request)
        start = (page - 1) * size
        answer = await self.control.ListPersonas(cp.ListPersonasRequest(
            page_size=size + 1, page_token=str(start) if start else ""), metadata=md, timeout=30)
        found = list(answer.personas)
        return web.json_response({"items": [persona_json(p) for p in found[:size]],
                                  "page": page, "page_size": size,
                                  "has_next": len(found) > size, "has_previous": page > 1})

    async def persona_get(self, request: web.Request, md: Any) -> web.StreamResponse:
        persona = await self.control.GetPersona(cp.GetPersonaRequest(
            id=request.match_info["persona"]), metadata=md, timeout=30)
        return web.json_response(persona_json(persona))

    async def persona_update(self, request: web.Request, md: Any) -> web.StreamResponse:
        name = await _new_name(request, "PersonaUpdateRequest")
        persona = await self.control.UpdatePersona(cp.UpdatePersonaRequest(
            id=request.match_info["persona"], name=name), metadata=md, timeout=30)
        return web.json_response(persona_json(persona))

    async def persona_delete(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.DeletePersona(cp.DeletePersonaRequest(id=request.match_info["persona"]),
                                         metadata=md, timeout=30)
        return web.json_response({"status": "success", "message": "Persona deleted successfully"})

    async def persona_emails(self, request: web.Request, md: Any) -> web.StreamResponse:
        raw = request.query.get("limit", "10")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100:
            raise bad_request("limit", "must be 1..100")
        unread = request.query.get("only_unread", "false").lower()
        if unread not in ("true", "false"):
            raise bad_request("only_unread", "must be True or False")
        since = request.query.get("timedelta")
        answer = await self.control.ListPersonaEmails(cp.ListPersonaEmailsRequest(
            persona_id=request.match_info["persona"], limit=int(raw), only_unread=unread == "true",
            newer_than_seconds=duration_seconds(since) if since else 0, mark_read=True),
            metadata=md, timeout=30)
        return web.json_response([email_json(m) for m in answer.emails])

    async def persona_phone(self, request: web.Request, md: Any) -> web.StreamResponse:
        """SMS and phone numbers: the persona is checked (404 as usual), then 501."""
        await self.control.GetPersona(cp.GetPersonaRequest(id=request.match_info["persona"]),
                                      metadata=md, timeout=30)
        raise ApiError(501, "telephony_unavailable", errors.TELEPHONY_MESSAGE)

    # -- sessions ------------------------------------------------------------------------------

    def _options(self, body: dict[str, Any]) -> S.SessionOptions:
        unknown = sorted(set(body) - START_FIELDS)
        if unknown:
            raise bad_request(unknown[0], "is not a SessionStartRequest field")
        # Notte replays every session.
        o = S.SessionOptions(dialect=DIALECT, keep_alive=True, record_session=True)
        idle = typed(body, "idle_timeout_minutes", int, 3)
        if not 1 <= idle <= 15:
            raise bad_request("idle_timeout_minutes", "must be 1..15")
        longest = typed(body, "max_duration_minutes", int, 15)
        if not 1 <= longest <= 1440:
            raise bad_request("max_duration_minutes", "must be 1..1440")
        o.idle_timeout_seconds, o.max_duration_seconds = idle * 60, longest * 60
        if not typed(body, "headless", bool, True):
            raise bad_request("headless", "headful sessions are not offered here; watch a session "
                              "through its viewer_url instead")
        browser = typed(body, "browser_type", str, "chromium")
        if browser not in BROWSERS:
            known = browser in OTHER_BROWSERS
            raise bad_request("browser_type", f"{browser!r} is not served here; chromium and chrome "
                              "run on Chromium" if known else "must be chromium or chrome")
        o.labels["notte_browser_type"] = browser
        o.user_agent = typed(body, "user_agent", str, "")
        sides = {}
        for side, high in (("width", 7680), ("height", 4320)):
            value = typed(body, f"viewport_{side}", int, 0)
            if value and not 100 <= value <= high:
                raise bad_request(f"viewport_{side}", f"must be 100..{high}")
            sides[side] = value
        if any(sides.values()):  # one side alone keeps the usual other side
            o.viewport.width = sides["width"] or 1280
            o.viewport.height = sides["height"] or 720
        aspect = typed(body, "aspect_ratio", str, None)
        if aspect is not None and aspect not in ("5:4", "16:9"):
            raise bad_request("aspect_ratio", "must be 5:4 or 16:9")
        self._proxies(body, o)
        chrome_args = typed(body, "chrome_args", list, [])
        for i, flag in enumerate(chrome_args):
            if not isinstance(flag, str):
                raise bad_request(f"chrome_args[{i}]", "must be a string")
        # The control plane holds the allowlist (browserplane/chrome_flags.py) and refuses the rest.
        o.chrome_args.extend(chrome_args)
        if typed(body, "cdp_url", str, ""):
            raise bad_request("cdp_url", "bringing your own browser is not supported; Browserplane "
                              "runs the browser")
        profile = typed(body, "profile", dict, None)
        if profile is not None:
            profile_id = typed(profile, "id", str, "", "profile.id")
            if not profile_id:
                raise bad_request("profile.id", "is required")
            o.profile.profile_id = profile_id
            o.profile.persist = typed(profile, "persist", bool, False, "profile.persist")
        if typed(body, "web_bot_auth", bool, False):
            raise bad_request("web_bot_auth", "Web Bot Auth request signing is not offered here")
        headers = typed(body, "extra_http_headers", dict, {})
        for name, value in headers.items():
            if not isinstance(value, str):
                raise bad_request(f"extra_http_headers.{name}", "must be a string")
            o.extra_http_headers.append(f"{name}: {value}")  # the control plane checks them
        vault_id = typed(body, "vault_id", str, None)
        if vault_id is not None:
            if not vault_id:
                raise bad_request("vault_id", "must be a vault id (from /vaults/create)")
            o.vault_id = vault_id  # the control plane checks it is the project's
        if typed(body, "auth_ids", list, []):
            raise bad_request("auth_ids", "stored authentications are not available here")
        for flag in ("wait_for_authentication", "advanced_stealth", "use_file_storage"):
            typed(body, flag, bool, False)
        typed(body, "auth_retry", (dict, bool, int), None)
        typed(body, "screenshot_type", str, None)
        o.block_ads = typed(body, "block_ads", bool, False)
        # Recorded; no solver is built in (the README says so).
        o.solve_captchas = typed(body, "solve_captchas", bool, False)
        return o

    @staticmethod
    def _proxies(body: dict[str, Any], o: S.SessionOptions) -> None:
        proxies = typed(body, "proxies", (bool, list), False)
        if proxies is True:
            raise bad_request("proxies", "Notte-managed proxies are not available in a self-hosted "
                              "Browserplane; pass {\"type\": \"external\", \"server\": ...}")
        for i, proxy in enumerate(proxies or []):
            field = f"proxies[{i}]"
            if not isinstance(proxy, dict):
                raise bad_request(field, "must be an object")
            kind = proxy.get("type")
            if kind != "external":
                raise bad_request(f"{field}.type", "only external proxies are available here "
                                  "(notte-managed and tailnet proxies are not)")
            server = typed(proxy, "server", str, "", f"{field}.server")
            try:
                parts = urllib.parse.urlsplit(server)
                _ = parts.port
            except ValueError:
                parts = None
            if parts is None or parts.scheme not in ("http", "https", "socks5", "socks4") \
                    or not parts.hostname or any(ord(c) <= 0x20 for c in server):
                raise bad_request(f"{field}.server", "must be a proxy URL such as http://host:8080")
            bypass = typed(proxy, "bypass", str, "", f"{field}.bypass")
            o.proxies.add(kind=S.ProxyRule.EXTERNAL, server=server,
                          username=typed(proxy, "username", str, "", f"{field}.username"),
                          password=typed(proxy, "password", str, "", f"{field}.password"),
                          bypass=[b.strip() for b in bypass.split(",") if b.strip()])

    async def start(self, request: web.Request, md: Any) -> web.StreamResponse:
        options = self._options(await json_body(request))
        try:
            session = await self.control.CreateSession(cp.CreateSessionRequest(
                options=options, cdp_base_url=public_base(request, websocket=True)),
                metadata=md, timeout=90)
        except grpc.aio.AioRpcError as err:
            failure = ApiError.from_grpc(err)
            if errors.describe(err).reason == errors.PROFILE_NOT_FOUND:
                failure.status, failure.field = 404, "profile.id"  # Notte: an unknown profile
            raise failure from None
        return web.json_response(session_json(session, request))

    async def _session(self, request: web.Request, md: Any) -> S.Session:
        return await self.control.GetSession(cp.GetSessionRequest(
            id=request.match_info["id"], cdp_base_url=public_base(request, True)),
            metadata=md, timeout=10)

    async def _running(self, request: web.Request, md: Any) -> S.Session:
        session = await self._session(request, md)
        if session.state not in (S.PENDING, S.RUNNING):
            raise ApiError(409, "session_ended", f"session {session.id} is "
                           f"{STATUS.get(session.state, 'error')}")
        return session

    async def status(self, request: web.Request, md: Any) -> web.StreamResponse:
        return web.json_response(session_json(await self._session(request, md), request))

    async def auth(self, request: web.Request, md: Any) -> web.StreamResponse:
        """Sessions never wait for stored authentications here (auth_ids are refused)."""
        session = await self._session(request, md)
        state = "active" if session.state in (S.PENDING, S.RUNNING) else "closed"
        return web.json_response({"session_id": session.id, "status": state, "operations": [],
                                  "error": None})

    async def list_sessions(self, request: web.Request, md: Any) -> web.StreamResponse:
        q = request.query
        values = {"true": True, "false": False}
        flags = {}
        for name in ("only_active", "include_system"):
            raw = q.get(name, "false").lower()
            if raw not in values:
                raise bad_request(name, "must be True or False")
            flags[name] = values[raw]
        numbers = {}
        for name, default, high in (("page", 1, 100_000), ("page_size", 10, 100)):
            raw = q.get(name, str(default))
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
                raise bad_request(name, f"must be 1..{high}")
            numbers[name] = int(raw)
        states = [S.PENDING, S.RUNNING] if flags["only_active"] else []
        wanted = numbers["page"] * numbers["page_size"]
        found: list[S.Session] = []
        token = ""
        while len(found) < wanted:
            answer = await self.control.ListSessions(cp.ListSessionsRequest(
                states=states, page_size=1000, page_token=token,
                cdp_base_url=public_base(request, True)), metadata=md, timeout=30)
            found += answer.sessions
            token = answer.next_page_token
            if not token:
                break
        found.sort(key=lambda s: (s.created_at.seconds, s.created_at.nanos), reverse=True)
        start = (numbers["page"] - 1) * numbers["page_size"]
        items = [session_json(s, request) for s in found[start:start + numbers["page_size"]]]
        return web.json_response({"items": items, "page": numbers["page"],
                                  "page_size": numbers["page_size"],
                                  "has_next": len(found) > start + numbers["page_size"],
                                  "has_previous": numbers["page"] > 1})

    async def stop(self, request: web.Request, md: Any) -> web.StreamResponse:
        reason = request.query.get("close_reason", "manual")
        if reason not in CLOSE_REASONS:
            raise bad_request("close_reason", "must be one of " + ", ".join(CLOSE_REASONS))
        session = await self._session(request, md)
        if session.state in (S.PENDING, S.RUNNING):
            session = await self.control.TerminateSession(cp.TerminateSessionRequest(
                id=session.id, reason=f"stopped through the Notte API (close_reason={reason})"),
                metadata=md, timeout=30)
        body = session_json(session, request)
        body["status"] = "closed"  # the SDK checks exactly this, timed out or not
        return web.json_response(body)

    async def _tabs_debug(self, request: web.Request, session: S.Session) -> list[dict[str, Any]]:
        targets = await self.cdp.targets(session.id, session.cdp_token, forwarded(request))
        base = public_base(request)
        return [{"metadata": {"tab_id": i, "title": t.get("title", ""), "url": t.get("url", "")},
                 "debug_url": live_url(base, session.id, session.live_view_token, page=t.get("id", "")),
                 "ws_url": t.get("webSocketDebuggerUrl", "")}
                for i, t in enumerate(t for t in targets if t.get("type") == "page")]

    async def debug(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._running(request, md)
        base, token = public_base(request), session.live_view_token
        recording = f"{public_base(request, True)}/session/{session.id}/live/ws?token={token}"
        return web.json_response({
            "debug_url": live_url(base, session.id, token),
            # logs: no log stream over WebSocket here; GET /network/logs answers instead.
            "ws": {"cdp": session.cdp_url, "recording": recording, "logs": ""},
            "tabs": await self._tabs_debug(request, session),
        })

    async def debug_tab(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._running(request, md)
        raw = request.query.get("tab_idx", "-1")
        tabs = await self._tabs_debug(request, session)
        try:
            index = int(raw)
        except ValueError:
            raise bad_request("tab_idx", "must be an integer") from None
        if not -len(tabs) <= index < len(tabs):
            raise ApiError(404, "tab_not_found", f"no tab {index}; the session has {len(tabs)}",
                           field="tab_idx")
        return web.json_response(tabs[index])

    # -- perception ----------------------------------------------------------------------------

    async def observe(self, request: web.Request, md: Any) -> web.StreamResponse:
        sid = request.match_info["id"]
        body = await json_body(request)
        most = typed(body, "max_nb_actions", int, 100)
        typed(body, "min_nb_actions", int, None)
        typed(body, "perception_type", str, None)
        instructions = typed(body, "instructions", str, "")
        if not 1 <= most <= 10_000:
            raise bad_request("max_nb_actions", "must be 1..10000")
        await self._running(request, md)
        started = _now()
        obs = await self.automation.Observe(A.ObserveRequest(session_id=sid, include_screenshot=True),
                                            metadata=md, timeout=TIMEOUT_S)
        elements = [e for e in obs.elements if not e.disabled]
        if instructions:
            # Locate ranks what matches the instructions first; the rest keep page order.
            located = await self.automation.Locate(A.LocateRequest(
                session_id=sid, description=instructions, max_candidates=min(most, 50)),
                metadata=md, timeout=TIMEOUT_S)
            order = {c.element.ref: i for i, c in enumerate(located.candidates)}
            elements.sort(key=lambda e: order.get(e.ref, len(order)))
        pages = obs.pages or [obs.page]
        actions = [interaction_action(e) for e in elements[:most]]
        # The text a model reads: the page, then one line per action, as Notte lists them.
        listing = "\n".join(f"* {a['id']}: {a['description']}" for a in actions)
        return web.json_response({
            "started_at": started, "ended_at": _now(),
            "metadata": {"title": obs.page.title, "url": obs.page.url, "viewport": _viewport(obs),
                         "tabs": _tabs(pages), "timestamp": _now()},
            "screenshot": {"raw": base64.b64encode(obs.screenshot).decode()},
            "space": {"description": f"{obs.page.title or obs.page.url}\n{listing}".strip(),
                      "interaction_actions": actions},
        })

    async def execute(self, request: web.Request, md: Any) -> web.StreamResponse:
        return await self._execute(request, md, await json_body(request, allow_empty=False))

    async def _execute(self, request: web.Request, md: Any, action: dict[str, Any]
                       ) -> web.StreamResponse:
        sid = request.match_info["id"]
        kind = action.get("type")
        if not isinstance(kind, str):
            raise bad_request("type", "every action has a type (goto, click, fill, ...)")
        run = getattr(self, "_do_" + kind, None) if re.fullmatch(r"[a-z_]{1,40}", kind) else None
        if run is None:
            raise ApiError(400, "unknown_action", f"unknown action type {kind!r}", field="type")
        call = await run(sid, action, md, check_only=True)  # bad input: nothing has run
        await self._running(request, md)
        started = _now()
        try:
            message, data, success = await call()
        except grpc.RpcError as err:
            failure = ApiError.from_grpc(err)
            if errors.describe(err).reason in PAGE_FAILURES and failure.status >= 500:
                failure.status = 422
            raise failure from None
        return web.json_response({"started_at": started, "ended_at": _now(), "action": action,
                                  "success": success, "message": message, "data": data,
                                  "exception_detail": None, "action_executed": True})

    # Each _do_<type> checks the action and returns the coroutine function that runs it, which
    # answers (message, data, success).

    def _act(self, sid: str, md: Any, message: str, **kind: Any) -> Any:
        timeout = kind.pop("timeout_ms", 0)

        async def go() -> tuple[str, Any, bool]:
            answer = await self.automation.Act(A.ActRequest(
                session_id=sid, action=A.Action(timeout_ms=timeout, **kind)),
                metadata=md, timeout=TIMEOUT_S)
            return answer.message or message, None, True
        return go

    def _navigate(self, sid: str, md: Any, kind: int, url: str = "", wait_until: int = 0) -> Any:
        async def go() -> tuple[str, Any, bool]:
            answer = await self.automation.Navigate(A.NavigateRequest(
                session_id=sid, kind=kind, url=url, wait_until=wait_until, timeout_ms=30_000),
                metadata=md, timeout=TIMEOUT_S)
            return f"now at {answer.page.url}", None, True
        return go

    @staticmethod
    def _timeout(action: dict[str, Any]) -> int:
        value = typed(action, "timeout", int, 15_000)
        if not 0 <= value <= 300_000:
            raise bad_request("timeout", "must be 0..300000 milliseconds")
        return value

    async def _do_goto(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        url = _field(a, "url", str, required=True)
        check_http_url("url", url)
        wait = typed(a, "wait_until", str, None)
        if wait is not None and wait not in WAIT_UNTIL:
            raise bad_request("wait_until", "must be " + ", ".join(WAIT_UNTIL))
        return self._navigate(sid, md, A.NavigateRequest.GOTO, url, WAIT_UNTIL.get(wait or "", 0))

    async def _do_goto_new_tab(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        url = _field(a, "url", str, required=True)
        check_http_url("url", url)

        async def go() -> tuple[str, Any, bool]:
            page = await self.automation.OpenPage(A.OpenPageRequest(session_id=sid, url=url,
                                                                    timeout_ms=30_000),
                                                  metadata=md, timeout=TIMEOUT_S)
            return f"opened tab {page.index} at {page.url}", None, True
        return go

    async def _do_close_tab(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        async def go() -> tuple[str, Any, bool]:
            pages = await self.automation.ListPages(A.ListPagesRequest(session_id=sid), metadata=md,
                                                    timeout=TIMEOUT_S)
            active = [p for p in pages.pages if p.active] or list(pages.pages)[-1:]
            if len(pages.pages) <= 1:
                raise ApiError(409, "last_tab", "the session's last tab cannot be closed; stop "
                               "the session instead")
            await self.automation.ClosePage(A.ClosePageRequest(session_id=sid, page_id=active[0].id),
                                            metadata=md, timeout=TIMEOUT_S)
            return "closed the current tab", None, True
        return go

    async def _do_switch_tab(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        index = _field(a, "tab_index", int, required=True)
        if not 0 <= index < 1000:
            raise bad_request("tab_index", "must be 0 or more")

        async def go() -> tuple[str, Any, bool]:
            page = await self.automation.SwitchPage(A.SwitchPageRequest(session_id=sid, index=index),
                                                    metadata=md, timeout=TIMEOUT_S)
            return f"switched to tab {page.index} ({page.url})", None, True
        return go

    async def _do_go_back(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        return self._navigate(sid, md, A.NavigateRequest.BACK)

    async def _do_go_forward(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        return self._navigate(sid, md, A.NavigateRequest.FORWARD)

    async def _do_reload(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        return self._navigate(sid, md, A.NavigateRequest.RELOAD)

    async def _do_wait(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        ms = _field(a, "time_ms", int, required=True)
        if not 0 <= ms <= 300_000:
            raise bad_request("time_ms", "must be 0..300000")
        if ms == 0:
            async def nothing() -> tuple[str, Any, bool]:
                return "waited 0 ms", None, True
            return nothing
        return self._act(sid, md, f"waited {ms} ms", wait=A.Wait(time_ms=ms), timeout_ms=ms + 5000)

    async def _do_press_key(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        key = _field(a, "key", str, required=True)
        if not key:
            raise bad_request("key", "must name a key such as Enter")
        return self._act(sid, md, f"pressed {key}", press=A.PressKey(key=key))

    async def _scroll(self, sid: str, a: dict[str, Any], md: Any, sign: int) -> Any:
        amount = typed(a, "amount", int, None)
        if amount is not None and not 0 < amount <= 1_000_000:
            raise bad_request("amount", "must be a positive number of pixels")
        selector = typed(a, "selector", str, None)
        within = A.ElementTarget(selector=selector) if selector else None

        async def go() -> tuple[str, Any, bool]:
            pixels = amount
            if pixels is None:
                height = await self.automation.Evaluate(A.EvaluateRequest(
                    session_id=sid, expression="window.innerHeight"), metadata=md, timeout=TIMEOUT_S)
                pixels = int(height.result.number_value or 600)
            scroll = A.Scroll(delta_y=sign * pixels)
            if within is not None:
                scroll.within.CopyFrom(within)
            await self.automation.Act(A.ActRequest(session_id=sid, action=A.Action(scroll=scroll)),
                                      metadata=md, timeout=TIMEOUT_S)
            return f"scrolled {'down' if sign > 0 else 'up'} {pixels} px", None, True
        return go

    async def _do_scroll_down(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        return await self._scroll(sid, a, md, 1)

    async def _do_scroll_up(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        return await self._scroll(sid, a, md, -1)

    async def _do_click(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        target = _target(a)
        return self._act(sid, md, "clicked", click=A.Click(target=target),
                         timeout_ms=self._timeout(a))

    async def _do_download_file(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        target = _target(a)
        return self._act(sid, md, "clicked to download (the file lands in the session's downloads)",
                         click=A.Click(target=target), timeout_ms=self._timeout(a))

    async def _do_fill(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        target, value = _target(a), _value(a)
        clear = typed(a, "clear_before_fill", bool, True)
        enter = typed(a, "press_enter", bool, False)
        secret = VAULT_PLACEHOLDERS.get(value)
        if secret is not None:  # the node types the vault's value (it always clears the field)
            fill = A.Action(fill=A.Fill(target=target, vault_secret=secret, press_enter=enter))
        elif clear:
            fill = A.Action(fill=A.Fill(target=target, value=value, press_enter=enter))
        else:
            fill = A.Action(type=A.TypeText(target=target, text=value, press_enter=enter))
        fill.timeout_ms = self._timeout(a)

        async def go() -> tuple[str, Any, bool]:
            await self.automation.Act(A.ActRequest(session_id=sid, action=fill), metadata=md,
                                      timeout=TIMEOUT_S)
            return "filled", None, True  # never echo the value: it may be a password
        return go

    _do_multi_factor_fill = _do_fill
    _do_fallback_fill = _do_fill

    async def _do_check(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        target = _target(a)
        value = _field(a, "value", bool, required=True)
        return self._act(sid, md, "checked" if value else "unchecked",
                         check=A.Check(target=target, checked=value), timeout_ms=self._timeout(a))

    async def _do_select_dropdown_option(self, sid: str, a: dict[str, Any], md: Any,
                                         check_only: bool) -> Any:
        target, value = _target(a), _value(a)
        return self._act(sid, md, f"selected {value!r}", select=A.Select(target=target, values=[value]),
                         timeout_ms=self._timeout(a))

    async def _do_upload_file(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        target = _target(a)
        path = _field(a, "file_path", str, required=True)
        if not path or "/" in path or "\\" in path or path in (".", ".."):
            raise bad_request("file_path", "must be the name of a file uploaded to the session")
        return self._act(sid, md, f"uploaded {path}", upload=A.Upload(target=target, files=[path]),
                         timeout_ms=self._timeout(a))

    async def _do_form_fill(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        fields = _field(a, "value", dict, required=True)
        if not fields or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
            raise bad_request("value", "must map field names to string values")
        return self._act(sid, md, "filled the form", fill_form=A.FillForm(fields=fields))

    async def _do_evaluate_js(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        code = _field(a, "code", str, required=True)

        async def go() -> tuple[str, Any, bool]:
            answer = await self.automation.Evaluate(A.EvaluateRequest(session_id=sid, expression=code),
                                                    metadata=md, timeout=TIMEOUT_S)
            if answer.error:
                raise ApiError(422, "script_failed", f"the script threw: {answer.error}")
            result = json_format.MessageToDict(answer.result) if answer.HasField("result") else None
            text = result if isinstance(result, str) else json.dumps(result)
            return "evaluated", {"markdown": text}, True
        return go

    async def _do_scrape(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        options = _scrape_options(a, known=SCRAPE_FIELDS | {"type", "category", "description"})

        async def go() -> tuple[str, Any, bool]:
            return "scraped", await self._scrape(sid, options, md), True
        return go

    async def _do_completion(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        success = _field(a, "success", bool, required=True)
        answer = _field(a, "answer", str, required=True)

        async def go() -> tuple[str, Any, bool]:
            return answer, None, success
        return go

    async def _do_help(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        reason = _field(a, "reason", str, required=True)

        async def go() -> tuple[str, Any, bool]:
            return reason, None, True
        return go

    async def _do_captcha_solve(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        raise ApiError(501, "not_implemented", "no CAPTCHA solver is built into Browserplane")

    # Mail and SMS are read from a persona, not from a session (notte-core says so too).
    async def _do_email_read(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        raise ApiError(501, "not_implemented", "email_read is no browser action here: read the "
                       "persona's inbox with GET /personas/{persona_id}/emails (persona.emails())")

    async def _do_email_verification_read(self, sid: str, a: dict[str, Any], md: Any,
                                          check_only: bool) -> Any:
        raise ApiError(501, "not_implemented", "workspace mailboxes (mailbox_id) are not offered: "
                       "a persona's mail is read with GET /personas/{persona_id}/emails")

    async def _do_sms_read(self, sid: str, a: dict[str, Any], md: Any, check_only: bool) -> Any:
        raise ApiError(501, "telephony_unavailable", errors.TELEPHONY_MESSAGE)

    # -- scraping --------------------------------------------------------------------------------

    async def _scrape(self, sid: str, o: dict[str, Any], md: Any) -> dict[str, Any]:
        if o["instructions"] or o["response_format"] is not None:
            answer = await self.automation.Ask(A.AskRequest(
                session_id=sid, prompt=o["instructions"] or "Extract the data the schema describes.",
                json_schema=json.dumps(o["response_format"]) if o["response_format"] else ""),
                metadata=md, timeout=TIMEOUT_S)
            ok = answer.status != "failure"
            data = json_format.MessageToDict(answer.data) if answer.HasField("data") else \
                {"answer": answer.text}
            return {"markdown": answer.text,
                    "structured": {"success": ok, "error": None if ok else answer.message or "failed",
                                   "data": data if ok else None}}
        obs = await self.automation.Observe(A.ObserveRequest(
            session_id=sid, scope=o["selector"], include_links=o["scrape_links"],
            mode=A.ObserveRequest.MAIN if o["only_main_content"] else A.ObserveRequest.FULL,
            max_text_length=1_000_000), metadata=md, timeout=TIMEOUT_S)
        result: dict[str, Any] = {"markdown": obs.markdown}
        if o["scrape_links"]:
            result["links"] = [{"url": link.href, "text": link.text} for link in obs.links]
        if o["scrape_images"]:
            images = await self.automation.Evaluate(A.EvaluateRequest(session_id=sid,
                                                                      expression=IMAGES_JS),
                                                    metadata=md, timeout=TIMEOUT_S)
            result["images"] = json_format.MessageToDict(images.result) \
                if images.HasField("result") else []
        return result

    async def page_scrape(self, request: web.Request, md: Any) -> web.StreamResponse:
        options = _scrape_options(await json_body(request))
        session = await self._running(request, md)
        return web.json_response(await self._scrape(session.id, options, md))

    async def _one_shot(self, request: web.Request, md: Any, options: dict[str, Any],
                        url: str) -> web.StreamResponse:
        session = await self.control.CreateSession(cp.CreateSessionRequest(
            options=S.SessionOptions(dialect=DIALECT, idle_timeout_seconds=120,
                                     max_duration_seconds=600)), metadata=md, timeout=90)
        try:
            await self.automation.Navigate(A.NavigateRequest(session_id=session.id, url=url,
                                                             timeout_ms=30_000),
                                           metadata=md, timeout=TIMEOUT_S)
            return web.json_response(await self._scrape(session.id, options, md))
        finally:
            try:
                await self.control.TerminateSession(cp.TerminateSessionRequest(
                    id=session.id, reason="one-shot scrape done (close_reason=manual)"),
                    metadata=md, timeout=30)
            except grpc.RpcError:
                pass  # it ends on its idle timeout

    async def scrape_url(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        url = _field(body, "url", str, required=True)
        check_http_url("url", url)
        extra = {"url", "headless", "solve_captchas", "proxies", "browser_type"}
        options = _scrape_options(body, known=SCRAPE_FIELDS | extra)
        if typed(body, "proxies", (bool, list), False):
            raise bad_request("proxies", "one-shot scrapes run without a proxy here")
        browser = typed(body, "browser_type", str, "chromium")
        if browser not in BROWSERS:
            raise bad_request("browser_type", "must be chromium or chrome")
        return await self._one_shot(request, md, options, url)

    async def scrape_html(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        frames = typed(body, "frames", list, None)
        html = typed(body, "html", str, None)
        if frames is None and html is None:
            raise bad_request("frames", "give the HTML as frames: [{\"html\": ...}]")
        if html is None:
            if not frames:
                raise bad_request("frames", "needs at least one frame")
            parts = []
            for i, frame in enumerate(frames):
                if not isinstance(frame, dict) or not isinstance(frame.get("html"), str):
                    raise bad_request(f"frames[{i}].html", "must be a string")
                parts.append(frame["html"])
            html = "\n".join(parts)
        if len(html) > MAX_HTML_CHARS:
            raise ApiError(413, "payload_too_large", f"the HTML is longer than {MAX_HTML_CHARS} "
                           "characters", field="frames")
        options = _scrape_options(body, known=SCRAPE_FIELDS | {"frames", "html", "url"})
        # The page reader runs on the HTML as a page of its own: a data: URL, never a fetch.
        url = "data:text/html;base64," + base64.b64encode(html.encode("utf-8", "surrogatepass")).decode()
        return await self._one_shot(request, md, options, url)

    async def screenshot(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._running(request, md)
        shot = await self.automation.Screenshot(A.ScreenshotRequest(session_id=session.id),
                                                metadata=md, timeout=TIMEOUT_S)
        return web.json_response({"screenshot": base64.b64encode(shot.data).decode(),
                                  "mime_type": shot.mime_type or "image/png",
                                  "width": shot.width, "height": shot.height})

    # -- cookies and logs ------------------------------------------------------------------------

    async def get_cookies(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._running(request, md)
        answer = await self.automation.GetCookies(A.GetCookiesRequest(session_id=session.id),
                                                  metadata=md, timeout=TIMEOUT_S)
        return web.json_response({"cookies": [cookie_json(c) for c in answer.cookies]})

    async def set_cookies(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        cookies = parse_cookies(_field(body, "cookies", list, required=True))
        session = await self._running(request, md)
        answer = await self.automation.SetCookies(A.SetCookiesRequest(session_id=session.id,
                                                                      cookies=cookies),
                                                  metadata=md, timeout=TIMEOUT_S)
        return web.json_response({"success": True, "message": f"{answer.set} cookies set"})

    # -- session files (the node's uploads and downloads folders; ids from FileInfo.id) --------

    async def files_list(self, request: web.Request, md: Any) -> web.StreamResponse:
        q = request.query
        source = q.get("source") or None
        if source is not None and source not in FILE_SOURCES:
            raise bad_request("source", "must be user_upload or session_download")
        limit, offset = _number(q, "limit", 100, 1, 1000), _number(q, "offset", 0, 0, 10**9)
        session = await self._running(request, md)
        kinds = [FILE_SOURCES[source]] if source else [A.UPLOAD, A.DOWNLOAD]
        found: list[A.FileInfo] = []
        for kind in kinds:
            answer = await self.automation.ListFiles(A.ListFilesRequest(
                session_id=session.id, kind=kind), metadata=md, timeout=TIMEOUT_S)
            found += answer.files
        # Oldest first, so offsets page through a stable order while files are added.
        found.sort(key=lambda f: (f.created_at.seconds, f.created_at.nanos, f.id))
        return web.json_response({
            "files": [file_json(f, session) for f in found[offset:offset + limit]],
            "total": len(found), "limit": limit, "offset": offset})

    async def file_upload(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._running(request, md)
        part = await file_part(request)
        name = part.filename

        async def chunks() -> Any:
            yield A.FileChunk(session_id=session.id, kind=A.UPLOAD, name=name)
            while data := await part.read_chunk(1024 * 1024):
                yield A.FileChunk(data=data)

        # The node checks the name (a plain file name, no traversal) and the size limit.
        info = await self.automation.WriteFile(chunks(), metadata=md, timeout=300)
        return web.json_response(file_json(info, session))

    async def file_download(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._running(request, md)
        file_id = _file_id(request)
        kind = A.UPLOAD if file_id.startswith("up-") else A.DOWNLOAD
        listing = await self.automation.ListFiles(A.ListFilesRequest(session_id=session.id,
                                                                     kind=kind),
                                                  metadata=md, timeout=TIMEOUT_S)
        info = next((f for f in listing.files if f.id == file_id), None)
        if info is None:
            raise _no_file(file_id, session.id)
        call: Any = self.automation.ReadFile(A.ReadFileRequest(session_id=session.id, id=file_id),
                                             metadata=md, timeout=300)
        first = await anext(aiter(call), None)  # errors surface here, before any byte is sent
        quoted = urllib.parse.quote(info.name, safe="")
        return await stream_chunks(request, {
            "Content-Type": info.mime_type or "application/octet-stream",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}"}, first, call)

    async def file_delete(self, request: web.Request, md: Any) -> web.StreamResponse:
        session = await self._running(request, md)
        file_id = _file_id(request)
        try:
            await self.automation.DeleteFiles(A.DeleteFilesRequest(session_id=session.id,
                                                                   id=file_id),
                                              metadata=md, timeout=TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            if errors.describe(err).reason == errors.FILE_NOT_FOUND:
                raise _no_file(file_id, session.id) from None
            raise
        return web.Response(status=204)

    async def execute_file(self, request: web.Request, md: Any) -> web.StreamResponse:
        """FileExecutionRequest: an upload_file or download_file action and `target_id`, the
        session file it uploads (a file id, or the plain name of an uploaded file)."""
        body = await json_body(request, allow_empty=False)
        unknown = sorted(set(body) - {"action", "target_id", "record"})
        if unknown:
            raise bad_request(unknown[0], "is not a FileExecutionRequest field")
        if request.query.get("update_metadata", "true").lower() not in ("true", "false"):
            raise bad_request("update_metadata", "must be True or False")
        action = _field(body, "action", dict, required=True)
        target = typed(body, "target_id", str, "")
        if not 1 <= len(target) <= 256:
            raise bad_request("target_id", "must be a session file id (1..256 characters)")
        typed(body, "record", bool, True)
        if action.get("type") not in ("upload_file", "download_file"):
            raise bad_request("action.type", "must be upload_file or download_file")
        if action["type"] == "upload_file":
            name = target
            if target.startswith(("up-", "dl-")):
                session = await self._running(request, md)
                listing = await self.automation.ListFiles(A.ListFilesRequest(
                    session_id=session.id, kind=A.UPLOAD), metadata=md, timeout=TIMEOUT_S)
                info = next((f for f in listing.files if f.id == target), None)
                if info is None:
                    raise ApiError(404, "file_not_found", f"no uploaded file {target!r} in "
                                   f"session {session.id}", field="target_id")
                name = info.name
            action = {**action, "file_path": name}
        return await self._execute(request, md, action)

    # -- replay --------------------------------------------------------------------------------

    async def replay(self, request: web.Request, md: Any) -> web.StreamResponse:
        """The session's video (made when it ends) as the SDK's ReplayResponse: `mp4_url`, a
        signed URL that works without the key until `expires_at`. An active session, or one
        whose video is not put yet, is 404, which the SDK's replay(wait=True) reads as not
        ready (it polls on 404); an active one says so, as Notte does."""
        session = await self._session(request, md)
        if session.state in (S.PENDING, S.RUNNING):
            raise ApiError(404, "replay_not_ready", f"session {session.id} is still active: "
                           "close the session first to generate the replay")
        recording = await recordings.find(self.control, md, session.id)
        if recording is None:
            raise ApiError(404, "replay_not_found", f"no replay for session {session.id}"
                           + ("" if session.options.record_session else ": it was not recorded"))
        url, expires = await recordings.signed_url(request, self.control, md, recording.video)
        return web.json_response({
            "playlist_content": None, "mp4_url": url,
            "expires_at": dt.datetime.fromtimestamp(expires, dt.UTC).isoformat(),
            "mouse_manifest_url": None, "mouse_chunk_urls": None, "mouse_next_offset": None,
            "video_start_ms": 0, "video_duration_ms": recording.duration_ms})

    # -- profiles (the control plane's one profile store: Browserbase contexts, Airtop profiles) --

    async def _profile_json(self, profile: cp.Profile, md: Any) -> dict[str, Any]:
        cookies = await self.control.GetProfileCookies(cp.GetProfileCookiesRequest(
            id=profile.id), metadata=md, timeout=30)
        return profile_json(profile, cookies.cookies)

    async def profile_create(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        unknown = sorted(set(body) - {"name"})
        if unknown:
            raise bad_request(unknown[0], "is not a ProfileCreateRequest field")
        profile = await self.control.CreateProfile(cp.CreateProfileRequest(
            name=_profile_name(body)), metadata=md, timeout=30)
        return web.json_response(profile_json(profile, []))

    async def profile_list(self, request: web.Request, md: Any) -> web.StreamResponse:
        q = request.query
        page, size = _number(q, "page", 1, 1, 100_000), _number(q, "page_size", 10, 1, 100)
        for flag in ("only_active", "only_current_token"):
            if q.get(flag, "true").lower() not in ("true", "false"):
                raise bad_request(flag, "must be True or False")
        name = q.get("name")
        found: list[cp.Profile] = []
        token = ""
        while len(found) < page * size + 1:
            answer = await self.control.ListProfiles(cp.ListProfilesRequest(
                page_size=1000, page_token=token), metadata=md, timeout=30)
            found += [p for p in answer.profiles if name is None or p.name == name]
            token = answer.next_page_token
            if not token:
                break
        start = (page - 1) * size
        items = [await self._profile_json(p, md) for p in found[start:start + size]]
        return web.json_response({"items": items, "page": page, "page_size": size,
                                  "has_next": len(found) > start + size, "has_previous": page > 1})

    async def profile_get(self, request: web.Request, md: Any) -> web.StreamResponse:
        profile = await self.control.GetProfile(cp.GetProfileRequest(id=request.match_info["pid"]),
                                                metadata=md, timeout=30)
        return web.json_response(await self._profile_json(profile, md))

    async def profile_delete(self, request: web.Request, md: Any) -> web.StreamResponse:
        await self.control.DeleteProfile(cp.DeleteProfileRequest(id=request.match_info["pid"]),
                                         metadata=md, timeout=30)
        return web.json_response({"success": True, "message": "Profile deleted successfully"})

    async def profile_duplicate(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request)
        unknown = sorted(set(body) - {"name"})
        if unknown:
            raise bad_request(unknown[0], "is not a ProfileDuplicateRequest field")
        profile = await self.control.DuplicateProfile(cp.DuplicateProfileRequest(
            id=request.match_info["pid"], name=_profile_name(body)), metadata=md, timeout=120)
        return web.json_response(await self._profile_json(profile, md))

    async def profile_cookies_get(self, request: web.Request, md: Any) -> web.StreamResponse:
        answer = await self.control.GetProfileCookies(cp.GetProfileCookiesRequest(
            id=request.match_info["pid"]), metadata=md, timeout=30)
        return web.json_response({"cookies": [cookie_json(c) for c in answer.cookies]})

    async def profile_cookies_set(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        unknown = sorted(set(body) - {"cookies", "source_format", "mode"})
        if unknown:
            raise bad_request(unknown[0], "is not a ProfileCookiesImportRequest field")
        cookies = parse_cookies(_field(body, "cookies", list, required=True))
        if not cookies:
            raise bad_request("cookies", "must hold at least one cookie")
        if typed(body, "source_format", str, "playwright") not in ("playwright", "chrome"):
            raise bad_request("source_format", "must be playwright or chrome")
        mode = _mode(body)
        await self.control.SetProfileCookies(cp.SetProfileCookiesRequest(
            id=request.match_info["pid"], cookies=cookies, replace=mode == "replace"),
            metadata=md, timeout=30)
        return web.json_response({"success": True, "mode": mode, "cookies_count": len(cookies),
                                  "message": f"{len(cookies)} cookies imported; sessions that "
                                  "load the profile start with them"})

    async def profile_state(self, request: web.Request, md: Any) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        unknown = sorted(set(body) - {"cookies", "local_storage", "session_storage", "domains",
                                      "mode", "storage_scope"})
        if unknown:
            raise bad_request(unknown[0], "is not a ProfileStateImportRequest field")
        cookies = parse_cookies(typed(body, "cookies", list, []))
        if len(cookies) > 10_000:
            raise bad_request("cookies", "at most 10000 cookies")
        for key in ("local_storage", "session_storage"):
            if typed(body, key, dict, {}):
                raise bad_request(key, "importing web storage into a stored profile is not "
                                  "available here yet; set it on a page of a session that "
                                  "persists into the profile")
        domains = typed(body, "domains", list, None)
        if domains is not None and (not domains or not all(isinstance(d, str) and d
                                                           for d in domains)):
            raise bad_request("domains", "must be a non-empty list of domains")
        if typed(body, "storage_scope", str, "domains") not in ("domains", "origins"):
            raise bad_request("storage_scope", "must be domains or origins")
        mode = _mode(body)
        pid = request.match_info["pid"]
        replace = mode == "replace"
        if replace and domains:  # only those domains' cookies are replaced
            current = await self.control.GetProfileCookies(cp.GetProfileCookiesRequest(id=pid),
                                                           metadata=md, timeout=30)
            wanted = {d.lstrip(".").lower() for d in domains}
            kept = [c for c in current.cookies if c.domain.lstrip(".").lower() not in wanted]
            cookies = kept + [c for c in cookies if c.domain.lstrip(".").lower() in wanted]
        if cookies or replace:
            await self.control.SetProfileCookies(cp.SetProfileCookiesRequest(
                id=pid, cookies=cookies, replace=replace), metadata=md, timeout=30)
        else:
            await self.control.GetProfile(cp.GetProfileRequest(id=pid), metadata=md, timeout=30)
        count = len(typed(body, "cookies", list, []))
        return web.json_response({"success": True, "cookies_count": count,
                                  "local_storage_origins": 0, "session_storage_origins": 0})

    async def profile_save(self, request: web.Request, md: Any) -> web.StreamResponse:
        """Saves the session's browser state into a profile. The user-data-dir is written when
        the session stops (the browser must close its databases first), so the answer names the
        profile at once and its state lands there at stop."""
        body = await json_body(request)
        unknown = sorted(set(body) - {"profile_id", "name"})
        if unknown:
            raise bad_request(unknown[0], "is not a SessionProfileSaveRequest field")
        profile_id = typed(body, "profile_id", str, None)
        name = typed(body, "name", str, None)
        if profile_id is not None and name is not None:
            raise bad_request("name", "name a new profile or give profile_id, not both")
        if profile_id == "" or name == "":
            raise bad_request("profile_id" if profile_id == "" else "name", "must not be empty")
        session = await self._running(request, md)
        if profile_id is None and name is None:
            if not session.options.profile.profile_id:
                raise bad_request("profile_id", f"session {session.id} started without a "
                                  "profile: give profile_id or a name for a new one")
            profile_id = session.options.profile.profile_id
        if name is not None:
            profile = await self.control.CreateProfile(cp.CreateProfileRequest(
                name=_profile_name(body)), metadata=md, timeout=30)
        else:
            profile = await self.control.GetProfile(cp.GetProfileRequest(id=profile_id),
                                                    metadata=md, timeout=30)
        try:
            await self.control.UpdateSession(cp.UpdateSessionRequest(
                id=session.id, save_profile=S.ProfileRef(profile_id=profile.id, persist=True)),
                metadata=md, timeout=30)
        except grpc.aio.AioRpcError:
            if name is not None:  # made for this save, which did not happen
                await self.control.DeleteProfile(cp.DeleteProfileRequest(id=profile.id),
                                                 metadata=md, timeout=30)
            raise
        return web.json_response(await self._profile_json(profile, md))

    async def network_logs(self, request: web.Request, md: Any) -> web.StreamResponse:
        raw = request.query.get("limit", "100")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1000:
            raise bad_request("limit", "must be 1..1000")
        session = await self._running(request, md)
        answer = await self.automation.GetNetworkLog(A.LogRequest(session_id=session.id,
                                                                  limit=int(raw)),
                                                     metadata=md, timeout=TIMEOUT_S)
        # Notte hands out log files in batches; here the entries come inline.
        entries = [{"url": e.url, "method": e.method, "status": e.status,
                    "resource_type": e.resource_type, "duration_ms": e.duration_ms,
                    "size_bytes": e.size_bytes, "failed": e.failed, "error": e.error_text or None,
                    "started_at": _iso(e.started_at), "mime_type": e.mime_type}
                   for e in answer.entries]
        return web.json_response({"session_id": session.id, "format": "inline_v1", "batches": [],
                                  "total_batch_count": 0, "entries": entries,
                                  "total": answer.total, "request_id": request_id_var.get()})


def _number(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, str(default))
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise bad_request(name, f"must be a whole number {low}..{high}")
    return int(raw)


def file_json(f: A.FileInfo, session: S.Session) -> dict[str, Any]:
    """notte-sdk's SessionFile. A file lives as long as its session: it expires when the
    session reaches its maximum duration at the latest."""
    created = _iso(f.created_at) or _now()
    start = session.created_at.seconds or int(dt.datetime.now(dt.UTC).timestamp())
    expires = dt.datetime.fromtimestamp(start + session.max_duration_seconds, dt.UTC)
    return {"id": f.id, "session_id": session.id, "filename": f.name,
            "mime_type": f.mime_type or "application/octet-stream", "size": f.size_bytes,
            "checksum": f.sha256, "created_at": created, "expires_at": expires.isoformat(),
            "source": SOURCE_OF.get(f.kind, "session_download")}


def _file_id(request: web.Request) -> str:
    file_id = request.match_info["file"]
    if not FILE_ID.match(file_id):
        raise _no_file(file_id[:100], request.match_info["id"])
    return file_id


def _no_file(file_id: str, session_id: str) -> ApiError:
    return ApiError(404, "file_not_found", f"no file {file_id!r} in session {session_id} "
                    "(list them with GET /sessions/{id}/files)", field="file_id")


def profile_json(p: cp.Profile, cookies: Any) -> dict[str, Any]:
    """notte-sdk's ProfileResponse; persisted_domains are the domains of its cookies."""
    created = _iso(p.created_at) or _now()
    domains = sorted({c.domain.lstrip(".") for c in cookies if c.domain})
    return {"profile_id": p.id, "name": p.name or None, "created_at": created,
            "updated_at": _iso(p.updated_at) or created, "persisted_domains": domains}


def _profile_name(body: dict[str, Any]) -> str:
    name = typed(body, "name", str, "")
    if len(name) > 256 or any(ord(c) < 0x20 for c in name):
        raise bad_request("name", "at most 256 characters, no control characters")
    return name


def _mode(body: dict[str, Any]) -> str:
    mode = typed(body, "mode", str, "replace")
    if mode not in ("replace", "append"):
        raise bad_request("mode", "must be replace or append")
    return mode


def cookie_json(c: S.Cookie) -> dict[str, Any]:
    """A cookie as notte-core's Cookie model reads it (camelCase, Chrome-extension style)."""
    item: dict[str, Any] = {"name": c.name, "value": c.value, "domain": c.domain,
                            "path": c.path or "/", "httpOnly": c.http_only, "secure": c.secure,
                            "session": not c.expires, "hostOnly": not c.domain.startswith(".")}
    if c.expires:
        item["expirationDate"] = c.expires
    if c.same_site in ("Lax", "None", "Strict"):
        item["sameSite"] = c.same_site
    return item


def parse_cookies(raw: list[Any], key: str = "cookies") -> list[S.Cookie]:
    """Cookies in notte-core's model (Playwright's `expires` or Chrome's `expirationDate`)."""
    cookies = []
    for i, c in enumerate(raw):
        field = f"{key}[{i}]"
        if not isinstance(c, dict):
            raise bad_request(field, "must be an object")
        name = typed(c, "name", str, None, f"{field}.name")
        value = typed(c, "value", str, None, f"{field}.value")
        if not name or value is None:
            raise bad_request(field, "needs a name and a value")
        same_site = typed(c, "sameSite", str, "", f"{field}.sameSite")
        if same_site and same_site.capitalize() not in ("Lax", "None", "Strict"):
            raise bad_request(f"{field}.sameSite", "must be Lax, None or Strict")
        expires = typed(c, "expirationDate", (int, float), None, f"{field}.expirationDate")
        if expires is None:
            expires = typed(c, "expires", (int, float), 0, f"{field}.expires")
        domain = typed(c, "domain", str, "", f"{field}.domain")
        url = typed(c, "url", str, "", f"{field}.url")
        if not domain and not url:
            raise bad_request(f"{field}.domain", "a cookie needs a domain (or a url)")
        cookies.append(S.Cookie(
            name=name, value=value, domain=domain, url=url,
            path=typed(c, "path", str, "" if url else "/", f"{field}.path"),
            expires=max(0.0, float(expires)),
            http_only=typed(c, "httpOnly", bool, False, f"{field}.httpOnly"),
            secure=typed(c, "secure", bool, False, f"{field}.secure"),
            same_site=same_site.capitalize()))
    return cookies


def _scrape_options(body: dict[str, Any], known: set[str] = SCRAPE_FIELDS) -> dict[str, Any]:
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_request(unknown[0], "is not a scrape field")
    for tag in typed(body, "ignored_tags", list, []):
        if not isinstance(tag, str):
            raise bad_request("ignored_tags", "must be a list of tag names")
    typed(body, "use_link_placeholders", bool, False)
    typed(body, "model", str, None)
    if typed(body, "only_images", bool, False):
        raise bad_request("only_images", "image-only scrapes are not available; use scrape_images")
    response_format = typed(body, "response_format", dict, None)
    return {"selector": typed(body, "selector", str, ""),
            "scrape_links": typed(body, "scrape_links", bool, False),
            "scrape_images": typed(body, "scrape_images", bool, False),
            "only_main_content": typed(body, "only_main_content", bool, True),
            "instructions": typed(body, "instructions", str, ""),
            "response_format": response_format}


async def _new_name(request: web.Request, model: str) -> str:
    """The name of a rename body ({"name"} and nothing else), as Notte's update models take it."""
    body = await json_body(request, allow_empty=False)
    unknown = sorted(set(body) - {"name"})
    if unknown:
        raise bad_request(unknown[0], f"is not a {model} field")
    name = typed(body, "name", str, "")
    if not name:
        raise bad_request("name", "is required")
    return name
