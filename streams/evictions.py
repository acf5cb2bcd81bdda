"""Operator evictions reaching a running worker.

faust reads the changelog of its active partitions only while recovering them, so a tombstone that
``linguaflow cache evict`` (or ``gc``) writes to the cache topic would stay unseen by a running
worker, which would go on serving the entry from memory. This follower tails the cache topic (no
consumer group, from the end offsets at start; recovery covers what came before) and drops the key
of every tombstone that carries ``EVICT_HEADER`` from the worker's table, without writing anything.
The worker's own deletes (TTL) carry no such header: their key is already gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from linguaflow.kafka import consumer_config, existing_partitions, stop_background
from linguaflow.settings import Settings
from linguaflow.telemetry import Telemetry

EVICT_HEADER = "lf-evict"  # value: why (the evict criteria, "gc", ...)
log = logging.getLogger("linguaflow.evictions")


def is_eviction(value: bytes | None, headers: list[tuple[str, bytes]] | None) -> bool:
    return value is None and any(name == EVICT_HEADER for name, _ in headers or ())


class EvictionFollower:
    def __init__(self, settings: Settings, forget: Callable[[bytes], None], telemetry: Telemetry) -> None:
        self._settings = settings
        self._forget = forget
        self._telemetry = telemetry
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The worker may have created the topic a moment ago: wait for it to show in metadata.
        tps = await existing_partitions(self._settings, [self._settings.cache_topic], wait_s=30)
        self._consumer = AIOKafkaConsumer(**consumer_config(self._settings), enable_auto_commit=False)
        await self._consumer.start()
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        self._task = asyncio.create_task(self._follow(self._consumer))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            fetched = await consumer.getmany(timeout_ms=1000)
            for records in fetched.values():
                for record in records:
                    if record.key is not None and is_eviction(record.value, record.headers):
                        self._forget(record.key)
                        self._telemetry.count("cache_evicted", source="operator")

    async def stop(self) -> None:
        await stop_background(self._task, self._consumer)
