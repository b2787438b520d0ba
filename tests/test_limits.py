"""Nothing a client sends takes a component down: archive bombs, huge downloads, slow heads.

Real control plane, node, gateway and Chromium on loopback. While the hostile work runs, a
watcher asks the control plane for the node ten times a second: the node must stay up under
the same registration (a lapsed lease would mark it down and make it register again).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import pathlib
import signal
import socket
import struct
import tarfile
import threading
import time
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator

import grpc
import httpx
import pytest
from browserbase import APIStatusError, BadRequestError, Browserbase
from playwright.sync_api import sync_playwright

from browserplane import archives
from browserplane.v1 import controlplane_pb2 as cp
from browserplane.v1 import session_pb2 as S
from controlplane.leases import NodeRegistry
from tests.cluster import Cluster, session_dir

HEAD_TIMEOUT = "1.5"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster of its own whose node and gateway drop slow heads after 1.5 s."""
    c = Cluster(tmp_path_factory.mktemp("limits"))
    try:
        c.start_controlplane()
        c.start_node("n1", 3, 1, (), 0, "--head-timeout", HEAD_TIMEOUT)
        c.start_gateway("--head-timeout", HEAD_TIMEOUT, "--body-timeout", "2")
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def key(limited: Cluster) -> str:
    return limited.create_key("limits")


@pytest.fixture
def bb(limited: Cluster, key: str) -> Browserbase:
    return Browserbase(api_key=key, base_url=f"http://127.0.0.1:{limited.gateway_port}",
                       max_retries=0)


class LeaseWatch:
    """Asks the control plane about a node every 100 ms for as long as it runs."""

    def __init__(self, cluster: Cluster, node: str = "n1") -> None:
        self.cluster, self.name = cluster, node
        self.seen: list[tuple[bool, int]] = []
        self.failures: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                n = self.cluster.node(self.name)
                self.seen.append((n.up, n.registered_at.ToNanoseconds()))
            except (grpc.RpcError, KeyError) as err:
                self.failures.append(repr(err))
            self._done.wait(0.1)

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        assert self.failures == [], self.failures[:3]
        assert self.seen and all(up for up, _ in self.seen), "the node went down"
        assert len({registered for _, registered in self.seen}) == 1, "the node re-registered"


# -- archives built by hand: a 1 MB zip that inflates to 1 GiB ---------------------------------

