"""Account settings through boto3 and the AWS CLI (spec/ecs.md §1.1, §1.5)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from ecslite.providers.ecs import account_settings as acs
from tests.conftest import make_client

ROOT = "arn:aws:iam::000000000000:root"
USER = "arn:aws:iam::000000000000:user/alice"
ROLE = "arn:aws:iam::000000000000:role/deployer"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def effective(ecs: Any, name: str, **kwargs: Any) -> dict[str, Any]:
    settings = ecs.list_account_settings(name=name, effectiveSettings=True, **kwargs)["settings"]
    assert len(settings) == 1
    result: dict[str, Any] = settings[0]
    return result


def test_put_account_setting_for_the_caller_is_the_account_default(ecs: Any) -> None:
    setting = ecs.put_account_setting(name="containerInsights", value="enhanced")["setting"]
    assert setting == {"name": "containerInsights", "value": "enhanced", "principalArn": ROOT, "type": "user"}
    assert effective(ecs, "containerInsights", principalArn=USER)["value"] == "enhanced"
    # New clusters pick the account's Container Insights setting up (§2.1).
    cluster = ecs.create_cluster(clusterName="insights")["cluster"]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enhanced"}]


def test_put_account_setting_for_a_principal_overrides_the_default_for_it_only(ecs: Any) -> None:
    ecs.put_account_setting_default(name="awsvpcTrunking", value="enabled")
    own = ecs.put_account_setting(name="awsvpcTrunking", value="disabled", principalArn=USER)["setting"]
    assert own == {"name": "awsvpcTrunking", "value": "disabled", "principalArn": USER, "type": "user"}
    assert effective(ecs, "awsvpcTrunking", principalArn=USER) == own
    assert effective(ecs, "awsvpcTrunking", principalArn=ROLE)["value"] == "enabled"
    assert effective(ecs, "awsvpcTrunking")["principalArn"] == ROOT


def test_put_account_setting_default_returns_the_root_principal(ecs: Any) -> None:
    setting = ecs.put_account_setting_default(name="fargateTaskRetirementWaitPeriod", value="14")["setting"]
    assert setting == {"name": "fargateTaskRetirementWaitPeriod", "value": "14", "principalArn": ROOT, "type": "user"}
    assert effective(ecs, "fargateTaskRetirementWaitPeriod")["value"] == "14"


@pytest.mark.parametrize(
    ("name", "value", "valid"),
    [
        ("containerInsights", "on", "enabled, disabled, enhanced"),
        ("awsvpcTrunking", "yes", "enabled, disabled"),
        ("fargateTaskRetirementWaitPeriod", "3", "0, 7, 14"),
        ("tagResourceAuthorization", "enabled", "on, off"),
        ("defaultLogDriverMode", "fast", "blocking, non-blocking"),
    ],
)
def test_put_account_setting_rejects_values_the_setting_does_not_take(
    ecs: Any, name: str, value: str, valid: str
) -> None:
    expected = ("InvalidParameterException", acs.INVALID_VALUE.format(value=value, name=name, valid=valid))
    assert error_of(ecs.put_account_setting, name=name, value=value) == expected
    assert error_of(ecs.put_account_setting_default, name=name, value=value) == expected


@pytest.mark.parametrize("name", acs.ARN_FORMAT_SETTINGS)
def test_long_arn_formats_cannot_be_disabled(ecs: Any, name: str) -> None:
    code, message = error_of(ecs.put_account_setting_default, name=name, value="disabled")
    assert (code, message) == ("InvalidParameterException", acs.LONG_ARNS_ALWAYS_ON.format(name=name))
    assert ecs.put_account_setting(name=name, value="enabled")["setting"]["value"] == "enabled"


def test_aws_managed_and_root_only_settings_are_protected(ecs: Any) -> None:
    assert error_of(ecs.put_account_setting, name="guardDutyActivate", value="on") == (
        "InvalidParameterException",
        acs.READ_ONLY.format(name="guardDutyActivate"),
    )
    assert error_of(ecs.put_account_setting, name="fargateTaskRetirementWaitPeriod", value="0", principalArn=USER) == (
        "InvalidParameterException",
        acs.ROOT_REQUIRED.format(name="fargateTaskRetirementWaitPeriod", root=ROOT),
    )
    assert effective(ecs, "guardDutyActivate")["type"] == "aws_managed"


@pytest.mark.parametrize(
    "principal", ["arn:aws:iam::111111111111:user/bob", "alice", "arn:aws:sts::000000000000:assumed-role/r/s"]
)
def test_principal_arn_must_be_a_user_role_or_root_of_the_account(ecs: Any, principal: str) -> None:
    code, message = error_of(ecs.put_account_setting, name="awsvpcTrunking", value="enabled", principalArn=principal)
    assert (code, message) == (
        "InvalidParameterException",
        acs.BAD_PRINCIPAL.format(principal=principal, account="000000000000"),
    )


def test_list_without_effective_settings_shows_only_what_was_set(ecs: Any) -> None:
    assert ecs.list_account_settings()["settings"] == []
    ecs.put_account_setting(name="containerInsights", value="enabled")
    ecs.put_account_setting(name="awsvpcTrunking", value="enabled", principalArn=USER)
    assert ecs.list_account_settings()["settings"] == [
        {"name": "containerInsights", "value": "enabled", "principalArn": ROOT, "type": "user"}
    ]
    assert ecs.list_account_settings(principalArn=USER)["settings"] == [
        {"name": "awsvpcTrunking", "value": "enabled", "principalArn": USER, "type": "user"}
    ]


def test_list_effective_settings_reports_every_setting_with_defaults(ecs: Any) -> None:
    settings = ecs.get_paginator("list_account_settings").paginate(effectiveSettings=True).build_full_result()
    by_name = {s["name"]: s["value"] for s in settings["settings"]}
    assert sorted(by_name) == sorted(acs.VALID_VALUES)
    assert by_name["serviceLongArnFormat"] == by_name["taskLongArnFormat"] == "enabled"
    assert by_name["containerInstanceLongArnFormat"] == "enabled"
    assert by_name["containerInsights"] == "disabled"
    assert by_name["fargateTaskRetirementWaitPeriod"] == "7"


def test_list_paginates_ten_at_a_time_in_name_order(ecs: Any) -> None:
    first = ecs.list_account_settings(effectiveSettings=True)
    names = [s["name"] for s in first["settings"]]
    assert len(names) == 10 and names == sorted(names)
    second = ecs.list_account_settings(effectiveSettings=True, nextToken=first["nextToken"])
    assert [s["name"] for s in second["settings"]] == sorted(acs.VALID_VALUES)[10:]
    assert "nextToken" not in second
    small = ecs.list_account_settings(effectiveSettings=True, maxResults=4)
    assert [s["name"] for s in small["settings"]] == sorted(acs.VALID_VALUES)[:4]
    assert error_of(ecs.list_account_settings, maxResults=11) == (
        "InvalidParameterException",
        "maxResults must be between 1 and 10.",
    )


def test_list_filters_by_name_and_value(ecs: Any) -> None:
    ecs.put_account_setting_default(name="containerInsights", value="enabled")
    matched = ecs.list_account_settings(name="containerInsights", value="enabled", effectiveSettings=True)
    assert [s["value"] for s in matched["settings"]] == ["enabled"]
    assert (
        ecs.list_account_settings(name="containerInsights", value="disabled", effectiveSettings=True)["settings"] == []
    )
    assert error_of(ecs.list_account_settings, value="enabled") == (
        "InvalidParameterException",
        acs.VALUE_NEEDS_NAME,
    )


def test_delete_account_setting_returns_the_removed_value(ecs: Any) -> None:
    ecs.put_account_setting(name="awsvpcTrunking", value="enabled", principalArn=USER)
    deleted = ecs.delete_account_setting(name="awsvpcTrunking", principalArn=USER)["setting"]
    assert deleted == {"name": "awsvpcTrunking", "value": "enabled", "principalArn": USER, "type": "user"}
    assert ecs.list_account_settings(principalArn=USER)["settings"] == []
    assert effective(ecs, "awsvpcTrunking", principalArn=USER)["value"] == "disabled"
    # Nothing of its own left: the answer is what applies to the principal now.
    again = ecs.delete_account_setting(name="awsvpcTrunking", principalArn=USER)["setting"]
    assert (again["value"], again["principalArn"]) == ("disabled", ROOT)


def test_delete_of_the_callers_setting_resets_the_account_default(ecs: Any) -> None:
    ecs.put_account_setting_default(name="containerInsights", value="enhanced")
    assert ecs.delete_account_setting(name="containerInsights")["setting"]["value"] == "enhanced"
    assert effective(ecs, "containerInsights")["value"] == "disabled"
    assert ecs.create_cluster(clusterName="plain")["cluster"]["settings"] == [
        {"name": "containerInsights", "value": "disabled"}
    ]


def test_account_settings_are_per_region(ecs: Any, endpoint: str) -> None:
    ecs.put_account_setting_default(name="containerInsights", value="enabled")
    other = make_client("ecs", endpoint, region="eu-west-1")
    assert effective(other, "containerInsights")["value"] == "disabled"


def test_account_setting_default_through_the_aws_cli(aws: Any) -> None:
    result = aws("ecs", "put-account-setting-default", "--name", "containerInsights", "--value", "enabled")
    assert result["setting"] == {"name": "containerInsights", "value": "enabled", "principalArn": ROOT, "type": "user"}
    listed = aws("ecs", "list-account-settings", "--effective-settings", "--name", "containerInsights")
    assert listed["settings"][0]["value"] == "enabled"
    deleted = aws("ecs", "delete-account-setting", "--name", "containerInsights")
    assert deleted["setting"]["value"] == "enabled"
