"""``ecslite stacks`` run as a subprocess against a real server (fake runtime) with stacks created
through boto3's cloudformation client: ``--watch`` following a failing create live and exiting 1
with the service's stopped tasks and exit codes; the list's status and reason; one stack's
resources, events newest first with the failures in red, and its ``--json``; a stack that succeeds
(``--watch`` exits 0 with its outputs); the one-line errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, make_client, start_server, stop_server
from tests.fixtures.stacks import SERVER_ARGS, TEMPLATE, create_stack, wait_final
from tests.integration.test_cli_operator_helpers import Follower, cli_env, json_lines, run_cli, run_json, table_rows

BREAKER = "Error occurred during operation 'ECS Deployment Circuit Breaker was triggered'."
RED = "\x1b[31m"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("stacks"), *SERVER_ARGS)
    # Made at once for every test of the module (each test may run on its own worker, with its own
    # server), so the good stack's service becomes stable while the first tests run.
    cfn, ec2 = make_client("cloudformation", server.endpoint), make_client("ec2", server.endpoint)
    create_stack(cfn, ec2, "good")
    create_stack(cfn, ec2, "bad", exit_code=3)
    yield server
    stop_server(server)


@pytest.fixture
def endpoint(stack_server: RunningServer) -> str:
    return stack_server.endpoint


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


def test_watch_follows_a_failing_create_and_shows_why(endpoint: str, env: dict[str, str]) -> None:
    cfn, ec2 = make_client("cloudformation", endpoint), make_client("ec2", endpoint)
    stack_id = create_stack(cfn, ec2, "watched", exit_code=3)
    follower = Follower(endpoint, env, "stacks", "watched", "--watch")
    try:
        follower.until(lambda lines: any("CREATE_IN_PROGRESS" in line for line in lines))
        # Seen while the stack was still being made: the command follows it, it did not wait for the end.
        assert cfn.describe_stacks(StackName="watched")["Stacks"][0]["StackStatus"].endswith("_IN_PROGRESS")
        lines = follower.until(lambda seen: any("ended ROLLBACK_COMPLETE" in line for line in seen), timeout=120)
        assert follower.process.wait(timeout=30) == 1
    finally:
        follower.stop()
    assert lines[0].startswith("stack watched  CREATE_IN_PROGRESS")
    events = [line for line in lines[1:] if re.match(r"^\d\d:\d\d:\d\d  ", line)]
    statuses = [line.split("  ")[3] for line in events]
    # Oldest first, each event once, from the stack's start to its rollback's end.
    assert statuses[0] == "CREATE_IN_PROGRESS" and statuses[-1] == "ROLLBACK_COMPLETE"
    assert len(events) == len(set(events))
    [failed] = [line for line in events if "CREATE_FAILED" in line]
    assert "Service  AWS::ECS::Service  CREATE_FAILED" in failed and BREAKER in failed

    # Deleted, it leaves the list; --deleted shows it again.
    cfn.delete_stack(StackName="watched")
    assert wait_final(cfn, stack_id) == "DELETE_COMPLETE"
    assert "watched" not in [s["stackName"] for s in run_json(endpoint, env, "stacks")]
    [deleted] = [s for s in run_json(endpoint, env, "stacks", "--deleted") if s["stackName"] == "watched"]
    assert (deleted["status"], deleted["failed"]) == ("DELETE_COMPLETE", False)


def test_failed_stack_list_and_detail(endpoint: str, env: dict[str, str]) -> None:
    cfn = make_client("cloudformation", endpoint)
    assert wait_final(cfn, "bad") == "ROLLBACK_COMPLETE"
    listed = run_cli(endpoint, env, "stacks")
    assert listed.returncode == 0, listed.stderr
    rows = {row[0]: row for row in table_rows(listed.stdout)[1:]}
    assert table_rows(listed.stdout)[0] == ["NAME", "STATUS", "LAST UPDATE", "REASON"]
    assert rows["bad"][1] == "ROLLBACK_COMPLETE"
    assert rows["bad"][3] == f"Service: {BREAKER}"
    assert rows["good"][1] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE")

    shown = run_cli(endpoint, env, "stacks", "bad")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.startswith("stack bad  ROLLBACK_COMPLETE  us-east-1 · 000000000000\n")
    # Beside CloudFormation's reason, what ECS knows: the rollout, the stopped task, the exit code, the logs.
    assert f"Service (AWS::ECS::Service) CREATE_FAILED: {BREAKER}" in text
    assert re.search(r"service bad-cluster/bad-Service-\w+ \(INACTIVE\): ECS deployment circuit breaker", text)
    tasks = re.findall(
        r"task (\w{32}) stopped \S+ ago: EssentialContainerExited: Essential container in task exited", text
    )
    assert tasks
    # The rollback deleted the log group: the container's last output comes from the runtime's copy.
    assert (
        "    app exit 3  log group /stacks/bad was deleted with the stack; its last output:\n"
        "      | starting app\n"
        "      | Error: DATABASE_URL is not set\n"
    ) in text
    resources = {row[0]: row for row in table_rows(text.split("\n\n")[1])[1:]}
    assert set(resources) == {"Cluster", "Logs", "ExecutionRole", "TaskDef", "Service"}
    assert resources["Cluster"][1:] == ["AWS::ECS::Cluster", "bad-cluster", "DELETE_COMPLETE"]
    # The failed create's physical id is recorded when the handler reported it before failing.
    assert resources["Service"][1] == "AWS::ECS::Service" and resources["Service"][3] == "DELETE_COMPLETE"
    assert re.fullmatch(
        r"-|arn:aws:ecs:us-east-1:000000000000:service/bad-cluster/bad-Service-\w+", resources["Service"][2]
    )
    events = text.split("Events (newest first):\n")[1].splitlines()
    api_events = cfn.describe_stack_events(StackName=cfn.describe_stacks(StackName="bad")["Stacks"][0]["StackId"])
    assert [line.split("  ")[3] for line in events] == [e["ResourceStatus"] for e in api_events["StackEvents"]]
    assert events[0].split("  ")[1:4] == ["bad", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"]

    coloured = run_cli(endpoint, cli_env(Path(env["AWS_CONFIG_FILE"]).parent, FORCE_COLOR="1"), "stacks", "bad")
    failed_line = next(line for line in coloured.stdout.splitlines() if "CREATE_FAILED" in line and BREAKER in line)
    assert f"{RED}CREATE_FAILED" in failed_line and f"{RED}  {BREAKER}" in failed_line

    detail = run_json(endpoint, env, "stacks", "bad")
    [failure] = detail["failures"]
    assert (failure["logicalId"], failure["status"], failure["reason"]) == ("Service", "CREATE_FAILED", BREAKER)
    task = failure["service"]["stoppedTasks"][0]
    assert task["stopCode"] == "EssentialContainerExited"
    [container] = task["containers"]
    assert container["exitCode"] == 3
    assert container["logs"]["group"] == "/stacks/bad"
    assert container["logs"]["stream"] == f"app/app/{task['taskId']}"
    assert container["logs"]["groupDeleted"] is True
    assert [(r["source"], r["message"]) for r in container["lastOutput"]] == [
        ("stdout", "starting app"),
        ("stderr", "Error: DATABASE_URL is not set"),
    ]
    assert task["href"] == f"/ui/task?id={task['taskId']}"

    # --watch of a stack already final: every event oldest first as JSON lines, then the detail; exit 1.
    watched = run_cli(endpoint, env, "stacks", "bad", "--watch", "--json")
    assert watched.returncode == 1, watched.stderr
    *lines, last = json_lines(watched.stdout)
    assert [e["eventId"] for e in lines] == [e["eventId"] for e in reversed(detail["events"])]
    assert (last["stack"]["status"], last["failures"][0]["logicalId"]) == ("ROLLBACK_COMPLETE", "Service")


def test_watch_of_a_stack_that_succeeds_exits_0(endpoint: str, env: dict[str, str]) -> None:
    watched = run_cli(endpoint, env, "stacks", "good", "-f", timeout=180)
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert "stack good ended CREATE_COMPLETE" in lines
    ecs = make_client("ecs", endpoint)
    [service_arn] = ecs.list_services(cluster="good-cluster")["serviceArns"]
    assert lines[-2:] == ["Outputs:", f"  ServiceArn = {service_arn}"]
    assert "Failed:" not in lines

    detail: Any = run_json(endpoint, env, "stacks", "good")
    resources = {r["logicalId"]: r for r in detail["resources"]}
    assert resources["Service"]["physicalId"] == service_arn
    assert resources["Service"]["status"] == "CREATE_COMPLETE"
    assert resources["Service"]["href"] == "/ui/service?arn=" + service_arn.replace(":", "%3A").replace("/", "%2F")
    assert resources["Cluster"]["href"].startswith("/ui/cluster?arn=arn%3Aaws%3Aecs%3A")
    assert resources["TaskDef"]["href"] is None
    assert detail["failures"] == []
    assert wait_final(make_client("cloudformation", endpoint), "bad") == "ROLLBACK_COMPLETE"
    listed = run_json(endpoint, env, "stacks")
    names = [s["stackName"] for s in listed]
    assert names.index("bad") < names.index("good")  # newest first
    by_name = {s["stackName"]: s for s in listed}
    assert (by_name["good"]["status"], by_name["good"]["failed"], by_name["bad"]["failed"]) == (
        "CREATE_COMPLETE",
        False,
        True,
    )


def test_errors(endpoint: str, env: dict[str, str]) -> None:
    missing = run_cli(endpoint, env, "stacks", "nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "Stack with id nope does not exist\n"
    no_name = run_cli(endpoint, env, "stacks", "--watch")
    assert no_name.returncode == 2
    assert no_name.stderr == "--watch follows one stack: give its name.\n"
    elsewhere = run_cli(endpoint, env, "stacks", "--region", "eu-west-1")
    assert (elsewhere.returncode, elsewhere.stdout) == (0, "No stacks.\n")


def test_failed_update_points_to_the_logs_of_the_failing_tasks(endpoint: str, env: dict[str, str]) -> None:
    """An update whose new revision trips the breaker rolls back; the service (still there, on its
    first revision) shows the new revision's failed tasks, and the printed logs command prints them."""
    cfn, ec2 = make_client("cloudformation", endpoint), make_client("ec2", endpoint)
    create_stack(cfn, ec2, "updated")
    assert wait_final(cfn, "updated") == "CREATE_COMPLETE"
    parameters = [
        {"ParameterKey": "Subnets", "UsePreviousValue": True},
        {"ParameterKey": "ExitCode", "ParameterValue": "4"},
    ]
    cfn.update_stack(StackName="updated", TemplateBody=TEMPLATE, Parameters=parameters, Capabilities=["CAPABILITY_IAM"])
    assert wait_final(cfn, "updated") == "UPDATE_ROLLBACK_COMPLETE"

    shown = run_cli(endpoint, env, "stacks", "updated")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert f"Service (AWS::ECS::Service) UPDATE_FAILED: {BREAKER}" in text
    # The failed deployment is gone from the service after the breaker's rollback; its record says why.
    assert re.search(
        r"  service updated-cluster/updated-Service-\w+: ECS deployment circuit breaker triggered: 3 of 3 tasks "
        r"failed; ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/\d+\.\n",
        text,
    ), text
    commands = re.findall(r"    app exit 4  logs: (ecslite logs \w{32} --cluster updated-cluster -c app)\n", text)
    assert commands, text
    assert "      | Error: DATABASE_URL is not set\n" in text
    logs = run_cli(endpoint, env, *commands[0].split()[1:])
    assert logs.returncode == 0, logs.stderr
    assert "Error: DATABASE_URL is not set" in logs.stdout
    # Only the latest operation's failure; the create before it had none.
    detail = run_json(endpoint, env, "stacks", "updated")
    assert [f["status"] for f in detail["failures"]] == ["UPDATE_FAILED"]
    assert detail["failures"][0]["service"]["status"] == "ACTIVE"
