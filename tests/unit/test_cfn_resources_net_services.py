"""CloudFormation's Cloud Map, SSM, Secrets Manager, CloudWatch, EventBridge and Scheduler resource
handlers on an in-process server: ``Ref``/``Fn::GetAtt`` values, changes in place and replacements as
CloudFormation's "Update requires" says, template-style properties, and deletes that can be repeated.
"""

from __future__ import annotations

import asyncio
import json
import string
from pathlib import Path

import pytest

from ecslite.providers.cloudformation.resources import (  # noqa: F401 - registers the types
    cloudwatch,
    events,
    scheduler,
    secretsmanager,
    servicediscovery,
    ssm,
)
from ecslite.providers.cloudformation.resources.base import ResourceFailed
from ecslite.providers.cloudformation.resources.secretsmanager import PUNCTUATION, generate
from tests.unit.test_cfn_resources_net import (
    ACCOUNT,
    REGION,
    STACK,
    Driver,
    context,
    default_network,
    refused,
    running,
)

CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"


def test_cloud_map_namespaces_and_services(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            vpc, _ = await default_network(call)
            private = Driver(call, clock, "AWS::ServiceDiscovery::PrivateDnsNamespace")
            http = Driver(call, clock, "AWS::ServiceDiscovery::HttpNamespace")
            services = Driver(call, clock, "AWS::ServiceDiscovery::Service")

            ns_props = {"Name": "internal.local", "Vpc": vpc, "Description": "first"}
            ns = await private.create("Namespace", ns_props)
            shown = (await call("servicediscovery", "GetNamespace", {"Id": ns.physical_id}))["Namespace"]
            assert ns.physical_id.startswith("ns-")
            assert ns.attributes == {
                "Id": ns.physical_id,
                "Arn": shown["Arn"],
                "HostedZoneId": shown["Properties"]["DnsProperties"]["HostedZoneId"],
            }
            assert set(ns.attributes) == private.handler.attributes
            ns_new = {**ns_props, "Description": "second", "Properties": {"DnsProperties": {"SOA": {"TTL": "60"}}}}
            assert (await private.update("Namespace", ns, ns_props, ns_new)).physical_id == ns.physical_id
            shown = (await call("servicediscovery", "GetNamespace", {"Id": ns.physical_id}))["Namespace"]
            assert shown["Description"] == "second"
            assert shown["Properties"]["DnsProperties"]["SOA"] == {"TTL": 60}
            assert private.handler.needs_replacement(ns_props, {**ns_props, "Name": "other.local"})

            web_props = {
                "Name": "web",
                "NamespaceId": ns.physical_id,
                "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": "10"}], "RoutingPolicy": "MULTIVALUE"},
                "HealthCheckCustomConfig": {"FailureThreshold": "1"},
            }
            web = await services.create("WebDiscovery", web_props)
            shown = (await call("servicediscovery", "GetService", {"Id": web.physical_id}))["Service"]
            assert web.attributes == {"Arn": shown["Arn"], "Id": web.physical_id, "Name": "web"}
            assert shown["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": 10}]
            # Records and description change in place; the routing policy or the name make a new service.
            web_new = {**web_props, "Description": "web tier"}
            web_new["DnsConfig"] = {"DnsRecords": [{"Type": "A", "TTL": 30}], "RoutingPolicy": "MULTIVALUE"}
            await services.update("WebDiscovery", web, web_props, web_new)
            shown = (await call("servicediscovery", "GetService", {"Id": web.physical_id}))["Service"]
            assert (shown["DnsConfig"]["DnsRecords"], shown["Description"]) == ([{"Type": "A", "TTL": 30}], "web tier")
            weighted = {**web_props, "DnsConfig": {**web_props["DnsConfig"], "RoutingPolicy": "WEIGHTED"}}
            assert services.handler.needs_replacement(web_props, weighted)
            assert services.handler.needs_replacement(web_props, {**web_props, "Name": "api"})

            # A namespace with a service cannot go first: the delete waits for the service to go.
            early = asyncio.ensure_future(private.handler.delete(context(call, clock, "Namespace"), ns, ns_new))
            await clock.run_for(4, 0.5)
            assert not early.done()
            await services.delete("WebDiscovery", web, web_new)
            await services.delete("WebDiscovery", web, web_new)
            await clock.run_for(4, 0.5)
            await early
            await private.delete("Namespace", ns, ns_new)
            assert (await refused(call("servicediscovery", "GetNamespace", {"Id": ns.physical_id}))).code == (
                "NamespaceNotFound"
            )

            api = await http.create("Api", {"Name": "api", "Tags": [{"Key": "tier", "Value": "api"}]})
            assert set(api.attributes) == {"Id", "Arn"}
            listed = await call("servicediscovery", "ListTagsForResource", {"ResourceARN": api.attributes["Arn"]})
            tags = {t["Key"]: t["Value"] for t in listed["Tags"]}
            assert tags["tier"] == "api" and tags["aws:cloudformation:stack-name"] == STACK
            # A service without a name gets one that is a DNS label.
            unnamed = await services.create("Orders", {"NamespaceId": api.physical_id})
            assert len(unnamed.attributes["Name"]) <= 63 and unnamed.attributes["Name"].islower()
            await services.delete("Orders", unnamed, {})
            await http.delete("Api", api, {})
            await http.delete("Api", api, {})

    asyncio.run(scenario())


