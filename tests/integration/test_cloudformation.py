"""CloudFormation stacks through boto3 and the AWS CLI on a real server: ``aws cloudformation deploy``
makes an ECS cluster, log group, task definition and service whose task reaches RUNNING; a second
deploy with a new image registers a new revision, redeploys the service and deregisters the old
revision in the cleanup phase; a deploy without changes says so; ``delete-stack`` takes everything
down (service INACTIVE, cluster gone). Errors answer with CloudFormation's codes and texts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import AwsCliError, make_client
from tests.fixtures.aws_cli import run_aws

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: A web service made by CloudFormation on ecslite
Parameters:
  Image:
    Type: String
    Default: example/web:1
  Subnets:
    Type: List<AWS::EC2::Subnet::Id>
Resources:
  Cluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: cfn-web
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: /cfn/web
      RetentionInDays: 7
  ExecutionRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: ecs-tasks.amazonaws.com}
            Action: sts:AssumeRole
      ManagedPolicyArns:
        - arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy
  TaskDef:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: cfn-web
      ExecutionRoleArn: !GetAtt ExecutionRole.Arn
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: app
          Image: !Ref Image
          Essential: true
          PortMappings:
            - ContainerPort: 80
          Environment:
            - Name: STACK
              Value: !Ref AWS::StackName
          # Healthy after its first check: without one, ECS counts a task healthy 40 s after RUNNING.
          HealthCheck:
            Command: ["CMD-SHELL", "exit 0"]
            Interval: 5
          LogConfiguration:
            LogDriver: awslogs
            Options:
              awslogs-group: !Ref Logs
              awslogs-region: !Ref AWS::Region
              awslogs-stream-prefix: web
  Service:
    Type: AWS::ECS::Service
    Properties:
      Cluster: !Ref Cluster
      ServiceName: web
      TaskDefinition: !Ref TaskDef
      DesiredCount: 1
      LaunchType: FARGATE
      NetworkConfiguration:
        AwsvpcConfiguration:
          Subnets: !Ref Subnets
Outputs:
  ServiceArn:
    Value: !Ref Service
  ClusterName:
    Value: !Ref Cluster
    Export:
      Name: !Sub "${AWS::StackName}-cluster"
"""


