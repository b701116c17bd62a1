"""Container ``secrets`` over HTTP with the fake runtime (spec/ecs.md §2.8): a secret that cannot be
resolved stops the task with ECS's ``TaskFailedToStart`` and ``ResourceInitializationError`` reason."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_client
from tests.integration.test_tasks_helpers import app, fargate_definition, run_fargate, wait_status

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "
EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"


def test_a_deleted_secret_stops_the_task_with_the_ecs_reason(ecs: Any, endpoint: str) -> None:
    secrets = make_client("secretsmanager", endpoint)
    arn = secrets.create_secret(Name="db-password", SecretString="s3cret")["ARN"]
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    definition = fargate_definition(
        ecs,
        app(secrets=[{"name": "PASSWORD", "valueFrom": arn}]),
        executionRoleArn=EXECUTION_ROLE,
    )
    task_arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    task = wait_status(ecs, task_arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith(PREFIX) and arn in task["stoppedReason"]
    container = task["containers"][0]
    assert container["reason"] == task["stoppedReason"] and "exitCode" not in container
    assert "startedAt" not in task


def test_resolvable_secrets_let_the_task_run(ecs: Any, endpoint: str) -> None:
    make_client("ssm", endpoint).put_parameter(Name="/app/token", Value="tok", Type="SecureString")
    definition = fargate_definition(
        ecs,
        app(secrets=[{"name": "TOKEN", "valueFrom": "/app/token"}]),
        executionRoleArn=EXECUTION_ROLE,
    )
    task_arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    assert wait_status(ecs, task_arn, "RUNNING")["containers"][0]["lastStatus"] == "RUNNING"
