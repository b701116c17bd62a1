"""ECR repositories, images, tags and the blobs each repository holds.

- ``ecr_repositories``: one row per repository of a partition; ``doc`` holds ``repository`` (the
  API's Repository shape) and, when set, ``policyText`` and ``lifecyclePolicy`` (text and time).
- ``ecr_images``: one row per manifest a repository holds, keyed by its digest; ``doc`` has the
  manifest text exactly as pushed (its sha256 is the digest), its media type, size and push time.
- ``ecr_image_tags``: which digest each tag of a repository names (a tag names one image at a time).
- ``ecr_layers``: the blobs (layers and configs) a repository holds, uploaded or mounted; the bytes
  are content-addressed files shared by every repository (``providers/ecr/blobs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecslite.store.db import Database, dumps, loads

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Repo:
    """A repository's partition and name, the key every image and blob row carries."""

    account: str
    region: str
    name: str


# -- repositories ------------------------------------------------------------------------------------


def get_repository(db: Database, repo: Repo) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM ecr_repositories WHERE account=? AND region=? AND name=?",
        (repo.account, repo.region, repo.name),
    )
    return loads(row["doc"]) if row else None


def put_repository(db: Database, repo: Repo, doc: Doc) -> None:
    db.execute(
        """INSERT INTO ecr_repositories (account, region, name, arn, doc) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (account, region, name) DO UPDATE SET doc=excluded.doc""",
        (repo.account, repo.region, repo.name, doc["repository"]["repositoryArn"], dumps(doc)),
    )


def repositories(db: Database, account: str, region: str) -> list[Doc]:
    rows = db.query("SELECT doc FROM ecr_repositories WHERE account=? AND region=? ORDER BY name", (account, region))
    return [loads(r["doc"]) for r in rows]


def repository_by_arn(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM ecr_repositories WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def delete_repository(db: Database, repo: Repo) -> None:
    key = (repo.account, repo.region, repo.name)
    for table, column in (
        ("ecr_repositories", "name"),
        ("ecr_images", "repository"),
        ("ecr_image_tags", "repository"),
        ("ecr_layers", "repository"),
    ):
        db.execute(f"DELETE FROM {table} WHERE account=? AND region=? AND {column}=?", key)


# -- images ------------------------------------------------------------------------------------------


def get_image(db: Database, repo: Repo, digest: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM ecr_images WHERE account=? AND region=? AND repository=? AND digest=?",
        (repo.account, repo.region, repo.name, digest),
    )
    return loads(row["doc"]) if row else None


def put_image(db: Database, repo: Repo, doc: Doc) -> None:
    db.execute(
        """INSERT INTO ecr_images (account, region, repository, digest, doc) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (account, region, repository, digest) DO UPDATE SET doc=excluded.doc""",
        (repo.account, repo.region, repo.name, doc["imageDigest"], dumps(doc)),
    )


def images(db: Database, repo: Repo) -> list[Doc]:
    """The repository's images in push order."""
    rows = db.query(
        "SELECT doc FROM ecr_images WHERE account=? AND region=? AND repository=? ORDER BY rid",
        (repo.account, repo.region, repo.name),
    )
    return [loads(r["doc"]) for r in rows]


def image_count(db: Database, repo: Repo) -> int:
    row = db.query_one(
        "SELECT COUNT(*) AS n FROM ecr_images WHERE account=? AND region=? AND repository=?",
        (repo.account, repo.region, repo.name),
    )
    return int(row["n"]) if row else 0


def delete_image(db: Database, repo: Repo, digest: str) -> None:
    key = (repo.account, repo.region, repo.name, digest)
    db.execute("DELETE FROM ecr_images WHERE account=? AND region=? AND repository=? AND digest=?", key)
    db.execute("DELETE FROM ecr_image_tags WHERE account=? AND region=? AND repository=? AND digest=?", key)


# -- tags --------------------------------------------------------------------------------------------


def tag_digest(db: Database, repo: Repo, tag: str) -> str | None:
    row = db.query_one(
        "SELECT digest FROM ecr_image_tags WHERE account=? AND region=? AND repository=? AND tag=?",
        (repo.account, repo.region, repo.name, tag),
    )
    return str(row["digest"]) if row else None


def set_tag(db: Database, repo: Repo, tag: str, digest: str) -> None:
    db.execute(
        """INSERT INTO ecr_image_tags (account, region, repository, tag, digest) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (account, region, repository, tag) DO UPDATE SET digest=excluded.digest""",
        (repo.account, repo.region, repo.name, tag, digest),
    )


def remove_tag(db: Database, repo: Repo, tag: str) -> None:
    db.execute(
        "DELETE FROM ecr_image_tags WHERE account=? AND region=? AND repository=? AND tag=?",
        (repo.account, repo.region, repo.name, tag),
    )


def tags_by_digest(db: Database, repo: Repo) -> dict[str, list[str]]:
    """Each tagged digest's tags, in the order they were first set."""
    rows = db.query(
        "SELECT tag, digest FROM ecr_image_tags WHERE account=? AND region=? AND repository=? ORDER BY rowid",
        (repo.account, repo.region, repo.name),
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row["digest"]), []).append(str(row["tag"]))
    return found


# -- blobs a repository holds ------------------------------------------------------------------------


def layer_size(db: Database, repo: Repo, digest: str) -> int | None:
    """The blob's size when the repository holds it, else None."""
    row = db.query_one(
        "SELECT size FROM ecr_layers WHERE account=? AND region=? AND repository=? AND digest=?",
        (repo.account, repo.region, repo.name, digest),
    )
    return int(row["size"]) if row else None


def has_layer(db: Database, repo: Repo, digest: str) -> bool:
    return layer_size(db, repo, digest) is not None


def add_layer(db: Database, repo: Repo, digest: str, size: int) -> None:
    db.execute(
        """INSERT INTO ecr_layers (account, region, repository, digest, size) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (account, region, repository, digest) DO NOTHING""",
        (repo.account, repo.region, repo.name, digest, size),
    )


def layer_in_use(db: Database, digest: str) -> bool:
    """True while any repository holds the blob (its file must stay)."""
    return db.query_one("SELECT 1 FROM ecr_layers WHERE digest=? LIMIT 1", (digest,)) is not None


def layers(db: Database, repo: Repo) -> list[str]:
    rows = db.query(
        "SELECT digest FROM ecr_layers WHERE account=? AND region=? AND repository=?",
        (repo.account, repo.region, repo.name),
    )
    return [str(r["digest"]) for r in rows]