def wait_for(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(interval)


def subnets(endpoint: str) -> str:
    return ",".join(s["SubnetId"] for s in make_client("ec2", endpoint).describe_subnets()["Subnets"][:2])


def running_tasks(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster="cfn-web", serviceName="web", desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    tasks: list[dict[str, Any]] = ecs.describe_tasks(cluster="cfn-web", tasks=arns)["tasks"]
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def cli(endpoint: str, tmp_path: Path, *args: str, **env_vars: str) -> None:
    """The AWS CLI with time for a deploy: its waiters poll every 5 to 30 s, and an ECS service's first
    deployment takes about 40 s to complete (the ``aws`` fixture gives a command 60 s)."""
    run_aws(endpoint, tmp_path, *args, region="us-east-1", timeout=300, **env_vars)


def deployed(endpoint: str, tmp_path: Path, cfn: Any, *args: str) -> None:
    """``aws cloudformation deploy``; on a failure, the stack's events in the assertion's message."""
    try:
        cli(endpoint, tmp_path, *args)
    except AwsCliError as error:
        if "No changes to deploy" in error.stderr:
            raise
        events = cfn.describe_stack_events(StackName="web")["StackEvents"]
        shown = [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason")) for e in events]
        raise AssertionError(f"{error.stderr}\n{shown}") from None


@pytest.mark.slow
def test_deploy_update_and_delete_with_the_aws_cli(
    endpoint: str, aws: Callable[..., Any], ecs: Any, tmp_path: Path
) -> None:
    cfn = make_client("cloudformation", endpoint)
    template = tmp_path / "web.yaml"
    template.write_text(TEMPLATE)
    nets = subnets(endpoint)
    deploy = ["cloudformation", "deploy", "--stack-name", "web", "--template-file", str(template)]
    deploy += ["--capabilities", "CAPABILITY_IAM"]
    deployed(endpoint, tmp_path, cfn, *deploy, "--parameter-overrides", f"Subnets={nets}")

    stack = cfn.describe_stacks(StackName="web")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["ClusterName"] == "cfn-web"
    [service] = ecs.describe_services(cluster="cfn-web", services=["web"])["services"]
    assert service["serviceArn"] == outputs["ServiceArn"] and service["status"] == "ACTIVE"
    first_revision = service["taskDefinition"]
    assert first_revision.endswith(":cfn-web:1") or first_revision.endswith("task-definition/cfn-web:1")
    [task] = wait_for(lambda: running_tasks(ecs))
    assert task["taskDefinitionArn"] == first_revision
    container = ecs.describe_task_definition(taskDefinition=first_revision)["taskDefinition"]["containerDefinitions"][0]
    assert {"name": "STACK", "value": "web"} in container["environment"]
    assert (
        make_client("logs", endpoint).describe_log_groups(logGroupNamePrefix="/cfn/web")["logGroups"][0][
            "retentionInDays"
        ]
        == 7
    )
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName="web")["StackResources"]}
    assert resources["TaskDef"]["PhysicalResourceId"] == first_revision
    assert {r["ResourceStatus"] for r in resources.values()} == {"CREATE_COMPLETE"}
    assert cfn.list_exports()["Exports"][0]["Name"] == "web-cluster"

    # A deploy with nothing new changes nothing, as the AWS CLI reports it.
    with pytest.raises(AwsCliError) as unchanged:
        cli(endpoint, tmp_path, *deploy, "--parameter-overrides", f"Subnets={nets}")
    assert "No changes to deploy" in unchanged.value.stderr

    # The AWS CLI names change sets by the second: the next deploy's must not reuse the empty one's name.
    time.sleep(1.1)
    # A new image: a new revision, the service redeployed, the old revision deregistered in the cleanup.
    deployed(endpoint, tmp_path, cfn, *deploy, "--parameter-overrides", "Image=example/web:2")
    stack = cfn.describe_stacks(StackName="web")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    [service] = ecs.describe_services(cluster="cfn-web", services=["web"])["services"]
    assert service["taskDefinition"].endswith(":2") and len(service["deployments"]) == 1
    [task] = wait_for(lambda: [t for t in running_tasks(ecs) if t["taskDefinitionArn"] == service["taskDefinition"]])
    assert task["containers"][0]["image"] == "example/web:2"
    assert ecs.describe_task_definition(taskDefinition=first_revision)["taskDefinition"]["status"] == "INACTIVE"
    statuses = [
        e["ResourceStatus"]
        for e in cfn.describe_stack_events(StackName="web")["StackEvents"]
        if e["LogicalResourceId"] == "web"
    ]
    assert statuses[:3] == ["UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_IN_PROGRESS"]

    stack_id = stack["StackId"]
    aws("cloudformation", "delete-stack", "--stack-name", "web")
    cli(endpoint, tmp_path, "cloudformation", "wait", "stack-delete-complete", "--stack-name", stack_id)
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    # ECS refuses to delete a cluster with an active service: the cluster being gone says the service
    # was INACTIVE first (CloudFormation's delete of the service waits for it).
    deleted = {
        e["LogicalResourceId"]
        for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        if e["ResourceStatus"] == "DELETE_COMPLETE"
    }
    assert {"Service", "Cluster", "TaskDef", "Logs", "ExecutionRole"} <= deleted
    try:
        services = ecs.describe_services(cluster="cfn-web", services=["web"])["services"]
        assert [s["status"] for s in services] in ([], ["INACTIVE"])
    except botocore.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "ClusterNotFoundException"
    clusters = ecs.describe_clusters(clusters=["cfn-web"])
    assert [c["status"] for c in clusters["clusters"]] in ([], ["INACTIVE"])
    assert make_client("logs", endpoint).describe_log_groups(logGroupNamePrefix="/cfn/web")["logGroups"] == []
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        cfn.describe_stacks(StackName="web")
    assert gone.value.response["Error"]["Message"] == "Stack with id web does not exist"


def test_boto3_create_stack_failure_rolls_back(endpoint: str) -> None:
    cfn = make_client("cloudformation", endpoint)
    body = json.dumps(
        {
            "Resources": {
                "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/cfn/kept"}},
                "Bad": {
                    "Type": "AWS::Logs::LogGroup",
                    "DependsOn": "Group",
                    "Properties": {"LogGroupName": "/cfn/taken"},
                },
            }
        }
    )
    logs = make_client("logs", endpoint)
    logs.create_log_group(logGroupName="/cfn/taken")
    stack_id = cfn.create_stack(StackName="broken", TemplateBody=body)["StackId"]
    waiter = cfn.get_waiter("stack_create_complete")
    with pytest.raises(botocore.exceptions.WaiterError):
        waiter.wait(StackName=stack_id, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    [failed] = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed["LogicalResourceId"] == "Bad"
    assert failed["ResourceStatusReason"].startswith("Resource handler returned message: ")
    assert failed["ResourceStatusReason"].endswith("HandlerErrorCode: AlreadyExists)")
    # The stack's own group is taken down by the rollback; the one it could not take stays.
    groups = logs.describe_log_groups(logGroupNamePrefix="/cfn/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/cfn/taken"]


def test_errors_have_cloudformation_codes(endpoint: str) -> None:
    cfn = make_client("cloudformation", endpoint)

    def error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            call(**kwargs)
        return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]

    assert error(cfn.describe_stacks, StackName="nope") == ("ValidationError", "Stack with id nope does not exist")
    assert (
        error(cfn.create_stack, StackName="x", TemplateBody='{"Resources": {"D": {"Type": "AWS::RDS::DBInstance"}}}')[0]
        == "ValidationError"
    )
    role = json.dumps({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}}})
    assert error(cfn.create_stack, StackName="r", TemplateBody=role) == (
        "InsufficientCapabilitiesException",
        "Requires capabilities : [CAPABILITY_IAM]",
    )
    group = json.dumps({"Resources": {"G": {"Type": "AWS::Logs::LogGroup"}}})
    cfn.create_stack(StackName="g", TemplateBody=group)
    assert error(cfn.create_stack, StackName="g", TemplateBody=group) == (
        "AlreadyExistsException",
        "Stack [g] already exists",
    )
    cfn.get_waiter("stack_create_complete").wait(StackName="g", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert error(cfn.update_stack, StackName="g", TemplateBody=group) == (
        "ValidationError",
        "No updates are to be performed.",
    )
    validated = cfn.validate_template(TemplateBody=role)
    assert validated["Capabilities"] == ["CAPABILITY_IAM"]
    cfn.delete_stack(StackName="g")
    cfn.get_waiter("stack_delete_complete").wait(StackName="g", WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_change_sets_and_exports_through_boto3(endpoint: str) -> None:
    cfn = make_client("cloudformation", endpoint)
    fast = {"Delay": 1, "MaxAttempts": 60}
    base = {
        "Parameters": {"Retention": {"Type": "Number", "Default": 7, "AllowedValues": [7, 14]}},
        "Resources": {
            "Group": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": "/cfn/shared", "RetentionInDays": {"Ref": "Retention"}},
            }
        },
        "Outputs": {"Name": {"Value": {"Ref": "Group"}, "Export": {"Name": "shared-group"}}},
    }
    created = cfn.create_change_set(
        StackName="base", ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=json.dumps(base)
    )
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=created["Id"], WaiterConfig=fast)
    shown = cfn.describe_change_set(ChangeSetName=created["Id"])
    assert [c["ResourceChange"]["Action"] for c in shown["Changes"]] == ["Add"]
    assert cfn.describe_stacks(StackName="base")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    cfn.execute_change_set(ChangeSetName=created["Id"])
    cfn.get_waiter("stack_create_complete").wait(StackName="base", WaiterConfig=fast)

    user = {
        "Resources": {
            "Stream": {
                "Type": "AWS::Logs::LogStream",
                "Properties": {"LogGroupName": {"Fn::ImportValue": "shared-group"}, "LogStreamName": "s"},
            }
        }
    }
    cfn.create_stack(StackName="user", TemplateBody=json.dumps(user))
    cfn.get_waiter("stack_create_complete").wait(StackName="user", WaiterConfig=fast)
    assert cfn.list_imports(ExportName="shared-group")["Imports"] == ["user"]
    assert cfn.list_exports()["Exports"][0]["Value"] == "/cfn/shared"

    update = cfn.create_change_set(
        StackName="base",
        ChangeSetName="second",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Retention", "ParameterValue": "14"}],
    )
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=update["Id"], WaiterConfig=fast)
    [change] = cfn.describe_change_set(ChangeSetName="second", StackName="base")["Changes"]
    assert (change["ResourceChange"]["Action"], change["ResourceChange"]["Replacement"]) == ("Modify", "False")
    cfn.execute_change_set(ChangeSetName="second", StackName="base")
    cfn.get_waiter("stack_update_complete").wait(StackName="base", WaiterConfig=fast)
    group = make_client("logs", endpoint).describe_log_groups(logGroupNamePrefix="/cfn/shared")["logGroups"][0]
    assert group["retentionInDays"] == 14
    summary = cfn.get_template_summary(StackName="base")
    assert summary["ResourceTypes"] == ["AWS::Logs::LogGroup"]
    assert summary["Parameters"][0]["ParameterConstraints"] == {"AllowedValues": ["7", "14"]}

    # An export in use cannot go with its stack.
    cfn.delete_stack(StackName="base")
    with pytest.raises(botocore.exceptions.WaiterError):
        cfn.get_waiter("stack_delete_complete").wait(StackName="base", WaiterConfig=fast)
    stack = cfn.describe_stacks(StackName="base")["Stacks"][0]
    assert (stack["StackStatus"], stack["StackStatusReason"]) == (
        "DELETE_FAILED",
        "Export shared-group cannot be deleted as it is in use by user",
    )
    for name in ("user", "base"):
        cfn.delete_stack(StackName=name)
        cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=fast)
    listed = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert sorted(s["StackName"] for s in listed) == ["base", "user"]


