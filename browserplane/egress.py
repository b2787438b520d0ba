"""The egress policy: pages and server-side fetches reach the web, not the platform.

One definition of what is refused (loopback, link-local and metadata addresses, private and
other special ranges, the machine's own addresses) and of the operator's exceptions
(`BROWSERPLANE_EGRESS_ALLOW`), used by every component that makes or allows outbound
connections: the node turns it into kernel rules for its browsers (`node/egress_rules.py`) and
checks navigations up front for a clear error, and server-side fetches (`/v1/fetch`, uploads
from a URL) resolve, check and connect through `guarded_fetch`, on every redirect hop.

Addresses are judged after resolution, so obfuscated literals (`0x7f.0.0.1`, `2130706433`),
IPv4-mapped IPv6 and DNS names that resolve to a refused address are all refused alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import re
import socket
import subprocess
import urllib.parse
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

ENV = "BROWSERPLANE_EGRESS_ALLOW"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What no page and no server-side fetch reaches unless an operator allows it.
BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8",          # "this network"; 0.0.0.0 reaches local listeners
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # private
    "100.64.0.0/10",      # carrier-grade NAT, cloud-internal in places
    "127.0.0.0/8",        # loopback: every platform port, every browser's DevTools port
    "169.254.0.0/16",     # link-local, cloud metadata (169.254.169.254)
    "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",  # multicast, reserved and broadcast
    "::/128", "::1/128",  # unspecified, loopback
    "::ffff:0:0/96",      # IPv4-mapped (checked as IPv4 too)
    "64:ff9b::/96", "64:ff9b:1::/48",  # NAT64: would reach any IPv4 address
    "100::/64", "2001:db8::/32", "2002::/16",  # discard, documentation, 6to4 (embeds IPv4)
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",  # unique-local, link-local, multicast
))


class EgressDenied(OSError):
    """A destination the egress policy refuses. An OSError, so HTTP clients that wrap
    connection errors keep it as the cause."""

    def __init__(self, host: str, address: str, port: int) -> None:
        self.host, self.address, self.port = host, address, port
        shown = host if host == address else f"{host} ({address})"
        allow = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        super().__init__(
            f"egress_denied: {shown} port {port} is a loopback, private, link-local or platform "
            f"address, which sessions may not reach; an operator can allow it with "
            f"{ENV}={allow} (or --egress-allow)")


@dataclasses.dataclass(frozen=True)
class AllowRule:
    """`HOST-or-CIDR[:PORT|:PORT-PORT]`: a network or a host name, and an optional port range."""

    network: IPNetwork | None
    host: str
    ports: tuple[int, int] | None

    def matches_port(self, port: int) -> bool:
        return self.ports is None or self.ports[0] <= port <= self.ports[1]


_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9*]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}"
                       r"[a-z0-9])?)*$")


def parse_rule(text: str) -> AllowRule:
    """One allow entry; raises ValueError with what is wrong."""
    entry = text.strip()
    ports: tuple[int, int] | None = None
    host = entry
    if entry.startswith("["):  # [v6]:port or [v6/len]:port
        close = entry.find("]")
        if close < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = entry[1:close], entry[close + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':PORT' after ']'")
            ports = _parse_ports(rest[1:], text)
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
        ports = _parse_ports(port_text, text)
    if not host:
        raise ValueError(f"{text!r}: no host or network")
    try:
        return AllowRule(ipaddress.ip_network(host, strict=False), "", ports)
    except ValueError:
        pass
    name = host.lower().rstrip(".")
    if not _HOSTNAME.match(name):
        raise ValueError(f"{text!r}: not a host name, an IP address or a CIDR network")
    return AllowRule(None, name, ports)


def _parse_ports(text: str, entry: str) -> tuple[int, int]:
    match = _PORTS.match(text)
    if not match:
        raise ValueError(f"{entry!r}: ports are PORT or PORT-PORT")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{entry!r}: ports run from 1 to 65535, low to high")
    return low, high


def parse_allow(values: Iterable[str]) -> tuple[AllowRule, ...]:
    """Allow entries from flags and the variable (each may itself be comma-separated)."""
    rules = []
    for value in values:
        rules += [parse_rule(part) for part in str(value).split(",") if part.strip()]
    return tuple(rules)


def _normalize(address: str) -> IPAddress:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def local_addresses() -> frozenset[IPAddress]:
    """This machine's own interface addresses (a public one reaches the platform's ports too)."""
    found: set[IPAddress] = set()
    try:
        out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, timeout=5,
                             check=False).stdout
        for link in json.loads(out or b"[]"):
            for info in link.get("addr_info", []):
                try:
                    found.add(_normalize(info["local"]))
                except (KeyError, ValueError):
                    continue
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(_normalize(str(info[4][0])))
    except (OSError, ValueError):
        pass
    return frozenset(found)


@dataclasses.dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[AllowRule, ...] = ()
    own_addresses: frozenset[IPAddress] = frozenset()

    @classmethod
    def load(cls, values: Iterable[str] = ()) -> EgressPolicy:
        """The policy with the operator's exceptions (a component's `--egress-allow`, which
        falls back to `BROWSERPLANE_EGRESS_ALLOW`); a bad entry stops the component."""
        try:
            return cls(parse_allow(values), local_addresses())
        except ValueError as err:
            raise SystemExit(f"--egress-allow ({ENV}): {err}") from None

    def allow_text(self) -> str:
        """The exceptions as one `BROWSERPLANE_EGRESS_ALLOW` value, to hand to a child process."""
        parts = []
        for rule in self.allow:
            host = str(rule.network) if rule.network is not None else rule.host
            if rule.network is not None and rule.network.version == 6 and rule.ports:
                host = f"[{host}]"
            if rule.ports:
                low, high = rule.ports
                host += f":{low}" if low == high else f":{low}-{high}"
            parts.append(host)
        return ",".join(parts)

    def refused(self, address: str) -> bool:
        """True when `address` is in a refused range or is one of this machine's own."""
        ip = _normalize(address)
        return ip in self.own_addresses or any(ip in net for net in BLOCKED_NETWORKS
                                               if net.version == ip.version)

    def allowed_by_rule(self, address: str, port: int, host: str = "") -> bool:
        ip = _normalize(address)
        name = host.lower().rstrip(".")
        for rule in self.allow:
            if not rule.matches_port(port):
                continue
            if rule.network is not None and ip.version == rule.network.version and ip in rule.network:
                return True
            if rule.host and name and (rule.host == name or (
                    rule.host.startswith("*.") and name.endswith(rule.host[1:]))):
                return True
        return False

    def permits(self, address: str, port: int, host: str = "") -> bool:
        try:
            return not self.refused(address) or self.allowed_by_rule(address, port, host)
        except ValueError:
            return False

    def check(self, address: str, port: int, host: str = "") -> None:
        if not self.permits(address, port, host):
            raise EgressDenied(host or address, address, port)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The permitted addresses `host` resolves to; EgressDenied when there are none."""
        host = host.strip("[]")
        try:
            literal = str(_normalize(host))
        except ValueError:
            literal = ""  # a name (or an obfuscated literal that only the resolver reads)
        if literal:
            self.check(literal, port, host)
            return [literal]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        permitted = [a for a in addresses if self.permits(a, port, host)]
        if not permitted:
            raise EgressDenied(host, addresses[0] if addresses else host, port)
        return permitted

    async def check_url(self, url: str) -> None:
        """Raises EgressDenied when an http(s)/ws(s) URL's host is refused (other schemes pass)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            return
        try:
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        except ValueError:
            return  # the browser refuses a bad port itself
        try:
            await self.resolve(parts.hostname, port)
        except EgressDenied:
            raise
        except OSError:
            return  # a name that does not resolve fails in the browser with its own error


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that hands the connector only permitted addresses, so what is checked is
    what is connected to (no second lookup a DNS rebinding could answer differently)."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        addresses = await self.policy.resolve(host, port)
        return [ResolveResult(hostname=host, host=a, port=port,
                              family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST) for a in addresses]

    async def close(self) -> None:
        return None


