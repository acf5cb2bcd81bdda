"""The foundation's promises on the real broker and the real Postgres."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from linguaflow.kafka import read_topic
from linguaflow.produce import publish
from linguaflow.schemas import decode_cache_entry, header_map
from linguaflow.synthetic import synthetic_requests, unique_count
from testbed.services import Stack
from tests.integration.runs import ROWS_FOR

pytestmark = pytest.mark.integration


async def send_synthetic(stack: Stack, count: int, dup_ratio: float, *, seed: int, run_id: str) -> None:
    now = int(time.time() * 1000)
    items = synthetic_requests(count, dup_ratio, seed=seed, now_ms=now, run_id=run_id)
    report = await publish(stack.settings, items, total=count, now_ms=now, progress=False)
    assert report.sent == count
    assert not report.invalid


async def test_duplicates_are_translated_once_and_every_request_gets_one_row(stack: Stack) -> None:
    worker = stack.start_worker().wait_ready()
    await send_synthetic(stack, 1000, 0.7, seed=7, run_id="dup")
    unique = unique_count(1000, 0.7)

    assert await stack.wait_for(ROWS_FOR, 1000, "dup-%") == 1000
    assert await stack.fetchval("SELECT count(DISTINCT request_id) FROM translation_requests") == 1000
    assert await stack.wait_for("SELECT count(*) FROM translations", unique) == unique
    outcomes = {
        row: await stack.fetchval("SELECT count(*) FROM translation_requests WHERE outcome = $1", row)
        for row in ("miss", "coalesced", "hit")
    }
    assert outcomes["miss"] == unique
    assert outcomes["coalesced"] + outcomes["hit"] == 1000 - unique
    # The provider's side of the story, counted in the worker process: one text per unique key.
    assert worker.counter("provider_texts") == unique
    assert worker.counter("provider_calls") <= unique
    # One worker holds every partition: each request is deduplicated where it was read, no hop.
    assert worker.counter("dedup_at_rekey") == 1000
    assert [r async for r in read_topic(stack.settings, stack.settings.keyed_topic)] == []
    assert worker.stop() == 0, worker.log_tail()


async def test_two_workers_send_the_keys_they_do_not_own_through_the_keyed_topic(stack: Stack) -> None:
    workers = [stack.start_worker("a", own_port=True), stack.start_worker("b", own_port=True)]
    for worker in workers:
        worker.wait_ready()
    await send_synthetic(stack, 1000, 0.7, seed=8, run_id="two")
    unique = unique_count(1000, 0.7)

    assert await stack.wait_for(ROWS_FOR, 1000, "two-%") == 1000
    assert await stack.wait_for("SELECT count(*) FROM translations", unique) == unique
    assert sum(w.counter("provider_texts") for w in workers) == unique
    here = [w.counter("dedup_at_rekey") for w in workers]
    hopped = [r async for r in read_topic(stack.settings, stack.settings.keyed_topic)]
    assert all(0 < n < 1000 for n in here), here  # each worker owns some keys, not all
    assert sum(here) + len(hopped) == 1000  # every request took exactly one of the two ways
    for worker in workers:
        assert worker.stop() == 0, worker.log_tail()


async def test_cache_topic_is_compacted_and_holds_every_entry(stack: Stack) -> None:
    worker = stack.start_worker().wait_ready()
    await send_synthetic(stack, 200, 0.5, seed=11, run_id="cc")
    assert await stack.wait_for(ROWS_FOR, 200, "cc-%") == 200
    worker.stop()

    settings = stack.settings
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.cache_topic)]
        )
        configs = {name: value for name, value, *_ in described.resources[0][4]}
    finally:
        await admin.close()
    assert configs["cleanup.policy"] == "compact"

    entries = {}
    async for record in read_topic(settings, settings.cache_topic):
        assert record.key is not None
        assert record.value is not None
        entries[record.key.decode()] = decode_cache_entry(record.value)
    keys_in_db = await stack.fetchval("SELECT array_agg(cache_key) FROM translations")
    assert set(entries) == set(keys_in_db)
    assert len(entries) == unique_count(200, 0.5)
    assert all(e.cache_key == k and e.translated_text.startswith("[de| ") for k, e in entries.items())


async def test_restarted_worker_recovers_the_cache_and_answers_duplicates_without_provider_calls(
    stack: Stack,
) -> None:
    # The memory store reads the whole changelog at every start (the default disk store reads on
    # from its checkpoint: tests/integration/test_cache_disk.py).
    stack.env["LINGUAFLOW_CACHE_STORE"] = "memory"
    first = stack.start_worker("first").wait_ready()
    await send_synthetic(stack, 300, 0.0, seed=21, run_id="warm")
    assert await stack.wait_for(ROWS_FOR, 300, "warm-%") == 300
    assert first.stop() == 0, first.log_tail()

    second = stack.start_worker("second").wait_ready()
    stats = second.stats()
    assert stats["cache_entries"] == 300  # recovered from the changelog before ready
    assert stats["cache_disk"] is None  # the memory store: no RocksDB
    for _ in range(50):  # then start-up objects leave the collector's full passes (linguaflow/heap.py)
        if second.stats()["heap"]["frozen"] > 50_000:
            break
        await asyncio.sleep(0.1)
    assert second.stats()["heap"]["frozen"] > 50_000
    assert second.stats()["heap"]["thresholds"] == [20_000, 20, 20]
    # The same texts again under new request ids: every one must be a hit.
    await send_synthetic(stack, 300, 0.0, seed=21, run_id="again")
    assert await stack.wait_for(ROWS_FOR, 300, "again-%") == 300
    hits = await stack.fetchval(
        "SELECT count(*) FROM translation_requests WHERE request_id LIKE 'again-%' AND outcome = 'hit'"
    )
    assert hits == 300
    assert second.counter("provider_texts") == 0
    # One worker holds every partition: each request is answered where it was read, without the hop.
    assert second.counter("dedup_at_rekey") == 300
    assert second.stop() == 0, second.log_tail()


async def test_malformed_events_go_to_the_dlq_and_the_next_good_one_is_processed(stack: Stack) -> None:
    worker = stack.start_worker().wait_ready()
    settings = stack.settings
    good = {"request_id": "good-1", "text": "Hello {name}", "target_lang": "fr"}
    bad_events = [b"{not json", b"\xff\xfe", orjson.dumps({"request_id": "no-text", "target_lang": "de"})]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in bad_events:
            await producer.send_and_wait(settings.requests_topic, value)
        await producer.send_and_wait(settings.requests_topic, orjson.dumps(good))
    finally:
        await producer.stop()

    assert await stack.wait_for(ROWS_FOR, 1, "good-%") == 1
    translated = await stack.fetchval("SELECT translated_text FROM translations")
    assert translated == "[fr| Ĥéļļö {name}]"

    dead = [record async for record in read_topic(settings, settings.dlq_topic)]
    assert sorted(r.value for r in dead) == sorted(bad_events)
    reasons = {r.value: header_map(r.headers)["error"] for r in dead}
    assert reasons == {b"{not json": "invalid_json", b"\xff\xfe": "invalid_utf8", bad_events[2]: "schema"}
    for record in dead:
        headers = header_map(record.headers)
        assert headers["origin_topic"] == settings.requests_topic
        assert int(headers["origin_offset"]) >= 0
        assert headers["error_message"]
    assert header_map(next(r for r in dead if r.value == bad_events[2]).headers)["request_id"] == "no-text"
    assert worker.counter("dlq") == 3
    assert worker.stop() == 0, worker.log_tail()
