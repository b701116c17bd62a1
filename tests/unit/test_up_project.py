"""The project file of ``ecslite up`` (``ecslite.cli.project``): parsing, errors naming the key,
profiles and ``after`` order, and the environment merged into the registered revision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecslite.cli.deploy import digest_of
from ecslite.cli.local_server import health_tools, project_map
from ecslite.cli.project import (
    ProjectError,
    fill_addresses,
    load_project,
    merged_definition,
    select_services,
)

REPO = Path(__file__).resolve().parents[2]
BASE = """
[project]
name = "p"
region = "eu-west-1"

[cluster]
name = "c"

[services.web]
task_definition = "web.json"
"""


def definition(family: str = "web", **container: Any) -> dict[str, Any]:
    return {
        "family": family,
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {"name": "app", "image": "img", "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "img", **container},
        ],
    }


def write(tmp_path: Path, text: str, **files: Any) -> Path:
    (tmp_path / "ecslite.toml").write_text(text)
    (tmp_path / "web.json").write_text(json.dumps(definition()))
    for name, content in files.items():
        (tmp_path / name.replace("_", ".")).write_text(content if isinstance(content, str) else json.dumps(content))
    return tmp_path


def error_of(tmp_path: Path, text: str, **files: Any) -> str:
    with pytest.raises(ProjectError) as raised:
        load_project(write(tmp_path, text, **files))
    return str(raised.value)


def test_load_project_reads_the_example_of_the_repository() -> None:
    project = load_project(REPO / "examples" / "otel-demo")
    assert (project.name, project.region, project.cluster) == ("otel-demo", "ap-northeast-1", "otel-demo-cluster")
    assert dict(project.cluster_settings) == {"containerInsights": "enabled"}
    assert [g.retention_days for g in project.log_groups] == [7, 7]
    assert [e.name for e in project.environments] == ["orders", "inventory", "pricing", "notifications", "loadgen"]
    assert project.router is not None and set(project.router.roots) == {"seed", "fixed"}
    service = project.services["otel-demo-service"]
    assert service.deployment.configuration() == {
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    assert service.autoscaling is not None and service.autoscaling.max_capacity == 10
    assert project.profiles() == ["xray-sample"]


def test_load_project_defaults_when_keys_are_left_out(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, BASE))
    web = project.services["web"]
    assert (web.desired_count, web.launch_type, web.assign_public_ip, web.after) == (1, "FARGATE", "DISABLED", ())
    assert web.deployment.configuration() == {}
    assert (project.namespace, project.router, project.log_groups) == (None, None, ())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("desired_cont = 2\n", "services.web.desired_cont: unknown key (known keys: task_definition, desired_count"),
        ("desired_count = -1\n", "services.web.desired_count: must be a whole number of at least 0; got -1"),
        ("desired_count = true\n", "services.web.desired_count: must be a whole number of at least 0; got True"),
        ('launch_type = "LAMBDA"\n', "services.web.launch_type: must be one of FARGATE, EC2, EXTERNAL; got 'LAMBDA'"),
        ('assign_public_ip = "YES"\n', "services.web.assign_public_ip: must be ENABLED or DISABLED; got 'YES'"),
        ('after = ["db"]\n', "services.web.after: names 'db', which is not a service of this project"),
        ('[services.web.environment.db]\nX = "1"\n', "services.web.environment.db: web.json has no container 'db'"),
        ("[services.web.environment.app]\nX = [1]\n", "services.web.environment.app.X: must be a string; got [1]"),
        (
            '[services.web.environment.app]\nURL = "http://{address:api}"\n',
            "services.web.environment: {address:api} needs 'api' deployed first: add after = [\"api\"]",
        ),
        (
            '[services.web.deployment]\ncircuit_breaker = { enable = "yes" }\n',
            "services.web.deployment.circuit_breaker.enable: must be true or false; got 'yes'",
        ),
        (
            "[services.web.autoscaling]\nmin_capacity = 3\nmax_capacity = 2\n",
            "services.web.autoscaling.max_capacity: must be at least min_capacity (3); got 2",
        ),
        (
            'registries = [{ name = "web", container_name = "app", container_port = 80 }]\n',
            "services.web.registries: needs a [cloud_map] namespace",
        ),
    ],
)
def test_load_project_names_the_key_of_a_bad_service_setting(tmp_path: Path, extra: str, message: str) -> None:
    assert message in error_of(tmp_path, BASE + extra)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[project]\nname = "p"\n[services.web]\ntask_definition = "web.json"\n',
            "cluster: missing: add a [cluster] table",
        ),
        (BASE + '[clusters]\nname = "x"\n', "clusters: unknown key (known keys: project, cluster"),
        (
            BASE + '[[log_groups]]\nname = "/g"\nretention_days = 8\n',
            "log_groups[0].retention_days: must be one of 1, 3, 5, 7",
        ),
        (
            BASE + '[environments.web]\nrequirements = "nope.txt"\n',
            "environments.web.requirements: 'nope.txt' does not exist",
        ),
        (BASE.replace("web.json", "missing.json"), "services.web.task_definition: 'missing.json' does not exist"),
        (
            BASE + '[router]\nimage = "r"\nroots = { seed = "nowhere" }\n',
            "router.roots.seed: 'nowhere' is not a directory",
        ),
        ("[project\n", "is not valid TOML"),
        (BASE + '[images."x"]\npath = "."\nentrypoint = ["a"]\n', "entry 'x': unknown key 'entrypoint'"),
    ],
)
def test_load_project_names_the_key_of_a_bad_table(tmp_path: Path, text: str, message: str) -> None:
    assert message in error_of(tmp_path, text)


def test_load_project_says_when_the_directory_has_no_project_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"has no ecslite\.toml"):
        load_project(tmp_path)


def test_load_project_rejects_a_task_definition_without_family(tmp_path: Path) -> None:
    message = error_of(tmp_path, BASE.replace("web.json", "bad.json"), bad_json={"containerDefinitions": []})
    assert "services.web.task_definition" in message and "must be a task definition object with a family" in message


def services_text(*blocks: str) -> str:
    return BASE.replace('[services.web]\ntask_definition = "web.json"\n', "") + "".join(blocks)


def block(name: str, after: str = "", profile: str = "") -> str:
    text = f'[services.{name}]\ntask_definition = "web.json"\n'
    if after:
        text += f"after = [{after}]\n"
    if profile:
        text += f'profile = "{profile}"\n'
    return text


def test_select_services_orders_waves_by_after_and_adds_a_profile(tmp_path: Path) -> None:
    text = services_text(block("gen", '"api"'), block("api", '"db"'), block("db"), block("extra", profile="demo"))
    project = load_project(write(tmp_path, text))
    assert [[s.name for s in wave] for wave in select_services(project, None)] == [["db"], ["api"], ["gen"]]
    assert [[s.name for s in wave] for wave in select_services(project, "demo")] == [["db", "extra"], ["api"], ["gen"]]


def test_select_services_rejects_an_unknown_profile_and_a_cycle(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, services_text(block("a"), block("b", profile="demo"))))
    with pytest.raises(ProjectError, match=r"no service has profile 'x' \(profiles: demo\)"):
        select_services(project, "x")
    cyclic = services_text(block("a", '"b"'), block("b", '"a"'))
    assert "services.a.after: a cycle through a, b" in error_of(tmp_path, cyclic)


def test_select_services_rejects_after_naming_a_service_of_another_profile(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, services_text(block("a", '"b"'), block("b", profile="demo"))))
    with pytest.raises(ProjectError, match=r"services\.a\.after: 'b' is not deployed without a profile"):
        select_services(project, None)


def test_merged_definition_replaces_in_place_appends_and_fills_addresses(tmp_path: Path) -> None:
    text = services_text(
        block("api"),
        block("web", '"api"'),
        '[services.web.environment.app]\nB = "two"\nURL = "http://{address:api}:80/x"\n',
    )
    web = load_project(write(tmp_path, text)).services["web"]
    merged = merged_definition(web, {"api": "10.0.1.7"})
    assert merged["containerDefinitions"][0]["environment"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "two"},
        {"name": "URL", "value": "http://10.0.1.7:80/x"},
    ]
    assert "environment" not in merged["containerDefinitions"][1]  # no table for it: untouched
    assert web.task_definition["containerDefinitions"][0]["environment"][1]["value"] == "2"  # file kept
    assert digest_of(merged) != digest_of(merged_definition(web, {"api": "10.0.1.8"}))
    assert digest_of(merged) == digest_of(merged_definition(web, {"api": "10.0.1.7"}))
    with pytest.raises(ProjectError, match="no RUNNING task of 'api'"):
        merged_definition(web, {})


def test_fill_addresses_leaves_out_a_command_whose_address_is_unknown() -> None:
    assert fill_addresses("curl http://{address:a}:8000/", {"a": "10.0.0.2"}) == "curl http://10.0.0.2:8000/"
    assert fill_addresses("curl http://{address:b}/", {"a": "10.0.0.2"}) is None


def test_project_map_makes_paths_absolute_and_picks_the_router_root() -> None:
    project = load_project(REPO / "examples" / "otel-demo")
    assert project.router is not None
    example = REPO / "examples" / "otel-demo"
    seed, fixed = project_map(project, "seed"), project_map(project, "fixed")
    assert seed[project.router.image]["path"] == str(example / "fluent-bit")
    assert fixed[project.router.image]["path"] == str(example / "fluent-bit" / "fixed")
    assert fixed[project.router.image]["builtin"] == "aws-for-fluent-bit"
    python = next(k for k in seed if k.endswith(":python"))
    assert seed[python]["path"] == str(example) and seed[python]["entryPoint"][0] == ".venvs/orders/bin/python"


def test_health_tools_finds_curl_and_wget_in_the_seed_checks() -> None:
    project = load_project(REPO / "examples" / "otel-demo")
    tools = health_tools(list(project.services.values()))
    assert tools["wget"] == ["otel-demo-app/go-service"]
    assert "otel-demo-app/python-service" in tools["curl"] and "otel-demo-loadgen/loadgen" in tools["curl"]
