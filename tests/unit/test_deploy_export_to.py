"""``up --export-to sink``: which variables of a project's services point at the export sink."""

from __future__ import annotations

from pathlib import Path

from ecslite.cli.deploy import with_sink
from ecslite.cli.project import Service, merged_definition


def service(environment: dict[str, dict[str, str]] | None = None) -> Service:
    definition = {
        "family": "otel-demo-app",
        "containerDefinitions": [
            {
                "name": "fluent-bit",
                "environment": [
                    {"name": "LOKI_ENDPOINT", "value": "nlb"},
                    {"name": "TEMPO_ENDPOINT", "value": "nlb"},
                    {"name": "AWS_REGION", "value": "ap-northeast-1"},
                ],
            },
            {"name": "python-service", "environment": [{"name": "OTEL_SERVICE_NAME", "value": "orders"}]},
        ],
    }
    return Service("otel-demo-service", definition, Path("task-definition.json"), environment=environment or {})


def test_with_sink_replaces_only_the_export_variables_a_container_names() -> None:
    changed, names = with_sink(service(), "10.0.0.1")
    assert names == ["fluent-bit.LOKI_ENDPOINT", "fluent-bit.TEMPO_ENDPOINT"]
    containers = merged_definition(changed, {})["containerDefinitions"]
    assert containers[0]["environment"] == [
        {"name": "LOKI_ENDPOINT", "value": "10.0.0.1"},
        {"name": "TEMPO_ENDPOINT", "value": "10.0.0.1"},
        {"name": "AWS_REGION", "value": "ap-northeast-1"},
    ]
    assert "environment" in containers[1] and containers[1]["environment"][0]["value"] == "orders"


def test_with_sink_keeps_a_value_the_project_file_sets() -> None:
    original = service({"fluent-bit": {"LOKI_ENDPOINT": "loki.internal"}})
    changed, names = with_sink(original, "10.0.0.1")
    assert names == ["fluent-bit.TEMPO_ENDPOINT"]
    assert changed.environment["fluent-bit"] == {"LOKI_ENDPOINT": "loki.internal", "TEMPO_ENDPOINT": "10.0.0.1"}
    assert original.environment["fluent-bit"] == {"LOKI_ENDPOINT": "loki.internal"}  # not changed in place


def test_with_sink_leaves_a_service_without_export_variables_as_it_is() -> None:
    plain = Service("api", {"family": "api", "containerDefinitions": [{"name": "web"}]}, Path("api.json"))
    assert with_sink(plain, "10.0.0.1") == (plain, [])
