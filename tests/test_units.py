"""The sans-I/O pieces: placement, the wait queue, request heads, tokens, option checks."""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse

import grpc
import pytest

from browserplane import errors
from browserplane.credentials import check_cdp_token, issue_cdp_token
from browserplane.errors import BrowserplaneError
from browserplane.http_head import HeadError, split_head
from browserplane.v1 import session_pb2 as S
from controlplane.scheduler import NodeView, WaitQueue, pick_node
from controlplane.validation import validate_options
from node.chromium import LaunchConfig, proxy_settings


def test_pick_node_prefers_least_loaded_matching_and_skips_drained_or_down():
    nodes = [
        NodeView("a", {"region": "eu"}, capacity=4, assigned=3),
        NodeView("b", {"region": "eu"}, capacity=4, assigned=1),
        NodeView("c", {"region": "us"}, capacity=4, assigned=0),
        NodeView("d", {"region": "eu"}, capacity=4, assigned=0, draining=True),
        NodeView("e", {"region": "eu"}, capacity=4, assigned=0, up=False),
    ]
    assert pick_node(nodes, {"region": "eu"}).id == "b"
    assert pick_node(nodes, {}).id == "c"
    assert pick_node(nodes, {"region": "ap"}) is None
    full = [NodeView("a", {}, capacity=2, assigned=2)]
    assert pick_node(full, {}) is None


def test_wait_queue_is_fifo_bounded_and_times_out():
    async def scenario() -> None:
        queue = WaitQueue(max_size=2)
        room = {"n": 0}
        node = NodeView("a", {}, 1, 0)

        def place(selector):
            if room["n"] > 0:
                room["n"] -= 1
                return node
            return None

        first = asyncio.create_task(queue.wait({}, timeout=5))
        second = asyncio.create_task(queue.wait({}, timeout=0.3))
        await asyncio.sleep(0.01)
        with pytest.raises(BrowserplaneError) as full:
            await queue.wait({}, timeout=5)
        assert full.value.reason == errors.QUEUE_FULL
        assert full.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(BrowserplaneError) as late:
            await second
        assert late.value.reason == errors.QUEUE_TIMEOUT
        room["n"] = 1
        queue.dispatch(place)
        assert await first is node
        assert len(queue) == 0

    asyncio.run(scenario())


def test_split_head_parses_and_rewrites_for_chromium():
    raw = (b"GET /session/s1/devtools/browser?token=abc HTTP/1.1\r\nHost: gw.example:443\r\n"
           b"Origin: https://x\r\nUpgrade: websocket\r\n\r\nEARLY")
    head, rest = split_head(raw)
    assert head.path == "/session/s1/devtools/browser" and head.query == {"token": "abc"}
    assert head.is_websocket and rest == b"EARLY"
    out = head.rewritten("/devtools/browser/uuid", "127.0.0.1:9222").decode()
    assert out.startswith("GET /devtools/browser/uuid HTTP/1.1\r\nHost: 127.0.0.1:9222\r\n")
    assert "Origin" not in out and "gw.example" not in out and out.endswith("\r\n\r\n")
    assert split_head(b"GET / HTTP/1.1\r\nHost: x\r\n") is None
    with pytest.raises(HeadError):
        split_head(b"NONSENSE\r\n\r\n")
    with pytest.raises(HeadError):
        split_head(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20000)


def test_cdp_tokens_open_one_session_until_they_expire():
    token = issue_cdp_token("secret", "s1", "p1", time.time() + 60)
    assert check_cdp_token("secret", token, "s1", "p1").ok
    assert not check_cdp_token("secret", token, "s2", "p1").ok
    assert not check_cdp_token("secret", token, "s1", "p2").ok
    assert not check_cdp_token("other", token, "s1", "p1").ok
    assert not check_cdp_token("secret", "garbage", "s1", "p1").ok
    expired = issue_cdp_token("secret", "s1", "p1", time.time() - 1)
    assert check_cdp_token("secret", expired, "s1", "p1").reason == "token expired"


def test_valid_options_pass():
    validate_options(S.SessionOptions(
        viewport=S.Viewport(width=1920, height=1080), locale="en-US", timezone="America/New_York",
        proxies=[S.ProxyRule(server="http://user@proxy.local:3128")],
        cookies=[S.Cookie(name="a", value="b", domain=".example.com", same_site="Lax")],
        labels={"team": "search"}, idle_timeout_seconds=60, max_duration_seconds=600))


@pytest.mark.parametrize(("options", "field"), [
    (S.SessionOptions(proxies=[S.ProxyRule(server="http://proxy:99999")]), "options.proxies[0].server"),
    (S.SessionOptions(proxies=[S.ProxyRule(server="socks5://p:1", username="u")]),
     "options.proxies[0].username"),
    (S.SessionOptions(cookies=[S.Cookie(name="a", url="ftp://x")]), "options.cookies[0].url"),
    (S.SessionOptions(cookies=[S.Cookie(name="a", domain="x", same_site="Sometimes")]),
     "options.cookies[0].same_site"),
    (S.SessionOptions(labels={"bad key!": "v"}), "options.labels['bad key!']"),
    (S.SessionOptions(extra_http_headers=["NoColon"]), "options.extra_http_headers[0]"),
    (S.SessionOptions(extra_http_headers=["X-A: 1", "Host: evil"]), "options.extra_http_headers[1]"),
    (S.SessionOptions(extra_http_headers=["Proxy-Authorization: x"]), "options.extra_http_headers[0]"),
    (S.SessionOptions(extra_http_headers=[f"X-{i}: v" for i in range(51)]),
     "options.extra_http_headers"),
    (S.SessionOptions(blocked_resource_types=[S.RESOURCE_TYPE_UNSPECIFIED]),
     "options.blocked_resource_types[0]"),
])
def test_invalid_options_name_their_field(options, field):
    with pytest.raises(BrowserplaneError) as info:
        validate_options(options)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.metadata["field"] == field


