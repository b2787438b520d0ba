"""A plain HTTP fetch (Browserbase's /v1/fetch): no browser, the server's own HTTP client.

It obeys the egress policy like a page does: each hop's host is resolved and checked, the
connection goes to the checked address only, and a refused one is 403 `egress_denied`."""

from __future__ import annotations

import base64
import dataclasses
import ssl
import urllib.parse

import aiohttp

from browserplane.egress import EgressDenied, EgressPolicy, TooManyRedirects, guarded_get, guarded_session
from gateway.http_api import ApiError, bad_request

MAX_BODY_BYTES = 10 * 1024 * 1024
TIMEOUT_S = 30.0


@dataclasses.dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    content_type: str
    encoding: str  # "utf-8" (or the charset declared) for text, "base64" for anything else
    content: str


async def fetch(url: str, *, follow_redirects: bool, verify_tls: bool, policy: EgressPolicy) -> Fetched:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("url", "must be an absolute http(s) URL")
    context: ssl.SSLContext | bool = True if verify_tls else False
    try:
        async with guarded_session(policy, TIMEOUT_S) as client:
            response = await guarded_get(client, policy, url, follow_redirects=follow_redirects,
                                         ssl=context)
            async with response:
                body = await response.content.read(MAX_BODY_BYTES + 1)
                if len(body) > MAX_BODY_BYTES:
                    raise ApiError(413, "response_too_large",
                                   f"the response is larger than {MAX_BODY_BYTES >> 20} MiB")
                content_type = response.headers.get("Content-Type", "application/octet-stream")
                headers = {k: v for k, v in response.headers.items()}
                charset = response.charset
    except EgressDenied as err:
        raise ApiError(403, "egress_denied", str(err)) from None
    except TooManyRedirects:
        raise ApiError(502, "too_many_redirects", f"{url} redirected more than 10 times") from None
    except aiohttp.ClientSSLError as err:
        raise ApiError(502, "tls_error", f"TLS failed for {url}: {err}; "
                       "allowInsecureSsl skips verification") from None
    except (aiohttp.ClientError, OSError, ValueError) as err:
        raise ApiError(502, "fetch_failed", f"could not fetch {url}: {err}") from None
    except TimeoutError:
        raise ApiError(504, "fetch_timeout", f"{url} did not answer within {TIMEOUT_S:g}s") from None
    textual = content_type.startswith("text/") or any(
        t in content_type for t in ("json", "xml", "javascript", "html"))
    if textual:
        encoding = charset or "utf-8"
        try:
            return Fetched(response.status, headers, content_type, encoding, body.decode(encoding))
        except (LookupError, UnicodeDecodeError):
            pass
    return Fetched(response.status, headers, content_type, "base64", base64.b64encode(body).decode())
