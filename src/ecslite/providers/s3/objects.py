"""Object operations: put, get and head (ranges, conditions, checksums), delete, copy and tags."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from ecslite.providers.base import Params, RequestContext, Result
from ecslite.providers.s3 import errors
from ecslite.providers.s3.common import S3Base, check_key, quote_etag, tag_set, tags_from
from ecslite.providers.s3.files import BytesPayload, FileBody, Payload, Written
from ecslite.store import s3 as store

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
STORAGE_CLASS = "STANDARD"
# Object properties PutObject takes from headers and GetObject gives back (API member names).
_STORED_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl", "Expires")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _checksum_fields(doc: dict[str, Any]) -> dict[str, Any]:
    checksum = doc.get("Checksum")
    if not checksum:
        return {}
    return {f"Checksum{checksum['Algorithm']}": checksum["Value"], "ChecksumType": checksum.get("Type", "FULL_OBJECT")}


def parse_tagging_header(text: str | None) -> dict[str, str]:
    return dict(parse_qsl(text or "", keep_blank_values=True))


class ObjectOps(S3Base):
    async def put_object(self, ctx: RequestContext, params: Params) -> Result:
        bucket, key = params["Bucket"], params["Key"]
        self.bucket(bucket)
        check_key(key)
        body: Payload = params.get("Body") or BytesPayload(b"")
        check_write_conditions(self.db, bucket, key, params)
        written = await self.files.receive(body)
        try:
            # Checked again: another write may have landed while the body was arriving.
            check_write_conditions(self.db, bucket, key, params)
        except errors.S3Error:
            written.path.unlink(missing_ok=True)
            raise
        doc = {name: params[name] for name in _STORED_HEADERS if params.get(name) is not None}
        doc["Metadata"] = params.get("Metadata") or {}
        doc["Tags"] = parse_tagging_header(params.get("Tagging"))
        obj = self._commit(bucket, key, written, doc)
        return {"ETag": obj.etag, **_checksum_fields(obj.doc)}

    def get_object(self, ctx: RequestContext, params: Params) -> Result:
        return self._read(params, body=True)

    def head_object(self, ctx: RequestContext, params: Params) -> Result:
        return self._read(params, body=False)

    def _read(self, params: Params, *, body: bool) -> Result:
        obj = self.object(params["Bucket"], params["Key"])
        check_conditions(obj, params)
        result: dict[str, Any] = {
            "ETag": obj.etag,
            "LastModified": obj.modified,
            "AcceptRanges": "bytes",
            "ContentType": DEFAULT_CONTENT_TYPE,
            "Metadata": obj.doc.get("Metadata") or {},
        }
        result.update({name: obj.doc[name] for name in _STORED_HEADERS if name in obj.doc})
        if obj.doc.get("Tags"):
            result["TagCount"] = len(obj.doc["Tags"])
        for name in _STORED_HEADERS:
            override = params.get(f"Response{name}")
            if override is not None:
                result[name] = override
        start, length = 0, obj.size
        requested = params.get("Range")
        if requested:
            start, length = _range(requested, obj.size)
            result["ContentRange"] = f"bytes {start}-{start + length - 1}/{obj.size}"
        elif params.get("ChecksumMode") == "ENABLED":
            result.update(_checksum_fields(obj.doc))
        result["ContentLength"] = length
        if body:
            result["Body"] = FileBody(self.files.absolute(obj.path), start, length)
        return result

    def delete_object(self, ctx: RequestContext, params: Params) -> Result:
        self._delete(params["Bucket"], params["Key"])
        return None

    def _delete(self, bucket: str, key: str) -> None:
        self.bucket(bucket)
        current = store.get_object(self.db, bucket, key)
        if current is not None:
            store.delete_object(self.db, bucket, key)
            self.files.remove(current.path, bucket)

    def delete_objects(self, ctx: RequestContext, params: Params) -> Result:
        bucket = params["Bucket"]
        self.bucket(bucket)
        request = params.get("Delete") or {}
        keys = [str(item.get("Key", "")) for item in request.get("Objects") or []]
        if len(keys) > 1000:
            raise errors.S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate")
        for key in keys:
            self._delete(bucket, key)
        return {"Deleted": [] if request.get("Quiet") else [{"Key": k} for k in keys]}

    async def copy_object(self, ctx: RequestContext, params: Params) -> Result:
        bucket, key = params["Bucket"], params["Key"]
        source_bucket, source_key = copy_source(params["CopySource"])
        source = self.object(source_bucket, source_key)
        self.bucket(bucket)
        check_key(key)
        check_conditions(source, params, prefix="CopySource")
        replace = params.get("MetadataDirective") == "REPLACE"
        if (source_bucket, source_key) == (bucket, key) and not replace:
            raise errors.invalid_request(
                "This copy request is illegal because it is trying to copy an object to itself without changing the"
                " object's metadata, storage class, website redirect location or encryption attributes."
            )
        if replace:
            doc = {name: params[name] for name in _STORED_HEADERS if params.get(name) is not None}
            doc["Metadata"] = params.get("Metadata") or {}
        else:
            doc = {k: v for k, v in source.doc.items() if k != "Tags"}
        tags = source.doc.get("Tags") or {}
        if params.get("TaggingDirective") == "REPLACE":
            tags = parse_tagging_header(params.get("Tagging"))
        doc["Tags"] = tags
        temporary = await self.files.duplicate(source.path)
        md5_hex = source.etag.strip('"') if "-" not in source.etag else ""
        written = Written(temporary, source.size, md5_hex, None)
        if "Checksum" in source.doc and source.doc["Checksum"].get("Type") == "FULL_OBJECT":
            doc["Checksum"] = source.doc["Checksum"]
        etag = source.etag if md5_hex else quote_etag(await _md5_file(self.files.absolute(source.path)))
        obj = self._commit(bucket, key, written, doc, etag=etag)
        return {"CopyObjectResult": {"ETag": obj.etag, "LastModified": obj.modified, **_checksum_fields(obj.doc)}}

    # -- tags --------------------------------------------------------------------------------

    def put_object_tagging(self, ctx: RequestContext, params: Params) -> Result:
        obj = self.object(params["Bucket"], params["Key"])
        doc = dict(obj.doc)
        doc["Tags"] = tags_from(params.get("Tagging"))
        store.update_object_doc(self.db, obj.bucket, obj.key, doc)
        return None

    def get_object_tagging(self, ctx: RequestContext, params: Params) -> Result:
        obj = self.object(params["Bucket"], params["Key"])
        return {"TagSet": tag_set(obj.doc.get("Tags") or {})}

    def delete_object_tagging(self, ctx: RequestContext, params: Params) -> Result:
        obj = self.object(params["Bucket"], params["Key"])
        store.update_object_doc(self.db, obj.bucket, obj.key, {**obj.doc, "Tags": {}})
        return None


async def _md5_file(path: Any) -> str:
    def run() -> str:
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    return await asyncio.to_thread(run)


def copy_source(text: str) -> tuple[str, str]:
    source = unquote(text.split("?versionId=", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise errors.invalid_argument("Invalid copy source object key", "x-amz-copy-source", text)
    return bucket, key


def check_conditions(obj: store.Object, params: Params, prefix: str = "") -> None:
    """If-Match / If-Unmodified-Since fail with 412; If-None-Match / If-Modified-Since with 304 (RFC 7232
    order: a present If-Match overrides If-Unmodified-Since, If-None-Match overrides If-Modified-Since)."""
    match = params.get(f"{prefix}IfMatch")
    none_match = params.get(f"{prefix}IfNoneMatch")
    modified_since = params.get(f"{prefix}IfModifiedSince")
    unmodified_since = params.get(f"{prefix}IfUnmodifiedSince")
    if match is not None:
        if not _etag_matches(obj.etag, match):
            raise errors.precondition_failed("If-Match")
    elif unmodified_since is not None and int(obj.modified) > float(unmodified_since):
        raise errors.precondition_failed("If-Unmodified-Since")
    failed = errors.precondition_failed if prefix else lambda _c: errors.not_modified()
    if none_match is not None:
        if _etag_matches(obj.etag, none_match):
            raise failed("If-None-Match")
    elif modified_since is not None and int(obj.modified) <= float(modified_since):
        raise failed("If-Modified-Since")


def check_write_conditions(db: Any, bucket: str, key: str, params: Params) -> None:
    """S3's conditional writes: ``If-None-Match: *`` only creates, ``If-Match`` only replaces that ETag."""
    current = store.get_object(db, bucket, key)
    if params.get("IfNoneMatch") is not None and current is not None:
        raise errors.precondition_failed("If-None-Match")
    match = params.get("IfMatch")
    if match is not None:
        if current is None:
            raise errors.no_such_key(key)
        if not _etag_matches(current.etag, match):
            raise errors.precondition_failed("If-Match")


def _etag_matches(etag: str, condition: str) -> bool:
    wanted = {c.strip().strip('"') for c in condition.split(",")}
    return "*" in wanted or etag.strip('"') in wanted


def _range(text: str, size: int) -> tuple[int, int]:
    """(start, length) of a ``bytes=a-b`` range; S3 ignores a range it cannot parse."""
    match = _RANGE.fullmatch(text.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return 0, size
    first, last = match.group(1), match.group(2)
    if first == "":
        length = min(int(last), size)
        if length == 0:
            raise errors.invalid_range(text, size)
        return size - length, length
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise errors.invalid_range(text, size)
    return start, end - start + 1


def check_content_md5(value: str | None, md5_hex: str) -> None:
    if value is None:
        return
    try:
        given = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise errors.invalid_digest() from None
    if len(given) != 16:
        raise errors.invalid_digest()
    if given.hex() != md5_hex:
        raise errors.bad_digest()
