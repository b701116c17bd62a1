"""Images of ecslite's own ECR as a source of the process runtime's image resolution.

A task image named ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]`` whose
repository exists in ecslite's ECR runs from the image pushed there: its layers are unpacked once per
image into ``<ecr dir>/rootfs/<manifest digest>`` (the container pivots into it) and its config gives
the entry point, command, environment, working directory, stop signal and user. An index picks the
manifest for this machine's architecture. A repository ecslite does not have is left to the other
stages (the image map may stand in for it); a tag or digest missing from a repository ecslite has
stops the task with ECS's ``CannotPullContainerError``.

The unpacked root is only ever read: each container writes to a layer of its own (an overlay the
shim mounts, ``rootfs_upper``), removed with the task's files.
"""

from __future__ import annotations

import platform
import shutil
import signal
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ecslite.builtin.registry import ImageReference
from ecslite.providers.ecr import images
from ecslite.providers.ecr.blobs import BlobStore
from ecslite.runtime.base import ImagePullFailed
from ecslite.runtime.process.images import CANNOT_PULL, DEFAULT_PATH, ImageSource, ResolvedImage
from ecslite.runtime.process.layers import unpack
from ecslite.store import ecr as store
from ecslite.store.db import Database

_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


class EcrImageStore:
    def __init__(self, db: Database, blobs: BlobStore, endpoint: Callable[[], str | None] | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.roots = blobs.directory / "rootfs"
        # The server's address (known once it listens): the registry host the hint tells to push to.
        self.endpoint = endpoint
        self._lock = threading.Lock()

    def describe(self) -> str:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM ecr_repositories")
        count = int(row["n"]) if row else 0
        return f"ecslite's ECR has {count} repositor{'y' if count == 1 else 'ies'} and none of this name"

    def resolve(self, reference: ImageReference, name: str) -> ResolvedImage | None:
        ecr = reference.ecr
        if ecr is None:
            return None
        repo = store.Repo(ecr.account, ecr.region, ecr.path)
        if store.get_repository(self.db, repo) is None:
            return None
        wanted = reference.digest or reference.tag or "latest"
        image = images.resolve(self.db, repo, wanted)
        if image is None:
            raise ImagePullFailed(self._not_found(reference, repo, wanted))
        manifest = orjson.loads(image["imageManifest"])
        digest = image["imageDigest"]
        if image["imageManifestMediaType"] in images.INDEX_TYPES:
            manifest, digest = self._for_this_machine(reference, repo, manifest)
        config = orjson.loads(self._blob(reference, manifest["config"]["digest"]).read_bytes())
        root = self._root(reference, digest, manifest)
        return _resolved(name, image["imageDigest"], manifest["config"]["digest"], root, config.get("config") or {})

    def _for_this_machine(
        self, reference: ImageReference, repo: store.Repo, index: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        arch = _ARCHITECTURES.get(platform.machine(), platform.machine())
        for entry in index.get("manifests") or []:
            wanted = entry.get("platform") or {}
            if wanted.get("os", "linux") == "linux" and wanted.get("architecture") == arch:
                child = store.get_image(self.db, repo, entry["digest"])
                if child is not None:
                    return orjson.loads(child["imageManifest"]), str(child["imageDigest"])
        raise ImagePullFailed(
            f"{CANNOT_PULL}: failed to resolve ref {reference.canonical}: no match for platform in manifest: "
            f"not found. The image index in ecslite's ECR repository {repo.name} has no linux/{arch} image; push "
            "one built for this machine."
        )

    def _blob(self, reference: ImageReference, digest: str) -> Path:
        if not self.blobs.exists(digest):
            raise ImagePullFailed(
                f"{CANNOT_PULL}: failed to copy: blob {digest} of {reference.canonical} is missing from ecslite's "
                "ECR store; push the image again."
            )
        return self.blobs.path(digest)

    def _root(self, reference: ImageReference, digest: str, manifest: dict[str, Any]) -> Path:
        """The image's unpacked root, made on first use (under a lock: tasks start in parallel threads)."""
        root = self.roots / digest.removeprefix("sha256:")
        with self._lock:
            if root.is_dir():
                return root
            layers = [self._blob(reference, layer["digest"]) for layer in manifest.get("layers") or []]
            scratch = self.roots / f".{uuid.uuid4().hex}"
            try:
                unpack(layers, scratch)
                scratch.rename(root)
            except Exception as error:
                shutil.rmtree(scratch, ignore_errors=True)
                raise ImagePullFailed(
                    f"{CANNOT_PULL}: failed to unpack image {reference.canonical}: {error}"
                ) from error
        return root

    def _not_found(self, reference: ImageReference, repo: store.Repo, wanted: str) -> str:
        tags = sorted(t for found in store.tags_by_digest(self.db, repo).values() for t in found)
        kind = "digest" if wanted.startswith("sha256:") else "tag"
        served = self.endpoint() if self.endpoint is not None else None
        host = served.partition("://")[2] if served else "<ecslite host:port>"
        where = f"{host}/{repo.name}:{wanted}"
        shown = ", ".join(tags[:10]) + (", …" if len(tags) > 10 else "") if tags else "none"
        return (
            f"{CANNOT_PULL}: pull image manifest has been retried 5 time(s): failed to resolve ref "
            f"{reference.canonical}: {reference.canonical}: not found. ecslite's ECR repository {repo.name} "
            f"({repo.account}, {repo.region}) has no image with {kind} {wanted} (its tags: {shown}); push it, "
            f"e.g. docker push {where}."
        )


def _resolved(name: str, digest: str, image_id: str, root: Path, config: dict[str, Any]) -> ResolvedImage:
    environment = dict(item.partition("=")[::2] for item in config.get("Env") or [] if isinstance(item, str))
    environment.setdefault("PATH", DEFAULT_PATH)
    return ResolvedImage(
        name=name,
        source=ImageSource.ECR.value,
        digest=digest,
        image_id=image_id,
        root=root,
        entry_point=tuple(config.get("Entrypoint") or ()),
        command=tuple(config.get("Cmd") or ()),
        environment=environment,
        working_directory=config.get("WorkingDir") or None,
        stop_signal=_signal(config.get("StopSignal")),
        user=config.get("User") or None,
    )


def _signal(value: Any) -> int:
    if isinstance(value, str) and value:
        text = value.strip().upper()
        if text.isdigit():
            return int(text)
        name = text if text.startswith("SIG") else f"SIG{text}"
        if name in signal.Signals.__members__:
            return int(signal.Signals[name])
    return int(signal.SIGTERM)
