"""ExecuteCommand on the real server with the fake runtime: ECS's preconditions and texts (spec/ecs.md §11.1),
the session it opens, and DescribeTasks' ``managedAgents`` (§11.2)."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.test_tasks_helpers import (
    FAST_WAITER,
    app,
    describe,
    error_of,
    fake,
    fargate_definition,
    run_fargate,
    wait_status,
)

NOT_ENABLED = (
    "The execute command failed because execute command was not enabled when the task was run or the execute "
    "command agent isn’t running. Wait and try again or run a new task with execute command enabled and try again."
)
INTERNAL = "The execute command failed due to an internal error. Try again later."


def running_task(ecs: Any, *containers: dict[str, Any], enable: bool = True) -> str:
    definition = fargate_definition(ecs, *containers)
    arn: str = run_fargate(ecs, definition, enableExecuteCommand=enable)["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(tasks=[arn], WaiterConfig=FAST_WAITER)
    return arn


def test_execute_command_opens_a_session_on_a_running_task(ecs: Any, endpoint: str) -> None:
    arn = running_task(ecs)
    result = ecs.execute_command(task=arn, command="/bin/sh", interactive=True)
    task = describe(ecs, arn)
    container = task["containers"][0]
    assert (result["clusterArn"], result["taskArn"]) == (task["clusterArn"], arn)
    assert (result["containerName"], result["containerArn"]) == ("app", container["containerArn"])
    assert result["interactive"] is True
    session = result["session"]
    assert session["sessionId"].startswith("ecs-execute-command-") and len(session["sessionId"]) == 37
    port = endpoint.rsplit(":", 1)[1]
    assert session["streamUrl"] == (f"ws://127.0.0.1:{port}/ecs-exec/{session['sessionId']}?role=publish_subscribe")
    assert len(session["tokenValue"]) >= 32
    second = ecs.execute_command(task=arn, command="/bin/sh", interactive=True)["session"]
    assert second["sessionId"] != session["sessionId"] and second["tokenValue"] != session["tokenValue"]


def test_describe_tasks_shows_the_exec_agent_running_with_its_container(ecs: Any) -> None:
    arn = running_task(ecs)
    agents = describe(ecs, arn)["containers"][0]["managedAgents"]
    assert [(a["name"], a["lastStatus"]) for a in agents] == [("ExecuteCommandAgent", "RUNNING")]
    assert "lastStartedAt" in agents[0]
    plain = running_task(ecs, enable=False)
    assert "managedAgents" not in describe(ecs, plain)["containers"][0]


def test_execute_command_refuses_interactive_false(ecs: Any) -> None:
    arn = running_task(ecs)
    assert error_of(ecs.execute_command, task=arn, command="ls", interactive=False) == (
        "InvalidParameterException",
        "Interactive is the only mode supported currently.",
    )


def test_execute_command_refuses_a_task_started_without_exec(ecs: Any) -> None:
    arn = running_task(ecs, enable=False)
    code, message = error_of(ecs.execute_command, task=arn, command="/bin/sh", interactive=True)
    assert code == "InvalidParameterException"
    assert message.startswith(NOT_ENABLED)
    assert "was started without enableExecuteCommand" in message and "--force-new-deployment" in message


def test_execute_command_needs_the_container_name_when_the_task_has_several(ecs: Any) -> None:
    arn = running_task(ecs, app("web"), app("sidecar", essential=False))
    code, message = error_of(ecs.execute_command, task=arn, command="/bin/sh", interactive=True)
    assert code == "InvalidParameterException"
    assert message == (
        "Task has multiple containers, container name must be specified. The task's containers are: web, sidecar."
    )
    assert error_of(ecs.execute_command, task=arn, container="db", command="/bin/sh", interactive=True) == (
        "InvalidParameterException",
        "The container db does not exist in the task. The task's containers are: web, sidecar.",
    )
    chosen = ecs.execute_command(task=arn, container="sidecar", command="/bin/sh", interactive=True)
    assert chosen["containerName"] == "sidecar"


def test_execute_command_refuses_a_task_that_is_not_running(ecs: Any) -> None:
    definition = fargate_definition(ecs, app(dockerLabels=fake(pull_seconds=30)))
    arn = run_fargate(ecs, definition, enableExecuteCommand=True)["tasks"][0]["taskArn"]
    code, message = error_of(ecs.execute_command, task=arn, command="/bin/sh", interactive=True)
    assert code == "InvalidParameterException"
    assert message.startswith(NOT_ENABLED) and "; wait until it is RUNNING." in message


def test_execute_command_refuses_a_stopped_container(ecs: Any) -> None:
    definition = fargate_definition(ecs, app("web"), app("job", essential=False, dockerLabels=fake(exit_code=0)))
    arn = run_fargate(ecs, definition, enableExecuteCommand=True)["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(tasks=[arn], WaiterConfig=FAST_WAITER)
    wait_status_container(ecs, arn, "job", "STOPPED")
    code, message = error_of(ecs.execute_command, task=arn, container="job", command="sh", interactive=True)
    assert code == "InvalidParameterException"
    assert message == f"{NOT_ENABLED} Container job is STOPPED, so its execute command agent is not running."
    agents = next(c for c in describe(ecs, arn)["containers"] if c["name"] == "job")["managedAgents"]
    assert agents[0]["lastStatus"] == "STOPPED"


def test_execute_command_refuses_a_read_only_root_filesystem(ecs: Any) -> None:
    arn = running_task(ecs, app(readonlyRootFilesystem=True))
    code, message = error_of(ecs.execute_command, task=arn, command="/bin/sh", interactive=True)
    assert code == "TargetNotConnectedException"
    assert message == (
        f"{INTERNAL} Container app has readonlyRootFilesystem set, and ECS Exec needs a writable root filesystem."
    )


def test_execute_command_refuses_unknown_tasks_and_clusters(ecs: Any) -> None:
    assert error_of(ecs.execute_command, task="0" * 32, command="sh", interactive=True) == (
        "InvalidParameterException",
        "The referenced task was not found.",
    )
    assert error_of(ecs.execute_command, cluster="nope", task="0" * 32, command="sh", interactive=True) == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_execute_command_refuses_a_stopped_task(ecs: Any) -> None:
    arn = running_task(ecs)
    ecs.stop_task(task=arn)
    wait_status(ecs, arn, "STOPPED")
    code, message = error_of(ecs.execute_command, task=arn, command="sh", interactive=True)
    assert (code, message) == (
        "InvalidParameterException",
        f"{NOT_ENABLED} Task {arn.rsplit('/', 1)[1]} is STOPPED; it has stopped or is stopping.",
    )


def wait_status_container(ecs: Any, arn: str, name: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        container = next(c for c in describe(ecs, arn)["containers"] if c["name"] == name)
        if container["lastStatus"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"container {name} never became {status}")
