"""What ``ecslite up`` creates and ``ecslite down`` removes, through the public APIs only.

Each step is idempotent, so ``up`` can run again at any time: log groups and the cluster are
created when missing (a cluster's settings are updated when they differ); a task definition is
registered only when its content changed, recognised by the ``ecslite:digest`` tag of the
family's latest ACTIVE revision (sha256 of the revision ``up`` would register), so an unchanged
project registers nothing and a changed one gets a new revision that the service rolls to
(spec/ecs.md §4.4); a service is created, updated (new revision, deployment settings, desired
count when no autoscaling owns it) or left alone; scalable targets and policies are upserts.

What ``up`` registered carries the tag ``ecslite:project = <project name>``, which is how ``down``
finds the revisions to deregister without touching revisions registered by anyone else.

With ``export_to="sink"`` (``up --export-to sink``, the default), a container whose task definition
names ``LOKI_ENDPOINT``, ``TEMPO_ENDPOINT`` or ``THANOS_ENDPOINT`` gets the address of ecslite's export
sink there, through the project's environment merge, so the registered revision shows it (ECS
services take no container overrides; spec/otel-demo.md §4.1 step 2). The address is the gateway of
the subnet the services run in, where the sink listens (:mod:`ecslite.telemetry.sink`). A value the
project file sets for one of those variables is kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.cli.client import Client, CliError
from ecslite.cli.project import Project, Service, merged_definition

PROJECT_TAG = "ecslite:project"
DIGEST_TAG = "ecslite:digest"
SCALABLE_DIMENSION = "ecs:service:DesiredCount"
OPERATION_TIMEOUT_SECONDS = 60.0
EXPORT_TARGETS = ("sink", "real")
# The router's backend hosts in the seed's task definition (spec/otel-demo.md §1.2).
EXPORT_VARIABLES = ("LOKI_ENDPOINT", "TEMPO_ENDPOINT", "THANOS_ENDPOINT")


@dataclass(frozen=True, slots=True)
class Registered:
    arn: str
    definition: Mapping[str, Any]  # what was registered (containers with healthCheck, portMappings, …)
    new: bool


@dataclass(frozen=True, slots=True)
class Applied:
    service: str
    action: str  # created, updated, unchanged
    deployment_id: str
    task_definition: Registered


def _code(error: CliError) -> str:
    return error.message.split(":", 1)[0]


def digest_of(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def with_sink(service: Service, address: str) -> tuple[Service, list[str]]:
    """``service`` with every export variable its task definition names pointed at ``address``, and
    the ``container.VARIABLE`` names that were (a project file's own value for one is kept)."""
    environment = {name: dict(values) for name, values in service.environment.items()}
    changed = []
    for container in service.task_definition.get("containerDefinitions") or []:
        name = str(container.get("name"))
        for variable in container.get("environment") or []:
            key = variable.get("name")
            if key in EXPORT_VARIABLES and key not in environment.get(name, {}):
                environment.setdefault(name, {})[key] = address
                changed.append(f"{name}.{key}")
    return (dataclasses.replace(service, environment=environment), changed) if changed else (service, [])


class Deployer:
    """Applies a project to a server (``apply_*``) and removes it (``remove_*``)."""

    def __init__(
        self, client: Client, project: Project, say: Callable[[str], None], *, export_to: str = "sink"
    ) -> None:
        if export_to not in EXPORT_TARGETS:
            raise ValueError(f"export_to must be one of {', '.join(EXPORT_TARGETS)}")
        self.client = client
        self.project = project
        self.say = say
        self.cluster = project.cluster
        self.export_to = export_to
        self.sink_address: str | None = None  # set once a service's variables point at the sink
        self._subnet: dict[str, Any] | None = None

    def tags(self) -> list[dict[str, str]]:
        return [{"key": PROJECT_TAG, "value": self.project.name}]

    # -- shared resources ---------------------------------------------------------------------------

    def apply_log_groups(self) -> None:
        for group in self.project.log_groups:
            try:
                self.client.call("logs", "create_log_group", logGroupName=group.name)
                self.say(f"log group {group.name} created")
            except CliError as error:
                if _code(error) != "ResourceAlreadyExistsException":
                    raise
            if group.retention_days is not None:
                self.client.call(
                    "logs", "put_retention_policy", logGroupName=group.name, retentionInDays=group.retention_days
                )

    def apply_cluster(self) -> None:
        wanted = [{"name": k, "value": v} for k, v in self.project.cluster_settings.items()]
        found = self.client.ecs("describe_clusters", clusters=[self.cluster], include=["SETTINGS"])["clusters"]
        active = [c for c in found if c.get("status") == "ACTIVE"]
        if not active:
            self.client.ecs("create_cluster", clusterName=self.cluster, settings=wanted, tags=self.tags())
            self.say(f"cluster {self.cluster} created")
            return
        current = {s["name"]: s.get("value") for s in active[0].get("settings") or []}
        if any(current.get(s["name"]) != s["value"] for s in wanted):
            self.client.ecs("update_cluster_settings", cluster=self.cluster, settings=wanted)
            self.say(f"cluster {self.cluster} settings updated")

    def subnets(self) -> list[str]:
        return [str(self._default_subnet()["SubnetId"])]

    def _default_subnet(self) -> dict[str, Any]:
        if self._subnet is None:
            filters = [{"Name": "default-for-az", "Values": ["true"]}]
            found = self.client.call("ec2", "describe_subnets", Filters=filters)["Subnets"]
            if not found:
                raise CliError(f"The server has no default subnet in {self.client.region} for awsvpc services.")
            self._subnet = dict(found[0])
        return self._subnet

    def sink_gateway(self) -> str:
        """The export sink's address for the services' tasks: their subnet's gateway (the VPC router
        at base + 1, which ecslite puts on its bridge)."""
        cidr = ipaddress.IPv4Network(str(self._default_subnet()["CidrBlock"]))
        return str(cidr.network_address + 1)

    # -- Cloud Map ----------------------------------------------------------------------------------

    def apply_cloud_map(self, services: Sequence[Service]) -> dict[str, str]:
        """The namespace and every registry the services name; returns registry name -> service ARN.

        awsvpc tasks register A records (their own address); bridge and host tasks share the host's
        address, so their registry needs SRV records naming the port (spec/ecs.md §8.2)."""
        kinds = {r.name: _record_type(s) for s in services for r in s.registries}
        if not kinds or not self.project.namespace:
            return {}
        namespace_id = self._namespace_id() or self._create_namespace()
        existing = {s["Name"]: s["Arn"] for s in self._discovery_services(namespace_id)}
        for name, kind in sorted(kinds.items()):
            if name not in existing:
                created = self.client.call(
                    "servicediscovery",
                    "create_service",
                    Name=name,
                    NamespaceId=namespace_id,
                    DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": kind, "TTL": 10}]},
                )["Service"]
                existing[name] = created["Arn"]
                self.say(f"Cloud Map service {name}.{self.project.namespace} created")
        return {name: existing[name] for name in kinds}

    def _namespace_id(self) -> str | None:
        pages = self.client.call("servicediscovery", "list_namespaces").get("Namespaces", [])
        for namespace in pages:
            if namespace.get("Name") == self.project.namespace:
                return str(namespace["Id"])
        return None

    def _create_namespace(self) -> str:
        vpcs = self.client.call("ec2", "describe_vpcs", Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        operation = self.client.call(
            "servicediscovery",
            "create_private_dns_namespace",
            Name=self.project.namespace,
            Vpc=vpcs[0]["VpcId"],
            # One id per attempt: a retry within this run is idempotent, while a later `up` (after a
            # `down` deleted the namespace) must create it again, not get back the old operation.
            CreatorRequestId=f"ecslite-up-{self.project.namespace}-{uuid.uuid4().hex}",
        )["OperationId"]
        self._wait_operation(operation)
        found = self._namespace_id()
        if found is None:
            raise CliError(f"Cloud Map namespace {self.project.namespace} was not created.")
        self.say(f"Cloud Map namespace {self.project.namespace} created")
        return found

    def _discovery_services(self, namespace_id: str) -> list[dict[str, Any]]:
        filters = [{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}]
        found: list[dict[str, Any]] = self.client.call("servicediscovery", "list_services", Filters=filters).get(
            "Services", []
        )
        return found

    def _wait_operation(self, operation_id: str) -> None:
        deadline = time.monotonic() + OPERATION_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            operation = self.client.call("servicediscovery", "get_operation", OperationId=operation_id)["Operation"]
            if operation["Status"] == "SUCCESS":
                return
            if operation["Status"] == "FAIL":
                raise CliError(f"Cloud Map operation {operation_id} failed: {operation.get('ErrorMessage', '')}")
            time.sleep(0.2)
        raise CliError(f"Cloud Map operation {operation_id} did not finish within {OPERATION_TIMEOUT_SECONDS:.0f} s.")

    # -- task definitions and services --------------------------------------------------------------

    def register(self, service: Service, addresses: Mapping[str, str]) -> Registered:
        """The revision for ``service``: the latest one when its content is the same, else a new one."""
        if self.export_to == "sink":
            service, changed = with_sink(service, self.sink_gateway())
            if changed:
                self.sink_address = self.sink_gateway()
        definition = merged_definition(service, addresses)
        digest = digest_of(definition)
        try:
            latest = self.client.ecs("describe_task_definition", taskDefinition=service.family, include=["TAGS"])
        except CliError as error:
            if _code(error) != "ClientException":
                raise
            latest = {}
        tags = {t["key"]: t["value"] for t in latest.get("tags") or []}
        if latest and tags.get(DIGEST_TAG) == digest and latest["taskDefinition"].get("status") == "ACTIVE":
            return Registered(latest["taskDefinition"]["taskDefinitionArn"], definition, new=False)
        tagged = [*definition.get("tags", []), *self.tags(), {"key": DIGEST_TAG, "value": digest}]
        request = {**definition, "tags": tagged}
        registered = self.client.ecs("register_task_definition", **request)["taskDefinition"]
        arn = registered["taskDefinitionArn"]
        self.say(f"task definition {arn.rsplit('/', 1)[-1]} registered")
        return Registered(arn, definition, new=True)

    def apply_service(
        self, service: Service, registered: Registered, registries: Mapping[str, str], *, force: bool = False
    ) -> Applied:
        """Create the service, or update what differs; ``force`` starts a new deployment regardless."""
        current = self._current(service.name)
        config = service.deployment.configuration()
        service_registries: list[dict[str, Any]] = []
        for registry in service.registries:
            if registry.name not in registries:
                continue
            entry: dict[str, Any] = {"registryArn": registries[registry.name]}
            if _record_type(service) == "SRV":
                entry |= {"containerName": registry.container_name, "containerPort": registry.container_port}
            service_registries.append(entry)
        if current is None:
            network = {"awsvpcConfiguration": {"subnets": self.subnets(), "assignPublicIp": service.assign_public_ip}}
            params: dict[str, Any] = {
                "cluster": self.cluster,
                "serviceName": service.name,
                "taskDefinition": registered.arn,
                "desiredCount": service.desired_count,
                "launchType": service.launch_type,
                "tags": self.tags(),
            }
            if registered.definition.get("networkMode") == "awsvpc":
                params["networkConfiguration"] = network
            if config:
                params["deploymentConfiguration"] = config
            if service_registries:
                params["serviceRegistries"] = service_registries
            created = self.client.ecs("create_service", **params)["service"]
            self.say(f"service {service.name} created")
            return Applied(service.name, "created", _primary(created), registered)
        changes: dict[str, Any] = {}
        if current["taskDefinition"] != registered.arn:
            changes["taskDefinition"] = registered.arn
        if service.autoscaling is None and current["desiredCount"] != service.desired_count:
            changes["desiredCount"] = service.desired_count
        if config and any(current.get("deploymentConfiguration", {}).get(k) != v for k, v in config.items()):
            changes["deploymentConfiguration"] = config
        if service_registries and current.get("serviceRegistries") != service_registries:
            changes["serviceRegistries"] = service_registries
        if force and not changes:
            changes["forceNewDeployment"] = True
        if not changes:
            return Applied(service.name, "unchanged", _primary(current), registered)
        updated = self._on_service("update_service", service.name, **changes)["service"]
        self.say(f"service {service.name} updated ({', '.join(sorted(changes))})")
        return Applied(service.name, "updated", _primary(updated), registered)

    def _on_service(self, operation: str, name: str, **params: Any) -> dict[str, Any]:
        """UpdateService/DeleteService, whose ``service`` parameter :meth:`Client.call` cannot pass."""
        import botocore.exceptions

        try:
            result: dict[str, Any] = getattr(self.client.aws("ecs"), operation)(
                cluster=self.cluster, service=name, **params
            )
        except botocore.exceptions.ClientError as error:
            detail = error.response.get("Error", {})
            raise CliError(f"{detail.get('Code', 'Error')}: {detail.get('Message', '')}") from None
        return result

    def _current(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.client.ecs("describe_services", cluster=self.cluster, services=[name])["services"]
        except CliError as error:
            if _code(error) == "ClusterNotFoundException":
                return None
            raise
        live = [s for s in found if s.get("status") == "ACTIVE"]
        return live[0] if live else None

    def apply_autoscaling(self, service: Service) -> None:
        scaling = service.autoscaling
        if scaling is None:
            return
        resource = f"service/{self.cluster}/{service.name}"
        self.client.call(
            "application-autoscaling",
            "register_scalable_target",
            ServiceNamespace="ecs",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=scaling.min_capacity,
            MaxCapacity=scaling.max_capacity,
        )
        for policy in scaling.policies:
            self.client.call(
                "application-autoscaling",
                "put_scaling_policy",
                PolicyName=policy.policy_name,
                ServiceNamespace="ecs",
                ResourceId=resource,
                ScalableDimension=SCALABLE_DIMENSION,
                PolicyType=policy.policy_type,
                TargetTrackingScalingPolicyConfiguration=dict(policy.target_tracking),
            )

    # -- removal (ecslite down) ---------------------------------------------------------------------

    def remove_autoscaling(self, service: Service) -> None:
        if service.autoscaling is None:
            return
        try:
            self.client.call(
                "application-autoscaling",
                "deregister_scalable_target",
                ServiceNamespace="ecs",
                ResourceId=f"service/{self.cluster}/{service.name}",
                ScalableDimension=SCALABLE_DIMENSION,
            )
            self.say(f"scalable target of {service.name} deregistered")
        except CliError as error:
            if _code(error) != "ObjectNotFoundException":
                raise

    def remove_service(self, service: Service) -> bool:
        """Scale to 0 and delete (force); True when there was a service to delete."""
        if self._current(service.name) is None:
            return False
        self._on_service("update_service", service.name, desiredCount=0)
        self._on_service("delete_service", service.name, force=True)
        self.say(f"service {service.name} deleted")
        return True

    def live_tasks(self) -> list[dict[str, Any]]:
        """Tasks of the cluster that have not stopped yet."""
        try:
            arns = self.client.pages("ecs", "list_tasks", "taskArns", cluster=self.cluster, desiredStatus="RUNNING")
            arns += self.client.pages("ecs", "list_tasks", "taskArns", cluster=self.cluster, desiredStatus="STOPPED")
        except CliError as error:
            if _code(error) == "ClusterNotFoundException":
                return []
            raise
        tasks = self.client.describe_tasks(self.cluster, list(dict.fromkeys(arns)))
        return [t for t in tasks if t.get("lastStatus") != "STOPPED"]

    def remove_cloud_map(self, services: Sequence[Service]) -> None:
        names = {r.name for s in services for r in s.registries}
        if not names or not self.project.namespace:
            return
        namespace_id = self._namespace_id()
        if namespace_id is None:
            return
        for found in self._discovery_services(namespace_id):
            if found["Name"] in names:
                self._delete_discovery_service(found)
        if not self._discovery_services(namespace_id):
            operation = self.client.call("servicediscovery", "delete_namespace", Id=namespace_id)["OperationId"]
            self._wait_operation(operation)
            self.say(f"Cloud Map namespace {self.project.namespace} deleted")

    def _delete_discovery_service(self, found: Mapping[str, Any]) -> None:
        # Instances deregister as the tasks stop (ECS does it); a service with instances left cannot
        # be deleted, so wait for them briefly.
        deadline = time.monotonic() + OPERATION_TIMEOUT_SECONDS
        while True:
            try:
                self.client.call("servicediscovery", "delete_service", Id=found["Id"])
                self.say(f"Cloud Map service {found['Name']}.{self.project.namespace} deleted")
                return
            except CliError as error:
                if _code(error) != "ResourceInUse" or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def remove_task_definitions(self, services: Sequence[Service]) -> int:
        """Deregister the ACTIVE revisions of the services' families that ``up`` registered."""
        count = 0
        for family in dict.fromkeys(s.family for s in services):
            arns = self.client.pages(
                "ecs", "list_task_definitions", "taskDefinitionArns", familyPrefix=family, status="ACTIVE"
            )
            for arn in arns:
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] != family:
                    continue
                described = self.client.ecs("describe_task_definition", taskDefinition=arn, include=["TAGS"])
                tags = {t["key"]: t["value"] for t in described.get("tags") or []}
                if tags.get(PROJECT_TAG) == self.project.name:
                    self.client.ecs("deregister_task_definition", taskDefinition=arn)
                    count += 1
        if count:
            self.say(f"{count} task definition revision{'s' if count != 1 else ''} deregistered")
        return count

    def remove_cluster(self) -> None:
        try:
            self.client.ecs("delete_cluster", cluster=self.cluster)
            self.say(f"cluster {self.cluster} deleted")
        except CliError as error:
            if _code(error) != "ClusterNotFoundException":
                raise

    def remove_log_groups(self) -> None:
        for group in self.project.log_groups:
            try:
                self.client.call("logs", "delete_log_group", logGroupName=group.name)
                self.say(f"log group {group.name} deleted")
            except CliError as error:
                if _code(error) != "ResourceNotFoundException":
                    raise


def _record_type(service: Service) -> str:
    return "A" if service.task_definition.get("networkMode") == "awsvpc" else "SRV"


def _primary(service: Mapping[str, Any]) -> str:
    for deployment in service.get("deployments") or []:
        if deployment.get("status") == "PRIMARY":
            return str(deployment["id"])
    return ""
