"""Container ``secrets`` on the process runtime (issue 5; spec/ecs.md §2.8): resolved values are in the
real process's environment, above the definition's ``environment``; a missing one stops the task with
ECS's ``ResourceInitializationError`` before anything runs."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer
from tests.runtime.test_agent_e2e import ask
from tests.runtime.test_tasks_e2e import details, program, register, run, stop, wait_status

EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"


def test_secrets_reach_the_containers_environment_and_a_missing_one_stops_the_task(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    secret = make_client("secretsmanager", process_endpoint).create_secret(
        Name="e2e/db", SecretString='{"user": "admin", "password": "pa55"}'
    )["ARN"]
    make_client("ssm", process_endpoint).put_parameter(Name="/e2e/token", Value="tok-9", Type="SecureString")
    definition = register(
        process_ecs,
        "secrets-e2e",
        program(
            "probe",
            "agent_probe.py",
            "8080",
            environment=[{"name": "DB_USER", "value": "overridden"}],
            secrets=[
                {"name": "DB_USER", "valueFrom": f"{secret}:user::"},
                {"name": "DB_PASSWORD", "valueFrom": f"{secret}:password::"},
                {"name": "TOKEN", "valueFrom": "/e2e/token"},
            ],
        ),
        executionRoleArn=EXECUTION_ROLE,
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "RUNNING")
    env = ask(details(task)["privateIPv4Address"], "/env")
    assert (env["DB_USER"], env["DB_PASSWORD"], env["TOKEN"]) == ("admin", "pa55", "tok-9")
    stop(process_ecs, arn)

    broken = register(
        process_ecs,
        "secrets-e2e-missing",
        program("probe", "agent_probe.py", "8080", secrets=[{"name": "TOKEN", "valueFrom": "/e2e/missing"}]),
        executionRoleArn=EXECUTION_ROLE,
    )
    (failed,) = run(process_ecs, process_endpoint, broken)
    stopped = wait_status(process_ecs, failed, "STOPPED")
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets or registry auth: ")
    assert "/e2e/missing" in stopped["stoppedReason"]
    assert "startedAt" not in stopped
