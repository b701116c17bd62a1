"""Account settings (PutAccountSetting, PutAccountSettingDefault, ListAccountSettings, DeleteAccountSetting)."""

from __future__ import annotations

from ecslite.providers.ecs.common import EcsBase


class AccountSettingOps(EcsBase):
    pass
