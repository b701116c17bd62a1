"""Bucket operations: create, delete, list, head, location, tags, and the configurations S3 stores
per bucket (policy, versioning, encryption, public access block, lifecycle).

The configurations are stored and given back as they were put; ecslite enforces none of them
(no policy evaluation, no versions kept, no encryption, no expiry).
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext, Result
from ecslite.providers.s3 import errors
from ecslite.providers.s3.common import S3Base, tag_set, tags_from, valid_bucket_name
from ecslite.store import s3 as store

DEFAULT_REGION = "us-east-1"
# Stored configurations: the doc field, the API member it travels in, and the error when it is absent.
_CONFIGS = {
    "Encryption": (
        "ServerSideEncryptionConfiguration",
        "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found",
    ),
    "PublicAccessBlock": (
        "PublicAccessBlockConfiguration",
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
    ),
    "Policy": ("Policy", "NoSuchBucketPolicy", "The bucket policy does not exist"),
    "Lifecycle": (
        "LifecycleConfiguration",
        "NoSuchLifecycleConfiguration",
        "The lifecycle configuration does not exist",
    ),
}


class BucketOps(S3Base):
    def list_buckets(self, ctx: RequestContext, params: Params) -> Result:
        prefix = params.get("Prefix") or ""
        buckets = [
            {"Name": b.name, "CreationDate": b.created, "BucketRegion": b.region}
            for b in store.list_buckets(self.db)
            if b.account == ctx.account and b.name.startswith(prefix)
        ]
        owner = {"ID": ctx.account, "DisplayName": "ecslite"}
        return {"Buckets": buckets, "Owner": owner, "Prefix": params.get("Prefix")}

    def create_bucket(self, ctx: RequestContext, params: Params) -> Result:
        name = params["Bucket"]
        if not valid_bucket_name(name):
            raise errors.invalid_bucket_name(name)
        constraint = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        if constraint == DEFAULT_REGION:
            raise errors.invalid_location(constraint)
        region = constraint or DEFAULT_REGION
        if region != ctx.region:
            raise errors.illegal_location(constraint)
        existing = store.get_bucket(self.db, name)
        if existing is not None:
            raise errors.owned_by_you(name) if existing.account == ctx.account else errors.already_exists(name)
        self.files.make_bucket(name)
        store.insert_bucket(self.db, store.Bucket(name, ctx.account, region, self.clock.now(), {}))
        return {"Location": f"/{name}", "BucketArn": f"arn:aws:s3:::{name}"}

    def delete_bucket(self, ctx: RequestContext, params: Params) -> Result:
        name = params["Bucket"]
        self.bucket(name)
        if store.has_objects(self.db, name):
            raise errors.not_empty(name)
        for upload in store.list_uploads(self.db, name, ""):
            self.files.remove_upload(upload.upload_id)
        store.delete_bucket(self.db, name)
        self.files.remove_bucket(name)
        return None

    def head_bucket(self, ctx: RequestContext, params: Params) -> Result:
        bucket = self.bucket(params["Bucket"])
        return {"BucketRegion": bucket.region, "BucketArn": f"arn:aws:s3:::{bucket.name}"}

    def get_bucket_location(self, ctx: RequestContext, params: Params) -> Result:
        bucket = self.bucket(params["Bucket"])
        # S3 answers an empty LocationConstraint for us-east-1.
        return {"LocationConstraint": "" if bucket.region == DEFAULT_REGION else bucket.region}

    # -- tags --------------------------------------------------------------------------------

    def put_bucket_tagging(self, ctx: RequestContext, params: Params) -> Result:
        self._store(params["Bucket"], "Tags", tags_from(params.get("Tagging")))
        return None

    def get_bucket_tagging(self, ctx: RequestContext, params: Params) -> Result:
        tags = self.bucket(params["Bucket"]).doc.get("Tags")
        if not tags:
            raise errors.S3Error("NoSuchTagSet", "The TagSet does not exist", 404, BucketName=params["Bucket"])
        return {"TagSet": tag_set(tags)}

    def delete_bucket_tagging(self, ctx: RequestContext, params: Params) -> Result:
        self._store(params["Bucket"], "Tags", None)
        return None

    # -- stored configurations ---------------------------------------------------------------

    def put_bucket_versioning(self, ctx: RequestContext, params: Params) -> Result:
        config = params.get("VersioningConfiguration") or {}
        self._store(params["Bucket"], "Versioning", {k: v for k, v in config.items() if k == "Status"})
        return None

    def get_bucket_versioning(self, ctx: RequestContext, params: Params) -> Result:
        return dict(self.bucket(params["Bucket"]).doc.get("Versioning") or {})

    def put_bucket_encryption(self, ctx: RequestContext, params: Params) -> Result:
        return self._put_config(params, "Encryption")

    def get_bucket_encryption(self, ctx: RequestContext, params: Params) -> Result:
        return self._get_config(params, "Encryption")

    def delete_bucket_encryption(self, ctx: RequestContext, params: Params) -> Result:
        return self._delete_config(params, "Encryption")

    def put_public_access_block(self, ctx: RequestContext, params: Params) -> Result:
        return self._put_config(params, "PublicAccessBlock")

    def get_public_access_block(self, ctx: RequestContext, params: Params) -> Result:
        return self._get_config(params, "PublicAccessBlock")

    def delete_public_access_block(self, ctx: RequestContext, params: Params) -> Result:
        return self._delete_config(params, "PublicAccessBlock")

    def put_bucket_policy(self, ctx: RequestContext, params: Params) -> Result:
        return self._put_config(params, "Policy")

    def get_bucket_policy(self, ctx: RequestContext, params: Params) -> Result:
        return self._get_config(params, "Policy")

    def delete_bucket_policy(self, ctx: RequestContext, params: Params) -> Result:
        return self._delete_config(params, "Policy")

    def put_bucket_lifecycle_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return self._put_config(params, "Lifecycle")

    def get_bucket_lifecycle_configuration(self, ctx: RequestContext, params: Params) -> Result:
        config = self._get_config(params, "Lifecycle") or {}
        return dict(config.get("LifecycleConfiguration") or {})

    def delete_bucket_lifecycle(self, ctx: RequestContext, params: Params) -> Result:
        return self._delete_config(params, "Lifecycle")

    def _put_config(self, params: Params, field: str) -> Result:
        member = _CONFIGS[field][0]
        self._store(params["Bucket"], field, params.get(member) or {})
        return None

    def _get_config(self, params: Params, field: str) -> Result:
        member, code, message = _CONFIGS[field]
        value = self.bucket(params["Bucket"]).doc.get(field)
        if value is None:
            raise errors.not_found_config(code, message, params["Bucket"])
        return {member: value}

    def _delete_config(self, params: Params, field: str) -> Result:
        self._store(params["Bucket"], field, None)
        return None

    def _store(self, name: str, field: str, value: Any) -> None:
        doc = dict(self.bucket(name).doc)
        if value is None:
            doc.pop(field, None)
        else:
            doc[field] = value
        store.update_bucket_doc(self.db, name, doc)
