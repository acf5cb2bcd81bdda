"""Cache lifecycle on the real broker: eviction reaches a live worker, compaction really removes
overwritten and tombstoned records (fast-compaction topic configs), and TTL expiry in the worker."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from linguaflow.cache_view import load_cache_view
from linguaflow.kafka import read_topic
from linguaflow.produce import publish
from linguaflow.synthetic import unique_count
from testbed.services import Stack
from tests.integration.runs import ROWS_FOR, cli_json, run_synthetic

pytestmark = pytest.mark.integration
ROLL_KEY = b"test-roll"  # tombstones of a key that never existed: they only roll segments


async def raw_log(stack: Stack) -> dict[bytes, list[bytes | None]]:
    """Every record still in the cache topic's log, by key, in order."""
    by_key: dict[bytes, list[bytes | None]] = defaultdict(list)
    async for record in read_topic(stack.settings, stack.settings.cache_topic):
        if record.key != ROLL_KEY:
            by_key[record.key or b""].append(record.value)
    return by_key


async def compacted_until(stack: Stack, done: Any, timeout_s: float = 120) -> dict[bytes, list[bytes | None]]:
    """Keep writing to every partition (compaction only cleans closed segments, and a segment
    closes when a write comes after ``segment.ms``) until ``done(log)`` holds."""
    settings = stack.settings
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            for partition in range(settings.partitions):
                await producer.send_and_wait(settings.cache_topic, None, key=ROLL_KEY, partition=partition)
            log = await raw_log(stack)
            if done(log) or time.monotonic() > deadline:
                return log
            await asyncio.sleep(1)
    finally:
        await producer.stop()


async def texts_of(stack: Stack, keys: list[str]) -> list[dict[str, Any]]:
    sql = "SELECT array_agg(source_text ORDER BY cache_key) FROM translations WHERE cache_key = ANY($1)"
    texts = await stack.fetchval(sql, keys)
    return [{"text": t, "source_lang": "en", "target_lang": "de"} for t in texts]


async def test_evictions_reach_a_live_worker_and_compaction_removes_old_and_tombstoned_records(
    stack: Stack,
) -> None:
    worker = stack.start_worker().wait_ready()
    await run_synthetic(stack, 40, 0.5, seed=17, run_id="ev", worker=worker)
    keys = sorted(await stack.fetchval("SELECT array_agg(cache_key) FROM translations"))
    assert len(keys) == unique_count(40, 0.5) == 20
    # Newer values for every key: the first ones must disappear from the log.
    before = await stack.fetchval("SELECT max(version) FROM translations")
    await cli_json(stack, "replay", "retranslate", "--refresh", "--execute")
    newer = "SELECT count(*) FROM translations WHERE version > $1"
    assert await stack.wait_for(newer, 20, before) == 20, worker.log_tail()

    victims = keys[:10]
    flags = [arg for key in victims for arg in ("--key", key)]
    planned = await cli_json(stack, "cache", "evict", *flags, "--key", "no-such-key")  # the plan
    assert (planned["selected"], planned["keys_not_found"]) == (10, ["no-such-key"])
    assert len(await load_cache_view(stack.settings)) == 20  # a dry run writes nothing
    evicted = await cli_json(stack, "cache", "evict", *flags, "--execute")
    assert evicted["evicted"] == 10
    assert set(await load_cache_view(stack.settings)) == set(keys[10:])

    # The running worker forgot them: five victims asked again are misses, five others hits.
    provider_texts = worker.counter("provider_texts")
    again = await texts_of(stack, victims[:5]) + await texts_of(stack, keys[10:15])
    items = [{**item, "request_id": f"again-{i}"} for i, item in enumerate(again)]
    await publish(stack.settings, items, total=10, now_ms=int(time.time() * 1000), progress=False)
    assert await stack.wait_for(ROWS_FOR, 10, "again-%") == 10
    misses = "SELECT count(*) FROM translation_requests WHERE request_id LIKE 'again-%' AND outcome = 'miss'"
    assert await stack.fetchval(misses) == 5
    assert worker.counter("provider_texts") == provider_texts + 5
    assert worker.counter("cache_evicted") == 10
    assert worker.stop() == 0, worker.log_tail()

    live = {k.encode() for k in keys[10:] + victims[:5]}
    gone = {k.encode() for k in victims[5:]}
    log = await compacted_until(stack, lambda log: set(log) == live and max(map(len, log.values())) == 1)
    assert set(log) == live, f"tombstoned keys still in the log: {set(log) - live}"
    assert not gone & set(log)
    assert all(len(values) == 1 for values in log.values()), {k: len(v) for k, v in log.items()}
    view = await load_cache_view(stack.settings)
    assert {k.decode() for k in live} == set(view)


async def test_entries_expire_in_the_worker_by_ttl_unless_their_tenant_keeps_them(stack: Stack) -> None:
    stack.env["LINGUAFLOW_CACHE_TTL_SHORT_S"] = "3"
    stack.env["LINGUAFLOW_CACHE_TTL_TENANTS"] = '{"tenant-0": 0}'  # never expires
    stack.env["LINGUAFLOW_CACHE_SWEEP_S"] = "1"
    worker = stack.start_worker().wait_ready()
    await run_synthetic(stack, 30, 0.0, seed=19, run_id="ttl", worker=worker)
    entries = await load_cache_view(stack.settings)
    kept = {k for k, e in entries.items() if e.tenant == "tenant-0"}
    assert 0 < len(kept) < 30

    for _ in range(120):  # the sweep runs every second; the entries expire after 3
        if worker.stats()["cache_entries"] == len(kept):
            break
        await asyncio.sleep(0.5)
    assert worker.stats()["cache_entries"] == len(kept)
    assert worker.counter("cache_expired") == 30 - len(kept)
    assert set(await load_cache_view(stack.settings)) == kept  # the sweep wrote the tombstones
    assert worker.stop() == 0, worker.log_tail()
