"""Where S3 objects live on disk, and moving bytes there without holding them in memory.

An object of bucket ``b`` and key ``k`` is the file ``<S3 dir>/b/k``, the path ECS reads
``environmentFiles`` (``arn:aws:s3:::b/k``) from. Keys no file can have (``a//b``, ``../x``, a
trailing ``/``, a segment over 255 bytes) and keys whose path a file or directory already takes
(``a`` beside ``a/b``) are kept under ``<S3 dir>/.ecslite/objects/<bucket>/<sha256 of key>``; the
metadata row records which. Bucket names never start with ``.``, so ``.ecslite`` (work files:
``tmp/`` for bodies being written, ``uploads/<id>/<part>`` for multipart parts) is no bucket.

Writes go to a temporary file first and are renamed into place, so a reader (a task starting)
sees the old object or the new one, never half of one. File work runs on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from ecslite.protocol import checksums

WORK_DIR = ".ecslite"
# Bodies are written in pieces of about this size, each on a thread.
WRITE_BATCH = 1024 * 1024
READ_CHUNK = 256 * 1024


class Payload(Protocol):
    """A request body as the edge hands it over: read in pieces, hashed and checked as it is read."""

    async def read(self) -> bytes:
        """The next piece; ``b""`` at the end (after which digests are checked, raising S3's error)."""
        ...

    @property
    def size(self) -> int: ...

    @property
    def md5_hex(self) -> str: ...

    @property
    def checksum(self) -> tuple[str, str] | None:
        """(algorithm, base64 value) the client sent or asked for, computed over the body."""
        ...


class BytesPayload:
    """A body already in memory (copies, tests)."""

    def __init__(self, data: bytes, algorithm: str | None = None) -> None:
        self._data: bytes | None = data
        self.size = len(data)
        self.md5_hex = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self.checksum = (algorithm.upper(), checksums.compute(algorithm, data)) if algorithm else None

    async def read(self) -> bytes:
        data, self._data = self._data, None
        return data or b""


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    size: int
    md5_hex: str
    checksum: tuple[str, str] | None


def natural_path(bucket: str, key: str) -> str | None:
    """``bucket/key`` when the key can be a file path as it is, else ``None``."""
    segments = key.split("/")
    if "\x00" in key or any(s in ("", ".", "..") or len(s.encode()) > 255 for s in segments):
        return None
    return f"{bucket}/{key}"


class ObjectFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / WORK_DIR

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    def part_path(self, upload_id: str, number: int) -> Path:
        return self.work / "uploads" / upload_id / str(number)

    async def receive(self, payload: Payload, destination: Path | None = None) -> Written:
        """Writes ``payload`` to a new temporary file (or ``destination``), checking its digests."""
        target = destination or self._temporary()
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(open, target, "wb")
        try:
            await self._copy(payload, handle)
        except BaseException:
            await asyncio.to_thread(handle.close)
            target.unlink(missing_ok=True)
            raise
        await asyncio.to_thread(handle.close)
        return Written(target, payload.size, payload.md5_hex, payload.checksum)

    @staticmethod
    async def _copy(payload: Payload, handle: IO[bytes]) -> None:
        pending: list[bytes] = []
        size = 0
        while True:
            piece = await payload.read()
            if piece:
                pending.append(piece)
                size += len(piece)
            if pending and (not piece or size >= WRITE_BATCH):
                await asyncio.to_thread(handle.write, b"".join(pending))
                pending, size = [], 0
            if not piece:
                return

    def _temporary(self) -> Path:
        return self.work / "tmp" / uuid.uuid4().hex

    async def concatenate(self, parts: Iterable[Path]) -> Path:
        """One temporary file holding ``parts`` one after another."""
        target = self._temporary()

        def run() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for part in parts:
                    with open(part, "rb") as source:
                        shutil.copyfileobj(source, out, READ_CHUNK * 4)

        await asyncio.to_thread(run)
        return target

    async def duplicate(self, relative: str) -> Path:
        target = self._temporary()

        def run() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.root / relative, target)

        await asyncio.to_thread(run)
        return target

    async def copy_range(self, relative: str, offset: int, length: int, destination: Path) -> Written:
        """``length`` bytes of an object from ``offset`` into ``destination`` (UploadPartCopy)."""

        def run() -> str:
            digest = hashlib.md5(usedforsecurity=False)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(self.root / relative, "rb") as source, open(destination, "wb") as out:
                source.seek(offset)
                remaining = length
                while remaining > 0:
                    chunk = source.read(min(READ_CHUNK * 4, remaining))
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    remaining -= len(chunk)
            return digest.hexdigest()

        md5_hex = await asyncio.to_thread(run)
        return Written(destination, length, md5_hex, None)

    def place(self, temporary: Path, bucket: str, key: str, current: str | None) -> str:
        """Renames a finished temporary file to the object's place; returns that place (relative).
        ``current`` is where the key's previous version lives, if it has one."""
        relative = natural_path(bucket, key)
        if relative is None or not self._free(relative, current):
            relative = f"{WORK_DIR}/objects/{bucket}/{hashlib.sha256(key.encode()).hexdigest()}"
        destination = self.root / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, destination)
        if current is not None and current != relative:
            self.remove(current, bucket)
        return relative

    def _free(self, relative: str, current: str | None) -> bool:
        """Whether a file may be put at ``relative``: no directory there, and no file where one of
        its parent directories must be. A file already there is replaced: only this key maps to
        this path, so it is the key's old version or one left from an earlier store (a server run
        with ``--ephemeral``), which must not shadow what is put now."""
        destination = self.root / relative
        if destination.is_dir():
            return False
        bucket_dir = self.root / relative.split("/", 1)[0]
        parent = destination.parent
        while parent != bucket_dir and parent != self.root:
            if parent.exists() and not parent.is_dir():
                return False
            parent = parent.parent
        return True

    def remove(self, relative: str, bucket: str) -> None:
        """Deletes an object's file and the directories it leaves empty (never the bucket's own)."""
        path = self.root / relative
        path.unlink(missing_ok=True)
        stop = {self.root / bucket, self.root / WORK_DIR / "objects" / bucket, self.root}
        parent = path.parent
        while parent not in stop and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def make_bucket(self, bucket: str) -> None:
        (self.root / bucket).mkdir(parents=True, exist_ok=True)

    def remove_bucket(self, bucket: str) -> None:
        """Removes the bucket's directory if nothing is left in it (files put there by hand stay)."""
        for directory in (self.root / bucket, self.root / WORK_DIR / "objects" / bucket):
            with contextlib.suppress(OSError):
                directory.rmdir()

    def remove_upload(self, upload_id: str) -> None:
        shutil.rmtree(self.work / "uploads" / upload_id, ignore_errors=True)

    def wipe(self, buckets: Iterable[str]) -> None:
        """Deletes every file of ``buckets`` and every work file (a store reset)."""
        for bucket in buckets:
            shutil.rmtree(self.root / bucket, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class FileBody:
    """A GetObject body: ``length`` bytes of ``path`` from ``offset``; the edge streams it."""

    path: Path
    offset: int
    length: int
