"""Bad input, sent as a careless or hostile client would, through the real gateway and gRPC.

Every answer is a 4xx in the dialect's own error shape (or INVALID_ARGUMENT over gRPC), never a
plain-text 500, a dropped connection or a gRPC UNKNOWN/INTERNAL; and every component still
answers afterwards. These are the inputs an audit found failing (deep JSON, numbers a field
cannot hold, NaN from execute_js, NUL bytes in multipart names, long upload names, proxy URLs
with CRLF, garbage bytes on gRPC, a 400-digit page_token) and others of the same kind.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import subprocess
import sys
import urllib.parse

import grpc
import pytest
from browserbeam import Browserbeam
from browserbeam.errors import QuotaExceededError

from browserplane import errors
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from gateway.dialects import browserbeam as beam_dialect
from gateway.http_api import ApiError
from tests.cluster import ROOT, Cluster

PAGE = "data:text/html,<title>bad input</title><button id=b>Go</button><input type=file id=f>"


# ---- plumbing -----------------------------------------------------------------------------------

def send(base: str, method: str, path: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One raw request (http.client sends bytes as given: NUL, latin-1, huge headers)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def strict_json(data: bytes) -> object:
    """JSON as RFC 8259 has it: NaN and Infinity literals fail."""
    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")
    return json.loads(data, parse_constant=refuse)


def browserbase_error(answer: tuple[int, dict[str, str], bytes], status: int | None = None) -> dict:
    code, headers, data = answer
    assert 400 <= code < 500, (code, data[:300])
    assert status is None or code == status, (code, data[:300])
    assert headers.get("content-type", "").startswith("application/json"), data[:300]
    body = strict_json(data)
    assert body["statusCode"] == code and body["message"] and body["code"], body
    return body


def browserbeam_error(answer: tuple[int, dict[str, str], bytes], status: int | None = None) -> dict:
    code, headers, data = answer
    assert 400 <= code < 500, (code, data[:300])
    assert status is None or code == status, (code, data[:300])
    assert headers.get("content-type", "").startswith("application/json"), data[:300]
    body = strict_json(data)
    assert body["error"]["code"] and body["error"]["message"], body
    return body["error"]


def multipart(disposition: bytes, data: bytes = b"hello") -> tuple[bytes, dict[str, str]]:
    body = (b"--XBOUNDARYX\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + data
            + b"\r\n--XBOUNDARYX--\r\n")
    return body, {"Content-Type": "multipart/form-data; boundary=XBOUNDARYX"}


def rpc(channel: grpc.Channel, service: str, method: str, payload: bytes, md: tuple,
        streaming: tuple[bool, bool] = (False, False)) -> grpc.RpcError | None:
    """Calls a method with raw bytes as its request; answers the error, if any."""
    path = f"/browserplane.v1.{service}/{method}"
    raw = {"request_serializer": None, "response_deserializer": None}
    try:
        if streaming[0]:
            channel.stream_unary(path, **raw)(iter([payload]), metadata=md, timeout=30)
        elif streaming[1]:
            list(channel.unary_stream(path, **raw)(payload, metadata=md, timeout=30))
        else:
            channel.unary_unary(path, **raw)(payload, metadata=md, timeout=30)
    except grpc.RpcError as err:
        return err
    return None


def invalid_argument(call: object, *args: object, field: str | None = None, **kwargs: object) -> str:
    """Runs a stub call that must fail with INVALID_ARGUMENT; answers the field it names."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    described = errors.describe(info.value)
    if field is not None:
        assert described.metadata.get("field", "").startswith(field), described
    return described.metadata.get("field", "")


# ---- fixtures: one project, one session every dialect and gRPC use --------------------------------

@pytest.fixture(scope="module")
def keys(cluster: Cluster) -> dict[str, str]:
    # A key each, so that no group of cases comes near the gateway's per-key rate limit.
    return {name: cluster.create_key("bad-input") for name in ("bb", "beam", "grpc", "limit")}


@pytest.fixture(scope="module")
def user_md(keys: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {keys['grpc']}"),)


@pytest.fixture(scope="module")
def automation(cluster: Cluster) -> automation_pb2_grpc.AutomationStub:
    return automation_pb2_grpc.AutomationStub(cluster.channel)


@pytest.fixture(scope="module")
def session_id(cluster: Cluster, user_md: tuple, automation: automation_pb2_grpc.AutomationStub):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(
        options=S.SessionOptions(keep_alive=True)), metadata=user_md, timeout=60)
    automation.Navigate(A.NavigateRequest(session_id=s.id, url=PAGE), metadata=user_md, timeout=30)
    yield s.id
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=user_md, timeout=30)


