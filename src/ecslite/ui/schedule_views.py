"""Scheduled tasks: the schedules and EventBridge rules whose ECS targets start tasks, with their
next run and their recent invocations (store.invocations), for ``/_ecslite/schedules``, the CLI's
``ecslite schedules`` and the UI's cluster page (the ECS console's "Scheduled tasks" tab).

- ``GET /_ecslite/schedules`` lists every ECS target of every schedule and rule; ``cluster`` (a
  name or an ARN) keeps those that start tasks in that cluster. Each entry carries its newest
  invocation (``last``) and, with ``history=1``, the recent ones (newest first).
- ``GET /_ecslite/schedules/history?arn=<schedule or rule ARN>`` gives one owner's recent invocations.

Reads only; a cluster is matched by its ARN or by the name at the end of it (ECS targets name the
cluster by ARN).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ecslite.clock import Clock
from ecslite.control.ecs_run_target import rule_started_by, scheduler_started_by
from ecslite.store import invocations as history
from ecslite.store.db import Database, loads

Doc = dict[str, Any]


def _cluster_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] if ":" in arn else arn


def _matches(cluster: str | None, target_arn: str) -> bool:
    return cluster is None or cluster in (target_arn, _cluster_name(target_arn))


def _schedules(db: Database, cluster: str | None) -> list[Doc]:
    out = []
    rows = db.query("SELECT account, region, state, next_run, attempt, doc FROM sch_schedules ORDER BY rid")
    for row in rows:
        doc = loads(row["doc"])
        target = doc.get("Target") or {}
        params = target.get("EcsParameters")
        if not params or not _matches(cluster, str(target.get("Arn", ""))):
            continue
        out.append(
            {
                "kind": "schedule",
                "name": doc["Name"],
                "arn": doc["Arn"],
                "group": doc.get("GroupName", "default"),
                "targetId": "",
                "account": row["account"],
                "region": row["region"],
                "expression": doc.get("ScheduleExpression"),
                "timezone": doc.get("ScheduleExpressionTimezone") or "UTC",
                "state": row["state"],
                "nextRun": row["next_run"],
                "retryAt": row["attempt"],
                "cluster": target.get("Arn"),
                "clusterName": _cluster_name(str(target.get("Arn", ""))),
                "taskDefinition": params.get("TaskDefinitionArn"),
                "taskCount": int(params.get("TaskCount") or 1),
                "startedBy": scheduler_started_by(doc["Name"]),
            }
        )
    return out


def _rules(db: Database, cluster: str | None) -> list[Doc]:
    out = []
    rows = db.query("SELECT account, region, name, arn, state, next_run, doc, targets FROM ev_rules ORDER BY rid")
    for row in rows:
        doc = loads(row["doc"])
        for target in loads(row["targets"]):
            params = target.get("EcsParameters")
            if not params or not _matches(cluster, str(target.get("Arn", ""))):
                continue
            out.append(
                {
                    "kind": "rule",
                    "name": row["name"],
                    "arn": row["arn"],
                    "group": None,
                    "targetId": target.get("Id", ""),
                    "account": row["account"],
                    "region": row["region"],
                    "expression": doc.get("ScheduleExpression") or doc.get("EventPattern"),
                    "timezone": "UTC",
                    "state": row["state"],
                    "nextRun": row["next_run"],
                    "retryAt": None,
                    "cluster": target.get("Arn"),
                    "clusterName": _cluster_name(str(target.get("Arn", ""))),
                    "taskDefinition": params.get("TaskDefinitionArn"),
                    "taskCount": int(params.get("TaskCount") or 1),
                    "startedBy": rule_started_by(row["name"]),
                }
            )
    return out


def scheduled_tasks(db: Database, cluster: str | None = None, *, with_history: bool = False) -> list[Doc]:
    """Every ECS target of a schedule or rule (of ``cluster``, when given), with its newest invocation."""
    entries = _schedules(db, cluster) + _rules(db, cluster)
    for entry in entries:
        recent = [
            item
            for item in history.recent(db, entry["arn"], history.PER_TARGET * 4)
            if item.get("target", "") == entry["targetId"]
        ][: history.PER_TARGET]
        entry["last"] = recent[0] if recent else None
        if with_history:
            entry["history"] = recent
    return entries


def routes(db: Database, clock: Clock) -> list[Route]:
    async def listing(request: Request) -> Response:
        cluster = request.query_params.get("cluster") or None
        wanted = request.query_params.get("history", "").lower() in ("1", "true", "yes")
        found = scheduled_tasks(db, cluster, with_history=wanted)
        return JSONResponse({"now": clock.now(), "scheduledTasks": found})

    async def one(request: Request) -> Response:
        arn = request.query_params.get("arn", "")
        if not arn:
            return JSONResponse({"message": "Give the schedule's or rule's ARN as arn."}, 400)
        return JSONResponse({"now": clock.now(), "arn": arn, "invocations": history.recent(db, arn)})

    return [
        Route("/_ecslite/schedules", listing, methods=["GET"]),
        Route("/_ecslite/schedules/history", one, methods=["GET"]),
    ]
