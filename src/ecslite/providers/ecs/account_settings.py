"""Account settings (spec/ecs.md §1.1, §1.5): PutAccountSetting, PutAccountSettingDefault,
ListAccountSettings, DeleteAccountSetting.

A setting applies to one IAM principal or, as the account default, to every principal without
its own. The root user's setting *is* the account default (ECS: "If you specify the root user,
it modifies the account setting for all users, roles, and the root user"), so both are stored
under the account-default row (``store.account_settings``). The effective value of a setting is
the principal's own, else the account default, else ``ACCOUNT_SETTING_DEFAULTS``.

Deliberate difference from ECS: ecslite only issues long ARNs, so the three ARN-format settings
are always ``enabled`` and ``disabled`` is refused (§1.5).
"""

from __future__ import annotations

import re
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import ACCOUNT_SETTING_DEFAULTS, EcsBase
from ecslite.providers.ecs.errors import InvalidParameterException
from ecslite.providers.pagination import encode_token
from ecslite.store import account_settings as setting_store

ARN_FORMAT_SETTINGS = ("serviceLongArnFormat", "taskLongArnFormat", "containerInstanceLongArnFormat")
ON_OFF = ("on", "off")
ENABLED_DISABLED = ("enabled", "disabled")

# Values each setting accepts (the ECS API reference for PutAccountSetting lists them per setting).
VALID_VALUES: dict[str, tuple[str, ...]] = {
    "serviceLongArnFormat": ("enabled",),
    "taskLongArnFormat": ("enabled",),
    "containerInstanceLongArnFormat": ("enabled",),
    "awsvpcTrunking": ENABLED_DISABLED,
    "containerInsights": ("enabled", "disabled", "enhanced"),
    "fargateFIPSMode": ENABLED_DISABLED,
    "tagResourceAuthorization": ON_OFF,
    "fargateTaskRetirementWaitPeriod": ("0", "7", "14"),
    "guardDutyActivate": ON_OFF,
    "defaultLogDriverMode": ("blocking", "non-blocking"),
    "fargateEventWindows": ENABLED_DISABLED,
}
# ECS manages these on the customer's behalf; they are read-only ("type": "aws_managed").
AWS_MANAGED = frozenset({"guardDutyActivate"})
# Only the root user may set these (API reference: "You must use the root user when you set the
# Fargate wait time").
ROOT_ONLY = frozenset({"fargateTaskRetirementWaitPeriod"})

MAX_PAGE = 10

# Texts below are unverified against ECS; kept in one place so they can be corrected.
INVALID_VALUE = "Invalid value '{value}' for the account setting '{name}'. Valid values: {valid}."
LONG_ARNS_ALWAYS_ON = (
    "Invalid value 'disabled' for the account setting '{name}'. ecslite always uses the long ARN "
    "format, so this setting is always enabled."
)
READ_ONLY = "The account setting '{name}' is managed by AWS and cannot be changed."
ROOT_REQUIRED = "The account setting '{name}' can only be set for the root user; omit principalArn or pass {root}."
BAD_PRINCIPAL = (
    "Invalid principalArn '{principal}'. Specify the ARN of an IAM user, an IAM role or the root user "
    "of account {account}."
)
VALUE_NEEDS_NAME = "The value filter requires a setting name; specify name as well."

_PRINCIPAL = re.compile(r"arn:aws:iam::(\d{12}):(root|user/.+|role/.+)")


