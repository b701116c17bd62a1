"""Logs Insights: StartQuery, GetQueryResults, StopQuery and DescribeQueries.

A query is parsed and checked when it starts (``MalformedQueryException`` at once), then runs on
one of the provider's query threads: ``Scheduled`` until a thread takes it, ``Running`` while it
scans, then ``Complete``, ``Failed`` or ``Cancelled``. The scan reads the events stored before the
query started (pinned by each stream's last sequence number), newest first across its groups, so the
API and ingestion carry on while it runs and its results do not depend on what arrives meanwhile.
Finished queries and their results are kept in ``logs.db`` for ``QUERY_RETENTION_MS``.
"""

from __future__ import annotations

import base64
import heapq
import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from ecslite.clock import Clock
from ecslite.model.logs_insights import MalformedQuery, Query, parse_query
from ecslite.model.logs_insights_eval import InsightsEvent, QueryResult, QueryRun, check_query
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.logs.common import LogsBase, on_worker
from ecslite.providers.logs.errors import (
    INVALID_NEXT_TOKEN,
    QUERY_END_BEFORE_START,
    QUERY_GROUPS,
    QUERY_NOT_FOUND,
    InvalidParameterException,
    MalformedQueryException,
    ResourceNotFoundException,
    query_group_not_found,
    query_not_running,
)
from ecslite.providers.logs.groups import QUERY_RESULT_KEY
from ecslite.providers.pagination import encode_token
from ecslite.store import log_events
from ecslite.store.log_events import StoredEvent
from ecslite.store.logs import LogGroupRow, LogStore

log = logging.getLogger(__name__)

QUERY_THREADS = 2
QUERY_RETENTION_MS = 7 * 86_400_000  # "query results are available for 7 days"
MAX_QUERY_GROUPS = 50
MAX_RESULTS_PER_CALL = 10_000
DEFAULT_DESCRIBE_RESULTS = 1000
FINISHED = ("Complete", "Failed", "Cancelled", "Timeout")


@dataclass(slots=True)
class QueryState:
    """A query's life in this process; persisted as its document at start and at the end."""

    query_id: str
    account: str
    region: str
    query_string: str
    groups: list[tuple[int, str]]  # (gid, name)
    start_ms: int
    end_ms: int
    limit: int | None
    created_ms: int
    status: str = "Scheduled"
    result: QueryResult = field(default_factory=QueryResult)
    duration_ms: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)

    def doc(self) -> dict[str, Any]:
        return {
            "queryId": self.query_id,
            "queryString": self.query_string,
            "status": self.status,
            "createTime": self.created_ms,
            "logGroupName": self.groups[0][1] if self.groups else None,
            "queryDuration": self.duration_ms,
            "statistics": _statistics(self.result, len(self.groups)),
            "results": self.result.rows if self.status in FINISHED else [],
        }


def _statistics(result: QueryResult, groups: int) -> dict[str, float]:
    return {
        "recordsMatched": float(result.records_matched),
        "recordsScanned": float(result.records_scanned),
        "estimatedRecordsSkipped": 0.0,
        "bytesScanned": float(result.bytes_scanned),
        "estimatedBytesSkipped": 0.0,
        "logGroupsScanned": float(groups),
    }


