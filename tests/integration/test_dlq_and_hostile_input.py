"""Hostile input never crashes a worker and never disappears; the DLQ can be listed and replayed."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from linguaflow.kafka import end_offsets, read_topic
from linguaflow.schemas import decode_result, encode, header_map
from testbed.services import Stack
from tests.factories import translation_result
from tests.hostile import hostile_events

pytestmark = pytest.mark.integration


async def send_raw(
    stack: Stack, values: list[bytes], headers: list[list[tuple[str, bytes]]] | None = None
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.settings.kafka_bootstrap, acks="all", max_request_size=2 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [
            await producer.send(stack.settings.requests_topic, v, headers=(headers[i] if headers else None))
            for i, v in enumerate(values)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def wait_dlq(stack: Stack, expected: int, timeout_s: float = 240) -> int:
    count = 0
    for _ in range(int(timeout_s / 0.5)):
        count = (await end_offsets(stack.settings, [stack.settings.dlq_topic]))[stack.settings.dlq_topic]
        if count >= expected:
            return count
        await asyncio.sleep(0.5)
    return count


async def test_ten_thousand_hostile_events_all_land_in_the_dlq_and_valid_ones_complete(stack: Stack) -> None:
    worker = stack.start_worker().wait_ready()
    hostile = hostile_events(10_000, seed=3)
    valid = [
        orjson.dumps({"request_id": f"ok-{i}", "text": f"Valid text {i % 40}", "target_lang": "de"})
        for i in range(200)
    ]
    mixed = [(v, h) for v, h in hostile] + [(v, []) for v in valid]
    random.Random(4).shuffle(mixed)
    await send_raw(stack, [v for v, _ in mixed], [h for _, h in mixed])

    assert (
        await stack.wait_for("SELECT count(*) FROM translation_requests WHERE request_id LIKE 'ok-%'", 200)
        == 200
    )
    assert await wait_dlq(stack, len(hostile)) == len(hostile)
    dead = [record async for record in read_topic(stack.settings, stack.settings.dlq_topic)]
    assert sorted(r.value or b"" for r in dead) == sorted(
        v for v, _ in hostile
    )  # the original bytes, each once
    reasons = {header_map(list(r.headers)).get("error") for r in dead}
    assert None not in reasons
    assert reasons <= {
        "invalid_json",
        "invalid_utf8",
        "schema",
        "unsupported_schema_version",
        "unknown_provider",
        "empty",
    }
    assert worker.proc.poll() is None, "the worker died"
    assert worker.stop() == 0, worker.log_tail()


async def test_dlq_list_and_replay_to_another_provider_is_idempotent(stack: Stack) -> None:
    worker = stack.start_worker().wait_ready()
    stranded = [
        orjson.dumps(
            {"request_id": f"strand-{i}", "text": f"Stranded {i}", "target_lang": "fr", "provider": "nope"}
        )
        for i in range(5)
    ]
    await send_raw(stack, [*stranded, b"{broken"])
    assert await wait_dlq(stack, 6) == 6

    listing = await stack.cli("dlq", "list", "--json")
    summary = orjson.loads(listing.stdout)
    assert summary["unknown_provider"]["count"] == 5
    assert summary["invalid_json"]["count"] == 1

    dry = await stack.cli("dlq", "replay", "--provider", "pseudo")  # the plan
    assert "would re-publish 5 of 6 records" in dry.stdout
    assert "'invalid_json': 1" in dry.stdout
    for _ in range(2):  # twice: the second replay must not add rows
        args = ("--reason", "unknown_provider", "--provider", "pseudo", "--execute")
        done = await stack.cli("dlq", "replay", *args)
        assert "re-published 5 of 5 records" in done.stdout, done.stdout + done.stderr
    rows = "SELECT count(*) FROM translation_requests WHERE request_id LIKE 'strand-%'"
    assert await stack.wait_for(rows, 5) == 5
    await asyncio.sleep(3)  # let the second replay's copies pass through the pipeline too
    assert await stack.fetchval(rows) == 5
    assert worker.counter("results") == 10  # both replays were processed; the sink kept one row each
    assert worker.stop() == 0


async def test_a_result_postgres_refuses_is_dead_lettered_and_the_partition_keeps_moving(
    stack: Stack,
) -> None:
    worker = stack.start_worker().wait_ready()
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for request_id, text in [("fine-1", "ok"), ("poison", "bad \x00 byte"), ("fine-2", "ok too")]:
            # One key: all three share a partition and (most likely) a sink batch.
            await producer.send_and_wait(
                stack.settings.results_topic,
                encode(
                    translation_result(
                        request_id=request_id,
                        cache_key=f"key-{request_id}",
                        source_text=text,
                        translated_text=text,
                    )
                ),
                key=b"k",
            )
    finally:
        await producer.stop()
    rows = "SELECT count(*) FROM translation_requests WHERE request_id LIKE 'fine-%'"
    assert await stack.wait_for(rows, 2) == 2
    assert await wait_dlq(stack, 1) == 1
    [dead] = [r async for r in read_topic(stack.settings, stack.settings.dlq_topic)]
    headers = header_map(list(dead.headers))
    assert headers["error"] == "sink_rejected"
    assert headers["request_id"] == "poison"
    assert headers["origin_topic"] == stack.settings.results_topic
    assert decode_result(dead.value or b"").source_text == "bad \x00 byte"
    assert worker.stop() == 0