@pytest.fixture(scope="module")
def bb(keys: dict[str, str]) -> dict[str, str]:
    return {"X-BB-API-Key": keys["bb"], "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def beam(keys: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys['beam']}", "Content-Type": "application/json"}


# ---- JSON bodies: both dialects, through the shared parser ------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
BAD_BODIES = [
    ("nested 100000 deep", '{"a": ' * 100_000 + "1" + "}" * 100_000),
    ("arrays 100000 deep", DEEP),
    ("nested 65 deep (parses, too deep)", '{"userMetadata": ' + '{"a": ' * 64 + "1" + "}" * 65),
    ("NaN literal", '{"timeout": NaN}'),
    ("Infinity literal", '{"userMetadata": {"a": Infinity}}'),
    ("-Infinity literal", '{"userMetadata": {"a": [-Infinity]}}'),
    ("number beyond a double", '{"userMetadata": {"a": 1e400}}'),
    ("400-digit integer", '{"userMetadata": {"a": ' + "9" * 400 + "}}"),
    ("5000-digit integer", '{"timeout": ' + "1" * 5000 + "}"),
    ("lone surrogate", '{"user_agent": "\\ud800"}'),
    ("lone surrogate key", '{"userMetadata": {"\\udfff": 1}}'),
    ("not UTF-8", b'{"a": "\xff\xfe"}'),
    ("a list", "[1, 2]"),
    ("a string", '"hello"'),
    ("truncated", '{"a": '),
]


