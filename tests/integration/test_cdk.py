"""The AWS CDK CLI against ecslite: ``cdk bootstrap`` (the CDK's own bootstrap template: staging
bucket, container assets repository, roles, version parameter), then ``cdk deploy`` of tests/cdk/app.js
(an ECS cluster in the default VPC found by ``Vpc.fromLookup``, a Fargate task definition with a
registry image, a service and a log group; the template goes through the staging bucket, the deploy
through a change set after AssumeRole of the bootstrap's deploy role and the BootstrapVersion
rule), a second deploy with a new environment variable (a new task definition revision, the service's
task replaced) and ``cdk destroy``.

The CLI and construct library are installed by ``./dev test`` into .cache/cdk (pinned in
tests/cdk/package-lock.json); without them the test skips (fails in CI). The fake runtime runs the tasks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, REPO, make_client
from tests.fixtures.capability import missing

pytestmark = pytest.mark.slow

CDK_DIR = Path(os.environ.get("ECSLITE_CDK_DIR") or REPO / ".cache" / "cdk")
APP = REPO / "tests" / "cdk"
STACK = "EcsliteCdk"
QUALIFIER = "hnb659fds"  # the CDK's default bootstrap qualifier


class Cdk:
    """The CDK CLI run against one ecslite endpoint from a copy of the app under a test's directory."""

    def __init__(self, endpoint: str, home: Path) -> None:
        binary = CDK_DIR / "node_modules" / ".bin" / "cdk"
        if not binary.exists() or shutil.which("node") is None:
            missing(f"the AWS CDK is not installed in {CDK_DIR} (./dev test installs it)")
        self.binary = binary
        self.home = home
        self.app = home / "app"
        shutil.copytree(APP, self.app, ignore=shutil.ignore_patterns("node_modules", "cdk.out"))
        self.env = {
            **os.environ,
            # The CLI and its SDK (v3) read AWS_ENDPOINT_URL for every service; on a loopback endpoint
            # the CLI's S3 clients address buckets path-style by themselves.
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            # The app's require("aws-cdk-lib") finds the installed library.
            "NODE_PATH": str(CDK_DIR / "node_modules"),
            # Nothing leaves the machine: no version check, notices or telemetry.
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CI": "true",
            "NO_COLOR": "1",
            "HOME": str(home),
        }

    def __call__(self, *args: str, in_app: bool = True, timeout: float = 300) -> str:
        result = subprocess.run(
            [str(self.binary), *args, "--no-notices", "--output", str(self.home / "cdk.out")],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.app if in_app else self.home,
            timeout=timeout,
        )
        assert result.returncode == 0, f"cdk {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_bootstrap_deploy_update_and_destroy(endpoint: str, tmp_path: Path) -> None:
    cdk = Cdk(endpoint, tmp_path)
    sts, ec2, ecs = (make_client(name, endpoint) for name in ("sts", "ec2", "ecs"))
    cfn, logs, s3, ssm, ecr = (make_client(name, endpoint) for name in ("cloudformation", "logs", "s3", "ssm", "ecr"))
    account = sts.get_caller_identity()["Account"]

    # Outside the app's directory: bootstrap would synthesize the app, which needs its greeting.
    out = cdk("bootstrap", f"aws://{account}/{REGION}", in_app=False)
    assert "bootstrapped" in out
    [toolkit] = cfn.describe_stacks(StackName="CDKToolkit")["Stacks"]
    assert toolkit["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in toolkit["Outputs"]}
    bucket = f"cdk-{QUALIFIER}-assets-{account}-{REGION}"
    assert outputs["BucketName"] == bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert (
        ssm.get_parameter(Name=f"/cdk-bootstrap/{QUALIFIER}/version")["Parameter"]["Value"]
        == outputs["BootstrapVersion"]
    )
    repository = f"cdk-{QUALIFIER}-container-assets-{account}-{REGION}"
    assert ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["imageTagMutability"] == (
        "IMMUTABLE"
    )
    # The conditional KMS key was not made: the CLI asks for S3's AWS managed key.
    types = {r["ResourceType"] for r in cfn.list_stack_resources(StackName="CDKToolkit")["StackResourceSummaries"]}
    assert "AWS::KMS::Key" not in types and "AWS::S3::Bucket" in types

    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]

    def deploy(greeting: str) -> dict[str, str]:
        outputs_file = tmp_path / f"outputs-{greeting}.json"
        cdk(
            "deploy",
            "--require-approval",
            "never",
            "--outputs-file",
            str(outputs_file),
            "-c",
            f"greeting={greeting}",
        )
        found: dict[str, str] = json.loads(outputs_file.read_text())[STACK]
        return found

    def running_task(cluster: str, service_name: str) -> dict[str, Any]:
        [service] = ecs.describe_services(cluster=cluster, services=[service_name])["services"]

        def current() -> list[dict[str, Any]]:
            arns = ecs.list_tasks(cluster=cluster, serviceName=service_name)["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            return [
                t for t in tasks if t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"] == service["taskDefinition"]
            ]

        [task] = wait_for(current)
        return dict(task)

    def greeting_of(task_definition: str) -> str:
        described = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        [container] = described["containerDefinitions"]
        return next(e["value"] for e in container["environment"] if e["name"] == "GREETING")

    first = deploy("hello")
    cluster, service_name = first["ClusterName"], first["ServiceName"]
    task = running_task(cluster, service_name)
    assert greeting_of(task["taskDefinitionArn"]) == "hello"
    assert task["launchType"] == "FARGATE"
    # Vpc.fromLookup found the default VPC's subnets, public through its route table's internet gateway.
    [service] = ecs.describe_services(cluster=cluster, services=[service_name])["services"]
    awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(awsvpc["subnets"]) == sorted(s["SubnetId"] for s in subnets)
    assert awsvpc["assignPublicIp"] == "ENABLED"
    assert json.loads((cdk.app / "cdk.context.json").read_text())
    # The template went through the staging bucket, as the CDK publishes it.
    assert any(o["Key"].endswith(".json") for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    [group] = [g for g in logs.describe_log_groups()["logGroups"] if g["logGroupName"].startswith(f"{STACK}-Logs")]
    assert group["retentionInDays"] == 7

    second = deploy("bonjour")
    assert (second["ClusterName"], second["ServiceName"]) == (cluster, service_name)
    task = running_task(cluster, service_name)
    family, revision = task["taskDefinitionArn"].rsplit("/", 1)[1].split(":")
    assert int(revision) == 2
    assert greeting_of(task["taskDefinitionArn"]) == "bonjour"
    # The first revision went in the update's cleanup (CloudFormation replaces task definitions).
    first_revision = ecs.describe_task_definition(taskDefinition=f"{family}:1")["taskDefinition"]
    assert first_revision["status"] != "ACTIVE"

    stack_id = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]
    cdk("destroy", "--force", "-c", "greeting=bonjour")
    with pytest.raises(ClientError, match=f"Stack with id {STACK} does not exist"):
        cfn.describe_stacks(StackName=STACK)
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    deleted = {
        e["ResourceType"]
        for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        if e["ResourceStatus"] == "DELETE_COMPLETE"
    }
    assert {"AWS::ECS::Service", "AWS::ECS::Cluster", "AWS::ECS::TaskDefinition", "AWS::Logs::LogGroup"} <= deleted
    # ECS deletes a cluster only once its services are INACTIVE; the cluster may be gone already.
    try:
        services = ecs.describe_services(cluster=cluster, services=[service_name])["services"]
        assert [s["status"] for s in services] in ([], ["INACTIVE"])
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ClusterNotFoundException"
    assert [c["status"] for c in ecs.describe_clusters(clusters=[cluster])["clusters"]] in ([], ["INACTIVE"])
    assert not [g for g in logs.describe_log_groups()["logGroups"] if g["logGroupName"] == group["logGroupName"]]
    assert ecs.describe_task_definition(taskDefinition=f"{family}:2")["taskDefinition"]["status"] != "ACTIVE"
    # The bootstrap stays, for the next app.
    assert cfn.describe_stacks(StackName="CDKToolkit")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
