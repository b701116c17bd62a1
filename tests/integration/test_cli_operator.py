"""``ecslite ps``, ``services`` and ``events`` run as subprocesses against the real server (fake
runtime) with services and tasks created through boto3: the table's key facts, the exact ``--json``
objects, filters, ``-f`` (a bounded number of lines, then stopped by pid), the event pattern
language, and the one-line errors with their exit codes (server down, bad endpoint, unknown
cluster or service, bad options)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.test_cli_operator_helpers import (
    Follower,
    cli_env,
    create_web_service,
    json_lines,
    run_cli,
    run_json,
    steady_service,
    table_rows,
    wait_for,
    web_definition,
)
from tests.integration.test_tasks_helpers import SUBNETS, fake, wait_status

PS_KEYS = [
    "cluster",
    "taskId",
    "taskArn",
    "service",
    "group",
    "taskDefinition",
    "lastStatus",
    "desiredStatus",
    "healthStatus",
    "launchType",
    "capacityProviderName",
    "ip",
    "createdAt",
    "startedAt",
    "stoppedAt",
    "ageSeconds",
    "stopCode",
    "stoppedReason",
    "containers",
]
UNREACHABLE = "Cannot reach ecslite at {endpoint}: connection refused. Start it with: ecslite server --detach\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


@pytest.fixture
def follow(endpoint: str, env: dict[str, str]) -> Iterator[Any]:
    started: list[Follower] = []

    def start(*args: str) -> Follower:
        follower = Follower(endpoint, env, *args)
        started.append(follower)
        return follower

    yield start
    for follower in started:
        follower.stop()


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def address(task: dict[str, Any]) -> str:
    details = task["attachments"][0]["details"]
    return str(next(d["value"] for d in details if d["name"] == "privateIPv4Address"))


def run_batch(ecs: Any, exit_code: int = 3) -> dict[str, Any]:
    """A standalone task in ``default`` whose only (essential) container exits with ``exit_code``."""
    definition = ecs.register_task_definition(
        family="batch",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "job", "image": "example/job:1", "essential": True, "dockerLabels": fake(exit_code=exit_code)}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    arn = ecs.run_task(taskDefinition=definition, launchType="FARGATE", networkConfiguration=SUBNETS)["tasks"][0][
        "taskArn"
    ]
    return wait_status(ecs, arn, "STOPPED")


@pytest.fixture
def healthy_web(ecs: Any) -> list[dict[str, Any]]:
    """Service ``web`` in cluster ``prod``: two tasks RUNNING and HEALTHY (the app's health check)."""
    ecs.create_cluster(clusterName="prod")
    create_web_service(ecs, web_definition(ecs, health=True))

    def healthy() -> list[dict[str, Any]] | None:
        arns = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
        tasks: list[dict[str, Any]] = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"] if arns else []
        ok = len(tasks) == 2 and all(t["lastStatus"] == "RUNNING" and t["healthStatus"] == "HEALTHY" for t in tasks)
        return tasks if ok else None

    tasks: list[dict[str, Any]] = wait_for(healthy, timeout=30)
    return sorted(tasks, key=lambda t: (t["createdAt"], t["taskArn"].rsplit("/", 1)[1]))


# -- ps -----------------------------------------------------------------------------------------------


def test_ps_json_describes_running_tasks_with_service_health_and_address(
    endpoint: str, env: dict[str, str], ecs: Any, healthy_web: list[dict[str, Any]]
) -> None:
    stopped = run_batch(ecs)

    rows = run_json(endpoint, env, "ps")

    assert [row["taskArn"] for row in rows] == [t["taskArn"] for t in healthy_web]  # not the stopped one
    for row, task in zip(rows, healthy_web, strict=True):
        assert list(row) == PS_KEYS
        assert 0 <= row["ageSeconds"] < 120
        assert row == {
            "cluster": "prod",
            "taskId": task["taskArn"].rsplit("/", 1)[1],
            "taskArn": task["taskArn"],
            "service": "web",
            "group": "service:web",
            "taskDefinition": "web:1",
            "lastStatus": "RUNNING",
            "desiredStatus": "RUNNING",
            "healthStatus": "HEALTHY",
            "launchType": "FARGATE",
            "capacityProviderName": None,
            "ip": address(task),
            "createdAt": iso(task["createdAt"]),
            "startedAt": iso(task["startedAt"]),
            "stoppedAt": None,
            "ageSeconds": row["ageSeconds"],
            "stopCode": None,
            "stoppedReason": None,
            "containers": [
                {"name": "app", "lastStatus": "RUNNING", "healthStatus": "HEALTHY", "exitCode": None, "reason": None},
                {"name": "side", "lastStatus": "RUNNING", "healthStatus": "UNKNOWN", "exitCode": None, "reason": None},
            ],
        }

    everything = run_json(endpoint, env, "ps", "-a")
    assert [row["taskArn"] for row in everything] == [*(t["taskArn"] for t in healthy_web), stopped["taskArn"]]
    last = everything[-1]
    assert {k: last[k] for k in ("cluster", "service", "group", "taskDefinition", "lastStatus", "desiredStatus")} == {
        "cluster": "default",
        "service": None,
        "group": "family:batch",
        "taskDefinition": "batch:1",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
    }
    assert (last["stopCode"], last["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert last["stoppedAt"] == iso(stopped["stoppedAt"])
    assert last["containers"] == [
        {"name": "job", "lastStatus": "STOPPED", "healthStatus": "UNKNOWN", "exitCode": 3, "reason": None}
    ]


def test_ps_table_shows_key_facts_and_stopped_tasks_only_with_all(
    endpoint: str, env: dict[str, str], ecs: Any, healthy_web: list[dict[str, Any]]
) -> None:
    stopped = run_batch(ecs)
    stopped_id = stopped["taskArn"].rsplit("/", 1)[1]

    result = run_cli(endpoint, env, "ps")

    assert (result.returncode, result.stderr) == (0, "")
    rows = table_rows(result.stdout)
    assert rows[0] == ["TASK", "CLUSTER", "SERVICE/GROUP", "DEFINITION", "STATUS", "HEALTH", "AGE", "IP", "CONTAINERS"]
    for row, task in zip(rows[1:], healthy_web, strict=True):
        task_id = task["taskArn"].rsplit("/", 1)[1]
        assert row[:6] == [task_id, "prod", "web", "web:1", "RUNNING", "HEALTHY"]
        assert row[6].endswith("s") or row[6].endswith("m")
        assert row[7:] == [address(task), "2/2 running, 1 healthy"]
    assert len(rows) == 3
    assert stopped_id not in result.stdout

    everything = run_cli(endpoint, env, "ps", "-a")
    rows = table_rows(everything.stdout)
    assert rows[0][-1] == "STOPPED"
    assert rows[-1][0] == stopped_id
    assert rows[-1][1:6] == ["default", "family:batch", "batch:1", "STOPPED", "UNKNOWN"]
    assert rows[-1][-2:] == [
        "0/1 running, job exited 3",
        "EssentialContainerExited: Essential container in task exited",
    ]


def test_ps_filters_by_cluster_and_service(endpoint: str, env: dict[str, str], ecs: Any) -> None:
    ecs.create_cluster(clusterName="prod")
    create_web_service(ecs, web_definition(ecs, health=True), desired=1)
    stopped = run_batch(ecs)
    steady_service(ecs)

    in_default = run_json(endpoint, env, "ps", "-a", "--cluster", "default")
    in_prod = run_json(endpoint, env, "ps", "-a", "--cluster", "arn:aws:ecs:us-east-1:000000000000:cluster/prod")
    of_web = run_json(endpoint, env, "ps", "-a", "--service", "web", "--cluster", "prod")

    assert [row["taskArn"] for row in in_default] == [stopped["taskArn"]]
    assert [(row["cluster"], row["service"]) for row in in_prod] == [("prod", "web")]
    assert [row["taskArn"] for row in of_web] == [row["taskArn"] for row in in_prod]


def test_ps_says_so_when_nothing_runs(endpoint: str, env: dict[str, str]) -> None:
    result = run_cli(endpoint, env, "ps")

    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "No running tasks (ecslite ps -a shows stopped ones too).\n",
        "",
    )
    assert run_json(endpoint, env, "ps", "-a") == []


def test_ps_unknown_cluster_is_one_line_and_exit_1(endpoint: str, env: dict[str, str]) -> None:
    result = run_cli(endpoint, env, "ps", "--cluster", "nope")

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "ClusterNotFoundException: Cluster not found. No cluster 'nope' in us-east-1.\n"


# -- services -----------------------------------------------------------------------------------------


def test_services_json_gives_counts_rollout_definition_and_last_event(
    endpoint: str, env: dict[str, str], ecs: Any
) -> None:
    ecs.create_cluster(clusterName="prod")
    created = create_web_service(ecs, web_definition(ecs, health=True))
    service = steady_service(ecs)
    primary = service["deployments"][0]

    rows = run_json(endpoint, env, "services")

    assert len(rows) == 1
    row = rows[0]
    newest = service["events"][0]
    assert 0 <= row["lastEvent"]["ageSeconds"] < 120
    assert row == {
        "cluster": "prod",
        "serviceName": "web",
        "serviceArn": created["serviceArn"],
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "launchType": "FARGATE",
        "schedulingStrategy": "REPLICA",
        "taskDefinition": "web:1",
        "rolloutState": "COMPLETED",
        "rolloutStateReason": f"ECS deployment {primary['id']} completed.",
        "deploymentCount": 1,
        "lastEvent": {
            "createdAt": iso(newest["createdAt"]),
            "ageSeconds": row["lastEvent"]["ageSeconds"],
            "message": "has reached a steady state.",
        },
    }


def test_services_table_lists_every_cluster_and_follows_a_new_revision(
    endpoint: str, env: dict[str, str], ecs: Any
) -> None:
    ecs.create_cluster(clusterName="prod")
    ecs.create_cluster(clusterName="staging")
    create_web_service(ecs, web_definition(ecs, health=True), cluster="staging", desired=1)
    create_web_service(ecs, web_definition(ecs, health=True), cluster="prod", desired=2)
    steady_service(ecs, cluster="staging")
    steady_service(ecs, cluster="prod")
    ecs.update_service(cluster="prod", service="web", taskDefinition="web:2")

    def rolled() -> bool:
        found = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
        return bool(found["deployments"][0]["rolloutState"] == "COMPLETED" and len(found["deployments"]) == 1)

    wait_for(rolled)
    result = run_cli(endpoint, env, "services")

    assert (result.returncode, result.stderr) == (0, "")
    rows = table_rows(result.stdout)
    assert rows[0] == [
        "SERVICE",
        "CLUSTER",
        "DESIRED",
        "RUNNING",
        "PENDING",
        "ROLLOUT",
        "DEFINITION",
        "DEPLOYMENTS",
        "LAST EVENT",
    ]
    assert [row[:8] for row in rows[1:]] == [
        ["web", "prod", "2", "2", "0", "COMPLETED", "web:2", "1"],
        ["web", "staging", "1", "1", "0", "COMPLETED", "web:1", "1"],
    ]
    assert rows[2][8].endswith(" ago has reached a steady state.")
    only_staging = run_json(endpoint, env, "services", "--cluster", "staging")
    assert [(r["cluster"], r["taskDefinition"]) for r in only_staging] == [("staging", "web:1")]


def test_services_without_any_says_so(endpoint: str, env: dict[str, str]) -> None:
    result = run_cli(endpoint, env, "services")

    assert (result.returncode, result.stdout, result.stderr) == (0, "No services.\n", "")


# -- events -------------------------------------------------------------------------------------------


def test_events_print_service_events_oldest_first(endpoint: str, env: dict[str, str], ecs: Any) -> None:
    ecs.create_cluster(clusterName="prod")
    create_web_service(ecs, web_definition(ecs, health=True))
    service = steady_service(ecs)
    expected = list(reversed(service["events"]))

    lines = json_lines(run_cli(endpoint, env, "events", "web", "--json").stdout)
    table = run_cli(endpoint, env, "events", "web").stdout.splitlines()

    assert [(line["id"], line["message"]) for line in lines] == [(e["id"], e["message"]) for e in expected]
    assert lines[0] == {
        "kind": "service",
        "time": iso(expected[0]["createdAt"]),
        "cluster": "prod",
        "service": "web",
        "id": expected[0]["id"],
        "message": expected[0]["message"],
    }
    assert expected[0]["message"].startswith("(service web) has started 2 tasks: (task ")
    assert len(table) == len(expected)
    for line, event in zip(table, expected, strict=True):
        # "HH:MM:SS  prod/web  <message without its (service web) prefix>"
        assert line[8:] == "  prod/web  " + event["message"].removeprefix("(service web) ")
    assert table[-1].endswith("prod/web  has reached a steady state.")


def test_events_follow_prints_new_service_events(endpoint: str, env: dict[str, str], ecs: Any, follow: Any) -> None:
    ecs.create_cluster(clusterName="prod")
    create_web_service(ecs, web_definition(ecs, health=True), desired=1)
    steady_service(ecs)
    follower = follow("events", "web", "-f", "--cluster", "prod")
    follower.until(lambda seen: any(line.endswith("has reached a steady state.") for line in seen))

    ecs.update_service(cluster="prod", service="web", desiredCount=2)
    seen = follower.until(lambda seen: any("has started 1 tasks: (task " in line for line in seen))

    started = [line for line in seen if "has started 1 tasks" in line]
    new_task = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
    assert any(started[0].endswith(f"(task {arn.rsplit('/', 1)[1]}).") for arn in new_task)


def test_events_task_changes_are_ecs_eventbridge_events(endpoint: str, env: dict[str, str], ecs: Any) -> None:
    stopped = run_batch(ecs)

    lines = json_lines(run_cli(endpoint, env, "events", "--task-changes", "--json").stdout)

    changes = [line for line in lines if line["kind"] == "eventbridge"]
    assert changes, lines
    statuses = [line["event"]["detail"]["lastStatus"] for line in changes]
    assert statuses[0] == "PROVISIONING" and statuses[-1] == "STOPPED"
    versions = [line["event"]["detail"]["version"] for line in changes]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    last = changes[-1]
    assert (last["cluster"], last["service"]) == ("default", None)
    envelope = last["event"]
    assert {k: envelope[k] for k in ("version", "detail-type", "source", "account", "region", "resources")} == {
        "version": "0",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "000000000000",
        "region": "us-east-1",
        "resources": [stopped["taskArn"]],
    }
    detail = envelope["detail"]
    assert (detail["taskArn"], detail["stopCode"], detail["stoppedReason"]) == (
        stopped["taskArn"],
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert detail["containers"][0]["exitCode"] == 3
    assert detail["attachments"][0]["type"] == "eni"

    table = run_cli(endpoint, env, "events", "--task-changes").stdout.splitlines()
    task_id = stopped["taskArn"].rsplit("/", 1)[1]
    assert table[-1][8:].startswith(f"  default  task {task_id} STOPPED v{detail['version']} [job STOPPED exit 3]")
    assert table[-1].endswith(" EssentialContainerExited: Essential container in task exited")


@pytest.mark.parametrize(
    ("pattern", "wanted"),
    [
        ('{"detail":{"lastStatus":["STOPPED"]}}', lambda d: d["lastStatus"] == "STOPPED"),
        (
            '{"detail":{"group":[{"prefix":"service:"}],"lastStatus":["RUNNING"]}}',
            lambda d: d["group"] == "service:web" and d["lastStatus"] == "RUNNING",
        ),
        (
            '{"detail":{"lastStatus":[{"anything-but":["RUNNING","PENDING","PROVISIONING"]}]}}',
            lambda d: d["lastStatus"] not in ("RUNNING", "PENDING", "PROVISIONING"),
        ),
        ('{"detail":{"stopCode":[{"exists":true}]}}', lambda d: "stopCode" in d),
    ],
    ids=["value-array", "prefix", "anything-but", "exists"],
)
def test_events_pattern_selects_matching_task_changes(
    endpoint: str, env: dict[str, str], ecs: Any, pattern: str, wanted: Any
) -> None:
    ecs.create_cluster(clusterName="prod")
    create_web_service(ecs, web_definition(ecs, health=True), desired=1)
    steady_service(ecs)
    run_batch(ecs)
    everything = json_lines(run_cli(endpoint, env, "events", "--task-changes", "--json").stdout)
    task_changes = [line["event"] for line in everything if line["kind"] == "eventbridge"]
    task_changes = [e for e in task_changes if e["detail-type"] == "ECS Task State Change"]

    lines = json_lines(run_cli(endpoint, env, "events", "--pattern", pattern, "--json").stdout)

    assert all(line["kind"] == "eventbridge" for line in lines)  # a pattern leaves service events out
    expected = [e["id"] for e in task_changes if wanted(e["detail"])]
    assert expected
    assert [line["event"]["id"] for line in lines] == expected


def test_events_pattern_on_detail_type_selects_deployment_changes(endpoint: str, env: dict[str, str], ecs: Any) -> None:
    ecs.create_cluster(clusterName="prod")
    create_web_service(ecs, web_definition(ecs, health=True), desired=1)
    service = steady_service(ecs)
    deployment = service["deployments"][0]["id"]

    lines = json_lines(
        run_cli(
            endpoint, env, "events", "--pattern", '{"detail-type":["ECS Deployment State Change"]}', "--json"
        ).stdout
    )

    completed = [line for line in lines if line["event"]["detail"]["eventName"] == "SERVICE_DEPLOYMENT_COMPLETED"]
    assert len(completed) == 1
    assert (completed[0]["cluster"], completed[0]["service"]) == ("prod", "web")
    assert completed[0]["event"]["resources"] == [service["serviceArn"]]
    assert completed[0]["event"]["detail"] == {
        "eventType": "INFO",
        "eventName": "SERVICE_DEPLOYMENT_COMPLETED",
        "deploymentId": deployment,
        "updatedAt": completed[0]["event"]["detail"]["updatedAt"],
        "reason": f"ECS deployment {deployment} completed.",
    }


def test_events_follow_task_changes_until_a_new_task_stops(
    endpoint: str, env: dict[str, str], ecs: Any, follow: Any
) -> None:
    follower = follow("events", "--pattern", '{"detail":{"lastStatus":["STOPPED"]}}', "-f", "--json")
    stopped = run_batch(ecs, exit_code=4)

    seen = follower.until(lambda seen: any(stopped["taskArn"] in line for line in seen))

    event = json.loads(next(line for line in seen if stopped["taskArn"] in line))["event"]
    assert (event["detail"]["lastStatus"], event["detail"]["containers"][0]["exitCode"]) == ("STOPPED", 4)


def test_events_unsupported_pattern_is_the_servers_error(endpoint: str, env: dict[str, str]) -> None:
    numeric = run_cli(endpoint, env, "events", "--pattern", '{"detail":{"exitCode":[{"numeric":[">",0]}]}}')
    not_json = run_cli(endpoint, env, "events", "--pattern", "{detail")

    assert (numeric.returncode, numeric.stdout) == (1, "")
    assert numeric.stderr == (
        "InvalidEventPatternException: Event pattern is not valid. Reason: Unsupported matcher 'numeric' at "
        "'detail.exitCode': ecslite supports value arrays, prefix, anything-but and exists.\n"
    )
    assert (not_json.returncode, not_json.stdout) == (2, "")
    assert not_json.stderr.startswith("--pattern is not JSON: ")
    assert len(not_json.stderr.splitlines()) == 1


def test_events_unknown_service_is_one_line_and_exit_1(endpoint: str, env: dict[str, str], ecs: Any) -> None:
    ecs.create_cluster(clusterName="prod")
    anywhere = run_cli(endpoint, env, "events", "nope")
    in_prod = run_cli(endpoint, env, "events", "nope", "--cluster", "prod")

    assert (anywhere.returncode, anywhere.stdout) == (1, "")
    assert (
        anywhere.stderr
        == "ServiceNotFoundException: Service not found. No service 'nope' in any cluster of us-east-1.\n"
    )
    assert in_prod.stderr == "ServiceNotFoundException: Service not found. No service 'nope' in cluster prod.\n"


# -- errors shared by every command ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("ps",),
        ("services",),
        ("events",),
        ("traces",),
        ("trace", "0af7651916cd43dd8448eb211c80319c"),
        ("top", "--once"),
    ],
    ids=lambda args: args[0],
)
def test_commands_report_a_server_that_is_down_in_one_line(env: dict[str, str], args: tuple[str, ...]) -> None:
    down = f"http://127.0.0.1:{free_port()}"

    result = run_cli(down, env, *args)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == UNREACHABLE.format(endpoint=down)


def test_endpoint_comes_from_the_environment(endpoint: str, env: dict[str, str], tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    from_env = cli_env(tmp_path, ECSLITE_ENDPOINT=down)

    result = subprocess.run(
        [sys.executable, "-m", "ecslite", "services"], capture_output=True, text=True, env=from_env, timeout=60
    )
    reached = subprocess.run(
        [sys.executable, "-m", "ecslite", "services"],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, ECSLITE_ENDPOINT=endpoint),
        timeout=60,
    )

    assert (result.returncode, result.stderr) == (1, UNREACHABLE.format(endpoint=down))
    assert (reached.returncode, reached.stdout) == (0, "No services.\n")


def test_bad_endpoint_and_bad_options_exit_2(endpoint: str, env: dict[str, str]) -> None:
    no_scheme = run_cli("localhost:4577", env, "ps")
    since = run_cli(endpoint, env, "events", "--since", "soon")

    assert (no_scheme.returncode, no_scheme.stderr) == (
        2,
        "Invalid --endpoint 'localhost:4577': give a URL such as http://localhost:4577.\n",
    )
    assert (since.returncode, since.stderr) == (
        2,
        "Invalid --since value 'soon': give a duration such as 30s, 15m, 1h or 2d.\n",
    )


def test_an_endpoint_that_is_not_ecslite_is_reported(endpoint: str, env: dict[str, str]) -> None:
    elsewhere = f"{endpoint}/nothing-here"

    result = run_cli(elsewhere, env, "ps")

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Cannot reach ecslite at {elsewhere}: /_ecslite/health answered HTTP 400; is this an ecslite server?\n"
    )