def test_ssm_parameter(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            parameters = Driver(call, clock, "AWS::SSM::Parameter")
            props = {
                "Type": "String",
                "Value": "blue",
                "Description": "colour",
                "Tags": {"team": "web", "tier": "front"},
            }
            made = await parameters.create("Colour", props)
            name = made.physical_id
            assert name.startswith("CFN-Colour-")
            assert made.attributes == {"Type": "String", "Value": "blue"}
            shown = (await call("ssm", "GetParameter", {"Name": name}))["Parameter"]
            assert (shown["Value"], shown["Version"]) == ("blue", 1)
            target = {"ResourceType": "Parameter", "ResourceId": name}
            tags = {t["Key"]: t["Value"] for t in (await call("ssm", "ListTagsForResource", target))["TagList"]}
            assert tags["team"] == "web" and tags["aws:cloudformation:logical-id"] == "Colour"

            # The value, the description and the tags change in place: a new version, the same name.
            new = {**props, "Value": "green", "Tags": {"team": "ops"}}
            changed = await parameters.update("Colour", made, props, new)
            assert changed.physical_id == name and changed.attributes["Value"] == "green"
            shown = (await call("ssm", "GetParameter", {"Name": name}))["Parameter"]
            assert (shown["Value"], shown["Version"]) == ("green", 2)
            tags = {t["Key"]: t["Value"] for t in (await call("ssm", "ListTagsForResource", target))["TagList"]}
            assert tags["team"] == "ops" and "tier" not in tags
            assert parameters.handler.needs_replacement(props, {**props, "Name": "/app/colour"})
            assert not parameters.handler.needs_replacement(props, {**props, "Type": "StringList"})

            named = await parameters.create("Path", {"Name": "/app/port", "Type": "String", "Value": 8080})
            assert named.physical_id == "/app/port" and named.attributes["Value"] == "8080"
            for made_one, logical in ((made, "Colour"), (named, "Path")):
                await parameters.delete(logical, made_one, {})
                await parameters.delete(logical, made_one, {})
            assert (await refused(call("ssm", "GetParameter", {"Name": name}))).code == "ParameterNotFound"

    asyncio.run(scenario())


def test_generated_secret_strings() -> None:
    plain = generate({})
    assert len(plain) == 32
    # Every included kind is there (RequireEachIncludedType defaults to true).
    for kind in (string.ascii_lowercase, string.ascii_uppercase, string.digits, PUNCTUATION):
        assert any(c in kind for c in plain)
    spec = {
        "PasswordLength": "20",
        "ExcludePunctuation": "true",
        "ExcludeCharacters": "abc0",
        "SecretStringTemplate": '{"username": "app"}',
        "GenerateStringKey": "password",
    }
    doc = json.loads(generate(spec))
    assert doc["username"] == "app"
    password = doc["password"]
    assert len(password) == 20
    assert not set(password) & set(PUNCTUATION + "abc0")
    assert set(password) <= set(string.ascii_letters + string.digits)
    spaced = generate({"PasswordLength": 200, "IncludeSpace": True, "ExcludeNumbers": True})
    assert " " in spaced and not set(spaced) & set(string.digits)
    with pytest.raises(ResourceFailed):
        generate({"GenerateStringKey": "password"})
    with pytest.raises(ResourceFailed):
        generate(
            {"ExcludeLowercase": True, "ExcludeUppercase": True, "ExcludeNumbers": True, "ExcludePunctuation": True}
        )


def test_secret(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            secrets = Driver(call, clock, "AWS::SecretsManager::Secret")
            props = {
                "Description": "database login",
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"username": "admin"}',
                    "GenerateStringKey": "password",
                    "PasswordLength": 16,
                    "ExcludeCharacters": '"@/\\',
                },
                "Tags": [{"Key": "app", "Value": "db"}, {"Key": "tier", "Value": "data"}],
            }
            made = await secrets.create("DbSecret", props)
            arn = made.physical_id
            assert arn.startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{STACK}-DbSecret-")
            assert made.attributes == {"Id": arn}
            value = json.loads((await call("secretsmanager", "GetSecretValue", {"SecretId": arn}))["SecretString"])
            assert value["username"] == "admin" and len(value["password"]) == 16
            described = await call("secretsmanager", "DescribeSecret", {"SecretId": arn})
            assert described["Description"] == "database login"
            assert {t["Key"]: t["Value"] for t in described["Tags"]}["app"] == "db"

            # A given value replaces the generated one in place; the name makes a new secret.
            new = {"Description": "database login", "SecretString": "plain", "Tags": [{"Key": "app", "Value": "api"}]}
            assert (await secrets.update("DbSecret", made, props, new)) == made
            assert (await call("secretsmanager", "GetSecretValue", {"SecretId": arn}))["SecretString"] == "plain"
            described = await call("secretsmanager", "DescribeSecret", {"SecretId": arn})
            tags = {t["Key"]: t["Value"] for t in described["Tags"]}
            assert tags["app"] == "api" and "tier" not in tags
            assert secrets.handler.needs_replacement(new, {**new, "Name": "db-login"})

            # Gone at once (no recovery window), so a stack made again can take the same name.
            await secrets.delete("DbSecret", made, new)
            await secrets.delete("DbSecret", made, new)
            gone = await refused(call("secretsmanager", "DescribeSecret", {"SecretId": arn}))
            assert gone.code == "ResourceNotFoundException"
            again = await secrets.create("Named", {"Name": "db-login", "SecretString": "x"})
            await secrets.delete("Named", again, {})
            assert (await secrets.create("Named", {"Name": "db-login", "SecretString": "y"})).physical_id != (
                again.physical_id
            )

    asyncio.run(scenario())


