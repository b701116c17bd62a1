"""Registry passwords: what GetAuthorizationToken hands out and the registry checks.

A password names the account and region it was issued for and when it expires, signed with a key
kept in the ECR directory, so tokens stay valid across restarts (for their 12 hours) and a password
made up by hand is refused. ``docker login -u AWS -p <password>`` then pushes to that account's
repositories in that region.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import orjson

USER = "AWS"
VALID_FOR = 12 * 3600.0
KEY_FILE = "auth.key"


@dataclass(frozen=True, slots=True)
class Grant:
    account: str
    region: str
    expires: float


class TokenSigner:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / KEY_FILE
            try:
                self._key = path.read_bytes()
            except FileNotFoundError:
                key = secrets.token_bytes(32)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(key)
                self._key = key
        return self._key

    def password(self, account: str, region: str, expires: float) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps({"a": account, "r": region, "e": round(expires)})).decode()
        signature = hmac.new(self.key(), body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{signature}"

    def token(self, account: str, region: str, expires: float) -> str:
        """GetAuthorizationToken's ``authorizationToken``: base64 of ``AWS:<password>``."""
        return base64.b64encode(f"{USER}:{self.password(account, region, expires)}".encode()).decode()

    def check(self, authorization: str | None, now: float) -> Grant | None:
        """The grant a ``Basic`` Authorization header carries; None when absent, forged or expired."""
        if not authorization or authorization[:6].lower() != "basic ":
            return None
        try:
            user, _, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
            body, _, signature = password.partition(".")
            expected = hmac.new(self.key(), body.encode(), hashlib.sha256).hexdigest()
            if user != USER or not hmac.compare_digest(signature, expected):
                return None
            claims = orjson.loads(base64.urlsafe_b64decode(body.encode()))
            grant = Grant(str(claims["a"]), str(claims["r"]), float(claims["e"]))
        except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None
        return grant if grant.expires > now else None
