"""The client's one background consumer of ``translation.results`` and ``translation.dlq``.

It joins no consumer group (partitions are assigned by hand, nothing is committed), so it never
takes partitions from the workers or the sink. It starts at the end offsets read when the client
starts, i.e. before any of the client's requests is published, so no reply can slip past it.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer

from linguaflow.client.replies import PendingReplies, match_reply
from linguaflow.errors import InfraError
from linguaflow.kafka import consumer_config, existing_partitions, stop_background
from linguaflow.settings import ClientSettings

log = logging.getLogger(__name__)


class ReplyListener:
    def __init__(self, settings: ClientSettings, pending: PendingReplies) -> None:
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
