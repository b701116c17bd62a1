"""Forward records as log records (receivers.forward_records): the fast path for plain FireLens records
gives what the general path gives, and the level scan finds what ``\\b(LEVEL)\\b`` finds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecslite.telemetry.log_records import decode_log_detail
from ecslite.telemetry.receivers import forward_records
from ecslite.telemetry.receivers.forward_records import RecordConverter, _general_record, scan_line, to_log_record

T = 1_732_430_000 * 1_000_000_000
FIRELENS = {
    "log": "2024-11-24 10:00:00 WARNING [orders] retry trace_id=5b8efff798038103d269b633813fc60c\n",
    "source": "stderr",
    "container_id": "5f0c-1000000001",
    "container_name": "orders",
    "ecs_cluster": "bench",
    "ecs_task_arn": "arn:aws:ecs:us-east-1:000000000000:task/bench/5f0c",
    "ecs_task_definition": "bench-app:1",
    "pid": 7,
    "ratio": 0.5,
    "ok": True,
    "none": None,
}


@pytest.mark.parametrize(
    "record",
    [
        FIRELENS,
        {**FIRELENS, "log": '{"level": "error", "traceId": "5B8EFFF798038103D269B633813FC60C"}\r\n'},
        {**FIRELENS, "source": "other", "level": "debug", "log": "no level word here"},
        {**FIRELENS, "log": "café \udcff"},  # an undecodable byte kept by the decoder as a surrogate
        {**FIRELENS, "nested": {"a": [1, {"b": 2}]}},
        {b"log": b"bytes line", "source": b"stdout"},
    ],
    ids=["text", "json", "other-source", "surrogate", "nested", "bytes"],
)
def test_fast_and_general_paths_agree(record: dict[Any, Any]) -> None:
    fast = to_log_record(T, dict(record), "orders-firelens-5f0c", T + 5)
    general = _general_record(T, dict(record), "orders-firelens-5f0c", T + 5)
    assert fast[:9] == general[:9]
    assert decode_log_detail(fast.detail) == decode_log_detail(general.detail)


def test_firelens_record_detail_has_every_key_but_the_line() -> None:
    out = to_log_record(T, dict(FIRELENS), "orders-firelens-5f0c", T)
    assert (out.severity_number, out.severity_text, out.source) == (13, "WARNING", "stderr")
    assert out.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    attributes = decode_log_detail(out.detail).attributes
    assert attributes == {
        **{k: v for k, v in FIRELENS.items() if k != "log"},
        "log.iostream": "stderr",
        "fluent.tag": "orders-firelens-5f0c",
    }


def test_surrogates_are_replaced_so_the_record_can_be_stored() -> None:
    out = to_log_record(T, {**FIRELENS, "log": "café \udcff", "container_name": "a\udcfe"}, "t", T)
    assert out.body == "café \ufffd"
    assert decode_log_detail(out.detail).attributes["container_name"] == "a\ufffd"


REFERENCE = re.compile(r"\b(TRACE|DEBUG|INFO|WARNING|WARN|ERROR|FATAL|CRITICAL)\b")


@given(
    st.lists(
        st.sampled_from(["INFO", "WARN", "WARNING", "ERROR", "xINFO", "INFOx", "_DEBUG", "é", "ÉTRACE", " ", "-", "1"]),
        max_size=20,
    ).map("".join)
)
def test_level_scan_matches_the_word_boundary_regex(line: str) -> None:
    expected = REFERENCE.search(line, 0, 64)
    assert forward_records._level(line) == (expected.group(1) if expected else None)


def test_level_word_must_stand_alone_within_the_first_64_characters() -> None:
    assert scan_line("xINFO INFOx _ERROR ERROR_ DEBUG")[:2] == (5, "DEBUG")
    assert scan_line("x" * 70 + " ERROR")[:2] == (0, "")


def test_records_of_one_container_share_a_batch_and_tags_name_the_rest() -> None:
    from ecslite.telemetry.receivers.forward import ForwardMessage

    records = [dict(FIRELENS), {**FIRELENS, "container_name": "web"}, {"log": "x"}, dict(FIRELENS)]
    messages = [ForwardMessage("app.access", [(T + i, r) for i, r in enumerate(records)], {}, "forward")]
    batches = RecordConverter(None).batches(messages, None, T)
    assert sorted((b.resource.service_name, len(b.records)) for b in batches) == [("app", 1), ("orders", 2), ("web", 1)]


VALUES = st.sampled_from(["stdout", "stderr", "1", 1, True, 1.0, "a\udcfe", b"x", None, "WARN"])


@given(
    st.lists(
        st.fixed_dictionaries(
            {"log": st.sampled_from(["INFO one\n", "two", b"bytes\n", "caf\udcff"]), "source": VALUES},
            optional={"level": VALUES, "container_name": st.sampled_from(["orders", "web"]), "n": VALUES},
        ),
        min_size=1,
        max_size=12,
    )
)
def test_shared_details_give_each_record_what_it_would_get_alone(records: list[dict[Any, Any]]) -> None:
    """Records of one container share their detail: 1, True and 1.0 (equal in Python) never do."""
    from ecslite.telemetry.receivers.forward import ForwardMessage

    converter = RecordConverter(None)
    for _ in range(2):  # the second call is served from what the first one built
        messages = [ForwardMessage("app.x", [(T + i, dict(r)) for i, r in enumerate(records)], {}, "forward")]
        converted = sorted((r for b in converter.batches(messages, None, T) for r in b.records), key=lambda r: r[0])
        alone = [to_log_record(T + i, dict(r), "app.x", T) for i, r in enumerate(records)]
        assert [r[:9] for r in converted] == [r[:9] for r in alone]
        for got, expected in zip(converted, alone, strict=True):
            assert decode_log_detail(got.detail) == decode_log_detail(expected.detail)
            assert [type(v) for v in decode_log_detail(got.detail).attributes.values()] == [
                type(v) for v in decode_log_detail(expected.detail).attributes.values()
            ]


def test_the_shared_details_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecslite.telemetry.receivers.forward import ForwardMessage

    monkeypatch.setattr(forward_records, "MAX_DETAILS", 8)
    converter = RecordConverter(None)
    text_only = {k: v for k, v in FIRELENS.items() if isinstance(v, str)}
    records = [{**text_only, "pid": str(i), "log": f"line {i}"} for i in range(50)]
    for start in range(0, 50, 10):
        entries = [(T + i, dict(records[i])) for i in range(start, start + 10)]
        batches = converter.batches([ForwardMessage("t", entries, {}, "forward")], None, T)
        assert 0 < converter._details <= 8 + 10  # emptied once full, then at most one message's worth
        for record in (r for b in batches for r in b.records):
            i = record.time_ns - T
            assert decode_log_detail(record.detail).attributes["pid"] == str(i)
