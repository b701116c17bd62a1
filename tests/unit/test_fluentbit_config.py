"""Fluent Bit configuration files as ecslite's built-in router reads them (spec/telemetry.md §6.5):
classic and YAML formats, ``@INCLUDE``/``@SET``, ``${VAR}``, the seed's file and the FireLens
configuration ECS generates around it (ecs.md §10.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecslite.builtin import firelens
from ecslite.builtin.fluentbit.config import ConfigError, load, loads, parse_size
from ecslite.builtin.fluentbit.main import resolve_port_conflicts

SEED = Path(__file__).resolve().parents[1] / "data" / "custom-fluent-bit.conf"
ENV = {"LOKI_ENDPOINT": "loki.example", "TEMPO_ENDPOINT": "tempo.example", "THANOS_ENDPOINT": "thanos.example"}


def test_seed_configuration_sections_and_properties() -> None:
    config = load(SEED, {**ENV, "AWS_REGION": "ap-northeast-1"})
    assert config.service.get("http_server") == "On"
    assert config.service.number("flush", 1) == 5
    assert [s.name for s in config.inputs] == ["forward", "opentelemetry", "opentelemetry"]
    assert [s.name for s in config.filters] == ["aws", "modify", "modify", "modify"]
    assert [s.name for s in config.outputs] == ["loki", "opentelemetry", "prometheus_remote_write"]
    forward = config.inputs[0]
    assert (forward.get("tag"), forward.size("buffer_max_size", 0)) == ("container.logs", 6 * 1024 * 1024)
    assert config.filters[1].get_all("add") == ["cluster", "aws.region ap-northeast-1", "environment production"]
    loki = config.outputs[0]
    assert loki.get("host") == "loki.example"
    assert loki.get("labels") == "job=ecs-fargate, cluster=, container_name=$container_name"
    assert config.outputs[2].get_all("add_label") == ["cluster", "job ecs-fargate"]


def test_unset_variable_expands_empty_with_one_warning() -> None:
    config = load(SEED, ENV)
    warnings = [w for w in config.warnings if "${ECS_CLUSTER}" in w]
    assert len(warnings) == 1
    assert "expands to an empty string" in warnings[0]
    assert "set ECS_CLUSTER in the container's environment" in warnings[0]


def test_include_set_and_glob(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("[OUTPUT]\n    Name null\n    Match a\n")
    (tmp_path / "conf.d" / "b.conf").write_text("[OUTPUT]\n    Name stdout\n    Match ${WHERE}\n")
    main = tmp_path / "fluent-bit.conf"
    main.write_text("@SET WHERE=b.*\n[INPUT]\n    Name dummy\n@INCLUDE conf.d/*.conf\n")
    config = load(main, {})
    assert [(o.name, o.get("match")) for o in config.outputs] == [("null", "a"), ("stdout", "b.*")]
    assert len(config.files) == 3


def test_absolute_include_is_looked_up_under_the_image_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "custom.conf").write_text("[OUTPUT]\n    Name null\n    Match *\n")
    monkeypatch.setenv("ECSLITE_IMAGE_ROOT", str(tmp_path))
    config = loads("@INCLUDE /custom.conf\n", environment={})
    assert [o.name for o in config.outputs] == ["null"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[INPTU]\n    Name x\n", "fluent-bit.conf:1: unknown section [INPTU]"),
        ("    Name dummy\n", "fluent-bit.conf:1: a property outside any section"),
        ("[INPUT]\n    Name\n", "fluent-bit.conf:2: the property 'Name' has no value"),
        ("@SET NOPE\n", "fluent-bit.conf:1: @SET needs KEY=VALUE"),
        ("@INCLUDE missing.conf\n", "fluent-bit.conf:1: @INCLUDE missing.conf: no such file"),
        ("[INPUT\n", "fluent-bit.conf:1: a section header must end with ']'"),
    ],
)
def test_classic_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        loads(text, environment={})
    assert message in str(error.value)


def test_comments_tabs_and_case_insensitive_keys() -> None:
    config = loads("# hi\n[SERVICE]\n\tFLUSH\t2\n[OUTPUT]\n    NAME   null\n    match  *\n", environment={})
    assert config.service.number("flush", 1) == 2
    assert (config.outputs[0].name, config.outputs[0].get("Match")) == ("null", "*")


def test_yaml_configuration(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text("pipeline:\n  outputs:\n    - name: null\n      match: extra\n")
    text = """
env:
  HOST: collector.example
includes:
  - extra.yaml
service:
  flush: 1
  http_server: on
  health_check: on
pipeline:
  inputs:
    - name: forward
      port: 24224
      tag: app.logs
  filters:
    - name: modify
      match: '*'
      add:
        - a 1
        - b 2
  outputs:
    - name: opentelemetry
      match: 'v1_*'
      host: ${HOST}
      port: 4318
