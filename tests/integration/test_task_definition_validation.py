"""RegisterTaskDefinition's validation through boto3: error type and exact message (spec/ecs.md §2.2–2.10)."""

from __future__ import annotations

import copy
from typing import Any

import botocore.exceptions
import pytest

ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
FARGATE_CPU_HINT = " Valid Fargate cpu values: 256, 512, 1024, 2048, 4096, 8192, 16384."
TASK_CPU_INVALID = (
    "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS "
    "Developer Guide."
)


def container(name: str = "app", **members: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "memory": 128, **members}


def ec2(*containers: dict[str, Any], **members: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": list(containers) or [container()], **members}


def fargate(*containers: dict[str, Any], **members: Any) -> dict[str, Any]:
    base = {
        "family": "web",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": list(containers) or [{"name": "app", "image": "busybox"}],
    }
    return {**base, **members}


def without(td: dict[str, Any], *members: str) -> dict[str, Any]:
    return {k: v for k, v in td.items() if k not in members}


def with_volume(td: dict[str, Any], volume: dict[str, Any]) -> dict[str, Any]:
    return {**td, "volumes": [volume]}


CASES = [
    # -- structure (§2.2)
    ("family-invalid", ec2(family="web app"), "Family contains invalid characters."),
    ("family-too-long", ec2(family="f" * 256), "Family contains invalid characters."),
    ("family-trailing-newline", ec2(family="web\n"), "Family contains invalid characters."),
    ("no-containers", {"family": "web", "containerDefinitions": []}, "Container list cannot be empty."),
    ("too-many-containers", ec2(*[container(f"c{i}") for i in range(11)]), "Too many containers."),
    ("container-name-missing", ec2({"image": "busybox", "memory": 128}), "Container.name should not be null or empty."),
    ("container-name-invalid", ec2(container("my.app")), "Container.name contains invalid characters."),
    ("image-missing", ec2({"name": "app", "memory": 128}), "Container.image should not be null or empty."),
    ("image-blank", ec2(container(image="  ")), "Container.image should not be null or empty."),
    (
        "container-names-repeat",
        ec2(container("app"), container("app")),
        "Container names must be unique within a Task Definition.",
    ),
    # -- task size (§2.2, §2.3)
    ("task-cpu-unreadable", ec2(cpu="fast"), TASK_CPU_INVALID),
    (
        "task-cpu-below-ec2-range",
        ec2(cpu="64"),
        TASK_CPU_INVALID + " Task cpu on EC2 must be between 128 and 196608 units.",
    ),
    (
        "task-memory-unreadable",
        ec2(memory="lots"),
        "Invalid 'memory' setting for task. For more information, see the Troubleshooting section of the Amazon "
        "ECS Developer Guide.",
    ),
    # -- Fargate (§2.3, §13.1)
    ("fargate-bridge", fargate(networkMode="bridge"), "Fargate only supports network mode ‘awsvpc’."),
    ("fargate-default-network", without(fargate(), "networkMode"), "Fargate only supports network mode ‘awsvpc’."),
    ("fargate-no-cpu", without(fargate(), "cpu"), "Fargate requires that 'cpu' be defined at the task level."),
    ("fargate-no-memory", without(fargate(), "memory"), "Fargate requires that 'memory' be defined at the task level."),
    ("fargate-cpu-not-a-size", fargate(cpu="300"), TASK_CPU_INVALID + FARGATE_CPU_HINT),
    (
        "fargate-memory-wrong-for-cpu",
        fargate(cpu="256", memory="4096"),
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation "
        "for the valid values. Valid memory for cpu 256: 512, 1024, 2048.",
    ),
    (
        "fargate-memory-gb-wrong-for-vcpu",
        fargate(cpu="2 vCPU", memory="3 GB"),
        "No Fargate configuration exists for given values: 2048 CPU, 3072 memory. See the Amazon ECS documentation "
        "for the valid values. Valid memory for cpu 2048: 4096–16384 in steps of 1024.",
    ),
    (
        "fargate-windows-small-cpu",
        fargate(cpu="512", memory="1024", runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}),
        TASK_CPU_INVALID + " Valid Fargate cpu values: 1024, 2048, 4096.",
    ),
    ("fargate-ipc-mode", fargate(ipcMode="task"), "Tasks using the Fargate launch type do not support ipcMode."),
    ("fargate-pid-host", fargate(pidMode="host"), "Tasks using the Fargate launch type do not support pidMode host."),
    (
        "fargate-placement",
        fargate(placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]),
        "Tasks using the Fargate launch type do not support placementConstraints.",
    ),
    (
        "fargate-docker-volume",
        with_volume(fargate(), {"name": "v", "dockerVolumeConfiguration": {"scope": "task"}}),
        "Tasks using the Fargate launch type do not support dockerVolumeConfiguration.",
    ),
    (
        "fargate-host-path",
        with_volume(fargate(), {"name": "v", "host": {"sourcePath": "/var/log"}}),
        "Tasks using the Fargate launch type do not support host.sourcePath.",
    ),
    (
        "fargate-privileged",
        fargate({"name": "app", "image": "busybox", "privileged": True}),
        "Tasks using the Fargate launch type do not support privileged.",
    ),
    (
        "fargate-dns-servers",
        fargate({"name": "app", "image": "busybox", "dnsServers": ["10.0.0.2"]}),
        "Tasks using the Fargate launch type do not support dnsServers.",
    ),
    *[
        (
            f"fargate-{member}",
            fargate({"name": "app", "image": "busybox", member: value}),
            f"Tasks using the Fargate launch type do not support {member}.",
        )
        for member, value in (
            ("disableNetworking", True),
            ("dnsSearchDomains", ["example.com"]),
            ("dockerSecurityOptions", ["no-new-privileges"]),
            ("extraHosts", [{"hostname": "db", "ipAddress": "10.0.0.5"}]),
        )
    ],
    *[
        (
            f"fargate-linux-{member}",
            fargate({"name": "app", "image": "busybox", "linuxParameters": {member: value}}),
            f"Tasks using the Fargate launch type do not support linuxParameters.{member}.",
        )
        for member, value in (
            ("devices", [{"hostPath": "/dev/fuse"}]),
            ("tmpfs", [{"containerPath": "/tmp", "size": 64}]),
            ("maxSwap", 0),
            ("swappiness", 10),
        )
    ],
    (
        "fargate-gpu",
        fargate({"name": "app", "image": "busybox", "resourceRequirements": [{"type": "GPU", "value": "1"}]}),
        "Tasks using the Fargate launch type do not support GPU resource requirements.",
    ),
    (
        "fargate-kernel-sysctl",
        fargate({"name": "app", "image": "busybox", "systemControls": [{"namespace": "kernel.shmmax", "value": "1"}]}),
        "Tasks using the Fargate launch type do not support systemControls namespace kernel.shmmax.",
    ),
    (
        "fargate-log-driver",
        fargate({"name": "app", "image": "busybox", "logConfiguration": {"logDriver": "json-file"}}),
        "Tasks using the Fargate launch type do not support log driver json-file.",
    ),
    (
        "fargate-capability",
        fargate({"name": "app", "image": "busybox", "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"]}}}),
        "Tasks using the Fargate launch type do not support capability NET_ADMIN.",
    ),
    (
        "fargate-shared-memory",
        fargate({"name": "app", "image": "busybox", "linuxParameters": {"sharedMemorySize": 64}}),
        "Tasks using the Fargate launch type do not support linuxParameters.sharedMemorySize.",
    ),
    (
        "fargate-ulimit",
        fargate({"name": "app", "image": "busybox", "ulimits": [{"name": "core", "softLimit": 0, "hardLimit": 0}]}),
        "Tasks using the Fargate launch type do not support ulimit core.",
    ),
    (
        "fargate-stop-timeout",
        fargate({"name": "app", "image": "busybox", "stopTimeout": 121}),
        "Invalid 'stopTimeout' setting for container 'app'. Tasks using the Fargate launch type accept 2 to 120 "
        "seconds.",
    ),
    (
        "fargate-start-timeout",
        fargate({"name": "app", "image": "busybox", "startTimeout": 1}),
        "Invalid 'startTimeout' setting for container 'app'. Tasks using the Fargate launch type accept 2 to 120 "
        "seconds.",
    ),
    (
        "fargate-awslogs-without-execution-role",
        fargate(
            {
                "name": "app",
                "image": "busybox",
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"},
                },
            }
        ),
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    ),
    (
        "external-awsvpc",
        ec2(networkMode="awsvpc", requiresCompatibilities=["EXTERNAL"]),
        "Tasks using the External launch type do not support networkMode awsvpc.",
    ),
    # -- secrets (§2.8)
    (
        "secrets-without-execution-role",
        ec2(
            container(secrets=[{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db"}])
        ),
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'",
    ),
    # -- container memory and cpu (§2.4, §2.3)
    (
        "container-memory-missing",
        ec2({"name": "app", "image": "busybox"}),
        "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified.",
    ),
    (
        "container-memory-below-reservation",
        ec2(container(memory=128, memoryReservation=256)),
        "Invalid setting for container 'app'. 'memory' must be greater than or equal to 'memoryReservation'.",
    ),
    ("container-memory-zero", ec2(container(memory=0)), "Invalid 'memory' setting for container 'app'."),
    ("container-cpu-negative", ec2(container(cpu=-1)), "Invalid 'cpu' setting for container 'app'."),
    (
        "container-memory-over-task",
        ec2(container(memory=1024), memory="512"),
        "The 'memory' setting for container 'app' is greater than for the task.",
    ),
    (
        "container-cpu-sum-over-task",
        ec2(container("a", cpu=768), container("b", cpu=512), cpu="1 vCPU"),
        "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
    ),
    (
        "container-reservation-sum",
        ec2(
            {"name": "a", "image": "busybox", "memoryReservation": 400},
            {"name": "b", "image": "busybox", "memoryReservation": 400},
            memory="512",
        ),
        "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
    ),
    (
        "container-memory-sum",
        ec2(container("a", memory=400), container("b", memory=400), memory="512"),
        "The sum of all container 'memory' values cannot be greater than the value of the task 'memory'.",
    ),
    # -- port mappings (§2.5)
    (
        "awsvpc-host-port-differs",
        ec2(container(portMappings=[{"containerPort": 80, "hostPort": 8080}]), networkMode="awsvpc"),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    ),
    (
        "host-mode-host-port-differs",
        ec2(container(portMappings=[{"containerPort": 80, "hostPort": 8080}]), networkMode="host"),
        "When networkMode=host, the host ports and container ports in port mappings must match.",
    ),
    (
        "none-mode-with-mappings",
        ec2(container(portMappings=[{"containerPort": 80}]), networkMode="none"),
        "Port mappings are not supported when networkMode=none.",
    ),
    (
        "mapping-without-port",
        ec2(container(portMappings=[{"protocol": "tcp"}])),
        "Invalid port mapping for container 'app'. Either 'containerPort' or 'containerPortRange' must be specified.",
    ),
    (
        "mapping-port-out-of-range",
        ec2(container(portMappings=[{"containerPort": 70000}])),
        "Invalid port mapping for container 'app'. Port 70000 is outside the valid range 1-65535.",
    ),
    (
        "mapping-name-invalid",
        ec2(container(portMappings=[{"containerPort": 80, "name": "Web"}])),
        "Invalid port mapping name 'Web' for container 'app'. A name has up to 64 lowercase letters, numbers, "
        "underscores and hyphens, and cannot start with a hyphen.",
    ),
    (
        "mapping-name-leading-hyphen",
        ec2(container(portMappings=[{"containerPort": 80, "name": "-web"}])),
        "Invalid port mapping name '-web' for container 'app'. A name has up to 64 lowercase letters, numbers, "
        "underscores and hyphens, and cannot start with a hyphen.",
    ),
    (
        "mapping-name-repeated-across-containers",
        ec2(
            container("a", portMappings=[{"containerPort": 80, "name": "http"}]),
            container("b", portMappings=[{"containerPort": 81, "name": "http"}]),
        ),
        "Port mapping names must be unique within a task definition; 'http' is used more than once.",
    ),
    (
        "port-range-backwards",
        ec2(container(portMappings=[{"containerPortRange": "9000-8000"}])),
        "Invalid containerPortRange '9000-8000' for container 'app'. Use 'start-end' with 1 <= start < end <= 65535.",
    ),
    (
        "port-range-with-container-port",
        ec2(container(portMappings=[{"containerPortRange": "8000-8010", "containerPort": 8000}])),
        "Invalid port mapping for container 'app'. containerPortRange cannot be combined with containerPort or "
        "hostPort.",
    ),
    (
        "port-range-in-host-mode",
        ec2(container(portMappings=[{"containerPortRange": "8000-8010"}]), networkMode="host"),
        "containerPortRange is only supported when networkMode is bridge or awsvpc.",
    ),
    (
        "port-ranges-overlap",
        ec2(
            container(
                portMappings=[
                    {"containerPortRange": "8000-8010"},
                    {"containerPortRange": "9000-9005", "protocol": "udp"},
                    {"containerPortRange": "8005-8020"},
                ]
            )
        ),
        "Port ranges of container 'app' overlap: '8000-8010' and '8005-8020'.",
    ),
    # -- hostname and links (§2.4)
    (
        "hostname-with-awsvpc",
        ec2(container(hostname="web"), networkMode="awsvpc"),
        "hostname is not supported on container when networkMode=awsvpc.",
    ),
    (
        "links-with-awsvpc",
        ec2(container("a", links=["b"]), container("b"), networkMode="awsvpc"),
        "Links are not supported when networkMode=awsvpc.",
    ),
    (
        "links-with-host",
        ec2(container("a", links=["b"]), container("b"), networkMode="host"),
        "Links are not supported when networkMode=host.",
    ),
    (
        "link-to-unknown-container",
        ec2(container("a", links=["db:database"])),
        "Container 'a' links to container 'db', which does not exist.",
    ),
    (
        "links-cycle",
        ec2(container("a", links=["b"]), container("b", links=["a"])),
        "Container links should not have a cycle",
    ),
    # -- essential and dependsOn (§2.6)
    (
        "no-essential-container",
        ec2(container("a", essential=False), container("b", essential=False)),
        "A task definition must have at least one essential container.",
    ),
    (
        "depends-on-unknown",
        ec2(container(dependsOn=[{"containerName": "ghost", "condition": "START"}])),
        "Cannot depend on container + 'ghost' because it does not exist. Container 'app' lists it in dependsOn.",
    ),
    (
        "depends-on-success-of-essential",
        ec2(container("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]), container("migrate")),
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container. Container "
        "'app' waits for 'migrate' to SUCCESS, so 'migrate' must set essential to false.",
    ),
    (
        "depends-on-complete-of-essential",
        ec2(container("app", dependsOn=[{"containerName": "init", "condition": "COMPLETE"}]), container("init")),
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container. Container "
        "'app' waits for 'init' to COMPLETE, so 'init' must set essential to false.",
    ),
    (
        "depends-on-healthy-without-check",
        ec2(container("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]), container("db")),
        "Container 'app' depends on container 'db' with condition HEALTHY, but 'db' has no healthCheck.",
    ),
    (
        "depends-on-cycle",
        ec2(
            container("a", dependsOn=[{"containerName": "b", "condition": "START"}]),
            container("b", dependsOn=[{"containerName": "c", "condition": "START"}]),
            container("c", dependsOn=[{"containerName": "a", "condition": "START"}]),
        ),
        "Container dependencies should not have a cycle: a -> b -> c -> a.",
    ),
    (
        "depends-on-itself",
        ec2(container("a", dependsOn=[{"containerName": "a", "condition": "START"}])),
        "Container dependencies should not have a cycle: a -> a.",
    ),
    # -- health checks (§2.7)
    (
        "health-check-command-kind",
        ec2(container(healthCheck={"command": ["curl", "-f", "http://localhost/"]})),
        "Health check command for container 'app' must start with CMD (followed by the command and its arguments) "
        "or CMD-SHELL (followed by one command string).",
    ),
    (
        "health-check-command-empty",
        ec2(container(healthCheck={"command": ["CMD-SHELL"]})),
        "Health check command for container 'app' must start with CMD (followed by the command and its arguments) "
        "or CMD-SHELL (followed by one command string).",
    ),
    (
        "health-check-interval-low",
        ec2(container(healthCheck={"command": ["CMD", "true"], "interval": 4})),
        "Health check interval must be greater than or equal to the minimum allowed value 5 for container 'app'",
    ),
    (
        "health-check-interval-high",
        ec2(container(healthCheck={"command": ["CMD", "true"], "interval": 301})),
        "Health check interval must be less than or equal to the maximum allowed value 300 for container 'app'",
    ),
    (
        "health-check-timeout-low",
        ec2(container(healthCheck={"command": ["CMD", "true"], "timeout": 1})),
        "Health check timeout must be greater than or equal to the minimum allowed value 2 for container 'app'",
    ),
    (
        "health-check-timeout-high",
        ec2(container(healthCheck={"command": ["CMD", "true"], "timeout": 61})),
        "Health check timeout must be less than or equal to the maximum allowed value 60 for container 'app'",
    ),
    (
        "health-check-retries-high",
        ec2(container(healthCheck={"command": ["CMD", "true"], "retries": 11})),
        "Health check retries must be less than or equal to the maximum allowed value 10 for container 'app'",
    ),
    (
        "health-check-retries-low",
        ec2(container(healthCheck={"command": ["CMD", "true"], "retries": 0})),
        "Health check retries must be greater than or equal to the minimum allowed value 1 for container 'app'",
    ),
    (
        "health-check-start-period-high",
        ec2(container(healthCheck={"command": ["CMD", "true"], "startPeriod": 301})),
        "Health check startPeriod must be less than or equal to the maximum allowed value 300 for container 'app'",
    ),
    # -- timeouts (§2.4)
    ("stop-timeout-negative", ec2(container(stopTimeout=-1)), "Invalid 'stopTimeout' setting for container 'app'."),
    # -- logging (§2.9)
    (
        "awslogs-without-options",
        ec2(container(logConfiguration={"logDriver": "awslogs"})),
        "Log driver awslogs requires options: awslogs-region, awslogs-group",
    ),
    (
        "awslogs-without-group",
        ec2(container(logConfiguration={"logDriver": "awslogs", "options": {"awslogs-region": "us-east-1"}})),
        "Log driver awslogs requires options: awslogs-group",
    ),
    (
        "awslogs-unknown-option",
        ec2(
            container(
                logConfiguration={
                    "logDriver": "awslogs",
                    "options": {"awslogs-region": "us-east-1", "awslogs-group": "g", "log_key": "log"},
                }
            )
        ),
        "Log driver awslogs disallows options: log_key",
    ),
    # -- volumes and mounts (§2.9)
    (
        "mount-of-unknown-volume",
        ec2(container(mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}])),
        "Unknown volume 'data'.",
    ),
    (
        "mount-without-source-volume",
        ec2(container(mountPoints=[{"containerPath": "/data"}])),
        "Unknown volume 'null'.",
    ),
    (
        "volumes-from-unknown-container",
        ec2(container(volumesFrom=[{"sourceContainer": "sidecar"}])),
        "Container 'app' mounts volumes from container 'sidecar', which does not exist.",
    ),
    (
        "volume-names-repeat",
        ec2(volumes=[{"name": "data"}, {"name": "data"}]),
        "Volume names must be unique within a Task Definition.",
    ),
    ("volume-name-missing", ec2(volumes=[{"host": {}}]), "Volume.name should not be null or empty."),
    # -- limits (§2.4, §2.10)
    (
        "ulimit-soft-above-hard",
        ec2(container(ulimits=[{"name": "nofile", "softLimit": 2048, "hardLimit": 1024}])),
        "Invalid ulimit 'nofile' for container 'app'. 'softLimit' cannot be greater than 'hardLimit'.",
    ),
    (
        "swappiness-out-of-range",
        ec2(container(linuxParameters={"swappiness": 101})),
        "Invalid 'swappiness' setting for container 'app'. It must be between 0 and 100.",
    ),
    # -- task members (§2.2)
    (
        "ephemeral-storage-too-small",
        fargate(ephemeralStorage={"sizeInGiB": 20}),
        "Invalid 'ephemeralStorage' setting for task. 'sizeInGiB' must be between 21 and 200.",
    ),
    (
        "ephemeral-storage-too-large",
        fargate(ephemeralStorage={"sizeInGiB": 201}),
        "Invalid 'ephemeralStorage' setting for task. 'sizeInGiB' must be between 21 and 200.",
    ),
    (
        "ephemeral-storage-on-ec2",
        ec2(requiresCompatibilities=["EC2"], ephemeralStorage={"sizeInGiB": 30}),
        "'ephemeralStorage' is only supported for tasks using the Fargate launch type.",
    ),
    (
        "placement-member-of-without-expression",
        ec2(placementConstraints=[{"type": "memberOf"}]),
        "A memberOf task placement constraint must have an expression.",
    ),
]


@pytest.mark.parametrize(("request_body", "message"), [pytest.param(b, m, id=i) for i, b, m in CASES])
def test_register_task_definition_rejects_invalid_input_with_ecs_message(
    ecs: Any, request_body: dict[str, Any], message: str
) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.register_task_definition(**copy.deepcopy(request_body))
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ClientException", message)
    assert ecs.list_task_definition_families()["families"] == []


def test_rejected_registration_does_not_use_up_a_revision(ecs: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError):
        ecs.register_task_definition(**fargate(cpu="300"))
    assert ecs.register_task_definition(**fargate())["taskDefinition"]["revision"] == 1


def test_register_task_definition_rejects_reserved_tag_prefix(ecs: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.register_task_definition(**ec2(tags=[{"key": "aws:owner", "value": "me"}]))
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []


def test_container_sums_equal_to_the_task_size_are_accepted(ecs: Any) -> None:
    td = ec2(
        container("a", cpu=512, memory=256),
        container("b", cpu=512, memoryReservation=256, memory=512),
        cpu="1024",
        memory="512",
    )
    assert ecs.register_task_definition(**td)["taskDefinition"]["revision"] == 1


def test_fargate_accepts_every_documented_size(ecs: Any) -> None:
    for cpu, memory in (("256", "2048"), ("512", "4GB"), ("1 vCPU", "8 GB"), ("4096", "30720"), ("16 vCPU", "120GB")):
        ecs.register_task_definition(**fargate(cpu=cpu, memory=memory))
    assert len(ecs.list_task_definitions()["taskDefinitionArns"]) == 5


def test_fargate_accepts_what_it_supports(ecs: Any) -> None:
    app = {
        "name": "app",
        "image": "busybox",
        "stopTimeout": 120,
        "startTimeout": 2,
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
        "linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"], "drop": ["ALL"]}, "initProcessEnabled": True},
        "systemControls": [{"namespace": "net.ipv4.tcp_keepalive_time", "value": "60"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "r"}},
        "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}],
    }
    td = fargate(app, executionRoleArn=ROLE, volumes=[{"name": "scratch"}], ephemeralStorage={"sizeInGiB": 50})
    registered = ecs.register_task_definition(**td)["taskDefinition"]
    assert registered["compatibilities"] == ["EC2", "FARGATE"]
    assert registered["ephemeralStorage"] == {"sizeInGiB": 50}


def test_register_task_definition_rejects_an_unknown_ulimit_name(ecs: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.register_task_definition(**ec2(container(ulimits=[{"name": "files", "softLimit": 1, "hardLimit": 1}])))
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterException"
    assert "containerDefinitions.1.member.ulimits.1.member.name" in error["Message"]
