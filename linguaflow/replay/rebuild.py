"""Replay mode ``rebuild``: ``translation.results`` -> Postgres, through the sink's own pure batch
and writer (``SinkBatch`` + ``PostgresResultSink``), so the rebuilt tables are what the live sink
would have written: insert-once request rows, translations moving forward by ``version`` only."""

from __future__ import annotations

from typing import Any

from linguaflow.errors import InvalidRequest
from linguaflow.replay.reader import Record
from linguaflow.schemas import decode_result
from linguaflow.settings import Settings
from linguaflow.sinks.batch import SinkBatch
from linguaflow.sinks.postgres import PostgresResultSink, sink_pool

PRESENT_SQL = "SELECT count(*) FROM translation_requests WHERE request_id = ANY($1::text[])"


class RebuildPostgres:
    def __init__(self, settings: Settings, *, dry_run: bool) -> None:
        self._settings = settings
        self._dry_run = dry_run
        self._pool: Any = None
        self._seen: set[str] = set()  # dry run: request ids already counted
        self.results = 0
        self.requests_present = 0
        self.requests_inserted = 0
        self.translations_changed = 0
        self.invalid: list[str] = []

    async def start(self) -> None:
        self._pool = await sink_pool(self._settings, max_size=1)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def handle(self, chunk: list[Record]) -> None:
        batch = SinkBatch()
        for record in chunk:
            try:
                result = decode_result(record.value or b"")
                self.results += 1
            except InvalidRequest as exc:  # the live sink sent it to the DLQ; say so, skip it
                self.invalid.append(f"{record.topic}:{record.partition}:{record.offset}: {exc}")
                result = None
            batch.append(result, (record.topic, record.partition), record.offset, 0.0)  # no age flush
        if self._dry_run:
            ids = [r.request_id for r in batch.requests() if r.request_id not in self._seen]
            self._seen.update(ids)
            self.requests_present += await self._pool.fetchval(PRESENT_SQL, ids)
            self.requests_inserted += len(ids)
            return
        outcome = await PostgresResultSink(self._pool).write(batch)
        self.requests_inserted += outcome.requests_inserted
        self.translations_changed += outcome.translations_changed

    def report(self) -> dict[str, Any]:
        if self._dry_run:
            return {
                "results": self.results,
                "request_ids": self.requests_inserted,
                "request_rows_present": self.requests_present,
                "request_rows_missing": self.requests_inserted - self.requests_present,
                "provider_calls": 0,
                "estimated_cost": 0.0,
                "invalid": self.invalid,
            }
        return {
            "results": self.results,
            "request_rows_inserted": self.requests_inserted,
            "translation_rows_changed": self.translations_changed,
            "invalid": self.invalid,
        }
