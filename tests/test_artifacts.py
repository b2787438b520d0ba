"""Artifacts in the control plane over real gRPC on a real cluster: nodes put, keys list and
read their project's, screenshots and PDFs taken through Automation become artifacts, signed
URLs read without a key (tampered: PERMISSION_DENIED, expired: ARTIFACT_URL_EXPIRED), byte
ranges, the gateway's signed-URL route (403/410/404, 206), downloads as artifacts."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pathlib
import time
import urllib.error
import urllib.request
import zipfile

import grpc
import pytest
from browserbase import Browserbase as BrowserbaseClient
from browserbeam import Browserbeam
from playwright.sync_api import sync_playwright

from browserplane import errors
from browserplane.credentials import cluster_metadata
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from gateway import artifact_urls
from tests.cluster import Cluster


@pytest.fixture
def automation(cluster: Cluster):
    with grpc.insecure_channel(cluster.address) as channel:
        yield automation_pb2_grpc.AutomationStub(channel)


@pytest.fixture(scope="module")
def key(cluster: Cluster) -> str:
    return cluster.create_key("artifacts")


@pytest.fixture
def kmd(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest.fixture
def session(cluster: Cluster, kmd):
    s = cluster.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(keep_alive=True)),
                                   metadata=kmd, timeout=60)
    yield s
    cluster.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=kmd)


def put(stub, md, artifact: cp.Artifact, data: bytes, piece: int = 300_000) -> cp.Artifact:
    def chunks():
        yield cp.ArtifactChunk(artifact=artifact, data=data[:piece])
        for i in range(piece, len(data), piece):
            yield cp.ArtifactChunk(data=data[i:i + piece])
    return stub.PutArtifact(chunks(), metadata=md, timeout=30)


def read(stub, md, request: cp.ReadArtifactRequest) -> tuple[cp.Artifact, bytes]:
    first, data = None, b""
    for chunk in stub.ReadArtifact(request, metadata=md, timeout=30):
        if first is None:
            first = chunk.artifact
        data += chunk.data
    return first, data


def failure(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__iter__") and not isinstance(result, cp.Artifact):
            list(result)
    return info.value.code(), errors.describe(info.value).reason


def test_put_list_read_as_node_and_key(cluster: Cluster, session, kmd) -> None:
    node = cluster_metadata(cluster.secret, session.project_id)
    video = bytes(range(256)) * 12_000  # ~3 MiB: several sealed blocks
    stored = put(cluster.stub, node, cp.Artifact(
        session_id=session.id, kind=cp.ARTIFACT_VIDEO, name="../../etc/recording.webm",
        mime_type="video/webm", metadata={"duration_ms": "1000"}), video)
    assert stored.id.startswith("art_") and stored.project_id == session.project_id
    assert stored.size_bytes == len(video) and stored.sha256 == hashlib.sha256(video).hexdigest()
    assert "/" not in stored.name and stored.name.endswith("recording.webm")
    assert stored.expires_at.seconds > time.time() + 160 * 3600

    listed = cluster.stub.ListArtifacts(cp.ListArtifactsRequest(session_id=session.id),
                                        metadata=kmd, timeout=10)
    assert [a.id for a in listed.artifacts] == [stored.id] and listed.total == 1
    assert listed.artifacts[0].metadata["duration_ms"] == "1000"
    by_kind = cluster.stub.ListArtifacts(cp.ListArtifactsRequest(
        session_id=session.id, kind=cp.ARTIFACT_SCREENSHOT), metadata=kmd, timeout=10)
    assert by_kind.total == 0

    head, data = read(cluster.stub, kmd, cp.ReadArtifactRequest(id=stored.id))
    assert head.id == stored.id and data == video
    _, node_data = read(cluster.stub, node, cp.ReadArtifactRequest(id=stored.id))
    assert node_data == video
    # a byte range across a block boundary (a video player seeking)
    _, part = read(cluster.stub, kmd, cp.ReadArtifactRequest(id=stored.id, offset=(1 << 20) - 5,
                                                              length=1000))
    assert part == video[(1 << 20) - 5:(1 << 20) + 995]
    _, tail = read(cluster.stub, kmd, cp.ReadArtifactRequest(id=stored.id, offset=len(video) - 7))
    assert tail == video[-7:]
    assert failure(cluster.stub.ReadArtifact, cp.ReadArtifactRequest(
        id=stored.id, offset=len(video) + 1), metadata=kmd) == \
        (grpc.StatusCode.INVALID_ARGUMENT, errors.INVALID_ARGUMENT)

    # the blob on disk is sealed and 0600
    blob = cluster.tmp / "cp" / "blobs" / "artifacts" / stored.id
    assert blob.stat().st_mode & 0o777 == 0o600
    assert bytes(range(256)) * 4 not in blob.read_bytes()

    # another project's key sees none of it
    other = (("authorization", f"Bearer {cluster.create_key('artifacts-other')}"),)
    assert failure(cluster.stub.ReadArtifact, cp.ReadArtifactRequest(id=stored.id),
                   metadata=other) == (grpc.StatusCode.NOT_FOUND, errors.ARTIFACT_NOT_FOUND)
    assert failure(cluster.stub.SignArtifactUrl, cp.SignArtifactUrlRequest(id=stored.id),
                   metadata=other) == (grpc.StatusCode.NOT_FOUND, errors.ARTIFACT_NOT_FOUND)
    assert failure(cluster.stub.ListArtifacts, cp.ListArtifactsRequest(session_id=session.id),
                   metadata=other, timeout=10) == \
        (grpc.StatusCode.NOT_FOUND, errors.SESSION_NOT_FOUND)
    assert cluster.stub.ListArtifacts(cp.ListArtifactsRequest(), metadata=other).total == 0
    # a key cannot put; a node cannot put into another project's session
    assert failure(put, cluster.stub, kmd, cp.Artifact(session_id=session.id,
                                                       kind=cp.ARTIFACT_VIDEO), b"x")[1] == \
        errors.PERMISSION_DENIED
    wrong = cluster_metadata(cluster.secret, "some-other-project")
    assert failure(put, cluster.stub, wrong, cp.Artifact(session_id=session.id,
                                                         kind=cp.ARTIFACT_VIDEO), b"x") == \
        (grpc.StatusCode.NOT_FOUND, errors.SESSION_NOT_FOUND)
    assert failure(put, cluster.stub, node, cp.Artifact(session_id=session.id), b"x") == \
        (grpc.StatusCode.INVALID_ARGUMENT, errors.INVALID_ARGUMENT)
    assert failure(cluster.stub.ListArtifacts, cp.ListArtifactsRequest(limit=5000),
                   metadata=kmd) == (grpc.StatusCode.INVALID_ARGUMENT, errors.INVALID_ARGUMENT)


def test_signed_urls(cluster: Cluster, session, kmd) -> None:
    node = cluster_metadata(cluster.secret, session.project_id)
    stored = put(cluster.stub, node, cp.Artifact(session_id=session.id, kind=cp.ARTIFACT_TIMELINE),
                 b'{"events": []}')
    assert stored.mime_type == "application/json"
    url = cluster.stub.SignArtifactUrl(cp.SignArtifactUrlRequest(id=stored.id, ttl_seconds=60),
                                       metadata=kmd, timeout=10)
    assert url.id == stored.id and time.time() < url.expires <= time.time() + 61
    # no key at all
    _, data = read(cluster.stub, (), cp.ReadArtifactRequest(id=stored.id, expires=url.expires,
                                                             signature=url.signature))
    assert data == b'{"events": []}'
    tampered = [cp.ReadArtifactRequest(id=stored.id, expires=url.expires + 1,
                                       signature=url.signature),
                cp.ReadArtifactRequest(id=stored.id, expires=url.expires,
                                       signature=url.signature[:-1] + "0"
                                       if url.signature[-1] != "0" else url.signature[:-1] + "1"),
                cp.ReadArtifactRequest(id="art_" + "0" * 32, expires=url.expires,
                                       signature=url.signature)]
    for request in tampered:
        assert failure(cluster.stub.ReadArtifact, request) == \
            (grpc.StatusCode.PERMISSION_DENIED, errors.ARTIFACT_URL_INVALID)
    # no key and no signature: unauthenticated
    assert failure(cluster.stub.ReadArtifact, cp.ReadArtifactRequest(id=stored.id))[0] == \
        grpc.StatusCode.UNAUTHENTICATED
    assert failure(cluster.stub.SignArtifactUrl, cp.SignArtifactUrlRequest(
        id=stored.id, ttl_seconds=8 * 86400), metadata=kmd)[0] == grpc.StatusCode.INVALID_ARGUMENT
    short = cluster.stub.SignArtifactUrl(cp.SignArtifactUrlRequest(id=stored.id, ttl_seconds=1),
                                         metadata=kmd, timeout=10)
    cluster.wait(lambda: time.time() > short.expires + 0.2, 5, "time did not pass")
    assert failure(cluster.stub.ReadArtifact, cp.ReadArtifactRequest(
        id=stored.id, expires=short.expires, signature=short.signature)) == \
        (grpc.StatusCode.FAILED_PRECONDITION, errors.ARTIFACT_URL_EXPIRED)


def test_screenshot_and_pdf_through_automation_are_artifacts(cluster: Cluster, automation,
                                                              session, kmd, site: str) -> None:
    page = automation.OpenPage(A.OpenPageRequest(session_id=session.id, url=f"{site}/hello.html"),
                               metadata=kmd, timeout=30)
    shot = automation.Screenshot(A.ScreenshotRequest(session_id=session.id, page_id=page.id),
                                 metadata=kmd, timeout=30)
    jpeg = automation.Screenshot(A.ScreenshotRequest(session_id=session.id,
                                                     format=A.ScreenshotRequest.JPEG),
                                 metadata=kmd, timeout=30)
    pdf = automation.Pdf(A.PdfRequest(session_id=session.id), metadata=kmd, timeout=30)

    def listed():
        return cluster.stub.ListArtifacts(cp.ListArtifactsRequest(session_id=session.id),
                                          metadata=kmd, timeout=10).artifacts
    cluster.wait(lambda: len(listed()) == 3, 20, "the screenshots were not kept")
    # an Observe asked for a screenshot keeps it; one not asked keeps nothing
    seen = automation.Observe(A.ObserveRequest(session_id=session.id, include_screenshot=True),
                              metadata=kmd, timeout=30)
    automation.Observe(A.ObserveRequest(session_id=session.id), metadata=kmd, timeout=30)
    cluster.wait(lambda: len(listed()) == 4, 20, "the observation's screenshot was not kept")
    # a background call's screenshot (Airtop's route) too
    started = cluster.stub.StartCall(cp.StartCallRequest(
        method="Screenshot", request=A.ScreenshotRequest(session_id=session.id).SerializeToString()),
        metadata=kmd, timeout=30)
    cluster.wait(lambda: cluster.stub.GetCall(cp.GetCallRequest(id=started.id), metadata=kmd)
                 .state == cp.Call.COMPLETED, 30, "the background screenshot did not complete")
    called = A.ScreenshotResponse.FromString(
        cluster.stub.GetCall(cp.GetCallRequest(id=started.id), metadata=kmd).response)
    cluster.wait(lambda: len(listed()) == 5, 20, "the background call's screenshot was not kept")
    found = listed()
    assert [a.kind for a in found] == [cp.ARTIFACT_SCREENSHOT, cp.ARTIFACT_SCREENSHOT,
                                       cp.ARTIFACT_PDF, cp.ARTIFACT_SCREENSHOT,
                                       cp.ARTIFACT_SCREENSHOT]
    assert found[0].page_id == page.id and found[0].metadata["width"] == str(shot.width)
    assert found[1].mime_type == "image/jpeg" and found[2].mime_type == "application/pdf"
    assert found[3].metadata["url"] == seen.page.url
    for artifact, data in zip(found, (shot.data, jpeg.data, pdf.data, seen.screenshot,
                                      called.data), strict=True):
        assert read(cluster.stub, kmd, cp.ReadArtifactRequest(id=artifact.id))[1] == data
        assert artifact.sha256 == hashlib.sha256(data).hexdigest()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:  # noqa: S310 - loopback
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_dialect_screenshot_is_an_artifact_behind_a_signed_url(cluster: Cluster, key: str, kmd,
                                                               gateway_url: str,
                                                               site: str) -> None:
    beam = Browserbeam(api_key=key, base_url=gateway_url, timeout=120)
    s = beam.sessions.create(url=f"{site}/hello.html")
    try:
        shots = s.act([{"screenshot": {}}])
        png = base64.b64decode(shots.media[0].data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"

        def kept() -> list[cp.Artifact]:
            return list(cluster.stub.ListArtifacts(cp.ListArtifactsRequest(
                session_id=s.session_id, kind=cp.ARTIFACT_SCREENSHOT), metadata=kmd).artifacts)
        cluster.wait(lambda: len(kept()) == 1, 20, "the dialect's screenshot was not kept")
        shot = kept()[0]
        assert read(cluster.stub, kmd, cp.ReadArtifactRequest(id=shot.id))[1] == png
    finally:
        beam.sessions.destroy(s.session_id)
        beam.close()

    # the helper below the dialects makes the public URL, as the client reaches the gateway
    signed = cluster.stub.SignArtifactUrl(cp.SignArtifactUrlRequest(id=shot.id), metadata=kmd)
    base = gateway_url
    url = f"{base}/artifacts/{shot.id}?expires={signed.expires}&signature={signed.signature}"
    status, headers, body = _get(url)  # no key
    assert status == 200 and body == png
    assert headers["Content-Type"] == "image/png" and headers["Content-Length"] == str(len(png))
    assert headers["Accept-Ranges"] == "bytes" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith('inline; filename="screenshot.png"')
    status, headers, body = _get(url, {"Range": "bytes=8-15"})
    assert status == 206 and body == png[8:16]
    assert headers["Content-Range"] == f"bytes 8-15/{len(png)}"
    status, headers, body = _get(url, {"Range": "bytes=-4"})
    assert status == 206 and body == png[-4:]
    status, headers, _ = _get(url, {"Range": f"bytes={len(png)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(png)}"

    tampered = url.replace(f"expires={signed.expires}", f"expires={signed.expires + 1}")
    status, _, body = _get(tampered)
    assert status == 403 and json.loads(body)["error"]["code"] == "forbidden"
    status, _, body = _get(f"{base}/artifacts/{shot.id}")
    assert status == 403
    status, _, body = _get(f"{base}/artifacts/{shot.id}?expires=abc&signature=zz")
    assert status == 403
    short = cluster.stub.SignArtifactUrl(cp.SignArtifactUrlRequest(id=shot.id, ttl_seconds=1),
                                         metadata=kmd)
    cluster.wait(lambda: time.time() > short.expires + 0.2, 5, "time did not pass")
    status, _, body = _get(f"{base}/artifacts/{shot.id}?expires={short.expires}"
                           f"&signature={short.signature}")
    assert status == 410 and json.loads(body)["error"]["code"] == "expired"

    # the URL helper honours X-Forwarded-*, like the gateway's other URLs
    from aiohttp.test_utils import make_mocked_request  # a request object, nothing mocked away

    request = make_mocked_request("GET", "/x", headers={
        "Host": "127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "bp.example",
        "X-Forwarded-Prefix": "/bp"})
    assert artifact_urls.url_of(request, signed) == \
        f"https://bp.example/bp/artifacts/{shot.id}?expires={signed.expires}" \
        f"&signature={signed.signature}"


def test_a_download_is_an_artifact_and_downloads_still_zip(cluster: Cluster, key: str, kmd,
                                                          gateway_url: str, site: str) -> None:
    bb = BrowserbaseClient(api_key=key, base_url=gateway_url, max_retries=0)
    session = bb.sessions.create(keep_alive=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(session.connect_url)
            page = browser.contexts[0].pages[0]
            page.goto(f"{site}/files.html")
            cdp = browser.contexts[0].new_cdp_session(page)
            cdp.send("Browser.setDownloadBehavior",
                     {"behavior": "allow", "downloadPath": "downloads", "eventsEnabled": True})
            page.click("#report")

            def downloaded() -> list[str]:
                data = bb.sessions.downloads.list(session.id).read()
                return zipfile.ZipFile(io.BytesIO(data)).namelist()
            Cluster.wait(lambda: downloaded() == ["report.csv"], 15, "download not in the zip")
            browser.close()
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
    kept = zipfile.ZipFile(io.BytesIO(bb.sessions.downloads.list(session.id).read()))
    assert kept.read("report.csv") == b"id,amount\n1,42\n2,7\n"  # Browserbase's endpoint as before
    found = cluster.stub.ListArtifacts(cp.ListArtifactsRequest(
        session_id=session.id, kind=cp.ARTIFACT_DOWNLOAD), metadata=kmd).artifacts
    assert [a.name for a in found] == ["report.csv"]
    assert read(cluster.stub, kmd, cp.ReadArtifactRequest(id=found[0].id))[1] == \
        b"id,amount\n1,42\n2,7\n"
    signed = cluster.stub.SignArtifactUrl(cp.SignArtifactUrlRequest(id=found[0].id), metadata=kmd)
    status, headers, body = _get(f"{gateway_url}/artifacts/{found[0].id}?expires="
                                 f"{signed.expires}&signature={signed.signature}")
    assert status == 200 and body == b"id,amount\n1,42\n2,7\n"
    assert headers["Content-Disposition"].startswith('attachment; filename="report.csv"')
    assert headers["Content-Type"] == "application/octet-stream"


def test_bounds_terminate_restart_and_retention(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    c.cp_flags.update({"artifacts-per-session": 3, "artifact-max-bytes": 100_000,
                       "artifact-session-bytes": 150_000, "artifact-project-bytes": 200_000})
    c.start_controlplane()
    c.start_node("n1", capacity=2, pool=0)
    kmd = (("authorization", f"Bearer {c.create_key('bounded')}"),)
    first = c.stub.CreateSession(cp.CreateSessionRequest(), metadata=kmd, timeout=60)
    second = c.stub.CreateSession(cp.CreateSessionRequest(), metadata=kmd, timeout=60)
    node = cluster_metadata(c.secret, first.project_id)

    def shot(session_id: str, size: int, name: str = "shot.png") -> cp.Artifact:
        return put(c.stub, node, cp.Artifact(session_id=session_id, kind=cp.ARTIFACT_SCREENSHOT,
                                             name=name), bytes([len(name)]) * size)

    # one artifact past --artifact-max-bytes: refused, nothing left on disk
    assert failure(shot, first.id, 100_001) == \
        (grpc.StatusCode.INVALID_ARGUMENT, errors.PAYLOAD_TOO_LARGE)
    a1, a2 = shot(first.id, 60_000, "a1"), shot(first.id, 60_000, "a2")
    # the session's bytes bound: refused (the session keeps its first artifacts)
    assert failure(shot, first.id, 60_000) == \
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ARTIFACT_LIMIT)
    a3 = shot(first.id, 10)
    # the session's count bound
    assert failure(shot, first.id, 10) == (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ARTIFACT_LIMIT)
    blobs = c.tmp / "cp" / "blobs" / "artifacts"
    assert sorted(p.name for p in blobs.iterdir()) == sorted([a1.id, a2.id, a3.id])
    # a screenshot past the session's bound still answers its caller; it is not kept
    with grpc.insecure_channel(c.address) as channel:
        taken = automation_pb2_grpc.AutomationStub(channel).Screenshot(
            A.ScreenshotRequest(session_id=first.id), metadata=kmd, timeout=60)
    assert taken.data[:8] == b"\x89PNG\r\n\x1a\n"
    c.wait(lambda: "artifact not kept" in c.controlplane.log_path.read_text(), 20,
           "the refused copy was not logged")
    assert c.stub.ListArtifacts(cp.ListArtifactsRequest(session_id=first.id),
                                metadata=kmd).total == 3

    # the project's bytes bound: the project's oldest go first
    b1 = shot(second.id, 90_000, "b1")
    left = c.stub.ListArtifacts(cp.ListArtifactsRequest(), metadata=kmd).artifacts
    assert [a.id for a in left] == [b1.id, a3.id, a2.id]  # newest first across sessions
    assert failure(c.stub.ReadArtifact, cp.ReadArtifactRequest(id=a1.id), metadata=kmd)[1] == \
        errors.ARTIFACT_NOT_FOUND
    assert not (blobs / a1.id).exists()

    # terminated sessions keep their artifacts, and so does a control-plane restart
    for s in (first, second):
        c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=kmd)
    c.controlplane.stop()
    c.start_controlplane()
    assert read(c.stub, kmd, cp.ReadArtifactRequest(id=b1.id))[1] == bytes([2]) * 90_000
    listed = c.stub.ListArtifacts(cp.ListArtifactsRequest(session_id=first.id), metadata=kmd)
    assert [a.id for a in listed.artifacts] == [a2.id, a3.id] and listed.total == 2
    signed = c.stub.SignArtifactUrl(cp.SignArtifactUrlRequest(id=a2.id), metadata=kmd)
    c.start_gateway()
    url = (f"http://127.0.0.1:{c.gateway_port}/artifacts/{a2.id}?expires={signed.expires}"
           f"&signature={signed.signature}")
    head = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(head, timeout=30) as answer:  # noqa: S310 - loopback
        assert answer.status == 200 and answer.headers["Content-Length"] == "60000"
        assert answer.read() == b""

    # retention: a control plane started with a shorter one forgets what is older (at start
    # and in its housekeeping); the signed URL then finds nothing
    c.controlplane.stop()
    time.sleep(2)  # the artifacts are older than the retention below
    c.cp_flags["artifact-retention-hours"] = 0.0005  # 1.8 s
    c.start_controlplane()
    assert list(blobs.iterdir()) == []
    assert c.stub.ListArtifacts(cp.ListArtifactsRequest(), metadata=kmd).total == 0
    assert failure(c.stub.ReadArtifact, cp.ReadArtifactRequest(
        id=a2.id, expires=signed.expires, signature=signed.signature)) == \
        (grpc.StatusCode.NOT_FOUND, errors.ARTIFACT_NOT_FOUND)
    status, _, body = _get(url)  # the gateway, no key, an artifact past retention
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"


def test_downloads_zip_unpacked_safely(fresh_cluster: Cluster) -> None:
    """A downloads zip with a path-traversal name, a directory and a zip bomb: the files
    become artifacts under their ids only, the bomb stops at the bound as it inflates."""
    c = fresh_cluster
    c.cp_flags.update({"artifact-max-bytes": 1 << 20})
    c.start_controlplane()
    c.start_node("n1", capacity=1, pool=0)
    kmd = (("authorization", f"Bearer {c.create_key('zips')}"),)
    s = c.stub.CreateSession(cp.CreateSessionRequest(), metadata=kmd, timeout=60)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../../../../tmp/evil.txt", b"not outside")
        z.writestr("sub/", b"")
        z.writestr("bomb.bin", b"\0" * (50 << 20))  # 50 MiB of zeros, ~50 KiB deflated
        z.writestr("ok.csv", b"a,b\n")
    archive = raw.getvalue()
    assert len(archive) < 1 << 20
    node = cluster_metadata(c.secret, s.project_id)

    def chunks():
        yield cp.DataChunk(session_id=s.id, data=archive)
    for _ in range(2):  # sent twice (a retry): the second replaces the first's artifacts
        c.stub.WriteSessionFiles(chunks(), metadata=node, timeout=60)
    found = c.stub.ListArtifacts(cp.ListArtifactsRequest(session_id=s.id,
                                                         kind=cp.ARTIFACT_DOWNLOAD),
                                 metadata=kmd).artifacts
    assert sorted(a.name for a in found) == ["evil.txt", "ok.csv"]
    by_name = {a.name: a for a in found}
    assert read(c.stub, kmd, cp.ReadArtifactRequest(id=by_name["evil.txt"].id))[1] == b"not outside"
    blobs = c.tmp / "cp" / "blobs" / "artifacts"
    assert sorted(p.name for p in blobs.iterdir()) == sorted(a.id for a in found)
    assert not (c.tmp / "evil.txt").exists() and not pathlib.Path("/tmp/evil.txt").exists()
    # the zip itself is served as before
    kept = b"".join(chunk.data for chunk in c.stub.ReadSessionFiles(
        cp.ReadSessionFilesRequest(session_id=s.id), metadata=kmd, timeout=30))
    assert kept == archive
    c.stub.TerminateSession(cp.TerminateSessionRequest(id=s.id), metadata=kmd)
