"""The agent endpoint's answers (agent/listener.py) for tasks run by the task controller on the fake
runtime: who may read which token and credentials id, the agent's error texts, task protection from
inside a task, and the AWS API pass-through (spec/ecs.md §9, §4.11)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from ecslite.agent.listener import AgentEndpoint
from ecslite.builtin.http import Request
from ecslite.edge.aws import AwsResponse
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.provider import EcsProvider
from ecslite.providers.iam.provider import IamProvider
from tests.unit.test_task_harness import ACCOUNT, REGION, Harness, container, definition, run, started

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-role"
TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


class Setup:
    def __init__(self, h: Harness, *, host_credentials: bool = False) -> None:
        self.h = h
        self.calls: list[tuple[str, str, bytes]] = []
        if not h.db.query("SELECT 1 FROM iam_roles"):
            IamProvider(h.db, h.clock).create_role(
                RequestContext(ACCOUNT, REGION, "r", "iam", "CreateRole"),
                {"RoleName": "app-role", "AssumeRolePolicyDocument": TRUST},
            )
        settings = dataclasses.replace(h.settings, host_credentials=host_credentials)
        ecs = EcsProvider(h.db, h.clock, settings)
        ecs.prepare(RequestContext(ACCOUNT, REGION, "r", "ecs", "CreateCluster"))  # the default cluster
        self.endpoint = AgentEndpoint(
            h.db,
            h.clock,
            settings,
            h.runtime,
            caller_of=self.caller_of,
            ecs=ecs,
            aws=self.aws,
        )

    def caller_of(self, address: str) -> str | None:
        for row in self.h.db.query("SELECT doc FROM tasks"):
            doc = orjson.loads(row["doc"])
            if ((doc.get("_run") or {}).get("sandbox") or {}).get("privateIpv4") == address:
                return str(doc["taskArn"])
        return None

    async def aws(self, method: str, headers: dict[str, str], query: str, body: bytes) -> AwsResponse:
        self.calls.append((method, query, body))
        return AwsResponse(200, b"<ok/>", [(b"content-type", b"text/xml")])

    def address(self, arn: str) -> str:
        return str(self.h.task(arn)["_run"]["sandbox"]["privateIpv4"])

    def token(self, arn: str, name: str = "app") -> str:
        return str(next(c for c in self.h.task(arn)["_spec"]["containers"] if c["name"] == name)["metadataToken"])

    def credentials_id(self, arn: str) -> str:
        return str(self.h.task(arn)["_spec"]["credentialsId"])

    async def get(self, arn: str | None, path: str, method: str = "GET", body: bytes = b"") -> tuple[int, Any]:
        peer = (self.address(arn), 40000) if arn else ("169.254.170.2", 40000)
        request = Request(method, path, {}, {}, body, peer)
        response = await self.endpoint.handle(request)
        if response.content_type != "application/json":
            return response.status, response.body
        return response.status, orjson.loads(response.body) if response.body else None


def scenario(test: Any) -> None:
    async def body() -> None:
        h = await started(Harness())
        try:
            await test(h)
        finally:
            await h.controller.stop()

    run(body())


async def two_tasks(h: Harness, **extra: Any) -> tuple[str, str]:
    first = h.launch(definition(container("app"), container("side", essential=False), taskRoleArn=ROLE, **extra))
    second = h.launch(definition(container("app"), taskRoleArn=ROLE, **extra))
    await h.until(first, "RUNNING")
    await h.until(second, "RUNNING")
    return first, second


def test_a_task_reads_its_own_metadata_in_v4_and_v3() -> None:
    async def test(h: Harness) -> None:
        s = Setup(h)
        first, _ = await two_tasks(h)
        token = s.token(first)
        status, own = await s.get(first, f"/v4/{token}")
        assert status == 200 and own["Name"] == "app" and own["DockerId"] == h.container(first, "app")["runtimeId"]
        status, task = await s.get(first, f"/v4/{token}/task")
        assert status == 200 and task["TaskARN"] == first and [c["Name"] for c in task["Containers"]] == ["app", "side"]
        status, v3 = await s.get(first, f"/v3/{token}/task")
        assert status == 200 and "LaunchType" not in v3 and "FaultInjectionEnabled" not in v3
        status, stats = await s.get(first, f"/v4/{token}/task/stats")
        assert status == 200 and set(stats) == {c["runtimeId"] for c in h.task(first)["containers"]}
        status, _ = await s.get(first, f"/v3/{token}/taskWithTags")
        assert status == 404

    scenario(test)


def test_another_tasks_token_reads_as_unknown() -> None:
    async def test(h: Harness) -> None:
        s = Setup(h)
        first, second = await two_tasks(h)
        token = s.token(second)
        missing = f"unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {token}"
        assert await s.get(first, f"/v4/{token}/task") == (404, f"V4 task metadata handler: {missing}")
        assert await s.get(first, f"/v3/{token}/task") == (400, f"V3 task metadata handler: {missing}")
        assert await s.get(first, f"/v4/{token}/stats") == (404, f"V4 container stats handler: {missing}")
        assert await s.get(None, f"/v4/{token}/task") == (404, f"V4 task metadata handler: {missing}")
        assert (await s.get(second, f"/v4/{token}/task"))[0] == 200

    scenario(test)


def test_credentials_answer_only_their_task() -> None:
    async def test(h: Harness) -> None:
        s = Setup(h)
        first, second = await two_tasks(h)
        status, document = await s.get(first, f"/v2/credentials/{s.credentials_id(first)}")
        assert status == 200 and document["RoleArn"] == ROLE and document["AccessKeyId"].startswith("ASIA")
        assert document["Expiration"].endswith("Z")
        again = await s.get(first, f"/v2/credentials/{s.credentials_id(first)}")
        assert again[1]["AccessKeyId"] == document["AccessKeyId"]  # cached until near its expiry
        not_found = {"code": "InvalidIdInRequest", "message": "CredentialsV2Request: ID not found"}
        assert await s.get(first, f"/v2/credentials/{s.credentials_id(second)}") == (400, not_found)
        assert await s.get(None, f"/v2/credentials/{s.credentials_id(first)}") == (400, not_found)
        assert await s.get(first, "/v2/credentials/") == (
            400,
            {"code": "NoIdInRequest", "message": "CredentialsV2Request: No ID in the request"},
        )

    scenario(test)


def test_a_task_role_that_does_not_exist_is_explained() -> None:
    async def test(h: Harness) -> None:
        s = Setup(h)
        arn = h.launch(definition(container("app"), taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/missing"))
        await h.until(arn, "RUNNING")
        status, body = await s.get(arn, f"/v2/credentials/{s.credentials_id(arn)}")
        assert status == 400 and body["code"] == "InvalidIdInRequest"
        assert body["message"].startswith("CredentialsV2Request: ID not found. The task role")

    scenario(test)


def test_host_credentials_are_served_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHOSTKEY000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "host-token")

    async def test(h: Harness) -> None:
        arn = h.launch(definition(container("app"), taskRoleArn=ROLE))
        await h.until(arn, "RUNNING")
        plain = Setup(h)
        _, minted = await plain.get(arn, f"/v2/credentials/{plain.credentials_id(arn)}")
        assert minted["AccessKeyId"] != "AKIAHOSTKEY000000000"
        host = Setup(h, host_credentials=True)
        _, served = await host.get(arn, f"/v2/credentials/{host.credentials_id(arn)}")
        assert (served["AccessKeyId"], served["SecretAccessKey"], served["Token"]) == (
            "AKIAHOSTKEY000000000",
            "host-secret",
            "host-token",
        )

    scenario(test)


def test_task_protection_from_inside_a_task_uses_the_api_rules() -> None:
    async def test(h: Harness) -> None:
        s = Setup(h)
        first, _ = await two_tasks(h)
        path = f"/api/{s.token(first)}/task-protection/v1/state"
        status, body = await s.get(first, path, "PUT", b'{"ProtectionEnabled": true}')
        assert status == 200 and body["failure"]["Reason"] == "TASK_NOT_VALID" and body["failure"]["Arn"] == first
        status, body = await s.get(first, path, "PUT", b'{"Protected": true}')
        assert status == 400 and body["error"] == {
            "Code": "InvalidParameterException",
            "Message": "UpdateTaskProtection: failed to decode request",
        }
        status, body = await s.get(first, path, "PUT", b'{"ExpiresInMinutes": 5}')
        assert (
            status == 400 and body["error"]["Message"] == "Invalid request: does not contain 'ProtectionEnabled' field"
        )
        no_role = h.launch(definition(container("app")))
        await h.until(no_role, "RUNNING")
        status, body = await s.get(no_role, f"/api/{s.token(no_role)}/task-protection/v1/state")
        assert status == 403 and body["error"]["Code"] == "AccessDeniedException"
        status, body = await s.get(no_role, path)
        assert status == 404 and body["error"]["Message"] == "Failed to find a task for the request"

    scenario(test)


def test_tasks_reach_the_aws_api_and_strangers_do_not() -> None:
    async def test(h: Harness) -> None:
        s = Setup(h)
        first, _ = await two_tasks(h)
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        status, answer = await s.get(first, "/", "POST", body)
        assert (status, answer) == (200, b"<ok/>") and s.calls == [("POST", "", body)]
        status, _ = await s.get(None, "/", "POST", b"Action=GetCallerIdentity")
        assert status == 404 and len(s.calls) == 1

    scenario(test)
