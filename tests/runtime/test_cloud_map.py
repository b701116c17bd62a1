"""DNS-based service discovery on the process runtime (spec/ecs.md §8.2): a service with
``serviceRegistries`` runs a real HTTP server; a second task resolves ``<service>.<namespace>``
through its VPC resolver to the first task's address and talks to it; once the service is scaled
in, the instance is gone and the name no longer resolves."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, wait_for
from tests.runtime.test_tasks_e2e import default_subnet, details, output, program, register, run, wait_status

PORT = 8080
# Resolves the service name as a libc client does, then fetches from it by name.
CLIENT = f"""
import socket, sys, time, urllib.error, urllib.request
try:
    address = socket.gethostbyname("web.e2e.local")
except socket.gaierror as error:
    print("UNRESOLVED", error.errno, flush=True)
    sys.exit(0)
print("ADDRESS", address, flush=True)
# The instance is registered when its task is RUNNING, which can come before the web server has bound
# its port (the container has no health check): connection refusals are tried again for up to 10 s.
for attempt in range(20):
    try:
        body = urllib.request.urlopen("http://web.e2e.local:{PORT}/info", timeout=5).read().decode()
        break
    except urllib.error.URLError as error:
        if not isinstance(error.reason, ConnectionRefusedError) or attempt == 19:
            raise
        time.sleep(0.5)
print("BODY", body, flush=True)
"""


def client_output(ecs: Any, server: ProcessServer, endpoint: str) -> str:
    arn = run(ecs, endpoint, register(ecs, "cm-client", program("client", "-c", CLIENT)))[0]
    task = wait_status(ecs, arn, "STOPPED", timeout=60)
    lines = "\n".join(line for _, line in output(server, arn, "client"))
    assert task["containers"][0].get("exitCode") == 0, lines
    return lines


def test_a_task_resolves_and_reaches_a_registered_service_task(
    process_ecs: Any, process_server: ProcessServer, process_endpoint: str
) -> None:
    ecs, endpoint = process_ecs, process_endpoint
    sd = make_client("servicediscovery", endpoint)
    vpc = make_client("ec2", endpoint).describe_vpcs()["Vpcs"][0]["VpcId"]
    op_id = sd.create_private_dns_namespace(Name="e2e.local", Vpc=vpc)["OperationId"]
    ns_id = sd.get_operation(OperationId=op_id)["Operation"]["Targets"]["NAMESPACE"]
    records = [{"Type": "A", "TTL": 1}, {"Type": "SRV", "TTL": 1}]
    registry = sd.create_service(Name="web", NamespaceId=ns_id, DnsConfig={"DnsRecords": records})["Service"]
    register(ecs, "cm-web", program("web", "serve.py", str(PORT), portMappings=[{"containerPort": PORT}]))
    ecs.create_service(
        serviceName="web",
        taskDefinition="cm-web",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [default_subnet(endpoint)]}},
        serviceRegistries=[{"registryArn": registry["Arn"], "containerName": "web", "containerPort": PORT}],
    )
    instances = wait_for(lambda: sd.list_instances(ServiceId=registry["Id"])["Instances"], timeout=60)
    task = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web")["taskArns"])["tasks"][0]
    address = details(task)["privateIPv4Address"]
    assert instances[0]["Id"] == task["taskArn"].rsplit("/", 1)[1]
    assert instances[0]["Attributes"]["AWS_INSTANCE_IPV4"] == address

    seen = client_output(ecs, process_server, endpoint)
    assert f"ADDRESS {address}" in seen
    assert details(task)["privateDnsName"].split(".")[0] in seen  # serve.py's hostname: the first task answered

    ecs.update_service(service="web", desiredCount=0)
    wait_for(lambda: sd.list_instances(ServiceId=registry["Id"])["Instances"] == [], timeout=60)
    assert "UNRESOLVED" in client_output(ecs, process_server, endpoint)
    wait_for(lambda: not ecs.list_tasks(serviceName="web")["taskArns"], timeout=60)
