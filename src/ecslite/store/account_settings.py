"""Account setting rows: one per (account, region, principal, name).

``principal`` is an IAM principal ARN, or ``''`` for the account default. ECS treats the root
user's setting as the default for every principal without its own, so the root user's settings
are stored under ``''`` too; ``EcsBase.account_setting`` relies on that layout.
"""

from __future__ import annotations

from ecslite.store.db import Database

KIND = "account-setting"
ACCOUNT_DEFAULT = ""


def get(db: Database, account: str, region: str, principal: str, name: str) -> str | None:
    row = db.query_one(
        "SELECT value FROM account_settings WHERE account=? AND region=? AND principal=? AND name=?",
        (account, region, principal, name),
    )
    return str(row["value"]) if row else None


def put(db: Database, account: str, region: str, principal: str, name: str, value: str) -> None:
    db.execute(
        """INSERT INTO account_settings (account, region, principal, name, value) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (account, region, principal, name) DO UPDATE SET value=excluded.value""",
        (account, region, principal, name, value),
    )
    db.changed(KIND, f"{account}/{region}/{principal}/{name}")


def delete(db: Database, account: str, region: str, principal: str, name: str) -> None:
    db.execute(
        "DELETE FROM account_settings WHERE account=? AND region=? AND principal=? AND name=?",
        (account, region, principal, name),
    )
    db.changed(KIND, f"{account}/{region}/{principal}/{name}")


def of_principal(db: Database, account: str, region: str, principal: str) -> dict[str, str]:
    """Every setting stored for exactly ``principal`` (``''``: the account defaults)."""
    rows = db.query(
        "SELECT name, value FROM account_settings WHERE account=? AND region=? AND principal=?",
        (account, region, principal),
    )
    return {str(r["name"]): str(r["value"]) for r in rows}
