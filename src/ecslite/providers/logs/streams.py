"""Log stream operations: create, describe (by name or last event time) and delete."""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.logs.common import LogsBase, on_worker, stream_arn
from ecslite.providers.logs.errors import (
    INVALID_NEXT_TOKEN,
    ORDER_BY_WITH_PREFIX,
    STREAM_EXISTS,
    STREAM_NOT_FOUND,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from ecslite.providers.pagination import encode_token
from ecslite.store.logs import LogStreamRow

DEFAULT_DESCRIBE_LIMIT = 50


def upload_sequence_token(stream: LogStreamRow) -> str:
    """A 56-digit token like AWS's; PutLogEvents ignores tokens now, so it only has to look right."""
    return f"49{stream.sid:020d}{stream.uploads:034d}"


class StreamOps(LogsBase):
    @on_worker
    def create_log_stream(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        if self.store.create_stream(group.gid, params["logStreamName"], self.now_ms()) is None:
            raise ResourceAlreadyExistsException(STREAM_EXISTS)
        return {}

    @on_worker
    def delete_log_stream(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        stream = self.store.get_stream(group.gid, params["logStreamName"])
        if stream is None:
            raise ResourceNotFoundException(STREAM_NOT_FOUND)
        self.store.delete_stream(stream.sid)
        return {}

    @on_worker
    def describe_log_streams(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        by_last_event = params.get("orderBy") == "LastEventTime"
        prefix = params.get("logStreamNamePrefix")
        if by_last_event and prefix is not None:
            raise InvalidParameterException(ORDER_BY_WITH_PREFIX)
        group = self.group_from(ctx, params)
        limit = params.get("limit") or DEFAULT_DESCRIBE_LIMIT
        after = self.token_key(params.get("nextToken"))
        if after is not None and (not isinstance(after, list) or len(after) != (2 if by_last_event else 1)):
            raise InvalidParameterException(INVALID_NEXT_TOKEN)
        rows = self.store.list_streams(
            group.gid,
            prefix=prefix,
            by_last_event=by_last_event,
            descending=bool(params.get("descending")),
            after=tuple(after) if after is not None else None,
            limit=limit + 1,
        )
        result: dict[str, Any] = {"logStreams": [self.stream_view(ctx, group.name, row) for row in rows[:limit]]}
        if len(rows) > limit:
            last = rows[limit - 1]
            key = (
                [last.last_event_ms if last.last_event_ms is not None else -1, last.sid]
                if by_last_event
                else [last.name]
            )
            result["nextToken"] = encode_token(key)
        return result

    @staticmethod
    def stream_view(ctx: RequestContext, group: str, row: LogStreamRow) -> dict[str, Any]:
        view: dict[str, Any] = {"logStreamName": row.name, "creationTime": row.created_ms}
        if row.first_event_ms is not None:
            view["firstEventTimestamp"] = row.first_event_ms
            view["lastEventTimestamp"] = row.last_event_ms
        if row.last_ingestion_ms is not None:
            view["lastIngestionTime"] = row.last_ingestion_ms
        if row.uploads:
            view["uploadSequenceToken"] = upload_sequence_token(row)
        view["arn"] = stream_arn(ctx.region, ctx.account, group, row.name)
        # "As of June 17, 2019, this parameter is no longer supported for log streams, and is always
        # reported as zero."
        view["storedBytes"] = 0
        return view
