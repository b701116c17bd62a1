"""ECR's image operations over the stored images: Describe/List/BatchGet/BatchDelete/PutImage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecr import errors, images
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store import ecr as store
from ecslite.store.db import Database

NOT_FOUND = "Requested image not found"


def _invalid_token(message: str) -> errors.InvalidParameterException:
    return errors.invalid_parameter("nextToken", "Invalid pagination token")


class ImageOps:
    db: Database

    # Provided by the provider.
    def now(self) -> float:
        raise NotImplementedError

    def repo(self, ctx: RequestContext, params: Params) -> store.Repo:
        raise NotImplementedError

    def _repository(self, account: str, region: str, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def page(
        self, items: list[dict[str, Any]], params: Params, key: str, sort_key: Callable[[dict[str, Any]], Any]
    ) -> dict[str, Any]:
        """One page of ``items`` (already in order) after the token's position, ``maxResults`` long."""
        after = decode_token(params.get("nextToken"), _invalid_token)
        limit = params.get("maxResults") or 100
        start = 0
        if after is not None:
            start = next((i + 1 for i, item in enumerate(items) if sort_key(item) == after), len(items))
        shown = items[start : start + limit]
        result: dict[str, Any] = {key: shown}
        if start + limit < len(items):
            result["nextToken"] = encode_token(sort_key(shown[-1]))
        return result

    def _image_repo(self, ctx: RequestContext, params: Params) -> store.Repo:
        repo = self.repo(ctx, params)
        self._repository(repo.account, repo.region, repo.name)
        return repo

    def describe_images(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._image_repo(ctx, params)
        tags = store.tags_by_digest(self.db, repo)
        ids = params.get("imageIds")
        if ids:
            found: list[dict[str, Any]] = []
            for image_id in ids:
                image = self._find(repo, image_id)
                if image is None:
                    raise errors.image_not_found(
                        image_id.get("imageDigest"), image_id.get("imageTag"), repo.name, repo.account
                    )
                if image["imageDigest"] not in {f["imageDigest"] for f in found}:
                    found.append(image)
        else:
            found = store.images(self.db, repo)
        status = (params.get("filter") or {}).get("tagStatus", "ANY")
        details = [self._detail(repo, image, tags.get(image["imageDigest"], [])) for image in found]
        details = [d for d in details if _status_matches(status, d)]
        if ids:
            return {"imageDetails": details}
        return self.page(details, params, "imageDetails", lambda d: d["imageDigest"])

    def list_images(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._image_repo(ctx, params)
        tags = store.tags_by_digest(self.db, repo)
        status = (params.get("filter") or {}).get("tagStatus", "ANY")
        ids: list[dict[str, Any]] = []
        for image in store.images(self.db, repo):
            digest = image["imageDigest"]
            if tags.get(digest):
                if status != "UNTAGGED":
                    ids += [{"imageDigest": digest, "imageTag": tag} for tag in tags[digest]]
            elif status != "TAGGED":
                ids.append({"imageDigest": digest})
        return self.page(ids, params, "imageIds", lambda i: [i["imageDigest"], i.get("imageTag")])

    def batch_get_image(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._image_repo(ctx, params)
        accepted = params.get("acceptedMediaTypes")
        found, failures = [], []
        for image_id in params["imageIds"]:
            image = self._find(repo, image_id)
            if image is None:
                failures.append(_failure(image_id, "ImageNotFound", NOT_FOUND))
                continue
            if accepted and image["imageManifestMediaType"] not in accepted:
                failures.append(_failure(image_id, "UnsupportedImageType", "Image type not supported"))
                continue
            shown = {"imageDigest": image["imageDigest"]}
            if image_id.get("imageTag"):
                shown["imageTag"] = image_id["imageTag"]
            found.append(
                {
                    "registryId": repo.account,
                    "repositoryName": repo.name,
                    "imageId": shown,
                    "imageManifest": image["imageManifest"],
                    "imageManifestMediaType": image["imageManifestMediaType"],
                }
            )
        return {"images": found, "failures": failures}

    def batch_delete_image(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        """A tag is removed (and its image with its last tag); a digest removes the image and its tags."""
        repo = self._image_repo(ctx, params)
        deleted, failures = [], []
        for image_id in params["imageIds"]:
            digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
            if not digest and not tag:
                failures.append(
                    _failure(
                        image_id,
                        "MissingDigestAndTag",
                        "Invalid request parameters: both tag and digest cannot be null",
                    )
                )
                continue
            image = self._find(repo, image_id)
            if image is None:
                failures.append(_failure(image_id, "ImageNotFound", NOT_FOUND))
                continue
            digest = image["imageDigest"]
            tags = store.tags_by_digest(self.db, repo).get(digest, [])
            if tag and not image_id.get("imageDigest") and len(tags) > 1:
                with self.db.transaction():
                    store.remove_tag(self.db, repo, tag)
                deleted.append({"imageDigest": digest, "imageTag": tag})
                continue
            if images.referenced_by_index(self.db, repo, digest):
                reason = "Requested image referenced by a manifest list"
                failures.append(_failure(image_id, "ImageReferencedByManifestList", reason))
                continue
            with self.db.transaction():
                store.delete_image(self.db, repo, digest)
            deleted += [{"imageDigest": digest, "imageTag": t} for t in tags] or [{"imageDigest": digest}]
        return {"imageIds": deleted, "failures": failures}

    def put_image(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self._image_repo(ctx, params)
        data = params["imageManifest"].encode("utf-8")
        manifest = images.parse(data, params.get("imageManifestMediaType"))
        given = params.get("imageDigest")
        if given and given != manifest.digest:
            raise errors.ImageDigestDoesNotMatchException(
                f"Provided image digest '{given}' does not match with the calculated image digest '{manifest.digest}'"
            )
        tag = params.get("imageTag")
        image = images.put(self.db, repo, manifest, tag, self.now(), refuse_repeat=True)
        image_id = {"imageDigest": image["imageDigest"], **({"imageTag": tag} if tag else {})}
        return {
            "image": {
                "registryId": repo.account,
                "repositoryName": repo.name,
                "imageId": image_id,
                "imageManifest": image["imageManifest"],
                "imageManifestMediaType": image["imageManifestMediaType"],
            }
        }

    def _find(self, repo: store.Repo, image_id: dict[str, Any]) -> dict[str, Any] | None:
        """The image an ImageIdentifier names; with both, the tag must name that digest."""
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        if tag:
            tagged = store.tag_digest(self.db, repo, tag)
            if tagged is None or (digest and digest != tagged):
                return None
            digest = tagged
        return store.get_image(self.db, repo, digest) if digest else None

    @staticmethod
    def _detail(repo: store.Repo, image: dict[str, Any], tags: list[str]) -> dict[str, Any]:
        detail = {
            "registryId": repo.account,
            "repositoryName": repo.name,
            "imageDigest": image["imageDigest"],
            "imageSizeInBytes": image["imageSizeInBytes"],
            "imagePushedAt": image["imagePushedAt"],
            "imageManifestMediaType": image["imageManifestMediaType"],
            "imageStatus": "ACTIVE",
        }
        if tags:
            detail["imageTags"] = tags
        if image.get("artifactMediaType"):
            detail["artifactMediaType"] = image["artifactMediaType"]
        return detail


def _status_matches(status: str, detail: dict[str, Any]) -> bool:
    if status == "TAGGED":
        return bool(detail.get("imageTags"))
    if status == "UNTAGGED":
        return not detail.get("imageTags")
    return True


def _failure(image_id: dict[str, Any], code: str, reason: str) -> dict[str, Any]:
    return {"imageId": image_id, "failureCode": code, "failureReason": reason}
