"""Pure row mapping: TranslationResult -> tuples in the column order of the COPY statements.
Timestamps stay epoch milliseconds, as results carry them: the sink's connections encode them
straight into Postgres' binary timestamptz (``sinks.postgres.prepare_connection``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from schemas import TranslationResult

TRANSLATION_COLUMNS = (
    "cache_key",
    "tenant",
    "source_lang",
    "target_lang",
    "format",
    "source_text",
    "translated_text",
    "provider",
    "model",
    "version",
    "translated_at",
)
REQUEST_COLUMNS = (
    "request_id",
    "cache_key",
    "tenant",
    "user_id",
    "outcome",
    "provider",
    "billed_chars",
    "cost",
    "latency_ms",
    "requested_at",
    "completed_at",
)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def money(value: float) -> Decimal:
    return Decimal(repr(value))


def translation_row(r: TranslationResult) -> tuple[object, ...]:
    """The translation itself. Its cost is on the request row of the miss that paid for it."""
    return (
        r.cache_key,
        r.tenant,
        r.source_lang,
        r.target_lang,
        r.format,
        r.source_text,
        r.translated_text,
        r.provider,
        r.model,
        r.version,
        r.version // 1000,  # version is epoch microseconds; translated_at is epoch ms
    )


def request_row(r: TranslationResult) -> tuple[object, ...]:
    return (
        r.request_id,
        r.cache_key,
        r.tenant,
        r.user,
        r.outcome,
        r.provider,
        r.billed_chars,
        money(r.cost),
        r.latency_ms,
        r.created_at,
        r.completed_at,
    )
