"""ListObjectsV2 and ListObjects: keys in UTF-8 order, ``prefix``, ``delimiter`` rolled up into
CommonPrefixes, ``max-keys`` (at most 1000), and the continuation token, start-after and marker.

A common prefix counts as one entry against ``max-keys``; once one is returned, no key under it
comes back on a later page (the cursor jumps past every key that starts with it).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ecslite.providers.base import Params, RequestContext, Result
from ecslite.providers.s3 import errors
from ecslite.providers.s3.common import S3Base
from ecslite.providers.s3.objects import STORAGE_CLASS
from ecslite.store import s3 as store

MAX_KEYS = 1000
_BATCH = 1000


@dataclass(slots=True)
class Page:
    contents: list[store.Object] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""  # the last key or common prefix returned (v1's NextMarker)
    cursor: str = ""  # where the next page starts (after this)


def list_page(db: Any, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int) -> Page:
    page = Page(cursor=after)
    while True:
        batch = store.objects_after(db, bucket, prefix, page.cursor, _BATCH)
        if not batch:
            return page
        for obj in batch:
            if len(page.contents) + len(page.prefixes) >= max_keys:
                page.truncated = True
                return page
            cut = obj.key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = obj.key[: cut + len(delimiter)]
                page.cursor = common + store.KEY_END
                if common > after:
                    page.prefixes.append(common)
                    page.last = common
                break  # read on from past the common prefix
            page.contents.append(obj)
            page.cursor = page.last = obj.key
        else:
            if len(batch) < _BATCH:
                return page


def _encode(value: str | None, url: bool) -> str | None:
    return quote(value, safe="/") if url and value is not None else value


def _entry(obj: store.Object, url: bool, owner: dict[str, str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Key": _encode(obj.key, url),
        "LastModified": obj.modified,
        "ETag": obj.etag,
        "Size": obj.size,
        "StorageClass": STORAGE_CLASS,
    }
    checksum = obj.doc.get("Checksum")
    if checksum:
        entry["ChecksumAlgorithm"] = [checksum["Algorithm"]]
        entry["ChecksumType"] = checksum.get("Type", "FULL_OBJECT")
    if owner:
        entry["Owner"] = owner
    return entry


def _max_keys(params: Params) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return MAX_KEYS
    if value < 0:
        raise errors.invalid_argument("maxKeys should be non-negative", "max-keys", str(value))
    return min(int(value), MAX_KEYS)


class ListingOps(S3Base):
    def list_objects_v2(self, ctx: RequestContext, params: Params) -> Result:
        bucket = self.bucket(params["Bucket"]).name
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        token = params.get("ContinuationToken")
        after = _decode_token(token) if token is not None else params.get("StartAfter") or ""
        max_keys = _max_keys(params)
        url = params.get("EncodingType") == "url"
        page = list_page(self.db, bucket, prefix, delimiter, after, max_keys)
        owner = {"ID": ctx.account, "DisplayName": "ecslite"} if params.get("FetchOwner") else None
        result: dict[str, Any] = {
            "Name": bucket,
            "Prefix": _encode(prefix, url),
            "MaxKeys": max_keys,
            "KeyCount": len(page.contents) + len(page.prefixes),
            "IsTruncated": page.truncated,
            "Contents": [_entry(o, url, owner) for o in page.contents] or None,
            "CommonPrefixes": [{"Prefix": _encode(p, url)} for p in page.prefixes] or None,
            "Delimiter": _encode(delimiter, url) or None,
            "EncodingType": params.get("EncodingType"),
            "ContinuationToken": token,
            "StartAfter": _encode(params.get("StartAfter"), url),
        }
        if page.truncated:
            result["NextContinuationToken"] = base64.urlsafe_b64encode(page.cursor.encode()).decode()
        return result

    def list_objects(self, ctx: RequestContext, params: Params) -> Result:
        bucket = self.bucket(params["Bucket"]).name
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        marker = params.get("Marker") or ""
        max_keys = _max_keys(params)
        url = params.get("EncodingType") == "url"
        page = list_page(self.db, bucket, prefix, delimiter, marker, max_keys)
        owner = {"ID": ctx.account, "DisplayName": "ecslite"}
        result: dict[str, Any] = {
            "Name": bucket,
            "Prefix": _encode(prefix, url),
            "Marker": _encode(marker, url),
            "MaxKeys": max_keys,
            "IsTruncated": page.truncated,
            "Contents": [_entry(o, url, owner) for o in page.contents] or None,
            "CommonPrefixes": [{"Prefix": _encode(p, url)} for p in page.prefixes] or None,
            "Delimiter": _encode(delimiter, url) or None,
            "EncodingType": params.get("EncodingType"),
        }
        # S3 gives NextMarker only with a delimiter; without one the last key is the next marker.
        if page.truncated and delimiter:
            result["NextMarker"] = _encode(page.last, url)
        return result


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise errors.invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        ) from None
