"""The sink's consumer loop with a fake consumer: what it reports for stall detection (read
offsets and unread records per assigned partition), and a sink whose loop dies tells its process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from linguaflow import sink_service
from linguaflow.schemas import encode
from linguaflow.settings import Settings
from linguaflow.sink_service import SinkService
from linguaflow.sinks.runner import ResultSinkRunner
from linguaflow.telemetry import Telemetry
from tests.factories import translation_result
from tests.unit.test_tracing_and_lag import FakeMessage, FakeSink

TOPIC = "translation.results"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


class LoopConsumer:
    """Hands out the given fetches, then nothing; the highwater marks are fixed."""

    def __init__(self, fetches: list[dict[TopicPartition, list[FakeMessage]]], highwaters: dict[Any, int]):
        self.fetches = fetches
        self.highwaters = highwaters
        self.commits: list[dict[TopicPartition, int]] = []
        self.drained = asyncio.Event()

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[FakeMessage]]:
        if self.fetches:
            return self.fetches.pop(0)
        self.drained.set()
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.highwaters)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


def message(offset: int) -> FakeMessage:
    return FakeMessage(encode(translation_result(request_id=f"r{offset}")), offset)


async def test_progress_reports_the_last_read_offset_and_what_waits_per_partition() -> None:
    runner = ResultSinkRunner(Settings(), FakeSink(), None, Telemetry(), clock=lambda: 0.0)  # type: ignore[arg-type]
    consumer = LoopConsumer([{TP0: [message(0), message(1), message(2)]}], {TP0: 10, TP1: 5})
    runner._consumer = consumer  # type: ignore[assignment]
    assert runner.progress() == ({}, 0)  # nothing read yet: not a stall candidate

    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(consumer.drained.wait(), 5)
    # partition 1 was never read, so it is left out (as the agents' check leaves it out)
    assert runner.progress() == ({f"{TOPIC}:0": 2}, 7)

    await consumer.listener.on_partitions_revoked({TP0})  # flushes, commits, forgets partition 0
    assert consumer.commits == [{TP0: 3}]
    assert runner.progress() == ({}, 0)
    runner.stop()
    await asyncio.wait_for(task, 5)


async def test_a_sink_whose_loop_dies_tells_its_process_once_and_still_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Pool:
        closed = False

        async def close(self) -> None:
            self.closed = True

    pool = Pool()
    cause = KafkaConnectionError("broker gone")

    class DyingRunner:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            return None

        async def run(self) -> None:
            raise cause

        def stop(self) -> None:
            return None

    async def fake_pool(settings: Settings) -> Pool:
        return pool

    monkeypatch.setattr(sink_service, "sink_pool", fake_pool)
    monkeypatch.setattr(sink_service, "ResultSinkRunner", DyingRunner)
    failures: list[BaseException] = []
    service = SinkService(Settings(), None, Telemetry(), on_failure=failures.append)  # type: ignore[arg-type]
    await service.start()
    for _ in range(3):
        await asyncio.sleep(0)
    assert failures == [cause]
    await service.stop()  # the cause went to on_failure; stopping does not raise it again
    assert failures == [cause]
    assert pool.closed


async def test_an_unanswered_commit_does_not_hold_the_sink() -> None:
    """The broker is away: the commit never returns. The sink reads on after its request timeout,
    so a rebalance when the broker is back is not blocked behind the flush."""

    class HangingCommits(LoopConsumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            self.commits.append(offsets)
            await asyncio.Event().wait()  # no answer, ever

    settings = Settings(kafka_request_timeout_ms=1000, sink_batch_rows=1)
    runner = ResultSinkRunner(settings, FakeSink(), None, Telemetry(), clock=lambda: 0.0)  # type: ignore[arg-type]
    consumer = HangingCommits([{TP0: [message(0)]}, {TP0: [message(1)]}], {TP0: 2})
    runner._consumer = consumer  # type: ignore[assignment]
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(consumer.drained.wait(), 10)  # both fetches taken: it read on
    assert consumer.commits == [{TP0: 1}, {TP0: 2}]
    runner.stop()
    await asyncio.wait_for(task, 5)