def test_template_url_reads_ecslite_s3(endpoint: str, tmp_path: Path) -> None:
    cfn, s3 = make_client("cloudformation", endpoint), make_client("s3", endpoint)
    s3.create_bucket(Bucket="templates")
    body = {"Resources": {"Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/cfn/url"}}}}
    s3.put_object(Bucket="templates", Key="dir/group.json", Body=json.dumps(body).encode())
    for url in (
        "https://s3.us-east-1.amazonaws.com/templates/dir/group.json",
        "https://templates.s3.amazonaws.com/dir/group.json",
    ):
        assert cfn.validate_template(TemplateURL=url)["Parameters"] == []
    cfn.create_stack(StackName="url", TemplateURL=f"{endpoint}/templates/dir/group.json")
    cfn.get_waiter("stack_create_complete").wait(StackName="url", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    shown = cfn.get_template(StackName="url")["TemplateBody"]  # boto3 decodes a JSON body
    assert (json.loads(shown) if isinstance(shown, str) else shown) == body
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        cfn.validate_template(TemplateURL="https://templates.s3.amazonaws.com/nope.json")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    assert missing.value.response["Error"]["Message"].startswith("S3 error: ")

    # aws cloudformation deploy --s3-bucket uploads the template and passes its URL.
    template = tmp_path / "group.yaml"
    template.write_text(
        "Resources:\n  Group:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: /cfn/cli\n"
    )
    cli(
        endpoint,
        tmp_path,
        "cloudformation",
        "deploy",
        "--stack-name",
        "cli",
        "--template-file",
        str(template),
        "--s3-bucket",
        "templates",
        # --endpoint-url is the cloudformation client's; the upload's S3 client reads its own.
        AWS_ENDPOINT_URL_S3=endpoint,
    )
    assert cfn.describe_stacks(StackName="cli")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert [k["Key"] for k in s3.list_objects_v2(Bucket="templates")["Contents"] if k["Key"].endswith(".template")]


@pytest.mark.slow
def test_failed_service_update_rolls_back_to_the_old_revision(endpoint: str) -> None:
    """A new revision whose container exits at once trips the deployment circuit breaker: the update
    fails with CloudFormation's text and rolls back, the service back on the first revision and the
    new one deregistered."""
    cfn, ecs = make_client("cloudformation", endpoint), make_client("ecs", endpoint)
    fast = {"Delay": 1, "MaxAttempts": 300}
    template = TEMPLATE.replace(
        "      DesiredCount: 1\n",
        "      DesiredCount: 1\n      DeploymentConfiguration:\n"
        "        DeploymentCircuitBreaker: {Enable: true, Rollback: true}\n",
    )
    parameters = [{"ParameterKey": "Subnets", "ParameterValue": subnets(endpoint)}]
    cfn.create_stack(StackName="web", TemplateBody=template, Parameters=parameters, Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName="web", WaiterConfig=fast)
    [service] = ecs.describe_services(cluster="cfn-web", services=["web"])["services"]
    first = service["taskDefinition"]

    failing = template.replace(
        "          Essential: true\n",
        '          Essential: true\n          DockerLabels: {"ecslite.fake.exit-code": "1"}\n',
    )
    previous = [{"ParameterKey": "Subnets", "UsePreviousValue": True}]
    cfn.update_stack(StackName="web", TemplateBody=failing, Parameters=previous, Capabilities=["CAPABILITY_IAM"])
    with pytest.raises(botocore.exceptions.WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName="web", WaiterConfig=fast)
    cfn.get_waiter("stack_rollback_complete").wait(StackName="web", WaiterConfig=fast)
    stack = cfn.describe_stacks(StackName="web")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="web")["StackEvents"]
    [failed] = [e for e in events if e["LogicalResourceId"] == "Service" and e["ResourceStatus"] == "UPDATE_FAILED"]
    assert "Circuit Breaker" in failed["ResourceStatusReason"]
    [service] = ecs.describe_services(cluster="cfn-web", services=["web"])["services"]
    assert service["taskDefinition"] == first
    second = first.rsplit(":", 1)[0] + ":2"
    assert ecs.describe_task_definition(taskDefinition=second)["taskDefinition"]["status"] == "INACTIVE"
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName="web")["StackResources"]}
    assert resources["TaskDef"]["PhysicalResourceId"] == first
