"""The task controller around the reconciler: restarts, retention, reset, orphans, environment."""

from __future__ import annotations

from ecslite.control.tasks import TaskController
from ecslite.runtime.fake import FakeScript
from tests.unit.test_task_harness import ACCOUNT, Harness, container, definition, run, started


def test_restart_with_lost_sandboxes_stops_tasks_with_a_clear_reason() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch()
        await h.until(arn, "RUNNING")
        await h.controller.stop()
        h.runtime.lose_everything()  # what a restart does to the fake runtime
        h.controller = TaskController(h.db, h.runtime, h.clock, h.settings)
        await h.controller.start()
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "InfrastructureHealth"
        assert task["stoppedReason"].startswith("Task stopped because its sandbox no longer exists in the fake runtime")
        assert task["containers"][0]["reason"] == task["stoppedReason"]
        assert "exitCode" not in task["containers"][0]
        await h.controller.stop()

    run(scenario())


def test_restart_resumes_tasks_whose_sandbox_survived() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch()
        await h.until(arn, "RUNNING")
        await h.controller.stop()
        h.controller = TaskController(h.db, h.runtime, h.clock, h.settings)
        await h.controller.start()
        await h.run(5)
        assert h.task(arn)["lastStatus"] == "RUNNING"
        h.stop(arn)
        task = await h.until(arn, "STOPPED")
        assert task["containers"][0]["exitCode"] == 143
        await h.controller.stop()

    run(scenario())


def test_stopped_tasks_are_purged_after_the_retention() -> None:
    async def scenario() -> None:
        h = await started(Harness(retention=3600))
        arn = h.launch()
        await h.until(arn, "RUNNING")
        h.stop(arn)
        await h.until(arn, "STOPPED")
        await h.run(3000, step=30)
        assert h.task(arn)["lastStatus"] == "STOPPED"
        await h.run(700, step=30)
        assert h.db.query_one("SELECT 1 FROM tasks WHERE arn=?", (arn,)) is None
        await h.controller.stop()

    run(scenario())


def test_reset_removes_every_sandbox_and_keeps_working() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        first = h.launch()
        await h.until(first, "RUNNING")
        await h.controller.reset()
        h.db.reset()
        assert await h.runtime.sandboxes() == []
        second = h.launch()
        await h.until(second, "RUNNING")
        await h.controller.stop()

    run(scenario())


def test_orphan_sandboxes_are_removed_on_start() -> None:
    async def scenario() -> None:
        h = Harness()
        from ecslite.runtime.base import SandboxSpec

        await h.runtime.prepare_sandbox(SandboxSpec(task_id="f" * 32, network_mode="awsvpc"))
        await h.controller.start()
        assert await h.runtime.sandboxes() == []
        await h.controller.stop()

    run(scenario())


def test_containers_get_the_ecs_environment_and_labels() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("app", environment=[{"name": "MODE", "value": "prod"}, {"name": "KEEP", "value": "1"}]),
                taskRoleArn="arn:aws:iam::000000000000:role/app",
            ),
            overrides={"containerOverrides": [{"name": "app", "environment": [{"name": "MODE", "value": "test"}]}]},
        )
        await h.until(arn, "RUNNING")
        spec = h.runtime._container(h.task_id(arn), "app").spec
        env = dict(spec.environment)
        runtime_id = h.container(arn, "app")["runtimeId"]
        assert env["MODE"] == "test" and env["KEEP"] == "1"
        assert env["ECS_CONTAINER_METADATA_URI_V4"] == f"http://169.254.170.2/v4/{runtime_id}"
        assert env["ECS_CONTAINER_METADATA_URI"] == f"http://169.254.170.2/v3/{runtime_id}"
        assert env["AWS_EXECUTION_ENV"] == "AWS_ECS_FARGATE"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"].startswith("/v2/credentials/")
        assert spec.labels["com.amazonaws.ecs.task-arn"] == arn
        assert spec.labels["com.amazonaws.ecs.container-name"] == "app"
        assert spec.labels["com.amazonaws.ecs.cluster"] == f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/default"
        await h.controller.stop()

    run(scenario())


def test_ec2_containers_have_no_region_variables_or_credentials_without_a_task_role() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(network_mode="bridge"), launch_type="EC2")
        await h.until(arn, "RUNNING")
        env = h.runtime._container(h.task_id(arn), "app").spec.environment
        assert env["AWS_EXECUTION_ENV"] == "AWS_ECS_EC2"
        assert "AWS_REGION" not in env and "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in env
        await h.controller.stop()

    run(scenario())


def test_exit_scripted_in_process_is_noticed_through_the_exit_event() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        h.runtime.script_image("example/app:1", FakeScript())
        arn = h.launch()
        await h.until(arn, "RUNNING")
        h.runtime.exit(h.task_id(arn), "app", 3)
        await h.settle()
        task = h.task(arn)
        assert task["containers"][0]["exitCode"] == 3
        assert task["desiredStatus"] == "STOPPED"
        await h.controller.stop()

    run(scenario())


def test_a_failing_reconcile_is_retried_with_backoff() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        calls = {"n": 0}
        original = h.runtime.prepare_sandbox

        async def flaky(spec):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] < 3:
                raise OSError("transient")
            return await original(spec)

        h.runtime.prepare_sandbox = flaky  # type: ignore[method-assign]
        arn = h.launch()
        await h.until(arn, "RUNNING")
        assert calls["n"] == 3
        assert h.controller.runner.errors == 2
        await h.controller.stop()

    run(scenario())


def test_metadata_tokens_and_credentials_ids_lead_back_to_their_task() -> None:
    from ecslite.store import tasks as task_store

    async def scenario() -> None:
        h = Harness()
        arn = h.launch(definition(container("app"), container("side"), taskRoleArn="arn:aws:iam::1:role/r"))
        spec = h.task(arn)["_spec"]
        found = task_store.by_metadata_token(h.db, spec["containers"][1]["metadataToken"])
        assert found is not None and (found[0]["taskArn"], found[1]) == (arn, "side")
        assert task_store.by_metadata_token(h.db, "nope") is None
        by_role = task_store.by_credentials_id(h.db, spec["credentialsId"])
        assert by_role is not None and by_role["taskArn"] == arn

    run(scenario())
