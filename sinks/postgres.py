"""PostgresResultSink: write one SinkBatch in one transaction. COPY into session-local staging
tables, then set-based upserts: translations only move forward in ``version``; request rows are
insert-once. Re-writing the same batch is a no-op, which is what at-least-once delivery needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from linguaflow.errors import SinkWriteError
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


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    translations_changed: int
    requests_inserted: int


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 42" -> 42


class PostgresResultSink:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def write(self, batch: SinkBatch) -> WriteOutcome:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
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
