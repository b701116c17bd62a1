"""The Secrets Manager provider: secrets, versions and staging labels (JSON 1.1, ``secretsmanager.<Op>``).

Secrets are partitioned by (account, region) and named by name, full ARN or partial ARN. Values
are encrypted at rest (``store/secrets.py``); ``KmsKeyId`` is recorded and shown, the local key
does the encrypting. A new value becomes ``AWSCURRENT`` and the version it replaces
``AWSPREVIOUS``; versions left without labels are deprecated and the oldest of them are dropped
past 100 versions. A deleted secret stays recoverable for its recovery window, then is gone.
"""

from __future__ import annotations

import re
import secrets as random_source
import string
import uuid
from typing import Any

from ecslite.clock import Clock
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.secretsmanager import errors
from ecslite.providers.secretsmanager.listing import ListingOps
from ecslite.store import secrets as secret_store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database

CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
MAX_TAGS = 50
MAX_VERSIONS = 100
DEFAULT_RECOVERY_DAYS = 30
DAY = 86_400.0
_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_SUFFIX_ALPHABET = string.ascii_letters + string.digits


class SecretsManagerProvider(ListingOps):
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def now(self) -> float:
        return round(self.clock.now(), 3)

    # -- create / read ---------------------------------------------------------------------------

    def create_secret(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["Name"]
        if not _NAME.fullmatch(name):
            raise errors.ValidationException(errors.INVALID_NAME)
        value = _value_of(params, required=False)
        token = params.get("ClientRequestToken") or str(uuid.uuid4())
        tags = _tags(params.get("Tags"))
        now = self.now()
        existing = secret_store.by_name(self.db, ctx.account, ctx.region, name, now)
        if existing is not None:
            return self._repeated_create(existing, token, value)
        doc: dict[str, Any] = {
            "ARN": f"arn:aws:secretsmanager:{ctx.region}:{ctx.account}:secret:{name}-{_suffix()}",
            "Name": name,
            "CreatedDate": now,
            "LastChangedDate": now,
        }
        for key in ("Description", "KmsKeyId"):
            if params.get(key) is not None:
                doc[key] = params[key]
        with self.db.transaction():
            secret = secret_store.create(self.db, ctx.account, ctx.region, doc)
            tag_store.put(self.db, doc["ARN"], tags)
            if value is not None:
                secret_store.add_version(self.db, secret, token, [CURRENT], now, value)
        result = {"ARN": doc["ARN"], "Name": name}
        return {**result, "VersionId": token} if value is not None else result

    def get_secret_value(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        secret = self._live_secret(ctx, params["SecretId"])
        try:
            version = secret_store.pick_version(
                secret_store.versions(self.db, secret), params.get("VersionId"), params.get("VersionStage")
            )
        except secret_store.VersionNotFound as missing:
            raise errors.value_not_found(missing.kind, missing.value) from None
        except secret_store.StageNotOnVersion:
            raise errors.InvalidRequestException(errors.STAGE_NOT_ON_VERSION) from None
        value = secret_store.value_of(self.db, secret, version.version_id)
        self._accessed(secret)
        result: dict[str, Any] = {
            "ARN": secret.arn,
            "Name": secret.doc["Name"],
            "VersionId": version.version_id,
            "VersionStages": version.stages,
            "CreatedDate": version.created_at,
        }
        result["SecretString" if isinstance(value, str) else "SecretBinary"] = value
        return result

    def describe_secret(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        secret = self._secret(ctx, params["SecretId"])
        return self.secret_view(secret, "VersionIdsToStages")

    def list_secret_version_ids(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        secret = self._secret(ctx, params["SecretId"])
        found = secret_store.versions(self.db, secret)
        if not params.get("IncludeDeprecated"):
            found = [v for v in found if v.stages]
        start, limit = self.page_args(params)
        shown = found[start : start + limit]
        result: dict[str, Any] = {
            "ARN": secret.arn,
            "Name": secret.doc["Name"],
            "Versions": [
                {"VersionId": v.version_id, "VersionStages": v.stages, "CreatedDate": v.created_at} for v in shown
            ],
        }
        if start + limit < len(found):
            result["NextToken"] = self.token(start + limit)
        return result

    # -- new values --------------------------------------------------------------------------------

    def put_secret_value(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        secret = self._live_secret(ctx, params["SecretId"])
        value = _value_of(params, required=True)
        assert value is not None
        token = params.get("ClientRequestToken") or str(uuid.uuid4())
        stages = list(dict.fromkeys(params.get("VersionStages") or [CURRENT]))
        repeated = self._repeated_version(secret, token, value)
        if repeated is not None:
            return {"ARN": secret.arn, "Name": secret.doc["Name"], "VersionId": token, "VersionStages": repeated}
        with self.db.transaction():
            self._add_version(secret, token, stages, value)
        return {"ARN": secret.arn, "Name": secret.doc["Name"], "VersionId": token, "VersionStages": stages}

    def update_secret(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        secret = self._live_secret(ctx, params["SecretId"])
        value = _value_of(params, required=False)
        token = params.get("ClientRequestToken") or str(uuid.uuid4())
        if value is not None and self._repeated_version(secret, token, value) is not None:
            return {"ARN": secret.arn, "Name": secret.doc["Name"], "VersionId": token}
        for key in ("Description", "KmsKeyId"):
            if params.get(key) is not None:
                secret.doc[key] = params[key]
        secret.doc["LastChangedDate"] = self.now()
        with self.db.transaction():
            secret_store.update(self.db, secret)
            if value is not None:
                self._add_version(secret, token, [CURRENT], value)
        result = {"ARN": secret.arn, "Name": secret.doc["Name"]}
        return {**result, "VersionId": token} if value is not None else result

    # -- delete / restore --------------------------------------------------------------------------

    def delete_secret(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        window, force = params.get("RecoveryWindowInDays"), bool(params.get("ForceDeleteWithoutRecovery"))
        if window is not None and force:
            raise errors.InvalidParameterException(errors.BOTH_DELETE_OPTIONS)
        if window is not None and not 7 <= window <= 30:
            raise errors.InvalidParameterException(errors.RECOVERY_WINDOW)
        secret = self._secret(ctx, params["SecretId"])
        now = self.now()
        if force:
            with self.db.transaction():
                secret_store.remove(self.db, secret.rid, secret.arn)
            return {"ARN": secret.arn, "Name": secret.doc["Name"], "DeletionDate": now}
        if secret.deleted:
            raise errors.InvalidRequestException()
        purge_at = now + (window or DEFAULT_RECOVERY_DAYS) * DAY
        secret.doc["DeletedDate"] = now
        with self.db.transaction():
            secret_store.update(self.db, secret, purge_at=purge_at)
        return {"ARN": secret.arn, "Name": secret.doc["Name"], "DeletionDate": purge_at}

    def restore_secret(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        secret = self._secret(ctx, params["SecretId"])
        if secret.deleted:
            secret.doc.pop("DeletedDate", None)
            with self.db.transaction():
                secret_store.update(self.db, secret, purge_at=None)
        return {"ARN": secret.arn, "Name": secret.doc["Name"]}

    # -- tags --------------------------------------------------------------------------------------

    def tag_resource(self, ctx: RequestContext, params: Params) -> None:
        secret = self._live_secret(ctx, params["SecretId"])
        pairs = _tags(params["Tags"])
        if tag_store.count_after(self.db, secret.arn, [k for k, _ in pairs]) > MAX_TAGS:
            raise errors.LimitExceededException(errors.TOO_MANY_TAGS)
        with self.db.transaction():
            tag_store.put(self.db, secret.arn, pairs)

    def untag_resource(self, ctx: RequestContext, params: Params) -> None:
        secret = self._live_secret(ctx, params["SecretId"])
        with self.db.transaction():
            tag_store.remove(self.db, secret.arn, params["TagKeys"])

    # -- helpers -----------------------------------------------------------------------------------

    def _secret(self, ctx: RequestContext, secret_id: str) -> secret_store.Secret:
        found = secret_store.find(self.db, ctx.account, ctx.region, secret_id, self.now())
        if found is None:
            raise errors.ResourceNotFoundException()
        return found

    def _live_secret(self, ctx: RequestContext, secret_id: str) -> secret_store.Secret:
        """A secret that is not scheduled for deletion (most operations refuse those)."""
        secret = self._secret(ctx, secret_id)
        if secret.deleted:
            raise errors.InvalidRequestException()
        return secret

    def _repeated_create(self, existing: secret_store.Secret, token: str, value: str | bytes | None) -> dict[str, Any]:
        """CreateSecret for a name in use: a retry of the same request answers as the first time."""
        if existing.deleted:
            raise errors.InvalidRequestException(errors.SCHEDULED_NAME)
        if value is None or self._repeated_version(existing, token, value) is None:
            raise errors.ResourceExistsException(
                f"The operation failed because the secret {existing.doc['Name']} already exists."
            )
        return {"ARN": existing.arn, "Name": existing.doc["Name"], "VersionId": token}

    def _repeated_version(self, secret: secret_store.Secret, token: str, value: str | bytes) -> list[str] | None:
        """The stages of the version ``token`` names when it already holds ``value`` (an idempotent
        retry); ``None`` when there is no such version; an error when it holds another value."""
        version = next((v for v in secret_store.versions(self.db, secret) if v.version_id == token), None)
        if version is None:
            return None
        if secret_store.value_of(self.db, secret, token) != value:
            raise errors.ResourceExistsException(errors.VERSION_EXISTS)
        return version.stages

    def _add_version(self, secret: secret_store.Secret, token: str, stages: list[str], value: str | bytes) -> None:
        """Add a version carrying ``stages``, moving those labels off other versions; the version that
        loses ``AWSCURRENT`` becomes ``AWSPREVIOUS``. Runs inside the caller's transaction."""
        now = self.now()
        existing = secret_store.versions(self.db, secret)
        for version in existing:
            kept = [s for s in version.stages if s not in stages]
            if CURRENT in stages and CURRENT in version.stages:
                kept.append(PREVIOUS)
            elif CURRENT in stages and PREVIOUS in kept:
                kept.remove(PREVIOUS)
            if kept != version.stages:
                secret_store.set_stages(self.db, secret, version.version_id, kept)
        secret_store.add_version(self.db, secret, token, stages, now, value)
        self._drop_deprecated(secret)
        secret.doc["LastChangedDate"] = now
        secret_store.update(self.db, secret)

    def _drop_deprecated(self, secret: secret_store.Secret) -> None:
        found = secret_store.versions(self.db, secret)
        excess = len(found) - MAX_VERSIONS
        for version in [v for v in found if not v.stages][: max(0, excess)]:
            secret_store.remove_version(self.db, secret, version.version_id)

    def _accessed(self, secret: secret_store.Secret) -> None:
        """Record the day of the last access (Secrets Manager keeps dates, not times, for it)."""
        today = float(int(self.now() // DAY) * DAY)
        if secret.doc.get("LastAccessedDate") != today:
            secret.doc["LastAccessedDate"] = today
            with self.db.transaction():
                secret_store.update(self.db, secret)


def _value_of(params: Params, *, required: bool) -> str | bytes | None:
    string_value, binary_value = params.get("SecretString"), params.get("SecretBinary")
    if string_value is not None and binary_value is not None:
        raise errors.InvalidParameterException(errors.BOTH_VALUES)
    if required and string_value is None and binary_value is None:
        raise errors.InvalidRequestException(errors.NO_VALUE)
    value: str | bytes | None = string_value if string_value is not None else binary_value
    return value


def _tags(tags: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    for index, tag in enumerate(tags or [], 1):
        if tag.get("Key") is None:  # the model leaves Tag.Key optional; a tag still needs one
            raise errors.InvalidParameterException(
                f"1 validation error detected: Value null at 'Tags.{index}.member.Key' failed to satisfy "
                "constraint: Member must not be null"
            )
    pairs = [(t["Key"], t.get("Value", "")) for t in tags or []]
    if len({k for k, _ in pairs}) > MAX_TAGS:
        raise errors.LimitExceededException(errors.TOO_MANY_TAGS)
    return pairs


def _suffix() -> str:
    return "".join(random_source.choice(_SUFFIX_ALPHABET) for _ in range(6))
