"""Region, account and service from the SigV4 credential scope. Signatures are not checked."""

from __future__ import annotations

import re
from collections.abc import Callable
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


# Looks up the account of an access key id ecslite itself issued (temporary credentials); ``None``
# for any other key. The edge is given one by the server and never reads the store itself.
AccessKeyResolver = Callable[[str], str | None]


def account_for(access_key: str | None, default: str, resolve: AccessKeyResolver | None = None) -> str:
    """The account a request acts in: that of credentials ecslite issued (``resolve``), else a 12-digit
    access key id taken as the account (the convention of other local emulators), else ``default``."""
    if access_key and resolve is not None:
        issued = resolve(access_key)
        if issued is not None:
            return issued
    if access_key and len(access_key) == 12 and access_key.isdigit():
        return access_key
    return default
