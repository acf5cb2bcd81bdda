"""Kafka adapters shared by the CLI, the stream agents and the sink: client settings, the
idempotent ``acks=all`` publisher, and topic creation (the topics are part of the contract, so
they are created explicitly with their configs rather than auto-created)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from tqdm import tqdm

from linguaflow.errors import ConfigError, InfraError
from linguaflow.kafka_oauth import token_provider
from linguaflow.partitioner import default_partitioner
from linguaflow.settings import ClientSettings, Settings

Headers = list[tuple[str, bytes]]


def ssl_context(settings: ClientSettings) -> ssl.SSLContext | None:
    """TLS to the brokers: their certificates verified against ``KAFKA_SSL_CAFILE`` (or the
    system's CAs), and a client certificate when one is given (mutual TLS)."""
    certfile, keyfile = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    if "SSL" not in settings.kafka_security_protocol:
        if certfile or keyfile:
            raise ConfigError(
                "LINGUAFLOW_KAFKA_SSL_CERTFILE/KEYFILE are set, but LINGUAFLOW_KAFKA_SECURITY_PROTOCOL="
                f"{settings.kafka_security_protocol} uses no TLS: set it to SSL or SASL_SSL"
            )
        return None
    if (certfile is None) != (keyfile is None):
        raise ConfigError(
            "mutual TLS needs both LINGUAFLOW_KAFKA_SSL_CERTFILE and LINGUAFLOW_KAFKA_SSL_KEYFILE"
        )
    password = settings.kafka_ssl_key_password
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=certfile,
            keyfile=keyfile,
            password=None if password is None else password.get_secret_value(),
        )
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(str(f) for f in (settings.kafka_ssl_cafile, certfile, keyfile) if f)
        raise ConfigError(f"cannot load the Kafka TLS files ({files}): {exc}") from None
    return context


def client_config(settings: ClientSettings) -> dict[str, Any]:
    """Connection settings every aiokafka client of ours uses (security included)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    if not settings.kafka_security_protocol.startswith("SASL"):
        return config
    config["sasl_mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_mechanism == "OAUTHBEARER":
        config["sasl_oauth_token_provider"] = token_provider(settings)
        return config
    if settings.kafka_sasl_username is None or settings.kafka_sasl_password is None:
        raise ConfigError("SASL needs LINGUAFLOW_KAFKA_SASL_USERNAME and LINGUAFLOW_KAFKA_SASL_PASSWORD")
    config["sasl_plain_username"] = settings.kafka_sasl_username
    config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return config


def consumer_config(settings: ClientSettings) -> dict[str, Any]:
    """What every consumer of ours uses: the connection settings, and ``read_committed``: records
    of aborted transactions (a producer of requests may write in transactions) are never read,
    and a read stops at the last stable offset."""
    return {**client_config(settings), "isolation_level": "read_committed"}


class Publisher:
    """One idempotent producer per process. ``send`` returns the delivery future."""

    def __init__(self, settings: ClientSettings, *, linger_ms: int = 5) -> None:
        self._config = {
            **client_config(settings),
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": linger_ms,
            "max_batch_size": 256 * 1024,
            "request_timeout_ms": settings.kafka_request_timeout_ms,
            "partitioner": default_partitioner,  # aiokafka's rules and partitions, 2x faster
        }
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # Created here, not in __init__: aiokafka binds to the running event loop.
        self._producer = AIOKafkaProducer(**self._config)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()  # flushes what is buffered

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("Publisher.start() was not called")
        return self._producer

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Headers | None = None
    ) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = await self.producer.send(topic, value=value, key=key, headers=headers)
        return fut

    async def flush(self) -> None:
        await self.producer.flush()


async def stop_background(task: asyncio.Task[None] | None, consumer: AIOKafkaConsumer | None) -> None:
    """Stop a consumer that a background task reads from: the task first, then the consumer."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if consumer is not None:
        await consumer.stop()


def topic_specs(settings: Settings) -> list[NewTopic]:
    """Every topic linguaflow owns, with its configs. The cache topic is compacted."""
    rf = settings.replication_factor
    n = settings.partitions
    cache_config = {"cleanup.policy": "compact", **settings.cache_topic_config}
    return [
        NewTopic(settings.requests_topic, n, rf),
        NewTopic(settings.keyed_topic, n, rf),
        NewTopic(settings.results_topic, n, rf),
        NewTopic(settings.dlq_topic, n, rf),
        NewTopic(settings.cache_topic, n, rf, topic_configs=cache_config),
    ]


