"""State and helpers shared by IAM's groups of operations: the store, names, paging, tags, views.

IAM is global: every operation works on the caller's account, whatever region the request was
signed for. IAM's front end anchors the model's patterns (``bad name`` is not a role name) while
the protocol layer only requires a match somewhere, so the patterns that matter are checked here
in full, with IAM's field names in the message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import regex

from ecslite.clock import Clock
from ecslite.providers.base import Params
from ecslite.providers.iam.errors import InvalidInput, LimitExceeded, ValidationError, pattern_error, role_not_found
from ecslite.providers.pagination import decode_token, encode_token, page_size
from ecslite.store import iam as iam_store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database

ROLE_NAME_PATTERN = r"[\w+=,.@-]+"
PATH_PATTERN = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
PATH_PREFIX_PATTERN = r"\u002F[\u0021-\u007F]*"
DESCRIPTION_PATTERN = r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*"
TAG_KEY_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
TAG_VALUE_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"

# Java's \w, which IAM's patterns mean, is ASCII only.
_NAME = regex.compile(r"[A-Za-z0-9_+=,.@-]+")
_PATH = regex.compile(r"/|/[\u0021-\u007e]+/")
_PATH_PREFIX = regex.compile(r"/[\u0021-\u007f]*")
_DESCRIPTION = regex.compile(r"[\t\n\r\u0020-\u007e\u00a1-\u00ff]*")
_TAG_KEY = regex.compile(TAG_KEY_PATTERN)
_TAG_VALUE = regex.compile(TAG_VALUE_PATTERN)

MAX_TAGS = 50
DEFAULT_PAGE = 100
MAX_PAGE = 1000
# (unverified) IAM's text for a resource whose tags would pass 50, and for a marker it never issued.
TOO_MANY_TAGS = "The number of tags has reached the maximum limit."
INVALID_MARKER = "Invalid Marker."
DUPLICATE_TAG_KEYS = "Duplicate tag keys found. Please note that Tag keys are case insensitive."


def check_name(value: str, field: str, pattern: str = ROLE_NAME_PATTERN) -> None:
    if not _NAME.fullmatch(value):
        raise pattern_error(value, field, pattern)


def check_path(value: str, field: str = "path") -> None:
    if not _PATH.fullmatch(value):
        raise pattern_error(value, field, PATH_PATTERN)


def check_path_prefix(value: str, field: str = "pathPrefix") -> None:
    if not _PATH_PREFIX.fullmatch(value):
        raise pattern_error(value, field, PATH_PREFIX_PATTERN)


def check_description(value: str) -> None:
    if not _DESCRIPTION.fullmatch(value):
        raise pattern_error(value, "description", DESCRIPTION_PATTERN)


def quoted(document: str) -> str:
    """A policy document as IAM returns it: URL-encoded (SDKs decode it back)."""
    return quote(document, safe="")


class IamBase:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def now(self) -> float:
        return float(int(self.clock.now()))  # IAM dates have whole seconds

    def role(self, account: str, name: str) -> dict[str, Any]:
        found = iam_store.get_role(self.db, account, name)
        if found is None:
            raise role_not_found(name)
        return found

    # -- tags --------------------------------------------------------------------------------------

    def checked_tags(self, tags: list[dict[str, str]], arn: str | None = None) -> list[tuple[str, str]]:
        """``Tags`` as pairs after IAM's checks; with ``arn``, also the limit counting existing tags."""
        seen: set[str] = set()
        pairs = []
        for index, tag in enumerate(tags, 1):
            key, value = tag["Key"], tag.get("Value", "")
            if not _TAG_KEY.fullmatch(key):
                raise pattern_error(key, f"tags.{index}.member.key", TAG_KEY_PATTERN)
            if not _TAG_VALUE.fullmatch(value):
                raise pattern_error(value, f"tags.{index}.member.value", TAG_VALUE_PATTERN)
            if key.lower() in seen:
                raise InvalidInput(DUPLICATE_TAG_KEYS)
            seen.add(key.lower())
            pairs.append((key, value))
        if arn is not None:
            existing = {k.lower() for k, _ in tag_store.get(self.db, arn)}
            if len(existing | seen) > MAX_TAGS:
                raise LimitExceeded(TOO_MANY_TAGS)
        return pairs

    def put_tags(self, arn: str, pairs: list[tuple[str, str]]) -> None:
        """Add or replace tags; keys match without regard to case and take the case given last."""
        lowered = {k.lower() for k, _ in pairs}
        tag_store.remove(self.db, arn, [k for k, _ in tag_store.get(self.db, arn) if k.lower() in lowered])
        tag_store.put(self.db, arn, pairs)

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        lowered = {k.lower() for k in keys}
        tag_store.remove(self.db, arn, [k for k, _ in tag_store.get(self.db, arn) if k.lower() in lowered])

    def tags_of(self, arn: str) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in tag_store.get(self.db, arn)]

    # -- paging --------------------------------------------------------------------------------------

    @staticmethod
    def page_args(params: Params) -> tuple[Any, int]:
        """The position after which to list (from ``Marker``) and the page size (``MaxItems``)."""
        after = decode_token(params.get("Marker"), lambda _: ValidationError(INVALID_MARKER))
        limit = page_size(params.get("MaxItems"), DEFAULT_PAGE, MAX_PAGE, ValidationError)
        return after, limit

    @staticmethod
    def page(items: list[Any], limit: int, key_of: Any) -> tuple[list[Any], dict[str, Any]]:
        """The first ``limit`` of ``items`` (fetched ``limit + 1``) and IsTruncated/Marker for the rest."""
        more = len(items) > limit
        shown = items[:limit]
        extra: dict[str, Any] = {"IsTruncated": more}
        if more:
            extra["Marker"] = encode_token(key_of(shown[-1]))
        return shown, extra
