"""The sink agent: consume ``translation.results``, batch, write to Postgres, and only then commit
the consumer offsets. A failed write is retried with backoff and nothing is committed meanwhile;
a record that is not a valid result goes to the DLQ (never dropped silently)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError

from linguaflow.errors import InvalidRequest, LinguaflowError, SinkWriteError
from linguaflow.health import read_progress
from linguaflow.kafka import Publisher, consumer_config
from linguaflow.retry import backoff_ms
from linguaflow.schemas import DeadLetter, decode_result, encode
from linguaflow.settings import Settings
from linguaflow.sinks.batch import SinkBatch
from linguaflow.sinks.postgres import PostgresResultSink, WriteOutcome
from linguaflow.telemetry import Telemetry

log = logging.getLogger("linguaflow.sink")


class _FlushOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ResultSinkRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._runner.flush()  # commit what we wrote before another consumer takes over
        self._runner.forget(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class ResultSinkRunner:
    def __init__(
        self,
        settings: Settings,
        sink: PostgresResultSink,
        publisher: Publisher,
        telemetry: Telemetry,
        *,
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._publisher = publisher
        self._telemetry = telemetry
        self._clock = clock
        self._batch = SinkBatch()
        self._last_flush: tuple[float, int] | None = None  # (when, ms; rows written and committed)
        self._read: dict[TopicPartition, int] = {}  # the last offset read, per partition
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._commit_timeout_s = settings.kafka_request_timeout_ms / 1000
        self._consumer = AIOKafkaConsumer(
            **consumer_config(settings),
            group_id=settings.sink_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.sink_batch_rows,
        )

    async def run(self) -> None:
        self._consumer.subscribe([self._settings.results_topic], listener=_FlushOnRevoke(self))
        await self._consumer.start()
        try:
            poll_ms = max(10, min(self._settings.sink_flush_ms, 200))
            while not self._stopping.is_set():
                records = await self._consumer.getmany(
                    timeout_ms=poll_ms, max_records=self._settings.sink_batch_rows
                )
                for tp, messages in records.items():
                    for message in messages:
                        await self._add(tp, message)
                    self._read[tp] = messages[-1].offset
                if self._batch.should_flush(
                    self._clock(),
                    max_rows=self._settings.sink_batch_rows,
                    max_age_ms=self._settings.sink_flush_ms,
                ):
                    await self.flush()
            await self.flush()
        finally:
            await self._consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def consumer(self) -> AIOKafkaConsumer:
        """The results consumer (the worker's lag monitor reads its positions)."""
        return self._consumer

    def progress(self) -> tuple[dict[str, int], int]:
        """Read offsets of the assigned partitions, and how many records wait unread (for
        ``StallWatch``: a stalled sink is seen in ``/ready`` like a stalled agent)."""
        return read_progress(self._consumer.assignment(), self._read.get, self._consumer.highwater)

    def forget(self, partitions: Any) -> None:
        for tp in partitions:
            self._read.pop(tp, None)

    async def _add(self, tp: TopicPartition, message: Any) -> None:
        try:
            result = decode_result(message.value or b"")
        except InvalidRequest as exc:
            await self._dead_letter(message.value, exc, (tp.topic, tp.partition), message.offset, None)
            result = None
        size = len(message.value or b"")
        self._batch.append(result, (tp.topic, tp.partition), message.offset, self._clock(), size)

    async def _dead_letter(
        self,
        value: bytes | None,
        exc: LinguaflowError,
        tp: tuple[str, int],
        offset: int,
        request_id: str | None,
    ) -> None:
        letter = DeadLetter(
            reason=exc.reason,
            error=str(exc),
            origin_topic=tp[0],
            origin_partition=tp[1],
            origin_offset=offset,
            first_failed_at=int(self._clock()),
            request_id=request_id,
        )
        self._telemetry.count("dlq", reason=letter.reason)
        await (await self._publisher.send(self._settings.dlq_topic, value, headers=letter.headers()))

    def buffer(self) -> dict[str, Any]:
        """What waits to be written now, and the last flush (for ``/stats``)."""
        opened, now = self._batch.opened_ms, self._clock()
        last_at, last_rows = self._last_flush or (None, None)
        return {
            "rows": len(self._batch),
            "bytes": self._batch.size_bytes,
            "oldest_age_s": None if opened is None else round((now - opened) / 1000, 3),
            "last_flush_at": None if last_at is None else last_at / 1000,
            "last_flush_rows": last_rows,
        }

    async def flush(self) -> int:
        """Write the batch, then commit its offsets; returns how many records that took. A failed
        write is retried with backoff (nothing is committed meanwhile); on shutdown it is left
        uncommitted for the next owner. Rows the database refuses outright are isolated one by
        one and dead-lettered, so one poisoned record cannot stall a partition."""
        async with self._lock:
            if not len(self._batch):
                return 0
            traces = [r.traceparent for r in self._batch.requests()]
            with self._telemetry.spans("sink.write", traces, rows=len(self._batch)):
                return await self._write_and_commit()

    async def _write_and_commit(self) -> int:
        started = self._clock()
        outcome = await self._write_with_retries()
        if outcome is None:
            return 0
        offsets = {TopicPartition(t, p): o for (t, p), o in self._batch.offsets().items()}
        try:
            await asyncio.wait_for(self._consumer.commit(offsets), self._commit_timeout_s)
        except CommitFailedError as exc:
            # The group moved on while we wrote; the new owner re-reads these records and the
            # idempotent upserts make that harmless.
            log.warning("offset commit rejected after a rebalance: %s", exc)
        except TimeoutError:
            # The broker is away. The rows are written; reading goes on (a commit that never
            # returns would also hold up the group's rebalance when the broker is back), and
            # whoever reads these records again writes them again, idempotently.
            log.warning("offset commit unanswered for %.0f s: going on", self._commit_timeout_s)
        self._telemetry.count("sink_rows", len(self._batch))
        self._telemetry.count("sink_translations_changed", outcome.translations_changed)
        self._telemetry.count("sink_requests_inserted", outcome.requests_inserted)
        self._telemetry.observe("sink_flush", (self._clock() - started) / 1000)
        self._telemetry.observe("sink_batch_rows", len(self._batch))
        rows = len(self._batch)
        self._last_flush = (self._clock(), rows)
        self._batch.clear()
        return rows

    async def _write_with_retries(self) -> WriteOutcome | None:
        attempt, isolate = 0, False
        while True:
            attempt += 1
            try:
                return await (self._write_isolating() if isolate else self._sink.write(self._batch))
            except SinkWriteError as exc:
                if not exc.retriable:
                    log.warning("postgres refused a batch; isolating the bad rows: %s", exc)
                    isolate = True
                    continue
                if self._stopping.is_set():
                    # Shutting down with the database away: leave offsets uncommitted, so the
                    # next owner of these partitions writes the batch again.
                    log.error("sink write failed during shutdown, not committing: %s", exc)
                    return None
                delay = backoff_ms(attempt, 100, self._settings.sink_retry_max_ms) / 1000
                log.warning("sink write failed (attempt %d), retrying in %.2fs: %s", attempt, delay, exc)
                self._telemetry.count("sink_write_errors")
                await asyncio.sleep(delay)

    async def _write_isolating(self) -> WriteOutcome:
        changed = inserted = 0
        for result in self._batch.requests():
            single = SinkBatch()
            single.append(result, ("isolated", 0), 0, self._clock())
            try:
                outcome = await self._sink.write(single)
            except SinkWriteError as exc:
                if exc.retriable:
                    raise
                tp, offset = self._batch.origin(result.request_id)
                problem = SinkWriteError(str(exc), reason="sink_rejected", retriable=False)
                await self._dead_letter(encode(result), problem, tp, offset, result.request_id)
                continue
            changed += outcome.translations_changed
            inserted += outcome.requests_inserted
        return WriteOutcome(changed, inserted)
