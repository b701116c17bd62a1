"""The ECR provider: repositories, their policies and tags, images and registry passwords (JSON 1.1,
``AmazonEC2ContainerRegistry_V20150921.<Op>``).

Repositories belong to a partition (``registryId`` names the account; the caller's by default). Their
images are pushed through ecslite's registry (``registry.py``, the OCI Distribution API at ``/v2/``) or
PutImage and run as ECS tasks (``runtime/process/ecr_images.py``). Lifecycle and repository policies,
scanning and encryption settings are stored and returned, not enforced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from ecslite.clock import Clock
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecr import errors
from ecslite.providers.ecr.auth import VALID_FOR, TokenSigner
from ecslite.providers.ecr.blobs import BlobStore
from ecslite.providers.ecr.image_ops import ImageOps
from ecslite.providers.ecr.layer_ops import LayerOps
from ecslite.store import ecr as store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database

# The model's pattern: components of lowercase letters and digits joined by '.', '_', '__' or dashes.
_NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
MAX_TAGS = 50
DEFAULT_MAX_RESULTS = 100


def repository_host(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


class EcrProvider(ImageOps, LayerOps):
    def __init__(self, db: Database, clock: Clock, directory: Path, endpoint: Any = None) -> None:
        self.db = db
        self.clock = clock
        self.directory = directory
        self.signer = TokenSigner(directory)
        self.blobs = BlobStore(directory)
        # Where the registry is served (the server's own address): GetAuthorizationToken's proxyEndpoint.
        self.endpoint = endpoint

    def now(self) -> float:
        return round(self.clock.now(), 3)

    def check_input(self, operation: str, params: Params) -> None:
        """ECR's own name check, which answers before the model's constraints with its own text."""
        name = params.get("repositoryName")
        if operation == "CreateRepository" and isinstance(name, str) and not _NAME.fullmatch(name):
            raise errors.InvalidParameterException(errors.INVALID_NAME)

    # -- repositories ------------------------------------------------------------------------------

    def create_repository(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        account = params.get("registryId") or ctx.account
        name = params["repositoryName"]
        repo = store.Repo(account, ctx.region, name)
        pairs = _tags(params.get("tags"))
        encryption = params.get("encryptionConfiguration") or {"encryptionType": "AES256"}
        if encryption.get("encryptionType") in ("KMS", "KMS_DSSE") and not encryption.get("kmsKey"):
            # Without a key ECR uses its AWS managed one.
            encryption = {**encryption, "kmsKey": f"arn:aws:kms:{ctx.region}:{account}:alias/aws/ecr"}
        elif encryption.get("encryptionType") == "AES256" and encryption.get("kmsKey"):
            raise errors.invalid_parameter("encryptionConfiguration", "kmsKey is only allowed with KMS encryption")
        arn = f"arn:aws:ecr:{ctx.region}:{account}:repository/{name}"
        repository: dict[str, Any] = {
            "repositoryArn": arn,
            "registryId": account,
            "repositoryName": name,
            "repositoryUri": f"{repository_host(account, ctx.region)}/{name}",
            "createdAt": self.now(),
            "imageTagMutability": params.get("imageTagMutability") or "MUTABLE",
            "imageScanningConfiguration": {
                "scanOnPush": bool((params.get("imageScanningConfiguration") or {}).get("scanOnPush", False))
            },
            "encryptionConfiguration": encryption,
        }
        if params.get("imageTagMutabilityExclusionFilters"):
            repository["imageTagMutabilityExclusionFilters"] = params["imageTagMutabilityExclusionFilters"]
        with self.db.transaction():
            if store.get_repository(self.db, repo) is not None:
                raise errors.repository_exists(name, account)
            store.put_repository(self.db, repo, {"repository": repository})
            tag_store.put(self.db, arn, pairs)
        return {"repository": repository}

    def describe_repositories(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        account = params.get("registryId") or ctx.account
        names = params.get("repositoryNames")
        if names:
            found = [self._repository(account, ctx.region, name)["repository"] for name in names]
            return {"repositories": found}
        every = [doc["repository"] for doc in store.repositories(self.db, account, ctx.region)]
        return self.page(every, params, "repositories", lambda r: r["repositoryName"])

    def delete_repository(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        if store.image_count(self.db, repo) and not params.get("force"):
            raise errors.repository_not_empty(repo.name, repo.account)
        held = store.layers(self.db, repo)
        with self.db.transaction():
            store.delete_repository(self.db, repo)
            tag_store.remove(self.db, doc["repository"]["repositoryArn"], [k for k, _ in self._tags_of(doc)])
        # Blob files no other repository holds go with it.
        for digest in held:
            if not store.layer_in_use(self.db, digest):
                self.blobs.remove(digest)
        return {"repository": doc["repository"]}

    def put_image_tag_mutability(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        doc["repository"]["imageTagMutability"] = params["imageTagMutability"]
        filters = params.get("imageTagMutabilityExclusionFilters")
        if filters:
            doc["repository"]["imageTagMutabilityExclusionFilters"] = filters
        else:
            doc["repository"].pop("imageTagMutabilityExclusionFilters", None)
        with self.db.transaction():
            store.put_repository(self.db, repo, doc)
        result = {**self._ids(repo), "imageTagMutability": params["imageTagMutability"]}
        return {**result, "imageTagMutabilityExclusionFilters": filters} if filters else result

    def put_image_scanning_configuration(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        config = {"scanOnPush": bool(params["imageScanningConfiguration"].get("scanOnPush", False))}
        doc["repository"]["imageScanningConfiguration"] = config
        with self.db.transaction():
            store.put_repository(self.db, repo, doc)
        return {**self._ids(repo), "imageScanningConfiguration": config}

    # -- policies ----------------------------------------------------------------------------------

    def set_repository_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        text = params["policyText"]
        policy = _json_object(text)
        if policy is None or not isinstance(policy.get("Statement"), list | dict):
            raise errors.invalid_parameter("PolicyText", "Invalid repository policy provided")
        doc["policyText"] = text
        with self.db.transaction():
            store.put_repository(self.db, repo, doc)
        return {**self._ids(repo), "policyText": text}

    def get_repository_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        if "policyText" not in doc:
            raise errors.policy_not_found(repo.name, repo.account)
        return {**self._ids(repo), "policyText": doc["policyText"]}

    def delete_repository_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        result = self.get_repository_policy(ctx, params)
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        doc.pop("policyText", None)
        with self.db.transaction():
            store.put_repository(self.db, repo, doc)
        return result

    def put_lifecycle_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        text = params["lifecyclePolicyText"]
        policy = _json_object(text)
        if policy is None or not isinstance(policy.get("rules"), list) or not policy["rules"]:
            raise errors.invalid_parameter(
                "lifecyclePolicyText", "Lifecycle policy validation failure: rules must be a non-empty array"
            )
        doc["lifecyclePolicy"] = {"text": text, "updatedAt": self.now()}
        with self.db.transaction():
            store.put_repository(self.db, repo, doc)
        return {**self._ids(repo), "lifecyclePolicyText": text}

    def get_lifecycle_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        policy = doc.get("lifecyclePolicy")
        if policy is None:
            raise errors.lifecycle_not_found(repo.name, repo.account)
        return {**self._ids(repo), "lifecyclePolicyText": policy["text"], "lastEvaluatedAt": policy["updatedAt"]}

    def delete_lifecycle_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        result = self.get_lifecycle_policy(ctx, params)
        repo = self.repo(ctx, params)
        doc = self._repository(repo.account, repo.region, repo.name)
        doc.pop("lifecyclePolicy", None)
        with self.db.transaction():
            store.put_repository(self.db, repo, doc)
        return result

    # -- tags --------------------------------------------------------------------------------------

    def tag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._by_arn(params["resourceArn"])
        arn = doc["repository"]["repositoryArn"]
        pairs = _tags(params["tags"])
        if tag_store.count_after(self.db, arn, [k for k, _ in pairs]) > MAX_TAGS:
            raise errors.TooManyTagsException("A maximum of 50 tags can be attached to a resource.")
        with self.db.transaction():
            tag_store.put(self.db, arn, pairs)
        return {}

    def untag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._by_arn(params["resourceArn"])
        with self.db.transaction():
            tag_store.remove(self.db, doc["repository"]["repositoryArn"], params["tagKeys"])
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._by_arn(params["resourceArn"])
        return {"tags": [{"Key": k, "Value": v} for k, v in self._tags_of(doc)]}

    # -- registry ----------------------------------------------------------------------------------

    def get_authorization_token(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        expires = self.now() + VALID_FOR
        accounts = params.get("registryIds") or [ctx.account]
        endpoint = self.proxy_endpoint()
        return {
            "authorizationData": [
                {
                    "authorizationToken": self.signer.token(account, ctx.region, expires),
                    "expiresAt": expires,
                    "proxyEndpoint": endpoint,
                }
                for account in accounts
            ]
        }

    def describe_registry(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return {"registryId": ctx.account, "replicationConfiguration": {"rules": []}}

    def proxy_endpoint(self) -> str:
        found = self.endpoint() if callable(self.endpoint) else self.endpoint
        return str(found or "http://127.0.0.1:4566")

    # -- helpers -----------------------------------------------------------------------------------

    def repo(self, ctx: RequestContext, params: Params) -> store.Repo:
        return store.Repo(params.get("registryId") or ctx.account, ctx.region, params["repositoryName"])

    def _layer_repo(self, ctx: RequestContext, params: Params) -> store.Repo:
        repo = self.repo(ctx, params)
        self._repository(repo.account, repo.region, repo.name)
        return repo

    def _repository(self, account: str, region: str, name: str) -> dict[str, Any]:
        doc = store.get_repository(self.db, store.Repo(account, region, name))
        if doc is None:
            raise errors.repository_not_found(name, account)
        return doc

    def _by_arn(self, arn: str) -> dict[str, Any]:
        doc = store.repository_by_arn(self.db, arn)
        if doc is None:
            # ECR names the repository the ARN would be (after ``repository/``) and its account.
            parts = arn.split(":", 5)
            name = parts[5].partition("/")[2] if len(parts) == 6 else arn
            account = parts[4] if len(parts) == 6 else ""
            if len(parts) != 6 or not parts[5].startswith("repository/"):
                raise errors.InvalidParameterException(
                    f"Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN {arn}'"
                )
            raise errors.repository_not_found(name, account)
        return doc

    def _tags_of(self, doc: dict[str, Any]) -> list[tuple[str, str]]:
        return tag_store.get(self.db, doc["repository"]["repositoryArn"])

    @staticmethod
    def _ids(repo: store.Repo) -> dict[str, Any]:
        return {"registryId": repo.account, "repositoryName": repo.name}


def _tags(raw: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    pairs = [(t["Key"], t.get("Value", "")) for t in raw or []]
    for key, _ in pairs:
        if key.lower().startswith("aws:"):
            raise errors.InvalidTagParameterException("Tag keys with the prefix 'aws:' are reserved.")
    if len(pairs) > MAX_TAGS:
        raise errors.TooManyTagsException("A maximum of 50 tags can be attached to a resource.")
    return pairs


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def served_endpoint(info_file: Path) -> str | None:
    """The address the running server answers on (its info file), where its registry is."""
    try:
        found = orjson.loads(info_file.read_bytes()).get("endpoint")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    return str(found) if found else None
