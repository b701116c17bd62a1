"""Storing and removing images: what PutImage and a registry manifest PUT share.

A manifest is kept byte for byte (its sha256 is the image digest); the blobs it names must already
be held by the repository (uploaded or mounted), and an index's manifests must be images of it.
Errors are ECR's API errors; the registry maps them to the distribution API's codes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ecslite.providers.ecr import errors
from ecslite.store import ecr as store
from ecslite.store.db import Database

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
MAX_TAGS_PER_IMAGE = 1000


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Manifest:
    data: bytes
    media_type: str
    doc: dict[str, Any]

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def blobs(self) -> list[tuple[str, int]]:
        """The config and layers an image manifest names, as (digest, size)."""
        found = [self.doc["config"]] if isinstance(self.doc.get("config"), dict) else []
        found += [layer for layer in self.doc.get("layers") or [] if isinstance(layer, dict)]
        return [(str(d.get("digest")), int(d.get("size") or 0)) for d in found]

    def children(self) -> list[str]:
        return [str(m.get("digest")) for m in self.doc.get("manifests") or [] if isinstance(m, dict)]


def parse(data: bytes, media_type: str | None) -> Manifest:
    """Read a manifest; its own ``mediaType`` wins over a generic or missing header."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise errors.invalid_parameter("imageManifest", "Invalid JSON syntax") from None
    if not isinstance(doc, dict):
        raise errors.invalid_parameter("imageManifest", "Invalid JSON syntax")
    declared = doc.get("mediaType")
    kind = declared if isinstance(declared, str) and declared else media_type
    if not kind or kind not in MANIFEST_TYPES:
        # An OCI manifest may leave mediaType out: what it holds tells which it is.
        kind = OCI_INDEX if "manifests" in doc else OCI_MANIFEST if "layers" in doc else kind
    if kind not in MANIFEST_TYPES or doc.get("schemaVersion") != 2:
        raise errors.InvalidParameterException(
            f"Invalid parameter at 'imageManifest' failed to satisfy constraint: "
            f"'Unsupported manifest media type {kind}'"
        )
    return Manifest(data, kind, doc)


def put(
    db: Database,
    repo: store.Repo,
    manifest: Manifest,
    tag: str | None,
    now: float,
    *,
    refuse_repeat: bool,
) -> dict[str, Any]:
    """Store ``manifest`` in ``repo`` (and point ``tag`` at it); returns the image's record.

    ``refuse_repeat`` is PutImage's rule: the same manifest under the same tag again is an error (a
    registry push of it just succeeds).
    """
    repository = store.get_repository(db, repo)
    if repository is None:
        raise errors.repository_not_found(repo.name, repo.account)
    digest = manifest.digest
    size = _check_references(db, repo, manifest)
    existing = store.get_image(db, repo, digest)
    current = store.tag_digest(db, repo, tag) if tag else None
    if refuse_repeat and existing is not None and (tag is None or current == digest):
        raise errors.ImageAlreadyExistsException(
            f"Image with digest '{digest}' and tag '{tag or 'null'}' already exists in the repository with name "
            f"'{repo.name}' in registry with id '{repo.account}'"
        )
    mutability = repository["repository"].get("imageTagMutability", "MUTABLE")
    if tag and current is not None and current != digest and mutability.startswith("IMMUTABLE"):
        raise errors.ImageTagAlreadyExistsException(
            f"The image tag '{tag}' already exists in the '{repo.name}' repository and cannot be overwritten "
            "because the repository is immutable."
        )
    doc = existing or {
        "imageDigest": digest,
        "imageManifest": manifest.data.decode("utf-8"),
        "imageManifestMediaType": manifest.media_type,
        "imageSizeInBytes": size,
        "imagePushedAt": now,
    }
    config = manifest.doc.get("config")
    if isinstance(config, dict) and config.get("mediaType"):
        doc["artifactMediaType"] = config["mediaType"]
    with db.transaction():
        store.put_image(db, repo, doc)
        if tag:
            store.set_tag(db, repo, tag, digest)
    return doc


def _check_references(db: Database, repo: store.Repo, manifest: Manifest) -> int:
    """The image's size; LayersNotFound / ReferencedImagesNotFound when what it names is not here."""
    if manifest.is_index:
        sizes = []
        missing = []
        for child in manifest.children():
            image = store.get_image(db, repo, child)
            if image is None:
                missing.append(child)
            else:
                sizes.append(int(image.get("imageSizeInBytes") or 0))
        if missing:
            raise errors.ReferencedImagesNotFoundException(
                f"Manifest references images {missing} that do not exist in the repository with name '{repo.name}' "
                f"in the registry with id '{repo.account}'"
            )
        return max(sizes, default=0)
    missing = [digest for digest, _ in manifest.blobs() if not store.has_layer(db, repo, digest)]
    if missing:
        raise errors.LayersNotFoundException(
            f"Layers with digests '{missing}' required for pushing image into repository with name '{repo.name}' "
            f"in the registry with id '{repo.account}' do not exist"
        )
    return sum(size for _, size in manifest.blobs())


def resolve(db: Database, repo: store.Repo, reference: str) -> dict[str, Any] | None:
    """The image a tag or ``sha256:`` digest names in ``repo``."""
    digest = reference if reference.startswith("sha256:") else store.tag_digest(db, repo, reference)
    return store.get_image(db, repo, digest) if digest else None


def referenced_by_index(db: Database, repo: store.Repo, digest: str) -> bool:
    """True when an index of the repository lists ``digest`` (ECR then refuses to delete it)."""
    for image in store.images(db, repo):
        if image.get("imageManifestMediaType") in INDEX_TYPES:
            children = orjson.loads(image["imageManifest"]).get("manifests") or []
            if any(isinstance(c, dict) and c.get("digest") == digest for c in children):
                return True
    return False
