"""A Fargate service behind a load balancer with target-tracking scaling, as a CloudFormation stack
through boto3: security groups, load balancer, target group, listener, execution role, log group,
task definition, service and scalable target with its policy are made in order through ecslite's
own providers; the service's tasks are registered in the target group; an update of DesiredCount
changes the service in place; the stack's delete takes everything down."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import make_client

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  VpcId: {Type: AWS::EC2::VPC::Id}
  Subnets: {Type: "List<AWS::EC2::Subnet::Id>"}
Resources:
  Cluster: {Type: AWS::ECS::Cluster}
  LbSg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: lb
      VpcId: !Ref VpcId
      SecurityGroupIngress: [{IpProtocol: tcp, FromPort: 80, ToPort: 80, CidrIp: 0.0.0.0/0}]
  TaskSg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: tasks
      VpcId: !Ref VpcId
  TaskIngress:
    Type: AWS::EC2::SecurityGroupIngress
    Properties: {GroupId: !Ref TaskSg, IpProtocol: tcp, FromPort: 80, ToPort: 80, SourceSecurityGroupId: !Ref LbSg}
  Lb:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties: {Subnets: !Ref Subnets, SecurityGroups: [!Ref LbSg], Scheme: internet-facing}
  Tg:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Port: 80
      Protocol: HTTP
      TargetType: ip
      VpcId: !Ref VpcId
      HealthCheckPath: /
      # The service's delete waits for its targets' deregistration delay (300 s by default).
      TargetGroupAttributes: [{Key: deregistration_delay.timeout_seconds, Value: "5"}]
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref Lb
      Port: 80
      Protocol: HTTP
      DefaultActions: [{Type: forward, TargetGroupArn: !Ref Tg}]
  Logs: {Type: AWS::Logs::LogGroup}
  ExecRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: ecs-tasks.amazonaws.com}, Action: sts:AssumeRole}]
      ManagedPolicyArns: [arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy]
  TaskDef:
    Type: AWS::ECS::TaskDefinition
    Properties:
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: 256
      Memory: 512
      ExecutionRoleArn: !GetAtt ExecRole.Arn
      ContainerDefinitions:
        - Name: web
          Image: nginx
          PortMappings: [{ContainerPort: 80}]
          LogConfiguration:
            LogDriver: awslogs
            Options: {awslogs-group: !Ref Logs, awslogs-region: !Ref "AWS::Region", awslogs-stream-prefix: web}
  Service:
    Type: AWS::ECS::Service
    DependsOn: Listener
    Properties:
      Cluster: !Ref Cluster
      TaskDefinition: !Ref TaskDef
      DesiredCount: 2
      LaunchType: FARGATE
      NetworkConfiguration:
        AwsvpcConfiguration: {Subnets: !Ref Subnets, SecurityGroups: [!Ref TaskSg], AssignPublicIp: ENABLED}
      LoadBalancers: [{ContainerName: web, ContainerPort: 80, TargetGroupArn: !Ref Tg}]
  Scalable:
    Type: AWS::ApplicationAutoScaling::ScalableTarget
    Properties:
      MaxCapacity: 4
      MinCapacity: 2
      ResourceId: !Join ["/", [service, !Ref Cluster, !GetAtt Service.Name]]
      ScalableDimension: ecs:service:DesiredCount
      ServiceNamespace: ecs
  CpuPolicy:
    Type: AWS::ApplicationAutoScaling::ScalingPolicy
    Properties:
      PolicyName: cpu
      PolicyType: TargetTrackingScaling
      ScalingTargetId: !Ref Scalable
      TargetTrackingScalingPolicyConfiguration:
        TargetValue: 50
        PredefinedMetricSpecification: {PredefinedMetricType: ECSServiceAverageCPUUtilization}
Outputs:
  Url: {Value: !Sub "http://${Lb.DNSName}"}
"""


def wait_stack(cfn: Any, name: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        assert time.monotonic() < deadline, f"stack still {stack['StackStatus']}"
        time.sleep(0.5)


def failures(cfn: Any, name: str) -> list[tuple[str, str, str]]:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        for e in events
        if "FAILED" in e["ResourceStatus"]
    ]


def test_service_behind_a_load_balancer(endpoint: str) -> None:
    cfn, ec2, ecs, elbv2 = (make_client(s, endpoint) for s in ("cloudformation", "ec2", "ecs", "elbv2"))
    subnets = ",".join(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"][:2])
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    parameters = [
        {"ParameterKey": "VpcId", "ParameterValue": vpc},
        {"ParameterKey": "Subnets", "ParameterValue": subnets},
    ]
    cfn.create_stack(StackName="alb", TemplateBody=TEMPLATE, Parameters=parameters, Capabilities=["CAPABILITY_IAM"])
    stack = wait_stack(cfn, "alb")
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, "alb")
    ids = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="alb")["StackResources"]
    }
    [balancer] = elbv2.describe_load_balancers(LoadBalancerArns=[ids["Lb"]])["LoadBalancers"]
    assert stack["Outputs"] == [{"OutputKey": "Url", "OutputValue": f"http://{balancer['DNSName']}"}]
    [service] = ecs.describe_services(cluster=ids["Cluster"], services=[ids["Service"]])["services"]
    assert service["loadBalancers"][0]["targetGroupArn"] == ids["Tg"] and service["runningCount"] == 2
    targets = elbv2.describe_target_health(TargetGroupArn=ids["Tg"])["TargetHealthDescriptions"]
    assert len(targets) == 2
    scaling = make_client("application-autoscaling", endpoint)
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == f"service/{ids['Cluster']}/{service['serviceName']}"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)

    cfn.update_stack(
        StackName="alb",
        TemplateBody=TEMPLATE.replace("DesiredCount: 2", "DesiredCount: 3"),
        Parameters=[
            {"ParameterKey": "VpcId", "UsePreviousValue": True},
            {"ParameterKey": "Subnets", "UsePreviousValue": True},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = wait_stack(cfn, "alb")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", failures(cfn, "alb")
    [service] = ecs.describe_services(cluster=ids["Cluster"], services=[ids["Service"]])["services"]
    assert (service["serviceArn"], service["desiredCount"], service["runningCount"]) == (ids["Service"], 3, 3)

    cfn.delete_stack(StackName="alb")
    stack = wait_stack(cfn, stack["StackId"])
    assert stack["StackStatus"] == "DELETE_COMPLETE", failures(cfn, stack["StackId"])
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
