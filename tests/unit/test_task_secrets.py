"""Container ``secrets`` resolved when containers start (spec/ecs.md §2.8): the environment the runtime
gets, the layering against ``environment``, and the failures that stop a task."""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import RequestContext
from ecslite.providers.secretsmanager.provider import SecretsManagerProvider
from ecslite.providers.ssm.provider import SsmProvider
from tests.unit.test_task_harness import ACCOUNT, REGION, Harness, container, definition, run, started

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"


def ctx(service: str, operation: str) -> RequestContext:
    return RequestContext(ACCOUNT, REGION, "req-1", service, operation)


def put_secret(h: Harness, name: str, value: str) -> str:
    provider = SecretsManagerProvider(h.db, h.clock)
    arn: str = provider.create_secret(ctx("secretsmanager", "CreateSecret"), {"Name": name, "SecretString": value})[
        "ARN"
    ]
    return arn


def put_parameter(h: Harness, name: str, value: str, kind: str = "String") -> None:
    SsmProvider(h.db, h.clock).put_parameter(
        ctx("ssm", "PutParameter"), {"Name": name, "Value": value, "Type": kind, "Overwrite": False}
    )


def environment_of(h: Harness, arn: str, name: str) -> dict[str, str]:
    return dict(h.runtime._container(h.task_id(arn), name).spec.environment)


def secret(name: str, value_from: str) -> dict[str, str]:
    return {"name": name, "valueFrom": value_from}


def test_secrets_become_environment_and_beat_the_definitions_environment() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        db_arn = put_secret(h, "app/db", '{"username": "admin", "password": "s3cret"}')
        put_parameter(h, "/app/token", "tok-123", "SecureString")
        arn = h.launch(
            definition(
                container(
                    "app",
                    environment=[{"name": "DB_USER", "value": "from-environment"}, {"name": "MODE", "value": "x"}],
                    secrets=[
                        secret("DB_USER", f"{db_arn}:username::"),
                        secret("DB_PASSWORD", f"{db_arn}:password::"),
                        secret("TOKEN", "/app/token"),
                    ],
                ),
                executionRoleArn=EXECUTION_ROLE,
            )
        )
        await h.until(arn, "RUNNING")
        env = environment_of(h, arn, "app")
        assert (env["DB_USER"], env["DB_PASSWORD"], env["TOKEN"], env["MODE"]) == ("admin", "s3cret", "tok-123", "x")
        stored = h.db.query_one("SELECT doc FROM tasks WHERE arn=?", (arn,))
        assert stored is not None and "s3cret" not in stored["doc"] and "tok-123" not in stored["doc"]
        await h.controller.stop()

    run(scenario())


def test_a_missing_secret_stops_the_task_with_ecs_reason() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:nope-AbCdEf"
        arn = h.launch(
            definition(container("app", secrets=[secret("PASSWORD", missing)]), executionRoleArn=EXECUTION_ROLE)
        )
        task: dict[str, Any] = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"].startswith(PREFIX)
        assert missing in task["stoppedReason"]
        app = task["containers"][0]
        assert app["reason"] == task["stoppedReason"] and "exitCode" not in app
        assert not [c for c in h.runtime.calls if c[0] == "start_container"]
        await h.controller.stop()

    run(scenario())


def test_a_missing_parameter_of_a_non_essential_container_stops_only_that_container() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("app"),
                container("helper", essential=False, secrets=[secret("KEY", "/missing/parameter")]),
                executionRoleArn=EXECUTION_ROLE,
            )
        )
        task = await h.until(arn, "RUNNING")
        helper = next(c for c in task["containers"] if c["name"] == "helper")
        assert helper["lastStatus"] == "STOPPED" and helper["reason"].startswith(PREFIX)
        assert "/missing/parameter" in helper["reason"]
        assert task["desiredStatus"] == "RUNNING"
        await h.controller.stop()

    run(scenario())


def test_log_secret_options_are_resolved_at_start_and_fail_like_secrets() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        log_config = {
            "logDriver": "awsfirelens",
            "options": {"Name": "http"},
            "secretOptions": [secret("Header", "/missing/log-key")],
        }
        arn = h.launch(definition(container("app", logConfiguration=log_config), executionRoleArn=EXECUTION_ROLE))
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "TaskFailedToStart" and "/missing/log-key" in task["stoppedReason"]
        await h.controller.stop()

    run(scenario())