def test_proxy_rules_become_a_server_flag_or_a_pac_script():
    assert proxy_settings([S.ProxyRule(server="http://p:1", bypass=["localhost"])]) == \
        ("http://p:1", "", "localhost")
    server, pac, _ = proxy_settings([
        S.ProxyRule(server="socks5://s:1080", domain_pattern="*.example.com"),
        S.ProxyRule(kind=S.ProxyRule.NONE, domain_pattern="*.internal"),
        S.ProxyRule(server="http://p:1")])
    assert server == ""
    script = base64.b64decode(urllib.parse.unquote(pac.split(",", 1)[1])).decode()
    assert "shExpMatch(host, '*.example.com')) return 'SOCKS5 s:1080'" in script
    assert "shExpMatch(host, '*.internal')) return 'DIRECT'" in script
    assert script.index("*.example.com") < script.index("PROXY p:1")


def test_launch_config_equality_decides_warm_hand_over():
    default = LaunchConfig(ui_size=(0, 87))
    same = LaunchConfig.from_options(S.SessionOptions(viewport=S.Viewport(width=1280, height=720)),
                                     ui_size=(0, 87))
    other = LaunchConfig.from_options(S.SessionOptions(user_agent="x"), ui_size=(0, 87))
    assert same == default and other != default
    assert "--window-size=1280,807" in default.flags()


def test_rate_limiter_counts_per_key_and_refuses_past_the_limit():
    from gateway.http_api import ApiError, RateLimiter

    limiter = RateLimiter(per_minute=3)
    assert [limiter.hit("a")["X-RateLimit-Remaining"] for _ in range(3)] == ["2", "1", "0"]
    assert limiter.hit("b")["X-RateLimit-Remaining"] == "2"  # keys are counted apart
    with pytest.raises(ApiError) as info:
        limiter.hit("a")
    assert info.value.status == 429 and info.value.retry_after >= 1
    assert info.value.headers["X-RateLimit-Limit"] == "3"


def test_browserbeam_steps_become_calls_and_bad_steps_name_their_index():
    from browserplane.v1 import automation_pb2 as A
    from gateway.dialects.browserbeam import StepInputError, parse_steps
    from gateway.http_api import ApiError

    steps = parse_steps([{"goto": {"url": "https://example.com", "wait_until": "networkidle"}},
                         {"click": {"ref": "e3"}}, {"fill": {"label": "Email", "value": 7}},
                         {"scroll": {"direction": "up"}}, {"scroll": {"to": "bottom"}},
                         {"select": {"text": "Plan", "value": ["a", "b"]}},
                         {"wait": {"until": "window.ready"}}, {"close": {}}], "s1")
    goto, click, fill, up, bottom, select, wait, close = (s.request for s in steps)
    assert goto.wait_until == A.NETWORK_IDLE and goto.session_id == "s1"
    assert click.action.click.target.ref == "e3" and fill.action.fill.value == "7"
    assert up.action.scroll.delta_y == -600 and bottom.action.scroll.edge == A.Scroll.BOTTOM
    assert list(select.action.select.values) == ["a", "b"]
    assert wait.action.wait.until_js == "window.ready" and close.id == "s1"

    def rejected(raw):
        with pytest.raises(ApiError) as info:
            parse_steps(raw, "s1")
        assert info.value.status == 400 and info.value.code == "invalid_request"
        return info.value

    assert rejected([{"observe": {}}, {"fly": {}}]).context == {"step": 1, "action": "fly"}
    assert rejected([{"click": {"ref": "e1"}, "fill": {}}]).context == {"step": 0}
    two_targets = rejected([{"click": {"ref": "e1", "text": "Go"}}])
    assert isinstance(two_targets, StepInputError) and "ref and text" in two_targets.message
    assert "name the element" in rejected([{"fill": {"value": "x"}}]).message
    assert "unknown parameter 'colour'" in rejected([{"click": {"ref": "e1", "colour": 1}}]).message
    assert "close must be the last" in rejected([{"close": {}}, {"observe": {}}]).message
    assert "wait_until" in rejected([{"goto": {"url": "https://a.b", "wait_until": "soon"}}]).message
    assert "ms" in rejected([{"wait": {}}]).message
    assert "quality" in rejected([{"screenshot": {"quality": 50}}]).message
    assert "non-empty" in rejected([]).message and "non-empty" in rejected("click").message
    assert "must be an integer" in rejected([{"scroll": {"times": True}}]).message


def test_cancel_and_wait_ends_a_task_that_swallowed_its_cancellation() -> None:
    """As Python 3.11's wait_for does when its future completes in the same iteration: the
    task carries on to an await that never ends (a session's stop used to wait on it)."""
    import asyncio

    from browserplane.tasks import cancel_and_wait

    async def scenario() -> None:
        started = asyncio.Event()

        async def stubborn() -> None:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass  # swallowed
            await asyncio.Event().wait()  # and on to an await that never ends

        task = asyncio.get_running_loop().create_task(stubborn())
        await started.wait()
        await cancel_and_wait(task, timeout=5)
        assert task.done()
        await cancel_and_wait(task)  # an ended task, and None, are fine
        await cancel_and_wait(None)

    asyncio.run(scenario())
