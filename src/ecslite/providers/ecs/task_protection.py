"""Task scale-in protection: ``UpdateTaskProtection`` and ``GetTaskProtection`` (spec/ecs.md §4.11).

A protected task is skipped by scale-in and deployments until its ``expirationDate``. The state lives
in the task document's private ``_protection`` member (``{"enabled", "expiresAt"}``); an expired
protection reads as off everywhere (:func:`ecslite.model.tasks.protection_of`), so nothing has to clear it on time.
The same operations answer the task-side endpoint ``$ECS_AGENT_URI/task-protection/v1/state``
(:mod:`ecslite.agent.task_protection`), as the ECS agent calls the ECS API for it.

Rules as ECS documents them: only tasks of a service can be protected (others fail with
``TASK_NOT_VALID``), unknown tasks fail with ``MISSING``, ``expiresInMinutes`` is 1–2880 (default
120) and is reset on every call that enables protection.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.arns import task_arn
from ecslite.model.tasks import protection_of
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import InvalidParameterException
from ecslite.store import tasks as task_store

DEFAULT_MINUTES = 120
MIN_MINUTES = 1
MAX_MINUTES = 2880
MAX_TASKS = 10
# (unverified) ECS's texts for a bad duration and too many tasks.
MINUTES_OUT_OF_RANGE = "expiresInMinutes must be between 1 and 2880 (48 hours)."
TOO_MANY_TASKS = "The tasks list can contain at most 10 tasks."
NOT_A_SERVICE_TASK = "The task is not part of an Amazon ECS service; only service tasks can be protected."
TASK_STOPPED = "The task is stopped or stopping; only running service tasks can be protected."


def protected_task_view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    enabled, expires = protection_of(doc, now)
    view: dict[str, Any] = {"taskArn": doc["taskArn"], "protectionEnabled": enabled}
    if expires is not None:
        view["expirationDate"] = expires
    return view


class TaskProtectionOps(EcsBase):
    def update_task_protection(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        refs = self._protection_refs(params)
        enabled = bool(params["protectionEnabled"])
        minutes = params.get("expiresInMinutes")
        if enabled and minutes is not None and not MIN_MINUTES <= int(minutes) <= MAX_MINUTES:
            raise InvalidParameterException(MINUTES_OUT_OF_RANGE)
        now = self.now()
        expires = now + 60.0 * int(minutes if minutes is not None else DEFAULT_MINUTES)
        protected, failures = [], []
        for ref in refs:
            doc, failure = self._protectable(ctx, cluster["clusterName"], ref)
            if failure is not None:
                failures.append(failure)
                continue
            assert doc is not None

            def change(fresh: dict[str, Any]) -> bool:
                fresh["_protection"] = {"enabled": enabled, "expiresAt": expires if enabled else None}
                return True

            stored = task_store.update(self.db, doc["taskArn"], change, visible=False) or doc
            protected.append(protected_task_view(stored, now))
        return {"protectedTasks": protected, "failures": failures}

    def get_task_protection(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        now = self.now()
        protected, failures = [], []
        for ref in self._protection_refs(params, required=False):
            doc, failure = self._protectable(ctx, cluster["clusterName"], ref)
            if failure is not None:
                failures.append(failure)
            elif doc is not None:
                protected.append(protected_task_view(doc, now))
        return {"protectedTasks": protected, "failures": failures}

    @staticmethod
    def _protection_refs(params: Params, *, required: bool = True) -> list[str]:
        refs = list(params.get("tasks") or ())
        if len(refs) > MAX_TASKS:
            raise InvalidParameterException(TOO_MANY_TASKS)
        if required and not refs:
            raise InvalidParameterException("Tasks cannot be empty.")
        return refs

    def _protectable(
        self, ctx: RequestContext, cluster: str, ref: str
    ) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        task_id = self.ref_id(ctx, ref, "task", cluster=cluster, lengths=(2,))
        doc = task_store.get_by_id(self.db, ctx.account, ctx.region, cluster, task_id) if task_id else None
        arn = ref if ref.startswith("arn:") else task_arn(ctx.region, ctx.account, cluster, ref)
        if doc is None:
            return None, {"arn": arn, "reason": "MISSING"}
        if not doc["_spec"].get("serviceName"):
            return None, {"arn": doc["taskArn"], "reason": "TASK_NOT_VALID", "detail": NOT_A_SERVICE_TASK}
        if doc["desiredStatus"] != "RUNNING":
            return None, {"arn": doc["taskArn"], "reason": "TASK_NOT_VALID", "detail": TASK_STOPPED}
        return doc, None
