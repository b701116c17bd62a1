"""Task definition operations (spec/ecs.md §2.2–2.9): register, describe, list, deregister, delete.

Invariants:
- Definitions are immutable once registered; only ``status`` and its timestamps change
  (ACTIVE → INACTIVE on deregistration → DELETE_IN_PROGRESS on deletion → row removed once unreferenced).
- A revision number is reserved in the same transaction that stores the revision, and never reused.
- References resolve per §1.5: ``family`` → latest ACTIVE revision, ``family:revision`` or an ARN of
  the caller's account and region → that revision whatever its status; anything else is not found.
"""

from __future__ import annotations

import copy
from typing import Any

from ecslite.model.arns import parse_arn, task_definition_arn
from ecslite.model.task_definitions import TaskDefinitionStatus
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs import task_definition_messages as msg
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import ClientException, InvalidParameterException
from ecslite.providers.ecs.task_definition_docs import build_document, in_model_order
from ecslite.providers.ecs.task_definition_rules import check_registration
from ecslite.providers.pagination import encode_token
from ecslite.store import tags as tag_store
from ecslite.store import task_definitions as td_store

UNABLE_TO_DESCRIBE = msg.UNABLE_TO_DESCRIBE
MAX_DELETE = 10
INVALID_TOKEN = "Invalid nextToken."
# Revisions are counted from 1; anything longer than this cannot exist (and would overflow SQLite's integers).
MAX_REVISION_DIGITS = 18


class TaskDefinitionOps(EcsBase):
    def register_task_definition(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        request = copy.deepcopy(params)
        size = check_registration(request)
        tags = self.check_tags(request.get("tags"))
        doc = build_document(request, size)
        with self.db.transaction():
            revision = td_store.next_revision(self.db, ctx.account, ctx.region, doc["family"])
            arn = task_definition_arn(ctx.region, ctx.account, doc["family"], revision)
            doc.update(
                taskDefinitionArn=arn,
                revision=revision,
                status=TaskDefinitionStatus.ACTIVE.value,
                registeredAt=self.now(),
                registeredBy=ctx.principal_arn,
            )
            doc = in_model_order(doc)
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

    def list_task_definitions(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params)
        rows = td_store.list_page(
            self.db,
            ctx.account,
            ctx.region,
            status=params.get("status") or TaskDefinitionStatus.ACTIVE.value,
            # familyPrefix is the full family name here, unlike ListTaskDefinitionFamilies (model docs).
            family=params.get("familyPrefix"),
            descending=params.get("sort") == "DESC",
            after=_revision_key(after),
            limit=limit + 1,
        )
        result: dict[str, Any] = {"taskDefinitionArns": [arn for _, _, arn in rows[:limit]]}
        if len(rows) > limit:
            family, revision, _ = rows[limit - 1]
            result["nextToken"] = encode_token([family, revision])
        return result

    def list_task_definition_families(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params)
        if after is not None and not isinstance(after, str):
            raise InvalidParameterException(INVALID_TOKEN)
        families = td_store.family_page(
            self.db,
            ctx.account,
            ctx.region,
            status=params.get("status") or "ALL",
            prefix=params.get("familyPrefix"),
            after=after,
            limit=limit + 1,
        )
        result: dict[str, Any] = {"families": families[:limit]}
        if len(families) > limit:
            result["nextToken"] = encode_token(families[limit - 1])
        return result

    def deregister_task_definition(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        family, revision = self.split_task_definition_ref(ctx, params["taskDefinition"])
        if revision is None:
            raise ClientException(msg.TASK_REF_NEEDS_REVISION)
        doc = td_store.get(self.db, ctx.account, ctx.region, family, revision)
        if doc is None:
            raise ClientException(UNABLE_TO_DESCRIBE)
        if doc["status"] != TaskDefinitionStatus.ACTIVE:
            raise ClientException(
                msg.DEREGISTER_NOT_ACTIVE.format(family=family, revision=revision, status=doc["status"])
            )
        doc["status"] = TaskDefinitionStatus.INACTIVE.value
        doc["deregisteredAt"] = self.now()
        doc = in_model_order(doc)
        with self.db.transaction():
            td_store.update(self.db, ctx.account, ctx.region, doc)
        return {"taskDefinition": doc}

    def delete_task_definitions(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        refs = params["taskDefinitions"]
        if not refs:
            raise InvalidParameterException(msg.DELETE_NONE)
        if len(refs) > MAX_DELETE:
            raise InvalidParameterException(msg.DELETE_TOO_MANY)
        deleted: list[dict[str, Any]] = []
        failures: list[dict[str, str]] = []
        seen: set[str] = set()
        with self.db.transaction():
            for ref in refs:
                doc, failure = self._mark_for_deletion(ctx, ref)
                if failure is not None:
                    failures.append(failure)
                elif doc is not None and doc["taskDefinitionArn"] not in seen:
                    seen.add(doc["taskDefinitionArn"])
                    deleted.append(doc)
            # Revisions nothing runs any more go at once; the rest when their last task or service ends.
            td_store.remove_unreferenced(self.db, ctx.account, ctx.region)
        return {"taskDefinitions": deleted, "failures": failures}

    def _mark_for_deletion(self, ctx: RequestContext, ref: str) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        """The revision ``ref`` names moved to DELETE_IN_PROGRESS, or the failure ECS reports for it."""
        try:
            family, revision = self.split_task_definition_ref(ctx, ref)
        except ClientException:
            return None, {"arn": ref, "reason": msg.DELETE_NOT_FOUND}
        if revision is None:
            return None, {"arn": ref, "reason": msg.TASK_REF_NEEDS_REVISION}
        arn = task_definition_arn(ctx.region, ctx.account, family, revision)
        doc = td_store.get(self.db, ctx.account, ctx.region, family, revision)
        if doc is None:
            return None, {"arn": arn, "reason": msg.DELETE_NOT_FOUND}
        if doc["status"] == TaskDefinitionStatus.ACTIVE:
            return None, {"arn": arn, "reason": msg.DELETE_STILL_ACTIVE}
        if doc["status"] == TaskDefinitionStatus.INACTIVE:
            doc["status"] = TaskDefinitionStatus.DELETE_IN_PROGRESS.value
            doc["deleteRequestedAt"] = self.now()
            doc = in_model_order(doc)
            td_store.update(self.db, ctx.account, ctx.region, doc)
        return doc, None

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
        if doc is None or (active_only and doc["status"] != TaskDefinitionStatus.ACTIVE):
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
        if not (rev.isascii() and rev.isdigit()) or len(rev) > MAX_REVISION_DIGITS:
            raise ClientException(UNABLE_TO_DESCRIBE)
        return family, int(rev)


def _revision_key(after: Any) -> tuple[str, int] | None:
    """The ``(family, revision)`` a ListTaskDefinitions token carries; tokens of any other shape are refused."""
    if after is None:
        return None
    if (
        isinstance(after, list)
        and len(after) == 2
        and isinstance(after[0], str)
        and isinstance(after[1], int)
        and not isinstance(after[1], bool)
        and 0 <= after[1] < 2**63
    ):
        return after[0], after[1]
    raise InvalidParameterException(INVALID_TOKEN)
