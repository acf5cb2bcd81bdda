"""PostgresResultSink against a real Postgres: one transaction per batch, translations only move
forward in ``version``, request rows are insert-once (a re-delivered batch is a no-op, also when
only part of it was written before, or another writer commits the same rows meanwhile), and rows
Postgres refuses are reported as not retriable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from linguaflow.errors import SinkWriteError
from linguaflow.schemas import TranslationResult
from linguaflow.sinks.batch import SinkBatch
from linguaflow.sinks.migrate import migrate
from linguaflow.sinks.postgres import PostgresResultSink, WriteOutcome, prepare_connection
from testbed.services import create_database, unique_prefix
from tests.factories import translation_result

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000


@pytest.fixture
async def db_url(admin_db_url: str) -> str:
    url = await create_database(admin_db_url, unique_prefix())
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


@pytest.fixture
async def sink(db_url: str) -> AsyncIterator[PostgresResultSink]:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2, init=prepare_connection)
    yield PostgresResultSink(pool)
    await pool.close()


def result(request_id: str, key: str, version: int = 1, **fields: Any) -> TranslationResult:
    return translation_result(request_id=request_id, cache_key=key, version=version, **fields)


def batch_of(*results: TranslationResult) -> SinkBatch:
    batch = SinkBatch()
    for offset, r in enumerate(results):
        batch.append(r, ("results", 0), offset, now_ms=0)
    return batch


async def table(db_url: str, name: str) -> list[dict[str, Any]]:
    """Every row of ``name`` (including ``written_at``), by primary key."""
    key = "cache_key" if name == "translations" else "request_id"
    conn = await asyncpg.connect(db_url)
    try:
        return [dict(r) for r in await conn.fetch(f"SELECT * FROM {name} ORDER BY {key}")]
    finally:
        await conn.close()


async def test_a_batch_writes_one_translation_per_key_and_one_row_per_request(
    sink: PostgresResultSink, db_url: str
) -> None:
    first = result("r1", "k1", version=T0 * 1000 + 7, cost=0.00005, created_at=T0, completed_at=T0 + 120)
    hit = result("r2", "k1", version=T0 * 1000 + 7, cache_hit=True, billed_chars=0)
    outcome = await sink.write(batch_of(first, hit, result("r3", "k2", translated_text="Tschüss")))
    assert outcome == WriteOutcome(translations_changed=2, requests_inserted=3)
    translations = await table(db_url, "translations")
    assert [(t["cache_key"], t["version"], t["translated_text"]) for t in translations] == [
        ("k1", T0 * 1000 + 7, "Hallo"),
        ("k2", 1, "Tschüss"),
    ]
    assert translations[0]["translated_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    requests = await table(db_url, "translation_requests")
    assert [(r["request_id"], r["outcome"]) for r in requests] == [
        ("r1", "miss"),
        ("r2", "hit"),
        ("r3", "miss"),
    ]
    assert requests[0]["cost"] == Decimal("0.00005")
    assert requests[0]["requested_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert requests[0]["completed_at"] == datetime(2023, 11, 14, 22, 13, 20, 120_000, tzinfo=UTC)


async def test_a_redelivered_batch_changes_nothing(sink: PostgresResultSink, db_url: str) -> None:
    batch = batch_of(result("r1", "k1"), result("r2", "k2"), result("r3", "k1"))
    assert await sink.write(batch) == WriteOutcome(2, 3)
    before = (await table(db_url, "translations"), await table(db_url, "translation_requests"))
    assert await sink.write(batch) == WriteOutcome(0, 0)
    assert (await table(db_url, "translations"), await table(db_url, "translation_requests")) == before


async def test_requests_already_written_are_left_alone_and_the_others_inserted(
    sink: PostgresResultSink, db_url: str
) -> None:
    await sink.write(batch_of(result("r1", "k1"), result("r2", "k2", latency_ms=11)))
    [r2_before] = [r for r in await table(db_url, "translation_requests") if r["request_id"] == "r2"]
    # r2 again (re-delivered, different latency: the first row written wins) with two new requests.
    outcome = await sink.write(
        batch_of(result("r3", "k3"), result("r2", "k2", latency_ms=99), result("r4", "k1"))
    )
    assert outcome.requests_inserted == 2
    requests = {r["request_id"]: r for r in await table(db_url, "translation_requests")}
    assert sorted(requests) == ["r1", "r2", "r3", "r4"]
    assert requests["r2"] == r2_before


async def test_translations_only_move_forward_in_version(sink: PostgresResultSink, db_url: str) -> None:
    await sink.write(batch_of(result("a1", "old", version=5), result("b1", "same", version=5)))
    await sink.write(batch_of(result("c1", "new", version=5)))
    mixed = batch_of(
        result("a2", "old", version=3, translated_text="older"),  # stored is newer: kept
        result("b2", "same", version=5, translated_text="equal"),  # same version: kept
        result("c2", "new", version=9, translated_text="newer"),  # newer: replaces
        result("d2", "fresh", version=1, translated_text="first"),  # absent: inserted
    )
    assert (await sink.write(mixed)).translations_changed == 2
    texts = {
        t["cache_key"]: (t["version"], t["translated_text"]) for t in await table(db_url, "translations")
    }
    assert texts == {"old": (5, "Hallo"), "same": (5, "Hallo"), "new": (9, "newer"), "fresh": (1, "first")}


async def test_rows_another_writer_commits_meanwhile_are_not_duplicated_or_rolled_back(
    sink: PostgresResultSink, db_url: str
) -> None:
    """Another sink (the previous owner of the partition, say) holds the same request and a newer
    version of the same key in an open transaction while this batch is written; it commits."""
    other = await asyncpg.connect(db_url)
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute(
            "INSERT INTO translations (cache_key, tenant, source_lang, target_lang, format, source_text,"
            " translated_text, provider, model, version, translated_at)"
            " VALUES ('k1', 't', 'en', 'de', 'text', 'Hello', 'theirs', 'pseudo', 'pseudo/1', 10, now())"
        )
        await other.execute(
            "INSERT INTO translation_requests (request_id, cache_key, tenant, user_id, outcome, provider,"
            " billed_chars, cost, latency_ms, requested_at, completed_at)"
            " VALUES ('r1', 'k1', 't', 'u', 'miss', 'pseudo', 5, 0, 42, now(), now())"
        )
        write = asyncio.create_task(
            sink.write(batch_of(result("r1", "k1", version=5), result("r2", "k2", version=5)))
        )
        await asyncio.sleep(0.5)  # the write waits on the other transaction's rows
        assert not write.done()
        await tx.commit()
        outcome = await asyncio.wait_for(write, 30)
    finally:
        await other.close()
    assert outcome == WriteOutcome(translations_changed=1, requests_inserted=1)
    requests = {r["request_id"]: r["latency_ms"] for r in await table(db_url, "translation_requests")}
    assert requests == {"r1": 42, "r2": 1}
    texts = {
        t["cache_key"]: (t["version"], t["translated_text"]) for t in await table(db_url, "translations")
    }
    assert texts == {"k1": (10, "theirs"), "k2": (5, "Hallo")}


@pytest.mark.parametrize("already_written", [False, True])
async def test_a_row_postgres_refuses_fails_the_whole_batch_as_not_retriable(
    sink: PostgresResultSink, db_url: str, already_written: bool
) -> None:
    if already_written:  # the refusal must surface from the conflict-tolerant path too
        await sink.write(batch_of(result("r1", "k1")))
    before = (await table(db_url, "translations"), await table(db_url, "translation_requests"))
    poisoned = batch_of(
        result("r1", "k1"), result("r2", "k2", translated_text="bad \x00 byte"), result("r3", "k3")
    )
    with pytest.raises(SinkWriteError) as refused:
        await sink.write(poisoned)
    assert refused.value.retriable is False
    assert (await table(db_url, "translations"), await table(db_url, "translation_requests")) == before


async def test_an_unreachable_database_is_retriable() -> None:
    url = "postgresql://postgres@127.0.0.1:9/postgres"
    pool = await asyncpg.create_pool(url, min_size=0, max_size=1, init=prepare_connection)
    try:
        with pytest.raises(SinkWriteError) as failed:
            await PostgresResultSink(pool).write(batch_of(result("r1", "k1")))
    finally:
        await pool.close()
    assert failed.value.retriable is True


async def _store_keys(db_url: str, first: int, last: int, *, analyze: bool = False) -> None:
    """Keys ``k<first>`` .. ``k<last>`` as stored translations (version 1)."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO translations (cache_key, tenant, source_lang, target_lang, format,"
            " source_text, translated_text, provider, model, version, translated_at)"
            " SELECT 'k' || i, 't', 'en', 'de', 'text', 'Hello', 'Hallo', 'pseudo', 'pseudo/1', 1,"
            " now() FROM generate_series($1::int, $2::int) AS i",
            first,
            last,
        )
        if analyze:
            await conn.execute("ANALYZE translations")
    finally:
        await conn.close()