"""
    config = loads(text, name="fluent-bit.yaml", base=tmp_path, environment={})
    assert config.service.flag("http_server") and config.service.flag("health_check")
    assert config.inputs[0].get("port") == "24224"
    assert config.filters[0].get_all("add") == ["a 1", "b 2"]
    assert [o.name for o in config.outputs] == ["null", "opentelemetry"]
    assert config.outputs[1].get("host") == "collector.example"


def test_yaml_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"pipeline\.inputs\[0\] must be a mapping"):
        loads("pipeline:\n  inputs:\n    - forward\n", name="x.yaml", environment={})


@pytest.mark.parametrize(("text", "size"), [("1M", 1048576), ("6M", 6291456), ("512k", 524288), ("32KB", 32768)])
def test_unit_sizes(text: str, size: int) -> None:
    assert parse_size(text, 0) == size


# -- FireLens --------------------------------------------------------------------------------------


def _spec(**changes: object) -> firelens.RouterSpec:
    values: dict[str, object] = {
        "task_arn": "arn:aws:ecs:ap-northeast-1:000000000000:task/otel-demo-cluster/5f0c",
        "task_id": "5f0c",
        "cluster": "otel-demo-cluster",
        "family": "otel-demo-app",
        "revision": 1,
        "launch_type": "FARGATE",
        "router": "fluent-bit",
        "router_type": "fluentbit",
        "options": {"config-file-type": "file", "config-file-value": str(SEED)},
        "outputs": [
            ("python-service", {"Name": "forward", "Host": "localhost", "Port": "24224"}),
            ("quiet", {}),
            ("web", {"Name": "cloudwatch_logs", "region": "us-east-1", "include-pattern": "^GET"}),
        ],
    }
    values.update(changes)
    return firelens.RouterSpec(**values)  # type: ignore[arg-type]


def test_generated_firelens_configuration_in_the_agents_order() -> None:
    text = firelens.generate_config(_spec(), "/run/ecslite/k/5f0c.sock")
    config = loads(text, environment=ENV)
    inputs = [(s.name, s.get("unix_path") or s.get("port")) for s in config.inputs]
    assert inputs[:3] == [("forward", "/run/ecslite/k/5f0c.sock"), ("forward", "24224"), ("tcp", "8877")]
    assert config.inputs[2].get("tag") == "firelens-healthcheck"
    metadata = config.filters[0]
    assert metadata.name == "record_modifier"
    assert metadata.get_all("record") == [
        "ecs_cluster otel-demo-cluster",
        "ecs_task_arn arn:aws:ecs:ap-northeast-1:000000000000:task/otel-demo-cluster/5f0c",
        "ecs_task_definition otel-demo-app:1",
    ]
    assert (config.filters[1].name, config.filters[1].get("regex")) == ("grep", "log ^GET")
    outputs = [(o.name, o.get("match")) for o in config.outputs]
    assert outputs[3:] == [
        ("null", "firelens-healthcheck"),
        ("forward", "python-service-firelens*"),
        ("cloudwatch_logs", "web-firelens*"),
    ]
    assert config.outputs[-1].get("include-pattern") is None
    assert config.outputs[4].get("host") == "localhost"


def test_metadata_off_and_ec2_instance_id() -> None:
    off = loads(firelens.generate_config(_spec(options={"enable-ecs-log-metadata": "false"}), "/s"), environment={})
    assert [f.name for f in off.filters] == ["grep"]
    ec2 = loads(firelens.generate_config(_spec(options={}, ec2_instance_id="i-0abc"), "/s"), environment={})
    assert "ec2_instance_id i-0abc" in ec2.filters[0].get_all("record")


def test_seed_duplicate_forward_port_keeps_the_custom_input() -> None:
    config = loads(firelens.generate_config(_spec(), "/run/x.sock"), environment=ENV)
    resolve_port_conflicts(config)
    forwards = [(s.get("unix_path"), s.get("port"), s.get("tag")) for s in config.inputs if s.name == "forward"]
    assert forwards == [("/run/x.sock", None, None), (None, "24224", "container.logs")]
    [warning] = [w for w in config.warnings if "two forward inputs listen on TCP 24224" in w]
    assert "Tag container.logs applies to everything arriving over TCP" in warning


def test_socket_path_fits_a_unix_socket_address() -> None:
    path = firelens.socket_path(Path("/tmp/pytest-of-root/pytest-123/process0/a/very/long/runtime"), "f" * 32)
    assert len(path.encode()) < 108


def test_shim_output_records_are_parsed_whole_lines_only() -> None:
    data = b"1732430000.123456789 stdout hello\n1732430001.000000001 stderr oops \xff\n1732430002.0 stdout part"
    records, ends = firelens.parse_output(data)
    assert records == [
        (1732430000_123456789, "stdout", "hello"),
        (1732430001_000000001, "stderr", "oops \ufffd"),
    ]
    assert ends == [len(b"1732430000.123456789 stdout hello\n"), data.rfind(b"\n") + 1]
