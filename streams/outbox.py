"""The dedup engine's ``Outbox`` on Kafka: results to ``translation.results`` (with the request's
``traceparent`` header) through the ``BatchSender``, one produce batch per partition and one
delivery future per batch (a future and a callback per result were ~10 % of the worker's CPU at
90 % duplicates), and dead letters to ``translation.dlq`` through the idempotent publisher.
Results are also where billing and end-to-end latency are counted."""

from __future__ import annotations

import asyncio
from typing import Any

from linguaflow.kafka import Publisher
from linguaflow.schemas import OUTCOMES, DeadLetter, TranslationResult, encode
from linguaflow.settings import Settings
from linguaflow.streams.batch_send import Ack, BatchSender
from linguaflow.streams.keying import TRACE_HEADER
from linguaflow.telemetry import Add, Telemetry


class KafkaOutbox:
    def __init__(
        self, publisher: Publisher, sender: BatchSender, settings: Settings, telemetry: Telemetry
    ) -> None:
        self._publisher = publisher
        self._sender = sender
        self._settings = settings
        self._telemetry = telemetry
        self._latency = {o: telemetry.observer("e2e_latency", outcome=o) for o in OUTCOMES}
        self._billing: dict[str, tuple[Add, Add]] = {}  # per provider: billed_chars, cost

    def result(self, result: TranslationResult, ack: Ack) -> None:
        # Billing and latency are counted from results, so they carry the provider that really
        # translated (billed_chars and cost are non-zero only on the miss that caused the call).
        billing = self._billing.get(result.provider) or self._bill(result.provider)
        billing[0](result.billed_chars)
        billing[1](result.cost)
        self._latency[result.outcome](result.latency_ms / 1000)
        headers = [(TRACE_HEADER, result.traceparent.encode())] if result.traceparent else None
        self._sender.add(
            self._settings.results_topic,
            encode(result),
            key=result.cache_key.encode(),
            headers=headers,
            ack=ack,
        )
        self._sender.flush_soon()  # a batch handler flushes at its end; a provider call's results here

    def _bill(self, provider: str) -> tuple[Add, Add]:
        telemetry = self._telemetry
        billing = self._billing[provider] = (
            telemetry.counter("billed_chars", provider=provider),
            telemetry.counter("cost", provider=provider),
        )
        return billing

    async def dead_letter(self, value: bytes, letter: DeadLetter) -> asyncio.Future[Any]:
        key = letter.request_id.encode() if letter.request_id else None
        return await self._publisher.send(self._settings.dlq_topic, value, key=key, headers=letter.headers())
