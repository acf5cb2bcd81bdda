"""SinkBatch reduction and offsets, row shaping for COPY, bundled migrations."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.schemas import TranslationResult
from linguaflow.sinks.batch import SinkBatch
from linguaflow.sinks.migrate import bundled_migrations
from linguaflow.sinks.postgres import decode_timestamptz, encode_timestamptz
from linguaflow.sinks.rows import (
    REQUEST_COLUMNS,
    TRANSLATION_COLUMNS,
    money,
    ms_to_datetime,
    request_row,
    translation_row,
)

T0 = 1_700_000_000_000
TP0 = ("translation.results", 0)
TP1 = ("translation.results", 1)


def result(request_id: str = "r1", key: str = "k1", version: int = 1, **fields: Any) -> TranslationResult:
    base = TranslationResult(
        request_id=request_id,
        cache_key=key,
        tenant="acme",
        user="u-1",
        source_text="Hello",
        source_lang="en",
        target_lang="de",
        format="text",
        translated_text="Hallo",
        provider="pseudo",
        model="pseudo/1",
        billed_chars=5,
        cost=0.00005,
        cache_hit=False,
        coalesced=False,
        latency_ms=120,
        version=version,
        created_at=T0,
        completed_at=T0 + 120,
        traceparent=None,
    )
    return replace(base, **fields)


# --- SinkBatch -----------------------------------------------------------------------------------


def test_empty_batch() -> None:
    batch = SinkBatch()
    assert len(batch) == 0
    assert batch.requests() == []
    assert batch.translations() == []
    assert batch.offsets() == {}
    assert batch.should_flush(10**15, max_rows=1, max_age_ms=0) is False


def test_requests_reduce_by_request_id_first_wins() -> None:
    batch = SinkBatch()
    first = result("r1", "k1", 1, translated_text="first")
    batch.append(first, TP0, 0, now_ms=0)
    batch.append(result("r1", "k1", 2, translated_text="second"), TP0, 1, now_ms=0)
    batch.append(result("r2", "k1", 1), TP0, 2, now_ms=0)
    assert [r.request_id for r in batch.requests()] == ["r1", "r2"]
    assert batch.requests()[0] is first
    assert len(batch) == 3


def test_translations_reduce_by_cache_key_highest_version_wins() -> None:
    batch = SinkBatch()
    batch.append(result("r1", "k1", 5, translated_text="v5"), TP0, 0, now_ms=0)
    batch.append(result("r2", "k1", 9, translated_text="v9"), TP0, 1, now_ms=0)
    batch.append(result("r3", "k1", 7, translated_text="v7"), TP0, 2, now_ms=0)
    batch.append(result("r4", "k2", 1, translated_text="other"), TP0, 3, now_ms=0)
    assert {t.cache_key: t.translated_text for t in batch.translations()} == {"k1": "v9", "k2": "other"}


def test_equal_versions_keep_the_first() -> None:
    batch = SinkBatch()
    batch.append(result("r1", "k1", 5, translated_text="first"), TP0, 0, now_ms=0)
    batch.append(result("r2", "k1", 5, translated_text="second"), TP0, 1, now_ms=0)
    assert [t.translated_text for t in batch.translations()] == ["first"]


def test_offsets_are_last_plus_one_per_partition() -> None:
    batch = SinkBatch()
    batch.append(result("a"), TP0, 10, now_ms=0)
    batch.append(result("b"), TP0, 11, now_ms=0)
    batch.append(result("c"), TP1, 3, now_ms=0)
    batch.append(result("d"), ("other.topic", 0), 99, now_ms=0)
    assert batch.offsets() == {TP0: 12, TP1: 4, ("other.topic", 0): 100}


def test_offsets_never_move_backwards() -> None:
    batch = SinkBatch()
    batch.append(result("a"), TP0, 10, now_ms=0)
    batch.append(result("b"), TP0, 4, now_ms=0)
    assert batch.offsets() == {TP0: 11}


def test_none_results_advance_offsets_only() -> None:
    batch = SinkBatch()
    batch.append(result("a"), TP0, 0, now_ms=0)
    batch.append(None, TP0, 1, now_ms=0)
    batch.append(None, TP1, 7, now_ms=0)
    assert batch.offsets() == {TP0: 2, TP1: 8}
    assert len(batch) == 3
    assert [r.request_id for r in batch.requests()] == ["a"]
    assert len(batch.translations()) == 1


def test_should_flush_by_rows() -> None:
    batch = SinkBatch()
    batch.append(result("a"), TP0, 0, now_ms=100)
    batch.append(result("b"), TP0, 1, now_ms=100)
    assert batch.should_flush(100, max_rows=3, max_age_ms=1_000) is False
    batch.append(None, TP0, 2, now_ms=100)
    assert batch.should_flush(100, max_rows=3, max_age_ms=1_000) is True


def test_should_flush_by_age_since_the_first_record() -> None:
    batch = SinkBatch()
    batch.append(result("a"), TP0, 0, now_ms=1_000)
    batch.append(result("b"), TP0, 1, now_ms=1_150)  # later records do not reset the age
    assert batch.should_flush(1_199, max_rows=100, max_age_ms=200) is False
    assert batch.should_flush(1_200, max_rows=100, max_age_ms=200) is True


def test_clear_resets_everything_including_age() -> None:
    batch = SinkBatch()
    batch.append(result("a"), TP0, 0, now_ms=0)
    batch.clear()
    assert len(batch) == 0
    assert batch.requests() == []
    assert batch.translations() == []
    assert batch.offsets() == {}
    assert batch.should_flush(10**9, max_rows=1, max_age_ms=0) is False
    batch.append(result("b"), TP0, 5, now_ms=5_000)
    assert batch.should_flush(5_100, max_rows=100, max_age_ms=200) is False
    assert batch.offsets() == {TP0: 6}


records = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2", "r3", "r4"]),
        st.sampled_from(["k1", "k2", "k3"]),
        st.integers(0, 5),
        st.integers(0, 2),
        st.integers(0, 1_000),
        st.booleans(),  # True: a record routed elsewhere (None)
    ),
    max_size=40,
)


@given(records=records)
def test_batch_matches_a_model(records: list[tuple[str, str, int, int, int, bool]]) -> None:
    batch = SinkBatch()
    appended: list[TranslationResult] = []
    for i, (rid, key, version, partition, offset, skip) in enumerate(records):
        r = None if skip else result(rid, key, version, translated_text=f"t{i}")
        if r is not None:
            appended.append(r)
        batch.append(r, ("results", partition), offset, now_ms=i)

    assert len(batch) == len(records)
    requests = batch.requests()
    assert sorted(r.request_id for r in requests) == sorted({r.request_id for r in appended})
    for r in requests:
        assert r is next(a for a in appended if a.request_id == r.request_id)

    translations = {t.cache_key: t for t in batch.translations()}
    assert set(translations) == {a.cache_key for a in appended}
    for key, chosen in translations.items():
        same_key = [a for a in appended if a.cache_key == key]
        best = max(a.version for a in same_key)
        assert chosen is next(a for a in same_key if a.version == best)

    expected: dict[tuple[str, int], int] = {}
    for _, _, _, partition, offset, _ in records:
        tp = ("results", partition)
        expected[tp] = max(expected.get(tp, 0), offset + 1)
    assert batch.offsets() == expected


# --- rows ----------------------------------------------------------------------------------------


def test_translation_row_matches_its_columns() -> None:
    r = result(version=T0 * 1000 + 123)
    row = translation_row(r)
    assert len(row) == len(TRANSLATION_COLUMNS)
    values = dict(zip(TRANSLATION_COLUMNS, row, strict=True))
    assert values == {
        "cache_key": "k1",
        "tenant": "acme",
        "source_lang": "en",
        "target_lang": "de",
        "format": "text",
        "source_text": "Hello",
        "translated_text": "Hallo",
        "provider": "pseudo",
        "model": "pseudo/1",
        "version": T0 * 1000 + 123,
        "translated_at": T0,  # epoch ms (the sink's connections encode it as timestamptz)
    }


def test_request_row_matches_its_columns() -> None:
    row = request_row(result())
    assert len(row) == len(REQUEST_COLUMNS)
    values = dict(zip(REQUEST_COLUMNS, row, strict=True))
    assert values == {
        "request_id": "r1",
        "cache_key": "k1",
        "tenant": "acme",
        "user_id": "u-1",
        "outcome": "miss",
        "provider": "pseudo",
        "billed_chars": 5,
        "cost": Decimal("0.00005"),
        "latency_ms": 120,
        "requested_at": T0,
        "completed_at": T0 + 120,
    }


@pytest.mark.parametrize(
    ("hit", "coalesced", "outcome"),
    [(False, False, "miss"), (True, False, "hit"), (False, True, "coalesced"), (True, True, "hit")],
)
def test_request_row_outcome(hit: bool, coalesced: bool, outcome: str) -> None:
    row = request_row(result(cache_hit=hit, coalesced=coalesced))
    assert row[REQUEST_COLUMNS.index("outcome")] == outcome


def test_outcomes_are_the_ones_the_table_allows() -> None:
    sql = bundled_migrations()[0].sql
    match = re.search(r"outcome IN \(([^)]*)\)", sql)
    assert match is not None
    allowed = {v.strip().strip("'") for v in match.group(1).split(",")}
    produced = {result(cache_hit=h, coalesced=c).outcome for h in (False, True) for c in (False, True)}
    assert produced == allowed == {"hit", "coalesced", "miss"}


def test_columns_exist_in_the_initial_migration() -> None:
    sql = bundled_migrations()[0].sql
    for table, columns in (("translations", TRANSLATION_COLUMNS), ("translation_requests", REQUEST_COLUMNS)):
        body = sql.split(f"CREATE TABLE {table} (", 1)[1].split(");", 1)[0]
        declared = {line.split()[0] for line in body.strip().splitlines() if line.strip()}
        assert set(columns) <= declared, table


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, Decimal(0)), (0.1, Decimal("0.1")), (1e-05, Decimal("0.00001")), (12.5, Decimal("12.5"))],
)
def test_money_is_an_exact_decimal_of_the_float_as_printed(value: float, expected: Decimal) -> None:
    assert money(value) == expected
    assert isinstance(money(value), Decimal)


@given(cost=st.floats(0, 1e6, allow_nan=False))
def test_money_round_trips_the_float(cost: float) -> None:
    assert float(money(cost)) == cost


def test_ms_to_datetime_is_utc() -> None:
    assert ms_to_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    dt = ms_to_datetime(T0 + 1)
    assert dt.tzinfo is UTC
    assert dt == datetime(2023, 11, 14, 22, 13, 20, 1_000, tzinfo=UTC)


def test_timestamptz_is_microseconds_since_2000_utc() -> None:
    assert encode_timestamptz(946_684_800_000) == (0,)
    assert encode_timestamptz(0) == (-946_684_800_000_000,)
    assert encode_timestamptz(T0 + 1) == ((T0 + 1 - 946_684_800_000) * 1000,)
    assert decode_timestamptz((1_000,)) == datetime(2000, 1, 1, 0, 0, 0, 1_000, tzinfo=UTC)


@given(ms=st.integers(-(10**13), 10**14))
def test_timestamptz_round_trips_epoch_ms_as_the_same_instant(ms: int) -> None:
    # Exact, unlike a float of seconds (which is off by a microsecond from about the year 2200).
    exact = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert decode_timestamptz(encode_timestamptz(ms)) == exact


INT4_MAX = 2**31 - 1


def test_latency_of_a_month_old_request_fits_its_column() -> None:
    """latency_ms = completed_at - created_at is unbounded (created_at=0 is valid, and so is a DLQ
    replay a month later), so its column must be bigint: an int4 (~24.8 days) would make the COPY
    fail, the sink retry the same batch forever and the results partition stall."""
    month = 30 * 24 * 3600 * 1000
    r = result(created_at=T0 - month, completed_at=T0, latency_ms=month)
    latency = request_row(r)[REQUEST_COLUMNS.index("latency_ms")]
    assert isinstance(latency, int)
    widened = any(re.search(r"latency_ms\s+(TYPE\s+)?bigint", m.sql, re.I) for m in bundled_migrations())
    assert widened or latency <= INT4_MAX


# --- migrations ----------------------------------------------------------------------------------


def test_bundled_migrations_are_sorted_and_start_at_init() -> None:
    migrations = bundled_migrations()
    assert migrations
    versions = [m.version for m in migrations]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert (migrations[0].version, migrations[0].name) == (1, "init")
    assert "CREATE TABLE translations" in migrations[0].sql


def test_migration_checksum_is_stable() -> None:
    first = [m.checksum for m in bundled_migrations()]
    assert first == [m.checksum for m in bundled_migrations()]
    assert all(re.fullmatch(r"[0-9a-f]{64}", c) for c in first)


def test_applied_migration_0001_never_changes() -> None:
    # Databases record this checksum; migrate() refuses to start if an applied file changed.
    # Schema changes go in a new migrations/NNNN_name.sql file, never into 0001.
    assert bundled_migrations()[0].checksum == (
        "04c9f54c22b399cc51a5c9de1ee6e95dd5743f2eff089a2ac6aacb72119abce7"
    )


def test_checksum_depends_on_the_sql() -> None:
    m = bundled_migrations()[0]
    assert replace(m, sql=m.sql + "\n").checksum != m.checksum
