"""A small rtnetlink client: the handful of link, address and route requests task networks need.

Spawning ``ip`` costs about 2 ms a command, a dozen per sandbox; one netlink request costs tens of
microseconds, which keeps a sandbox to about a millisecond (the whole task start must stay near
50 ms). A :class:`Netlink` socket acts in the network namespace it was opened in, for good: open
one inside a task's namespace to configure its inside (see :mod:`ecslite.runtime.process.netns`).

Every call is synchronous and short; callers run them on the runtime's own thread, never on the
event loop. Kernel refusals raise :class:`NetlinkError` with the errno, so callers can treat
``EEXIST``/``ENODEV`` as "already done" where that makes a step idempotent.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE = 24
RTM_DELNEIGH = 29
NDA_DST = 1
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE, NLM_F_REPLACE = 0x300, 0x200, 0x400, 0x100
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_GATEWAY = 1, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HEADER = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_NDMSG = struct.Struct("=BxxxiHBB")


class NetlinkError(OSError):
    """The kernel refused a request (``errno`` holds the reason)."""


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    length = _RTATTR.size + len(payload)
    return _RTATTR.pack(length, kind) + payload + b"\0" * (_align(length) - length)


def attr_str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_ip(kind: int, address: str) -> bytes:
    return attr(kind, ipaddress.IPv4Address(address).packed)


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def parse_attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        yield kind & 0x3FFF, data[offset + _RTATTR.size : offset + length]
        offset += _align(length)


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    name: str
    flags: int
    master: int | None
    kind: str | None = None  # IFLA_INFO_KIND: "bridge", "veth", …


class Netlink:
    """An rtnetlink socket in the namespace it was opened in."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one request and collect its answer: ``(type, payload)`` messages; raises on error."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body)
        out: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            done = False
            while offset + _HEADER.size <= len(data):
                length, mtype, mflags, mseq, _ = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size : offset + length]
                offset += _align(length)
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    done = True
                elif mtype == NLMSG_DONE:
                    done = True
                else:
                    out.append((mtype, payload))
                    if not mflags & NLM_F_MULTI and not flags & NLM_F_ACK:
                        done = True
            if done:
                return out

    # -- links -------------------------------------------------------------------------------

    def link(self, name: str) -> Link | None:
        try:
            answer = self.request(RTM_GETLINK, 0, ifinfo() + attr_str(IFLA_IFNAME, name))
        except NetlinkError as error:
            if error.errno in (errno.ENODEV, errno.EINVAL):
                return None
            raise
        return _link(answer[0][1]) if answer else None

    def links(self) -> list[Link]:
        return [_link(payload) for kind, payload in self.request(RTM_GETLINK, NLM_F_DUMP, ifinfo()) if kind == 16]

    def create_bridge(self, name: str) -> None:
        """Create an up bridge; an existing one is left as it is."""
        info = attr(IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, "bridge"))
        body = ifinfo(flags=IFF_UP, change=IFF_UP) + attr_str(IFLA_IFNAME, name) + info
        try:
            self.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)
        except NetlinkError as error:
            if error.errno != errno.EEXIST:
                raise

    def create_veth(
        self, name: str, peer: str, peer_netns_fd: int, peer_mac: str, master: int | None, *, up: bool = True
    ) -> None:
        """A veth pair: ``name`` here (on bridge ``master`` and up, unless told otherwise), ``peer``
        (with ``peer_mac``) in the other namespace."""
        # The peer is brought up from inside its namespace: asking for IFF_UP here fails (ENOTCONN).
        peer_info = (
            ifinfo()
            + attr_str(IFLA_IFNAME, peer)
            + attr_u32(IFLA_NET_NS_FD, peer_netns_fd)
            + attr(IFLA_ADDRESS, mac_bytes(peer_mac))
        )
        info = attr(
            IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
        )
        flags = IFF_UP if up else 0
        body = ifinfo(flags=flags, change=IFF_UP) + attr_str(IFLA_IFNAME, name) + info
        if master is not None:
            body += attr_u32(IFLA_MASTER, master)
        self.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def set_link(
        self, index: int, *, name: str | None = None, mac: str | None = None, master: int | None = None
    ) -> None:
        """Rename, re-address and enslave a link and bring it up, in one request.

        The kernel applies a request's parts in this order: address, name, flags, master; a link can
        only be renamed while down, so a down link comes out renamed, up and on ``master``.
        """
        body = ifinfo(index=index, flags=IFF_UP, change=IFF_UP)
        if mac is not None:
            body += attr(IFLA_ADDRESS, mac_bytes(mac))
        if name is not None:
            body += attr_str(IFLA_IFNAME, name)
        if master is not None:
            body += attr_u32(IFLA_MASTER, master)
        self.request(RTM_NEWLINK, NLM_F_ACK, body)

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, NLM_F_ACK, ifinfo(index=index, flags=IFF_UP, change=IFF_UP))

    def delete_link(self, name: str) -> bool:
        """Delete a link by name; False when there was none."""
        try:
            self.request(RTM_DELLINK, NLM_F_ACK, ifinfo() + attr_str(IFLA_IFNAME, name))
        except NetlinkError as error:
            if error.errno in (errno.ENODEV, errno.EINVAL):
                return False
            raise
        return True

    # -- addresses and routes ----------------------------------------------------------------

    def add_address(self, index: int, address: str, prefix: int) -> bool:
        """Add an IPv4 address; False when the link already has it."""
        body = (
            _IFADDR.pack(socket.AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index)
            + attr_ip(IFA_LOCAL, address)
            + attr_ip(IFA_ADDRESS, address)
        )
        try:
            self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)
        except NetlinkError as error:
            if error.errno == errno.EEXIST:
                return False
            raise
        return True

    def delete_address(self, index: int, address: str, prefix: int) -> None:
        body = (
            _IFADDR.pack(socket.AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index)
            + attr_ip(IFA_LOCAL, address)
            + attr_ip(IFA_ADDRESS, address)
        )
        try:
            self.request(RTM_DELADDR, NLM_F_ACK, body)
        except NetlinkError as error:
            if error.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                raise

    def addresses(self, index: int) -> list[tuple[str, int]]:
        out = []
        for kind, payload in self.request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            if kind != RTM_NEWADDR:
                continue
            _family, prefix, _flags, _scope, owner = _IFADDR.unpack_from(payload)
            if owner != index:
                continue
            for akind, value in parse_attrs(payload[_IFADDR.size :]):
                if akind == IFA_LOCAL:
                    out.append((str(ipaddress.IPv4Address(value)), prefix))
        return out

    def add_route(self, destination: str, prefix: int, gateway: str) -> None:
        """A route to ``destination/prefix`` via ``gateway`` in the main table (replacing one that exists)."""
        body = _RTMSG.pack(
            socket.AF_INET, prefix, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        ) + attr_ip(RTA_GATEWAY, gateway)
        if prefix:
            body += attr_ip(RTA_DST, destination)
        self.request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, body)

    def forget_neighbor(self, index: int, address: str) -> None:
        """Drop the ARP entry of ``address`` on link ``index``: a reused address has a new MAC."""
        body = _NDMSG.pack(socket.AF_INET, index, 0, 0, 0) + attr_ip(NDA_DST, address)
        try:
            self.request(RTM_DELNEIGH, NLM_F_ACK, body)
        except NetlinkError as error:
            if error.errno not in (errno.ENOENT, errno.ENODEV, errno.EINVAL):
                raise