def guarded_session(policy: EgressPolicy, timeout: float, **kwargs: object) -> aiohttp.ClientSession:
    """An aiohttp session whose every connection goes through the egress policy."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout),
                                 **kwargs)  # type: ignore[arg-type]


class TooManyRedirects(Exception):
    pass


async def guarded_get(client: aiohttp.ClientSession, policy: EgressPolicy, url: str, *,
                      follow_redirects: bool = True, max_redirects: int = 10,
                      **kwargs: object) -> aiohttp.ClientResponse:
    """GET `url` through a `guarded_session`, following redirects by hand so every hop meets the
    policy before it is contacted, and again at connect time through the session's resolver.
    A refusal is raised as EgressDenied, however aiohttp wrapped it. The caller reads and
    releases the answer."""
    for _ in range(max_redirects + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url}: only absolute http(s) URLs are fetched")
        # Resolved here too, not only by the session's resolver: aiohttp skips the resolver for
        # IP literals and refuses obfuscated ones (2130706433) before it, with no egress reason.
        await policy.resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        try:
            response = await client.get(url, allow_redirects=False, **kwargs)  # type: ignore[arg-type]
        except aiohttp.ClientConnectorError as err:
            if isinstance(err.os_error, EgressDenied):
                raise err.os_error from None
            raise
        location = response.headers.get("Location")
        if not follow_redirects or response.status not in (301, 302, 303, 307, 308) or not location:
            return response
        response.release()
        url = urllib.parse.urljoin(url, location)
    raise TooManyRedirects(f"more than {max_redirects} redirects")
