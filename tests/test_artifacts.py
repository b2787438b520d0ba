"""Artifacts in the control plane over real gRPC on a real cluster: nodes put, keys list and
read their project's, screenshots and PDFs taken through Automation become artifacts, signed
URLs read without a key (tampered: PERMISSION_DENIED, expired: ARTIFACT_URL_EXPIRED), byte
ranges."""

from __future__ import annotations

import hashlib
import time

import grpc
import pytest

from browserplane import errors
from browserplane.credentials import cluster_metadata
from browserplane.v1 import automation_pb2 as A
from browserplane.v1 import automation_pb2_grpc
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
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
    found = listed()
    assert [a.kind for a in found] == [cp.ARTIFACT_SCREENSHOT, cp.ARTIFACT_SCREENSHOT,
                                       cp.ARTIFACT_PDF]
    assert found[0].page_id == page.id and found[0].metadata["width"] == str(shot.width)
    assert found[1].mime_type == "image/jpeg" and found[2].mime_type == "application/pdf"
    for artifact, data in zip(found, (shot.data, jpeg.data, pdf.data), strict=True):
        assert read(cluster.stub, kmd, cp.ReadArtifactRequest(id=artifact.id))[1] == data
        assert artifact.sha256 == hashlib.sha256(data).hexdigest()