@pytest.mark.parametrize("label,body", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_json_is_a_400_in_both_dialects(gateway_url, bb, beam, session_id, label, body):
    for path in ("/browserbase/v1/sessions", "/browserbase/v1/contexts", "/v1/fetch"):
        error = browserbase_error(send(gateway_url, "POST", path, body, bb), 400)
        assert error["code"] in ("invalid_json", "invalid_request")
    for path in ("/browserbeam/v1/sessions", f"/browserbeam/v1/sessions/{session_id}/act"):
        error = browserbeam_error(send(gateway_url, "POST", path, body, beam), 400)
        assert error["code"] == "invalid_request"


def test_a_body_over_the_limit_is_a_413(gateway_url, bb, beam):
    huge = b'{"userMetadata": {"a": "' + b"x" * (17 * 1024 * 1024) + b'"}}'
    browserbase_error(send(gateway_url, "POST", "/browserbase/v1/sessions", huge, bb), 413)
    browserbeam_error(send(gateway_url, "POST", "/browserbeam/v1/sessions", huge, beam), 413)


# ---- Browserbase: numbers, proxies, multipart, fetch ----------------------------------------------

BROWSERBASE_CREATES = [
    ("viewport width 2**40", {"browserSettings": {"viewport": {"width": 2**40, "height": 600}}},
     "browserSettings.viewport.width"),
    ("viewport width -5", {"browserSettings": {"viewport": {"width": -5, "height": 600}}},
     "browserSettings.viewport.width"),
    ("viewport height 2**32", {"browserSettings": {"viewport": {"width": 800, "height": 2**32}}},
     "browserSettings.viewport.height"),
    ("viewport height -1", {"browserSettings": {"viewport": {"width": 800, "height": -1}}},
     "browserSettings.viewport.height"),
    ("viewport as a list", {"browserSettings": {"viewport": [800, 600]}}, "browserSettings.viewport"),
    ("timeout 2**64", {"timeout": 2**64}, "timeout"),
    ("proxy with CRLF", {"proxies": [{"type": "external", "server": "http://a\r\nb:8080"}]},
     "options.proxies[0].server"),
    ("proxy with LF and a flag", {"proxies": [{"type": "external",
                                               "server": "http://h:8080\n--no-sandbox"}]},
     "options.proxies[0].server"),
    ("proxy with an open IPv6 bracket", {"proxies": [{"type": "external", "server": "http://[::1"}]},
     "options.proxies[0].server"),
    ("proxy port 99999", {"proxies": [{"type": "external", "server": "http://h:99999"}]},
     "options.proxies[0].server"),
    ("proxy 200k long", {"proxies": [{"type": "external", "server": "http://" + "a" * 200_000}]},
     "options.proxies[0].server"),
    ("proxy user with CRLF", {"proxies": [{"type": "external", "server": "http://h:8080",
                                           "username": "u\r\nX-Evil: 1", "password": "p"}]},
     "options.proxies[0].username"),
    ("allowedDomains with a newline", {"browserSettings": {"allowedDomains": ["example.com\n"]}},
     "options.allowed_domains[0]"),
]


@pytest.mark.parametrize("label,body,field", BROWSERBASE_CREATES, ids=[c[0] for c in BROWSERBASE_CREATES])
def test_browserbase_create_refuses_what_a_field_cannot_hold(gateway_url, bb, label, body, field):
    error = browserbase_error(send(gateway_url, "POST", "/browserbase/v1/sessions",
                                   json.dumps(body), bb), 400)
    assert error.get("field") == field, error


MULTIPART_HEADS = [
    ("NUL in the file name", b'form-data; name="file"; filename="a\x00b.txt"'),
    ("NUL in the part name", b'form-data; name="fi\x00le"; filename="a.txt"'),
    ("garbage disposition", b"\x00\xff"),
    ("latin-1 file name", b'form-data; name="file"; filename="\xff\xfe.txt"'),
    ("no file name", b'form-data; name="file"'),
]
UPLOAD_NAMES = [
    ("250-character name", b'form-data; name="file"; filename="' + b"a" * 250 + b'"'),
    ("200 two-byte characters", ('form-data; name="file"; filename="' + "é" * 200 + '"').encode()),
    ("a path", b'form-data; name="file"; filename="../../etc/passwd"'),
    ("dot dot", b'form-data; name="file"; filename=".."'),
]


@pytest.mark.parametrize("label,disposition", MULTIPART_HEADS, ids=[u[0] for u in MULTIPART_HEADS])
def test_browserbase_multipart_with_bad_part_heads_is_400(gateway_url, bb, session_id, label,
                                                         disposition):
    body, headers = multipart(disposition)
    for path in (f"/browserbase/v1/sessions/{session_id}/uploads", "/browserbase/v1/extensions"):
        browserbase_error(send(gateway_url, "POST", path, body,
                               {"X-BB-API-Key": bb["X-BB-API-Key"], **headers}), 400)


@pytest.mark.parametrize("label,disposition", UPLOAD_NAMES, ids=[u[0] for u in UPLOAD_NAMES])
def test_browserbase_upload_names_the_node_cannot_store_are_400(gateway_url, bb, session_id, label,
                                                                disposition):
    body, headers = multipart(disposition)
    error = browserbase_error(send(gateway_url, "POST", f"/browserbase/v1/sessions/{session_id}/uploads",
                                   body, {"X-BB-API-Key": bb["X-BB-API-Key"], **headers}), 400)
    assert error["field"] == "name"


def test_browserbase_malformed_multipart_is_400(gateway_url, bb, session_id):
    key = {"X-BB-API-Key": bb["X-BB-API-Key"]}
    path = f"/browserbase/v1/sessions/{session_id}/uploads"
    for body, content_type in [
            (b"\x00\xff" * 50, "multipart/form-data; boundary=XBOUNDARYX"),
            (b"--OTHER\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nhi\r\n"
             b"--OTHER--\r\n", "multipart/form-data; boundary=XBOUNDARYX"),
            (b"{}", "application/json"),
            (b"", "multipart/form-data")]:
        browserbase_error(send(gateway_url, "POST", path, body, {**key, "Content-Type": content_type}), 400)


@pytest.mark.parametrize("url", ["http://[::1", "http://" + "a" * 300 + "/", "http://h:99999/",
                                 "http://a\r\nb/", "file:///etc/passwd", "http://\u202e/"])
def test_browserbase_fetch_refuses_urls_no_client_can_open(gateway_url, bb, url):
    error = browserbase_error(send(gateway_url, "POST", "/browserbase/v1/fetch",
                                   json.dumps({"url": url}), bb), 400)
    assert error["field"] == "url"


def test_browserbase_list_with_a_400_digit_cursor_and_bad_queries(gateway_url, bb, beam):
    for query in ("status=" + "9" * 400, "q=" + "1" * 400, "q=%00", "status=%ff"):
        browserbase_error(send(gateway_url, "GET", f"/browserbase/v1/sessions?{query}", None, bb), 400)
    error = browserbeam_error(send(gateway_url, "GET", "/browserbeam/v1/sessions?after=" + "1" * 400,
                                   None, beam), 400)
    assert error["context"]["field"] == "after"
    browserbeam_error(send(gateway_url, "GET", "/browserbeam/v1/sessions?limit=" + "1" * 400, None, beam),
                      400)


# ---- headers and HTTP that aiohttp refuses before any route -----------------------------------------

def test_bad_headers_answer_json_in_a_shape_the_sdks_read(gateway_url, bb, beam):
    for headers in ({"X-BB-API-Key": "\xff\xfe"}, {"Authorization": "Bearer \xff"}):
        code, _, data = send(gateway_url, "GET", "/v1/sessions", None, headers)
        assert code == 401 and strict_json(data), data
    browserbase_error(send(gateway_url, "GET", "/browserbase/v1/sessions", None,
                           {"X-BB-API-Key": "\xff\xfe"}), 401)
    browserbeam_error(send(gateway_url, "GET", "/browserbeam/v1/sessions", None,
                           {"Authorization": "Bearer \xff"}), 401)
    error = browserbase_error(send(gateway_url, "POST", "/browserbase/v1/sessions", "{}",
                                   {**bb, "X-Forwarded-Host": "\xff\xfe"}), 400)
    assert error["field"] == "X-Forwarded-Host"
    error = browserbeam_error(send(gateway_url, "POST", "/browserbeam/v1/sessions", "{}",
                                   {**beam, "Idempotency-Key": "é"}), 400)
    assert error["context"]["field"] == "Idempotency-Key"
    # What aiohttp itself refuses (a header over 8 KiB, a NUL in a header, a path over 8 KiB)
    # is JSON too, readable by both SDKs.
    for path, headers in [("/v1/sessions", {"X-BB-API-Key": "k" * 20_000}),
                          ("/v1/sessions", {**bb, "Idempotency-Key": "\x00"}),
                          ("/browserbase/v1/sessions/" + "x" * 10_000, bb)]:
        code, headers_out, data = send(gateway_url, "GET", path, None, headers)
        body = strict_json(data)
        assert code == 400 and headers_out["content-type"].startswith("application/json")
        assert body["statusCode"] == 400 and body["error"]["code"] == "bad_request", body
    code, _, data = send(gateway_url, "GET", "/no/such/route", None, bb)
    assert code == 404 and strict_json(data)["error"]["code"] == "not_found"


# ---- Browserbeam: create options and steps -----------------------------------------------------------

BROWSERBEAM_CREATES = [
    ("viewport 2**40", {"viewport": {"width": 2**40}}, "viewport.width"),
    ("viewport -5", {"viewport": {"height": -5}}, "viewport.height"),
    ("timeout 2**64", {"timeout": 2**64}, "timeout"),
    ("block_resources of lists", {"block_resources": [[1]]}, "block_resources[0]"),
    ("block_resources of objects", {"block_resources": [{"a": 1}]}, "block_resources[0]"),
    ("proxy port 99999", {"proxy": "http://h:99999"}, "proxy"),
    ("proxy port -1", {"proxy": "http://h:-1"}, "proxy"),
    ("proxy with an open IPv6 bracket", {"proxy": "http://[::1"}, "proxy"),
    ("proxy with CRLF", {"proxy": "socks5://h:1080\r\nX"}, "proxy"),
    ("proxy with LF and a flag", {"proxy": "http://h:8080\n--no-sandbox"}, "proxy"),
    ("proxy user with CRLF", {"proxy": "http://u%0d%0aX:p@h:8080"}, "options.proxies[0].username"),
    ("cookie with NUL", {"cookies": [{"name": "a", "value": "b\u0000c", "url": "http://x/"}]},
     "options.cookies[0].value"),
    ("cookie name with '='", {"cookies": [{"name": "a=b", "value": "v", "url": "http://x/"}]},
     "options.cookies[0].name"),
    ("cookie domain '..'", {"cookies": [{"name": "a", "value": "v", "domain": ".."}]},
     "options.cookies[0].domain"),
    ("cookie with a relative path", {"cookies": [{"name": "a", "value": "v", "domain": "x.test",
                                                  "path": "nope"}]}, "options.cookies[0].path"),
    ("url with an open IPv6 bracket", {"url": "http://[::1"}, "url"),
    ("user agent with a newline", {"user_agent": "ua\nX: 1"}, "options.user_agent"),
    ("locale with a trailing newline", {"locale": "en-US\n"}, "options.locale"),
]


@pytest.mark.parametrize("label,body,field", BROWSERBEAM_CREATES, ids=[c[0] for c in BROWSERBEAM_CREATES])
def test_browserbeam_create_refuses_what_a_field_cannot_hold(gateway_url, beam, label, body, field):
    error = browserbeam_error(send(gateway_url, "POST", "/browserbeam/v1/sessions",
                                   json.dumps(body), beam), 400)
    assert error["code"] == "invalid_request" and error["context"]["field"] == field, error


BAD_STEPS = [
    [{"goto": {"url": "http://[::1"}}],
    [{"goto": {"url": "about:blank", "wait_timeout": 2**64}}],
    [{"click": {"selector": "#b", "click_count": -5}}],
    [{"scroll": {"amount": 2**40}}],
    [{"observe": {"max_elements": -1}}],
    [{"execute_js": {"code": "1", "timeout": 2**40}}],
    [{"pdf": {"scale": 1e308}}],
    [{"upload": {"selector": "#f", "files": [["nested"]]}}],
    [{"fill": {"selector": "#b", "value": {"an": "object"}}}],
]


@pytest.mark.parametrize("steps", BAD_STEPS, ids=[next(iter(s[0])) + "-" + json.dumps(s)[-30:]
                                                   for s in BAD_STEPS])
def test_browserbeam_bad_steps_are_400_and_nothing_runs(gateway_url, beam, session_id, steps):
    error = browserbeam_error(send(gateway_url, "POST", f"/browserbeam/v1/sessions/{session_id}/act",
                                   json.dumps({"steps": steps}), beam), 400)
    assert error["code"] == "invalid_request" and error["context"]["step"] == 0, error


JS_RESULTS = [
    ("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("1/0", "Infinity"),
    ("[NaN, Infinity, 1]", ["NaN", "Infinity", 1]),
    ("({a: -Infinity, b: {c: NaN}})", {"a": "-Infinity", "b": {"c": "NaN"}}),
    ("10n ** 40n + 1n", "10000000000000000000000000000000000000001"),
    ("new Date(Date.UTC(2020, 0, 2))", "2020-01-02T00:00:00.000Z"),  # as JSON.stringify has it
    ("(() => { const o = {}; o.self = o; return o })()", {"self": "[Circular]"}),
    ("'a\\ud800b'", "a\ufffdb"),
    ("/re/", "/re/"),
    ("new Error('boom')", None),  # a string; its exact text is Playwright's
]


def test_execute_js_results_are_json_the_sdk_parses(gateway_url, keys, session_id):
    client = Browserbeam(api_key=keys["beam"], base_url=gateway_url, timeout=120)
    try:
        steps = [{"execute_js": {"code": code, "result_key": f"r{i}"}}
                 for i, (code, _) in enumerate(JS_RESULTS)]
        raw = send(gateway_url, "POST", f"/browserbeam/v1/sessions/{session_id}/act",
                   json.dumps({"steps": steps}), {"Authorization": f"Bearer {keys['beam']}",
                                                  "Content-Type": "application/json"})
        assert raw[0] == 200, raw
        envelope = strict_json(raw[2])
        assert envelope["error"] is None and envelope["completed"] == len(JS_RESULTS), envelope["error"]
        for i, (code, expected) in enumerate(JS_RESULTS):
            got = envelope["extraction"][f"r{i}"]
            if expected is None:
                assert isinstance(got, str) and "boom" in got, (code, got)
            else:
                assert got == expected, (code, got)
        # The SDK's own call parses the same answer.
        session = client.sessions.create(url="about:blank")
        try:
            answer = session.execute_js("[NaN, -Infinity]")
            assert answer.extraction == {"result": ["NaN", "-Infinity"]}
        finally:
            client.sessions.destroy(session.session_id)
    finally:
        client.close()


# ---- 429s in Browserbeam ---------------------------------------------------------------------------

def test_browserbeam_429s_are_rate_limited_or_quota_exceeded(gateway_url, cluster, keys):
    # No room (queue full or timed out, a concurrency limit, any RESOURCE_EXHAUSTED): quota_exceeded.
    for reason in ("queue_full", "queue_timeout", "project_concurrency_limit", "resource_exhausted",
                   "some_future_limit"):
        body = beam_dialect.error_body(ApiError(429, reason, "no room"), "req_x")
        assert body["error"]["code"] == "quota_exceeded", (reason, body)
    assert beam_dialect.error_body(ApiError(429, "rate_limited", "slow down"), "req_x")["error"][
        "code"] == "rate_limited"
    # Through the real gateway: a project allowed one session asks for a second.
    key = cluster.create_key("bad-input-limited")
    subprocess.run([sys.executable, "-m", "browserplane_cli.main", "projects", "limit",
                    "--project", "bad-input-limited", "--max-concurrent", "1",
                    "--data-dir", str(cluster.tmp / "cp")], cwd=ROOT, check=True, capture_output=True)
    client = Browserbeam(api_key=key, base_url=gateway_url, timeout=120)
    first = client.sessions.create()
    try:
        with pytest.raises(QuotaExceededError) as info:
            client.sessions.create()
        assert info.value.code == "quota_exceeded" and info.value.retry_after >= 1
    finally:
        client.sessions.destroy(first.session_id)
        client.close()
    # This gateway's own per-key limit: rate_limited (cheap requests: bad JSON, nothing behind).
    headers = {"Authorization": f"Bearer {keys['limit']}", "Content-Type": "application/json"}
    # 600 a minute refill at 10 a second: a slow machine needs more than 600 to get there.
    for _ in range(5000):
        code, out, data = send(gateway_url, "POST", "/browserbeam/v1/sessions/x/act", "{", headers)
        if code == 429:
            break
    error = browserbeam_error((code, out, data), 429)
    assert error["code"] == "rate_limited" and int(out["retry-after"]) >= 1


# ---- gRPC ----------------------------------------------------------------------------------------

SERVICES = [("ControlPlane", cp.DESCRIPTOR.services_by_name["ControlPlane"]),
            ("Automation", A.DESCRIPTOR.services_by_name["Automation"])]
# Bytes no message decodes from: a field number beyond 2**29, a length past the end, wire
# type 7, a varint of eleven bytes.
GARBAGE = [b"\xff\xff\xff\xff\x0f", b"\x0a\x05ab", b"\x0f", b"\x08" + b"\xff" * 11]


def test_garbage_bytes_on_every_grpc_method_are_invalid_argument(cluster, user_md):
    for service, descriptor in SERVICES:
        for method in descriptor.methods:
            if method.name == "WatchSessions":
                continue  # a valid request streams for ever; covered below with a bad one
            for md in (user_md, cluster.admin):
                for payload in GARBAGE:
                    err = rpc(cluster.channel, service, method.name, payload, md,
                              (method.client_streaming, method.server_streaming))
                    assert err is not None and err.code() in (
                        grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED), \
                        (service, method.name, payload, err and err.code(), err and err.details())
                    # A stream may refuse the caller before it reads a message; others read first.
                    if not method.client_streaming:
                        assert errors.describe(err).metadata.get("field") == "request", \
                            (service, method.name, err.details())
    err = rpc(cluster.channel, "ControlPlane", "WatchSessions", GARBAGE[0], user_md, (False, True))
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Bytes that are not HTTP/2 at all; the server drops them and goes on.
    host, port = cluster.address.rsplit(":", 1)
    for junk in (b"\x00" * 64, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 8):
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(junk)
            conn.settimeout(2)
            try:
                conn.recv(100)
            except OSError:
                pass
    assert cluster.node_up("n1")


def test_create_and_update_session_validate_the_same_options(cluster, user_md, session_id):
    create = cluster.stub.CreateSession

    def options(**fields: object) -> cp.CreateSessionRequest:
        return cp.CreateSessionRequest(options=S.SessionOptions(**fields))

    cases = [
        (options(proxies=[S.ProxyRule(server="http://a\r\nb:8080")]), "options.proxies[0].server"),
        (options(proxies=[S.ProxyRule(server="http://[::1")]), "options.proxies[0].server"),
        (options(proxies=[S.ProxyRule(server="http://h:8080", password="p\r\n")]),
         "options.proxies[0].password"),
        (options(viewport=S.Viewport(width=2**32 - 1, height=600)), "options.viewport.width"),
        (options(viewport=S.Viewport(width=800, height=600, device_scale_factor=math.nan)),
         "options.viewport.device_scale_factor"),
        (options(cookies=[S.Cookie(name="a", value="b", url="http://x/", expires=math.nan)]),
         "options.cookies[0].expires"),
        (options(cookies=[S.Cookie(name="a", value="b", url="http://[::1")]), "options.cookies[0].url"),
        (options(extra_http_headers=["X-A: b\x00c"]), "options.extra_http_headers[0]"),
        (options(labels={"bad key!": "v"}), "options.labels"),
        (options(labels={f"k{i}": "v" for i in range(65)}), "options.labels"),
    ]
    metadata = S.SessionOptions()
    metadata.user_metadata.update({"a": math.inf})
    cases.append((cp.CreateSessionRequest(options=metadata), "options.user_metadata"))
    for request, field in cases:
        invalid_argument(create, request, metadata=user_md, timeout=30, field=field)
    update = cluster.stub.UpdateSession
    invalid_argument(update, cp.UpdateSessionRequest(id=session_id, labels={"bad key!": "v"}),
                     metadata=user_md, timeout=10, field="labels")
    invalid_argument(update, cp.UpdateSessionRequest(id=session_id, labels={"k": "v" * 257}),
                     metadata=user_md, timeout=10, field="labels")
    invalid_argument(update, cp.UpdateSessionRequest(
        id=session_id, labels={f"k{i}": "v" for i in range(65)}), metadata=user_md, timeout=10,
        field="labels")
    # A good update still goes through, and the session kept its labels.
    updated = update(cp.UpdateSessionRequest(id=session_id, labels={"ok": "yes"}), metadata=user_md,
                     timeout=10)
    assert updated.options.labels["ok"] == "yes" and "bad key!" not in updated.options.labels


def test_page_tokens_that_were_never_issued_are_invalid_argument(cluster, user_md):
    for token in ("1" * 400, "1" * 400 + "/x", "nan/x", "inf/x", "1e400/x", "-5/x", "x" * 5000, "\x00"):
        invalid_argument(cluster.stub.ListSessions, cp.ListSessionsRequest(page_token=token),
                         metadata=user_md, timeout=10, field="page_token")
    for token in ("1" * 400, "-5", "x", "1e3"):
        invalid_argument(cluster.stub.ListProfiles, cp.ListProfilesRequest(page_token=token),
                         metadata=user_md, timeout=10, field="page_token")


def test_evaluate_answers_json_for_what_json_cannot_say(automation, user_md, session_id):
    def evaluate(expression: str) -> object:
        answer = automation.Evaluate(A.EvaluateRequest(session_id=session_id, expression=expression),
                                     metadata=user_md, timeout=30)
        assert not answer.error, answer.error
        value = answer.result
        return {"number_value": value.number_value, "string_value": value.string_value,
                "null_value": None}.get(value.WhichOneof("kind"), value)

    assert evaluate("NaN") == "NaN"
    assert evaluate("-1/0") == "-Infinity"
    assert evaluate("2 ** 64") == 2.0**64  # a number stays a number
    assert evaluate("2n ** 64n") == "18446744073709551616"  # a BigInt beyond 2**53: its digits
    assert evaluate("2n ** 53n") == 2.0**53
    assert evaluate("'\\ud800'") == "\ufffd"
    assert evaluate("1 + 1") == 2


def test_set_cookies_refuses_what_chromium_refuses(automation, user_md, session_id):
    for cookie, field in [(S.Cookie(name="a=b", value="v", url="http://x.test/"), "cookies[0].name"),
                          (S.Cookie(name="a", value="v\r\n", url="http://x.test/"), "cookies[0].value"),
                          (S.Cookie(name="a", value="v", url="http://[::1"), "cookies[0].url"),
                          (S.Cookie(name="a", value="v", domain="x", expires=math.inf),
                           "cookies[0].expires")]:
        invalid_argument(automation.SetCookies, A.SetCookiesRequest(session_id=session_id, cookies=[cookie]),
                         metadata=user_md, timeout=30, field=field)


def test_write_file_names_the_file_system_cannot_hold(automation, user_md, session_id):
    for name in ("a" * 250, "é" * 150, "a\x00b", "../x", ".."):
        chunks = iter([A.FileChunk(session_id=session_id, kind=A.UPLOAD, name=name, data=b"x")])
        invalid_argument(automation.WriteFile, chunks, metadata=user_md, timeout=30, field="name")


def test_delete_file_names_are_plain_names_and_page_sizes_have_bounds(automation, user_md, session_id):
    for name in ("../x", "..", "a/b", "a\x00b", "a" * 250):
        invalid_argument(automation.DeleteFiles, A.DeleteFilesRequest(
            session_id=session_id, kind=A.UPLOAD, name=name), metadata=user_md, timeout=30,
            field="name")
    invalid_argument(automation.DeleteFiles, A.DeleteFilesRequest(session_id=session_id, name="x"),
                     metadata=user_md, timeout=30, field="kind")
    with pytest.raises(grpc.RpcError) as info:
        automation.DeleteFiles(A.DeleteFilesRequest(session_id=session_id, kind=A.UPLOAD,
                                                    name="never-uploaded.txt"),
                               metadata=user_md, timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert errors.describe(info.value).reason == errors.FILE_NOT_FOUND
    for viewport, field in ((S.Viewport(width=99, height=600), "viewport.width"),
                            (S.Viewport(width=800, height=4321), "viewport.height"),
                            (S.Viewport(width=800, height=600, mobile=True), "viewport.mobile")):
        invalid_argument(automation.OpenPage, A.OpenPageRequest(session_id=session_id,
                                                                viewport=viewport),
                         metadata=user_md, timeout=30, field=field)


# ---- and everything still answers -------------------------------------------------------------------

def test_every_component_still_answers(gateway_url, cluster, automation, user_md, session_id, keys):
    code, _, data = send(gateway_url, "GET", "/healthz")
    assert code == 200 and json.loads(data)["nodesUp"] >= 1
    assert cluster.node_up("n1")
    assert automation.Evaluate(A.EvaluateRequest(session_id=session_id, expression="document.title"),
                               metadata=user_md, timeout=30).result.string_value == "bad input"
    code, _, data = send(gateway_url, "GET", f"/browserbase/v1/sessions/{session_id}", None,
                         {"X-BB-API-Key": keys["bb"]})
    assert code == 200 and json.loads(data)["status"] == "RUNNING"
    assert not [p.name for p in (cluster.controlplane, cluster.gateway, *cluster.nodes.values())
                if p and p.proc and p.proc.poll() is not None]


@pytest.mark.parametrize("action", [
    A.Action(click=A.Click(target=A.ElementTarget(selector="body"), click_count=4294967295)),
    A.Action(scroll=A.Scroll(times=4294967295)),
    A.Action(type=A.TypeText(target=A.ElementTarget(selector="body"), text="x", delay_ms=4294967295)),
    A.Action(fill=A.Fill(target=A.ElementTarget(selector="body"), value="x" * 100_001)),
], ids=["click_count", "scroll_times", "type_delay", "fill_length"])
def test_unbounded_counts_are_refused_before_they_reach_the_driver(automation, session_id, user_md,
                                                                    action):
    """A click_count of 2**32-1 once grew the node's shared Playwright driver until it died,
    taking every session on the node with it."""
    invalid_argument(automation.Act, A.ActRequest(session_id=session_id, action=action),
                     metadata=user_md, timeout=30)
    assert automation.Evaluate(A.EvaluateRequest(session_id=session_id, expression="6 * 7"),
                               metadata=user_md, timeout=30).result.number_value == 42


def test_values_the_node_cannot_read_are_invalid_argument(automation, session_id, user_md):
    for call, request in (
        (automation.GetCookies, A.GetCookiesRequest(session_id=session_id, urls=["not a url"])),
        (automation.Navigate, A.NavigateRequest(session_id=session_id, url="http://[::1/")),
        (automation.Navigate, A.NavigateRequest(session_id=session_id, kind=99)),
        (automation.Navigate, A.NavigateRequest(session_id=session_id, url="about:blank",
                                                wait_for_selector="[[[")),
        (automation.Act, A.ActRequest(session_id=session_id, action=A.Action(type=A.TypeText(
            target=A.ElementTarget(selector="body"), text="x" * 10_001)))),
    ):
        invalid_argument(call, request, metadata=user_md, timeout=30)
