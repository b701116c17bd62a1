"""The checksums S3 clients send and ask for: CRC32, CRC32C, CRC64NVME, SHA1, SHA256, SHA512 and MD5
(the XXHASH family of S3's newest model is not computed: such a header is neither checked nor kept).

Each is an incremental hasher whose ``digest()`` is the raw big-endian value; S3 carries them in
base64 (``x-amz-checksum-crc32: AAAAAA==``). CRC32 comes from zlib; CRC32C and CRC64NVME have no
standard-library implementation and are computed from tables here (slow, but only when a client
asks for them: botocore's default is CRC32 without the CRT).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from typing import Protocol

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "MD5")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def _table(poly: int, bits: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc & ((1 << bits) - 1))
    return table


_CRC32C_TABLE = _table(0x82F63B78, 32)
_CRC64NVME_TABLE = _table(0x9A6C9329AC4BC9B5, 64)


class _ReflectedCrc:
    def __init__(self, table: list[int], bits: int) -> None:
        self._table = table
        self._bits = bits
        self._mask = (1 << bits) - 1
        self._crc = self._mask

    def update(self, data: bytes, /) -> None:
        crc, table = self._crc, self._table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self._crc = crc

    def digest(self) -> bytes:
        return ((self._crc ^ self._mask) & self._mask).to_bytes(self._bits // 8, "big")


class _Crc32:
    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(4, "big")


_FACTORIES: dict[str, Callable[[], Hasher]] = {
    "CRC32": _Crc32,
    "CRC32C": lambda: _ReflectedCrc(_CRC32C_TABLE, 32),
    "CRC64NVME": lambda: _ReflectedCrc(_CRC64NVME_TABLE, 64),
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
    "MD5": lambda: hashlib.md5(usedforsecurity=False),
}


def hasher(algorithm: str) -> Hasher:
    """A fresh hasher for ``algorithm`` (one of :data:`ALGORITHMS`, case-insensitive)."""
    return _FACTORIES[algorithm.upper()]()


def header_name(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm.lower()}"


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def compute(algorithm: str, data: bytes) -> str:
    """The base64 checksum of ``data``."""
    h = hasher(algorithm)
    h.update(data)
    return encode(h.digest())


def composite(algorithm: str, part_checksums: list[str]) -> str:
    """A multipart object's COMPOSITE checksum: the checksum of the parts' raw checksums, ``-N``."""
    h = hasher(algorithm)
    for value in part_checksums:
        h.update(base64.b64decode(value))
    return f"{encode(h.digest())}-{len(part_checksums)}"
