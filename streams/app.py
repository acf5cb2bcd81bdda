"""The faust app: topics, the cache table (changelog = compacted ``translation.cache``), and the
two agents, which take a fetch at a time (``_on_batch``). Wiring only; decisions live in
``keying`` and ``dedup``.

Offsets: an input record is finished only after its output is acknowledged by the broker, and
only the contiguous prefix of received and finished offsets is committed (``OffsetTracker``). So a
crash re-delivers unfinished requests (at-least-once) and idempotency downstream removes
duplicates. Output (keyed requests, results, dead letters, the table's changelog) goes through our
own idempotent ``acks=all`` producer; faust's producer sends nothing. The table uses the default
partitioner on the raw cache key, exactly like the keyed topic, so cache partition N always sits
beside keyed partition N.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, cast

from linguaflow.clock import wall_ms
from linguaflow.errors import InvalidRequest
from linguaflow.kafka import Publisher
from linguaflow.liveness import Liveness
from linguaflow.schemas import DeadLetter, decode_validated_request, encode_request
from linguaflow.settings import Settings
from linguaflow.streams.batch_send import BatchSender
from linguaflow.streams.cache_store import DiskCacheStore, cache_table
from linguaflow.streams.dedup import DedupEngine, EngineConfig
from linguaflow.streams.evictions import EvictionFollower
from linguaflow.streams.faust_app import LinguaflowApp, faust_credentials
from linguaflow.streams.input_offsets import InputOffsets
from linguaflow.streams.keying import (
    ORIGIN_HEADER,
    TRACE_HEADER,
    KeyedRequest,
    Origin,
    dead_letter,
    key_request,
    parse_traceparent,
)
from linguaflow.streams.outbox import KafkaOutbox
from linguaflow.streams.providers.resilient import ResilientProvider
from linguaflow.streams.ttl import policy_from
from linguaflow.streams.upstream import crash, never_expire_batches
from linguaflow.telemetry import Telemetry

log = logging.getLogger("linguaflow.streams")


class _CacheView(MutableMapping[str, bytes]):
    """The table keyed by bytes (what the changelog holds), seen with str keys. A read asks the
    table's store itself (``CacheStore.get``: one lookup); writes and deletes go through the table,
    which sends them to the changelog."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, key: str) -> bytes:
        value: bytes = self._table[key.encode()]
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self._table.data.get(key.encode(), default)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._table[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        del self._table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k in self._table)

    def __len__(self) -> int:
        return len(self._table)


def _header(message: Any, name: str) -> bytes | None:
    for key, value in message.headers or ():
        if key == name:
            return bytes(value)
    return None


def _trace(message: Any) -> str | None:
    return parse_traceparent(_header(message, TRACE_HEADER))


