"""One in-process edge per test worker, seeded with a cluster and a task definition to aim at."""

from __future__ import annotations

import os
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, settings

from tests.property.harness import EdgeHarness
from tests.property.shapes import Names

ECS_TARGET = "AmazonEC2ContainerServiceV20141113"


def property_settings(max_examples: int) -> settings:
    """Reproducible (derandomized, no example database) and bounded by example count, not time.

    ``ECSLITE_PROPERTY_SCALE`` multiplies every example count, for a longer hunt than CI's. The
    ``edge`` fixture is function-scoped on purpose: it reseeds the store once per test, and the
    examples of a test then share it.
    """
    scale = float(os.environ.get("ECSLITE_PROPERTY_SCALE", "1"))
    return settings(
        max_examples=max(1, round(max_examples * scale)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )


ACCOUNT = "000000000000"
REGION = "us-east-1"
CLUSTER = "fuzz"
FAMILY = "fuzz-family"
TASK_ID = "0123456789abcdef0123456789abcdef"

# Credential scopes the property tests sign with. Each names a partition the fixture has already
# used: the first ECS call in a partition creates its `default` cluster (spec/ecs.md §2.1, local
# model), which is set-up of the partition rather than an effect of the request being checked.
SCOPES = (("test", "us-east-1"), ("123456789012", "eu-west-1"))

CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
TASK_DEFINITION_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{FAMILY}:1"
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{TASK_ID}"

# Strings that name what the fixture creates, so drawn references resolve and deeper code runs.
NAMES = Names(
    general=(CLUSTER, "default", FAMILY, f"{FAMILY}:1", TASK_ID, "FARGATE", "busybox:latest", ""),
    hints=(
        ("arn", (CLUSTER_ARN, TASK_DEFINITION_ARN, TASK_ARN, f"{CLUSTER_ARN}x", "arn:aws:ecs:::", "arn")),
        ("cluster", (CLUSTER, "default", CLUSTER_ARN, "missing")),
        ("taskdefinition", (FAMILY, f"{FAMILY}:1", f"{FAMILY}:99", TASK_DEFINITION_ARN, f"{FAMILY}:x")),
        ("family", (FAMILY, "fuzz", "missing")),
        ("task", (TASK_ID, TASK_ARN, "0123")),
        ("capacityprovider", ("FARGATE", "FARGATE_SPOT", "missing")),
        ("key", ("team", "aws:reserved", "")),
        ("name", ("app", "web", "containerInsights", "")),
    ),
)


def authorization(access_key: str, region: str, service: str = "ecs") -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/20240101/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0000"
    )


def ecs_headers(operation: str, scope: tuple[str, str] | None = None) -> dict[str, str]:
    headers = {"content-type": "application/x-amz-json-1.1", "x-amz-target": f"{ECS_TARGET}.{operation}"}
    if scope is not None:
        headers["authorization"] = authorization(*scope)
    return headers


SEEDS = (
    ("CreateCluster", {"clusterName": CLUSTER}),
    (
        "RegisterTaskDefinition",
        {
            "family": FAMILY,
            "containerDefinitions": [
                {"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest", "memory": 128}
            ],
        },
    ),
)


# Created when the operation exists, so EC2 launches have somewhere to go; a build without it
# answers UnsupportedFeatureException and the properties run without.
OPTIONAL_SEEDS = (
    (
        "RegisterContainerInstance",
        {
            "cluster": CLUSTER,
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
            ],
        },
    ),
)


def seed(harness: EdgeHarness) -> None:
    """Empty the store, then use every partition of ``SCOPES`` and create what ``NAMES`` points at."""
    reset = harness.send(path="/_ecslite/reset")
    assert reset.response.status_code == 200, reset.response.text
    for scope in SCOPES:
        warm = harness.send(headers=ecs_headers("ListClusters", scope), content=b"{}")
        assert warm.response.status_code == 200, warm.response.text
    for operation, params in SEEDS:
        seeded = harness.send(headers=ecs_headers(operation), content=orjson.dumps(params))
        assert seeded.response.status_code == 200, seeded.response.text
    for operation, params in OPTIONAL_SEEDS:
        seeded = harness.send(headers=ecs_headers(operation), content=orjson.dumps(params))
        answer = seeded.response.json()
        assert seeded.response.status_code == 200 or answer["__type"] == "UnsupportedFeatureException", answer


@pytest.fixture(scope="session")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeHarness]:
    harness = EdgeHarness(tmp_path_factory.mktemp("edge"))
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def edge(edge_server: EdgeHarness) -> EdgeHarness:
    """The worker's edge, freshly seeded, so each test sees the same store whatever ran before it.

    Examples within one test share the store; with derandomized draws that is reproducible too.
    """
    seed(edge_server)
    return edge_server
