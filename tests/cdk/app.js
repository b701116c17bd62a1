// The CDK app tests/integration/test_cdk.py deploys to ecslite: a Fargate service in the default VPC
// (found by Vpc.fromLookup, which needs the stack's account and region), a log group, and a GREETING
// variable from context so that a second deploy makes a new task definition revision.
"use strict";
const cdk = require("aws-cdk-lib");
const ec2 = require("aws-cdk-lib/aws-ec2");
const ecs = require("aws-cdk-lib/aws-ecs");
const logs = require("aws-cdk-lib/aws-logs");

const app = new cdk.App();
const stack = new cdk.Stack(app, app.node.tryGetContext("stackName") || "EcsliteCdk", {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
const context = (name) => String(app.node.getContext(name));

const vpc = ec2.Vpc.fromLookup(stack, "DefaultVpc", { isDefault: true });
const cluster = new ecs.Cluster(stack, "Cluster", { vpc });
const logGroup = new logs.LogGroup(stack, "Logs", {
  retention: logs.RetentionDays.ONE_WEEK,
  removalPolicy: cdk.RemovalPolicy.DESTROY,
});
const taskDefinition = new ecs.FargateTaskDefinition(stack, "Task", { cpu: 256, memoryLimitMiB: 512 });
taskDefinition.addContainer("web", {
  image: ecs.ContainerImage.fromRegistry(app.node.tryGetContext("image") || "public.ecr.aws/nginx/nginx:1.27"),
  environment: { GREETING: context("greeting") },
  portMappings: [{ containerPort: 80 }],
  logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: "web" }),
  // Healthy after its first check: without one, ECS counts a task healthy 40 s after RUNNING, and
  // each deploy would wait that long for the service to be stable.
  healthCheck: { command: ["CMD-SHELL", "exit 0"], interval: cdk.Duration.seconds(5) },
});
const service = new ecs.FargateService(stack, "Service", {
  cluster,
  taskDefinition,
  desiredCount: 1,
  minHealthyPercent: 100,
  assignPublicIp: true,
  vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
});
new cdk.CfnOutput(stack, "ServiceName", { value: service.serviceName });
new cdk.CfnOutput(stack, "ClusterName", { value: cluster.clusterName });