class StreamsRuntime:
    def __init__(
        self,
        settings: Settings,
        provider: ResilientProvider,
        telemetry: Telemetry,
        *,
        clock: Callable[[], float] = wall_ms,
    ) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.clock = clock
        self._count_request = telemetry.counter("requests")
        self._count_dedup_here = telemetry.counter("dedup_at_rekey")
        self.liveness = Liveness.for_settings(settings)
        self.app = LinguaflowApp(
            settings.app_id,
            broker=settings.kafka_url,
            broker_credentials=faust_credentials(settings),
            store="memory://",
            datadir=str(settings.local_dir / f"faust-{settings.app_id}"),
            autodiscover=False,
            web_enabled=True,
            web_host=settings.web_host,
            web_bind=settings.web_host,
            web_port=settings.web_port,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
            # faust's consumer requests; it must be at least the session timeout
            broker_request_timeout=max(settings.kafka_request_timeout_ms, settings.kafka_session_timeout_ms)
            / 1000,
            broker_max_poll_records=settings.max_poll_records,
            producer_acks=-1,
            stream_wait_empty=True,
            table_standby_replicas=0,
        )
        self.input = InputOffsets(self.app, telemetry)
        self.publisher = Publisher(settings)
        # keyed requests, results, the rekey agent's dead letters and the cache table's changelog
        self.sender = BatchSender(self.publisher, self.fatal)
        self.app.start_hooks.append(self.publisher.start)
        self.app.start_hooks.append(self._outlast_outages)
        self.app.start_hooks.append(self._know_partitions)
        self.app.stop_hooks.append(self.publisher.stop)
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        self.requests_topic = self.app.topic(settings.requests_topic, **raw)
        self.keyed_topic = self.app.topic(settings.keyed_topic, **raw)
        changelog = self.app.topic(
            settings.cache_topic,
            partitions=settings.partitions,
            compacting=True,
            deleting=False,
            acks=False,
            internal=True,
            maxsize=131_072,
            allow_empty=True,
            config={"cleanup.policy": "compact", **settings.cache_topic_config},
            **raw,
        )
        self.table = cache_table(self.app, settings, changelog, self.sender)
        if settings.cache_store == "disk":  # runs after the agents, evictions and sweeps stopped
            self.app.stop_hooks.append(self._close_cache)
        self.provider = provider
        self.engine = DedupEngine(
            provider,
            _CacheView(self.table),
            KafkaOutbox(self.publisher, self.sender, settings, telemetry),
            EngineConfig(
                linger_ms=settings.provider_linger_ms,
                max_inflight_batches=settings.provider_max_inflight_batches,
                user_requests_per_min=settings.user_requests_per_min,
                rate_limit_mode=settings.user_rate_limit_mode,
                user_max_wait_s=settings.user_max_wait_s,
                ttl=policy_from(settings),
            ),
            clock=clock,
            telemetry=telemetry,
            on_fatal=self.fatal,
        )
        self.app.stop_hooks.append(provider.close)  # runs first: after the agents drained
        self.app.take_records(
            [self.requests_topic, self.keyed_topic], self._on_batch, self._settle, self.input.on_holes
        )
        self.app.task(self._flusher)
        self.app.timer(settings.cache_sweep_s)(self._sweep_expired)
        # Operator evictions (cache evict, gc) reach this worker's table at once.
        evictions = EvictionFollower(settings, lambda key: self.table.data.pop(key, None), telemetry)
        self.app.start_hooks.append(evictions.start)
        self.app.stop_hooks.append(evictions.stop)
        self.app.on_partitions_revoked.connect(self.input.on_revoked)  # type: ignore[arg-type]
        self.app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]

    async def _on_assigned(self, sender: Any, assigned: Any, **kwargs: Any) -> None:
        """This worker deduplicates the keys of its keyed partitions: it enforces that share of
        the per-user limit, so the workers' shares add up to the limit (streams/ratelimit.py)."""
        keyed = self.settings.keyed_topic
        owned = sum(1 for tp in self.app.consumer.assignment() if tp.topic == keyed)
        if owned:
            self.engine.share_user_limit(min(1.0, owned / self.settings.partitions))

    async def _on_batch(self, messages: list[Any]) -> None:
        """The records of one fetch, in order. Waits while faust's flow control is suspended (a
        rebalance, the cache table's recovery); stops when a rebalance or shutdown begins, and
        drops records fetched before the last rebalance (faust's own staleness rule): what is
        left is read again from the committed offset (or, if flow resumes without a seek, as a
        gap: see ``_accept``)."""
        app = self.app
        flow, consumer = app.flow_control, cast(Any, app.consumer)
        await flow.acquire()
        assigned = consumer.assignment()
        try:
            for n, message in enumerate(messages, start=1):
                current = message.generation_id == app.consumer_generation_id
                if not (current and flow.is_active() and consumer.flow_active):
                    return
                if message.tp not in assigned or not self.input.accept(message):
                    continue
                if message.topic == self.settings.requests_topic:
                    await self._rekey(message, assigned)
                else:
                    await self._dedup(message)
                if n % 100 == 0:
                    await asyncio.sleep(0)  # let the flusher, timers and the web server run
        finally:
            await self.sender.flush()  # one produce batch per partition for the keyed requests

    async def _rekey(self, message: Any, assigned: set[Any]) -> None:
        settings = self.settings
        origin = Origin(message.topic, message.partition, message.offset)
        self._count_request()
        with self.telemetry.span("rekey", _trace(message), origin.attributes) as trace:
            outcome = key_request(
                message.value,
                origin,
                model_version_for=self.provider.model_version_for,
                max_text_chars=settings.max_text_chars,
                now_ms=int(self.clock()),
                traceparent=trace,
            )
            if isinstance(outcome, DeadLetter):
                self._dead_lettered(outcome)
                self.sender.add(
                    settings.dlq_topic,
                    message.value,
                    key=message.key,
                    headers=outcome.headers(),
                    ack=self.input.finisher(message),
                )
                return
            key = outcome.cache_key.encode()
            partition = self.sender.partition_for(settings.keyed_topic, key)
            if (settings.keyed_topic, partition) in assigned:
                await self._dedup_here(outcome, message)
                return
            headers = [(ORIGIN_HEADER, origin.header())]
            headers += [(TRACE_HEADER, trace.encode())] if trace else []
            self.sender.add(
                settings.keyed_topic,
                encode_request(outcome.request),
                key=key,
                headers=headers,
                ack=self.input.finisher(message),
                partition=partition,
            )

    async def _dedup_here(self, keyed: KeyedRequest, message: Any) -> None:
        """A request whose key's partition is assigned to this worker is deduplicated where it was
        read, without the hop through the keyed topic: the table partition and the calls in flight
        that dedup would see for its key are this worker's (the keyed topic and the table share the
        partitioner and partitions, and one engine serves both agents)."""
        self._count_dedup_here()
        with self.telemetry.span("dedup", keyed.traceparent, keyed.origin.attributes) as trace:
            if trace != keyed.traceparent:  # a span of its own (tracing is on)
                keyed = KeyedRequest(keyed.cache_key, keyed.request, keyed.origin, trace)
            await self.engine.on_request(keyed, self.input.finisher(message))

    async def _dedup(self, message: Any) -> None:
        settings = self.settings
        here = Origin(message.topic, message.partition, message.offset)
        origin = Origin.parse(_header(message, ORIGIN_HEADER), here)
        with self.telemetry.span("dedup", _trace(message), here.attributes) as trace:
            try:
                request = decode_validated_request(
                    message.value, max_text_chars=settings.max_text_chars, now_ms=int(self.clock())
                )
                key = bytes(message.key).decode()
            except (InvalidRequest, TypeError, UnicodeDecodeError) as exc:
                bad_key = InvalidRequest(str(exc), reason="bad_key")
                problem = exc if isinstance(exc, InvalidRequest) else bad_key
                letter = dead_letter(origin, problem, now_ms=int(self.clock()), request_id=None)
                self._dead_lettered(letter)
                ack = self.input.finisher(message)
                self.sender.add(
                    settings.dlq_topic, message.value, key=None, headers=letter.headers(), ack=ack
                )
                return
            keyed = KeyedRequest(key, request, origin, trace)
            await self.engine.on_request(keyed, self.input.finisher(message))

    async def _flusher(self) -> None:
        await self.engine.run_flusher()

    async def _sweep_expired(self) -> None:
        self.engine.evict_expired()

    async def _close_cache(self) -> None:
        store: DiskCacheStore = self.table.data  # type: ignore[assignment]
        await store.close()

    async def _outlast_outages(self) -> None:
        never_expire_batches(self.publisher.producer)

    async def _know_partitions(self) -> None:
        """Partition counts the agents compute partitions with, synchronously."""
        await self.sender.known(self.settings.cache_topic)
        await self.sender.known(self.settings.keyed_topic)

    async def _settle(self) -> None:
        """Before faust commits on a rebalance or shutdown: every call in flight answered, every
        output acknowledged (so its input offset is finished and committed now)."""
        await self.engine.drain()
        await self.sender.deliver()

    def _dead_lettered(self, letter: DeadLetter) -> None:
        self.telemetry.count("dlq", reason=letter.reason)
        log.info(
            "dead-lettered: %s",
            letter.error,
            extra={
                "reason": letter.reason,
                "request_id": letter.request_id,
                "topic": letter.origin_topic,
                "partition": letter.origin_partition,
                "offset": letter.origin_offset,
            },
        )

    def fatal(self, exc: BaseException) -> None:
        """An error the worker cannot carry on after (output the broker refused, the sink failed
        for good): stop, and exit non-zero within ``SHUTDOWN_TIMEOUT_S`` whatever the shutdown
        does, so that a supervisor restarts it and the unfinished input is read again."""
        log.critical("fatal error, stopping the worker: %r", exc)
        self.liveness.fatal(repr(exc))
        crash(self.app, exc)
