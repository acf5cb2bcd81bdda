"""BatchSender: one batch per partition, acks only after the broker acknowledged the batch, and a
failed or cancelled delivery reported instead of acked."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaTimeoutError

from linguaflow.partitioner import default_partitioner
from linguaflow.streams.batch_send import BatchSender


class FakeBatch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes | None]] = []
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def append(
        self, *, timestamp: Any, key: bytes | None, value: bytes | None, headers: Any
    ) -> object | None:
        if self.records and len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()


class FakeProducer:
    def __init__(self, capacity: int = 100) -> None:
        self.capacity = capacity
        self.sent: list[tuple[str, int, FakeBatch, asyncio.Future[Any]]] = []
        self.partitions = {0, 1}
        self.partitioned: list[bytes | None] = []  # keys partitioned through _partition

    async def partitions_for(self, topic: str) -> set[int]:
        return set(self.partitions)

    def _partition(self, *args: Any) -> int:  # (topic, partition, key, value, serialized key, value)
        key: bytes | None = args[4]
        self.partitioned.append(key)
        parts = sorted(self.partitions)
        return default_partitioner(key, parts, parts)  # the Publisher's partitioner

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.capacity)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, batch, fut))
        return fut


class FakePublisher:
    def __init__(self, producer: FakeProducer) -> None:
        self.producer = producer


def sender_for(producer: FakeProducer) -> tuple[BatchSender, list[str], list[BaseException]]:
    acked: list[str] = []
    failures: list[BaseException] = []
    return BatchSender(FakePublisher(producer), failures.append), acked, failures  # type: ignore[arg-type]


def add(sender: BatchSender, acked: list[str], name: str) -> None:
    sender.add("t", name.encode(), key=name.encode(), headers=None, ack=lambda: acked.append(name))


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_one_batch_per_partition_acked_only_when_delivered() -> None:
    producer = FakeProducer()
    sender, acked, failures = sender_for(producer)
    for name in ("a0", "b1", "c2", "d3"):  # murmur2 over 2 partitions: 0, 1, 1, 0
        add(sender, acked, name)
    await sender.flush()
    assert [(p, [k for k, _ in b.records]) for _, p, b, _ in producer.sent] == [
        (0, [b"a0", b"d3"]),
        (1, [b"b1", b"c2"]),
    ]
    await settle()
    assert all(b.closed for _, _, b, _ in producer.sent)  # sent at once, no linger
    assert acked == []  # submitted, not yet acknowledged
    producer.sent[1][3].set_result(None)
    await settle()
    assert acked == ["b1", "c2"]
    assert failures == []


async def test_a_full_batch_is_submitted_and_a_new_one_started() -> None:
    producer = FakeProducer(capacity=2)
    sender, acked, _ = sender_for(producer)
    for name in ("a0", "d3", "k3"):  # all on partition 0
        add(sender, acked, name)
    await sender.flush()
    assert [len(b.records) for _, _, b, _ in producer.sent] == [2, 1]
    for *_, fut in producer.sent:
        fut.set_result(None)
    await settle()
    assert acked == ["a0", "d3", "k3"]


async def test_a_failed_or_cancelled_delivery_is_reported_and_not_acked() -> None:
    producer = FakeProducer()
    sender, acked, failures = sender_for(producer)
    add(sender, acked, "a0")
    add(sender, acked, "b1")
    await sender.flush()
    boom = RuntimeError("broker said no")
    producer.sent[0][3].set_exception(boom)
    producer.sent[1][3].cancel()
    await settle()
    assert acked == []
    assert failures[0] is boom
    assert "cancelled" in str(failures[1])


async def test_a_record_that_names_its_partition_goes_there() -> None:
    producer = FakeProducer()
    sender, _, _ = sender_for(producer)
    assert sender.partition_for("t", b"b1") == 1  # the producer's partitioner
    sender.add("t", b"v", key=b"b1", partition=0)
    await sender.flush()
    assert [(p, b.records) for _, p, b, _ in producer.sent] == [(0, [(b"b1", b"v")])]


async def test_keys_hash_over_the_partitions_last_known_and_a_flush_reads_them_again() -> None:
    producer = FakeProducer()
    sender, acked, _ = sender_for(producer)
    assert sender.partition_for("t", b"k1") == 1
    assert producer.partitioned == [b"k1"]  # not known yet: the producer's own partitioning
    await sender.known("t")
    keys = [f"k{i}".encode() for i in range(20)]
    assert [sender.partition_for("t", k) for k in keys] == [
        producer._partition("t", None, None, None, k, None) for k in keys
    ]
    assert producer.partitioned == [b"k1", *keys]  # the 20 above were hashed here, not by the producer
    producer.partitions = {0, 1, 2}  # the topic grew
    add(sender, acked, "k2")
    await sender.flush()  # asks the producer for the partitions again
    assert [sender.partition_for("t", k) for k in keys] == [
        default_partitioner(k, [0, 1, 2], []) for k in keys
    ]
    assert {sender.partition_for("t", k) for k in keys} == {0, 1, 2}
    assert sender.partition_for("t", None) in {0, 1, 2}  # no key: the producer picks one
    assert producer.partitioned[-1] is None


async def test_flush_soon_sends_everything_added_in_this_turn_in_one_flush() -> None:
    producer = FakeProducer()
    sender, acked, _ = sender_for(producer)
    for name in ("a0", "d3"):  # one partition
        add(sender, acked, name)
        sender.flush_soon()
    assert producer.sent == []  # not before the loop's next turn
    await settle()
    assert [[k for k, _ in b.records] for _, _, b, _ in producer.sent] == [[b"a0", b"d3"]]
    add(sender, acked, "e4")
    sender.flush_soon()  # the first flush is over: a new one is scheduled
    await settle()
    assert len(producer.sent) == 2


async def test_concurrent_flushes_keep_the_order_records_were_added() -> None:
    class SlowMetadata(FakeProducer):
        calls = 0

        async def partitions_for(self, topic: str) -> set[int]:
            self.calls += 1
            if self.calls == 1:  # the first flush is still submitting when the second starts
                await asyncio.sleep(0.01)
            return {0, 1}

    producer = SlowMetadata()
    sender, acked, _ = sender_for(producer)
    add(sender, acked, "a0")
    first = asyncio.create_task(sender.flush())
    await asyncio.sleep(0)
    add(sender, acked, "c2")
    await asyncio.gather(first, sender.flush())
    assert [[k for k, _ in b.records] for _, _, b, _ in producer.sent] == [[b"a0"], [b"c2"]]


class StuckProducer(FakeProducer):
    """A broker that is away: the producer's queue for a partition stays full ``times`` times."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.refusals = times

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        if self.refusals:
            self.refusals -= 1
            await asyncio.sleep(0)
            raise KafkaTimeoutError()
        return await super().send_batch(batch, topic, partition=partition)


async def test_a_broker_outage_is_waited_out_not_reported_as_a_failure() -> None:
    producer = StuckProducer(times=3)
    now = [100.0]
    acked: list[str] = []
    failures: list[BaseException] = []
    sender = BatchSender(FakePublisher(producer), failures.append, clock=lambda: now[0])  # type: ignore[arg-type]
    add(sender, acked, "a0")
    assert sender.waiting_s() == 0
    flushing = asyncio.get_running_loop().create_task(sender.flush())
    for _ in range(20):  # until the first refusal was seen and the batch offered again
        if producer.refusals <= 1:
            break
        await asyncio.sleep(0)
    now[0] += 40  # the queue stayed full for a request timeout and more
    assert sender.waiting_s() == 40
    await flushing
    assert failures == []
    assert producer.refusals == 0
    [(_, _, batch, fut)] = producer.sent  # the same batch, offered again until taken
    assert batch.records == [(b"a0", b"a0")]
    assert acked == []
    now[0] += 5
    assert sender.waiting_s() == 5  # taken, not yet acknowledged
    fut.set_result(None)
    await settle()
    assert acked == ["a0"]
    assert sender.waiting_s() == 0
