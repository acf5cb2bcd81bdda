"""Reading a window of one topic in a replay consumer group of its own.

Partitions are assigned, not subscribed: the replay group never joins a rebalance, and the live
groups (the agents' ``app_id``, the sink's group) are never touched. The replay group's committed
offsets are its checkpoint: a chunk is committed only after its side effect is done, so an
interrupted replay run again with the same group continues where it stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from linguaflow.errors import ConfigError
from linguaflow.kafka import consumer_config, topic_partitions
from linguaflow.replay.plan import Span, Window, spans
from linguaflow.settings import Settings

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


async def _offsets_at(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], ms: int
) -> dict[int, int | None]:
    found = await consumer.offsets_for_times(dict.fromkeys(tps, ms))
    return {tp.partition: (None if at is None else at.offset) for tp, at in found.items()}


class ReplayReader:
    def __init__(self, settings: Settings, topic: str, group: str) -> None:
        self._settings = settings
        self._topic = topic
        self._group = group
        self._consumer: AIOKafkaConsumer | None = None
        self.spans: dict[int, Span] = {}
        self.resumed: list[int] = []  # partitions that started at the group's committed offset

    @property
    def total(self) -> int:
        return sum(span.size for span in self.spans.values())

    async def open(
        self,
        *,
        from_ms: int | None,
        from_offsets: dict[int, int] | None,
        to_ms: int | None,
        restart: bool,
    ) -> None:
        tps = (await topic_partitions(self._settings, [self._topic])).get(self._topic, [])
        if not tps:
            raise ConfigError(f"topic {self._topic!r} does not exist")
        consumer = AIOKafkaConsumer(
            **consumer_config(self._settings), group_id=self._group, enable_auto_commit=False
        )
        await consumer.start()
        self._consumer = consumer
        consumer.assign(tps)
        window = Window(
            from_offsets=from_offsets,
            from_time_offsets=None if from_ms is None else await _offsets_at(consumer, tps, from_ms),
            to_time_offsets=None if to_ms is None else await _offsets_at(consumer, tps, to_ms),
        )
        beginning = {tp.partition: o for tp, o in (await consumer.beginning_offsets(tps)).items()}
        end = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
        committed = {tp.partition: await consumer.committed(tp) for tp in tps}
        self.spans = spans(window, beginning=beginning, end=end, committed=committed, restart=restart)
        self.resumed = sorted(
            p for p, done in committed.items() if done is not None and not restart and done > beginning[p]
        )
        for tp in tps:
            consumer.seek(tp, self.spans[tp.partition].start)

    async def chunks(self, max_records: int) -> AsyncIterator[list[Record]]:
        """The window's records, a chunk at a time (in offset order per partition)."""
        consumer = self._require()
        tp_of = {p: TopicPartition(self._topic, p) for p in self.spans}
        remaining = {tp_of[p] for p, span in self.spans.items() if span.size}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
            chunk = [
                r
                for tp, records in fetched.items()
                for r in records
                if r.offset < self.spans[tp.partition].stop
            ]
            for tp in list(remaining):
                if await consumer.position(tp) >= self.spans[tp.partition].stop:
                    remaining.discard(tp)
            if chunk:
                yield chunk

    async def commit(self, chunk: list[Record]) -> None:
        """Checkpoint: the chunk's side effect is done."""
        offsets: dict[TopicPartition, int] = {}
        for r in chunk:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        if offsets:
            await self._require().commit(offsets)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("ReplayReader.open() was not called")
        return self._consumer