async def _admin(settings: ClientSettings, timeout_s: float = 60) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(**client_config(settings), request_timeout_ms=15_000)
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except Exception as exc:
        await admin.close()
        raise InfraError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc!r}", retriable=True
        ) from exc
    return admin


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics (safe to run any number of times); return the names created."""
    admin = await _admin(settings)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topic_specs(settings) if t.name not in existing]
        for topic in missing:
            # Another worker may create it between list and create: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
        # Creation returns before every broker's metadata shows the topic; callers use it at once.
        names = {t.name for t in missing}
        for _ in range(100):
            if not names - set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        else:
            raise InfraError(
                f"topics {sorted(names)} were created but did not appear in metadata", retriable=True
            )
        return [t.name for t in missing]
    finally:
        await admin.close()


async def topic_partitions(settings: ClientSettings, topics: list[str]) -> dict[str, list[TopicPartition]]:
    """Partitions per existing topic (a missing topic maps to an empty list)."""
    admin = await _admin(settings)
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        d["topic"]: sorted(TopicPartition(d["topic"], p["partition"]) for p in d["partitions"])
        for d in described
    }


async def end_offsets(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Messages currently in each topic (end offsets minus start offsets, over all partitions)."""
    partitions = await topic_partitions(settings, topics)
    tps = [tp for tp_list in partitions.values() for tp in tp_list]
    consumer = AIOKafkaConsumer(**consumer_config(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps) if tps else {}
        starts = await consumer.beginning_offsets(tps) if tps else {}
    finally:
        await consumer.stop()
    return {topic: sum(ends[tp] - starts[tp] for tp in tp_list) for topic, tp_list in partitions.items()}


class PartitionReader:
    """Reads partitions between offsets in large fetches, with no consumer group (nobody's offsets
    move). ``async with PartitionReader(settings) as reader``: ``bounds`` gives each partition's
    (beginning, end) offsets, ``read`` the records from a start offset up to an end offset."""

    def __init__(self, settings: Settings) -> None:
        self._consumer = AIOKafkaConsumer(
            **consumer_config(settings),
            enable_auto_commit=False,
            fetch_max_bytes=64 * 2**20,
            max_partition_fetch_bytes=16 * 2**20,
        )

    async def __aenter__(self) -> PartitionReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def bounds(self, tps: list[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        if not tps:
            return {}
        beginnings = await self._consumer.beginning_offsets(tps)
        ends = await self._consumer.end_offsets(tps)
        return {tp: (beginnings[tp], ends[tp]) for tp in tps}

    async def read(
        self, ranges: dict[TopicPartition, tuple[int, int]]
    ) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        """The records of each partition from ``start`` up to (not including) ``end``, in fetched
        batches (per partition in log order)."""
        consumer = self._consumer
        remaining = {tp: end for tp, (start, end) in ranges.items() if start < end}
        consumer.assign(list(remaining))
        for tp in remaining:
            consumer.seek(tp, ranges[tp][0])
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                end = remaining.get(tp)
                if end is not None and records:
                    yield records if records[-1].offset < end else [r for r in records if r.offset < end]
            for tp, end in list(remaining.items()):
                if await consumer.position(tp) >= end:
                    del remaining[tp]


async def read_topic(
    settings: Settings, topic: str, *, partitions: list[int] | None = None, progress: str | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` (or of some of its partitions) from the beginning up to the end
    offsets seen when the read starts. No consumer group: nobody's offsets move. With
    ``progress`` (its label), a progress bar on stderr when stderr is a terminal."""
    tps = (await topic_partitions(settings, [topic]))[topic]
    if partitions is not None:
        tps = [tp for tp in tps if tp.partition in partitions]
    async with PartitionReader(settings) as reader:
        bounds = await reader.bounds(tps)
        total = sum(end - start for start, end in bounds.values())
        shown = progress is not None and sys.stderr.isatty()
        with tqdm(total=total, desc=progress, unit="rec", file=sys.stderr, disable=not shown) as bar:
            async for records in reader.read(bounds):
                bar.update(len(records))
                for record in records:
                    yield record
            bar.update(total - bar.n)  # a compacted log has fewer records than offsets


async def existing_partitions(
    settings: ClientSettings, topics: list[str], *, wait_s: float = 5.0
) -> list[TopicPartition]:
    """Every partition of ``topics``; a missing topic is an error that says what to run.

    A topic created a moment ago (``linguaflow up`` just ran) may not be in the broker's metadata
    yet, so a missing one is looked up again for ``wait_s`` before giving up."""
    deadline = time.monotonic() + wait_s
    while True:
        found = await topic_partitions(settings, topics)
        missing = [t for t in topics if not found.get(t)]
        if not missing:
            return [tp for topic in topics for tp in found[topic]]
        if time.monotonic() >= deadline:
            raise InfraError(
                f"topic(s) {', '.join(missing)} do not exist on {settings.kafka_bootstrap}: "
                "run `linguaflow up` or start a worker (both create the topics)"
            )
        await asyncio.sleep(0.25)
