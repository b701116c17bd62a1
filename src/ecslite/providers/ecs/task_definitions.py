"""Task definition operations (spec/ecs.md §2.2–2.9): register, describe, list, deregister, delete."""

from __future__ import annotations

import copy
from typing import Any

from ecslite.model.arns import parse_arn, task_definition_arn
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import ClientException
from ecslite.store import tags as tag_store
from ecslite.store import task_definitions as td_store

UNABLE_TO_DESCRIBE = "Unable to describe task definition."


class TaskDefinitionOps(EcsBase):
    def register_task_definition(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = copy.deepcopy(params)
        tags = self.check_tags(doc.pop("tags", None))
        family = doc["family"]
        with self.db.transaction():
            revision = td_store.next_revision(self.db, ctx.account, ctx.region, family)
            arn = task_definition_arn(ctx.region, ctx.account, family, revision)
            doc.update(
                taskDefinitionArn=arn,
                revision=revision,
                status="ACTIVE",
                registeredAt=self.now(),
                registeredBy=ctx.principal_arn,
            )
            td_store.insert(self.db, ctx.account, ctx.region, doc)
            tag_store.put(self.db, arn, tags)
        result: dict[str, Any] = {"taskDefinition": doc}
        if tags:
            result["tags"] = self.tags_of(arn)
        return result

    def describe_task_definition(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.find_task_definition(ctx, params["taskDefinition"], active_only=False)
        result: dict[str, Any] = {"taskDefinition": doc}
        if "TAGS" in (params.get("include") or ()):
            result["tags"] = self.tags_of(doc["taskDefinitionArn"])
        return result

    # -- references ------------------------------------------------------------------------------

    def find_task_definition(self, ctx: RequestContext, ref: str, *, active_only: bool) -> dict[str, Any]:
        """Resolve ``family``, ``family:revision`` or an ARN (spec/ecs.md §1.5).

        A bare family means its latest ACTIVE revision; an explicit revision is returned whatever its
        status unless ``active_only``. Not found → ``ClientException: Unable to describe task definition.``
        """
        family, revision = self.split_task_definition_ref(ctx, ref)
        if revision is None:
            doc = td_store.latest_active(self.db, ctx.account, ctx.region, family)
        else:
            doc = td_store.get(self.db, ctx.account, ctx.region, family, revision)
        if doc is None or (active_only and doc["status"] != "ACTIVE"):
            raise ClientException(UNABLE_TO_DESCRIBE)
        return doc

    @staticmethod
    def split_task_definition_ref(ctx: RequestContext, ref: str) -> tuple[str, int | None]:
        text = ref
        if ref.startswith("arn:"):
            arn = parse_arn(ref)
            if (
                arn is None
                or arn.service != "ecs"
                or arn.resource_type != "task-definition"
                or arn.region != ctx.region
                or arn.account != ctx.account
            ):
                raise ClientException(UNABLE_TO_DESCRIBE)
            text = arn.resource.split("/", 1)[1] if "/" in arn.resource else ""
        family, sep, rev = text.partition(":")
        if not family:
            raise ClientException(UNABLE_TO_DESCRIBE)
        if not sep:
            return family, None
        if not rev.isdigit():
            raise ClientException(UNABLE_TO_DESCRIBE)
        return family, int(rev)