class AccountSettingOps(EcsBase):
    def put_account_setting(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name, value = params["name"], params["value"]
        principal = self._principal(ctx, params.get("principalArn"))
        self._check_writable(ctx, name, principal)
        self._check_value(name, value)
        with self.db.transaction():
            setting_store.put(self.db, ctx.account, ctx.region, self._row_key(ctx, principal), name, value)
        return {"setting": self._setting(name, value, principal)}

    def put_account_setting_default(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name, value = params["name"], params["value"]
        self._check_writable(ctx, name, ctx.principal_arn)
        self._check_value(name, value)
        with self.db.transaction():
            setting_store.put(self.db, ctx.account, ctx.region, setting_store.ACCOUNT_DEFAULT, name, value)
        return {"setting": self._setting(name, value, self._root(ctx))}

    def delete_account_setting(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["name"]
        principal = self._principal(ctx, params.get("principalArn"))
        self._check_writable(ctx, name, principal)
        key = self._row_key(ctx, principal)
        stored = setting_store.get(self.db, ctx.account, ctx.region, key, name)
        if stored is None:
            # Nothing of the principal's own to remove: report what now applies to it.
            value, source = self._effective(ctx, principal, name)
            return {"setting": self._setting(name, value, source)}
        with self.db.transaction():
            setting_store.delete(self.db, ctx.account, ctx.region, key, name)
        return {"setting": self._setting(name, stored, principal)}

    def list_account_settings(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params, default=MAX_PAGE, maximum=MAX_PAGE)
        name, value = params.get("name"), params.get("value")
        if value is not None and name is None:
            raise InvalidParameterException(VALUE_NEEDS_NAME)
        principal = self._principal(ctx, params.get("principalArn"))
        if params.get("effectiveSettings"):
            names = [name] if name else sorted(VALID_VALUES)
            settings = [self._setting(n, *self._effective(ctx, principal, n)) for n in names]
        else:
            stored = setting_store.of_principal(self.db, ctx.account, ctx.region, self._row_key(ctx, principal))
            settings = [self._setting(n, v, principal) for n, v in sorted(stored.items()) if name in (None, n)]
        if value is not None:
            settings = [s for s in settings if s["value"] == value]
        if after is not None:
            settings = [s for s in settings if s["name"] > str(after)]
        result: dict[str, Any] = {"settings": settings[:limit]}
        if len(settings) > limit:
            result["nextToken"] = encode_token(settings[limit - 1]["name"])
        return result

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _root(ctx: RequestContext) -> str:
        return f"arn:aws:iam::{ctx.account}:root"

    def _principal(self, ctx: RequestContext, given: str | None) -> str:
        """The principal a request is about: ``principalArn``, else the caller."""
        if given is None:
            return ctx.principal_arn
        match = _PRINCIPAL.fullmatch(given)
        if match is None or match.group(1) != ctx.account:
            raise InvalidParameterException(BAD_PRINCIPAL.format(principal=given, account=ctx.account))
        return given

    def _row_key(self, ctx: RequestContext, principal: str) -> str:
        return setting_store.ACCOUNT_DEFAULT if principal == self._root(ctx) else principal

    def _effective(self, ctx: RequestContext, principal: str, name: str) -> tuple[str, str]:
        """``(value, principal it comes from)``: the principal's own, the account default, the built-in."""
        if principal != self._root(ctx):
            own = setting_store.get(self.db, ctx.account, ctx.region, principal, name)
            if own is not None:
                return own, principal
        default = setting_store.get(self.db, ctx.account, ctx.region, setting_store.ACCOUNT_DEFAULT, name)
        if default is not None:
            return default, self._root(ctx)
        return ACCOUNT_SETTING_DEFAULTS.get(name, "disabled"), self._root(ctx)

    def _check_writable(self, ctx: RequestContext, name: str, principal: str) -> None:
        if name in AWS_MANAGED:
            raise InvalidParameterException(READ_ONLY.format(name=name))
        if name in ROOT_ONLY and principal != self._root(ctx):
            raise InvalidParameterException(ROOT_REQUIRED.format(name=name, root=self._root(ctx)))

    @staticmethod
    def _check_value(name: str, value: str) -> None:
        valid = VALID_VALUES[name]
        if value in valid:
            return
        if name in ARN_FORMAT_SETTINGS and value == "disabled":
            raise InvalidParameterException(LONG_ARNS_ALWAYS_ON.format(name=name))
        raise InvalidParameterException(INVALID_VALUE.format(value=value, name=name, valid=", ".join(valid)))

    @staticmethod
    def _setting(name: str, value: str, principal: str) -> dict[str, Any]:
        return {
            "name": name,
            "value": value,
            "principalArn": principal,
            "type": "aws_managed" if name in AWS_MANAGED else "user",
        }
