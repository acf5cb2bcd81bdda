"""Pure parts of the DLQ tooling: selection, summaries, what a replay publishes."""

from __future__ import annotations

import argparse

import orjson
import pytest

from linguaflow.dlq import DeadRecord, parse_time, replay_value, select, summarise
from linguaflow.errors import InvalidRequest


def record(offset: int, reason: str, ts: int, value: bytes = b"{}") -> DeadRecord:
    return DeadRecord(0, offset, ts, None, value, {"error": reason, "error_message": f"{reason} #{offset}"})


RECORDS = [record(0, "schema", 1000), record(1, "invalid_json", 2000), record(2, "schema", 3000)]


def test_select_by_reason_and_time_window() -> None:
    assert [r.offset for r in select(RECORDS, reasons=["schema"])] == [0, 2]
    assert [r.offset for r in select(RECORDS, since_ms=2000)] == [1, 2]
    assert [r.offset for r in select(RECORDS, since_ms=1000, until_ms=3000)] == [0, 1]
    assert select(RECORDS, reasons=["nope"]) == []


def test_summary_counts_and_spans_per_reason() -> None:
    assert summarise(RECORDS) == {
        "schema": {"count": 2, "first": 1000, "last": 3000, "example": "schema #0"},
        "invalid_json": {"count": 1, "first": 2000, "last": 2000, "example": "invalid_json #1"},
    }


def test_replay_keeps_the_bytes_or_pins_a_provider() -> None:
    original = b'{"request_id":"r1","text":"Hi","target_lang":"de","provider":"deepl"}'
    assert replay_value(original, None) == original
    assert orjson.loads(replay_value(original, "pseudo"))["provider"] == "pseudo"


@pytest.mark.parametrize("value", [b"{nope", b"[1,2]", b"", None])
def test_values_that_cannot_be_requests_are_refused(value: bytes | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        replay_value(value, "pseudo")
    assert info.value.reason == "unreplayable"


def test_parse_time_accepts_iso_with_zone_and_epoch_ms() -> None:
    assert parse_time("1700000000000") == 1_700_000_000_000
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000
    with pytest.raises(argparse.ArgumentTypeError):
        parse_time("2023-11-14T22:13:20")