def _link(payload: bytes) -> Link:
    _family, _type, index, flags, _change = _IFINFO.unpack_from(payload)
    name = ""
    master: int | None = None
    link_kind: str | None = None
    for kind, value in parse_attrs(payload[_IFINFO.size :]):
        if kind == IFLA_IFNAME:
            name = value.rstrip(b"\0").decode()
        elif kind == IFLA_MASTER:
            master = struct.unpack("=I", value[:4])[0]
        elif kind == IFLA_LINKINFO:
            for info_kind, info in parse_attrs(value):
                if info_kind == IFLA_INFO_KIND:
                    link_kind = info.rstrip(b"\0").decode()
    return Link(index=index, name=name, flags=flags, master=master, kind=link_kind)


def host_routes(path: str = "/proc/net/route") -> list[tuple[str, str]]:
    """``(interface, network)`` of the host's IPv4 routes other than the default route.

    What the EC2 API checks new VPCs and subnets against: a subnet ecslite puts on its bridge must
    not take over addresses the host already routes elsewhere.
    """
    out: list[tuple[str, str]] = []
    try:
        with open(path) as table:
            next(table, None)
            for line in table:
                fields = line.split()
                if len(fields) < 8:
                    continue
                destination = ipaddress.IPv4Address(struct.pack("<I", int(fields[1], 16)))
                mask = ipaddress.IPv4Address(struct.pack("<I", int(fields[7], 16)))
                if int(mask) == 0:
                    continue
                network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
                out.append((fields[0], str(network)))
    except (OSError, ValueError):
        return out
    return out
