"""The client's one background consumer of ``translation.results`` and ``translation.dlq``.

It joins no consumer group (partitions are assigned by hand, nothing is committed), so it never
takes partitions from the workers or the sink. It starts at the end offsets read when the client
starts, i.e. before any of the client's requests is published, so no reply can slip past it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from linguaflow.client.replies import PendingReplies, match_reply
from linguaflow.errors import InfraError
from linguaflow.kafka import consumer_config, stop_background, topic_partitions
from linguaflow.settings import Settings

log = logging.getLogger(__name__)


async def existing_partitions(
    settings: Settings, topics: list[str], *, wait_s: float = 5.0
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


class ReplyListener:
    def __init__(self, settings: Settings, pending: PendingReplies) -> None:
        self._settings = settings
        self._pending = pending
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.failure: InfraError | None = None  # set when the loop died; calls fail fast with it

    async def start(self) -> None:
        s = self._settings
        tps = await existing_partitions(s, [s.results_topic, s.dlq_topic])
        consumer = AIOKafkaConsumer(
            **consumer_config(s), group_id=None, enable_auto_commit=False, auto_offset_reset="latest"
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            # Concrete offsets, not seek_to_end(): that one resolves lazily at the first fetch,
            # which may come after the first request was published and answered.
            for tp, offset in (await consumer.end_offsets(tps)).items():
                consumer.seek(tp, offset)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer), name="linguaflow-reply-listener")

    async def stop(self) -> None:
        await stop_background(self._task, self._consumer)

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        s = self._settings
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                if not self._pending:
                    continue  # nobody waits: skip decoding other producers' results
                for records in batch.values():
                    for record in records:
                        matched = match_reply(
                            record.topic,
                            record.value,
                            list(record.headers),
                            results_topic=s.results_topic,
                            dlq_topic=s.dlq_topic,
                            waiting=self._pending,
                        )
                        if matched is not None:
                            self._pending.resolve(*matched)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the reply listener stopped")
            self.failure = InfraError(f"the client's reply listener stopped: {exc!r}", retriable=True)
            self._pending.fail_all(self.failure)
