"""Pure row-shaping for the dedup stage: provider output -> CacheEntry, and a cache entry plus a
waiting request -> the TranslationResult that request gets."""

from __future__ import annotations

from linguaflow.schemas import CacheEntry, TranslationRequest, TranslationResult
from linguaflow.streams.providers.base import Translated


def new_entry(
    request: TranslationRequest,
    translated: Translated,
    *,
    now_ms: float,
) -> CacheEntry:
    """The entry records the provider and model that actually answered, and what it cost."""
    return CacheEntry(
        cache_key=translated.cache_key,
        translated_text=translated.text,
        source_lang=request.source_lang,
        target_lang=request.target_lang,
        provider=translated.provider,
        model=translated.model,
        billed_chars=translated.billed_chars,
        cost=translated.cost,
        version=int(now_ms * 1000),
        tenant=request.tenant,
        created_at=int(now_ms),
        glossary=request.glossary,
    )


def result_for(
    request: TranslationRequest,
    entry: CacheEntry,
    *,
    cache_hit: bool,
    coalesced: bool,
    now_ms: float,
    traceparent: str | None,
) -> TranslationResult:
    """Only the request that caused the provider call is billed; hits and coalesced ones cost 0."""
    paid = not cache_hit and not coalesced
    return TranslationResult(
        request_id=request.request_id,
        cache_key=entry.cache_key,
        tenant=request.tenant,
        user=request.user,
        source_text=request.text,
        source_lang=request.source_lang,
        target_lang=request.target_lang,
        format=request.format,
        translated_text=entry.translated_text,
        provider=entry.provider,
        model=entry.model,
        billed_chars=entry.billed_chars if paid else 0,
        cost=entry.cost if paid else 0.0,
        cache_hit=cache_hit,
        coalesced=coalesced,
        latency_ms=max(0, int(now_ms) - request.created_at),
        version=entry.version,
        created_at=request.created_at,
        completed_at=int(now_ms),
        traceparent=traceparent,
    )