def _zeros_deflated(mib: int) -> tuple[bytes, int]:
    """A raw deflate stream of `mib` MiB of zeros, and its CRC, without deflating a GiB:
    one MiB deflated up to a full flush decodes the same wherever it stands in a stream."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    crc, zero = 0, bytes(1 << 20)
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    return piece * mib + c.flush(), crc


def zip_of(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip from (name, stored data, method, crc, declared inflated size) entries."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, method, crc, size in entries:
        raw = name.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data),
                              size, len(raw), 0) + raw + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc,
                                  len(data), size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    cd = central.getvalue()
    n = len(entries)
    return out.getvalue() + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd),
                                             out.tell(), 0)


MANIFEST = b'{"manifest_version": 3, "name": "bomb", "version": "1"}'


def _manifest_entry() -> tuple[str, bytes, int, int, int]:
    return ("manifest.json", MANIFEST, 0, zlib.crc32(MANIFEST), len(MANIFEST))


@pytest.fixture(scope="module")
def gib_of_zeros() -> tuple[bytes, int]:
    return _zeros_deflated(1024)


def bomb(gib_of_zeros: tuple[bytes, int], declared: int | None = None) -> bytes:
    data, crc = gib_of_zeros
    return zip_of([_manifest_entry(), ("big.bin", data, 8, crc,
                                       (1 << 30) if declared is None else declared)])


# -- extensions ------------------------------------------------------------------------------

def test_an_extension_zip_bomb_is_413_and_the_cluster_keeps_serving(
        limited: Cluster, bb: Browserbase, key: str, gib_of_zeros: tuple[bytes, int]):
    honest = bomb(gib_of_zeros)
    assert len(honest) < 2 << 20  # about 1 MB on the wire, 1 GiB inflated
    session = bb.sessions.create(keep_alive=True)
    url = f"http://127.0.0.1:{limited.gateway_port}/v1/extensions"
    try:
        with LeaseWatch(limited):
            with pytest.raises(APIStatusError) as caught:
                bb.extensions.create(file=("bomb.zip", honest))
            assert caught.value.status_code == 413
            # Headers that lie (a few bytes declared): inflating is counted, not trusted.
            answer = httpx.post(url, headers={"X-BB-API-Key": key}, timeout=30,
                                files={"file": ("liar.zip", bomb(gib_of_zeros, declared=1000))})
            assert answer.status_code in (400, 413), answer.text
            assert answer.json()["statusCode"] == answer.status_code
            # Declared sizes within the limits, but past them together.
            data, crc = _zeros_deflated(60)
            many = zip_of([_manifest_entry()] + [(f"part{i}.bin", data, 8, crc, 60 << 20)
                                                 for i in range(4)])
            answer = httpx.post(url, headers={"X-BB-API-Key": key}, timeout=30,
                                files={"file": ("many.zip", many)})
            assert answer.status_code == 413, answer.text
            body = answer.json()
            assert body["code"] == "payload_too_large" and body["error"] == "Payload Too Large"
            assert "128 MiB" in body["message"]
            # Too many entries.
            crowd = zip_of([_manifest_entry()] + [(f"f{i}", b"", 0, 0, 0) for i in range(10_001)])
            answer = httpx.post(url, headers={"X-BB-API-Key": key}, timeout=30,
                                files={"file": ("crowd.zip", crowd)})
            assert answer.status_code == 413, answer.text
            # Meanwhile, and after, the session works.
            with sync_playwright() as p:
                browser = p.chromium.connect_over_cdp(session.connect_url)
                assert browser.contexts[0].pages[0].evaluate("6 * 7") == 42
                browser.close()
        assert bb.sessions.retrieve(session.id).status == "RUNNING"
    finally:
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
    blobs = limited.tmp / "cp" / "blobs" / "extensions"
    assert not blobs.exists() or list(blobs.iterdir()) == []  # nothing refused was kept


@pytest.mark.parametrize("name", ["../evil.js", "/etc/evil.js", "a/../../evil.js", "a\\..\\evil"])
def test_an_extension_with_a_path_out_of_its_folder_is_refused(bb: Browserbase, name: str):
    archive = zip_of([_manifest_entry(), (name, b"x", 0, zlib.crc32(b"x"), 1)])
    with pytest.raises(BadRequestError, match="unsafe path"):
        bb.extensions.create(file=("slip.zip", archive))


def test_an_extension_with_a_symlink_is_refused(bb: Browserbase):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("manifest.json", MANIFEST)
        link = zipfile.ZipInfo("secret.txt")
        link.external_attr = 0o120777 << 16  # a symlink, as Info-ZIP stores one
        z.writestr(link, "/etc/shadow")
    with pytest.raises(BadRequestError, match="links are not allowed"):
        bb.extensions.create(file=("link.zip", buffer.getvalue()))


def test_a_good_extension_still_loads(bb: Browserbase):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ext/manifest.json", MANIFEST)
        z.writestr("ext/content.js", "console.log('hi')")
    extension = bb.extensions.create(file=("ok.zip", buffer.getvalue()))
    assert extension.file_name == "ok.zip"
    session = bb.sessions.create(extension_id=extension.id)
    bb.sessions.update(session.id, status="REQUEST_RELEASE")


# -- profiles --------------------------------------------------------------------------------

def test_a_profile_bomb_fails_its_own_session_only(limited: Cluster, key: str):
    md = (("authorization", f"Bearer {key}"),)
    profile = limited.stub.CreateProfile(cp.CreateProfileRequest(name="bomb"), metadata=md,
                                         timeout=10)
    # A saved profile whose one file says 3 GiB (a page can fill its storage with zeros).
    info = tarfile.TarInfo("Default/IndexedDB/huge.ldb")
    info.size = 3 << 30
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.fileobj.write(info.tobuf(tarfile.GNU_FORMAT))  # type: ignore[union-attr]
        tar.fileobj.write(bytes(1 << 20))  # type: ignore[union-attr]
        tar.offset += 512  # only the header is real; the gzip stream ends early
    chunks = [cp.DataChunk(id=profile.id, data=archive.getvalue())]
    limited.stub.WriteProfileData(iter(chunks), metadata=limited.admin, timeout=30)
    with LeaseWatch(limited):
        with pytest.raises(grpc.RpcError) as caught:
            limited.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
                profile=S.ProfileRef(profile_id=profile.id))), metadata=md, timeout=60)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "profile cannot be loaded" in caught.value.details()
        assert "inflates past 512 MiB" in caught.value.details()
        fine = limited.stub.CreateSession(cp.CreateSessionRequest(), metadata=md, timeout=60)
        assert fine.state == S.RUNNING
        limited.stub.TerminateSession(cp.TerminateSessionRequest(id=fine.id), metadata=md,
                                      timeout=10)


# -- downloads -------------------------------------------------------------------------------

def _peak_rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _stream_downloads(port: int, key: str, session_id: str) -> tuple[int, bytes]:
    """GETs /downloads, reading it in pieces; answers its size and its last 64 KiB."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", f"/v1/sessions/{session_id}/downloads", headers={"X-BB-API-Key": key})
        response = conn.getresponse()
        assert response.status == 200, response.read()[:500]
        size, tail = 0, b""
        while block := response.read(1 << 20):
            size += len(block)
            tail = (tail + block)[-65536:]
        return size, tail
    finally:
        conn.close()


