"""Pure row mapping: TranslationResult -> tuples in the column order of the COPY statements.
Timestamps stay epoch milliseconds, as results carry them: the sink's connections encode them
straight into Postgres' binary timestamptz (``sinks.postgres.prepare_connection``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from linguaflow.schemas import TranslationResult

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


def split_by_stored_version(
    results: Iterable[TranslationResult], stored: Mapping[str, int]
) -> tuple[list[TranslationResult], list[TranslationResult]]:
    """(keys not stored yet, keys stored with an older version), given the stored version per key.
    The rest are stored with this version or a newer one: the version guard keeps those as they are."""
    absent: list[TranslationResult] = []
    newer: list[TranslationResult] = []
    for r in results:
        version = stored.get(r.cache_key)
        if version is None:
            absent.append(r)
        elif version < r.version:
            newer.append(r)
    return absent, newer


def as_columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """Rows -> one list per column (the arrays ``unnest()`` turns back into rows)."""
    return [[row[i] for row in rows] for i in range(width)]
