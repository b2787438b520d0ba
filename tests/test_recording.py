"""Session recording: a Browserbase session driven through the Notte dialect, with a tab switch,
yields a video (decoded here with PyAV, the library that encoded it) and a timeline; an
unrecorded session yields none; nothing of the recording outlives the session on the node."""

from __future__ import annotations

import base64
import io
import json
import os
import pathlib
import time
import urllib.error
import urllib.request
from typing import Any

import av
from browserbase import Browserbase

from browserplane.v1 import controlplane_pb2 as cp
from tests.cluster import Cluster, session_dir

FPS = 5  # the node's --record-fps default (the shared cluster's node runs with defaults)


def _http(url: str, key: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:  # noqa: S310 - loopback
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _execute(gateway_url: str, key: str, sid: str, action: dict[str, Any]) -> None:
    status, body = _http(f"{gateway_url}/sessions/{sid}/page/execute", key, "POST", action)
    assert status == 200 and body.get("success"), body


def _artifacts(cluster: Cluster, md: Any, sid: str, kind: int) -> list[cp.Artifact]:
    return list(cluster.stub.ListArtifacts(cp.ListArtifactsRequest(session_id=sid, kind=kind),
                                           metadata=md, timeout=10).artifacts)


def _read(cluster: Cluster, md: Any, artifact_id: str) -> bytes:
    return b"".join(c.data for c in cluster.stub.ReadArtifact(
        cp.ReadArtifactRequest(id=artifact_id), metadata=md, timeout=60))


def _pixel(frame: av.VideoFrame, fx: float, fy: float) -> tuple[int, int, int]:
    rgb = frame.reformat(format="rgb24")
    plane = rgb.planes[0]
    x, y = int(rgb.width * fx), int(rgb.height * fy)
    offset = y * plane.line_size + 3 * x
    data = bytes(plane)
    return data[offset], data[offset + 1], data[offset + 2]


def _colour(rgb: tuple[int, int, int]) -> str:
    r, g, b = rgb
    if r > 180 and g < 80 and b < 80:
        return "red"
    if b > 180 and r < 80 and g < 80:
        return "blue"
    return f"other{rgb}"


def _encoders(root: pathlib.Path) -> list[str]:
    """Command lines of recording encoders writing below `root` (this cluster's node)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "video_encoder.py" in cmd and str(root) in cmd:
                found.append(cmd)
    return found


def test_recorded_session_across_dialects(cluster: Cluster, gateway_url: str, api_key: str,
                                          md: Any, site: str) -> None:
    bb = Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)
    # recordSession is left out: Browserbase records by default.
    session = bb.sessions.create(browser_settings={"viewport": {"width": 800, "height": 600}})
    started = time.monotonic()
    sid = session.id
    browser_dir = session_dir(cluster.browsers_root(), sid)
    assert browser_dir is not None
    # Driven through the Notte dialect: the same session id.
    _execute(gateway_url, api_key, sid, {"type": "goto", "url": f"{site}/rec-red.html"})
    time.sleep(2)
    status, shot = _http(f"{gateway_url}/sessions/{sid}/page/screenshot", api_key, "POST", {})
    assert status == 200, shot
    _execute(gateway_url, api_key, sid, {"type": "goto_new_tab", "url": f"{site}/rec-blue.html"})
    time.sleep(2)
    _execute(gateway_url, api_key, sid, {"type": "switch_tab", "tab_index": 0})
    time.sleep(2)
    # Before the end there is no video yet: Browserbase says PENDING, Notte "still active".
    pending = bb.sessions.recording.downloads.list(sid)
    assert [d.status for d in pending.downloads] == ["PENDING"]
    status, body = _http(f"{gateway_url}/sessions/{sid}/replay", api_key)
    assert status == 404 and "still active" in json.dumps(body)
    assert _encoders(cluster.browsers_root()), "a recorded session runs an encoder"

    bb.sessions.update(sid, status="REQUEST_RELEASE")
    elapsed = time.monotonic() - started
    Cluster.wait(lambda: _artifacts(cluster, md, sid, cp.ARTIFACT_TIMELINE), 60,
                 "the recording's artifacts did not arrive")

    videos = _artifacts(cluster, md, sid, cp.ARTIFACT_VIDEO)
    assert len(videos) == 1
    video = videos[0]
    assert video.mime_type == "video/mp4" and video.size_bytes > 0
    meta = dict(video.metadata)
    assert meta["fps"] == str(FPS)
    data = _read(cluster, md, video.id)
    container = av.open(io.BytesIO(data))
    stream = container.streams.video[0]
    frames = list(container.decode(video=0))
    # Constant frame rate: one frame per 1/fps, as many as the metadata says.
    assert len(frames) == int(meta["frames"]) == stream.frames
    assert int(meta["duration_ms"]) == round(len(frames) * 1000 / FPS)
    assert [f.pts for f in frames] == sorted(f.pts for f in frames)
    # The video spans the session: it starts with the first frame after the browser's
    # hand-over (the recorder's CDP connection and the first paint, at most ~3 s here on a
    # loaded 2-core machine) and ends when the node gets the stop, before the stop answers.
    duration = len(frames) / FPS
    assert elapsed - 3.5 <= duration <= elapsed + 0.5, (duration, elapsed)
    assert (meta["width"], meta["height"]) == (str(frames[0].width), str(frames[0].height))

    timeline = json.loads(_read(cluster, md, _artifacts(cluster, md, sid, cp.ARTIFACT_TIMELINE)[0].id))
    entries = timeline["entries"]
    assert timeline["video"]["frames"] == len(frames)
    kinds = [e["kind"] for e in entries]
    actions = [e["type"] for e in entries if e["kind"] == "action"]
    assert actions[:4] == ["navigate", "screenshot", "open_page", "switch_page"], actions
    navigations = [e["url"] for e in entries if e["kind"] == "navigation"]
    assert f"{site}/rec-red.html" in navigations and f"{site}/rec-blue.html" in navigations
    assert any(e["kind"] == "console_error" and "red page error" in e["text"] for e in entries)
    switches = [e for e in entries if e["kind"] == "tab_switch"]
    assert len(switches) >= 2, kinds
    assert [e["t_ms"] for e in entries] == sorted(e["t_ms"] for e in entries)
    assert all(0 <= e["t_ms"] <= int(meta["duration_ms"]) + 1000 for e in entries)

    # The frames show the pages: red, then (after the new tab) blue, then red again.
    def colour_at(t_ms: int) -> str:
        index = min(len(frames) - 1, t_ms * FPS // 1000)
        return _colour(_pixel(frames[index], 0.5, 0.75))

    to_blue, back = switches[-2]["t_ms"], switches[-1]["t_ms"]
    red_loaded = next(e["t_ms"] for e in entries
                      if e["kind"] == "navigation" and e["url"].endswith("rec-red.html"))
    assert colour_at(red_loaded + 1200) == "red"
    assert colour_at(to_blue + 1200) == "blue"
    assert colour_at(back + 1200) == "red"

    # The DOM was recorded with rrweb too (Browserbase's /recording): the red page's full
    # snapshot holds its heading; and the Notte screenshot is an artifact of the session.
    events = bb.sessions.recording.retrieve(sid)
    snapshots = [e for e in events if e.type == 2]
    assert any("Recording: the red page" in json.dumps(e.data) for e in snapshots)
    shots = _artifacts(cluster, md, sid, cp.ARTIFACT_SCREENSHOT)
    assert len(shots) == 1 and _read(cluster, md, shots[0].id) == base64.b64decode(shot["screenshot"])

    # The dialects answer from the video.
    downloads = bb.sessions.recording.downloads.list(sid).downloads
    assert [d.status for d in downloads] == ["COMPLETED"] and downloads[0].download_url
    assert f"/artifacts/{video.id}?" in downloads[0].download_url
    replays = bb.sessions.replays.retrieve(sid)
    assert replays.page_count == 2
    assert [p.page_id for p in replays.pages][:3] == ["0", "1", "0"]
    assert replays.pages[0].start_time_ms == 0
    assert replays.pages[-1].end_time_ms == int(meta["duration_ms"])
    assert replays.pages[1].url.endswith("rec-blue.html")
    playlist = bb.sessions.replays.with_raw_response.retrieve_page("1", id=sid).text()
    assert playlist.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in playlist
    status, body = _http(f"{gateway_url}/sessions/{sid}/replay", api_key)
    assert status == 200, body
    assert body["video_duration_ms"] == int(meta["duration_ms"]) and body["video_start_ms"] == 0
    # The signed URLs fetch the video without the key, and seek (a byte range).
    for url in (body["mp4_url"], downloads[0].download_url):
        with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - loopback
            assert answer.headers["Content-Type"].startswith("video/mp4")
            assert answer.read() == data
    ranged = urllib.request.Request(body["mp4_url"], headers={"Range": "bytes=100-199"})
    with urllib.request.urlopen(ranged, timeout=60) as answer:  # noqa: S310 - loopback
        assert answer.status == 206 and answer.read() == data[100:200]

    # Nothing of the session is left on the node: its directory, the video, the encoder.
    # (the node puts the artifacts before it removes the browser's directory)
    Cluster.wait(lambda: not browser_dir.exists(), 30, "the browser's directory outlived it")
    assert not list(cluster.browsers_root().rglob("recording.mp4"))
    Cluster.wait(lambda: not _encoders(cluster.browsers_root()), 10, "an encoder outlived its session")


def test_unrecorded_session_has_no_video(cluster: Cluster, gateway_url: str, api_key: str,
                                         md: Any, site: str) -> None:
    bb = Browserbase(api_key=api_key, base_url=gateway_url, max_retries=0)
    session = bb.sessions.create(browser_settings={"recordSession": False})
    _execute(gateway_url, api_key, session.id, {"type": "goto", "url": f"{site}/rec-red.html"})
    assert not _encoders(cluster.browsers_root())
    assert bb.sessions.recording.downloads.list(session.id).downloads == []
    bb.sessions.update(session.id, status="REQUEST_RELEASE")
    Cluster.wait(lambda: session_dir(cluster.browsers_root(), session.id) is None, 30,
                 "the browser was not stopped")
    time.sleep(1)
    assert _artifacts(cluster, md, session.id, cp.ARTIFACT_VIDEO) == []
    assert _artifacts(cluster, md, session.id, cp.ARTIFACT_TIMELINE) == []
    assert bb.sessions.recording.downloads.list(session.id).downloads == []
    try:
        bb.sessions.replays.retrieve(session.id)
        raise AssertionError("an unrecorded session has no replay")
    except Exception as err:  # noqa: BLE001 - the SDK's NotFoundError
        assert getattr(err, "status_code", 0) == 404, err
    status, body = _http(f"{gateway_url}/sessions/{session.id}/replay", api_key)
    assert status == 404 and "not recorded" in json.dumps(body), body


def test_unknown_session_recording_routes(gateway_url: str, api_key: str) -> None:
    for path in ("/v1/sessions/nope/recording/downloads", "/v1/sessions/nope/replays",
                 "/v1/sessions/nope/replays/0"):
        req = urllib.request.Request(gateway_url + path, headers={"X-BB-API-Key": api_key})
        try:
            urllib.request.urlopen(req, timeout=30)  # noqa: S310 - loopback
            raise AssertionError(path)
        except urllib.error.HTTPError as err:
            assert err.code == 404, (path, err.code)
            assert json.loads(err.read())["statusCode"] == 404




def test_timeout_and_crash_keep_the_recording(cluster: Cluster, md: Any, site: str) -> None:
    """The video is put on every path a session ends by: its maximum duration, and its
    browser crashing (Browser.crash over its own CDP URL)."""
    import asyncio

    from browserplane.v1 import automation_pb2 as A
    from browserplane.v1 import automation_pb2_grpc
    from browserplane.v1 import session_pb2 as S
    from node.cdp_client import CdpConnection

    auto = automation_pb2_grpc.AutomationStub(cluster.channel)
    timed = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        record_session=True, max_duration_seconds=4)), metadata=md, timeout=60)
    # Kept alive: the crashing CDP client's disconnect must not end it first.
    crashed = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        record_session=True, keep_alive=True)), metadata=md, timeout=60)
    for s in (timed, crashed):
        auto.Navigate(A.NavigateRequest(session_id=s.id, url=f"{site}/rec-red.html"), metadata=md,
                      timeout=30)
    time.sleep(1.5)

    async def crash() -> None:
        async with CdpConnection(crashed.cdp_url, timeout=3) as conn:
            try:
                await conn.send("Browser.crash")
            except Exception:  # noqa: BLE001 - the browser goes away without answering
                pass

    asyncio.run(crash())
    for s, state in ((timed, S.TIMED_OUT), (crashed, S.FAILED)):
        Cluster.wait(lambda s=s: _artifacts(cluster, md, s.id, cp.ARTIFACT_TIMELINE), 60,
                     f"no recording for the {S.SessionState.Name(state)} session")
        ended = cluster.stub.GetSession(cp.GetSessionRequest(id=s.id), metadata=md, timeout=10)
        assert ended.state == state, ended
        video = _artifacts(cluster, md, s.id, cp.ARTIFACT_VIDEO)[0]
        frames = list(av.open(io.BytesIO(_read(cluster, md, video.id))).decode(video=0))
        assert len(frames) == int(video.metadata["frames"]) >= FPS  # at least a second of it
        assert _colour(_pixel(frames[-1], 0.5, 0.75)) == "red"
        Cluster.wait(lambda s=s: session_dir(cluster.browsers_root(), s.id) is None, 30,
                     "the browser's directory outlived it")
    Cluster.wait(lambda: not _encoders(cluster.browsers_root()), 10, "an encoder outlived its session")


def _jpeg(rgb: tuple[int, int, int], width: int = 320, height: int = 240) -> bytes:
    frame = av.VideoFrame(width, height, "rgb24")
    frame.planes[0].update(bytes(rgb) * (width * height))
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt, codec.time_base = width, height, "yuvj420p", 1
    return b"".join(bytes(p) for p in [*codec.encode(frame.reformat(format="yuvj420p")),
                                       *codec.encode(None)])


def _encode(tmp_path: pathlib.Path, frames: list[tuple[float, bytes]], end: float,
            max_seconds: float = 3600, max_bytes: int = 0) -> tuple[dict[str, Any], list[Any]]:
    import struct
    import subprocess
    import sys

    from node.recorder import ENCODER

    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        [sys.executable, str(ENCODER), str(out), "5", "1280", "720", str(max_seconds), str(max_bytes)],
        input=b"".join(struct.pack("<dI", t, len(d)) + d for t, d in frames) + struct.pack("<dI", end, 0),
        capture_output=True, timeout=60, check=True)
    return json.loads(proc.stdout), list(av.open(str(out)).decode(video=0))


def test_encoder_places_frames_on_a_constant_rate(tmp_path: pathlib.Path) -> None:
    """Frames arrive only when the page changes; the video repeats the last one, so output
    frame k shows the newest frame that arrived by k/fps, and the video lasts until the end."""
    red, blue = _jpeg((255, 0, 0)), _jpeg((0, 0, 255))
    summary, frames = _encode(tmp_path, [(0.0, red), (1.0, blue), (2.5, red)], end=4.0)
    assert summary == {"frames": 20, "duration_ms": 4000, "width": 320, "height": 240, "fps": 5,
                       "bytes": (tmp_path / "out.mp4").stat().st_size}
    colours = [_colour(_pixel(f, 0.5, 0.5)) for f in frames]
    assert colours == ["red"] * 5 + ["blue"] * 8 + ["red"] * 7
    assert [f.time for f in frames] == [k / 5 for k in range(20)]


def test_encoder_stops_growing_at_its_bounds(tmp_path: pathlib.Path) -> None:
    red = _jpeg((255, 0, 0))
    summary, frames = _encode(tmp_path, [(0.0, red)], end=30.0, max_seconds=2)
    assert summary["frames"] == len(frames) == 10  # 2 s at 5 fps, not 30 s
    # The size is checked once a second of video: past it, the video ends there.
    summary, frames = _encode(tmp_path, [(0.0, red)], end=30.0, max_bytes=1)
    assert summary["frames"] == len(frames) == 5
    # A single frame longer than the session (stopped within a frame of its start) still shows.
    summary, frames = _encode(tmp_path, [(0.0, red)], end=0.0)
    assert summary["frames"] == len(frames) == 1


def test_a_tab_a_cdp_client_opens_is_followed(cluster: Cluster, md: Any, site: str) -> None:
    """A page opened over CDP (Playwright through the session's cdp_url, no Automation call)
    comes to the front, as in a browser: the video switches to it."""
    from playwright.sync_api import sync_playwright

    from browserplane.v1 import session_pb2 as S

    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        record_session=True, keep_alive=True)), metadata=md, timeout=60)
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(s.cdp_url)
        browser.contexts[0].pages[0].goto(f"{site}/rec-red.html")
        time.sleep(1.5)
        browser.contexts[0].new_page().goto(f"{site}/rec-blue.html")
        time.sleep(1.5)
        browser.close()
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=md, timeout=120)
    Cluster.wait(lambda: _artifacts(cluster, md, s.id, cp.ARTIFACT_TIMELINE), 60, "no recording")
    timeline = json.loads(_read(cluster, md, _artifacts(cluster, md, s.id, cp.ARTIFACT_TIMELINE)[0].id))
    switches = [e for e in timeline["entries"] if e["kind"] == "tab_switch"]
    assert len(switches) == 1, timeline["entries"]
    video = _artifacts(cluster, md, s.id, cp.ARTIFACT_VIDEO)[0]
    frames = list(av.open(io.BytesIO(_read(cluster, md, video.id))).decode(video=0))
    before = frames[max(0, switches[0]["t_ms"] * FPS // 1000 - 2)]
    assert _colour(_pixel(before, 0.5, 0.75)) == "red"
    assert _colour(_pixel(frames[-1], 0.5, 0.75)) == "blue"
