"""A task sandbox's files under ``<runtime_dir>/network/<task id>/`` (:mod:`.network`): its state
record, ``state.json``, and the ``hosts``, ``resolv.conf`` and ``hostname`` its containers mount.

The state says what the sandbox is made of (namespace, host veth, address, gateway, resolvers,
published ports), so whatever a crash leaves behind can be found and removed; it is written before
anything is made for the task. Every file is replaced whole (written aside, then renamed), so a
reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecslite.runtime.base import SandboxSpec
from ecslite.runtime.process import netns
from ecslite.runtime.process.dns import HOST_RESOLV_CONF

NAMESPACED_MODES = ("awsvpc", "bridge", "none")
ADDRESSED_MODES = ("awsvpc", "bridge")

State = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SandboxNetwork:
    task_id: str
    netns_path: str | None  # /run/netns/<name>; None for host mode (containers stay in the host netns)
    hosts_file: Path  # bind-mounted at /etc/hosts in every container of the task
    resolv_file: Path  # bind-mounted at /etc/resolv.conf
    hostname_file: Path  # bind-mounted at /etc/hostname
    ipv4: str | None
    mac_address: str | None
    host_veth: str | None


def initial_state(spec: SandboxSpec, *, netns_name: str, host_veth: str) -> State:
    """The state of the sandbox ``spec`` asks for; ``netns_name`` and ``host_veth`` are kept only by
    the modes that have a namespace, and a veth."""
    network = spec.network
    mode = spec.network_mode
    return {
        "taskId": spec.task_id,
        "mode": mode,
        "netns": netns_name if mode in NAMESPACED_MODES else None,
        "hostVeth": host_veth if mode in ADDRESSED_MODES else None,
        "ipv4": network.ipv4 if network and mode in ADDRESSED_MODES else None,
        "prefixLength": network.prefix_length if network else None,
        "gateway": network.gateway if network else None,
        "mac": network.mac_address if network and mode in ADDRESSED_MODES else None,
        "dnsServers": list(network.dns_servers) if network else [],
        "ports": [
            {"containerPort": b.container_port, "hostPort": b.host_port, "protocol": b.protocol}
            for b in (spec.port_bindings if mode == "bridge" else ())
        ],
    }


def read_state(folder: Path) -> State | None:
    try:
        data: State = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return data


def write_state(folder: Path, state: State) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / "state.json", json.dumps(state).encode())


def sandbox_network(state: State, folder: Path) -> SandboxNetwork:
    """What the runtime mounts and reports for the sandbox ``state`` describes."""
    name = state.get("netns")
    return SandboxNetwork(
        task_id=state["taskId"],
        netns_path=str(netns.path_of(name)) if name else None,
        hosts_file=folder / "hosts",
        resolv_file=folder / "resolv.conf",
        hostname_file=folder / "hostname",
        ipv4=state.get("ipv4"),
        mac_address=state.get("mac"),
        host_veth=state.get("hostVeth"),
    )


def write_files(spec: SandboxSpec, folder: Path) -> None:
    """``hosts``, ``resolv.conf`` and ``hostname``: the host's own for ``host`` tasks; otherwise the
    task's address under its hostname and the resolvers of its network (the host's when it has none)."""
    network = spec.network
    if spec.network_mode == "host":
        hosts = _read(Path("/etc/hosts"))
        resolv = _read(HOST_RESOLV_CONF)
        hostname = socket.gethostname()
    else:
        hostname = spec.hostname or (f"ip-{network.ipv4.replace('.', '-')}" if network else "localhost")
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        if network is not None and spec.network_mode in ADDRESSED_MODES:
            short = hostname.split(".", 1)[0]
            lines.append(f"{network.ipv4}\t{hostname}" + (f" {short}" if short != hostname else ""))
        hosts = "\n".join(lines) + "\n"
        if network is not None and network.dns_servers:
            resolv = "".join(f"nameserver {s}\n" for s in network.dns_servers)
            if network.dns_search:
                resolv += "search " + " ".join(network.dns_search) + "\n"
        else:
            resolv = _read(HOST_RESOLV_CONF)
    hosts += "".join(f"{address}\t{name}\n" for name, address in spec.extra_hosts)
    _atomic_write(folder / "hosts", hosts.encode())
    _atomic_write(folder / "resolv.conf", resolv.encode())
    _atomic_write(folder / "hostname", (hostname + "\n").encode())


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
