"""``ecslite logs`` run as a subprocess against the real server (fake runtime, scripted output): by task,
by service (following new tasks), by log group; ``-f``, ``--since``, ``--filter``, colours, and the errors
it reports. Every run is bounded in time; followers that never end on their own are stopped by pid."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.integration.test_cli_operator_helpers import Follower
from tests.integration.test_tasks_helpers import SUBNETS, app, fake, fargate_definition, run_fargate, wait_status

EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
GROUP = "/ecs/web"
STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+)\s+\| (.*)$")


@pytest.fixture
def logs(endpoint: str) -> Any:
    return make_client("logs", endpoint)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "NO_COLOR": "",
    }


def ecslite_logs(
    endpoint: str, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ecslite", "logs", "--endpoint", endpoint, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def follow(endpoint: str, cli_env: dict[str, str]) -> Iterator[Any]:
    started: list[Follower] = []

    def start(*args: str) -> Follower:
        follower = Follower(endpoint, cli_env, "logs", "-f", "--no-timestamps", *args)
        started.append(follower)
        return follower

    yield start
    for follower in started:
        follower.stop()


def awslogs(**options: str) -> dict[str, Any]:
    base = {"awslogs-group": GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}
    return {"logDriver": "awslogs", "options": {**base, "awslogs-create-group": "true", **options}}


def run_task(ecs: Any, *containers: dict[str, Any]) -> tuple[str, str]:
    definition = fargate_definition(ecs, *containers, executionRoleArn=EXECUTION_ROLE)
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    return arn, arn.rsplit("/", 1)[1]


def stream_messages(logs: Any, stream: str, wanted: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            events: list[dict[str, Any]] = logs.get_log_events(
                logGroupName=GROUP, logStreamName=stream, startFromHead=True
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if len(events) >= wanted:
            return events
        assert time.monotonic() < deadline, events
        time.sleep(0.1)


def parsed(stdout: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in stdout.splitlines():
        found = STAMPED.match(line)
        assert found, line
        rows.append((found.group(1), found.group(2), found.group(3)))
    return rows


def test_a_tasks_logs_merge_awslogs_and_plain_containers_in_time_order(
    ecs: Any, logs: Any, endpoint: str, cli_env: dict[str, str]
) -> None:
    web = app(
        "web", dockerLabels=fake(output="web {n}\n2>web error {n}", output_interval=0.2), logConfiguration=awslogs()
    )
    side = app("side", essential=False, dockerLabels=fake(output="side {n}", output_interval=0.3, output_repeat=2))
    arn, task_id = run_task(ecs, web, side)
    stream_messages(logs, f"ecs/web/{task_id}", 2)
    time.sleep(0.5)  # the side container's second line
    result = ecslite_logs(endpoint, cli_env, task_id)
    assert result.returncode == 0, result.stderr
    rows = parsed(result.stdout)
    assert [m for _, label, m in rows if label == "web"] == ["web 1", "web error 2"]
    assert [m for _, label, m in rows if label == "side"] == ["side 1", "side 2"]
    assert [stamp for stamp, _, _ in rows] == sorted(stamp for stamp, _, _ in rows)
    only_side = ecslite_logs(endpoint, cli_env, arn, "--container", "side", "--no-timestamps")
    assert only_side.stdout.splitlines() == ["side | side 1", "side | side 2"]


def test_follow_a_task_until_it_stops(ecs: Any, logs: Any, endpoint: str, cli_env: dict[str, str]) -> None:
    web = app(
        "web",
        dockerLabels=fake(output="tick {n}", output_interval=0.25, output_repeat=0, run_seconds=1.6),
        logConfiguration=awslogs(),
    )
    side = app("side", essential=False, dockerLabels=fake(output="side {n}", output_interval=0.3, output_repeat=0))
    arn, task_id = run_task(ecs, web, side)
    result = ecslite_logs(endpoint, cli_env, task_id, "-f", "--no-timestamps", timeout=60)
    assert result.returncode == 0, result.stderr
    assert wait_status(ecs, arn, "STOPPED")["lastStatus"] == "STOPPED"
    printed = [e["message"] for e in stream_messages(logs, f"ecs/web/{task_id}", 1)]
    lines = result.stdout.splitlines()
    assert [line.split(" | ", 1)[1] for line in lines if line.startswith("web ")] == printed
    side_lines = [line.split(" | ", 1)[1] for line in lines if line.startswith("side")]
    assert side_lines == [f"side {n}" for n in range(1, len(side_lines) + 1)] and side_lines


def test_since_and_filter_apply_to_every_container(ecs: Any, logs: Any, endpoint: str, cli_env: dict[str, str]) -> None:
    lines = 'INFO ready\n{"level": "error", "id": {n}}\nERROR disk full\nINFO done {n}'
    web = app("web", dockerLabels=fake(output=lines, output_interval=0.2), logConfiguration=awslogs())
    side = app("side", essential=False, dockerLabels=fake(output=lines, output_interval=0.2))
    _, task_id = run_task(ecs, web, side)
    events = stream_messages(logs, f"ecs/web/{task_id}", 4)
    time.sleep(0.3)
    third = dt.datetime.fromtimestamp(events[2]["timestamp"] / 1000, dt.UTC).isoformat()
    since = ecslite_logs(endpoint, cli_env, task_id, "--since", third, "--no-timestamps", "--container", "web")
    assert since.stdout.splitlines() == ["web | ERROR disk full", "web | INFO done 4"]
    terms = ecslite_logs(endpoint, cli_env, task_id, "--filter", "?ERROR ?done", "--no-timestamps")
    assert sorted(terms.stdout.splitlines()) == [
        "side | ERROR disk full",
        "side | INFO done 4",
        "web  | ERROR disk full",
        "web  | INFO done 4",
    ]
    as_json = ecslite_logs(endpoint, cli_env, task_id, "--filter", '{ $.level = "error" }', "--no-timestamps")
    assert sorted(as_json.stdout.splitlines()) == [
        'side | {"level": "error", "id": 2}',
        'web  | {"level": "error", "id": 2}',
    ]
    recent = ecslite_logs(endpoint, cli_env, task_id, "--since", "1h", "--no-timestamps", "--container", "web")
    old = ecslite_logs(endpoint, cli_env, task_id, "--since", "2020-01-01T00:00:00Z", "--no-timestamps")
    assert len(recent.stdout.splitlines()) == 4 and len(old.stdout.splitlines()) == 8


def test_follow_a_service_picks_up_its_new_tasks(ecs: Any, endpoint: str, follow: Any) -> None:
    container = app("web", dockerLabels=fake(output="hello {n}", output_interval=0.3, output_repeat=0))
    definition = fargate_definition(ecs, container, executionRoleArn=EXECUTION_ROLE)
    ecs.create_service(
        serviceName="web", taskDefinition=definition, desiredCount=1, launchType="FARGATE", networkConfiguration=SUBNETS
    )
    follower = follow("--service", "web")
    seen = follower.until(lambda lines: any("hello" in line for line in lines))
    first = seen[-1].split(" | ")[0].strip()
    assert re.fullmatch(r"web/[0-9a-f]{8}", first)
    ecs.update_service(service="web", desiredCount=2)
    labels = {
        line.split(" | ")[0].strip()
        for line in follower.until(lambda lines: len({x.split(" | ")[0] for x in lines}) >= 2)
    }
    assert len(labels) == 2 and first in labels
    for label in labels:
        messages = [line.split(" | ", 1)[1] for line in follower.seen if line.split(" | ")[0].strip() == label]
        assert messages == [f"hello {n}" for n in range(1, len(messages) + 1)]


def test_follow_a_log_group_shows_events_from_any_producer(logs: Any, follow: Any) -> None:
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="batch/7")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=GROUP, logStreamName="batch/7", logEvents=[{"timestamp": now, "message": "one"}])
    follower = follow("--group", GROUP, "--since", "5m", "--filter", "-skip")
    follower.until(lambda lines: "batch/7 | one" in lines)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="batch/7",
        logEvents=[{"timestamp": now + 1, "message": "skip me"}, {"timestamp": now + 2, "message": "two"}],
    )
    assert follower.until(lambda lines: "batch/7 | two" in lines) == ["batch/7 | one", "batch/7 | two"]


def test_each_container_gets_its_own_colour(ecs: Any, logs: Any, endpoint: str, cli_env: dict[str, str]) -> None:
    web = app("web", dockerLabels=fake(output="from web"), logConfiguration=awslogs())
    side = app("side", essential=False, dockerLabels=fake(output="from side"))
    _, task_id = run_task(ecs, web, side)
    stream_messages(logs, f"ecs/web/{task_id}", 1)
    coloured = ecslite_logs(endpoint, cli_env, task_id, "--color", "always", "--no-timestamps")
    styles = dict(re.findall(r"(\x1b\[[0-9;]+m)(web|side)", coloured.stdout)[i][::-1] for i in range(2))
    assert set(styles) == {"web", "side"} and styles["web"] != styles["side"]
    plain = ecslite_logs(endpoint, cli_env, task_id, "--color", "never", "--no-timestamps")
    assert "\x1b[" not in plain.stdout and sorted(plain.stdout.splitlines()) == ["side | from side", "web  | from web"]


def test_errors_are_reported_in_one_line(ecs: Any, endpoint: str, cli_env: dict[str, str]) -> None:
    missing = ecslite_logs(endpoint, cli_env, "0123456789abcdef0123456789abcdef")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "Task 0123456789abcdef0123456789abcdef was not found in any cluster of region us-east-1.",
    )
    bad_filter = ecslite_logs(endpoint, cli_env, "--group", GROUP, "--filter", '{ $.level = "x"')
    assert (bad_filter.returncode, bad_filter.stderr.strip()) == (
        2,
        "Invalid --filter: If a filter pattern starts with '{' it must end with '}'",
    )
    bad_since = ecslite_logs(endpoint, cli_env, "--group", GROUP, "--since", "yesterday")
    assert bad_since.returncode == 2 and bad_since.stderr.startswith("Invalid --since value 'yesterday'")
    no_group = ecslite_logs(endpoint, cli_env, "--group", "/nope")
    assert (no_group.returncode, no_group.stderr.strip()) == (
        1,
        "An error occurred (ResourceNotFoundException): The specified log group does not exist.",
    )
    nothing = ecslite_logs(endpoint, cli_env)
    assert (nothing.returncode, nothing.stderr.strip()) == (
        2,
        "Give one of: a task id or ARN, --service NAME, or --group NAME.",
    )


def test_a_task_that_failed_to_start_says_why(ecs: Any, endpoint: str, cli_env: dict[str, str]) -> None:
    options = {"awslogs-group": "/ecs/missing", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}
    web = app("web", dockerLabels=fake(output="never"), logConfiguration={"logDriver": "awslogs", "options": options})
    arn, task_id = run_task(ecs, web)
    reason = wait_status(ecs, arn, "STOPPED")["stoppedReason"]
    for args in ((), ("-f",)):
        result = ecslite_logs(endpoint, cli_env, task_id, *args)
        assert (result.returncode, result.stdout) == (0, "")
        assert result.stderr.strip() == f"Task {task_id} failed to start: {reason}"
    assert reason.startswith("ResourceInitializationError: failed to validate logger args:")


def test_a_deleted_log_group_falls_back_to_the_runtimes_copy(
    ecs: Any, logs: Any, endpoint: str, cli_env: dict[str, str]
) -> None:
    web = app(
        "web", dockerLabels=fake(output="web {n}\nweb {n}\nweb {n}", output_interval=0.2), logConfiguration=awslogs()
    )
    _, task_id = run_task(ecs, web)
    stream_messages(logs, f"ecs/web/{task_id}", 3)
    logs.delete_log_group(logGroupName=GROUP)  # as a CloudFormation rollback or `aws logs delete-log-group` does
    result = ecslite_logs(endpoint, cli_env, task_id, "--no-timestamps")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["web | web 1", "web | web 2", "web | web 3"]
    assert result.stderr.splitlines() == [
        f"log group {GROUP} is gone; showing ecslite's own copy of the container's output"
    ]


def test_following_a_task_whose_log_group_was_deleted(
    ecs: Any, logs: Any, endpoint: str, cli_env: dict[str, str]
) -> None:
    web = app(
        "web",
        dockerLabels=fake(output="tick {n}", output_interval=0.25, output_repeat=0, run_seconds=3),
        # Without awslogs-create-group, so the driver does not create the group again on its next lines.
        logConfiguration=awslogs(**{"awslogs-create-group": "false"}),
    )
    logs.create_log_group(logGroupName=GROUP)
    arn, task_id = run_task(ecs, web)
    stream_messages(logs, f"ecs/web/{task_id}", 2)
    logs.delete_log_group(logGroupName=GROUP)
    result = ecslite_logs(endpoint, cli_env, task_id, "-f", "--no-timestamps", timeout=60)
    assert result.returncode == 0, result.stderr
    assert wait_status(ecs, arn, "STOPPED")["lastStatus"] == "STOPPED"
    ticks = [line.split(" | ", 1)[1] for line in result.stdout.splitlines()]
    # Every tick once, in order, up to the container's stop (about 3 s at one per 0.25 s).
    assert ticks == [f"tick {n}" for n in range(1, len(ticks) + 1)] and len(ticks) >= 8
    assert result.stderr.count("is gone; showing ecslite's own copy") == 1
