"""ACTIVATING and DEACTIVATING (spec/ecs.md §3.1, §3.4, §7.4, §8.2) on the fake runtime and clock:
service tasks with Cloud Map registries or load balancers are registered before they are RUNNING
and deregistered, then drained, before any container gets its stop signal; other tasks skip both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecslite.control.task_activation import Target
from ecslite.providers.base import RequestContext
from ecslite.providers.servicediscovery.provider import ServiceDiscoveryProvider
from ecslite.store import cloudmap as cloudmap_store
from ecslite.store import elbv2 as elb_store
from ecslite.store import tasks as task_store
from ecslite.store import vpc as vpc_store
from tests.unit.test_service_harness import ACCOUNT, REGION, ServiceHarness, run

TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web/0123456789abcdef"
PORT = 8080


LOAD_BALANCER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/0123456789abcdef"
LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web/0123456789abcdef/0123456789abcdef"


class TargetGroupsLog:
    """ELBv2's side as the test sees it: every call with its simulated time. The group exists in
    the store, used by a load balancer's listener, as CreateService requires (§4.1)."""

    def __init__(self, h: ServiceHarness, delay: float) -> None:
        self.h = h
        with h.db.transaction():
            elb_store.insert_load_balancer(
                h.db, ACCOUNT, REGION, {"LoadBalancerArn": LOAD_BALANCER, "LoadBalancerName": "web"}
            )
            vpc = vpc_store.default_vpc(h.db, ACCOUNT, REGION)
            assert vpc is not None
            group = {
                "TargetGroupArn": TARGET_GROUP,
                "TargetGroupName": "web",
                "TargetType": "ip",
                "VpcId": vpc["VpcId"],
            }
            elb_store.insert_target_group(h.db, ACCOUNT, REGION, group, {})
            elb_store.set_links(h.db, LISTENER, LOAD_BALANCER, [TARGET_GROUP])
        self.delay = delay
        self.calls: list[tuple[str, tuple[Target, ...], float]] = []

    def register(self, targets: Sequence[Target], now: float) -> None:
        self.calls.append(("register", tuple(targets), now))

    def deregister(self, targets: Sequence[Target], now: float) -> float:
        self.calls.append(("deregister", tuple(targets), now))
        return self.delay

    def of(self, target: Target) -> list[tuple[str, float]]:
        """The calls that named ``target`` (a stopped service task gets a successor, registered too)."""
        return [(kind, at) for kind, targets, at in self.calls if target in targets]


class Timeline:
    """Each task write with the Cloud Map instances and signals that existed when it was made."""

    def __init__(self, h: ServiceHarness, registry_id: str | None = None) -> None:
        self.h = h
        self.registry_id = registry_id
        self.rows: list[dict[str, Any]] = []
        h.db.subscribe(self._record)

    def _record(self, changes: Any) -> None:
        for change in changes:
            if change.kind != task_store.KIND or (doc := task_store.get(self.h.db, change.key)) is None:
                continue
            instances = (
                [i.id for i in cloudmap_store.instances(self.h.db, ACCOUNT, REGION, self.registry_id)]
                if self.registry_id
                else []
            )
            signals = [c for c in self.h.runtime.calls if c[0] == "signal"]
            self.rows.append({"doc": doc, "instances": instances, "signals": len(signals), "at": self.h.clock.now()})

    @property
    def arn(self) -> str:
        """The first task written: the one each test follows (a stopped service task gets a successor)."""
        return str(self.rows[0]["doc"]["taskArn"])

    def mine(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["doc"]["taskArn"] == self.arn]

    def statuses(self) -> list[str]:
        out: list[str] = []
        for row in self.mine():
            if not out or out[-1] != row["doc"]["lastStatus"]:
                out.append(row["doc"]["lastStatus"])
        return out

    def first(self, status: str) -> dict[str, Any]:
        return next(r for r in self.mine() if r["doc"]["lastStatus"] == status)

    def task(self) -> dict[str, Any]:
        doc = task_store.get(self.h.db, self.arn)
        assert doc is not None
        return doc


