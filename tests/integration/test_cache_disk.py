"""``CACHE_STORE=disk``: the cache table in RocksDB files. A clean restart reads only the changelog
written while the worker was down (tombstones and rewrites included); after a crash, or when the
checkpoint is older than the topic's tombstone retention, every partition is read whole."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from linguaflow.cache_view import load_cache_view
from linguaflow.kafka import read_topic
from linguaflow.schemas import decode_result, encode
from testbed.services import Stack, WorkerProcess
from tests.integration.runs import run_synthetic
from tests.integration.test_cache_recovery import outcomes, send_again

pytestmark = pytest.mark.integration


def on_disk(stack: Stack, tmp_path: Path, topic_config: dict[str, str] | None = None) -> Path:
    """This stack's workers keep the cache on disk (``topic_config``: what they are told of the
    cache topic's configuration)."""
    cache_dir = tmp_path / "cache"
    stack.env["LINGUAFLOW_CACHE_STORE"] = "disk"
    stack.env["LINGUAFLOW_CACHE_DIR"] = str(cache_dir)
    if topic_config is not None:
        stack.env["LINGUAFLOW_CACHE_TOPIC_CONFIG"] = orjson.dumps(topic_config).decode()
    return cache_dir


def loads(worker: WorkerProcess) -> list[dict[str, Any]]:
    """The worker's "cache loaded from the changelog" log records."""
    lines = [line for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    return [doc for doc in map(orjson.loads, lines) if doc.get("msg") == "cache loaded from the changelog"]


async def rewrite_while_down(stack: Stack, gone: list[str], rewritten: list[str]) -> None:
    cached = await load_cache_view(stack.settings)
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:  # the default partitioner on the key, like the worker's own writes
        for key in gone:
            await producer.send_and_wait(stack.settings.cache_topic, None, key=key.encode())
        for key in rewritten:
            entry = dataclasses.replace(cached[key], translated_text=f"[newer] {cached[key].translated_text}")
            await producer.send_and_wait(stack.settings.cache_topic, encode(entry), key=key.encode())
    finally:
        await producer.stop()


async def test_a_clean_restart_reads_only_what_was_written_to_the_changelog_meanwhile(
    stack: Stack, tmp_path: Path
) -> None:
    cache_dir = on_disk(stack, tmp_path, topic_config={})  # tombstones kept 24 h (Kafka's default)
    first = stack.start_worker("first").wait_ready()
    await run_synthetic(stack, 60, 0.0, seed=81, run_id="fill", worker=first)
    stats = first.stats()
    assert stats["cache_entries"] == 60
    assert stats["cache_disk"]["cache_capacity"] == 64 << 20  # CACHE_DISK_MEMORY_MIB's default
    assert stats["cache_disk"]["memtables"] > 60 * 200  # the 60 entries, not flushed yet
    assert first.stop() == 0, first.log_tail()
    assert (cache_dir / "checkpoint.json").exists()

    keys = sorted(await load_cache_view(stack.settings))
    await rewrite_while_down(stack, keys[:10], keys[10:20])
    second = stack.start_worker("second").wait_ready()
    assert second.stats()["cache_entries"] == 50
    (load,) = loads(second)
    assert (load["records"], load["read_whole"]) == (20, []), load  # not the 60 from before
    assert not (cache_dir / "checkpoint.json").exists()  # a crash from now on reads everything

    await send_again(stack, 60, seed=81, run_id="again")
    assert await outcomes(stack, "again") == {k: "miss" if k in keys[:10] else "hit" for k in keys}
    assert second.counter("provider_texts") == 10
    served = [
        decode_result(record.value or b"").translated_text
        async for record in read_topic(stack.settings, stack.settings.results_topic)
        if decode_result(record.value or b"").request_id.startswith("again-")
    ]
    assert sum(text.startswith("[newer] ") for text in served) == 10  # what was rewritten meanwhile
    assert second.stop() == 0, second.log_tail()


async def test_after_a_crash_or_past_the_tombstone_retention_every_partition_is_read_whole(
    stack: Stack, tmp_path: Path
) -> None:
    on_disk(stack, tmp_path)  # the tests' topic config: tombstones kept 100 ms
    first = stack.start_worker("first").wait_ready()
    await run_synthetic(stack, 40, 0.0, seed=82, run_id="fill", worker=first)
    first.kill()  # no checkpoint
    second = stack.start_worker("second").wait_ready()
    assert second.stats()["cache_entries"] == 40
    (load,) = loads(second)
    assert (load["records"], load["read_whole"]) == (40, [0, 1, 2, 3]), load
    assert second.stop() == 0, second.log_tail()  # a checkpoint, but older than 100 ms when read

    third = stack.start_worker("third").wait_ready()
    (load,) = loads(third)
    assert (load["records"], load["read_whole"]) == (40, [0, 1, 2, 3]), load
    await send_again(stack, 40, seed=82, run_id="again")
    assert set((await outcomes(stack, "again")).values()) == {"hit"}
    assert third.counter("provider_texts") == 0
    assert third.stop() == 0, third.log_tail()
