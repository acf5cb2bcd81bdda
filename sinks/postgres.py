"""PostgresResultSink: write one SinkBatch in one transaction. COPY into session-local staging
tables, then set-based upserts: translations only move forward in ``version``; request rows are
insert-once. Re-writing the same batch is a no-op, which is what at-least-once delivery needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from linguaflow.db import create_pool
from linguaflow.errors import SinkWriteError
from linguaflow.settings import Settings
from sinks.batch import SinkBatch
from sinks.rows import REQUEST_COLUMNS, TRANSLATION_COLUMNS, request_row, translation_row

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_translations
    (LIKE translations INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_requests
    (LIKE translation_requests INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
"""
_T_COLS = ", ".join(TRANSLATION_COLUMNS)
_R_COLS = ", ".join(REQUEST_COLUMNS)
_T_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in TRANSLATION_COLUMNS if c != "cache_key")
# Built once from the fixed column tuples in sinks.rows; no input reaches these strings.
UPSERT_TRANSLATIONS = f"""
INSERT INTO translations ({_T_COLS}) SELECT {_T_COLS} FROM stage_translations
ON CONFLICT (cache_key) DO UPDATE SET {_T_UPDATE}, written_at = now()
WHERE translations.version < EXCLUDED.version
"""
INSERT_REQUESTS = f"""
INSERT INTO translation_requests ({_R_COLS}) SELECT {_R_COLS} FROM stage_requests
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
    def __init__(self, pool: Any) -> None:
        """``pool``: from ``sink_pool`` (or with ``prepare_connection`` as its ``init``)."""
        self._pool = pool

    async def write(self, batch: SinkBatch) -> WriteOutcome:
        try:
            # A timeout: with the server gone, acquire would wait instead of failing and retrying.
            async with self._pool.acquire(timeout=10) as conn, conn.transaction():
                await conn.execute(_STAGING)
                await conn.copy_records_to_table(
                    "stage_translations",
                    records=[translation_row(r) for r in batch.translations()],
                    columns=TRANSLATION_COLUMNS,
                )
                await conn.copy_records_to_table(
                    "stage_requests",
                    records=[request_row(r) for r in batch.requests()],
                    columns=REQUEST_COLUMNS,
                )
                changed = _count(await conn.execute(UPSERT_TRANSLATIONS))
                inserted = _count(await conn.execute(INSERT_REQUESTS))
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # The rows themselves are refused (e.g. a NUL byte in text): retrying cannot help.
            raise SinkWriteError(f"postgres refused the rows: {exc!r}", retriable=False) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise SinkWriteError(f"postgres write failed: {exc!r}") from exc
        return WriteOutcome(changed, inserted)
