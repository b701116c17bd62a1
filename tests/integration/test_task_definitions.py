"""Task definition operations through boto3 and the AWS CLI (spec/ecs.md §1.4, §1.5, §2.2–2.9)."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import REPO, make_client, start_server, stop_server

ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/"
SEED = REPO / "examples" / "otel-demo" / "task-definition.json"
UNABLE = ("ClientException", "Unable to describe task definition.")


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def register(ecs: Any, family: str = "web", **members: Any) -> dict[str, Any]:
    members.setdefault("containerDefinitions", [{"name": "app", "image": "nginx", "memory": 128}])
    td: dict[str, Any] = ecs.register_task_definition(family=family, **members)["taskDefinition"]
    return td


# -- RegisterTaskDefinition ------------------------------------------------------------------------------


def test_register_returns_the_definition_with_ecs_defaults(ecs: Any) -> None:
    td = register(ecs, containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}])
    assert td["taskDefinitionArn"] == ARN + "web:1"
    assert (td["family"], td["revision"], td["status"]) == ("web", 1, "ACTIVE")
    assert td["containerDefinitions"] == [
        {
            "name": "app",
            "image": "nginx",
            "cpu": 0,
            "memory": 128,
            "portMappings": [],
            "essential": True,
            "environment": [],
            "mountPoints": [],
            "volumesFrom": [],
            "systemControls": [],
        }
    ]
    assert td["volumes"] == [] and td["placementConstraints"] == [] and td["requiresAttributes"] == []
    assert td["compatibilities"] == ["EXTERNAL", "EC2"]
    assert "networkMode" not in td and "cpu" not in td and "memory" not in td
    assert td["registeredBy"] == "arn:aws:iam::000000000000:root"
    assert isinstance(td["registeredAt"], datetime.datetime)
    assert "deregisteredAt" not in td


@pytest.mark.parametrize(
    ("cpu", "memory", "units", "mib"),
    [
        ("256", "512", "256", "512"),
        ("0.25 vCPU", "0.5GB", "256", "512"),
        ("1 vcpu", "2 GB", "1024", "2048"),
        ("2 vCPU", "4GB", "2048", "4096"),
        ("4096", "30 gb", "4096", "30720"),
    ],
)
def test_register_normalizes_task_cpu_and_memory_to_integer_strings(
    ecs: Any, cpu: str, memory: str, units: str, mib: str
) -> None:
    td = register(
        ecs,
        cpu=cpu,
        memory=memory,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        containerDefinitions=[{"name": "app", "image": "nginx"}],
    )
    assert (td["cpu"], td["memory"]) == (units, mib)
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["cpu"] == units


def test_register_fills_host_ports_protocol_and_health_check_defaults(ecs: Any) -> None:
    td = register(
        ecs,
        networkMode="awsvpc",
        containerDefinitions=[
            {
                "name": "app",
                "image": "nginx",
                "memory": 256,
                "portMappings": [{"containerPort": 80}, {"containerPort": 8125, "protocol": "udp", "hostPort": 8125}],
                "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]},
            }
        ],
    )
    container = td["containerDefinitions"][0]
    assert container["portMappings"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp"},
        {"containerPort": 8125, "hostPort": 8125, "protocol": "udp"},
    ]
    assert container["healthCheck"] == {
        "command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
        "interval": 30,
        "timeout": 5,
        "retries": 3,
    }
    assert td["networkMode"] == "awsvpc"
    assert td["compatibilities"] == ["EC2"]  # no task size, so not Fargate
    assert {"name": "ecs.capability.task-eni"} in td["requiresAttributes"]
    assert {"name": "ecs.capability.container-health-check"} in td["requiresAttributes"]


def test_register_keeps_bridge_host_ports_as_given(ecs: Any) -> None:
    td = register(
        ecs,
        containerDefinitions=[
            {"name": "app", "image": "nginx", "memory": 128, "portMappings": [{"containerPort": 80}]},
        ],
    )
    assert td["containerDefinitions"][0]["portMappings"] == [{"containerPort": 80, "protocol": "tcp"}]


def test_register_gives_a_volume_without_configuration_an_empty_host(ecs: Any) -> None:
    td = register(
        ecs,
        volumes=[{"name": "scratch"}, {"name": "logs", "host": {"sourcePath": "/var/log"}}],
        containerDefinitions=[
            {
                "name": "app",
                "image": "nginx",
                "memory": 128,
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}],
            }
        ],
    )
    assert td["volumes"] == [{"name": "scratch", "host": {}}, {"name": "logs", "host": {"sourcePath": "/var/log"}}]


def test_register_output_is_identical_for_identical_input(ecs: Any) -> None:
    body = json.loads(SEED.read_text())
    first = ecs.register_task_definition(**body)["taskDefinition"]
    second = ecs.register_task_definition(**body)["taskDefinition"]
    volatile = ("taskDefinitionArn", "revision", "registeredAt")
    strip = [{k: v for k, v in td.items() if k not in volatile} for td in (first, second)]
    assert json.dumps(strip[0], default=str) == json.dumps(strip[1], default=str)
    assert second["revision"] == 2


def test_register_returns_tags_and_describe_shows_them_only_when_included(ecs: Any) -> None:
    tags = [{"key": "team", "value": "obs"}, {"key": "env", "value": "dev"}]
    result = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}], tags=tags
    )
    assert result["tags"] == tags
    assert "tags" not in result["taskDefinition"]
    assert "tags" not in ecs.describe_task_definition(taskDefinition="web")
    assert ecs.describe_task_definition(taskDefinition="web", include=["TAGS"])["tags"] == tags


def test_seed_definition_registers_unchanged_through_the_cli(aws: Any, tmp_path: Path) -> None:
    path = tmp_path / "task-definition.json"
    shutil.copy(SEED, path)
    registered = aws("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")["taskDefinition"]
    seed = json.loads(SEED.read_text())
    assert registered["taskDefinitionArn"] == ARN + "otel-demo-app:1"
    assert (registered["cpu"], registered["memory"], registered["networkMode"]) == ("2048", "4096", "awsvpc")
    assert registered["executionRoleArn"] == seed["executionRoleArn"]
    assert registered["requiresCompatibilities"] == ["FARGATE"]
    assert registered["compatibilities"] == ["EC2", "FARGATE"]
    assert [c["name"] for c in registered["containerDefinitions"]] == [
        "fluent-bit",
        "python-service",
        "nodejs-service",
        "go-service",
        "java-service",
    ]
    for given, shown in zip(seed["containerDefinitions"], registered["containerDefinitions"], strict=True):
        assert shown["image"] == given["image"]
        assert shown["environment"] == given["environment"]
        assert shown["portMappings"] == [{**m, "hostPort": m["containerPort"]} for m in given["portMappings"]]
        assert shown["mountPoints"] == [] and shown["volumesFrom"] == [] and shown["systemControls"] == []
        assert shown.get("dependsOn") == given.get("dependsOn")
    assert registered["containerDefinitions"][1]["healthCheck"]["startPeriod"] == 60
    described = aws("ecs", "describe-task-definition", "--task-definition", "otel-demo-app")["taskDefinition"]
    assert described == registered


# -- DescribeTaskDefinition and references (§1.5) -------------------------------------------------------


def test_describe_resolves_family_revision_and_arn(ecs: Any) -> None:
    for _ in range(3):
        register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:3")
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 2
    inactive = ecs.describe_task_definition(taskDefinition="web:3")["taskDefinition"]
    assert inactive["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition=ARN + "web:1")["taskDefinition"]["revision"] == 1


@pytest.mark.parametrize(
    "ref",
    [
        "nope",
        "web:9",
        "web:one",
        "web:",
        ":1",
        "arn:aws:ecs:eu-west-1:000000000000:task-definition/web:1",
        "arn:aws:ecs:us-east-1:111111111111:task-definition/web:1",
        "arn:aws:ecs:us-east-1:000000000000:service/default/web",
        "arn:aws:ecs:us-east-1:000000000000:task-definition/nope:1",
        "web:" + "9" * 30,
        "web:" + "9" * 5000,
        "web:²",
    ],
)
def test_describe_of_an_unknown_reference_is_unable_to_describe(ecs: Any, ref: str) -> None:
    register(ecs)
    assert error_of(ecs.describe_task_definition, taskDefinition=ref) == UNABLE


def test_describe_of_a_family_without_active_revisions_is_unable_to_describe(ecs: Any) -> None:
    register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:1")
    assert error_of(ecs.describe_task_definition, taskDefinition="web") == UNABLE


def test_definitions_belong_to_their_region(ecs: Any, endpoint: str) -> None:
    register(ecs)
    other = make_client("ecs", endpoint, region="eu-west-1")
    assert error_of(other.describe_task_definition, taskDefinition="web:1") == UNABLE
    assert register(other)["taskDefinitionArn"] == "arn:aws:ecs:eu-west-1:000000000000:task-definition/web:1"


# -- ListTaskDefinitions (§1.4) ---------------------------------------------------------------------------


def test_list_task_definitions_sorts_by_family_then_revision(ecs: Any) -> None:
    for family in ("web", "api", "web", "api", "db"):
        register(ecs, family)
    ascending = [ARN + r for r in ("api:1", "api:2", "db:1", "web:1", "web:2")]
    assert ecs.list_task_definitions()["taskDefinitionArns"] == ascending
    assert ecs.list_task_definitions(sort="DESC")["taskDefinitionArns"] == ascending[::-1]
    assert "nextToken" not in ecs.list_task_definitions()


def test_list_task_definitions_family_prefix_is_the_whole_family(ecs: Any) -> None:
    for family in ("web", "web-api", "web"):
        register(ecs, family)
    assert ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"] == [ARN + "web:1", ARN + "web:2"]
    assert ecs.list_task_definitions(familyPrefix="we")["taskDefinitionArns"] == []


def test_list_task_definitions_filters_by_status(ecs: Any) -> None:
    for _ in range(3):
        register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:2")
    assert ecs.list_task_definitions()["taskDefinitionArns"] == [ARN + "web:1", ARN + "web:3"]
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [ARN + "web:2"]
    assert ecs.list_task_definitions(status="DELETE_IN_PROGRESS")["taskDefinitionArns"] == []


def test_list_task_definitions_pages_in_order_both_ways(ecs: Any) -> None:
    for family in ("a", "b", "c", "d", "e"):
        register(ecs, family)
    for sort, expected in (("ASC", "abcde"), ("DESC", "edcba")):
        page = ecs.list_task_definitions(maxResults=2, sort=sort)
        seen = list(page["taskDefinitionArns"])
        assert len(seen) == 2
        while "nextToken" in page:
            page = ecs.list_task_definitions(maxResults=2, sort=sort, nextToken=page["nextToken"])
            seen += page["taskDefinitionArns"]
        assert seen == [f"{ARN}{f}:1" for f in expected]


def test_list_task_definitions_paginator_walks_every_page(ecs: Any) -> None:
    for i in range(7):
        register(ecs, f"f{i}")
    pages = list(ecs.get_paginator("list_task_definitions").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["taskDefinitionArns"]) for p in pages] == [3, 3, 1]
    assert [a for p in pages for a in p["taskDefinitionArns"]] == [f"{ARN}f{i}:1" for i in range(7)]


def test_list_task_definitions_rejects_bad_page_arguments(ecs: Any) -> None:
    assert error_of(ecs.list_task_definitions, nextToken="garbage!") == (
        "InvalidParameterException",
        "Invalid nextToken.",
    )
    code, message = error_of(ecs.list_task_definitions, maxResults=101)
    assert (code, message) == ("InvalidParameterException", "maxResults must be between 1 and 100.")


def test_list_tokens_survive_a_restart(tmp_path: Path) -> None:
    running = start_server(tmp_path / "data", ephemeral=False)
    try:
        ecs = make_client("ecs", running.endpoint)
        for family in ("a", "b", "c"):
            register(ecs, family)
        token = ecs.list_task_definitions(maxResults=1)["nextToken"]
        family_token = ecs.list_task_definition_families(maxResults=2)["nextToken"]
    finally:
        stop_server(running)
    running = start_server(tmp_path / "data", ephemeral=False)
    try:
        ecs = make_client("ecs", running.endpoint)
        assert ecs.list_task_definitions(nextToken=token)["taskDefinitionArns"] == [ARN + "b:1", ARN + "c:1"]
        assert ecs.list_task_definition_families(nextToken=family_token)["families"] == ["c"]
        assert register(ecs, "a")["revision"] == 2
    finally:
        stop_server(running)


# -- ListTaskDefinitionFamilies ---------------------------------------------------------------------------


def test_list_families_filters_by_status_and_prefix(ecs: Any) -> None:
    for family in ("web", "web-api", "worker", "db"):
        register(ecs, family)
    ecs.deregister_task_definition(taskDefinition="worker:1")
    assert ecs.list_task_definition_families()["families"] == ["db", "web", "web-api", "worker"]
    assert ecs.list_task_definition_families(status="ALL")["families"] == ["db", "web", "web-api", "worker"]
    assert ecs.list_task_definition_families(status="ACTIVE")["families"] == ["db", "web", "web-api"]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["worker"]
    assert ecs.list_task_definition_families(familyPrefix="web")["families"] == ["web", "web-api"]
    assert ecs.list_task_definition_families(familyPrefix="w", status="INACTIVE")["families"] == ["worker"]


def test_list_families_paginates(ecs: Any) -> None:
    names = [f"fam{i}" for i in range(5)]
    for name in names:
        register(ecs, name)
    page = ecs.list_task_definition_families(maxResults=2)
    assert page["families"] == names[:2]
    pages = list(ecs.get_paginator("list_task_definition_families").paginate(PaginationConfig={"PageSize": 2}))
    assert [f for p in pages for f in p["families"]] == names
    other_token = ecs.list_task_definitions(maxResults=1)["nextToken"]
    assert error_of(ecs.list_task_definition_families, nextToken=other_token) == (
        "InvalidParameterException",
        "Invalid nextToken.",
    )


# -- DeregisterTaskDefinition -----------------------------------------------------------------------------


def test_deregister_makes_the_revision_inactive(ecs: Any) -> None:
    register(ecs)
    before = ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]
    td = ecs.deregister_task_definition(taskDefinition=ARN + "web:1")["taskDefinition"]
    assert td["status"] == "INACTIVE"
    assert td["deregisteredAt"] >= td["registeredAt"]
    assert {k: v for k, v in td.items() if k not in ("status", "deregisteredAt")} == {
        k: v for k, v in before.items() if k != "status"
    }
    assert ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"] == td


def test_deregister_needs_an_explicit_revision(ecs: Any) -> None:
    register(ecs)
    assert error_of(ecs.deregister_task_definition, taskDefinition="web") == (
        "ClientException",
        "A revision must be specified: use family:revision or the full task definition ARN.",
    )
    assert ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]["status"] == "ACTIVE"


def test_deregister_twice_is_refused(ecs: Any) -> None:
    register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:1")
    assert error_of(ecs.deregister_task_definition, taskDefinition="web:1") == (
        "ClientException",
        "The task definition web:1 is already INACTIVE.",
    )


def test_deregister_of_an_unknown_revision_is_unable_to_describe(ecs: Any) -> None:
    assert error_of(ecs.deregister_task_definition, taskDefinition="web:1") == UNABLE


# -- DeleteTaskDefinitions and revision numbering ---------------------------------------------------------


def test_delete_moves_inactive_revisions_to_delete_in_progress(ecs: Any) -> None:
    register(ecs)
    register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:1")
    result = ecs.delete_task_definitions(taskDefinitions=["web:1", "web:2", "web:7", "nope", "web:1"])
    [deleted] = result["taskDefinitions"]
    assert (deleted["taskDefinitionArn"], deleted["status"]) == (ARN + "web:1", "DELETE_IN_PROGRESS")
    assert deleted["deleteRequestedAt"] >= deleted["deregisteredAt"]
    assert result["failures"] == [
        {
            "arn": ARN + "web:2",
            "reason": "The specified task definition is still in ACTIVE status. Please deregister the target and "
            "try again.",
        },
        {"arn": ARN + "web:7", "reason": "The specified task definition does not exist."},
        {"arn": "nope", "reason": "A revision must be specified: use family:revision or the full task definition ARN."},
    ]
    # Nothing runs web:1, so it is gone at once.
    assert error_of(ecs.describe_task_definition, taskDefinition="web:1") == UNABLE
    assert ecs.list_task_definitions(status="DELETE_IN_PROGRESS")["taskDefinitionArns"] == []
    assert ecs.describe_task_definition(taskDefinition="web:2")["taskDefinition"]["status"] == "ACTIVE"


def test_delete_takes_at_most_ten_definitions(ecs: Any) -> None:
    refs = [f"web:{i}" for i in range(1, 12)]
    assert error_of(ecs.delete_task_definitions, taskDefinitions=refs) == (
        "InvalidParameterException",
        "taskDefinitions can have at most 10 items.",
    )


def test_revision_numbers_are_never_reused(ecs: Any) -> None:
    assert [register(ecs)["revision"] for _ in range(3)] == [1, 2, 3]
    ecs.deregister_task_definition(taskDefinition="web:3")
    ecs.delete_task_definitions(taskDefinitions=["web:3"])
    assert register(ecs)["revision"] == 4
    for revision in (1, 2, 4):
        ecs.deregister_task_definition(taskDefinition=f"web:{revision}")
    ecs.delete_task_definitions(taskDefinitions=["web:1", "web:2", "web:4"])
    assert ecs.list_task_definition_families()["families"] == []
    assert register(ecs)["taskDefinitionArn"] == ARN + "web:5"
    assert ecs.list_task_definition_families()["families"] == ["web"]
