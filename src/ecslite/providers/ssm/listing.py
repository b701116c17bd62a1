"""GetParametersByPath and DescribeParameters: walking the hierarchy, parameter filters, pagination.

``ParameterFilters`` follow Parameter Store: a filter's values are alternatives and all filters
must match; ``Name`` matches with ``Equals`` (default), ``BeginsWith`` or ``Contains``, ``Path``
with ``OneLevel`` (default) or ``Recursive``, the rest with ``Equals``; ``tag:<key>`` without values
asks only that the tag exists. GetParametersByPath takes only ``Type``, ``KeyId``, ``Label``,
``DataType`` and tag filters. Results are ordered by name.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.providers.ssm import errors
from ecslite.providers.ssm.common import SsmBase
from ecslite.providers.ssm.names import arn_for, check_path
from ecslite.store import parameters as parameter_store
from ecslite.store import tags as tag_store

BY_PATH_PAGE, DESCRIBE_PAGE = 10, 10
_BY_PATH_KEYS = ("Type", "KeyId", "Label", "DataType")
_DESCRIBE_KEYS = ("Name", "Type", "KeyId", "Path", "Tier", "DataType", "Label")
_OPTIONS = {"Name": ("Equals", "BeginsWith", "Contains"), "Path": ("OneLevel", "Recursive")}
_LEGACY = {"Name": "BeginsWith", "Type": "Equals", "KeyId": "Equals"}


class ListingOps(SsmBase):
    def get_parameters_by_path(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        path = check_path(params["Path"])
        filters = params.get("ParameterFilters") or []
        _check_filters(filters, _BY_PATH_KEYS, "[Type, KeyId]")
        recursive = bool(params.get("Recursive"))
        matching = []
        for parameter in parameter_store.all_parameters(self.db, ctx.account, ctx.region, path):
            rest = parameter.name[len(path) :]
            if not rest or (not recursive and "/" in rest):
                continue
            version = parameter_store.version(self.db, parameter, parameter.version)
            assert version is not None
            if all(self._matches(parameter, version, f) for f in filters):
                matching.append((parameter, version))
        shown, token = _page(matching, params, BY_PATH_PAGE)
        clear = bool(params.get("WithDecryption"))
        result: dict[str, Any] = {"Parameters": [self.parameter_view(p, v, clear) for p, v in shown]}
        return {**result, "NextToken": token} if token else result

    def describe_parameters(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        if params.get("Filters") and params.get("ParameterFilters"):
            raise errors.ValidationException(errors.BOTH_FILTER_KINDS)
        filters = params.get("ParameterFilters") or [
            {"Key": f["Key"], "Option": _LEGACY[f["Key"]], "Values": f["Values"]} for f in params.get("Filters") or []
        ]
        _check_filters(filters, _DESCRIBE_KEYS, "[Path, Name, Type, KeyId, Tier]")
        matching = []
        for parameter in parameter_store.all_parameters(self.db, ctx.account, ctx.region):
            version = parameter_store.version(self.db, parameter, parameter.version)
            assert version is not None
            if all(self._matches(parameter, version, f) for f in filters):
                matching.append((parameter, version))
        shown, token = _page(matching, params, DESCRIBE_PAGE)
        views = [{**self.metadata_view(p, v), "ARN": arn_for(p.region, p.account, p.name)} for p, v in shown]
        return {"Parameters": views, "NextToken": token} if token else {"Parameters": views}

    def _matches(
        self,
        parameter: parameter_store.Parameter,
        version: parameter_store.ParameterVersion,
        flt: dict[str, Any],
    ) -> bool:
        key, values = flt["Key"], flt.get("Values") or []
        option = flt.get("Option") or ("OneLevel" if key == "Path" else "Equals")
        if key.startswith("tag:"):
            tags = dict(tag_store.get(self.db, arn_for(parameter.region, parameter.account, parameter.name)))
            wanted = key[4:]
            return wanted in tags and (not values or tags[wanted] in values)
        if key == "Label":
            return any(label in values for label in version.labels)
        if key == "Path":
            return any(_under(parameter.name, value, option == "Recursive") for value in values)
        if key == "Name":
            return any(_compare(parameter.name, value, option) for value in values)
        field = {"Type": "Type", "KeyId": "KeyId", "Tier": "Tier", "DataType": "DataType"}[key]
        return str(version.doc.get(field)) in values


def _check_filters(filters: list[dict[str, Any]], keys: tuple[str, ...], shown_keys: str) -> None:
    seen: set[str] = set()
    for flt in filters:
        key = flt["Key"]
        if not key.startswith("tag:") and key not in keys:
            raise errors.InvalidFilterKey(
                f"The following filter key is not valid: {key}. Valid filter keys include: {shown_keys}."
            )
        if key in seen:
            raise errors.InvalidFilterKey(
                f"The following filter is duplicated in the request: {key}. "
                "A request can contain only one occurrence of a specific filter."
            )
        seen.add(key)
        option = flt.get("Option")
        allowed = _OPTIONS.get(key, ("Equals",))
        if option is not None and option not in allowed:
            raise errors.InvalidFilterOption(
                f"The following filter option is not valid: {option}. Valid options include: [{', '.join(allowed)}]."
            )
        if not key.startswith("tag:") and not flt.get("Values"):
            raise errors.InvalidFilterValue(f"The following filter values are missing : null for filter key {key}.")


def _under(name: str, path: str, recursive: bool) -> bool:
    base = path.rstrip("/") + "/"
    if not name.startswith(base) or name == base:
        return False
    return recursive or "/" not in name[len(base) :]


def _compare(name: str, value: str, option: str) -> bool:
    if option == "Contains":
        return value in name
    # Parameter Store compares hierarchical names with or without their leading slash alike.
    name, value = "/" + name.removeprefix("/"), "/" + value.removeprefix("/")
    return name.startswith(value) if option == "BeginsWith" else name == value


def _page(items: list[Any], params: Params, default: int) -> tuple[list[Any], str | None]:
    start = decode_token(params.get("NextToken"), lambda _: errors.InvalidNextToken())
    if start is not None and (not isinstance(start, int) or start < 0):
        raise errors.InvalidNextToken()
    first = start or 0
    limit = params.get("MaxResults") or default
    token = encode_token(first + limit) if first + limit < len(items) else None
    return items[first : first + limit], token
