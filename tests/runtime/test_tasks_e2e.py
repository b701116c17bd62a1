"""Tasks on the process runtime, end to end: boto3 against a real server whose containers are real
processes (issue 4, "Tests that must exist and pass in CI"; spec/ecs.md §2.4–2.7, §3).

Containers run the small programs in ``tests/runtime/programs`` through the server's image map
(``ecslite-test/programs``: this Python in that directory; ``ecslite-test/host``: the host's own
programs). Every task is awsvpc on Fargate, so it has its own network namespace and an address of
the server's virtual VPC that the test reaches from the host.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest

from ecslite.model.tasks import OOM_REASON
from tests.conftest import make_client
from tests.fixtures.aws_cli import run_aws
from tests.runtime.conftest import PROGRAMS, ProcessServer, assert_no_leaks, map_images, wait_for

PROGRAMS_IMAGE = "ecslite-test/programs"
HOST_IMAGE = "ecslite-test/host"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or "/usr/bin/python3"
RECORD = re.compile(r"^\d+\.\d{9} (stdout|stderr) (.*)$")


# -- helpers ------------------------------------------------------------------------------------------


def program(name: str, script: str, *args: str, **members: Any) -> dict[str, Any]:
    """A container running ``python3 <script> <args>`` from tests/runtime/programs."""
    return {"name": name, "image": PROGRAMS_IMAGE, "command": [script, *args], "essential": True, **members}


def register(ecs: Any, family: str, *containers: dict[str, Any], **members: Any) -> str:
    params: dict[str, Any] = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": list(containers),
        **members,
    }
    return str(ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"])


def default_subnet(endpoint: str) -> str:
    ec2 = make_client("ec2", endpoint)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return str(sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"])


def run(ecs: Any, endpoint: str, definition: str, count: int = 1, **params: Any) -> list[str]:
    result = ecs.run_task(
        taskDefinition=definition,
        launchType="FARGATE",
        count=count,
        networkConfiguration={"awsvpcConfiguration": {"subnets": [default_subnet(endpoint)]}},
        **params,
    )
    assert result["failures"] == []
    return [task["taskArn"] for task in result["tasks"]]


def describe(ecs: Any, arn: str) -> dict[str, Any]:
    task: dict[str, Any] = ecs.describe_tasks(tasks=[arn])["tasks"][0]
    return task


def wait_task(ecs: Any, arn: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        task = describe(ecs, arn)
        return task if condition(task) else None

    found: dict[str, Any] = wait_for(check, timeout)
    return found


def wait_status(ecs: Any, arn: str, status: str, timeout: float = 30) -> dict[str, Any]:
    task = wait_task(ecs, arn, lambda t: t["lastStatus"] in (status, "STOPPED"), timeout)
    assert task["lastStatus"] == status, task.get("stoppedReason")
    return task


def container(task: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in task["containers"] if c["name"] == name)
    return found


def details(task: dict[str, Any]) -> dict[str, str]:
    return {d["name"]: d.get("value", "") for d in task["attachments"][0]["details"]}


def info(address: str, port: int, timeout: float = 20) -> dict[str, Any]:
    """What ``serve.py`` in the task says about itself, asked from the host."""

    def ask() -> dict[str, Any] | None:
        try:
            response = httpx.get(f"http://{address}:{port}/info", timeout=2)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    found: dict[str, Any] = wait_for(ask, timeout)
    return found


def output(server: ProcessServer, arn: str, name: str) -> list[tuple[str, str]]:
    """The container's captured output records as (stream, line)."""
    path = server.settings.runtime_dir / "tasks" / arn.rsplit("/", 1)[1] / f"{name}.log"
    records = []
    for line in path.read_text().splitlines():
        matched = RECORD.match(line)
        assert matched, line
        records.append((matched[1], matched[2]))
    return records


def stop(ecs: Any, arn: str, reason: str = "test finished") -> dict[str, Any]:
    ecs.stop_task(task=arn, reason=reason)
    return wait_status(ecs, arn, "STOPPED", timeout=60)


# -- networking and lifecycle -------------------------------------------------------------------------


