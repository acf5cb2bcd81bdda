"""Request/reply on top of the results and DLQ topics: which record answers which waiting call.

``translation.results`` is keyed by cache key, so a reply is found by the ``request_id`` inside
the value (decoded with the schema's own codec); ``translation.dlq`` carries it in the
``request_id`` header. No I/O here: the listener feeds records in, calls await futures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Container
from dataclasses import dataclass

from linguaflow.errors import DeadLettered, InvalidRequest
from linguaflow.schemas import TranslationResult, decode_result, header_map

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Translation:
    """What ``translate()`` returns: the answer and what it cost."""

    request_id: str
    text: str
    provider: str
    model: str
    cache_hit: bool
    coalesced: bool  # joined a provider call already in flight for the same text
    cost: float  # what the provider charged for this request (0 for hits and coalesced)
    cache_key: str

    @classmethod
    def from_result(cls, result: TranslationResult) -> Translation:
        return cls(
            request_id=result.request_id,
            text=result.translated_text,
            provider=result.provider,
            model=result.model,
            cache_hit=result.cache_hit,
            coalesced=result.coalesced,
            cost=result.cost,
            cache_key=result.cache_key,
        )


Reply = Translation | DeadLettered


def match_reply(
    topic: str,
    value: bytes | None,
    headers: Headers | None,
    *,
    results_topic: str,
    dlq_topic: str,
    waiting: Container[str],
) -> tuple[str, Reply] | None:
    """The (request_id, reply) a record carries for a request in ``waiting``, else None.
    Records that are not ours, or that cannot be decoded, are none of the caller's business."""
    if topic == dlq_topic:
        meta = header_map(headers)
        request_id = meta.get("request_id")
        if request_id is None or request_id not in waiting:
            return None
        return request_id, DeadLettered(
            request_id, meta.get("error", "unknown"), meta.get("error_message", "")
        )
    if topic != results_topic or value is None:
        return None
    try:
        result = decode_result(value)
    except InvalidRequest:
        return None
    if result.request_id not in waiting:
        return None
    return result.request_id, Translation.from_result(result)


class PendingReplies:
    """request_id -> the futures of the calls waiting for it. Several calls may wait for one id
    (the same idempotency key twice); the first reply answers them all, later ones (at-least-once
    re-deliveries) are ignored."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[Translation]]] = {}

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._waiting

    def __len__(self) -> int:
        return len(self._waiting)

    def expect(self, request_id: str) -> asyncio.Future[Translation]:
        future: asyncio.Future[Translation] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(request_id, []).append(future)
        return future

    def resolve(self, request_id: str, reply: Reply) -> int:
        """Complete every call waiting for ``request_id``; return how many there were."""
        futures = self._waiting.pop(request_id, [])
        for future in futures:
            if future.done():
                continue
            if isinstance(reply, DeadLettered):
                future.set_exception(reply)
            else:
                future.set_result(reply)
        return len(futures)

    def forget(self, request_id: str, future: asyncio.Future[Translation]) -> None:
        """A call stopped waiting (timeout, cancelled): drop its future, keep the others."""
        futures = self._waiting.get(request_id, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self._waiting.pop(request_id, None)

    def fail_all(self, exc: BaseException) -> None:
        """The listener died: nobody will be answered, so tell every waiting call now."""
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