def cloud_map(h: ServiceHarness) -> tuple[ServiceDiscoveryProvider, RequestContext, dict[str, Any]]:
    sd = ServiceDiscoveryProvider(h.db, h.clock, h.settings)
    ctx = RequestContext(account=ACCOUNT, region=REGION, request_id="t", service="servicediscovery", operation="t")
    sd.prepare(ctx)
    vpc = vpc_store.default_vpc(h.db, ACCOUNT, REGION)
    assert vpc is not None
    op = sd.create_private_dns_namespace(ctx, {"Name": "shop.local", "Vpc": vpc["VpcId"]})["OperationId"]
    namespace = sd.get_operation(ctx, {"OperationId": op})["Operation"]["Targets"]["NAMESPACE"]
    records = {"DnsRecords": [{"Type": "A", "TTL": 10}]}
    service = sd.create_service(ctx, {"Name": "web", "NamespaceId": namespace, "DnsConfig": records})["Service"]
    return sd, ctx, dict(service)


def target_of(task: dict[str, Any]) -> Target:
    """The ``ip`` target of an awsvpc task: its ENI address and the container port (§7.4)."""
    details = task["attachments"][0]["details"]
    return Target(TARGET_GROUP, next(d["value"] for d in details if d["name"] == "privateIPv4Address"), PORT)


def registered_service(h: ServiceHarness) -> tuple[Timeline, dict[str, Any]]:
    _, _, registry = cloud_map(h)
    timeline = Timeline(h, registry["Id"])
    h.register(health=False, portMappings=[{"containerPort": PORT}])
    h.create(serviceRegistries=[{"registryArn": registry["Arn"]}])
    return timeline, registry


def test_registry_task_is_registered_in_activating_before_it_runs() -> None:
    async def scenario(h: ServiceHarness) -> None:
        timeline, _ = registered_service(h)
        await h.until(lambda: h.describe()["runningCount"] == 1)
        task = timeline.task()
        assert timeline.statuses() == ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]
        activating, running = timeline.first("ACTIVATING"), timeline.first("RUNNING")
        # The containers are up in ACTIVATING, the task is not started yet and not registered yet.
        assert [c["lastStatus"] for c in activating["doc"]["containers"]] == ["RUNNING"]
        assert "startedAt" not in activating["doc"] and activating["instances"] == []
        assert running["instances"] == [task["taskArn"].rsplit("/", 1)[1]]
        assert running["doc"]["startedAt"] >= activating["doc"]["pullStoppedAt"]
        assert activating["doc"]["version"] > timeline.first("PENDING")["doc"]["version"]
        assert running["doc"]["version"] > activating["doc"]["version"]
        assert task["_run"]["activation"]["serviceRegistries"][0]["registryArn"].endswith(timeline.registry_id or "")

    run(scenario)


def test_stop_deregisters_in_deactivating_before_any_container_is_signalled() -> None:
    async def scenario(h: ServiceHarness) -> None:
        timeline, _ = registered_service(h)
        await h.until(lambda: h.describe()["runningCount"] == 1)
        arn = timeline.task()["taskArn"]
        h.stop_task(arn)
        await h.until(lambda: timeline.task()["lastStatus"] == "STOPPED")
        statuses = timeline.statuses()
        assert statuses[statuses.index("RUNNING") :] == [
            "RUNNING",
            "DEACTIVATING",
            "STOPPING",
            "DEPROVISIONING",
            "STOPPED",
        ]
        deactivating, stopping = timeline.first("DEACTIVATING"), timeline.first("STOPPING")
        assert deactivating["signals"] == 0 and stopping["signals"] == 0
        assert stopping["instances"] == []
        assert deactivating["doc"]["desiredStatus"] == "STOPPED"
        assert timeline.task()["containers"][0]["exitCode"] == 143  # SIGTERM came, after deregistration

    run(scenario)


