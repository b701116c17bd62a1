"""The host network's nftables table as text (runtime.process.nat.nat_ruleset): the masquerade
always, the agent endpoint's mapping of 169.254.170.2:80 only while it serves, and the output chain
going first while the server has host-network tasks."""

from __future__ import annotations

import re

from ecslite.runtime.process.nat import nat_ruleset


def chain(ruleset: str, name: str) -> str | None:
    found = re.search(rf"chain {name} \{{\n(.*?)\n \}}", ruleset, re.S)
    return found[1] if found else None


def test_without_the_agent_the_table_only_masquerades() -> None:
    ruleset = nat_ruleset("ecslite-br0", "br0", ["10.0.0.0/16", "10.9.0.0/24"])
    assert ruleset.startswith("table ip ecslite-br0 {}\ndelete table ip ecslite-br0\ntable ip ecslite-br0 {\n")
    postrouting = chain(ruleset, "postrouting")
    assert postrouting is not None
    assert 'ip saddr { 10.0.0.0/16, 10.9.0.0/24 } oifname != "br0" masquerade' in postrouting
    assert chain(ruleset, "prerouting") is None and chain(ruleset, "output") is None
    assert "dnat" not in ruleset


def test_the_agent_mapping_sends_port_80_from_the_bridge_and_from_the_host() -> None:
    ruleset = nat_ruleset("ecslite-br0", "br0", ["10.0.0.0/16"], agent_port=51679)
    prerouting, output = chain(ruleset, "prerouting"), chain(ruleset, "output")
    assert prerouting is not None and output is not None
    assert "type nat hook prerouting priority -100;" in prerouting
    assert 'iifname "br0" ip daddr 169.254.170.2 tcp dport 80 dnat to 169.254.170.2:51679' in prerouting
    assert "type nat hook output priority -100;" in output
    assert "ip daddr 169.254.170.2 tcp dport 80 dnat to 127.0.0.1:51679" in output


def test_host_tasks_put_the_output_chain_first() -> None:
    ruleset = nat_ruleset("ecslite-br0", "br0", ["10.0.0.0/16"], agent_port=40001, host_tasks=True)
    output = chain(ruleset, "output")
    assert output is not None and "type nat hook output priority -101;" in output
    assert "dnat to 127.0.0.1:40001" in output
