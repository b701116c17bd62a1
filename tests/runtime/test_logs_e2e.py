"""The awslogs driver on the process runtime (spec/ecs.md §10.1): a real program's stdout and stderr,
captured by the task's shim, reach CloudWatch Logs with the shim's times and read back exactly through
GetLogEvents, FilterLogEvents (every pattern form) and Logs Insights; lines over 16 KiB are split; the
driver resumes after ``kill -9`` of the server without losing or repeating a line; ``ecslite logs``
shows a container that has no log configuration from the shim's output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, Restartable, wait_for
from tests.runtime.test_tasks_e2e import HOST_IMAGE, register, run, wait_status

EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
GROUP = "/ecs/e2e"
# What the program prints, in order; lines marked 2> go to stderr.
LINES = [
    "GET /health 200 3ms",
    "2>ERROR database timeout after 30s",
    '{"level": "error", "msg": "payment failed", "latency": 250}',
    '{"level": "info", "msg": "payment ok", "latency": 12}',
    "10.0.0.1 alice GET /api 500 1024",
    "10.0.0.2 bob GET /api 200 2048",
    "WARN disk almost full",
    "DEBUG cache miss",
]


def shell(name: str, script: str, **members: Any) -> dict[str, Any]:
    return {"name": name, "image": HOST_IMAGE, "entryPoint": ["/bin/sh", "-c"], "command": [script], **members}


def printing(lines: list[str]) -> str:
    """A shell script printing ``lines``; a pause around stderr lines keeps the two pipes in order."""
    steps = []
    for line in lines:
        quoted = "'" + line.removeprefix("2>").replace("'", "'\\''") + "'"
        if line.startswith("2>"):
            steps += ["sleep 0.1", f"printf '%s\\n' {quoted} >&2", "sleep 0.1"]
        else:
            steps.append(f"printf '%s\\n' {quoted}")
    return "; ".join(steps)


def awslogs(**options: str) -> dict[str, Any]:
    base = {"awslogs-group": GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}
    return {"logDriver": "awslogs", "options": {**base, "awslogs-create-group": "true", **options}}


def shim_records(server: ProcessServer | Any, task_id: str, name: str) -> list[tuple[int, str]]:
    """The shim's output records of a container as (time ms, line)."""
    path = server.settings.runtime_dir / "tasks" / task_id / f"{name}.log"
    records = []
    for raw in path.read_text().splitlines():
        stamp, _, rest = raw.partition(" ")
        seconds, _, fraction = stamp.partition(".")
        records.append((int(seconds) * 1000 + int(fraction[:3]), rest.partition(" ")[2]))
    return records


