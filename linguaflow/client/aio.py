"""``TranslationClient``: publish requests and await their translations from async code.

One client serves many calls: it starts one idempotent ``acks=all`` producer and one reply
listener, and keeps a map of request_id -> waiting futures. Start it once per process
(``async with TranslationClient(settings) as client``), not once per call.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, Unpack

from opentelemetry import trace

from linguaflow.client.build import ENTROPY_BYTES, RequestFields, build_request, request_fields
from linguaflow.client.listener import ReplyListener
from linguaflow.client.replies import PendingReplies, Translation
from linguaflow.client.tracing import client_tracer, publishing
from linguaflow.errors import InfraError, LinguaflowError, TranslationTimeout
from linguaflow.kafka import Publisher, existing_partitions
from linguaflow.schemas import TranslationRequest, encode_request
from linguaflow.settings import ClientSettings

RequestLike = Mapping[str, Any] | TranslationRequest


class TranslationClient:
    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        default_timeout_s: float = 30.0,
        linger_ms: int = 5,
        clock: Callable[[], float] = time.time,
        entropy: Callable[[int], bytes] = os.urandom,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        """``settings``: the client's (``LINGUAFLOW_*`` environment variables when not given).
        ``tracer_provider``: where the publish spans go (default: the app's global one, if set)."""
        settings = settings or ClientSettings()
        self.settings = settings
        self.default_timeout_s = default_timeout_s
        self._clock = clock
        self._entropy = entropy
        self._tracer = client_tracer(tracer_provider)
        self._publisher = Publisher(settings, linger_ms=linger_ms)
        self._pending = PendingReplies()
        self._listener = ReplyListener(settings, self._pending)
        self._started = False

    async def start(self) -> None:
        await existing_partitions(self.settings, [self.settings.requests_topic])
        await self._listener.start()  # before the first publish: see ReplyListener
        try:
            await self._publisher.start()
        except BaseException:
            await self._listener.stop()
            raise
        self._started = True

    async def stop(self) -> None:
        self._started = False
        self._pending.fail_all(InfraError("the client was stopped"))
        try:
            await self._publisher.stop()
        finally:
            await self._listener.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- publishing ------------------------------------------------------------------------------

    def validate(self, data: RequestLike, *, idempotency_key: str | None = None) -> TranslationRequest:
        """The request as it will be sent (request_id filled in), or ``InvalidRequest``."""
        now = self._clock()
        return build_request(
            data,
            max_text_chars=self.settings.max_text_chars,
            now_ms=int(now * 1000),
            entropy=self._entropy(ENTROPY_BYTES),
            idempotency_key=idempotency_key,
        )

    async def publish(
        self, request: RequestLike, *, idempotency_key: str | None = None
    ) -> TranslationRequest:
        """Validate and publish one request; return it once the broker has acknowledged it."""
        [sent] = await self.publish_many(
            [request], idempotency_keys=None if idempotency_key is None else [idempotency_key]
        )
        return sent

    async def publish_many(
        self, requests: Iterable[RequestLike], *, idempotency_keys: Sequence[str] | None = None
    ) -> list[TranslationRequest]:
        """Validate every request first (one invalid request: nothing is sent), then publish them
        all, batched by the producer, and return once the broker has acknowledged every one."""
        built = self._validate_all(list(requests), idempotency_keys)
        await self._send(built)
        return built

    def _validate_all(
        self, items: list[RequestLike], idempotency_keys: Sequence[str] | None
    ) -> list[TranslationRequest]:
        if idempotency_keys is not None and len(idempotency_keys) != len(items):
            raise ValueError(f"{len(idempotency_keys)} idempotency keys for {len(items)} requests")
        keys: Sequence[str | None] = idempotency_keys or [None] * len(items)
        return [self.validate(item, idempotency_key=key) for item, key in zip(items, keys, strict=True)]

    async def _send(self, requests: list[TranslationRequest]) -> None:
        self._check_running()
        topic = self.settings.requests_topic
        with publishing(self._tracer, topic, len(requests)) as headers:
            deliveries = [
                await self._publisher.send(
                    topic, encode_request(r), key=r.request_id.encode(), headers=headers
                )
                for r in requests
            ]
            await asyncio.gather(*deliveries)

    def _check_running(self) -> None:
        if not self._started:
            raise InfraError("the client is not started: use `async with TranslationClient(...)`")
        if self._listener.failure is not None:
            raise self._listener.failure

    # --- request/reply ---------------------------------------------------------------------------

    async def translate(
        self,
        text: str,
        target: str,
        source: str = "auto",
        *,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        timeout_s: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> Translation:
        """Publish one request and await its result. Raises ``InvalidRequest`` (nothing sent),
        ``DeadLettered`` (the worker's DLQ reason and message) or ``TranslationTimeout``."""
        request = self.validate(
            request_fields(text, target, source, request_id=request_id, extra=fields),
            idempotency_key=idempotency_key,
        )
        return _all_translated(await self._round_trip([request], timeout_s))[0]

    async def translate_many(
        self,
        texts: Sequence[str],
        target: str,
        source: str = "auto",
        *,
        idempotency_keys: Sequence[str] | None = None,
        timeout_s: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> list[Translation]:
        """Translate every text (results in order); ``timeout_s`` is for the whole batch. Every
        request is validated before any is sent; the first failed item's error is raised."""
        return _all_translated(
            await self.translate_each(
                texts, target, source, idempotency_keys=idempotency_keys, timeout_s=timeout_s, **fields
            )
        )

    async def translate_each(
        self,
        texts: Sequence[str],
        target: str,
        source: str = "auto",
        *,
        idempotency_keys: Sequence[str] | None = None,
        timeout_s: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> list[Translation | LinguaflowError]:
        """Like ``translate_many``, but a failed item (``DeadLettered``, ``TranslationTimeout``)
        is returned in its place instead of raised: a backfill carries on past one bad text."""
        items: list[RequestLike] = [
            request_fields(t, target, source, request_id=None, extra=fields) for t in texts
        ]
        return await self._round_trip(self._validate_all(items, idempotency_keys), timeout_s)

    async def _round_trip(
        self, requests: list[TranslationRequest], timeout_s: float | None
    ) -> list[Translation | LinguaflowError]:
        self._check_running()
        wait_s = self.default_timeout_s if timeout_s is None else timeout_s
        # Expect before publishing: a cache hit can be answered before send() returns.
        futures = [self._pending.expect(r.request_id) for r in requests]
        try:
            await self._send(requests)
            if futures:
                await asyncio.wait(futures, timeout=wait_s)
        finally:
            for request, future in zip(requests, futures, strict=True):
                self._pending.forget(request.request_id, future)
        return [_outcome(r, f, wait_s) for r, f in zip(requests, futures, strict=True)]


def _all_translated(outcomes: list[Translation | LinguaflowError]) -> list[Translation]:
    """The translations, or the first item's error raised."""
    for outcome in outcomes:
        if isinstance(outcome, LinguaflowError):
            raise outcome
    return [o for o in outcomes if isinstance(o, Translation)]


def _outcome(
    request: TranslationRequest, future: asyncio.Future[Translation], timeout_s: float
) -> Translation | LinguaflowError:
    if not future.done():
        future.cancel()
        return TranslationTimeout(
            f"no result for request {request.request_id!r} within {timeout_s:g}s "
            "(is a worker running? the request may still complete later)",
            request_id=request.request_id,
        )
    exc = future.exception()
    if exc is None:
        return future.result()
    if isinstance(exc, LinguaflowError):
        return exc
    raise exc
