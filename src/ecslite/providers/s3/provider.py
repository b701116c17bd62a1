"""The S3 provider (REST-XML, path-style): buckets, objects, listings and multipart uploads.

Objects are files under the S3 directory (:mod:`ecslite.providers.s3.files`), where ECS reads
``environmentFiles`` given as S3 ARNs; their metadata is in the store (:mod:`ecslite.store.s3`).
"""

from __future__ import annotations

from pathlib import Path

from ecslite.clock import Clock
from ecslite.providers.s3.buckets import BucketOps
from ecslite.providers.s3.files import ObjectFiles
from ecslite.providers.s3.listing import ListingOps
from ecslite.providers.s3.multipart import MultipartOps
from ecslite.providers.s3.objects import ObjectOps
from ecslite.store import s3 as store
from ecslite.store.db import Database


class S3Provider(MultipartOps, ObjectOps, ListingOps, BucketOps):
    """Also a server component: ``reset`` (the server's store reset) deletes the buckets' files."""

    name = "s3"

    def __init__(self, db: Database, clock: Clock, root: Path) -> None:
        super().__init__(db, clock, ObjectFiles(root))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def reset(self) -> None:
        self.files.wipe(b.name for b in store.list_buckets(self.db))
