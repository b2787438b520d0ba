"""The address a component tells others to reach it at: never a wildcard bind address.

A server bound to 0.0.0.0 or :: listens on every interface, but `ws://0.0.0.0:…` handed to a
client on another machine reaches nothing. Without an explicit advertise host, a wildcard bind
advertises the machine's own address: the one of the interface the default route leaves by,
else the one the hostname resolves to, else loopback.
"""

from __future__ import annotations

import ipaddress
import socket

WILDCARDS = {"", "0.0.0.0", "::", "[::]", "*"}


def is_wildcard(host: str) -> bool:
    return host.strip() in WILDCARDS


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_multicast)


def _default_route_address(family: int, probe: str) -> str:
    # connect() on a UDP socket only picks the route and source address: no packet is sent.
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            return s.getsockname()[0]
    except OSError:
        return ""


def _hostname_address() -> str:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except OSError:
        return ""
    for family in (socket.AF_INET, socket.AF_INET6):
        for info in infos:
            if info[0] == family and _usable(str(info[4][0])):
                return str(info[4][0])
    return ""


def _default_gateway() -> str:
    """The IPv4 gateway of the default route (Linux /proc/net/route), or ""."""
    try:
        with open("/proc/net/route") as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
                    return str(ipaddress.IPv4Address(bytes.fromhex(fields[2])[::-1]))
    except (OSError, ValueError):
        pass
    return ""


def machine_address() -> str:
    """This machine's address for others to reach: default-route interface, hostname, loopback."""
    # Toward the default gateway (or, without /proc, a public address): the source address the
    # kernel picks is the default-route interface's.
    probes = [(socket.AF_INET, _default_gateway() or "8.8.8.8"),
              (socket.AF_INET6, "2001:4860:4860::8888")]
    for family, probe in probes:
        found = _default_route_address(family, probe)
        if _usable(found):
            return found
    return _hostname_address() or "127.0.0.1"


def advertised(bind_host: str, advertise_host: str = "") -> str:
    """What to hand out for a server bound to `bind_host`: the explicit advertise host, the bind
    host when it names one interface, or the machine's address for a wildcard bind."""
    if advertise_host.strip():
        return advertise_host.strip()
    return machine_address() if is_wildcard(bind_host) else bind_host


def host_port(host: str, port: int) -> str:
    """host:port, with an IPv6 literal bracketed."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
