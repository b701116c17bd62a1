"""Multipart uploads: create, upload parts, complete (parts joined into the object, ETag
``"<md5 of the parts' md5s>-N"``), abort, and list parts and uploads.

Parts are files under ``.ecslite/uploads/<upload id>/``; completing joins the listed parts in order
into one temporary file and renames it into place, as a PutObject does.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ecslite.protocol import checksums
from ecslite.providers.base import Params, RequestContext, Result
from ecslite.providers.s3 import errors
from ecslite.providers.s3.common import S3Base, check_key, quote_etag
from ecslite.providers.s3.files import BytesPayload, Payload, Written
from ecslite.providers.s3.objects import (
    _STORED_HEADERS,
    STORAGE_CLASS,
    check_conditions,
    check_write_conditions,
    copy_source,
    parse_tagging_header,
)
from ecslite.store import s3 as store

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
MAX_PARTS_LISTED = 1000


class MultipartOps(S3Base):
    def create_multipart_upload(self, ctx: RequestContext, params: Params) -> Result:
        bucket, key = params["Bucket"], params["Key"]
        self.bucket(bucket)
        check_key(key)
        doc: dict[str, Any] = {name: params[name] for name in _STORED_HEADERS if params.get(name) is not None}
        doc["Metadata"] = params.get("Metadata") or {}
        doc["Tags"] = parse_tagging_header(params.get("Tagging"))
        if params.get("ChecksumAlgorithm"):
            doc["ChecksumAlgorithm"] = params["ChecksumAlgorithm"]
            doc["ChecksumType"] = params.get("ChecksumType") or "COMPOSITE"
        upload_id = uuid.uuid4().hex
        store.insert_upload(self.db, store.Upload(upload_id, bucket, key, round(self.clock.now(), 3), doc))
        result: dict[str, Any] = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        if "ChecksumAlgorithm" in doc:
            result["ChecksumAlgorithm"] = doc["ChecksumAlgorithm"]
            result["ChecksumType"] = doc["ChecksumType"]
        return result

    def _upload(self, params: Params) -> store.Upload:
        self.bucket(params["Bucket"])
        upload = store.get_upload(self.db, params["UploadId"])
        if upload is None or (upload.bucket, upload.key) != (params["Bucket"], params["Key"]):
            raise errors.no_such_upload(params["UploadId"])
        return upload

    async def upload_part(self, ctx: RequestContext, params: Params) -> Result:
        upload = self._upload(params)
        number = _part_number(params)
        body: Payload = params.get("Body") or BytesPayload(b"")
        written = await self.files.receive(body, self.files.part_path(upload.upload_id, number))
        part = self._record_part(upload, number, written)
        result: dict[str, Any] = {"ETag": part.etag}
        if written.checksum is not None:
            result[f"Checksum{written.checksum[0]}"] = written.checksum[1]
        return result

    async def upload_part_copy(self, ctx: RequestContext, params: Params) -> Result:
        upload = self._upload(params)
        number = _part_number(params)
        source_bucket, source_key = copy_source(params["CopySource"])
        source = self.object(source_bucket, source_key)
        check_conditions(source, params, prefix="CopySource")
        start, length = _copy_range(params.get("CopySourceRange"), source.size)
        written = await self.files.copy_range(
            source.path, start, length, self.files.part_path(upload.upload_id, number)
        )
        part = self._record_part(upload, number, written)
        return {"CopyPartResult": {"ETag": part.etag, "LastModified": part.modified}}

    def _record_part(self, upload: store.Upload, number: int, written: Written) -> store.Part:
        if store.get_upload(self.db, upload.upload_id) is None:  # aborted while the part was arriving
            self.files.remove_upload(upload.upload_id)
            raise errors.no_such_upload(upload.upload_id)
        doc: dict[str, Any] = {}
        if written.checksum is not None:
            doc["Checksum"] = {"Algorithm": written.checksum[0], "Value": written.checksum[1]}
        part = store.Part(number, written.size, quote_etag(written.md5_hex), round(self.clock.now(), 3), doc)
        store.put_part(self.db, upload.upload_id, part)
        return part

    async def complete_multipart_upload(self, ctx: RequestContext, params: Params) -> Result:
        upload = self._upload(params)
        check_write_conditions(self.db, upload.bucket, upload.key, params)
        listed = (params.get("MultipartUpload") or {}).get("Parts") or []
        stored = {p.number: p for p in store.list_parts(self.db, upload.upload_id)}
        chosen: list[store.Part] = []
        for item in listed:
            number = item.get("PartNumber")
            part = stored.get(number) if isinstance(number, int) else None
            if part is None or str(item.get("ETag", "")).strip('"') != part.etag.strip('"'):
                raise errors.invalid_part()
            if chosen and number <= chosen[-1].number:
                raise errors.invalid_part_order()
            chosen.append(part)
        if not chosen:
            raise errors.S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate")
        if any(p.size < MIN_PART_SIZE for p in chosen[:-1]):
            raise errors.entity_too_small()
        joined = await self.files.concatenate(self.files.part_path(upload.upload_id, p.number) for p in chosen)
        digest = hashlib.md5(b"".join(bytes.fromhex(p.etag.strip('"')) for p in chosen), usedforsecurity=False)
        etag = f'"{digest.hexdigest()}-{len(chosen)}"'
        doc = {k: v for k, v in upload.doc.items() if k not in ("ChecksumAlgorithm", "ChecksumType")}
        checksum = _multipart_checksum(upload.doc, chosen)
        if checksum is not None:
            doc["Checksum"] = checksum
        written = Written(joined, sum(p.size for p in chosen), "", None)
        obj = self._commit(upload.bucket, upload.key, written, doc, etag=etag)
        store.delete_upload(self.db, upload.upload_id)
        self.files.remove_upload(upload.upload_id)
        result: dict[str, Any] = {
            "Location": f"/{upload.bucket}/{upload.key}",
            "Bucket": upload.bucket,
            "Key": upload.key,
            "ETag": obj.etag,
        }
        if checksum is not None:
            result[f"Checksum{checksum['Algorithm']}"] = checksum["Value"]
            result["ChecksumType"] = checksum["Type"]
        return result

    def abort_multipart_upload(self, ctx: RequestContext, params: Params) -> Result:
        upload = self._upload(params)
        store.delete_upload(self.db, upload.upload_id)
        self.files.remove_upload(upload.upload_id)
        return None

    def list_parts(self, ctx: RequestContext, params: Params) -> Result:
        upload = self._upload(params)
        marker = int(params.get("PartNumberMarker") or 0)
        limit = min(int(params.get("MaxParts") or MAX_PARTS_LISTED), MAX_PARTS_LISTED)
        parts = [p for p in store.list_parts(self.db, upload.upload_id) if p.number > marker]
        page, truncated = parts[:limit], len(parts) > limit
        entries = []
        for p in page:
            entry: dict[str, Any] = {"PartNumber": p.number, "LastModified": p.modified, "ETag": p.etag, "Size": p.size}
            if p.doc.get("Checksum"):
                entry[f"Checksum{p.doc['Checksum']['Algorithm']}"] = p.doc["Checksum"]["Value"]
            entries.append(entry)
        owner = {"ID": ctx.account, "DisplayName": "ecslite"}
        result: dict[str, Any] = {
            "Bucket": upload.bucket,
            "Key": upload.key,
            "UploadId": upload.upload_id,
            "PartNumberMarker": marker,
            "MaxParts": limit,
            "IsTruncated": truncated,
            "Parts": entries or None,
            "Initiator": owner,
            "Owner": owner,
            "StorageClass": STORAGE_CLASS,
        }
        if truncated:
            result["NextPartNumberMarker"] = page[-1].number
        return result

    def list_multipart_uploads(self, ctx: RequestContext, params: Params) -> Result:
        bucket = self.bucket(params["Bucket"]).name
        prefix = params.get("Prefix") or ""
        limit = min(int(params.get("MaxUploads") or MAX_PARTS_LISTED), MAX_PARTS_LISTED)
        marker = params.get("KeyMarker") or ""
        uploads = [u for u in store.list_uploads(self.db, bucket, prefix) if u.key > marker]
        page, truncated = uploads[:limit], len(uploads) > limit
        owner = {"ID": ctx.account, "DisplayName": "ecslite"}
        result: dict[str, Any] = {
            "Bucket": bucket,
            "Prefix": params.get("Prefix"),
            "KeyMarker": marker,
            "MaxUploads": limit,
            "IsTruncated": truncated,
            "Uploads": [
                {
                    "UploadId": u.upload_id,
                    "Key": u.key,
                    "Initiated": u.initiated,
                    "StorageClass": STORAGE_CLASS,
                    "Owner": owner,
                    "Initiator": owner,
                }
                for u in page
            ]
            or None,
        }
        if truncated:
            result["NextKeyMarker"] = page[-1].key
            result["NextUploadIdMarker"] = page[-1].upload_id
        return result


def _part_number(params: Params) -> int:
    number = int(params["PartNumber"])
    if not 1 <= number <= MAX_PART_NUMBER:
        raise errors.invalid_argument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive", "partNumber", str(number)
        )
    return number


def _copy_range(text: str | None, size: int) -> tuple[int, int]:
    """(start, length) of ``x-amz-copy-source-range: bytes=first-last``, which must lie in the source."""
    if text is None:
        return 0, size
    first, _, last = text.removeprefix("bytes=").partition("-")
    if not (first.isdigit() and last.isdigit()) or int(first) > int(last) or int(last) >= size:
        raise errors.invalid_argument(
            f"Range specified is not valid for source object of size: {size}", "x-amz-copy-source-range", text
        )
    return int(first), int(last) - int(first) + 1


def _multipart_checksum(upload_doc: dict[str, Any], parts: list[store.Part]) -> dict[str, str] | None:
    """The COMPOSITE checksum of an upload that named an algorithm, when every part carries one.
    (A FULL_OBJECT checksum would need the whole object hashed again; it is not kept.)"""
    algorithm = upload_doc.get("ChecksumAlgorithm")
    if not algorithm or upload_doc.get("ChecksumType") == "FULL_OBJECT":
        return None
    values = [p.doc.get("Checksum", {}).get("Value") for p in parts]
    if any(v is None for v in values):
        return None
    return {
        "Algorithm": algorithm,
        "Value": checksums.composite(algorithm, [str(v) for v in values]),
        "Type": "COMPOSITE",
    }
