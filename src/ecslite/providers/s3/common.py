"""What every S3 operation group shares: the store, the clock, the object files and bucket lookups."""

from __future__ import annotations

import re
from typing import Any

from ecslite.clock import Clock
from ecslite.providers.s3 import errors
from ecslite.providers.s3.files import ObjectFiles, Written
from ecslite.store import s3 as store
from ecslite.store.db import Database

# S3's general purpose bucket naming rules (docs: "Bucket naming rules").
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MAX_KEY_BYTES = 1024


def valid_bucket_name(name: str) -> bool:
    return (
        _NAME.fullmatch(name) is not None
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and _IP.fullmatch(name) is None
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
    )


def check_key(key: str) -> None:
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        raise errors.key_too_long()


def quote_etag(md5_hex: str) -> str:
    return f'"{md5_hex}"'


def tag_set(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tags_from(tagging: dict[str, Any] | None) -> dict[str, str]:
    items = (tagging or {}).get("TagSet") or []
    tags: dict[str, str] = {}
    for item in items:
        key = str(item.get("Key", ""))
        if key in tags:
            raise errors.invalid_argument("Cannot provide multiple Tags with the same key", "TagKey", key)
        tags[key] = str(item.get("Value", ""))
    if len(tags) > 50:
        raise errors.S3Error("BadRequest", "Object tags cannot be greater than 10")
    return tags


class S3Base:
    def __init__(self, db: Database, clock: Clock, files: ObjectFiles) -> None:
        self.db = db
        self.clock = clock
        self.files = files

    def bucket(self, name: str) -> store.Bucket:
        found = store.get_bucket(self.db, name)
        if found is None:
            raise errors.no_such_bucket(name)
        return found

    def object(self, bucket: str, key: str) -> store.Object:
        self.bucket(bucket)
        found = store.get_object(self.db, bucket, key)
        if found is None:
            raise errors.no_such_key(key)
        return found

    def _commit(
        self, bucket: str, key: str, written: Written, doc: dict[str, Any], etag: str | None = None
    ) -> store.Object:
        if written.checksum is not None:
            doc["Checksum"] = {"Algorithm": written.checksum[0], "Value": written.checksum[1], "Type": "FULL_OBJECT"}
        current = store.get_object(self.db, bucket, key)
        path = self.files.place(written.path, bucket, key, current.path if current else None)
        obj = store.Object(
            bucket, key, path, written.size, etag or quote_etag(written.md5_hex), round(self.clock.now(), 3), doc
        )
        store.put_object(self.db, obj)
        return obj
