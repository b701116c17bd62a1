"""The host network's nftables table, ``ecslite-<bridge>`` (:mod:`.network`; spec/ecs.md §9).

It holds, in ``ip`` family nat chains:

- ``postrouting``: masquerade of what tasks (the VPC and every subnet in use) send beyond the host;
- while the agent endpoint serves (:mod:`ecslite.agent.listener`), its mapping of
  ``169.254.170.2:80``, as the ECS agent's iptables DNAT does on EC2: ``prerouting`` sends packets
  from the bridge to ``169.254.170.2:<port>`` (the endpoint's listener on the bridge; the task's
  source address stays, and says who is asking), ``output`` sends the host's own to
  ``127.0.0.1:<port>``. Nothing holds port 80, so a ``host`` task may bind ``0.0.0.0:80``.

There is one ``169.254.170.2`` per host, so with several servers on one machine the host's own
requests reach one of them: the first nat ``output`` chain that maps a connection wins, and a server
with ``host`` tasks puts its chain at ``dstnat - 1``, ahead of the others, since only those tasks have
tokens to read from the host.

Invariant: the table is always replaced whole, in one ``nft -f`` transaction, from this object's
fields, so it holds no rule they do not explain. Installing blocks (a subprocess): callers run it
on their own thread.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)

METADATA_ADDRESS = "169.254.170.2"
METADATA_PORT = 80
AGENT_LOOPBACK = "127.0.0.1"
DSTNAT = -100  # nftables' dstnat priority
MISSING = "nft is not installed (apt-get install nftables): tasks reach this host but not beyond it"


class NatUnavailable(OSError):
    """nftables cannot make the table (``nft`` missing, or refusing it); the message says which."""


def nat_ruleset(
    table: str, bridge: str, ranges: list[str], *, agent_port: int | None = None, host_tasks: bool = False
) -> str:
    """The whole table as one ``nft -f`` transaction: made if missing, emptied, filled again."""
    chains = [
        "chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n"
        f'  ip saddr {{ {", ".join(ranges)} }} oifname != "{bridge}" masquerade\n }}'
    ]
    if agent_port is not None:
        metadata = f"ip daddr {METADATA_ADDRESS} tcp dport {METADATA_PORT}"
        chains.append(
            f"chain prerouting {{\n  type nat hook prerouting priority {DSTNAT}; policy accept;\n"
            f'  iifname "{bridge}" {metadata} dnat to {METADATA_ADDRESS}:{agent_port}\n }}'
        )
        priority = DSTNAT - 1 if host_tasks else DSTNAT
        chains.append(
            f"chain output {{\n  type nat hook output priority {priority}; policy accept;\n"
            f"  {metadata} dnat to {AGENT_LOOPBACK}:{agent_port}\n }}"
        )
    body = "".join(f" {chain}\n" for chain in chains)
    return f"table ip {table} {{}}\ndelete table ip {table}\ntable ip {table} {{\n{body}}}\n"


class NatTable:
    """What the table should hold (the fields) and the calls that make it so."""

    def __init__(self, bridge: str, vpc_cidr: str) -> None:
        self.name = f"ecslite-{bridge}"
        self.bridge = bridge
        self.ranges: set[str] = {vpc_cidr}
        self.agent_port: int | None = None
        self.host_tasks = False
        self.reason: str | None = None  # why the last install failed, or None

    def install(self) -> str | None:
        """Replace the table with what the fields say; why that failed, or ``None``."""
        nft = shutil.which("nft")
        if nft is None:
            self.reason = MISSING
            log.warning("no outbound NAT for tasks", extra={"reason": self.reason})
            return self.reason
        ruleset = nat_ruleset(
            self.name, self.bridge, sorted(self.ranges), agent_port=self.agent_port, host_tasks=self.host_tasks
        )
        result = subprocess.run([nft, "-f", "-"], input=ruleset, capture_output=True, text=True, check=False)
        self.reason = None if result.returncode == 0 else f"nft refused the NAT table: {result.stderr.strip()}"
        return self.reason

    def delete(self) -> None:
        nft = shutil.which("nft")
        if nft is not None:
            subprocess.run([nft, "delete", "table", "ip", self.name], capture_output=True, check=False)
