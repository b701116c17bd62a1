"""SSM Parameter Store through boto3 and the AWS CLI: parameters, versions, SecureString, paths, labels."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import REGION, make_client, start_server, stop_server

ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
INVALID_NAME = (
    'Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of '
    "sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following "
    "3 symbols .-_"
)


@pytest.fixture
def ssm(endpoint: str) -> Any:
    return make_client("ssm", endpoint)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


# -- PutParameter / GetParameter ----------------------------------------------------------------------


def test_put_and_get_a_string_parameter(ssm: Any) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    assert ssm.put_parameter(Name="/app/url", Value="http://x", Type="String")["Version"] == 1
    parameter = ssm.get_parameter(Name="/app/url")["Parameter"]
    assert parameter["Name"] == "/app/url"
    assert (parameter["Type"], parameter["Value"], parameter["Version"]) == ("String", "http://x", 1)
    assert parameter["ARN"] == f"{ARN_PREFIX}/app/url"
    assert parameter["DataType"] == "text"
    assert parameter["LastModifiedDate"] >= before


def test_plain_name_has_an_arn_with_one_slash(ssm: Any) -> None:
    ssm.put_parameter(Name="plain", Value="v", Type="String")
    assert ssm.get_parameter(Name="plain")["Parameter"]["ARN"] == f"{ARN_PREFIX}/plain"
    assert ssm.get_parameter(Name=f"{ARN_PREFIX}/plain")["Parameter"]["Value"] == "v"


def test_existing_parameter_needs_overwrite(ssm: Any) -> None:
    ssm.put_parameter(Name="/p", Value="one", Type="String")
    assert error_of(ssm.put_parameter, Name="/p", Value="two", Type="String") == (
        "ParameterAlreadyExists",
        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
    )
    assert ssm.put_parameter(Name="/p", Value="two", Overwrite=True)["Version"] == 2
    parameter = ssm.get_parameter(Name="/p")["Parameter"]
    assert (parameter["Value"], parameter["Version"], parameter["Type"]) == ("two", 2, "String")


def test_selectors_read_earlier_versions_and_labels(ssm: Any) -> None:
    ssm.put_parameter(Name="/sel", Value="one", Type="String")
    ssm.put_parameter(Name="/sel", Value="two", Overwrite=True)
    ssm.label_parameter_version(Name="/sel", ParameterVersion=1, Labels=["stable"])
    first = ssm.get_parameter(Name="/sel:1")["Parameter"]
    assert (first["Value"], first["Selector"]) == ("one", ":1")
    assert ssm.get_parameter(Name="/sel:stable")["Parameter"]["Value"] == "one"
    assert error_of(ssm.get_parameter, Name="/sel:7") == (
        "ParameterVersionNotFound",
        "Systems Manager could not find version 7 of /sel. Verify the version and try again.",
    )


def test_missing_parameter_is_parameter_not_found(ssm: Any) -> None:
    assert error_of(ssm.get_parameter, Name="/nope") == ("ParameterNotFound", "Parameter /nope not found.")
    assert error_of(ssm.delete_parameter, Name="/nope")[0] == "ParameterNotFound"


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("bad name", "ValidationException", INVALID_NAME),
        ("a/b", "ValidationException", "Parameter name must be a fully qualified name."),
        ("/a//b", "ValidationException", INVALID_NAME),
        (
            "ssm-thing",
            "ValidationException",
            'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).',
        ),
        ("/SSM/thing", "ValidationException", INVALID_NAME),
        ("/aws/thing", "AccessDeniedException", "No access to reserved parameter name: /aws/thing."),
    ],
)
def test_names_parameter_store_refuses(ssm: Any, name: str, code: str, message: str) -> None:
    assert error_of(ssm.put_parameter, Name=name, Value="v", Type="String") == (code, message)


def test_type_is_required_to_create(ssm: Any) -> None:
    assert error_of(ssm.put_parameter, Name="/untyped", Value="v") == (
        "ValidationException",
        "A parameter type is required when you create a parameter.",
    )


def test_tags_and_overwrite_cannot_be_combined(ssm: Any) -> None:
    code, message = error_of(
        ssm.put_parameter, Name="/t", Value="v", Type="String", Overwrite=True, Tags=[{"Key": "a", "Value": "b"}]
    )
    assert code == "ValidationException" and message.startswith("Invalid request: tags and overwrite can't be used")


def test_allowed_pattern_is_enforced_on_every_version(ssm: Any) -> None:
    ssm.put_parameter(Name="/port", Value="8080", Type="String", AllowedPattern=r"^\d+$")
    assert error_of(ssm.put_parameter, Name="/port", Value="eighty", Overwrite=True) == (
        "ParameterPatternMismatchException",
        r"Parameter value, cannot be validated against allowedPattern: ^\d+$",
    )
    assert ssm.get_parameter(Name="/port")["Parameter"]["Version"] == 1


def test_unknown_data_type_is_refused(ssm: Any) -> None:
    assert error_of(ssm.put_parameter, Name="/dt", Value="v", Type="String", DataType="Text") == (
        "ValidationException",
        "The following data type is not supported: Text (Data type names are all lowercase.)",
    )


def test_standard_tier_limits_values_to_4096_characters(ssm: Any) -> None:
    code, message = error_of(ssm.put_parameter, Name="/big", Value="x" * 4097, Type="String")
    assert code == "ValidationException" and message.startswith(
        "Standard tier parameters support a maximum parameter value of 4096 characters."
    )
    assert ssm.put_parameter(Name="/big", Value="x" * 4097, Type="String", Tier="Advanced")["Tier"] == "Advanced"
    assert ssm.put_parameter(Name="/auto", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")["Tier"] == (
        "Advanced"
    )
    assert ssm.put_parameter(Name="/small", Value="x", Type="String", Tier="Intelligent-Tiering")["Tier"] == "Standard"
    code, message = error_of(ssm.put_parameter, Name="/big", Value="y", Overwrite=True, Tier="Standard")
    assert code == "ValidationException" and "can't downgrade a parameter" in message


# -- SecureString -------------------------------------------------------------------------------------


def test_secure_string_is_decrypted_only_when_asked(ssm: Any) -> None:
    ssm.put_parameter(Name="/db/password", Value="hunter2", Type="SecureString")
    hidden = ssm.get_parameter(Name="/db/password")["Parameter"]["Value"]
    assert hidden != "hunter2" and b"hunter2" not in base64.b64decode(hidden)
    clear = ssm.get_parameter(Name="/db/password", WithDecryption=True)["Parameter"]
    assert (clear["Value"], clear["Type"]) == ("hunter2", "SecureString")
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/db/password"]}])
    assert described["Parameters"][0]["KeyId"] == "alias/aws/ssm"


def test_secure_string_keeps_its_key_id(ssm: Any) -> None:
    ssm.put_parameter(Name="/k", Value="v", Type="SecureString", KeyId="alias/mine")
    ssm.put_parameter(Name="/k", Value="w", Overwrite=True)
    history = ssm.get_parameter_history(Name="/k", WithDecryption=True)["Parameters"]
    assert [(h["Version"], h["KeyId"], h["Value"]) for h in history] == [(1, "alias/mine", "v"), (2, "alias/mine", "w")]


# -- GetParameters ------------------------------------------------------------------------------------


def test_get_parameters_reports_missing_names_as_invalid(ssm: Any) -> None:
    ssm.put_parameter(Name="/a", Value="1", Type="String")
    ssm.put_parameter(Name="/b", Value="2", Type="SecureString")
    result = ssm.get_parameters(Names=["/a", "/missing", "/b", "/a:9"], WithDecryption=True)
    assert [(p["Name"], p["Value"]) for p in result["Parameters"]] == [("/a", "1"), ("/b", "2")]
    assert result["InvalidParameters"] == ["/missing", "/a:9"]


# -- GetParametersByPath ------------------------------------------------------------------------------


@pytest.fixture
def tree(ssm: Any) -> Any:
    for name, kind in [
        ("/app/prod/db/user", "String"),
        ("/app/prod/db/password", "SecureString"),
        ("/app/prod/url", "String"),
        ("/app/dev/url", "String"),
        ("/other/x", "String"),
        ("top", "String"),
    ]:
        ssm.put_parameter(Name=name, Value=f"value of {name}", Type=kind)
    return ssm


def test_get_parameters_by_path_one_level_and_recursive(tree: Any) -> None:
    def names(**kwargs: Any) -> list[str]:
        return [
            p["Name"]
            for page in tree.get_paginator("get_parameters_by_path").paginate(**kwargs)
            for p in page["Parameters"]
        ]

    assert names(Path="/app/prod") == ["/app/prod/url"]
    assert names(Path="/app/prod/", Recursive=True) == ["/app/prod/db/password", "/app/prod/db/user", "/app/prod/url"]
    assert names(Path="/app", Recursive=True, ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}]) == [
        "/app/prod/db/password"
    ]
    assert names(Path="/", Recursive=True) == [
        "/app/dev/url",
        "/app/prod/db/password",
        "/app/prod/db/user",
        "/app/prod/url",
        "/other/x",
    ]


def test_get_parameters_by_path_pages_and_decrypts(tree: Any) -> None:
    page = tree.get_parameters_by_path(Path="/app", Recursive=True, MaxResults=2, WithDecryption=True)
    assert len(page["Parameters"]) == 2 and "NextToken" in page
    rest = tree.get_parameters_by_path(Path="/app", Recursive=True, MaxResults=2, NextToken=page["NextToken"])
    assert [p["Name"] for p in rest["Parameters"]] == ["/app/prod/db/user", "/app/prod/url"]
    secret = next(p for p in page["Parameters"] if p["Name"] == "/app/prod/db/password")
    assert secret["Value"] == "value of /app/prod/db/password"


def test_get_parameters_by_path_checks_path_and_filters(tree: Any) -> None:
    code, message = error_of(tree.get_parameters_by_path, Path="app")
    assert code == "ValidationException" and message.startswith(
        "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward"
    )
    assert error_of(tree.get_parameters_by_path, Path="/app", ParameterFilters=[{"Key": "Name", "Values": ["x"]}]) == (
        "InvalidFilterKey",
        "The following filter key is not valid: Name. Valid filter keys include: [Type, KeyId].",
    )


# -- DescribeParameters -------------------------------------------------------------------------------


def test_describe_parameters_filters_by_name_path_type_and_tags(ssm: Any) -> None:
    ssm.put_parameter(Name="/svc/a", Value="1", Type="String", Tags=[{"Key": "team", "Value": "obs"}])
    ssm.put_parameter(Name="/svc/b", Value="2", Type="SecureString", Description="secret b")
    ssm.put_parameter(Name="/svc/deep/c", Value="3", Type="StringList")

    def names(**kwargs: Any) -> list[str]:
        return [p["Name"] for p in ssm.describe_parameters(**kwargs)["Parameters"]]

    assert names() == ["/svc/a", "/svc/b", "/svc/deep/c"]
    assert names(ParameterFilters=[{"Key": "Path", "Values": ["/svc"]}]) == ["/svc/a", "/svc/b"]
    assert names(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/svc"]}]) == [
        "/svc/a",
        "/svc/b",
        "/svc/deep/c",
    ]
    assert names(ParameterFilters=[{"Key": "Name", "Option": "Contains", "Values": ["deep"]}]) == ["/svc/deep/c"]
    assert names(ParameterFilters=[{"Key": "Type", "Values": ["SecureString", "StringList"]}]) == [
        "/svc/b",
        "/svc/deep/c",
    ]
    assert names(ParameterFilters=[{"Key": "tag:team"}]) == ["/svc/a"]
    assert names(Filters=[{"Key": "Name", "Values": ["/svc/d"]}]) == ["/svc/deep/c"]
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/svc/b"]}])["Parameters"][0]
    assert described["Description"] == "secret b" and described["ARN"] == f"{ARN_PREFIX}/svc/b"
    assert described["LastModifiedUser"] == f"arn:aws:iam::{ACCOUNT}:root" and "Value" not in described


def test_describe_parameters_refuses_both_kinds_of_filters_and_bad_options(ssm: Any) -> None:
    assert error_of(
        ssm.describe_parameters,
        Filters=[{"Key": "Name", "Values": ["x"]}],
        ParameterFilters=[{"Key": "Type", "Values": ["String"]}],
    ) == ("ValidationException", "You can use either Filters or ParameterFilters in a single request.")
    assert error_of(
        ssm.describe_parameters, ParameterFilters=[{"Key": "Type", "Option": "BeginsWith", "Values": ["S"]}]
    ) == (
        "InvalidFilterOption",
        "The following filter option is not valid: BeginsWith. Valid options include: [Equals].",
    )


# -- history, labels, delete --------------------------------------------------------------------------


def test_parameter_history_lists_every_version_with_labels(ssm: Any) -> None:
    for i in range(3):
        ssm.put_parameter(Name="/h", Value=f"v{i}", Type="String", Overwrite=i > 0, Description=f"d{i}")
    ssm.label_parameter_version(Name="/h", Labels=["latest"])
    history = ssm.get_parameter_history(Name="/h")["Parameters"]
    assert [(h["Version"], h["Value"], h["Labels"], h["Description"]) for h in history] == [
        (1, "v0", [], "d0"),
        (2, "v1", [], "d1"),
        (3, "v2", ["latest"], "d2"),
    ]
    page = ssm.get_parameter_history(Name="/h", MaxResults=2)
    assert len(page["Parameters"]) == 2 and "NextToken" in page
    assert error_of(ssm.get_parameter_history, Name="/nope")[0] == "ParameterNotFound"


def test_labels_move_between_versions_and_bad_labels_are_reported(ssm: Any) -> None:
    ssm.put_parameter(Name="/l", Value="one", Type="String")
    ssm.put_parameter(Name="/l", Value="two", Overwrite=True)
    result = ssm.label_parameter_version(Name="/l", ParameterVersion=1, Labels=["prod", "aws-nope", "123"])
    assert (result["ParameterVersion"], result["InvalidLabels"]) == (1, ["aws-nope", "123"])
    ssm.label_parameter_version(Name="/l", ParameterVersion=2, Labels=["prod"])
    assert ssm.get_parameter(Name="/l:prod")["Parameter"]["Version"] == 2
    removed = ssm.unlabel_parameter_version(Name="/l", ParameterVersion=2, Labels=["prod", "never"])
    assert (removed["RemovedLabels"], removed["InvalidLabels"]) == (["prod"], ["never"])
    assert error_of(ssm.label_parameter_version, Name="/l", ParameterVersion=5, Labels=["x"])[0] == (
        "ParameterVersionNotFound"
    )


def test_a_version_carries_at_most_ten_labels(ssm: Any) -> None:
    ssm.put_parameter(Name="/many", Value="v", Type="String")
    ssm.label_parameter_version(Name="/many", Labels=[f"l{i}" for i in range(10)])
    assert error_of(ssm.label_parameter_version, Name="/many", Labels=["one-more"]) == (
        "ParameterVersionLabelLimitExceeded",
        "A parameter version can have maximum 10 labels.",
    )


def test_delete_parameter_and_delete_parameters(ssm: Any) -> None:
    for name in ("/d/1", "/d/2", "/d/3"):
        ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "k", "Value": "v"}])
    ssm.delete_parameter(Name="/d/1")
    assert error_of(ssm.get_parameter, Name="/d/1")[0] == "ParameterNotFound"
    result = ssm.delete_parameters(Names=["/d/2", "/d/missing", "/d/3"])
    assert (result["DeletedParameters"], result["InvalidParameters"]) == (["/d/2", "/d/3"], ["/d/missing"])
    ssm.put_parameter(Name="/d/2", Value="again", Type="String")
    assert ssm.get_parameter(Name="/d/2")["Parameter"]["Version"] == 1
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/d/2")["TagList"] == []


# -- tags ---------------------------------------------------------------------------------------------


def test_tags_on_parameters(ssm: Any) -> None:
    ssm.put_parameter(Name="/tagged", Value="v", Type="String", Tags=[{"Key": "a", "Value": "1"}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/tagged", Tags=[{"Key": "b", "Value": "2"}])
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/tagged")["TagList"]
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/tagged", TagKeys=["a"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/tagged")["TagList"] == [
        {"Key": "b", "Value": "2"}
    ]
    assert error_of(ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId="/none")[0] == "InvalidResourceId"


# -- partitions, the CLI, at rest ---------------------------------------------------------------------


def test_parameters_are_kept_per_region(ssm: Any, endpoint: str) -> None:
    ssm.put_parameter(Name="/regional", Value="v", Type="String")
    elsewhere = make_client("ssm", endpoint, region="eu-west-1")
    assert error_of(elsewhere.get_parameter, Name="/regional")[0] == "ParameterNotFound"
    assert error_of(elsewhere.get_parameter, Name=f"{ARN_PREFIX}/regional")[0] == "ParameterNotFound"


def test_parameter_round_trip_through_the_cli(aws: Callable[..., Any]) -> None:
    put = aws("ssm", "put-parameter", "--name", "/cli/p", "--value", "s3cr3t", "--type", "SecureString")
    assert put == {"Version": 1, "Tier": "Standard"}
    got = aws("ssm", "get-parameter", "--name", "/cli/p", "--with-decryption")
    assert got["Parameter"]["Value"] == "s3cr3t"
    by_path = aws("ssm", "get-parameters-by-path", "--path", "/cli")
    assert [p["Name"] for p in by_path["Parameters"]] == ["/cli/p"]
    assert aws("ssm", "delete-parameter", "--name", "/cli/p") in (None, {})


def test_parameter_values_are_encrypted_at_rest_and_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, ephemeral=False)
    try:
        ssm = make_client("ssm", server.endpoint)
        ssm.put_parameter(Name="/rest/a", Value="secure-canary-1234", Type="SecureString")
        ssm.put_parameter(Name="/rest/b", Value="string-canary-5678", Type="String")
    finally:
        stop_server(server)
    stored = b"".join(p.read_bytes() for p in data_dir.glob("state.db*"))
    assert b"secure-canary-1234" not in stored and b"string-canary-5678" not in stored
    server = start_server(data_dir, ephemeral=False)
    try:
        ssm = make_client("ssm", server.endpoint)
        values = ssm.get_parameters(Names=["/rest/a", "/rest/b"], WithDecryption=True)["Parameters"]
        assert [p["Value"] for p in values] == ["secure-canary-1234", "string-canary-5678"]
    finally:
        stop_server(server)