def test_awsvpc_containers_share_localhost_and_the_task_address_answers_from_the_host(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    definition = register(
        process_ecs,
        "e2e-pair",
        program("web", "serve.py", "8080", portMappings=[{"containerPort": 8080}]),
        program("client", "fetch.py", "http://localhost:8080/info", essential=False),
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "RUNNING")
    address = details(task)["privateIPv4Address"]
    eni = details(task)["networkInterfaceId"]
    subnet = make_client("ec2", process_endpoint).describe_subnets(SubnetIds=[details(task)["subnetId"]])
    assert address in _hosts_of(subnet["Subnets"][0]["CidrBlock"])
    assert container(task, "web")["networkInterfaces"][0]["privateIpv4Address"] == address
    # The client reached the web container on localhost, printed its answer and exited 0; a
    # non-essential exit leaves the task RUNNING (§3.5).
    task = wait_task(process_ecs, arn, lambda t: container(t, "client")["lastStatus"] == "STOPPED")
    assert container(task, "client")["exitCode"] == 0
    assert task["lastStatus"] == "RUNNING"
    answer = info(address, 8080)
    assert answer["hostname"] == details(task)["privateDnsName"]
    printed = [line for stream, line in output(process_server, arn, "client") if stream == "stdout"]
    assert any(f'"listening": {answer["listening"]}' in line for line in printed), printed
    interfaces = make_client("ec2", process_endpoint).describe_network_interfaces(NetworkInterfaceIds=[eni])
    assert interfaces["NetworkInterfaces"][0]["PrivateIpAddress"] == address
    stopped = stop(process_ecs, arn)
    assert container(stopped, "web")["exitCode"] == 0  # serve.py exits 0 on SIGTERM


def _hosts_of(cidr: str) -> set[str]:
    return {str(host) for host in ipaddress.ip_network(cidr).hosts()}


def started_at(server: ProcessServer, arn: str, name: str) -> float:
    """When the runtime started the container's process (the shim's start record)."""
    record = (server.settings.runtime_dir / "tasks" / arn.rsplit("/", 1)[1] / f"{name}.started").read_text()
    return float(dict(line.split("=", 1) for line in record.split())["started_at"])


def test_depends_on_healthy_starts_the_dependent_after_the_check_passes(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    check = {"command": ["CMD", sys.executable, str(PROGRAMS / "check_port.py"), "7000"], "interval": 5, "timeout": 2}
    definition = register(
        process_ecs,
        "e2e-healthy",
        program("db", "serve.py", "7000", "--delay", "1", healthCheck=check),
        program("app", "serve.py", "8080", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    pending = wait_task(process_ecs, arn, lambda t: container(t, "db")["lastStatus"] == "RUNNING")
    assert pending["lastStatus"] == "PENDING"
    assert container(pending, "app")["lastStatus"] == "PENDING"
    task = wait_status(process_ecs, arn, "RUNNING", timeout=40)
    assert container(task, "db")["healthStatus"] == "HEALTHY"
    address = details(task)["privateIPv4Address"]
    db, app = info(address, 7000), info(address, 8080)
    # The first check runs one interval after the start (§2.7); the dependent starts only then,
    # and the task stays PENDING until it has (§3.3).
    healthy_after = started_at(process_server, arn, "db") + 5
    assert started_at(process_server, arn, "app") >= healthy_after
    assert app["started"] >= db["listening"]
    assert task["startedAt"].timestamp() >= round(healthy_after, 3) - 0.001
    stop(process_ecs, arn)


def test_failing_health_check_makes_the_task_unhealthy_and_it_keeps_running(
    process_ecs: Any, process_endpoint: str
) -> None:
    definition = register(
        process_ecs,
        "e2e-health",
        program(
            "bad",
            "serve.py",
            "8080",
            healthCheck={"command": ["CMD-SHELL", "echo failing; exit 1"], "interval": 5, "retries": 1},
        ),
        program(
            "good",
            "serve.py",
            "8081",
            essential=False,
            healthCheck={"command": ["CMD-SHELL", "test -d /proc/self"], "interval": 5, "retries": 1},
        ),
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_task(process_ecs, arn, lambda t: t["healthStatus"] != "UNKNOWN", timeout=30)
    assert task["healthStatus"] == "UNHEALTHY"
    task = wait_task(process_ecs, arn, lambda t: container(t, "good")["healthStatus"] == "HEALTHY", timeout=15)
    assert container(task, "bad")["healthStatus"] == "UNHEALTHY"
    assert task["lastStatus"] == "RUNNING"  # standalone tasks keep running when unhealthy (§2.7)
    stop(process_ecs, arn)


def test_essential_exit_stops_the_task_with_the_ecs_reason_and_the_exit_code(
    process_ecs: Any, process_endpoint: str
) -> None:
    definition = register(
        process_ecs,
        "e2e-exit",
        program("job", "exit_after.py", "0.2", "3", "--when-up", "8080"),
        program("web", "serve.py", "8080"),
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "STOPPED")
    assert (task["stopCode"], task["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert container(task, "job")["exitCode"] == 3
    assert container(task, "web")["exitCode"] == 0  # stopped with SIGTERM, which serve.py handles
    order = [
        task[f]
        for f in (
            "createdAt",
            "pullStartedAt",
            "pullStoppedAt",
            "startedAt",
            "stoppingAt",
            "executionStoppedAt",
            "stoppedAt",
        )
    ]
    assert order == sorted(order)


def test_non_essential_exit_keeps_the_task_running(process_ecs: Any, process_endpoint: str) -> None:
    definition = register(
        process_ecs,
        "e2e-sidecar",
        program("web", "serve.py", "8080"),
        program("once", "exit_after.py", "0.2", "5", essential=False),
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_task(process_ecs, arn, lambda t: container(t, "once")["lastStatus"] == "STOPPED")
    assert container(task, "once")["exitCode"] == 5
    time.sleep(1)
    task = describe(process_ecs, arn)
    assert (task["lastStatus"], task["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert container(task, "web")["lastStatus"] == "RUNNING"
    stop(process_ecs, arn)


# -- stopping -----------------------------------------------------------------------------------------


def test_stop_task_container_handling_sigterm_exits_promptly(process_ecs: Any, process_endpoint: str) -> None:
    definition = register(process_ecs, "e2e-term", program("web", "serve.py", "8080", stopTimeout=30))
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "RUNNING")
    # Until its handler is installed the program is a PID 1 without one, which ignores SIGTERM as
    # in Docker; stop it once it answers.
    info(details(task)["privateIPv4Address"], 8080)
    began = time.monotonic()
    task = stop(process_ecs, arn, reason="rolling the fleet")
    assert time.monotonic() - began < 10  # far below the 30 s stopTimeout
    assert (task["stopCode"], task["stoppedReason"]) == ("UserInitiated", "rolling the fleet")
    assert container(task, "web")["exitCode"] == 0
    assert (task["executionStoppedAt"] - task["stoppingAt"]).total_seconds() < 5


def test_stop_task_container_ignoring_sigterm_is_killed_after_stop_timeout(
    process_ecs: Any, process_endpoint: str
) -> None:
    definition = register(process_ecs, "e2e-stubborn", program("stubborn", "stubborn.py", stopTimeout=2))
    (arn,) = run(process_ecs, process_endpoint, definition)
    wait_status(process_ecs, arn, "RUNNING")
    task = stop(process_ecs, arn)
    assert container(task, "stubborn")["exitCode"] == 137
    waited = (task["executionStoppedAt"] - task["stoppingAt"]).total_seconds()
    assert 2 <= waited < 8, waited


def test_oom_kill_exits_137_with_the_oom_reason(process_ecs: Any, process_endpoint: str) -> None:
    definition = register(process_ecs, "e2e-oom", program("hog", "hog.py", memory=64))
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "STOPPED", timeout=60)
    hog = container(task, "hog")
    assert (hog["exitCode"], hog["reason"]) == (137, OOM_REASON)
    assert task["stopCode"] == "EssentialContainerExited"


# -- failures at start and at registration ------------------------------------------------------------


def test_unmapped_image_stops_the_task_with_a_clear_pull_error(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    definition = register(process_ecs, "e2e-unmapped", {"name": "app", "image": "ecslite-test/missing:1"})
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "STOPPED")
    reason = task["stoppedReason"]
    assert task["stopCode"] == "TaskFailedToStart"
    assert reason.startswith("CannotPullContainerError: failed to resolve ref docker.io/ecslite-test/missing:1: ")
    assert f"add this entry to {process_server.image_map}: " in reason
    assert '{"ecslite-test/missing:1": {"path": "/path/to/app", "command": ["./start"]}}' in reason
    app = container(task, "app")
    assert app["reason"] == reason
    assert "exitCode" not in app
    assert "startedAt" not in task


def test_bad_task_definitions_are_refused_with_the_ecs_errors(process_ecs: Any) -> None:
    def refused(*containers: dict[str, Any], **members: Any) -> tuple[str, str]:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            register(process_ecs, "e2e-bad", *containers, **members)
        error = caught.value.response["Error"]
        return error["Code"], error["Message"]

    assert refused(program("a", "serve.py", essential=False), program("b", "serve.py", essential=False)) == (
        "ClientException",
        "A task definition must have at least one essential container.",
    )
    cyclic = refused(
        program("a", "serve.py", dependsOn=[{"containerName": "b", "condition": "START"}]),
        program("b", "serve.py", dependsOn=[{"containerName": "a", "condition": "START"}]),
    )
    assert cyclic == ("ClientException", "Container dependencies should not have a cycle: a -> b -> a.")
    clash = refused(
        program("a", "serve.py", portMappings=[{"containerPort": 80, "hostPort": 8080}]),
        program("b", "serve.py", portMappings=[{"containerPort": 81, "hostPort": 8080}]),
        networkMode="bridge",
        requiresCompatibilities=["EC2"],
    )
    assert clash == ("ClientException", "TCP host port '8080' is mapped multiple times in task.")
    mismatch = refused(program("a", "serve.py", portMappings=[{"containerPort": 80, "hostPort": 8080}]))
    assert mismatch == (
        "ClientException",
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    )


# -- container settings -------------------------------------------------------------------------------


def test_container_settings_reach_the_process(
    process_ecs: Any, process_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env_file = tmp_path_factory.mktemp("envfiles") / "app.env"
    env_file.write_text("# settings\nSHARED=file\nONLY_FILE=yes\n")
    serve = str(PROGRAMS / "serve.py")
    definition = register(
        process_ecs,
        "e2e-settings",
        {
            "name": "plain",
            "image": HOST_IMAGE,
            "entryPoint": [SYSTEM_PYTHON, serve],
            "command": ["8080"],
            "user": "nobody",
            "workingDirectory": "/tmp",
            "environment": [{"name": "SHARED", "value": "definition"}],
            "environmentFiles": [{"value": str(env_file), "type": "s3"}],
            "ulimits": [{"name": "nofile", "softLimit": 1000, "hardLimit": 2000}],
        },
        {
            "name": "init",
            "image": HOST_IMAGE,
            "entryPoint": [SYSTEM_PYTHON, serve],
            "command": ["8081"],
            "linuxParameters": {"initProcessEnabled": True},
            "readonlyRootFilesystem": True,
        },
    )
    (arn,) = run(
        process_ecs,
        process_endpoint,
        definition,
        overrides={"containerOverrides": [{"name": "init", "environment": [{"name": "FROM_OVERRIDE", "value": "1"}]}]},
    )
    task = wait_status(process_ecs, arn, "RUNNING")
    address = details(task)["privateIPv4Address"]
    plain, init = info(address, 8080), info(address, 8081)
    assert (plain["uid"], plain["gid"], plain["cwd"]) == (65534, 65534, "/tmp")
    assert plain["environment"]["SHARED"] == "definition"
    assert plain["environment"]["ONLY_FILE"] == "yes"
    assert plain["environment"]["HOME"] == "/nonexistent"
    assert plain["environment"]["ECS_CONTAINER_METADATA_URI_V4"].startswith("http://169.254.170.2/v4/")
    assert plain["nofile"] == [1000, 2000]
    assert plain["hostname"] == init["hostname"] == details(task)["privateDnsName"]
    assert plain["pid"] == 1 and not plain["root_readonly"]  # no init: the app is PID 1 of the task
    assert init["ppid"] == 1 and init["pid"] != 1  # initProcessEnabled: a reaping init is PID 1
    assert init["root_readonly"] and init["uid"] == 0
    assert init["environment"]["FROM_OVERRIDE"] == "1"
    assert container(task, "plain")["imageDigest"].startswith("sha256:")
    stop(process_ecs, arn)


def test_unknown_user_fails_the_start_with_cannot_start_container_error(
    process_ecs: Any, process_endpoint: str
) -> None:
    definition = register(process_ecs, "e2e-user", program("app", "serve.py", "8080", user="no-such-user"))
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith(
        "CannotStartContainerError: unable to find user no-such-user: no matching entries in passwd file (/etc/passwd)"
    )


# -- many at once -------------------------------------------------------------------------------------


def test_fifty_concurrent_tasks_stop_without_leaving_anything_behind(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    # ``sleep`` as PID 1 ignores SIGTERM: a 2 s stopTimeout (SIGKILL then) instead of waiting out the 30 s default.
    sleeper = {"name": "sleep", "image": HOST_IMAGE, "command": ["sleep", "600"], "stopTimeout": 2}
    definition = register(process_ecs, "e2e-many", sleeper)
    arns = [arn for _ in range(5) for arn in run(process_ecs, process_endpoint, definition, count=10)]
    assert len(set(arns)) == 50

    def all_running() -> list[dict[str, Any]] | None:
        tasks = process_ecs.describe_tasks(tasks=arns)["tasks"]
        assert not [t["stoppedReason"] for t in tasks if t["lastStatus"] == "STOPPED"]
        return tasks if all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    tasks = wait_for(all_running, timeout=120, interval=0.2)
    addresses = {details(t)["privateIPv4Address"] for t in tasks}
    assert len(addresses) == 50
    for arn in arns:
        process_ecs.stop_task(task=arn)

    def all_stopped() -> bool:
        return all(t["lastStatus"] == "STOPPED" for t in process_ecs.describe_tasks(tasks=arns)["tasks"])

    wait_for(all_stopped, timeout=120, interval=0.2)
    # Through the normal stop path, before the fixture's reset could hide a leak.
    assert_no_leaks(process_server.settings)
    interfaces = make_client("ec2", process_endpoint).describe_network_interfaces()["NetworkInterfaces"]
    assert not [i for i in interfaces if i.get("PrivateIpAddress") in addresses]


# -- the seed's task definition through the AWS CLI -----------------------------------------------------

SEED_IMAGES = {
    # image tag → ports its stand-in serves (the ports the seed's guide and health checks use)
    "fluent-bit": ["4317", "4318", "24224", "2020"],
    "python": ["8000"],
    "nodejs": ["3000"],
    "go": ["8080"],
    "java": ["8081", "9464"],
}


def aws_cli(endpoint: str, home: Path) -> Callable[..., Any]:
    """The AWS CLI against ``endpoint`` (as ``tests.conftest``'s ``aws`` fixture runs it)."""

    def run_cli(*args: str) -> Any:
        out = run_aws(endpoint, home, "--output", "json", *args, region="ap-northeast-1")
        return json.loads(out) if out.strip() else None

    return run_cli


def test_seed_otel_demo_definition_runs_for_real_through_the_aws_cli(
    process_server: ProcessServer, process_endpoint: str, tmp_path: Path
) -> None:
    registry = "<AWS_ACCOUNT_ID>.dkr.ecr.ap-northeast-1.amazonaws.com"
    map_images(
        process_server,
        {
            f"{registry}/otel-demo:{tag}": {
                "path": str(PROGRAMS),
                "entryPoint": [sys.executable, "serve.py"],
                "command": ports,
            }
            for tag, ports in SEED_IMAGES.items()
        },
    )
    seed = (Path(__file__).resolve().parents[2] / "examples" / "otel-demo" / "task-definition.json").read_text()
    (tmp_path / "task-definition.json").write_text(seed.replace("<AWS_ACCOUNT_ID>", "000000000000"))
    aws = aws_cli(process_endpoint, tmp_path)
    aws("logs", "create-log-group", "--log-group-name", "/ecs/otel-demo-app")
    aws("ecs", "register-task-definition", "--cli-input-json", "file://task-definition.json")
    aws("ecs", "create-cluster", "--cluster-name", "otel-demo-cluster")
    subnets = aws("ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true")["Subnets"]
    subnet = sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]
    started = aws(
        "ecs",
        "run-task",
        "--cluster",
        "otel-demo-cluster",
        "--task-definition",
        "otel-demo-app",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        f"awsvpcConfiguration={{subnets=[{subnet}],assignPublicIp=ENABLED}}",
    )
    arn = started["tasks"][0]["taskArn"]

    def running() -> dict[str, Any] | None:
        task = aws("ecs", "describe-tasks", "--cluster", "otel-demo-cluster", "--tasks", arn)["tasks"][0]
        assert task["lastStatus"] != "STOPPED", task.get("stoppedReason")
        return task if task["lastStatus"] == "RUNNING" else None

    task = wait_for(running, timeout=60, interval=0.5)
    assert {c["name"]: c["lastStatus"] for c in task["containers"]} == dict.fromkeys(
        ("fluent-bit", "python-service", "nodejs-service", "go-service", "java-service"), "RUNNING"
    )
    # The seed's guide: the ENI from attachments[0], its address from EC2, then the services' ports.
    eni = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "networkInterfaceId")
    interface = aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni)["NetworkInterfaces"][0]
    address = interface["PrivateIpAddress"]
    for path in (
        ":8000/health",
        ":3000/health",
        ":8080/health",
        ":8081/health",
        ":9464/metrics",
        ":2020/api/v1/health",
    ):
        assert httpx.get(f"http://{address}{path}", timeout=5).status_code == 200, path
    aws("ecs", "stop-task", "--cluster", "otel-demo-cluster", "--task", arn)

    def stopped() -> dict[str, Any] | None:
        found = aws("ecs", "describe-tasks", "--cluster", "otel-demo-cluster", "--tasks", arn)["tasks"][0]
        return found if found["lastStatus"] == "STOPPED" else None

    assert wait_for(stopped, timeout=60, interval=0.5)["stopCode"] == "UserInitiated"