def test_a_large_download_is_zipped_as_a_stream(limited: Cluster, bb: Browserbase, key: str):
    big = 400 << 20
    session = bb.sessions.create(keep_alive=True)
    downloads = session_dir(limited.browsers_root(), session.id) / "downloads"
    downloads.mkdir(exist_ok=True)
    with (downloads / "big.bin").open("wb") as fh:
        fh.truncate(big)  # sparse: costs no disk, reads as zeros
    (downloads / "notes.txt").write_text("small and deflated")
    node_pid = limited.nodes["n1"].proc.pid
    cp_pid = limited.controlplane.proc.pid
    node_before, cp_before = _peak_rss_mib(node_pid), _peak_rss_mib(cp_pid)
    with LeaseWatch(limited):
        size, tail = _stream_downloads(limited.gateway_port, key, session.id)
        assert size > big
        assert b"big.bin" in tail and b"notes.txt" in tail and b"PK\x05\x06" in tail
        assert _peak_rss_mib(node_pid) - node_before < 150
        # Ending the session hands the same zip to the control plane, streamed too.
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
        kept, kept_tail = _stream_downloads(limited.gateway_port, key, session.id)
        assert kept == size and b"big.bin" in kept_tail
    assert _peak_rss_mib(node_pid) - node_before < 150
    assert _peak_rss_mib(cp_pid) - cp_before < 150


# -- slow and huge request heads --------------------------------------------------------------

def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(30)  # a bound for the test, far past the head timeout
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
        return answer.status == 200


def test_a_half_sent_head_is_dropped_while_others_are_served(limited: Cluster):
    port = limited.gateway_port
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-BB-API-")
    try:
        assert all(_healthy(port) for _ in range(5))  # others are served meanwhile
        answer = _read_all(slow)
    finally:
        slow.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_a_kept_alive_connection_that_stalls_mid_head_is_closed(limited: Cluster):
    sock = socket.create_connection(("127.0.0.1", limited.gateway_port))
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(30)
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        head, _, body = first.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(65536)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        assert _read_all(sock) == b""  # closed, no answer to a head never finished
    finally:
        sock.close()


def test_a_body_that_stops_arriving_is_dropped_while_others_are_served(limited: Cluster, key: str):
    port = limited.gateway_port
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-BB-API-Key: " + key.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"a\": ")
    try:
        assert all(_healthy(port) for _ in range(5))  # others are served meanwhile
        answer = _read_all(slow)
    finally:
        slow.close()
    assert b"201" not in answer[:20]  # closed (or refused), never served
    assert _healthy(port)


