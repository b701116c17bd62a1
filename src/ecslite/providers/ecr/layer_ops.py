"""ECR's layer API: uploads in parts (Initiate/UploadLayerPart/Complete) and BatchCheckLayerAvailability.

The parts go to the same upload files the registry's chunked uploads use, and a completed layer is a
blob of the repository like one pushed through ``/v2/`` (``blobs.py``): a manifest naming it can then
be stored with PutImage.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecr import errors
from ecslite.providers.ecr.blobs import DIGEST, BlobStore, Upload
from ecslite.store import ecr as store
from ecslite.store.db import Database

# What InitiateLayerUpload tells clients to send per part (unverified: ECR's own figure).
PART_SIZE = 10 * 1024 * 1024


class LayerOps:
    db: Database
    blobs: BlobStore

    def _layer_repo(self, ctx: RequestContext, params: Params) -> store.Repo:
        raise NotImplementedError

    def initiate_layer_upload(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._layer_repo(ctx, params)
        upload = self.blobs.start(repo.account, repo.region, repo.name)
        return {"uploadId": upload.upload_id, "partSize": PART_SIZE}

    def upload_layer_part(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._layer_repo(ctx, params)
        upload = self._upload(repo, params["uploadId"])
        data: bytes = params["layerPartBlob"]
        first, last = params["partFirstByte"], params["partLastByte"]
        received = upload.size
        if first != received or last - first + 1 != len(data):
            raise errors.InvalidLayerPartException(
                f"The layer part with first byte {first} and last byte {last} does not continue the upload, which "
                f"has {received} bytes",
                {
                    "registryId": repo.account,
                    "repositoryName": repo.name,
                    "uploadId": upload.upload_id,
                    "lastValidByteReceived": received - 1,
                },
            )
        with upload.path.open("ab") as out:
            out.write(data)
        return {**_ids(repo), "uploadId": upload.upload_id, "lastByteReceived": last}

    def complete_layer_upload(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._layer_repo(ctx, params)
        upload = self._upload(repo, params["uploadId"])
        if upload.size == 0:
            raise errors.EmptyUploadException(f"The upload with id '{upload.upload_id}' has no layer parts")
        (digest, *_) = params["layerDigests"]
        if not DIGEST.fullmatch(digest):
            raise errors.InvalidLayerException(f"Invalid layer digest '{digest}'")
        if store.has_layer(self.db, repo, digest):
            self.blobs.cancel(upload)
            raise errors.LayerAlreadyExistsException(
                f"Layer with digest '{digest}' already exists in the repository with name '{repo.name}' in the "
                f"registry with id '{repo.account}'"
            )
        size = self.blobs.commit(upload, digest)
        if size is None:
            raise errors.InvalidLayerException(
                f"The calculated digest of the uploaded layer does not match the digest '{digest}'"
            )
        with self.db.transaction():
            store.add_layer(self.db, repo, digest, size)
        return {**_ids(repo), "uploadId": upload.upload_id, "layerDigest": digest}

    def batch_check_layer_availability(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._layer_repo(ctx, params)
        layers, failures = [], []
        for digest in params["layerDigests"]:
            size = store.layer_size(self.db, repo, digest) if DIGEST.fullmatch(digest) else None
            if size is not None:
                layers.append({"layerDigest": digest, "layerAvailability": "AVAILABLE", "layerSize": size})
            elif not DIGEST.fullmatch(digest):
                failures.append(
                    {
                        "layerDigest": digest,
                        "failureCode": "InvalidLayerDigest",
                        "failureReason": "Invalid layer digest",
                    }
                )
            else:
                failures.append(
                    {
                        "layerDigest": digest,
                        "failureCode": "MissingLayerDigest",
                        "failureReason": "Could not find layer",
                    }
                )
        return {"layers": layers, "failures": failures}

    def _upload(self, repo: store.Repo, upload_id: str) -> Upload:
        upload = self.blobs.upload(upload_id)
        if upload is None or (upload.account, upload.region, upload.repository) != (
            repo.account,
            repo.region,
            repo.name,
        ):
            raise errors.upload_not_found(upload_id, repo.name, repo.account)
        return upload


def _ids(repo: store.Repo) -> dict[str, Any]:
    return {"registryId": repo.account, "repositoryName": repo.name}
