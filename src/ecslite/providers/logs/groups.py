"""Log group operations: create, describe, delete, retention, tags and KMS keys (spec/ecs.md §10.2)."""

from __future__ import annotations

from typing import Any

from ecslite.model.log_groups import RETENTION_DAYS
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.logs.common import LogsBase, group_arn, on_worker
from ecslite.providers.logs.errors import (
    DELETION_PROTECTED,
    GROUP_OR_RESOURCE,
    IDENTIFIERS_WITH_FILTERS,
    INVALID_NEXT_TOKEN,
    PREFIX_AND_PATTERN,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    TooManyTagsException,
    ValidationException,
)
from ecslite.providers.pagination import encode_token
from ecslite.store import log_events
from ecslite.store.logs import LogGroupRow

MAX_TAGS = 50
DEFAULT_DESCRIBE_LIMIT = 50
# DescribeLogGroups: "If you specify either INFREQUENT_ACCESS or ESSENTIALS, the results include log
# groups in both the Infrequent Access and Essentials log classes."
CLASS_FILTERS = {
    "INFREQUENT_ACCESS": ("INFREQUENT_ACCESS", "ESSENTIALS"),
    "ESSENTIALS": ("INFREQUENT_ACCESS", "ESSENTIALS"),
}
QUERY_RESULT_KEY = "query-result-kms-key"


class GroupOps(LogsBase):
    @on_worker
    def create_log_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        tags = params.get("tags") or {}
        self._check_tag_count(len(tags))
        created = self.store.create_group(
            ctx.account,
            ctx.region,
            params["logGroupName"],
            self.now_ms(),
            kms_key_id=params.get("kmsKeyId"),
            log_group_class=params.get("logGroupClass") or "STANDARD",
            deletion_protection=bool(params.get("deletionProtectionEnabled")),
            tags=sorted(tags.items()),
        )
        if created is None:
            raise ResourceAlreadyExistsException()
        return {}

    @on_worker
    def delete_log_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        if group.deletion_protection:
            raise ValidationException(DELETION_PROTECTED)
        self.store.delete_group(group.gid)
        return {}

    @on_worker
    def describe_log_groups(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
        identifiers = params.get("logGroupIdentifiers")
        if prefix is not None and pattern is not None:
            raise InvalidParameterException(PREFIX_AND_PATTERN)
        cls = params.get("logGroupClass")
        if identifiers is not None and (prefix is not None or pattern is not None or cls is not None):
            raise InvalidParameterException(IDENTIFIERS_WITH_FILTERS)
        names = None
        if identifiers is not None:
            names = [n for n in (self.identifier_name(ctx, i) for i in identifiers) if n is not None]
        limit = params.get("limit") or DEFAULT_DESCRIBE_LIMIT
        after = self.token_key(params.get("nextToken"))
        if after is not None and not isinstance(after, str):
            raise InvalidParameterException(INVALID_NEXT_TOKEN)
        rows = self.store.list_groups(
            ctx.account,
            ctx.region,
            after=after,
            limit=limit + 1,
            prefix=prefix,
            contains=pattern or None,
            classes=CLASS_FILTERS.get(cls, (cls,)) if cls else None,
            names=names,
        )
        result: dict[str, Any] = {
            "logGroups": [self.group_view(ctx, row, brief=pattern is not None) for row in rows[:limit]]
        }
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1].name)
        return result

    def group_view(self, ctx: RequestContext, row: LogGroupRow, *, brief: bool = False) -> dict[str, Any]:
        """A group as DescribeLogGroups shows it; with a name pattern AWS returns only three fields."""
        arn = group_arn(ctx.region, ctx.account, row.name)
        view: dict[str, Any] = {"logGroupName": row.name, "creationTime": row.created_ms, "arn": f"{arn}:*"}
        if brief:
            return view
        if row.retention_days is not None:
            view["retentionInDays"] = row.retention_days
        view["metricFilterCount"] = 0
        view["storedBytes"] = row.stored_bytes
        if row.kms_key_id:
            view["kmsKeyId"] = row.kms_key_id
        view["logGroupClass"] = row.log_group_class
        view["logGroupArn"] = arn
        view["deletionProtectionEnabled"] = row.deletion_protection
        return view

    # -- retention ---------------------------------------------------------------------------------

    @on_worker
    def put_retention_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise InvalidParameterException(
                f"1 validation error detected: Value {days} at 'retentionInDays' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(str(d) for d in RETENTION_DAYS)}]"
            )
        group = self.require_group(ctx, params["logGroupName"])
        self.store.update_group(group.gid, retention_days=days)
        log_events.purge_before(self.store, group.gid, self.now_ms() - days * 86_400_000)
        return {}

    @on_worker
    def delete_retention_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        self.store.update_group(group.gid, retention_days=None)
        return {}

    # -- tags --------------------------------------------------------------------------------------

    @on_worker
    def tag_log_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        self._check_tag_count(len(set(self.store.tags(group.gid)) | set(params["tags"])))
        self.store.put_tags(group.gid, params["tags"])
        return {}

    @on_worker
    def untag_log_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        self.store.remove_tags(group.gid, params["tags"])
        return {}

    @on_worker
    def list_tags_log_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        return {"tags": self.store.tags(group.gid)}

    @on_worker
    def tag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self._group_by_arn(ctx, params["resourceArn"])
        total = len(set(self.store.tags(group.gid)) | set(params["tags"]))
        if total > MAX_TAGS:
            raise TooManyTagsException(
                f"A resource can have no more than {MAX_TAGS} tags; this request leaves {total}."
            )
        self.store.put_tags(group.gid, params["tags"])
        return {}

    @on_worker
    def untag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self._group_by_arn(ctx, params["resourceArn"])
        self.store.remove_tags(group.gid, params["tagKeys"])
        return {}

    @on_worker
    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self._group_by_arn(ctx, params["resourceArn"])
        return {"tags": self.store.tags(group.gid)}

    def _group_by_arn(self, ctx: RequestContext, arn: str) -> LogGroupRow:
        name = self.identifier_name(ctx, arn) if arn.startswith("arn:") else None
        if name is None:
            raise ResourceNotFoundException("The specified resource does not exist.")
        return self.require_group(ctx, name)

    @staticmethod
    def _check_tag_count(total: int) -> None:
        if total > MAX_TAGS:
            raise InvalidParameterException(
                f"A log group can have no more than {MAX_TAGS} tags; this request leaves {total}."
            )

    # -- KMS keys ----------------------------------------------------------------------------------

    @on_worker
    def associate_kms_key(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self._set_kms_key(ctx, params, params["kmsKeyId"])
        return {}

    @on_worker
    def disassociate_kms_key(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self._set_kms_key(ctx, params, None)
        return {}

    def _set_kms_key(self, ctx: RequestContext, params: Params, key: str | None) -> None:
        """Keys are recorded, not used: ecslite stores log data unencrypted on the local disk."""
        name, resource = params.get("logGroupName"), params.get("resourceIdentifier")
        if (name is None) == (resource is None):
            raise InvalidParameterException(GROUP_OR_RESOURCE)
        if resource is not None:
            if resource == f"arn:aws:logs:{ctx.region}:{ctx.account}:query-result:*":
                self.store.put_setting(ctx.account, ctx.region, QUERY_RESULT_KEY, key)
                return
            name = self.identifier_name(ctx, resource)
            if name is None:
                raise ResourceNotFoundException("The specified resource does not exist.")
        assert name is not None
        group = self.require_group(ctx, name)
        self.store.update_group(group.gid, kms_key_id=key)