def test_a_head_past_the_cap_is_431(limited: Cluster):
    relay = int(limited.node("n1").relay_address.rsplit(":", 1)[1])
    for port in (limited.gateway_port, relay):
        sock = socket.create_connection(("127.0.0.1", port))
        try:
            # Just past 64 KiB, in one piece: the server refuses once it has read it all.
            padding = b"".join(b"X-Padding-%d: %s\r\n" % (i, b"a" * 1000) for i in range(66))
            sock.sendall(b"GET /session/x/json/version HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding)
            answer = _read_all(sock)
        finally:
            sock.close()
        assert answer.startswith(b"HTTP/1.1 431 "), (port, answer[:200])


def test_the_node_relay_drops_a_half_sent_head(limited: Cluster, bb: Browserbase):
    relay = int(limited.node("n1").relay_address.rsplit(":", 1)[1])
    session = bb.sessions.create(keep_alive=True)
    slow = socket.create_connection(("127.0.0.1", relay))
    try:
        slow.sendall(f"GET /session/{session.id}/json/version HTTP/1.1\r\nHost: 1".encode())
        token = session.connect_url.split("token=", 1)[1]
        url = f"http://127.0.0.1:{relay}/session/{session.id}/json/version?token={token}"
        for _ in range(3):  # the relay serves others meanwhile
            with urllib.request.urlopen(url, timeout=10) as served:
                assert served.status == 200 and b"webSocketDebuggerUrl" in served.read()
        answer = _read_all(slow)
    finally:
        slow.close()
        bb.sessions.update(session.id, status="REQUEST_RELEASE")
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


# -- the readers themselves (sans sockets) -----------------------------------------------------

LIMITS = archives.Limits(entry_bytes=1 << 20, total_bytes=2 << 20, entries=10)


def test_zip_reader_counts_what_it_inflates(tmp_path: pathlib.Path):
    data, crc = _zeros_deflated(3)
    liar = tmp_path / "liar.zip"
    liar.write_bytes(zip_of([("a.bin", data, 8, crc, 100)]))  # declares 100 bytes, holds 3 MiB
    with pytest.raises(archives.ArchiveError):
        archives.extract_zip(liar, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists()  # all or nothing
    two = tmp_path / "two.zip"
    one, crc1 = _zeros_deflated(1)
    two.write_bytes(zip_of([(f"{i}.bin", one, 8, crc1, 1 << 20) for i in range(3)]))
    with pytest.raises(archives.ArchiveError, match="inflates past 2 MiB") as caught:
        archives.check_zip(two, LIMITS)
    assert caught.value.too_large
    dup = tmp_path / "dup.zip"
    dup.write_bytes(zip_of([("a", b"1", 0, zlib.crc32(b"1"), 1), ("a", b"2", 0, zlib.crc32(b"2"), 1)]))
    with pytest.raises(archives.ArchiveError, match="clashes"):
        archives.extract_zip(dup, tmp_path / "dup", LIMITS)


def _tar_gz(path: pathlib.Path, *members: tuple[tarfile.TarInfo, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))


def test_tar_reader_refuses_paths_links_and_sizes(tmp_path: pathlib.Path):
    def member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE,
               link: str = "") -> tuple[tarfile.TarInfo, bytes]:
        info = tarfile.TarInfo(name)
        info.size, info.type, info.linkname = len(data) if kind == tarfile.REGTYPE else 0, kind, link
        return info, data

    cases = {
        "slip": [member("../../etc/cron.d/evil")],
        "absolute": [member("/etc/evil")],
        "symlink": [member("Default/Cookies", kind=tarfile.SYMTYPE, link="/etc/shadow")],
        "hardlink": [member("Default/x", kind=tarfile.LNKTYPE, link="/etc/shadow")],
        "fifo": [member("Default/pipe", kind=tarfile.FIFOTYPE)],
        "big": [member("Default/big", bytes(3 << 20))],
        "crowd": [member(f"f{i}") for i in range(11)],
    }
    for name, members in cases.items():
        archive = tmp_path / f"{name}.tar.gz"
        _tar_gz(archive, *members)
        with pytest.raises(archives.ArchiveError):
            archives.extract_tar_gz(archive, tmp_path / name, LIMITS)
        assert not (tmp_path / "etc").exists()
    # A pax header is read whole by tarfile, before any member: the stream itself is capped.
    pax = tmp_path / "pax.tar.gz"
    info = tarfile.TarInfo("Default/a")
    info.pax_headers = {"comment": "z" * (5 << 20)}
    with tarfile.open(pax, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(archives.ArchiveError, match="inflates past"):
        archives.extract_tar_gz(pax, tmp_path / "pax", LIMITS)
    good = tmp_path / "good.tar.gz"
    _tar_gz(good, member("Default/Preferences", b"{}"))
    archives.extract_tar_gz(good, tmp_path / "good", LIMITS)
    assert (tmp_path / "good" / "Default" / "Preferences").read_bytes() == b"{}"


def test_leases_forgive_the_control_planes_own_stalls():
    registry = NodeRegistry(lease_seconds=5)
    node = cp.Node(id="n", grpc_address="127.0.0.1:1", relay_address="127.0.0.1:2")
    asyncio.run(registry.register(node))
    registry.nodes["n"].lease_expires = time.time() - 1  # would lapse now...
    registry.forgive(10)  # ...but the loop was held up for 10 s
    assert registry.expired() == []


def test_a_held_up_control_plane_does_not_lapse_leases(limited: Cluster, key: str):
    """The control plane frozen past a lease (a pause, a starved machine): once it runs again,
    the heartbeats that waited count, and no node or session is failed for its own stall."""
    md = (("authorization", f"Bearer {key}"),)
    session = limited.stub.CreateSession(cp.CreateSessionRequest(options=S.SessionOptions(
        keep_alive=True)), metadata=md, timeout=60)
    registered = limited.node("n1").registered_at.ToNanoseconds()
    plane = limited.controlplane.proc
    plane.send_signal(signal.SIGSTOP)
    try:
        time.sleep(4)  # past the 3 s lease
    finally:
        plane.send_signal(signal.SIGCONT)
    with LeaseWatch(limited):
        time.sleep(2)  # a few heartbeats' worth of watching
    assert limited.node("n1").registered_at.ToNanoseconds() == registered
    again = limited.stub.GetSession(cp.GetSessionRequest(id=session.id), metadata=md, timeout=10)
    assert again.state == S.RUNNING, again.end_reason
    limited.stub.TerminateSession(cp.TerminateSessionRequest(id=session.id), metadata=md,
                                  timeout=10)
