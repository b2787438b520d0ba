"""Kernel egress rules for the node's browser users: the one mechanism that holds whatever a
page or a CDP client does.

Every browser runs as a uid of its own from the node's block (`node/sandbox.py`), and one
`OUTPUT` rule for that block, made before any browser starts, sends all their packets through
a chain of this node's that refuses the
egress policy's ranges and the machine's own addresses (`browserplane/egress.py`). The kernel
sees the address actually connected to, after any DNS answer, proxy setting, redirect,
WebSocket, WebRTC or per-context proxy a CDP client configured (`Target.createBrowserContext`
takes a `proxyServer`, so a proxy alone could be bypassed). Replies on connections made *to*
the browser (the agent's and the gateway's DevTools connections) pass as established traffic.
TCP is refused with a reset (the page sees ERR_CONNECTION_REFUSED at once, no timeout).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import pathlib
import shutil
import socket
import subprocess

from browserplane.egress import BLOCKED_NETWORKS, EgressPolicy

log = logging.getLogger(__name__)


class EgressRulesError(RuntimeError):
    pass


def nameservers(resolv_conf: pathlib.Path = pathlib.Path("/etc/resolv.conf")) -> list[str]:
    """The resolvers browsers ask for names (often a private or loopback address)."""
    found = []
    try:
        for line in resolv_conf.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                try:
                    found.append(str(ipaddress.ip_address(parts[1].split("%")[0])))
                except ValueError:
                    continue
    except OSError:
        pass
    return found


class KernelEgress:
    """This node's iptables/ip6tables chain for its browser uids."""

    def __init__(self, key: str, uids: tuple[int, int], policy: EgressPolicy) -> None:
        self.chain = "BP-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        self.uids = uids
        self.policy = policy
        self.tools = [t for t in ("iptables", "ip6tables") if shutil.which(t)]

    def _rules(self, version: int) -> list[list[str]]:
        rules: list[list[str]] = [["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]]
        for rule in self.policy.allow:
            networks = [rule.network] if rule.network is not None else _resolve_host(rule.host)
            for net in networks:
                if net.version != version:
                    continue
                if rule.ports is None:
                    rules.append(["-d", str(net), "-j", "ACCEPT"])
                else:
                    low, high = rule.ports
                    for proto in ("tcp", "udp"):
                        rules.append(["-d", str(net), "-p", proto, "--dport", f"{low}:{high}",
                                      "-j", "ACCEPT"])
        for server in nameservers():
            if ipaddress.ip_address(server).version == version:
                for proto in ("udp", "tcp"):
                    rules.append(["-d", server, "-p", proto, "--dport", "53", "-j", "ACCEPT"])
        targets = [["-m", "addrtype", "--dst-type", "LOCAL"]]
        targets += [["-d", str(n)] for n in BLOCKED_NETWORKS if n.version == version]
        targets += [["-d", str(a)] for a in sorted(self.policy.own_addresses, key=str)
                    if a.version == version]
        for match in targets:
            rules.append([*match, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"])
            rules.append([*match, "-j", "REJECT"])
        return rules

    def _run(self, tool: str, *args: str, check: bool = True) -> bool:
        done = subprocess.run([tool, "-w", "5", *args], capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise EgressRulesError(f"{tool} {' '.join(args)}: {done.stderr.strip()}")
        return done.returncode == 0

    def install(self) -> None:
        """Replaces this node's chain (left over from a previous run, or new). The node's uid
        block is hooked into it (`attach`), so two nodes on one machine, each with its own
        exceptions, never judge each other's browsers."""
        if "iptables" not in self.tools:
            raise EgressRulesError("iptables is not installed (apt-get install -y iptables)")
        self.remove()
        for tool in self.tools:
            version = 6 if tool == "ip6tables" else 4
            self._run(tool, "-N", self.chain)
            for rule in self._rules(version):
                self._run(tool, "-A", self.chain, *rule)
        log.info("egress rules installed", extra={"fields": {
            "chain": self.chain, "uids": f"{self.uids[0]}-{self.uids[1]}",
            "allow": self.policy.allow_text()}})

    def attach(self, uids: tuple[int, int]) -> None:
        """Every packet of the node's browser uids goes through its chain (before any starts)."""
        owner = f"{uids[0]}-{uids[1]}"
        for tool in self.tools:
            self._run(tool, "-I", "OUTPUT", "1", "-m", "owner", "--uid-owner", owner, "-j", self.chain)

    def remove(self) -> None:
        for tool in self.tools:
            listed = subprocess.run([tool, "-w", "5", "-S", "OUTPUT"], capture_output=True, text=True,
                                    check=False).stdout
            for line in listed.splitlines():
                if line.startswith("-A OUTPUT ") and line.endswith(f"-j {self.chain}"):
                    self._run(tool, "-D", *line.split()[1:], check=False)
            self._run(tool, "-F", self.chain, check=False)
            self._run(tool, "-X", self.chain, check=False)


def _resolve_host(host: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A host name in the allow list, as the addresses it has when the rules are made."""
    if host.startswith("*."):
        log.warning("wildcard egress exceptions only apply to server-side fetches",
                    extra={"fields": {"host": host}})
        return []
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        log.warning("egress exception does not resolve", extra={"fields": {"host": host}})
        return []
    return [ipaddress.ip_network(a.split("%")[0]) for a in {str(info[4][0]) for info in infos}]