def record_pointer(gid: int, event: StoredEvent) -> str:
    """``@ptr``: an opaque reference to one event (group, stream, timestamp, sequence)."""
    raw = f"{gid}:{event.sid}:{event.ts}:{event.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class QueryOps(LogsBase):
    def __init__(self, store: LogStore, clock: Clock) -> None:
        super().__init__(store, clock)
        self._queries: dict[str, QueryState] = {}
        self._queries_lock = threading.Lock()
        self._query_threads = ThreadPoolExecutor(max_workers=QUERY_THREADS, thread_name_prefix="ecslite-insights")

    # -- operations ----------------------------------------------------------------------------------

    @on_worker
    def start_query(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        names = self._query_group_names(ctx, params)
        if params.get("queryLanguage", "CWLI") != "CWLI":
            raise InvalidParameterException(
                f"queryLanguage {params['queryLanguage']} is not supported: ecslite runs Logs Insights QL (CWLI)."
            )
        if params["endTime"] < params["startTime"]:
            raise InvalidParameterException(QUERY_END_BEFORE_START)
        query = self._parse(params["queryString"])
        groups: list[LogGroupRow] = []
        for name in names:
            group = self.store.get_group(ctx.account, ctx.region, name)
            if group is None:
                raise ResourceNotFoundException(query_group_not_found(name, ctx.account))
            groups.append(group)
        state = QueryState(
            query_id=str(uuid.uuid4()),
            account=ctx.account,
            region=ctx.region,
            query_string=params["queryString"],
            groups=[(g.gid, g.name) for g in groups],
            start_ms=params["startTime"] * 1000,
            # "The range is inclusive, so the specified end time is included": the whole second.
            end_ms=params["endTime"] * 1000 + 999,
            limit=params.get("limit"),
            created_ms=self.now_ms(),
        )
        with self._queries_lock:
            self._queries[state.query_id] = state
        self._save(state)
        snapshot = log_events.stream_positions(self.store, [g.gid for g in groups])
        self._query_threads.submit(self._execute, state, query, snapshot, groups)
        return {"queryId": state.query_id}

    @on_worker
    def get_query_results(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._query_doc(ctx, params["queryId"])
        rows = doc["results"]
        offset = self.token_key(params.get("nextToken")) or 0
        if not isinstance(offset, int) or offset < 0:
            raise InvalidParameterException(INVALID_NEXT_TOKEN)
        size = params.get("maxItems") or MAX_RESULTS_PER_CALL
        page = rows[offset : offset + size]
        result: dict[str, Any] = {
            "queryLanguage": "CWLI",
            "results": [[{"field": name, "value": value} for name, value in row] for row in page],
            "statistics": {**doc["statistics"], "resultCount": float(len(rows))},
            "status": doc["status"],
        }
        key = self.store.get_setting(ctx.account, ctx.region, QUERY_RESULT_KEY)
        if key:
            result["encryptionKey"] = key
        if offset + size < len(rows):
            result["nextToken"] = encode_token(offset + size)
        return result

    @on_worker
    def stop_query(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        query_id = params["queryId"]
        with self._queries_lock:
            state = self._queries.get(query_id)
        if state is None or (state.account, state.region) != (ctx.account, ctx.region):
            if self.store.get_query(ctx.account, ctx.region, query_id) is None:
                raise ResourceNotFoundException(QUERY_NOT_FOUND)
            raise InvalidParameterException(query_not_running(query_id))
        with self._queries_lock:
            if state.status in FINISHED:
                raise InvalidParameterException(query_not_running(query_id))
            state.cancel.set()
            state.status = "Cancelled"
        self._save(state)
        return {"success": True}

    @on_worker
    def describe_queries(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        if params.get("queryLanguage", "CWLI") != "CWLI":
            return {"queries": []}
        limit = params.get("maxResults") or DEFAULT_DESCRIBE_RESULTS
        after = self.token_key(params.get("nextToken"))
        if after is not None and not isinstance(after, str):
            raise InvalidParameterException(INVALID_NEXT_TOKEN)
        docs = self.store.list_queries(
            ctx.account,
            ctx.region,
            group=params.get("logGroupName"),
            status=params.get("status"),
            after=after,
            limit=limit + 1,
        )
        infos = []
        for text in docs[:limit]:
            doc = self._current(orjson.loads(text))
            info: dict[str, Any] = {k: doc[k] for k in ("queryId", "queryString", "status", "createTime") if k in doc}
            if doc.get("logGroupName"):
                info["logGroupName"] = doc["logGroupName"]
            infos.append({"queryLanguage": "CWLI", **info, "bytesScanned": doc["statistics"]["bytesScanned"]})
        result: dict[str, Any] = {"queries": infos}
        if len(docs) > limit:
            result["nextToken"] = encode_token(infos[-1]["queryId"])
        return result

    # -- lifecycle -----------------------------------------------------------------------------------

    def cancel_queries(self) -> None:
        with self._queries_lock:
            for state in self._queries.values():
                state.cancel.set()
            self._queries.clear()

    def close_queries(self) -> None:
        self._query_threads.shutdown(wait=True, cancel_futures=True)

    def purge_queries(self) -> None:
        cutoff = self.now_ms() - QUERY_RETENTION_MS
        self.store.delete_queries_before(cutoff)
        with self._queries_lock:
            for query_id in [q for q, s in self._queries.items() if s.created_ms < cutoff and s.status in FINISHED]:
                del self._queries[query_id]

    # -- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _query_group_names(ctx: RequestContext, params: Params) -> list[str]:
        given = [k for k in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if params.get(k)]
        if len(given) != 1:
            raise InvalidParameterException(QUERY_GROUPS)
        if given[0] == "logGroupName":
            return [params["logGroupName"]]
        values: list[str] = params[given[0]]
        if len(values) > MAX_QUERY_GROUPS:
            raise InvalidParameterException(f"A query can include up to {MAX_QUERY_GROUPS} log groups.")
        if given[0] == "logGroupNames":
            return list(dict.fromkeys(values))
        names = []
        for identifier in values:
            name = LogsBase.identifier_name(ctx, identifier)
            if name is None:
                raise ResourceNotFoundException(query_group_not_found(identifier, ctx.account))
            names.append(name)
        return list(dict.fromkeys(names))

    @staticmethod
    def _parse(text: str) -> Query:
        try:
            query = parse_query(text)
            check_query(query)
        except MalformedQuery as malformed:
            raise MalformedQueryException(malformed.message) from None
        return query

    def _query_doc(self, ctx: RequestContext, query_id: str) -> dict[str, Any]:
        with self._queries_lock:
            state = self._queries.get(query_id)
            if state is not None and (state.account, state.region) == (ctx.account, ctx.region):
                return state.doc()
        text = self.store.get_query(ctx.account, ctx.region, query_id)
        if text is None:
            raise ResourceNotFoundException(QUERY_NOT_FOUND)
        return self._current(orjson.loads(text))

    def _current(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A stored document, brought up to date from the live state; a query this process does not
        know that never finished was cut short by a restart."""
        with self._queries_lock:
            state = self._queries.get(doc["queryId"])
            if state is not None:
                return state.doc()
        if doc["status"] not in FINISHED:
            return {**doc, "status": "Failed"}
        return doc

    def _save(self, state: QueryState) -> None:
        doc = state.doc()
        self.store.put_query(
            state.query_id,
            state.account,
            state.region,
            state.created_ms,
            doc["logGroupName"],
            state.status,
            orjson.dumps(doc).decode(),
        )

    def _execute(self, state: QueryState, query: Query, snapshot: dict[int, int], groups: list[LogGroupRow]) -> None:
        """Run on a query thread; never raises (a failure is the query's status)."""
        with self._queries_lock:
            if state.cancel.is_set():
                return
            state.status = "Running"
        started = self.clock.monotonic()
        runner = QueryRun(query, state.limit)
        try:
            for chunk in self._events(state, groups, snapshot):
                if state.cancel.is_set():
                    return
                runner.feed(chunk)
                with self._queries_lock:
                    state.result = QueryResult([], *_counts(runner.result_stats))
            result = runner.result()
        except Exception:
            log.exception("Logs Insights query failed", extra={"query_id": state.query_id})
            with self._queries_lock:
                state.status = "Failed"
            self._save(state)
            return
        with self._queries_lock:
            if state.cancel.is_set():
                return
            state.result = result
            state.duration_ms = int((self.clock.monotonic() - started) * 1000)
            state.status = "Complete"
        self._save(state)

    def _events(
        self, state: QueryState, groups: list[LogGroupRow], snapshot: dict[int, int]
    ) -> Iterator[list[InsightsEvent]]:
        """The queried events newest first across groups, in chunks."""
        streams: dict[int, str] = {}
        sources = []
        for group in groups:
            start = max(state.start_ms, self.retention_cutoff(group))
            chunks = log_events.scan_group(
                self.store, group.gid, start=start, end=state.end_ms, descending=True, snapshot=snapshot, chunk=5000
            )
            sources.append(self._tagged(group, chunks))
        merged = heapq.merge(*sources, key=lambda item: item[1].group_key, reverse=True)
        batch: list[InsightsEvent] = []
        for group, event in merged:
            if event.sid not in streams:
                streams.update((sid, row.name) for sid, row in self.store.streams_by_id([event.sid]).items())
            batch.append(
                InsightsEvent(
                    event.ts,
                    event.ingested_ms,
                    event.message,
                    streams.get(event.sid, ""),
                    f"{state.account}:{group.name}",
                    record_pointer(group.gid, event),
                )
            )
            if len(batch) >= 5000:
                yield batch
                batch = []
        if batch:
            yield batch

    @staticmethod
    def _tagged(group: LogGroupRow, chunks: Iterator[list[StoredEvent]]) -> Iterator[tuple[LogGroupRow, StoredEvent]]:
        for chunk in chunks:
            for event in chunk:
                yield group, event


def _counts(result: QueryResult) -> tuple[int, int, int]:
    return result.records_matched, result.records_scanned, result.bytes_scanned
