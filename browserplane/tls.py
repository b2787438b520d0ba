"""TLS between components, from PEM files: one place that loads them for every server and client.

Every component takes `--tls-cert`, `--tls-key` and `--tls-ca`. With all three, its gRPC server
asks every client for a certificate signed by the CA (mutual TLS) and its clients present their
own; the node's CDP relay serves TLS with the same pair. Certificates must name the host the
component advertises (a DNS or IP subject alternative name): clients check it. Where that cannot
be (pods whose IPs are known only once they run, one Secret for all), `--tls-server-name` makes
clients expect that one name in every server certificate instead (gRPC's
`grpc.ssl_target_name_override`, the TLS server name of relay connections): the certificate
must still chain to the CA.
"""

from __future__ import annotations

import dataclasses
import pathlib
import ssl

import grpc


class _NamedContext(ssl.SSLContext):
    """A client context that checks every server certificate against one fixed name."""

    expected_name = ""

    def wrap_bio(self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool = False,
                 server_hostname: str | bytes | None = None, session: ssl.SSLSession | None = None,
                 ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.expected_name, session)

    def wrap_socket(self, sock: object, *args: object, **kwargs: object) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.expected_name
        return super().wrap_socket(sock, *args, **kwargs)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    cert: str = ""
    key: str = ""
    ca: str = ""
    server_name: str = ""  # expected in servers' certificates instead of the address dialed

    @classmethod
    def of(cls, settings: object, component: str) -> TlsFiles:
        """The `tls_cert`/`tls_key`/`tls_ca`/`tls_server_name` of a component's settings (or a
        CLI command's arguments), checked."""
        return cls(*(getattr(settings, f"tls_{name}") for name in ("cert", "key", "ca", "server_name"))
                   ).check(component)

    @property
    def enabled(self) -> bool:
        return bool(self.cert or self.key or self.ca)

    def check(self, component: str) -> TlsFiles:
        """Refuses a half configuration (it would silently fall back to plaintext somewhere)."""
        if not self.enabled:
            return self
        missing = [name for name, value in (("--tls-cert", self.cert), ("--tls-key", self.key),
                                            ("--tls-ca", self.ca)) if not value]
        if missing:
            raise SystemExit(f"{component}: TLS needs --tls-cert, --tls-key and --tls-ca together "
                             f"(missing {', '.join(missing)})")
        for name, value in (("--tls-cert", self.cert), ("--tls-key", self.key),
                            ("--tls-ca", self.ca)):
            if not pathlib.Path(value).is_file():
                raise SystemExit(f"{component}: {name} {value} is not a readable file")
        # Loaded once here so a bad file stops the start with its name, not a trace later.
        try:
            probe = ssl.create_default_context(cafile=self.ca)
            probe.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as err:
            raise SystemExit(f"{component}: cannot use --tls-cert/--tls-key/--tls-ca: {err}") from None
        return self

    def _read(self) -> tuple[bytes, bytes, bytes]:
        return (pathlib.Path(self.cert).read_bytes(), pathlib.Path(self.key).read_bytes(),
                pathlib.Path(self.ca).read_bytes())

    def server_credentials(self) -> grpc.ServerCredentials:
        cert, key, ca = self._read()
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                           require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        cert, key, ca = self._read()
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                            certificate_chain=cert)

    def server_context(self, require_client_cert: bool = True) -> ssl.SSLContext:
        """For a TLS listener that is not gRPC (the node's CDP relay)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """For connections to a component's TLS listener: checks its name, shows our cert."""
        if self.server_name:
            ctx: ssl.SSLContext = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.expected_name = self.server_name  # type: ignore[attr-defined]
            ctx.load_verify_locations(cafile=self.ca)
        else:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def channel_options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def https_context(cert: str, key: str) -> ssl.SSLContext | None:
    """The gateway's public HTTPS/WSS listener (no client certificates), or None for plain HTTP."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise SystemExit("gateway: --https-cert and --https-key go together")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as err:
        raise SystemExit(f"gateway: cannot use --https-cert/--https-key: {err}") from None
    # HTTP/1.1 only: the CDP endpoint reads an HTTP/1.1 head and splices bytes after it.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


CERT_HELP = ("PEM certificate this component shows on gRPC (server and client) and on the node's "
             "CDP relay; TLS is on when --tls-cert, --tls-key and --tls-ca are all set")
KEY_HELP = "PEM private key of --tls-cert"
CA_HELP = ("PEM CA bundle: peers' certificates must chain to it (servers require a client "
           "certificate from it: mutual TLS)")
SERVER_NAME_HELP = ("name every server certificate must carry, instead of the address dialed "
                    "(grpc.ssl_target_name_override; for one certificate shared by pods whose IPs "
                    "are not known in advance); empty = check the address")
HEALTH_PORT_HELP = ("plaintext port serving only grpc.health.v1, for probes that cannot do TLS "
                    "(Kubernetes' gRPC probe); 0 = off")
