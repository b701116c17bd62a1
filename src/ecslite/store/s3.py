"""S3 metadata (``s3_buckets``, ``s3_objects``, ``s3_uploads``, ``s3_parts``); the bytes are files.

Invariants:
- Bucket names are global (one namespace for every account and region, as in S3); ``doc`` holds the
  bucket's stored configuration (tags, policy, versioning, encryption, public access block,
  lifecycle), each under its API member name.
- One row per object, keyed by (bucket, key). ``path`` is the object's file relative to the S3
  directory; ``etag`` is quoted as the API shows it; ``doc`` holds ``ContentType``, ``Metadata``,
  ``Tags`` and the object's checksum, if it has one.
- Keys sort in UTF-8 byte order (SQLite's BINARY collation on UTF-8 text), the order S3 lists in.
- A part belongs to an upload in ``s3_uploads``; deleting the upload deletes its parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecslite.store.db import Database, dumps, loads

Doc = dict[str, Any]
# The greatest code point: every key that starts with ``p`` sorts before ``p + KEY_END``.
KEY_END = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    account: str
    region: str
    created: float
    doc: Doc


@dataclass(frozen=True, slots=True)
class Object:
    bucket: str
    key: str
    path: str
    size: int
    etag: str
    modified: float
    doc: Doc


@dataclass(frozen=True, slots=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    doc: Doc


@dataclass(frozen=True, slots=True)
class Part:
    number: int
    size: int
    etag: str
    modified: float
    doc: Doc


# -- buckets -----------------------------------------------------------------------------------


def get_bucket(db: Database, name: str) -> Bucket | None:
    row = db.query_one("SELECT * FROM s3_buckets WHERE name = ?", (name,))
    if row is None:
        return None
    return Bucket(row["name"], row["account"], row["region"], row["created"], loads(row["doc"]))


def list_buckets(db: Database) -> list[Bucket]:
    rows = db.query("SELECT * FROM s3_buckets ORDER BY name")
    return [Bucket(r["name"], r["account"], r["region"], r["created"], loads(r["doc"])) for r in rows]


def insert_bucket(db: Database, bucket: Bucket) -> None:
    with db.transaction():
        db.execute(
            "INSERT INTO s3_buckets (name, account, region, created, doc) VALUES (?, ?, ?, ?, ?)",
            (bucket.name, bucket.account, bucket.region, bucket.created, dumps(bucket.doc)),
        )


def update_bucket_doc(db: Database, name: str, doc: Doc) -> None:
    with db.transaction():
        db.execute("UPDATE s3_buckets SET doc = ? WHERE name = ?", (dumps(doc), name))


def delete_bucket(db: Database, name: str) -> None:
    with db.transaction():
        for (upload_id,) in db.query("SELECT upload_id FROM s3_uploads WHERE bucket = ?", (name,)):
            db.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
        db.execute("DELETE FROM s3_uploads WHERE bucket = ?", (name,))
        db.execute("DELETE FROM s3_buckets WHERE name = ?", (name,))


# -- objects -----------------------------------------------------------------------------------


def _object(row: Any) -> Object:
    return Object(row["bucket"], row["key"], row["path"], row["size"], row["etag"], row["modified"], loads(row["doc"]))


def get_object(db: Database, bucket: str, key: str) -> Object | None:
    row = db.query_one("SELECT * FROM s3_objects WHERE bucket = ? AND key = ?", (bucket, key))
    return _object(row) if row is not None else None


def has_objects(db: Database, bucket: str) -> bool:
    return db.query_one("SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", (bucket,)) is not None


def put_object(db: Database, obj: Object) -> None:
    with db.transaction():
        db.execute(
            "INSERT OR REPLACE INTO s3_objects (bucket, key, path, size, etag, modified, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (obj.bucket, obj.key, obj.path, obj.size, obj.etag, obj.modified, dumps(obj.doc)),
        )


def update_object_doc(db: Database, bucket: str, key: str, doc: Doc) -> None:
    with db.transaction():
        db.execute("UPDATE s3_objects SET doc = ? WHERE bucket = ? AND key = ?", (dumps(doc), bucket, key))


def delete_object(db: Database, bucket: str, key: str) -> None:
    with db.transaction():
        db.execute("DELETE FROM s3_objects WHERE bucket = ? AND key = ?", (bucket, key))


def objects_after(db: Database, bucket: str, prefix: str, after: str, limit: int) -> list[Object]:
    """Up to ``limit`` objects whose key starts with ``prefix`` and sorts after ``after``, in order."""
    start = max(prefix, after)
    rows = db.query(
        "SELECT * FROM s3_objects WHERE bucket = ? AND key >= ? AND key > ? AND key < ? ORDER BY key LIMIT ?",
        (bucket, start, after, prefix + KEY_END, limit),
    )
    return [_object(r) for r in rows]


def object_paths(db: Database, bucket: str) -> list[str]:
    return [r["path"] for r in db.query("SELECT path FROM s3_objects WHERE bucket = ?", (bucket,))]


# -- multipart uploads -------------------------------------------------------------------------


def _upload(row: Any) -> Upload:
    return Upload(row["upload_id"], row["bucket"], row["key"], row["initiated"], loads(row["doc"]))


def insert_upload(db: Database, upload: Upload) -> None:
    with db.transaction():
        db.execute(
            "INSERT INTO s3_uploads (upload_id, bucket, key, initiated, doc) VALUES (?, ?, ?, ?, ?)",
            (upload.upload_id, upload.bucket, upload.key, upload.initiated, dumps(upload.doc)),
        )


def get_upload(db: Database, upload_id: str) -> Upload | None:
    row = db.query_one("SELECT * FROM s3_uploads WHERE upload_id = ?", (upload_id,))
    return _upload(row) if row is not None else None


def list_uploads(db: Database, bucket: str, prefix: str) -> list[Upload]:
    rows = db.query(
        "SELECT * FROM s3_uploads WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key, initiated",
        (bucket, prefix, prefix + KEY_END),
    )
    return [_upload(r) for r in rows]


def delete_upload(db: Database, upload_id: str) -> None:
    with db.transaction():
        db.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
        db.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))


def put_part(db: Database, upload_id: str, part: Part) -> None:
    with db.transaction():
        db.execute(
            "INSERT OR REPLACE INTO s3_parts (upload_id, part_number, size, etag, modified, doc)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (upload_id, part.number, part.size, part.etag, part.modified, dumps(part.doc)),
        )


def list_parts(db: Database, upload_id: str) -> list[Part]:
    rows = db.query("SELECT * FROM s3_parts WHERE upload_id = ? ORDER BY part_number", (upload_id,))
    return [Part(r["part_number"], r["size"], r["etag"], r["modified"], loads(r["doc"])) for r in rows]


def upload_ids(db: Database) -> list[str]:
    return [r["upload_id"] for r in db.query("SELECT upload_id FROM s3_uploads")]
