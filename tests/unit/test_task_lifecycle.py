"""The task controller walks every lifecycle path of spec/ecs.md §3 on the fake runtime and a fake clock."""

from __future__ import annotations

from ecslite.model.tasks import TIMESTAMP_ORDER
from tests.unit.test_task_harness import Harness, container, definition, labels, run, started


def assert_timestamps_ordered(task: dict[str, object]) -> None:
    present = [float(task[f]) for f in TIMESTAMP_ORDER if task.get(f) is not None]  # type: ignore[arg-type]
    assert present == sorted(present), {f: task.get(f) for f in TIMESTAMP_ORDER}


def test_fargate_task_goes_through_provisioning_and_pending_to_running() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch()
        assert h.task(arn)["lastStatus"] == "PROVISIONING"
        assert h.task(arn)["attachments"][0]["status"] == "PRECREATED"
        task = await h.until(arn, "RUNNING")
        assert h.statuses(arn) == ["PROVISIONING", "PENDING", "RUNNING"]
        assert task["connectivity"] == "CONNECTED"
        attachment = task["attachments"][0]
        details = {d["name"]: d["value"] for d in attachment["details"]}
        assert attachment["status"] == "ATTACHED"
        # The first address of the first default subnet (172.31.0.0/20) after AWS's four reserved ones.
        assert details["privateIPv4Address"] == "172.31.0.4"
        assert details["networkInterfaceId"].startswith("eni-") and len(details["networkInterfaceId"]) == 21
        assert details["privateDnsName"] == "ip-172-31-0-4.ec2.internal"
        assert details["macAddress"] == task["_run"]["network"]["mac"] and details["macAddress"].startswith("0a:")
        app = task["containers"][0]
        assert app["lastStatus"] == "RUNNING"
        assert app["runtimeId"].startswith(h.task_id(arn) + "-") and len(app["runtimeId"].split("-")[1]) == 10
        assert app["networkInterfaces"] == [{"attachmentId": attachment["id"], "privateIpv4Address": "172.31.0.4"}]
        assert app["imageDigest"].startswith("sha256:")
        assert task["pullStartedAt"] <= task["pullStoppedAt"] <= task["startedAt"]
        assert task["version"] >= 5
        assert_timestamps_ordered(task)
        await h.controller.stop()

    run(scenario())


def test_stop_request_walks_stopping_and_deprovisioning_to_stopped() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch()
        await h.until(arn, "RUNNING")
        h.stop(arn, "maintenance")
        task = h.task(arn)
        assert (task["desiredStatus"], task["lastStatus"]) == ("STOPPED", "RUNNING")
        task = await h.until(arn, "STOPPED")
        assert h.statuses(arn)[-4:] == ["RUNNING", "STOPPING", "DEPROVISIONING", "STOPPED"]
        assert task["stopCode"] == "UserInitiated" and task["stoppedReason"] == "maintenance"
        assert task["containers"][0]["exitCode"] == 143
        assert task["attachments"][0]["status"] == "DELETED"
        assert_timestamps_ordered(task)
        assert task["executionStoppedAt"] and task["stoppedAt"]
        assert h.task_id(arn) not in await h.runtime.sandboxes()
        await h.controller.stop()

    run(scenario())


def test_essential_container_exit_stops_the_task_and_keeps_the_exit_code() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **labels(run_seconds=3, exit_code=2)), container("side")))
        await h.until(arn, "RUNNING")
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["stoppedReason"] == "Essential container in task exited"
        codes = {c["name"]: c.get("exitCode") for c in task["containers"]}
        assert codes == {"app": 2, "side": 143}
        assert_timestamps_ordered(task)
        await h.controller.stop()

    run(scenario())


def test_essential_exit_with_code_zero_still_stops_the_task() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("job", **labels(run_seconds=1))))
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["containers"][0]["exitCode"] == 0
        await h.controller.stop()

    run(scenario())


def test_non_essential_exit_stops_only_that_container() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(container("app"), container("init", essential=False, **labels(run_seconds=2, exit_code=1)))
        )
        await h.until(arn, "RUNNING")
        await h.run(5)
        task = h.task(arn)
        assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
        assert h.container(arn, "init")["lastStatus"] == "STOPPED"
        assert h.container(arn, "init")["exitCode"] == 1
        assert h.container(arn, "app")["lastStatus"] == "RUNNING"
        await h.controller.stop()

    run(scenario())


def test_oom_kill_reports_137_and_the_ecs_oom_reason() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", memory=128, **labels(oom_after_seconds=2))))
        task = await h.until(arn, "STOPPED")
        app = task["containers"][0]
        assert app["exitCode"] == 137
        assert app["reason"] == "OutOfMemoryError: Container killed due to memory usage"
        assert task["stopCode"] == "EssentialContainerExited"
        await h.controller.stop()

    run(scenario())


