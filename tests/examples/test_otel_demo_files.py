"""The files of ``examples/otel-demo`` (spec/otel-demo.md §1.4, §1.5, §2.1, §2.5, §3.2; telemetry.md §6.5):
the project file and its image map as ecslite reads them, both task definitions as ECS registers them,
the router configurations as the built-in router routes them, the pins and the Dockerfiles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ecslite.builtin import firelens
from ecslite.builtin.fluentbit.config import loads
from ecslite.builtin.fluentbit.engine import LOGS, METRICS, TRACES, Chunk, Engine
from ecslite.builtin.fluentbit.filters import FILTERS
from ecslite.builtin.fluentbit.inputs import INPUTS
from ecslite.builtin.fluentbit.main import resolve_port_conflicts
from ecslite.builtin.fluentbit.outputs import OUTPUTS
from ecslite.config import Settings
from ecslite.runtime.process.images import IMAGE_ROOT_VARIABLE, ImageResolver, ImageSource, load_image_map
from tests.examples.otel_demo import EXAMPLE, PROJECT_FILE, REPO, SERVICES, project, venv_key

SEED_TD = EXAMPLE / "task-definition.json"
LOADGEN_TD = EXAMPLE / "loadgen-task-definition.json"
XRAY_TD = EXAMPLE / "xray-sample-task-definition.json"
ROUTER = EXAMPLE / "fluent-bit"
TASK_ARN = "arn:aws:ecs:ap-northeast-1:000000000000:task/otel-demo-cluster/5f0c"
ENV = {"LOKI_ENDPOINT": "127.0.0.1", "TEMPO_ENDPOINT": "127.0.0.1", "THANOS_ENDPOINT": "127.0.0.1", "AWS_REGION": "x"}
ACCOUNTS = ("<AWS_ACCOUNT_ID>", "123456789012", "637423497892")


def definition(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def containers(path: Path) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in definition(path)["containerDefinitions"]}


# -- the router configurations --------------------------------------------------------------------


def test_the_seed_router_config_is_the_one_the_other_tests_use() -> None:
    assert (ROUTER / "custom-fluent-bit.conf").read_bytes() == (REPO / "tests/data/custom-fluent-bit.conf").read_bytes()


def router_engine(config: Path) -> Engine:
    spec = firelens.RouterSpec(
        task_arn=TASK_ARN,
        task_id="5f0c",
        cluster="otel-demo-cluster",
        family="otel-demo-app",
        revision=1,
        launch_type="FARGATE",
        router="fluent-bit",
        router_type="fluentbit",
        options={"config-file-type": "file", "config-file-value": str(config)},
        outputs=[(name, {"Name": "forward", "Host": "localhost", "Port": "24224"}) for name in ("python-service",)],
    )
    parsed = loads(firelens.generate_config(spec, "/run/x.sock"), environment=ENV)
    resolve_port_conflicts(parsed)
    return Engine(
        parsed,
        inputs=INPUTS,  # type: ignore[arg-type]
        filters=FILTERS,  # type: ignore[arg-type]
        outputs=OUTPUTS,  # type: ignore[arg-type]
        clock=lambda: 0.0,
        context={"task": {"launchType": "FARGATE", "taskArn": TASK_ARN}},
    )


def test_fixed_router_config_has_none_of_the_seed_problems() -> None:
    seed, fixed = router_engine(ROUTER / "custom-fluent-bit.conf"), router_engine(ROUTER / "fixed-fluent-bit.conf")
    assert len(seed.warnings) >= 4
    assert fixed.warnings == []
    outputs = [o.name for o in fixed.outputs]
    assert outputs == ["loki.0", "opentelemetry.1", "prometheus_remote_write.2", "null.3", "forward.4"]


def test_fixed_router_config_routes_every_signal_to_its_backend() -> None:
    engine = router_engine(ROUTER / "fixed-fluent-bit.conf")
    unix, tcp = engine.inputs[0], engine.inputs[1]
    otlp = next(i for i in engine.inputs if i.name.startswith("opentelemetry"))
    loki, tempo, thanos = engine.outputs[0], engine.outputs[1], engine.outputs[2]
    relay = engine.outputs[4]
    unix.emit(Chunk("python-service-firelens-5f0c", LOGS, [(1, {"log": "Creating order", "source": "stdout"})]))
    [to_loki] = loki.buffer
    record = to_loki.records[0][1]
    assert record["cluster"] == "otel-demo-cluster" and record["ecs_cluster"] == "otel-demo-cluster"
    assert record["_firelens_relayed"] == "1"
    [relayed] = relay.buffer
    # The generated forward output sends it back into TCP 24224: the second pass is dropped.
    tcp.emit(Chunk("python-service-firelens-5f0c", LOGS, [(2, dict(relayed.records[0][1]))]))
    assert len(loki.buffer) == 1 and len(relay.buffer) == 1
    otlp.emit(Chunk("v1_traces", TRACES, payload=b"", count=3))
    otlp.emit(Chunk("v1_metrics", METRICS, payload=b"", count=2))
    otlp.emit(Chunk("v1_logs", LOGS, [(3, {"body": "x"})]))
    assert [c.tag for c in tempo.buffer] == ["v1_traces"]
    assert [c.tag for c in thanos.buffer] == ["v1_metrics"]
    assert [c.tag for c in loki.buffer] == ["python-service-firelens-5f0c", "v1_logs"]


def test_fixed_router_root_serves_the_fixed_file_as_custom_fluent_bit_conf() -> None:
    roots = project()["router"]["roots"]
    assert (EXAMPLE / roots["seed"] / "custom-fluent-bit.conf").read_text() == (
        ROUTER / "custom-fluent-bit.conf"
    ).read_text()
    assert (EXAMPLE / roots["fixed"] / "custom-fluent-bit.conf").read_text() == (
        ROUTER / "fixed-fluent-bit.conf"
    ).read_text()


# -- the image map ----------------------------------------------------------------------------------


def test_project_file_images_are_a_valid_image_map() -> None:
    entries = {entry.image: entry for entry in load_image_map(PROJECT_FILE)}
    environments = project()["environments"]
    for name, entry in entries.items():
        assert entry.path.is_dir(), name
        if entry.builtin is None:
            interpreter, flag, module = entry.entry_point
            service = module.removeprefix("services.")
            assert (interpreter, flag) == (f".venvs/{service}/bin/python", "-m")
            assert service in environments
            assert (entry.path / "services" / service / "__main__.py").is_file()


@pytest.mark.parametrize("account", ACCOUNTS)
def test_every_image_of_both_task_definitions_resolves_under_any_account(account: str, tmp_path: Path) -> None:
    resolver = ImageResolver(Settings(data_dir=tmp_path, image_map=PROJECT_FILE))
    seen = {}
    for path in (SEED_TD, LOADGEN_TD, XRAY_TD):
        for name, container in containers(path).items():
            resolved = resolver.resolve(container["image"].replace("<AWS_ACCOUNT_ID>", account))
            seen[name] = resolved
    assert seen["fluent-bit"].source == ImageSource.BUILTIN
    assert seen["fluent-bit"].environment[IMAGE_ROOT_VARIABLE] == str(ROUTER)
    expected = {
        "python-service": "services.orders",
        "nodejs-service": "services.inventory",
        "go-service": "services.pricing",
        "java-service": "services.notifications",
        "loadgen": "services.loadgen",
        "frontend": "services.loadgen",
        "downstream0": "services.loadgen",
    }
    for name, module in expected.items():
        assert seen[name].source == ImageSource.IMAGE_MAP
        assert seen[name].entry_point[1:] == ("-m", module)
        assert seen[name].working_directory == str(EXAMPLE)


# -- the project file and the task definitions ----------------------------------------------------


def test_project_services_name_existing_definitions_containers_and_groups() -> None:
    config = project()
    groups = {group["name"] for group in config["log_groups"]}
    for name, service in config["services"].items():
        path = EXAMPLE / service["task_definition"]
        by_name = containers(path)
        for container in service.get("environment", {}):
            assert container in by_name, (name, container)
        for registry in service.get("registries", []):
            ports = [m["containerPort"] for m in by_name[registry["container_name"]]["portMappings"]]
            assert registry["container_port"] in ports
        for container in by_name.values():
            options = container.get("logConfiguration", {}).get("options", {})
            if container.get("logConfiguration", {}).get("logDriver") == "awslogs":
                assert options["awslogs-group"] in groups
        for after in service.get("after", []):
            assert after in config["services"]
    assert config["cluster"]["name"] == "otel-demo-cluster"
    assert config["services"]["otel-demo-service"]["desired_count"] == 1


def test_autoscaling_is_the_guides_target_tracking_policy() -> None:
    scaling = project()["services"]["otel-demo-service"]["autoscaling"]
    assert (scaling["min_capacity"], scaling["max_capacity"]) == (1, 10)
    [policy] = scaling["policies"]
    assert (policy["policy_name"], policy["policy_type"]) == ("cpu-scaling-policy", "TargetTrackingScaling")
    assert policy["target_tracking"] == {
        "TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    }


def test_fault_overrides_are_the_demo_defaults() -> None:
    environment = project()["services"]["otel-demo-service"]["environment"]
    assert environment["go-service"] == {"FAULT_ERROR_RATE": "0.05"}
    assert environment["nodejs-service"]["FAULT_LATENCY_MS"] == "50"
    assert environment["nodejs-service"]["FAULT_LATENCY_JITTER_MS"] == "50"
    assert environment["nodejs-service"]["FAULT_STOCK_DRAIN"] == "on"
    assert environment["java-service"] == {"FAULT_SLOW_RATE": "0.02", "FAULT_SLOW_MS": "3000"}
    # The generator reaches orders by its Cloud Map name, as its task definition has it.
    assert "environment" not in project()["services"]["otel-demo-loadgen"]


def test_loadgen_definition_follows_the_spec() -> None:
    data = definition(LOADGEN_TD)
    assert (data["family"], data["networkMode"], data["cpu"], data["memory"]) == (
        "otel-demo-loadgen",
        "awsvpc",
        "256",
        "512",
    )
    [container] = data["containerDefinitions"]
    assert container["name"] == "loadgen"
    assert container["portMappings"] == [{"containerPort": 8765, "protocol": "tcp", "name": "loadgen-http"}]
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/otel-demo-loadgen"
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert environment["DOWNSTREAM0"] == "POST http://orders.otel-demo.local:8000/orders"
    assert (environment["DOWNSTREAM1"], environment["DOWNSTREAM2"]) == ("DUMMY:187kB:42ms", "DUMMY:13kB:2ms")


def test_both_definitions_register_unchanged(ecs: Any) -> None:
    for path, family in (
        (SEED_TD, "otel-demo-app"),
        (LOADGEN_TD, "otel-demo-loadgen"),
        (XRAY_TD, "otel-demo-xray-sample"),
    ):
        registered = ecs.register_task_definition(**definition(path))["taskDefinition"]
        assert (registered["family"], registered["revision"], registered["status"]) == (family, 1, "ACTIVE")
        assert [c["name"] for c in registered["containerDefinitions"]] == list(containers(path))


# -- pins and images for Docker -----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_requirements_are_pinned_in_lock_step(service: str) -> None:
    path = EXAMPLE / "services" / service / "requirements.txt"
    pins = dict(
        line.split("==", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    )
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+]*", version) for version in pins.values()), pins
    otel = {name: version for name, version in pins.items() if name.startswith("opentelemetry-")}
    fixed_versions = {"opentelemetry-propagator-aws-xray": "1.0.2", "opentelemetry-sdk-extension-aws": "2.1.0"}
    for name, version in otel.items():
        assert version in (fixed_versions.get(name), "1.45.1", "0.66b1"), (name, version)
    assert otel["opentelemetry-sdk"] == "1.45.1" and otel["opentelemetry-instrumentation"] == "0.66b1"


def test_virtualenv_keys_differ_per_requirements_file() -> None:
    keys = {venv_key(EXAMPLE / "services" / service / "requirements.txt") for service in SERVICES}
    assert len(keys) == len(SERVICES)


@pytest.mark.parametrize(("service", "tool"), [("orders", "curl"), ("inventory", "curl"), ("pricing", "wget")])
def test_dockerfiles_run_the_service_and_carry_the_health_check_tool(service: str, tool: str) -> None:
    text = (EXAMPLE / f"Dockerfile.{service}").read_text()
    assert "FROM python:3.11-slim" in text.splitlines()
    assert f"install -y --no-install-recommends {tool}" in text
    assert f'CMD ["python", "-m", "services.{service}"]' in text
    assert f"COPY services/{service}/requirements.txt" in text
