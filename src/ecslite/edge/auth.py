"""Region, account and service from the SigV4 credential scope. Signatures are not checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")


@dataclass(frozen=True, slots=True)
class CredentialScope:
    access_key: str
    region: str
    service: str


def credential_scope(headers: dict[str, str], query_string: str = "") -> CredentialScope | None:
    """The scope from an ``Authorization`` header or a presigned URL's ``X-Amz-Credential``."""
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    if match:
        return CredentialScope(match.group(1), match.group(3), match.group(4))
    if "X-Amz-Credential" in query_string:
        values = parse_qs(query_string).get("X-Amz-Credential")
        if values:
            parts = values[0].split("/")
            if len(parts) == 5:
                return CredentialScope(parts[0], parts[2], parts[3])
    return None


def account_for(access_key: str | None, default: str) -> str:
    """A 12-digit access key id names the account (the convention of other local emulators)."""
    if access_key and len(access_key) == 12 and access_key.isdigit():
        return access_key
    return default
