"""Read-only views for operators: ``status`` (topics + Postgres counts) and ``cache get`` (one
entry from the compacted cache topic, read straight from the partition its key lives in)."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from linguaflow.db import create_pool
from linguaflow.kafka import end_offsets, read_topic, topic_partitions
from linguaflow.schemas import CacheEntry, decode_cache_entry
from linguaflow.settings import Settings

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
    """The newest value for ``key`` in the cache topic (None if absent or tombstoned). Reads only
    the partition the key hashes to: the producer's default partitioner, as the worker uses."""
    tps = (await topic_partitions(settings, [settings.cache_topic]))[settings.cache_topic]
    if not tps:
        return None
    raw_key = key.encode()
    numbers = [tp.partition for tp in tps]
    partition = DefaultPartitioner()(raw_key, numbers, numbers)
    found: bytes | None = None
    async for record in read_topic(settings, settings.cache_topic, partitions=[partition]):
        if record.key == raw_key:
            found = record.value
    return decode_cache_entry(found) if found is not None else None
