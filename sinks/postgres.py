"""PostgresResultSink: write one SinkBatch in one transaction. Translations only move forward in
``version``; request rows are insert-once, so re-writing the same batch is a no-op, which is what
at-least-once delivery needs. The common case, request ids and keys not stored yet, goes in by
plain COPY into the tables themselves; the set-based upserts take the rest (see ``write``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from linguaflow.db import create_pool
from linguaflow.errors import SinkWriteError
from linguaflow.schemas import TranslationResult
from linguaflow.settings import Settings
from linguaflow.sinks.batch import SinkBatch
from linguaflow.sinks.rows import (
    REQUEST_COLUMNS,
    TRANSLATION_COLUMNS,
    as_columns,
    request_row,
    split_by_stored_version,
    translation_row,
)

# The array type unnest() gets for each column: its type in migrations/0001_init.sql (a unit test
# checks); the columns not listed are text.
ARRAY_TYPES = {
    "version": "bigint",
    "translated_at": "timestamptz",
    "billed_chars": "integer",
    "cost": "numeric",
    "latency_ms": "bigint",
    "requested_at": "timestamptz",
    "completed_at": "timestamptz",
}


def _unnest(columns: tuple[str, ...]) -> str:
    arrays = ", ".join(f"${i}::{ARRAY_TYPES.get(c, 'text')}[]" for i, c in enumerate(columns, start=1))
    return f"SELECT * FROM unnest({arrays})"


_T_COLS = ", ".join(TRANSLATION_COLUMNS)
_R_COLS = ", ".join(REQUEST_COLUMNS)
_T_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in TRANSLATION_COLUMNS if c != "cache_key")
# Built once from the fixed column tuples in sinks.rows; no input reaches these strings.
STORED_VERSIONS = "SELECT cache_key, version FROM translations WHERE cache_key = ANY($1::text[])"
# The lookup is a primary-key probe per key, whatever the statistics say. With statistics from
# when the table was small (a new deployment, a fast backfill: autoanalyze runs at most once a
# minute), or in the generic plan Postgres caches after five runs (which assumes 10 keys), the
# planner chose a sequential scan comparing every row with every key of the batch: 77-85 ms for a
# 1,000-key batch at only 17,000 keys stored, and it grows with the table (auto_explain, bench).
# SET LOCAL ends with the transaction, so nothing else of the connection changes.
PROBE_BY_INDEX = "SET LOCAL enable_seqscan = off"
UPSERT_TRANSLATIONS = f"""
INSERT INTO translations ({_T_COLS}) {_unnest(TRANSLATION_COLUMNS)}
ON CONFLICT (cache_key) DO UPDATE SET {_T_UPDATE}, written_at = now()
WHERE translations.version < EXCLUDED.version
"""
INSERT_REQUESTS = f"""
INSERT INTO translation_requests ({_R_COLS}) {_unnest(REQUEST_COLUMNS)}
ON CONFLICT (request_id) DO NOTHING
"""


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # Postgres counts timestamps from here, in microseconds
_PG_EPOCH_MS = int(_PG_EPOCH.timestamp() * 1000)


def encode_timestamptz(epoch_ms: int) -> tuple[int]:
    return ((epoch_ms - _PG_EPOCH_MS) * 1000,)


def decode_timestamptz(pg_timestamp: tuple[int]) -> datetime:
    return _PG_EPOCH + timedelta(microseconds=pg_timestamp[0])


async def prepare_connection(conn: Any) -> None:
    """timestamptz travels as epoch milliseconds, the way results carry it (sinks.rows): encoded
    straight into Postgres' binary form, where a datetime per value cost more client CPU than
    anything else in row mapping. Reads still return aware UTC datetimes."""
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        format="tuple",
        encoder=encode_timestamptz,
        decoder=decode_timestamptz,
    )


async def sink_pool(settings: Settings, *, max_size: int = 4) -> Any:
    """The pool a PostgresResultSink needs: every connection set up by ``prepare_connection``."""
    return await create_pool(settings, max_size=max_size, init=prepare_connection)


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    translations_changed: int
    requests_inserted: int


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 42" -> 42


class PostgresResultSink:
    def __init__(self, pool: Any, *, timeout_s: float = 15.0) -> None:
        """``pool``: from ``sink_pool`` (or with ``prepare_connection`` as its ``init``).
        ``timeout_s``: the most one write may take before it counts as failed (and is retried)."""
        self._pool = pool
        self._timeout_s = timeout_s

    async def write(self, batch: SinkBatch) -> WriteOutcome:
        requests = [request_row(r) for r in batch.requests()]
        translations = batch.translations()
        try:
            # A timeout: with the server gone, acquire would wait instead of failing and retrying.
            async with self._pool.acquire(timeout=10) as conn:
                try:
                    async with asyncio.timeout(self._timeout_s):
                        return await _write(conn, requests, translations)
                except TimeoutError:
                    # A write that hangs (seen when the server went away during a COPY) must not
                    # stall the sink: drop the connection, the batch is retried on a new one.
                    conn.terminate()
                    raise
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # The rows themselves are refused (e.g. a NUL byte in text): retrying cannot help.
            raise SinkWriteError(f"postgres refused the rows: {exc!r}", retriable=False) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise SinkWriteError(f"postgres write failed: {exc!r}") from exc


async def _write(
    conn: Any, requests: list[tuple[object, ...]], translations: list[TranslationResult]
) -> WriteOutcome:
    try:
        async with conn.transaction():
            return await _copy_new_rows(conn, requests, translations)
    except asyncpg.UniqueViolationError:
        # Some rows are there already: a re-delivered batch, or another writer (the partition's
        # previous owner) committed them meanwhile. Nothing of the attempt was committed; the
        # whole batch again, in one transaction, as upserts.
        async with conn.transaction():
            return await _upsert_all(conn, requests, translations)


async def _copy_new_rows(
    conn: Any, requests: list[tuple[object, ...]], translations: list[TranslationResult]
) -> WriteOutcome:
    """Requests by COPY (a request id already stored fails it with a unique violation); keys not
    stored yet by COPY, keys stored with an older version by the upsert; keys stored with this
    version or a newer one are left alone, as the upsert's version guard would leave them, and
    without the row lock an ON CONFLICT DO UPDATE takes even when its WHERE is false."""
    copied = await conn.copy_records_to_table(
        "translation_requests", records=requests, columns=REQUEST_COLUMNS
    )
    await conn.execute(PROBE_BY_INDEX)
    stored = dict(await conn.fetch(STORED_VERSIONS, [t.cache_key for t in translations]))
    absent, newer = split_by_stored_version(translations, stored)
    changed = 0
    if absent:
        rows = [translation_row(t) for t in absent]
        changed += _count(
            await conn.copy_records_to_table("translations", records=rows, columns=TRANSLATION_COLUMNS)
        )
    if newer:
        changed += await _upsert_translations(conn, newer)
    return WriteOutcome(changed, _count(copied))


async def _upsert_all(
    conn: Any, requests: list[tuple[object, ...]], translations: list[TranslationResult]
) -> WriteOutcome:
    changed = await _upsert_translations(conn, translations)
    inserted = _count(await conn.execute(INSERT_REQUESTS, *as_columns(requests, len(REQUEST_COLUMNS))))
    return WriteOutcome(changed, inserted)


async def _upsert_translations(conn: Any, translations: list[TranslationResult]) -> int:
    rows = [translation_row(t) for t in translations]
    return _count(await conn.execute(UPSERT_TRANSLATIONS, *as_columns(rows, len(TRANSLATION_COLUMNS))))
