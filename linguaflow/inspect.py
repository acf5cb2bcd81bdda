"""Read-only views for operators: ``status`` (topics + Postgres counts) and ``cache get`` (one
entry from the compacted cache topic, read straight from the partition its key lives in)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from linguaflow.db import create_pool
from linguaflow.kafka import client_config, end_offsets, topic_partitions
from linguaflow.settings import Settings
from schemas import CacheEntry, decode_cache_entry

STATUS_SQL = """
SELECT
  (SELECT count(*) FROM translation_requests) AS requests,
  (SELECT count(*) FROM translation_requests WHERE outcome = 'hit') AS hits,
  (SELECT count(*) FROM translation_requests WHERE outcome = 'coalesced') AS coalesced,
  (SELECT count(*) FROM translation_requests WHERE outcome = 'miss') AS misses,
  (SELECT count(*) FROM translations) AS translations,
  (SELECT coalesce(sum(cost), 0)::float8 FROM translation_requests) AS cost
"""


async def gather_status(settings: Settings) -> dict[str, Any]:
    topics = [
        settings.requests_topic,
        settings.keyed_topic,
        settings.results_topic,
        settings.dlq_topic,
        settings.cache_topic,
    ]
    status: dict[str, Any] = {"topics": await end_offsets(settings, topics)}
    pool = await create_pool(settings, max_size=1)
    try:
        row = await pool.fetchrow(STATUS_SQL)
        status["postgres"] = dict(row)
    finally:
        await pool.close()
    return status


async def cache_get(settings: Settings, key: str) -> CacheEntry | None:
    """The newest value for ``key`` in the cache topic (None if absent or tombstoned)."""
    partitions = [
        tp.partition
        for tp in (await topic_partitions(settings, [settings.cache_topic]))[settings.cache_topic]
    ]
    if not partitions:
        return None
    raw_key = key.encode()
    tp = TopicPartition(settings.cache_topic, DefaultPartitioner()(raw_key, partitions, partitions))
    consumer = AIOKafkaConsumer(**client_config(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        found: bytes | None = None
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for message in batch.get(tp, []):
                if message.key == raw_key:
                    found = message.value
        return decode_cache_entry(found) if found is not None else None
    finally:
        await consumer.stop()
