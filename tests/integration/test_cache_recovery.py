"""The cache table after a start and after rebalances holds exactly what the changelog says for
the partitions the worker owns: overwritten keys answer their last value, tombstoned keys are
gone, keys of partitions handed to another worker are dropped, and writes made by a worker before
its partitions move are read by their next owner."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer

from linguaflow.cache_view import load_cache_view
from linguaflow.kafka import read_topic
from linguaflow.produce import publish
from linguaflow.schemas import decode_result, encode
from linguaflow.synthetic import synthetic_requests
from testbed.services import Stack, WorkerProcess
from tests.integration.faults import ready_async
from tests.integration.runs import ROWS_FOR, cli_json, run_synthetic

pytestmark = pytest.mark.integration


async def send_again(stack: Stack, count: int, *, seed: int, run_id: str) -> None:
    """The texts of an earlier ``run_synthetic(count, 0.0, seed=seed)`` under new request ids."""
    now = int(time.time() * 1000)
    items = synthetic_requests(count, 0.0, seed=seed, now_ms=now, run_id=run_id)
    report = await publish(stack.settings, items, total=count, now_ms=now, progress=False)
    assert report.sent == count
    assert await stack.wait_for(ROWS_FOR, count, f"{run_id}-%") == count


async def outcomes(stack: Stack, run_id: str) -> dict[str, str]:
    sql = "SELECT array_agg(cache_key || ' ' || outcome) FROM translation_requests WHERE request_id LIKE $1"
    return dict(row.split() for row in await stack.fetchval(sql, f"{run_id}-%"))


async def until(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


def holds(worker: WorkerProcess) -> int:
    stats = worker.stats()
    return int(stats["cache_entries"]) if stats["ready"] else -1


def texts(workers: list[WorkerProcess]) -> int:
    return sum(w.counter("provider_texts") for w in workers)


async def test_a_worker_recovers_exactly_the_entries_of_the_cache_topic(stack: Stack) -> None:
    await run_synthetic(stack, 60, 0.0, seed=61, run_id="fill")
    cached = await load_cache_view(stack.settings)
    keys = sorted(cached)
    gone, rewritten = set(keys[:20]), set(keys[20:40])
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:  # the default partitioner on the key, like the worker's own writes
        for key in [*sorted(gone), "never-cached"]:
            await producer.send_and_wait(stack.settings.cache_topic, None, key=key.encode())
        for step in ("older", "newer"):
            for key in sorted(rewritten):
                entry = cached[key]
                entry = dataclasses.replace(entry, translated_text=f"[{step}] {entry.translated_text}")
                await producer.send_and_wait(stack.settings.cache_topic, encode(entry), key=key.encode())
    finally:
        await producer.stop()

    worker = stack.start_worker("recovering").wait_ready()
    assert worker.stats()["cache_entries"] == 40
    await send_again(stack, 60, seed=61, run_id="again")
    assert await outcomes(stack, "again") == {k: "miss" if k in gone else "hit" for k in keys}
    assert worker.counter("provider_texts") == 20
    served = {}
    async for record in read_topic(stack.settings, stack.settings.results_topic):
        result = decode_result(record.value or b"")
        if result.request_id.startswith("again-"):
            served[result.cache_key] = result.translated_text
    for key in keys[20:]:
        expected = cached[key].translated_text
        assert served[key] == (f"[newer] {expected}" if key in rewritten else expected)
    assert worker.stop() == 0, worker.log_tail()


@pytest.mark.parametrize("store", ["memory", "disk"])
async def test_rebalances_leave_each_worker_the_entries_of_its_partitions(stack: Stack, store: str) -> None:
    stack.env["LINGUAFLOW_CACHE_STORE"] = store  # disk: each worker's folder is by its web port
    first = stack.start_worker("a").wait_ready()
    await run_synthetic(stack, 80, 0.0, seed=71, run_id="one", worker=first)
    evicted = sorted(await load_cache_view(stack.settings))[:10]
    flags = [arg for key in evicted for arg in ("--key", key)]
    assert (await cli_json(stack, "cache", "evict", *flags, "--execute"))["evicted"] == 10
    await until(lambda: holds(first) == 70, "the evictions reached the worker")

    # b joins: a hands it two partitions. a must drop their keys, b must read them (tombstones too).
    second = await ready_async(stack.start_worker("b", own_port=True))
    await until(
        lambda: 0 < holds(first) < 70 and holds(first) + holds(second) == 70,
        f"the two workers share the 70 entries: {first.stats()} {second.stats()}",
    )
    await run_synthetic(stack, 40, 0.0, seed=72, run_id="two", worker=first)  # new keys on both
    assert texts([first, second]) == 80 + 40
    await until(lambda: holds(first) + holds(second) == 110, "the new entries are in the tables")
    await send_again(stack, 80, seed=71, run_id="three")  # every live key answered by its owner
    assert await outcomes(stack, "three") == {
        k: "miss" if k in evicted else "hit" for k in await outcomes(stack, "one")
    }
    assert texts([first, second]) == 80 + 40 + 10
    provider_texts = first.counter("provider_texts")

    # b leaves: a reads back b's partitions, including what b wrote there just before.
    assert second.stop() == 0, second.log_tail()
    await until(lambda: holds(first) == 120, f"a holds every entry again: {first.stats()}")
    await send_again(stack, 40, seed=72, run_id="four")
    await send_again(stack, 80, seed=71, run_id="five")
    assert set((await outcomes(stack, "four")).values()) == {"hit"}
    assert set((await outcomes(stack, "five")).values()) == {"hit"}
    assert first.counter("provider_texts") == provider_texts
    assert first.stop() == 0, first.log_tail()
