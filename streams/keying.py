"""Pure steps on the way in: a raw request event becomes a KeyedRequest (or a DeadLetter), and the
keyed topic's message carries the request's origin so later failures still point at the bytes the
producer sent."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from linguaflow.errors import InvalidRequest, LinguaflowError
from linguaflow.schemas import DeadLetter, TranslationRequest, cache_key, decode_request

ORIGIN_HEADER = "lf-origin"
TRACE_HEADER = "traceparent"
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def parse_traceparent(value: bytes | None) -> str | None:
    """A W3C traceparent header, or None for anything else (a bad header must not hurt the request)."""
    if value is None or not _TRACEPARENT.fullmatch(value):
        return None
    return value.decode("ascii")


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str
    partition: int
    offset: int

    def header(self) -> bytes:
        return f"{self.topic}:{self.partition}:{self.offset}".encode()

    def attributes(self) -> dict[str, str | int]:
        """Span attributes (OpenTelemetry messaging conventions) naming this record."""
        return {
            "messaging.destination.name": self.topic,
            "messaging.destination.partition.id": self.partition,
            "messaging.kafka.offset": self.offset,
        }

    @classmethod
    def parse(cls, value: bytes | None, fallback: Origin) -> Origin:
        try:
            topic, partition, offset = (value or b"").decode().rsplit(":", 2)
            return cls(topic, int(partition), int(offset))
        except ValueError:
            return fallback


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    cache_key: str
    request: TranslationRequest
    origin: Origin
    traceparent: str | None = None


def key_request(
    raw: bytes | None,
    origin: Origin,
    *,
    model_version_for: Callable[[str | None], str],
    max_text_chars: int,
    now_ms: int,
    traceparent: str | None = None,
) -> KeyedRequest | DeadLetter:
    """Validate and key one event. ``model_version_for(provider_hint)`` raises InvalidRequest for an
    unknown provider."""
    try:
        request = decode_request(raw, max_text_chars=max_text_chars, now_ms=now_ms)
        key = cache_key(request, model_version_for(request.provider))
    except InvalidRequest as exc:
        return dead_letter(origin, exc, now_ms=now_ms, request_id=_peek_request_id(raw))
    return KeyedRequest(key, request, origin, traceparent)


def dead_letter(
    origin: Origin, exc: LinguaflowError, *, now_ms: int, request_id: str | None, attempts: int = 1
) -> DeadLetter:
    return DeadLetter(
        reason=exc.reason,
        error=str(exc),
        origin_topic=origin.topic,
        origin_partition=origin.partition,
        origin_offset=origin.offset,
        first_failed_at=now_ms,
        attempts=attempts,
        request_id=request_id,
    )


def _peek_request_id(raw: bytes | None) -> str | None:
    """Best effort, so a DLQ record of a half-valid event can still be traced by request_id."""
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    value = data.get("request_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
