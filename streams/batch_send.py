"""Produce many records with one delivery future per partition batch instead of one per record.

aiokafka's ``send()`` creates a future per record and our agents attached a callback to each: at
thousands of records a second that per-record machinery was a large share of the worker's CPU.
``BatchSender`` collects records (each with the ``ack`` to call once the broker has it), and
``flush()`` hands them to the idempotent ``acks=all`` producer as one ``BatchBuilder`` per
partition; when a batch's future resolves, every record's ``ack`` runs. A delivery failure calls
``on_failure`` (the worker stops, so unacked input is re-delivered): nothing is acked that the
broker did not acknowledge. Partitions are chosen by the producer's own partitioner, so a key
lands where ``Publisher.send`` would put it (the cache table relies on that), unless a record names
its partition. Flushes run one at a time, so records of one partition reach it in the order added.

A broker outage is waited out, not failed: the worker's producer never expires a batch (see
``streams.faust_app.never_expire_batches``; with idempotence it retries a batch until the broker
takes it), and when the producer's queue for a partition stays full for its request timeout,
``send_batch`` is tried again. ``waiting_s`` says how long the oldest unacknowledged batch has
waited, for ``/ready``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaTimeoutError

from linguaflow.kafka import Headers, Publisher
from linguaflow.partitioner import default_partitioner
from linguaflow.streams.upstream import partition_with_producer

log = logging.getLogger("linguaflow.batch_send")

Ack = Callable[[], None]
_Record = tuple[bytes | None, bytes | None, Headers, Ack, int | None]


def _ignore() -> None:
    return None


class BatchSender:
    def __init__(
        self,
        publisher: Publisher,
        on_failure: Callable[[BaseException], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publisher = publisher
        self._on_failure = on_failure
        self._clock = clock
        # (when submitted, delivery future) of each batch, oldest first; done ones leave lazily
        self._unacked: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._queue_full_since: float | None = None  # the producer took no batch since then
        self._pending: dict[str, list[_Record]] = {}
        self._flushing = asyncio.Lock()
        self._soon: asyncio.Task[None] | None = None
        # Each topic's partitions as of the last ``known()`` (every flush asks again).
        self._partitions: dict[str, list[int]] = {}

    def add(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        headers: Headers | None = None,
        ack: Ack = _ignore,
        partition: int | None = None,
    ) -> None:
        """Queue one record; ``ack`` runs once the broker has acknowledged it."""
        records = self._pending.get(topic)
        if records is None:
            records = self._pending[topic] = []
        records.append((key, value, headers or [], ack, partition))

    def partition_for(self, topic: str, key: bytes | None) -> int:
        """The partition the producer's partitioner gives ``key`` (the topic's metadata must be
        known: ``await known(topic)`` once first). A keyed record is hashed over the partitions
        ``known()`` last read: the producer's own ``_partition`` builds two sets from its metadata
        on every call (~7 % of the worker's CPU at 90 % duplicates, two calls per request)."""
        partitions = self._partitions.get(topic)
        if key is None or partitions is None:
            return partition_with_producer(self._publisher.producer, topic, key)
        return default_partitioner(key, partitions, partitions)  # the Publisher's partitioner

    async def known(self, topic: str) -> None:
        self._partitions[topic] = sorted(await self._publisher.producer.partitions_for(topic))

    def flush_soon(self) -> None:
        """Flush on the loop's next turn: for records added outside a handler that flushes, one
        flush takes everything added until then."""
        if self._soon is None:
            self._soon = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            await self.flush()
        finally:
            self._soon = None

    async def flush(self) -> None:
        """Submit everything queued so far (it is delivered in the background)."""
        async with self._flushing:
            while self._pending:
                pending, self._pending = self._pending, {}
                for topic, records in pending.items():
                    await self._send_topic(topic, records)

    async def deliver(self) -> None:
        """Submit everything queued and wait until the broker has acknowledged it all."""
        await self.flush()
        await self._publisher.flush()

    async def _send_topic(self, topic: str, records: list[_Record]) -> None:
        producer: Any = self._publisher.producer
        await self.known(topic)  # metadata known: partitioning below is synchronous
        by_partition: dict[int, list[_Record]] = {}
        for record in records:
            partition = record[4]
            if partition is None:
                partition = self.partition_for(topic, record[0])
            by_partition.setdefault(partition, []).append(record)
        for partition, items in by_partition.items():
            batch, acks = producer.create_batch(), list[Ack]()
            for key, value, headers, ack, _ in items:
                if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    await self._submit(batch, topic, partition, acks)  # full: the first record always fits
                    batch, acks = producer.create_batch(), []
                    batch.append(timestamp=None, key=key, value=value, headers=headers)
                acks.append(ack)
            await self._submit(batch, topic, partition, acks)

    def waiting_s(self) -> float:
        """How long output has waited for the broker: the age of the oldest batch it has not
        acknowledged, or how long the producer's queue has taken nothing (0: nothing waits)."""
        unacked = self._unacked
        while unacked and unacked[0][1].done():
            unacked.popleft()
        oldest = [t for t in (self._queue_full_since, unacked[0][0] if unacked else None) if t is not None]
        return self._clock() - min(oldest) if oldest else 0.0

    async def _submit(self, batch: Any, topic: str, partition: int, acks: list[Ack]) -> None:
        batch.close()  # already a batch: no linger, the producer sends it on its next round
        while True:
            try:
                fut: asyncio.Future[Any] = await self._publisher.producer.send_batch(
                    batch, topic, partition=partition
                )
            except KafkaTimeoutError:
                # The partition's previous batch waited a whole request timeout for the broker:
                # the broker is away. Keep the batch and offer it again.
                if self._queue_full_since is None:
                    self._queue_full_since = self._clock()
                    log.warning("the broker takes no output for %s-%d: waiting for it", topic, partition)
                continue
            except Exception as exc:  # the producer is closed or failed: nothing here may be acked
                self._on_failure(exc)
                return
            break
        self._queue_full_since = None
        self._unacked.append((self._clock(), fut))
        fut.add_done_callback(lambda f: self._delivered(f, acks))

    def _delivered(self, fut: asyncio.Future[Any], acks: list[Ack]) -> None:
        exc = RuntimeError("delivery cancelled") if fut.cancelled() else fut.exception()
        if exc is not None:
            self._on_failure(exc)
            return
        for ack in acks:
            ack()
