"""The AWS managed policies ecslite knows, by name, with the path that is part of their ARN.

IAM answers ``NoSuchEntity`` for a policy ARN that names nothing, and ARNs of AWS managed policies
carry a path (``arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy``), so the
path must match too. The list holds the policies ECS set-ups attach (task execution, logs, SSM for
ECS Exec, registries, X-Ray, Cloud Map) and the common broad ones; policies are stored and shown,
never evaluated. Customer managed policies (``arn:aws:iam::<account>:policy/…``) live in the store
(``policies.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy"

_PATHS = {
    "AdministratorAccess": "/",
    "PowerUserAccess": "/",
    "ReadOnlyAccess": "/",
    "IAMFullAccess": "/",
    "IAMReadOnlyAccess": "/",
    "AmazonECSTaskExecutionRolePolicy": "/service-role/",
    "AmazonECS_FullAccess": "/",
    "AmazonEC2ContainerServiceforEC2Role": "/service-role/",
    "AmazonEC2ContainerServiceRole": "/service-role/",
    "AmazonEC2ContainerServiceAutoscaleRole": "/service-role/",
    "AmazonEC2ContainerServiceEventsRole": "/service-role/",
    "AmazonECSInfrastructureRolePolicyForVolumes": "/service-role/",
    "AmazonECSInfrastructureRolePolicyForServiceConnectTransportLayerSecurity": "/service-role/",
    "AmazonECSInfrastructureRolePolicyForLoadBalancers": "/",
    "AmazonECSInfrastructureRolePolicyForManagedInstances": "/",
    "AWSCloudFormationReadOnlyAccess": "/",  # the CDK's bootstrap deploy role
    "AWSCloudFormationFullAccess": "/",
    "AmazonEC2ContainerRegistryReadOnly": "/",
    "AmazonEC2ContainerRegistryPowerUser": "/",
    "AmazonEC2ContainerRegistryFullAccess": "/",
    "AmazonEC2ContainerRegistryPullOnly": "/",
    "CloudWatchLogsFullAccess": "/",
    "CloudWatchLogsReadOnlyAccess": "/",
    "CloudWatchFullAccess": "/",
    "CloudWatchFullAccessV2": "/",
    "CloudWatchReadOnlyAccess": "/",
    "CloudWatchAgentServerPolicy": "/",
    "CloudWatchAgentAdminPolicy": "/",
    "AmazonSSMManagedInstanceCore": "/",
    "AmazonSSMFullAccess": "/",
    "AmazonSSMReadOnlyAccess": "/",
    "AmazonSSMManagedEC2InstanceDefaultPolicy": "/",
    "SecretsManagerReadWrite": "/",
    "AWSXrayWriteOnlyAccess": "/",
    "AWSXRayDaemonWriteAccess": "/",
    "AWSXrayReadOnlyAccess": "/",
    "AWSXrayFullAccess": "/",
    "AmazonPrometheusRemoteWriteAccess": "/",
    "AmazonPrometheusQueryAccess": "/",
    "AmazonPrometheusFullAccess": "/",
    "AWSCloudMapFullAccess": "/",
    "AWSCloudMapReadOnlyAccess": "/",
    "AWSCloudMapDiscoverInstanceAccess": "/",
    "AWSCloudMapRegisterInstanceAccess": "/",
    "AWSAppMeshEnvoyAccess": "/",
    "ElasticLoadBalancingFullAccess": "/",
    "ElasticLoadBalancingReadOnly": "/",
    "AmazonS3FullAccess": "/",
    "AmazonS3ReadOnlyAccess": "/",
    "AmazonDynamoDBFullAccess": "/",
    "AmazonDynamoDBReadOnlyAccess": "/",
    "AmazonSQSFullAccess": "/",
    "AmazonSQSReadOnlyAccess": "/",
    "AmazonSNSFullAccess": "/",
    "AmazonSNSReadOnlyAccess": "/",
    "AmazonKinesisFirehoseFullAccess": "/",
    "AmazonKinesisFullAccess": "/",
    "AmazonRDSFullAccess": "/",
    "AmazonRDSReadOnlyAccess": "/",
    "AmazonEC2FullAccess": "/",
    "AmazonEC2ReadOnlyAccess": "/",
    "AmazonVPCFullAccess": "/",
    "AmazonVPCReadOnlyAccess": "/",
    "AWSLambdaBasicExecutionRole": "/service-role/",
    "AWSLambda_FullAccess": "/",
    "AWSLambdaVPCAccessExecutionRole": "/service-role/",
    "AmazonEventBridgeFullAccess": "/",
    "AmazonEventBridgeReadOnlyAccess": "/",
    "AWSKeyManagementServicePowerUser": "/",
    "AutoScalingFullAccess": "/",
    "AutoScalingReadOnlyAccess": "/",
    "AmazonElastiCacheFullAccess": "/",
    "AmazonOpenSearchServiceFullAccess": "/",
    "AWSStepFunctionsFullAccess": "/",
    "AmazonAPIGatewayPushToCloudWatchLogs": "/service-role/",
    "AWSCodeDeployRoleForECS": "/",
    "AWSCodeDeployRoleForECSLimited": "/",
    "AmazonSESFullAccess": "/",
}


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    name: str
    path: str

    @property
    def arn(self) -> str:
        return f"{AWS_POLICY_PREFIX}{self.path}{self.name}"


_BY_ARN = {policy.arn: policy for policy in (ManagedPolicy(name, path) for name, path in _PATHS.items())}


def managed_policy(arn: str) -> ManagedPolicy | None:
    """The AWS managed policy ``arn`` names exactly, or ``None``."""
    return _BY_ARN.get(arn)


def all_managed_policies() -> list[ManagedPolicy]:
    """Every AWS managed policy ecslite knows."""
    return list(_BY_ARN.values())
