"""Container settings from the task definition to the runtime's ContainerSpec (spec/ecs.md §2.4, §2.10, §2.11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ecslite.control.task_docs import EnvironmentFilesFailed, container_spec, read_environment_files
from ecslite.model.task_launch import LaunchRequest, build_task, container_snapshot
from ecslite.runtime.base import ContainerSpec
from tests.unit.test_task_harness import (
    ACCOUNT,
    CLUSTER,
    CLUSTER_ARN,
    REGION,
    Harness,
    container,
    definition,
    run,
    started,
)


def _doc(*containers: dict[str, Any], network_mode: str = "awsvpc", **request: Any) -> dict[str, Any]:
    launch_type = request.pop("launch_type", "FARGATE" if network_mode == "awsvpc" else "EC2")
    return build_task(
        LaunchRequest(
            account=ACCOUNT,
            region=REGION,
            cluster_name=CLUSTER,
            cluster_arn=CLUSTER_ARN,
            definition=definition(*containers, network_mode=network_mode),
            launch_type=launch_type,
            now=1000.0,
            subnet="subnet-1",
            **request,
        )
    )


def _spec(*containers: dict[str, Any], name: str = "app", **kwargs: Any) -> ContainerSpec:
    return container_spec(_doc(*containers, **kwargs), name)


# -- snapshot and spec ------------------------------------------------------------------------------


def test_settings_reach_the_spec() -> None:
    spec = _spec(
        container(
            "app",
            entryPoint=["/bin/sh", "-c"],
            command=["exec ./serve"],
            user="app:staff",
            workingDirectory="/srv",
            cpu=256,
            memory=512,
            memoryReservation=256,
            ulimits=[
                {"name": "nofile", "softLimit": 1024, "hardLimit": 4096},
                {"name": "core", "softLimit": 0, "hardLimit": 0},
            ],
            linuxParameters={"initProcessEnabled": True},
            readonlyRootFilesystem=True,
            interactive=True,
            pseudoTerminal=True,
        ),
        network_mode="bridge",
    )
    assert (spec.entry_point, spec.command) == (("/bin/sh", "-c"), ("exec ./serve",))
    assert (spec.user, spec.working_directory) == ("app:staff", "/srv")
    assert (spec.cpu_units, spec.memory_mib, spec.memory_reservation_mib) == (256, 512, 256)
    assert spec.ulimits == (("nofile", 1024, 4096), ("core", 0, 0))
    assert spec.init_process and spec.readonly_root
    assert spec.interactive and spec.pseudo_terminal
    assert spec.stop_signal == 15


def test_defaults_when_settings_absent() -> None:
    spec = _spec(container("app"), network_mode="bridge")
    assert (spec.entry_point, spec.command, spec.user, spec.working_directory) == ((), (), None, None)
    assert (spec.ulimits, spec.init_process, spec.readonly_root) == ((), False, False)
    assert (spec.cpu_units, spec.memory_mib, spec.memory_reservation_mib) == (0, None, None)


def test_override_command_replaces_and_keeps_entrypoint() -> None:
    spec = _spec(
        container("app", entryPoint=["python3"], command=["serve.py"]),
        overrides={"containerOverrides": [{"name": "app", "command": ["migrate.py"], "cpu": 64, "memory": 128}]},
    )
    assert (spec.entry_point, spec.command) == (("python3",), ("migrate.py",))
    assert (spec.cpu_units, spec.memory_mib) == (64, 128)


def test_override_environment_files_replace_the_definitions() -> None:
    snapshot = container_snapshot(
        container("app", environmentFiles=[{"value": "/a.env", "type": "s3"}]),
        {"name": "app", "environmentFiles": [{"value": "/b.env", "type": "s3"}]},
    )
    assert snapshot["environmentFiles"] == [{"value": "/b.env", "type": "s3"}]


def test_snapshot_reads_linux_parameters_defensively() -> None:
    snapshot = container_snapshot(container("app", linuxParameters={"capabilities": {"add": ["SYS_PTRACE"]}}), None)
    assert snapshot["initProcessEnabled"] is False
    assert snapshot["ulimits"] == [] and snapshot["readonlyRootFilesystem"] is False


def test_spec_of_a_task_stored_before_these_settings_existed() -> None:
    doc = _doc(container("app"), network_mode="bridge")
    for key in ("ulimits", "initProcessEnabled", "readonlyRootFilesystem", "hostname"):
        del doc["_spec"]["containers"][0][key]
    spec = container_spec(doc, "app")
    assert (spec.ulimits, spec.init_process, spec.readonly_root) == ((), False, False)


# -- hostname ---------------------------------------------------------------------------------------


def test_hostname_awsvpc_is_the_enis_private_dns_name() -> None:
    doc = _doc(container("app"))
    assert container_spec(doc, "app").hostname is None  # no address before the sandbox exists
    doc["_run"] = {"sandbox": {"privateIpv4": "172.31.4.9"}}
    assert container_spec(doc, "app").hostname == "ip-172-31-4-9.ec2.internal"


def test_hostname_bridge_given_or_dockers_short_id() -> None:
    doc = _doc(container("web", hostname="web.local"), container("db"), network_mode="bridge")
    assert container_spec(doc, "web").hostname == "web.local"
    db = container_spec(doc, "db")
    assert db.hostname == db.runtime_id[:12] and len(db.runtime_id) == 64


def test_hostname_host_mode_keeps_the_hosts() -> None:
    assert _spec(container("app"), network_mode="host").hostname is None


# -- environment ------------------------------------------------------------------------------------


def test_environment_definition_beats_files_and_first_file_wins(tmp_path: Path) -> None:
    first = tmp_path / "first.env"
    second = tmp_path / "second.env"
    first.write_text("SHARED=first\nONLY_FIRST=1\nMODE=file\n")
    second.write_text("SHARED=second\nONLY_SECOND=2\nECS_CONTAINER_METADATA_URI=overridden\n")
    spec = _spec(
        container(
            "app",
            environment=[{"name": "MODE", "value": "definition"}],
            environmentFiles=[{"value": str(first), "type": "s3"}, {"value": f"file://{second}", "type": "s3"}],
        )
    )
    env = dict(spec.environment)
    assert env["SHARED"] == "first"
    assert (env["ONLY_FIRST"], env["ONLY_SECOND"]) == ("1", "2")
    assert env["MODE"] == "definition"
    assert env["ECS_CONTAINER_METADATA_URI"] == "overridden"  # files sit above ECS's own variables
    assert env["ECS_CONTAINER_METADATA_URI_V4"].startswith("http://169.254.170.2/v4/")


def test_env_file_lines_follow_the_agents_rules(tmp_path: Path) -> None:
    path = tmp_path / "app.env"
    path.write_bytes(
        b"# comment=ignored\n"
        b"PLAIN=value\n"
        b"WITH_EQUALS=a=b=c\n"
        b"SPACES = kept as written \n"
        b"CRLF=yes\r\n"
        b"EMPTY=\n"
        b"=nokey\n"
        b"NOEQUALS\n"
        b"  # not a comment=because indented\n"
        b"LATER=1\nLATER=2\n"
    )
    assert read_environment_files([{"value": str(path), "type": "s3"}]) == {
        "PLAIN": "value",
        "WITH_EQUALS": "a=b=c",
        "SPACES ": " kept as written ",
        "CRLF": "yes",
        "  # not a comment": "because indented",
        "LATER": "2",
    }


def test_env_file_s3_arn_read_from_the_s3_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bucket" / "conf").mkdir(parents=True)
    (tmp_path / "bucket" / "conf" / "app.env").write_text("FROM_S3=yes\n")
    files = [{"value": "arn:aws:s3:::bucket/conf/app.env", "type": "s3"}]
    assert read_environment_files(files, s3_dir=tmp_path) == {"FROM_S3": "yes"}
    monkeypatch.setenv("ECSLITE_S3_DIR", str(tmp_path))
    assert read_environment_files(files) == {"FROM_S3": "yes"}


def test_env_file_s3_arn_without_s3_directory_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECSLITE_S3_DIR", raising=False)
    with pytest.raises(EnvironmentFilesFailed) as raised:
        read_environment_files([{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}])
    assert raised.value.reason.startswith(
        "ResourceInitializationError: failed to download env files: unable to download env file with key app.env "
        "from bucket bucket, error: "
    )
    assert "set ECSLITE_S3_DIR to a directory holding bucket/app.env" in raised.value.reason


def test_env_file_missing_and_unparseable_reported_together(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    with pytest.raises(EnvironmentFilesFailed) as raised:
        read_environment_files([{"value": str(missing), "type": "s3"}, {"value": "bucket/key.env", "type": "s3"}])
    assert raised.value.reason == (
        "ResourceInitializationError: failed to download env files: "
        f"unable to read env file {missing}, error: No such file or directory; "
        "unable to parse bucket and key from s3 ARN specified in environmentFile bucket/key.env; "
        "use arn:aws:s3:::<bucket>/<key> or a local absolute path"
    )


def test_env_file_failure_raised_by_container_spec(tmp_path: Path) -> None:
    doc = _doc(container("app", environmentFiles=[{"value": str(tmp_path / "nope.env"), "type": "s3"}]))
    with pytest.raises(EnvironmentFilesFailed):
        container_spec(doc, "app")


# -- through the controller -------------------------------------------------------------------------


def test_unreadable_env_file_fails_the_task_at_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = await started(Harness())
        missing = tmp_path / "app.env"
        arn = h.launch(definition(container("app", environmentFiles=[{"value": str(missing), "type": "s3"}])))
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == (
            f"ResourceInitializationError: failed to download env files: unable to read env file {missing}, "
            "error: No such file or directory"
        )
        app = h.container(arn, "app")
        assert app["reason"] == task["stoppedReason"]
        assert "exitCode" not in app
        assert not any(call[0] == "start_container" for call in h.runtime.calls)
        await h.controller.stop()

    run(scenario())


def test_env_file_variables_reach_the_running_container(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = await started(Harness())
        path = tmp_path / "app.env"
        path.write_text("DB_HOST=db.internal\n")
        arn = h.launch(definition(container("app", environmentFiles=[{"value": str(path), "type": "s3"}])))
        await h.until(arn, "RUNNING")
        spec = h.runtime._container(h.task_id(arn), "app").spec
        assert spec.environment["DB_HOST"] == "db.internal"
        details = {d["name"]: d["value"] for d in h.task(arn)["attachments"][0]["details"]}
        assert spec.hostname == details["privateDnsName"]
        await h.controller.stop()

    run(scenario())