def test_sigkill_after_stop_timeout_when_sigterm_is_ignored() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", stopTimeout=10, **labels(ignore_sigterm="true"))))
        await h.until(arn, "RUNNING")
        h.stop(arn)
        await h.run(9)
        assert h.container(arn, "app")["lastStatus"] == "RUNNING"
        assert h.task(arn)["lastStatus"] == "STOPPING"
        task = await h.until(arn, "STOPPED", limit=5)
        assert task["containers"][0]["exitCode"] == 137
        assert h.runtime.calls.count(("signal", h.task_id(arn), "app", "15")) == 1
        assert h.runtime.calls.count(("signal", h.task_id(arn), "app", "9")) == 1
        await h.controller.stop()

    run(scenario())


def test_default_stop_timeout_is_thirty_seconds() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **labels(ignore_sigterm="true"))))
        await h.until(arn, "RUNNING")
        h.stop(arn)
        await h.run(29)
        assert h.task(arn)["lastStatus"] == "STOPPING"
        await h.until(arn, "STOPPED", limit=3)
        await h.controller.stop()

    run(scenario())


def test_shutdown_runs_in_reverse_dependency_order() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("router", stopTimeout=5, **labels(ignore_sigterm="true")),
                container("app", dependsOn=[{"containerName": "router", "condition": "START"}]),
            )
        )
        await h.until(arn, "RUNNING")
        h.runtime.calls.clear()
        h.stop(arn)
        await h.until(arn, "STOPPED")
        signals = [c for c in h.runtime.calls if c[0] == "signal"]
        assert signals[0][2] == "app"
        assert [c[2:] for c in signals[1:]] == [("router", "15"), ("router", "9")]
        await h.controller.stop()

    run(scenario())


def test_pull_failure_fails_the_task_to_start_without_exit_codes() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **labels(pull_error="manifest unknown")), container("side")))
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == "CannotPullContainerError: manifest unknown"
        assert h.container(arn, "app")["reason"] == "CannotPullContainerError: manifest unknown"
        assert all("exitCode" not in c for c in task["containers"])
        assert "startedAt" not in task
        assert_timestamps_ordered(task)
        await h.controller.stop()

    run(scenario())


def test_start_failure_fails_the_task_with_the_runtime_reason() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **labels(start_error="executable file not found in $PATH"))))
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == "CannotStartContainerError: executable file not found in $PATH"
        assert "exitCode" not in task["containers"][0]
        await h.controller.stop()

    run(scenario())


def test_bad_fake_label_fails_creation_naming_the_label() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", dockerLabels={"ecslite.fake.exit-code": "one"})))
        task = await h.until(arn, "STOPPED")
        assert task["stoppedReason"].startswith("CannotCreateContainerError: label ecslite.fake.exit-code")
        await h.controller.stop()

    run(scenario())


def test_sandbox_failure_fails_the_task_to_start() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        h.runtime.fail_next_sandbox("ResourceInitializationError: no address left")
        arn = h.launch()
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == "ResourceInitializationError: no address left"
        await h.controller.stop()

    run(scenario())


def test_stop_while_pending_never_starts_containers() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **labels(pull_seconds=10))))
        await h.run(2)
        assert h.task(arn)["lastStatus"] == "PENDING"
        h.stop(arn)
        task = await h.until(arn, "STOPPED", limit=30)
        assert task["containers"][0]["lastStatus"] == "STOPPED"
        assert "exitCode" not in task["containers"][0]
        assert "startedAt" not in task
        assert_timestamps_ordered(task)
        assert not any(c[0] == "start_container" for c in h.runtime.calls)
        await h.controller.stop()

    run(scenario())


def test_bridge_task_skips_provisioning_and_deprovisioning() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(container("web", portMappings=[{"containerPort": 80, "hostPort": 8080}]), network_mode="bridge"),
            launch_type="EC2",
        )
        await h.until(arn, "RUNNING")
        assert h.statuses(arn) == ["PENDING", "RUNNING"]
        web = h.container(arn, "web")
        assert web["networkBindings"] == [
            {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 8080, "protocol": "tcp"}
        ]
        assert len(web["runtimeId"]) == 64
        h.stop(arn)
        await h.until(arn, "STOPPED")
        assert h.statuses(arn) == ["PENDING", "RUNNING", "STOPPING", "STOPPED"]
        assert h.task(arn)["attachments"] == []
        await h.controller.stop()

    run(scenario())


def test_version_increases_with_each_visible_change() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch()
        await h.until(arn, "RUNNING")
        h.stop(arn)
        await h.until(arn, "STOPPED")
        versions = h.versions(arn)
        assert versions == list(range(1, len(versions) + 1))
        assert versions[-1] == h.task(arn)["version"] >= 9
        await h.controller.stop()

    run(scenario())
