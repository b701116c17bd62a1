"""The agent endpoint at 169.254.170.2 on the process runtime, asked from inside real tasks (issue 5;
spec/ecs.md §9): task metadata v4/v3 with real values, stats from cgroups, task role credentials that
boto3's default chain picks up and ecslite accepts, and one task unable to read another's."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, wait_for
from tests.runtime.test_tasks_e2e import container, describe, details, program, register, run, stop, wait_status

ACCOUNT = "000000000000"
TRUST = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'  # noqa: E501
NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def ask(address: str, path: str, timeout: float = 30, port: int = 8080) -> dict[str, Any]:
    """What agent_probe.py at ``address:port`` answers (once it listens)."""

    def attempt() -> dict[str, Any] | None:
        try:
            response = httpx.get(f"http://{address}:{port}{path}", timeout=20)
        except httpx.HTTPError:
            return None
        if response.status_code == 500:
            raise AssertionError(response.text)
        return response.json() if response.status_code == 200 else None

    found: dict[str, Any] = wait_for(attempt, timeout)
    return found


def probe_definition(ecs: Any, endpoint: str, family: str) -> str:
    role = make_client("iam", endpoint).create_role(RoleName=f"{family}-role", AssumeRolePolicyDocument=TRUST)
    return register(
        ecs,
        family,
        program("probe", "agent_probe.py", "8080"),
        program("idle", "serve.py", "8081", essential=False),
        taskRoleArn=role["Role"]["Arn"],
    )


def test_a_task_reads_its_metadata_and_stats_and_calls_sts_as_its_role(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    (arn,) = run(process_ecs, process_endpoint, probe_definition(process_ecs, process_endpoint, "agent-probe"))
    task = wait_status(process_ecs, arn, "RUNNING")
    eni = details(task)
    answers = ask(eni["privateIPv4Address"], "/probe")
    task_id = arn.rsplit("/", 1)[1]

    status, own = answers["container"]
    assert status == 200
    assert (own["Name"], own["DockerName"], own["DockerId"]) == (
        "probe",
        "probe",
        container(task, "probe")["runtimeId"],
    )
    assert (own["KnownStatus"], own["DesiredStatus"], own["Type"]) == ("RUNNING", "RUNNING", "NORMAL")
    assert own["ContainerARN"] == container(task, "probe")["containerArn"]
    assert (
        own["Labels"]["com.amazonaws.ecs.task-arn"] == arn
        and own["Labels"]["com.amazonaws.ecs.container-name"] == "probe"
    )
    assert NANOS.match(own["StartedAt"]) and NANOS.match(own["CreatedAt"])
    [network] = own["Networks"]
    assert network["NetworkMode"] == "awsvpc" and network["IPv4Addresses"] == [eni["privateIPv4Address"]]
    assert (network["MACAddress"], network["PrivateDNSName"]) == (eni["macAddress"], eni["privateDnsName"])
    subnet = make_client("ec2", process_endpoint).describe_subnets(SubnetIds=[eni["subnetId"]])["Subnets"][0]
    assert network["IPv4SubnetCIDRBlock"] == subnet["CidrBlock"]
    assert network["SubnetGatewayIpv4Address"].endswith("/" + subnet["CidrBlock"].split("/")[1])
    assert network["DomainNameServers"] and network["DomainNameSearchList"] == ["ec2.internal"]

    status, doc = answers["task"]
    assert status == 200
    assert (doc["TaskARN"], doc["Cluster"], doc["Family"], doc["Revision"]) == (
        arn,
        task["clusterArn"],
        "agent-probe",
        "1",
    )
    assert (doc["KnownStatus"], doc["DesiredStatus"], doc["LaunchType"]) == ("RUNNING", "RUNNING", "FARGATE")
    assert doc["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert doc["AvailabilityZone"] == task["availabilityZone"]
    assert NANOS.match(doc["PullStartedAt"]) and NANOS.match(doc["PullStoppedAt"])
    assert sorted(c["Name"] for c in doc["Containers"]) == ["idle", "probe"]
    assert doc["EphemeralStorageMetrics"]["Reserved"] == 20 * 1024 and doc["EphemeralStorageMetrics"]["Utilized"] >= 0
    assert "ClockSynchronizationStatus" in doc.get("ClockDrift", {"ClockSynchronizationStatus": "absent"})
    status, tagged = answers["taskWithTags"]
    assert status == 200 and tagged["TaskTags"] == {}
    status, v3 = answers["v3task"]
    assert status == 200 and v3["TaskARN"] == arn and "LaunchType" not in v3 and "ClockDrift" not in v3

    status, stats = answers["stats"]
    assert status == 200 and stats["id"] == own["DockerId"] and stats["name"] == "probe"
    assert stats["memory_stats"]["usage"] > 0 and stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert stats["cpu_stats"]["system_cpu_usage"] > 0 and stats["cpu_stats"]["online_cpus"] >= 1
    assert set(stats["network_rate_stats"]) == {"rx_bytes_per_sec", "tx_bytes_per_sec"}
    assert stats["networks"]["eth1"]["rx_bytes"] > 0
    status, task_stats = answers["taskStats"]
    assert status == 200 and set(task_stats) == {c["runtimeId"] for c in task["containers"]}
    # The second read of the same container shows the first one as its previous sample.
    assert task_stats[own["DockerId"]]["preread"] == stats["read"]

    assert answers["credentialsMethod"] == "container-role"
    assert answers["identity"] == {
        "UserId": answers["identity"]["UserId"],
        "Account": ACCOUNT,
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/agent-probe-role/{task_id}",
    }
    assert answers["identity"]["UserId"].endswith(f":{task_id}")
    stop(process_ecs, arn)


def test_a_task_cannot_read_another_tasks_metadata_or_credentials(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    first, second = run(
        process_ecs, process_endpoint, probe_definition(process_ecs, process_endpoint, "agent-isolation"), count=2
    )
    tasks = [wait_status(process_ecs, arn, "RUNNING") for arn in (first, second)]
    addresses = [details(task)["privateIPv4Address"] for task in tasks]
    env = ask(addresses[1], "/env")
    token = env["ECS_CONTAINER_METADATA_URI_V4"].rsplit("/", 1)[1]
    credentials = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"].rsplit("/", 1)[1]
    assert env["ECS_AGENT_URI"] == f"http://169.254.170.2/api/{token}"
    seen = ask(addresses[0], f"/other?token={token}&credentials={credentials}")
    missing = f"unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {token}"
    assert seen["metadata"] == [
        404,
        "V4 container metadata handler: unable to get container ID from request: "
        f"unable to get docker ID from v3 endpoint ID: {token}",
    ]
    assert seen["task"] == [404, f"V4 task metadata handler: {missing}"]
    assert seen["v3"] == [400, f"V3 task metadata handler: {missing}"]
    assert seen["credentials"] == [400, {"code": "InvalidIdInRequest", "message": "CredentialsV2Request: ID not found"}]
    # The owner itself reads both.
    own = ask(addresses[1], f"/other?token={token}&credentials={credentials}")
    assert own["task"][0] == 200 and own["task"][1]["TaskARN"] == second
    assert own["credentials"][0] == 200 and own["credentials"][1]["AccessKeyId"].startswith("ASIA")
    assert own["credentials"][1]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/agent-isolation-role"
    for arn in (first, second):
        stop(process_ecs, arn)
    assert describe(process_ecs, first)["lastStatus"] == "STOPPED"
