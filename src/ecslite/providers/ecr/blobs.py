"""Blob files of the registry: content-addressed under ``<ecr dir>/blobs/sha256/<hex>``, shared by every
repository that holds them (``store/ecr.py`` records which does), and uploads in progress under
``<ecr dir>/uploads/<uuid>`` with a small JSON note of the repository they are for.

A blob is only ever moved into place after its bytes were hashed and matched the digest it is
stored under, so a file at a digest's path always has that digest.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Upload:
    upload_id: str
    account: str
    region: str
    repository: str
    path: Path

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


class BlobStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blobs = directory / "blobs" / "sha256"
        self.uploads = directory / "uploads"

    def path(self, digest: str) -> Path:
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.blobs / digest.removeprefix("sha256:")

    def exists(self, digest: str) -> bool:
        return DIGEST.fullmatch(digest) is not None and self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    # -- uploads -----------------------------------------------------------------------------------

    def start(self, account: str, region: str, repository: str) -> Upload:
        self.uploads.mkdir(parents=True, exist_ok=True)
        upload_id = str(uuid.uuid4())
        path = self.uploads / upload_id
        path.touch()
        note = {"account": account, "region": region, "repository": repository}
        (self.uploads / f"{upload_id}.json").write_bytes(orjson.dumps(note))
        return Upload(upload_id, account, region, repository, path)

    def upload(self, upload_id: str) -> Upload | None:
        try:
            uuid.UUID(upload_id)
            note = orjson.loads((self.uploads / f"{upload_id}.json").read_bytes())
        except (ValueError, OSError):
            return None
        path = self.uploads / upload_id
        if not path.is_file():
            return None
        return Upload(upload_id, note["account"], note["region"], note["repository"], path)

    def cancel(self, upload: Upload) -> None:
        for path in (upload.path, self.uploads / f"{upload.upload_id}.json"):
            path.unlink(missing_ok=True)

    def commit(self, upload: Upload, digest: str) -> int | None:
        """Move the upload's bytes to ``digest``'s path when they hash to it; their size, else None."""
        hasher = hashlib.sha256()
        with upload.path.open("rb") as data:
            while chunk := data.read(CHUNK):
                hasher.update(chunk)
        if f"sha256:{hasher.hexdigest()}" != digest:
            return None
        size = upload.size
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(upload.path, target)
        (self.uploads / f"{upload.upload_id}.json").unlink(missing_ok=True)
        return size

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def clear(self) -> None:
        """Every blob and upload gone (a reset of the server's state)."""
        for path in (self.blobs, self.uploads):
            shutil.rmtree(path, ignore_errors=True)