def test_alarm(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            alarms = Driver(call, clock, "AWS::CloudWatch::Alarm")
            props = {
                "Namespace": "AWS/ECS",
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": "default"}],
                "Statistic": "Average",
                "Period": "60",
                "EvaluationPeriods": "2",
                "Threshold": "80.5",
                "ComparisonOperator": "GreaterThanThreshold",
                "ActionsEnabled": "false",
                "Tags": [{"Key": "team", "Value": "ops"}, {"Key": "tier", "Value": "infra"}],
            }
            made = await alarms.create("CpuHigh", props)
            name = made.physical_id
            assert name.startswith(f"{STACK}-CpuHigh-")
            [shown] = (await call("cloudwatch", "DescribeAlarms", {"AlarmNames": [name]}))["MetricAlarms"]
            assert made.attributes == {"Arn": shown["AlarmArn"]}
            assert (shown["Threshold"], shown["Period"], shown["ActionsEnabled"]) == (80.5, 60, False)
            # Settings change in place, under the same name.
            new = {**props, "Threshold": 90, "EvaluationPeriods": 3, "Tags": [{"Key": "team", "Value": "web"}]}
            assert (await alarms.update("CpuHigh", made, props, new)) == made
            [shown] = (await call("cloudwatch", "DescribeAlarms", {"AlarmNames": [name]}))["MetricAlarms"]
            assert (shown["Threshold"], shown["EvaluationPeriods"]) == (90.0, 3)
            listed = await call("cloudwatch", "ListTagsForResource", {"ResourceARN": made.attributes["Arn"]})
            tags = {t["Key"]: t["Value"] for t in listed["Tags"]}
            assert tags["team"] == "web" and "tier" not in tags
            assert alarms.handler.needs_replacement(props, {**props, "AlarmName": "cpu"})
            assert not alarms.handler.needs_replacement(props, new)
            await alarms.delete("CpuHigh", made, new)
            await alarms.delete("CpuHigh", made, new)
            assert not (await call("cloudwatch", "DescribeAlarms", {"AlarmNames": [name]}))["MetricAlarms"]

    asyncio.run(scenario())


def test_event_rule_with_targets(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            _, subnets = await default_network(call)
            rules = Driver(call, clock, "AWS::Events::Rule")
            ecs_target = {
                "Id": "RunTask",
                "Arn": CLUSTER,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
                "EcsParameters": {
                    "TaskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/job:1",
                    "TaskCount": "1",
                    "LaunchType": "FARGATE",
                    "NetworkConfiguration": {
                        "AwsVpcConfiguration": {"Subnets": subnets[:1], "AssignPublicIp": "ENABLED"}
                    },
                },
            }
            logs_target = {"Id": "Archive", "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/events", "Input": "{}"}
            props = {
                "Description": "orders",
                "EventPattern": {"source": ["shop.orders"], "detail-type": ["OrderPlaced"]},
                "State": "ENABLED",
                "Targets": [ecs_target, logs_target],
            }
            made = await rules.create("OrdersRule", props)
            name = made.physical_id
            assert name.startswith(f"{STACK}-OrdersRule-") and len(name) <= 64
            shown = await call("events", "DescribeRule", {"Name": name})
            assert made.attributes == {"Arn": shown["Arn"]}
            assert json.loads(shown["EventPattern"]) == props["EventPattern"]
            targets = (await call("events", "ListTargetsByRule", {"Rule": name}))["Targets"]
            by_id = {t["Id"]: t for t in targets}
            assert set(by_id) == {"RunTask", "Archive"}
            assert by_id["RunTask"]["EcsParameters"]["TaskCount"] == 1
            network = by_id["RunTask"]["EcsParameters"]["NetworkConfiguration"]["awsvpcConfiguration"]
            assert network["Subnets"] == subnets[:1]

            # The pattern, state and targets change in place: a target left out is removed.
            new = {**props, "State": "DISABLED", "EventPattern": {"source": ["shop.returns"]}, "Targets": [logs_target]}
            assert (await rules.update("OrdersRule", made, props, new)) == made
            shown = await call("events", "DescribeRule", {"Name": name})
            assert shown["State"] == "DISABLED" and json.loads(shown["EventPattern"]) == {"source": ["shop.returns"]}
            assert [t["Id"] for t in (await call("events", "ListTargetsByRule", {"Rule": name}))["Targets"]] == [
                "Archive"
            ]
            assert rules.handler.needs_replacement(props, {**props, "Name": "orders"})
            assert rules.handler.needs_replacement(props, {**props, "EventBusName": "other"})
            assert not rules.handler.needs_replacement(props, new)

            # Deleting removes the targets first (DeleteRule refuses a rule that has some).
            await rules.delete("OrdersRule", made, new)
            await rules.delete("OrdersRule", made, new)
            assert (await refused(call("events", "DescribeRule", {"Name": name}))).code == "ResourceNotFoundException"

            scheduled = await rules.create("Nightly", {"Name": "nightly", "ScheduleExpression": "rate(1 day)"})
            assert scheduled.physical_id == "nightly"
            await rules.delete("Nightly", scheduled, {})

    asyncio.run(scenario())


def test_schedule(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            _, subnets = await default_network(call)
            schedules = Driver(call, clock, "AWS::Scheduler::Schedule")
            target = {
                "Arn": CLUSTER,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
                "EcsParameters": {
                    "TaskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/job:1",
                    "TaskCount": "2",
                    "LaunchType": "FARGATE",
                    "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": subnets[:1]}},
                },
            }
            props = {
                "ScheduleExpression": "rate(5 minutes)",
                "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": "10"},
                "StartDate": "2030-01-01T00:00:00Z",
                "Target": target,
            }
            made = await schedules.create("Job", props)
            name = made.physical_id
            assert name.startswith(f"{STACK}-Job-") and len(name) <= 64
            shown = await call("scheduler", "GetSchedule", {"Name": name})
            assert made.attributes == {"Arn": shown["Arn"]}
            assert shown["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
            assert shown["Target"]["EcsParameters"]["TaskCount"] == 2
            assert shown["StartDate"] == 1893456000.0  # 2030-01-01T00:00:00Z

            new = {**props, "ScheduleExpression": "rate(1 hour)", "State": "DISABLED"}
            new["FlexibleTimeWindow"] = {"Mode": "OFF"}
            assert (await schedules.update("Job", made, props, new)) == made
            shown = await call("scheduler", "GetSchedule", {"Name": name})
            assert (shown["ScheduleExpression"], shown["State"]) == ("rate(1 hour)", "DISABLED")
            assert schedules.handler.needs_replacement(props, {**props, "GroupName": "jobs"})
            assert not schedules.handler.needs_replacement(props, new)

            bad = {**props, "EndDate": "next tuesday"}
            with pytest.raises(ResourceFailed):
                await schedules.create("Bad", bad)

            await schedules.delete("Job", made, new)
            await schedules.delete("Job", made, new)
            gone = await refused(call("scheduler", "GetSchedule", {"Name": name}))
            assert gone.code == "ResourceNotFoundException"

    asyncio.run(scenario())
