"""Schedule groups and their tags (Scheduler tags schedule groups only; the ARN pattern says so)."""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.scheduler.common import DEFAULT_GROUP, Doc, SchedulerBase, group_arn
from ecslite.providers.scheduler.errors import (
    DEFAULT_GROUP as DEFAULT_GROUP_TEXT,
)
from ecslite.providers.scheduler.errors import (
    GROUP_EXISTS,
    RESOURCE_NOT_FOUND,
    TOO_MANY_TAGS,
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from ecslite.store import schedules as store
from ecslite.store import tags as tag_store

MAX_TAGS = 200  # the TagList shape's maximum


class GroupOps(SchedulerBase):
    def create_schedule_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["Name"]
        if name == DEFAULT_GROUP or store.get_group(self.db, ctx.account, ctx.region, name) is not None:
            raise ConflictException(GROUP_EXISTS.format(name=name))
        now = self.now()
        doc = {
            "Arn": group_arn(ctx, name),
            "Name": name,
            "State": "ACTIVE",
            "CreationDate": now,
            "LastModificationDate": now,
        }
        tags = [(t["Key"], t["Value"]) for t in params.get("Tags") or []]
        if len({k for k, _ in tags}) > MAX_TAGS:
            raise ValidationException(TOO_MANY_TAGS.format(arn=doc["Arn"]))
        with self.db.transaction():
            store.put_group(self.db, ctx.account, ctx.region, doc)
            tag_store.put(self.db, doc["Arn"], tags)
        return {"ScheduleGroupArn": doc["Arn"]}

    def get_schedule_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self.group(ctx, params["Name"])

    def delete_schedule_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["Name"]
        if name == DEFAULT_GROUP:
            raise ValidationException(DEFAULT_GROUP_TEXT)
        doc = self.group(ctx, name)
        # AWS marks the group DELETING and removes it and its schedules in the background; here
        # both go at once, so no schedule of a deleted group fires again.
        with self.db.transaction():
            store.delete_group(self.db, ctx.account, ctx.region, name)
            tag_store.remove(self.db, doc["Arn"], [k for k, _ in tag_store.get(self.db, doc["Arn"])])
        return {}

    def list_schedule_groups(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_of(params, str)
        prefix = params.get("NamePrefix") or ""
        groups = [self.default_group(ctx), *store.list_groups(self.db, ctx.account, ctx.region)]
        # Sorted by name, the default group among them; the token carries the last name served.
        chosen = sorted((g for g in groups if g["Name"].startswith(prefix)), key=lambda g: g["Name"])
        start = 0 if after is None else next((i for i, g in enumerate(chosen) if g["Name"] > after), len(chosen))
        page = chosen[start : start + limit]
        out: dict[str, Any] = {"ScheduleGroups": page}
        if start + limit < len(chosen):
            out["NextToken"] = self.token(page[-1]["Name"])
        return out

    # -- tags ------------------------------------------------------------------------------------

    def _tagged(self, ctx: RequestContext, arn: str) -> Doc:
        if arn == group_arn(ctx, DEFAULT_GROUP):
            return self.default_group(ctx)
        found = store.group_by_arn(self.db, arn)
        if found is None:
            raise ResourceNotFoundException(RESOURCE_NOT_FOUND.format(arn=arn))
        return found

    def tag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._tagged(ctx, arn)
        tags = [(t["Key"], t["Value"]) for t in params["Tags"]]
        if tag_store.count_after(self.db, arn, [k for k, _ in tags]) > MAX_TAGS:
            raise ValidationException(TOO_MANY_TAGS.format(arn=arn))
        with self.db.transaction():
            tag_store.put(self.db, arn, tags)
        return {}

    def untag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._tagged(ctx, arn)
        with self.db.transaction():
            tag_store.remove(self.db, arn, params["TagKeys"])
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._tagged(ctx, arn)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tag_store.get(self.db, arn)]}
