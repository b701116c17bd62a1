"""ACTIVATING and DEACTIVATING on the process runtime (spec/ecs.md §3.1, §3.4, §8.2): a service task
with a Cloud Map registry runs a real HTTP server; once RUNNING it is registered with its address
and answers there; scaled in, it announces DEACTIVATING, leaves Cloud Map and only then is stopped."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_client
from tests.integration.test_task_activation import statuses, task_events, wait_for
from tests.runtime.test_tasks_e2e import default_subnet, details, info, program, register, wait_status

PORT = 8080


def test_a_registered_service_task_activates_and_deactivates_for_real(process_ecs: Any, process_endpoint: str) -> None:
    ecs, endpoint = process_ecs, process_endpoint
    sd = make_client("servicediscovery", endpoint)
    vpc = make_client("ec2", endpoint).describe_vpcs()["Vpcs"][0]["VpcId"]
    op_id = sd.create_private_dns_namespace(Name="act.local", Vpc=vpc)["OperationId"]
    ns_id = sd.get_operation(OperationId=op_id)["Operation"]["Targets"]["NAMESPACE"]
    records = {"DnsRecords": [{"Type": "A", "TTL": 1}]}
    registry = sd.create_service(Name="web", NamespaceId=ns_id, DnsConfig=records)["Service"]
    register(ecs, "act-web", program("web", "serve.py", str(PORT), portMappings=[{"containerPort": PORT}]))
    ecs.create_service(
        serviceName="web",
        taskDefinition="act-web",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [default_subnet(endpoint)]}},
        serviceRegistries=[{"registryArn": registry["Arn"]}],
    )
    arn = wait_for(lambda: ecs.list_tasks(serviceName="web")["taskArns"])[0]
    task = wait_status(ecs, arn, "RUNNING", timeout=60)
    address = details(task)["privateIPv4Address"]
    instances = sd.list_instances(ServiceId=registry["Id"])["Instances"]
    assert [(i["Id"], i["Attributes"]["AWS_INSTANCE_IPV4"]) for i in instances] == [(arn.rsplit("/", 1)[1], address)]
    assert info(address, PORT)  # registered while the server really answers at that address
    assert statuses(task_events(endpoint, arn)) == ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]

    ecs.update_service(service="web", desiredCount=0)
    stopped = wait_status(ecs, arn, "STOPPED", timeout=60)
    events = task_events(endpoint, arn)
    assert statuses(events)[3:] == ["RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    deactivating = next(e for e in events if e["lastStatus"] == "DEACTIVATING")
    assert [c["lastStatus"] for c in deactivating["containers"]] == ["RUNNING"]
    assert sd.list_instances(ServiceId=registry["Id"])["Instances"] == []
    assert stopped["containers"][0].get("exitCode") is not None
    ecs.delete_service(service="web")