def stream_events(logs: Any, stream: str, wanted: int, timeout: float = 30) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        try:
            events: list[dict[str, Any]] = logs.get_log_events(
                logGroupName=GROUP, logStreamName=stream, startFromHead=True
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return events if len(events) >= wanted else None

    found: list[dict[str, Any]] = wait_for(enough, timeout)
    return found


def insights(logs: Any, query: str, around_ms: int) -> list[dict[str, str]]:
    query_id = logs.start_query(
        logGroupName=GROUP, startTime=around_ms // 1000 - 60, endTime=around_ms // 1000 + 600, queryString=query
    )["queryId"]

    def complete() -> list[dict[str, str]] | None:
        result = logs.get_query_results(queryId=query_id)
        if result["status"] != "Complete":
            return None
        return [{f["field"]: f["value"] for f in row if f["field"] != "@ptr"} for row in result["results"]]

    rows: list[dict[str, str]] = wait_for(complete, 20)
    return rows


def test_a_programs_output_round_trips_with_the_shims_times(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    logs = make_client("logs", process_endpoint)
    definition = register(
        process_ecs,
        "logs-e2e",
        shell("app", printing(LINES), essential=True, logConfiguration=awslogs()),
        executionRoleArn=EXECUTION_ROLE,
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task_id = arn.rsplit("/", 1)[1]
    wait_status(process_ecs, arn, "STOPPED", timeout=60)
    events = stream_events(logs, f"ecs/app/{task_id}", len(LINES))
    printed = [line.removeprefix("2>") for line in LINES]
    assert [(e["timestamp"], e["message"]) for e in events] == shim_records(process_server, task_id, "app")
    assert [e["message"] for e in events] == printed

    def matching(pattern: str) -> list[str]:
        found = logs.filter_log_events(logGroupName=GROUP, filterPattern=pattern)["events"]
        return [e["message"] for e in found]

    assert matching("ERROR timeout") == ["ERROR database timeout after 30s"]
    assert matching('"payment failed"') == [LINES[2]]
    assert matching("?WARN ?DEBUG") == ["WARN disk almost full", "DEBUG cache miss"]
    assert matching("GET -health") == [LINES[4], LINES[5]]
    assert matching('{ $.level = "error" }') == [LINES[2]]
    assert matching("[ip, user, method, path, status = 5*, size]") == [LINES[4]]

    first = events[0]["timestamp"]
    query = "filter ispresent(level) | stats count(*) as n, avg(latency) as mean by level | sort level"
    assert insights(logs, query, first) == [
        {"level": "error", "n": "1", "mean": "250"},
        {"level": "info", "n": "1", "mean": "12"},
    ]
    seconds = Counter(e["timestamp"] // 1000 * 1000 for e in events)
    by_second = insights(logs, "stats count(*) as n by bin(1s)", first)
    assert sorted((row["bin(1s)"], row["n"]) for row in by_second) == sorted(
        (time.strftime("%Y-%m-%d %H:%M:%S.000", time.gmtime(ms // 1000)), str(n)) for ms, n in seconds.items()
    )


def test_lines_over_16_kib_become_several_events(process_ecs: Any, process_endpoint: str) -> None:
    logs = make_client("logs", process_endpoint)
    script = "head -c 20000 /dev/zero | tr '\\0' x; echo; echo after"
    container = shell("app", script, essential=True, logConfiguration=awslogs())
    definition = register(process_ecs, "logs-long", container, executionRoleArn=EXECUTION_ROLE)
    (arn,) = run(process_ecs, process_endpoint, definition)
    wait_status(process_ecs, arn, "STOPPED", timeout=60)
    events = stream_events(logs, f"ecs/app/{arn.rsplit('/', 1)[1]}", 3)
    assert [e["message"] for e in events] == ["x" * 16384, "x" * (20000 - 16384), "after"]


def test_the_driver_resumes_after_kill_9_without_losing_or_repeating_a_line(
    restartable_server: Restartable,
) -> None:
    server = restartable_server.start()
    ecs, logs = server.ecs(), make_client("logs", server.endpoint)
    script = 'i=1; while [ $i -le 60 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done'
    container = shell("app", script, essential=True, logConfiguration=awslogs())
    definition = register(ecs, "logs-restart", container, executionRoleArn=EXECUTION_ROLE)
    (arn,) = run(ecs, server.endpoint, definition)
    stream = f"ecs/app/{arn.rsplit('/', 1)[1]}"
    stream_events(logs, stream, 5)
    restartable_server.kill()
    time.sleep(1.0)  # the container goes on printing while no server runs
    server = restartable_server.start()
    ecs, logs = server.ecs(), make_client("logs", server.endpoint)
    wait_status(ecs, arn, "STOPPED", timeout=60)
    events = stream_events(logs, stream, 60)
    assert [e["message"] for e in events] == [f"line {n}" for n in range(1, 61)]


def test_ecslite_logs_shows_a_container_without_log_configuration(
    process_ecs: Any, process_endpoint: str, tmp_path: Any
) -> None:
    definition = register(
        process_ecs,
        "logs-plain",
        shell("app", "echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three", essential=True),
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env = {**os.environ, **credentials, "AWS_CONFIG_FILE": str(tmp_path / "none")}
    command = [sys.executable, "-m", "ecslite", "logs", "--endpoint", process_endpoint, arn, "--no-timestamps"]
    followed = subprocess.run([*command, "-f"], capture_output=True, text=True, env=env, timeout=60)
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.splitlines() == ["app | one", "app | two", "app | three"]
    assert process_ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] in ("DEPROVISIONING", "STOPPED")
    again = subprocess.run([*command, "--filter", "?one ?three"], capture_output=True, text=True, env=env, timeout=60)
    assert again.stdout.splitlines() == ["app | one", "app | three"]