# The log listener is how this test reads the plans; asyncpg warns when a pool connection goes
# back with one attached, and its release then removes it, which is what the test relies on.
@pytest.mark.filterwarnings("ignore:.*active log listener:asyncpg.exceptions.InterfaceWarning")
async def test_the_key_lookup_probes_the_primary_key_in_a_plan_made_when_the_table_was_small(
    db_url: str,
) -> None:
    """The sink's connection plans its lookup while ``translations`` holds 200 keys (analyzed),
    and keeps that plan (Postgres caches a prepared statement's generic plan after five runs; here
    from the first) while 20,000 keys arrive with no ANALYZE in between, as in a new deployment
    or a fast backfill. Unless told otherwise, the planner's choice then was a sequential scan comparing
    every stored key with every key of the batch (77-85 ms per 1,000-key batch at 17,000 keys in
    the benchmark). auto_explain reports each plan the sink's connection runs, as it runs it."""
    plans: list[str] = []

    async def explained(c: Any) -> None:
        await prepare_connection(c)
        await c.execute("LOAD 'auto_explain'")

    async def each_acquire(c: Any) -> None:  # the pool's release resets settings and listeners
        c.add_log_listener(lambda _conn, message: plans.append(message.message))
        await c.execute(
            "SET auto_explain.log_min_duration = 0; SET client_min_messages = log;"
            " SET plan_cache_mode = force_generic_plan"
        )

    await _store_keys(db_url, 1, 200, analyze=True)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1, init=explained, setup=each_acquire)
    sink = PostgresResultSink(pool)
    try:
        await sink.write(batch_of(result("r-first", "first")))
        await _store_keys(db_url, 201, 20_000)
        keys = [f"k{i}" for i in range(1, 20000, 40)] + ["new-1", "new-2"]
        plans.clear()
        outcome = await sink.write(batch_of(*(result(f"r-{k}", k, version=2) for k in keys)))
    finally:
        await pool.close()
    assert outcome == WriteOutcome(translations_changed=len(keys), requests_inserted=len(keys))
    lookups = [p for p in plans if "FROM translations WHERE cache_key = ANY" in p]
    assert len(lookups) == 1, plans
    assert "Seq Scan" not in lookups[0], lookups[0][-600:]
    assert "Index" in lookups[0], lookups[0][-600:]
