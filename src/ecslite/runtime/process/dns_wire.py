"""DNS messages for names the tasks' resolver answers itself (RFC 1035, RFC 2782 SRV).

The resolver asks a :data:`LocalNames` function (given to :class:`~.dns.DnsForwarder`) about each
question; it returns ``None`` for names it does not own (the query is relayed upstream) or a
:class:`LocalAnswer`: records, or NXDOMAIN for a name inside a zone it owns. This module only reads
questions and writes answers; it knows nothing of where the records come from.

Answers are authoritative (AA), echo the question (so its case), keep the query's id, opcode and RD,
and set RA. Answer records whose name is the question's point at it (compression pointer ``0xC00C``);
other names (SRV targets in the additional section) are written in full.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

HEADER = 12
CLASS_IN = 1
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255}
NAMES = {code: name for name, code in TYPES.items()}
RCODE_NOERROR = 0
RCODE_NXDOMAIN = 3
_QUESTION_POINTER = b"\xc0\x0c"


@dataclass(frozen=True, slots=True)
class LocalRecord:
    name: str  # lower case, no trailing dot
    kind: str  # "A" | "AAAA" | "SRV"
    ttl: int
    value: str  # an address, or for SRV "<priority> <weight> <port> <target>"


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    nxdomain: bool = False
    answers: tuple[LocalRecord, ...] = ()
    additional: tuple[LocalRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Question:
    name: str  # lower case, no trailing dot
    kind: str  # "A", "SRV", … or the type number for types this module does not name
    qclass: int
    end: int  # offset just past the question


# (question name, question type, the resolver address the query came to) → an answer or None.
LocalNames = Callable[[str, str, str], "LocalAnswer | None"]


def parse_question(query: bytes) -> Question | None:
    """The single question of a standard query, or None for anything else (relayed as it is)."""
    if len(query) < HEADER:
        return None
    flags, qdcount = struct.unpack("!H H", query[2:6])
    if flags & 0x8000 or (flags >> 11) & 0xF or qdcount != 1:
        return None
    labels: list[str] = []
    offset = HEADER
    while True:
        if offset >= len(query):
            return None
        size = query[offset]
        if size == 0:
            offset += 1
            break
        if size & 0xC0 or offset + 1 + size > len(query):
            return None
        labels.append(query[offset + 1 : offset + 1 + size].decode("ascii", "replace").lower())
        offset += 1 + size
    if offset + 4 > len(query):
        return None
    qtype, qclass = struct.unpack("!H H", query[offset : offset + 4])
    return Question(".".join(labels), NAMES.get(qtype, str(qtype)), qclass, offset + 4)


def build_answer(query: bytes, question: Question, answer: LocalAnswer) -> bytes:
    flags = struct.unpack("!H", query[2:4])[0]
    rcode = RCODE_NXDOMAIN if answer.nxdomain else RCODE_NOERROR
    # QR, AA, RA; opcode and RD as asked.
    out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode
    header = query[:2] + struct.pack("!H H H H H", out_flags, 1, len(answer.answers), 0, len(answer.additional))
    body = bytearray(query[HEADER : question.end])
    for record in answer.answers:
        body += _record(record, question)
    for record in answer.additional:
        body += _record(record, question)
    return header + bytes(body)


def _record(record: LocalRecord, question: Question) -> bytes:
    owner = _QUESTION_POINTER if record.name == question.name else encode_name(record.name)
    if record.kind == "A":
        kind, data = TYPES["A"], ipaddress.IPv4Address(record.value).packed
    elif record.kind == "AAAA":
        kind, data = TYPES["AAAA"], ipaddress.IPv6Address(record.value).packed
    elif record.kind == "SRV":
        priority, weight, port, target = record.value.split(" ", 3)
        kind, data = TYPES["SRV"], struct.pack("!H H H", int(priority), int(weight), int(port)) + encode_name(target)
    else:
        raise ValueError(f"cannot encode a {record.kind} record")
    return owner + struct.pack("!H H I H", kind, CLASS_IN, max(0, record.ttl), len(data)) + data


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label in {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out) + b"\0"
