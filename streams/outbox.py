"""The dedup engine's ``Outbox`` on Kafka: results to ``translation.results`` (with the request's
``traceparent`` header) through the ``BatchSender``, one produce batch per partition and one
delivery future per batch (a future and a callback per result were ~10 % of the worker's CPU at
90 % duplicates), and dead letters to ``translation.dlq`` through the idempotent publisher.
Results are also where billing and end-to-end latency are counted."""

from __future__ import annotations

import asyncio
from typing import Any

from linguaflow.batch_send import Ack, BatchSender
from linguaflow.kafka import Publisher
from linguaflow.settings import Settings
from linguaflow.telemetry import Telemetry
from schemas import DeadLetter, TranslationResult, encode
from streams.keying import TRACE_HEADER


class KafkaOutbox:
    def __init__(
        self, publisher: Publisher, sender: BatchSender, settings: Settings, telemetry: Telemetry
    ) -> None:
        self._publisher = publisher
        self._sender = sender
        self._settings = settings
        self._telemetry = telemetry

    def result(self, result: TranslationResult, ack: Ack) -> None:
        # Billing and latency are counted from results, so they carry the provider that really
        # translated (billed_chars and cost are non-zero only on the miss that caused the call).
        self._telemetry.count("billed_chars", result.billed_chars, provider=result.provider)
        self._telemetry.count("cost", result.cost, provider=result.provider)
        self._telemetry.observe("e2e_latency", result.latency_ms / 1000, outcome=result.outcome)
        headers = [(TRACE_HEADER, result.traceparent.encode())] if result.traceparent else None
        self._sender.add(
            self._settings.results_topic,
            encode(result),
            key=result.cache_key.encode(),
            headers=headers,
            ack=ack,
        )
        self._sender.flush_soon()  # a batch handler flushes at its end; a provider call's results here

    async def dead_letter(self, value: bytes, letter: DeadLetter) -> asyncio.Future[Any]:
        key = letter.request_id.encode() if letter.request_id else None
        return await self._publisher.send(self._settings.dlq_topic, value, key=key, headers=letter.headers())