def test_load_balancer_targets_drain_for_the_delay_before_sigterm() -> None:
    async def scenario(h: ServiceHarness) -> None:
        balancer = TargetGroupsLog(h, delay=300.0)
        h.tasks.reconciler.activation.target_groups = balancer
        timeline = Timeline(h)
        h.register(health=False, portMappings=[{"containerPort": PORT}])
        lbs = [{"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": PORT}]
        h.create(loadBalancers=lbs)
        await h.until(lambda: h.describe()["runningCount"] == 1)
        task = timeline.task()
        target = target_of(task)
        assert balancer.calls == [("register", (target,), timeline.first("ACTIVATING")["at"])]
        assert task["startedAt"] == round(timeline.first("RUNNING")["at"], 3)

        stopped_at = h.clock.now()
        h.stop_task(task["taskArn"])
        await h.run(299.0)
        assert timeline.task()["lastStatus"] == "DEACTIVATING"
        assert not [c for c in h.runtime.calls if c[0] == "signal"]
        assert balancer.of(target)[1] == ("deregister", stopped_at)
        await h.until(lambda: timeline.task()["lastStatus"] == "STOPPED", limit=60)
        stopping = timeline.first("STOPPING")
        assert stopping["at"] >= stopped_at + 300.0
        assert [kind for kind, _ in balancer.of(target)] == ["register", "deregister"]
        assert timeline.statuses()[-4:] == ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]

    run(scenario)


def test_a_repeated_step_neither_deregisters_again_nor_restarts_the_delay() -> None:
    async def scenario(h: ServiceHarness) -> None:
        balancer = TargetGroupsLog(h, delay=120.0)
        h.tasks.reconciler.activation.target_groups = balancer
        timeline = Timeline(h)
        h.register(health=False, portMappings=[{"containerPort": PORT}])
        h.create(loadBalancers=[{"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": PORT}])
        await h.until(lambda: h.describe()["runningCount"] == 1)
        arn = timeline.task()["taskArn"]
        start = h.clock.now()
        h.stop_task(arn)
        await h.run(60.0)
        for _ in range(3):
            await h.tasks.reconciler.reconcile(arn)
        assert [kind for kind, _ in balancer.of(target_of(timeline.task()))] == ["register", "deregister"]
        assert [c[0] for c in balancer.calls].count("deregister") == 1
        assert timeline.task()["_run"]["deactivation"]["drainUntil"] == round(start, 3) + 120.0
        waited = await h.until(lambda: timeline.task()["lastStatus"] != "DEACTIVATING", limit=120)
        assert 59.0 <= waited <= 61.0

    run(scenario)


def test_tasks_without_attachments_skip_activating_and_deactivating() -> None:
    async def scenario(h: ServiceHarness) -> None:
        timeline = Timeline(h)
        h.register(health=False)
        h.create()
        await h.until(lambda: h.describe()["runningCount"] == 1)
        h.stop_task(timeline.task()["taskArn"])
        await h.until(lambda: timeline.task()["lastStatus"] == "STOPPED")
        assert timeline.statuses() == ["PROVISIONING", "PENDING", "RUNNING", "STOPPING", "DEPROVISIONING", "STOPPED"]
        assert "activation" not in timeline.task()["_run"]

    run(scenario)


def test_a_task_stopped_before_its_containers_started_has_nothing_to_deactivate() -> None:
    async def scenario(h: ServiceHarness) -> None:
        _, _, registry = cloud_map(h)
        timeline = Timeline(h, registry["Id"])
        # An image that takes a minute to pull keeps the task PENDING.
        h.register(
            health=False, portMappings=[{"containerPort": PORT}], dockerLabels={"ecslite.fake.pull-seconds": "60"}
        )
        h.create(serviceRegistries=[{"registryArn": registry["Arn"]}])
        await h.run(10.0)
        assert timeline.task()["lastStatus"] == "PENDING"
        h.update(desiredCount=0)
        await h.until(lambda: timeline.task()["lastStatus"] == "STOPPED", limit=120)
        assert timeline.statuses() == ["PROVISIONING", "PENDING", "STOPPING", "DEPROVISIONING", "STOPPED"]
        assert all(row["instances"] == [] for row in timeline.rows)

    run(scenario)
