"""Small builders of valid events for tests: override only what a test is about."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from linguaflow.schemas import CacheEntry, TranslationResult

T0 = 1_700_000_000_000
ENTRY = CacheEntry(
    cache_key="k",
    translated_text="Hallo",
    source_lang="en",
    target_lang="de",
    provider="deepl",
    model="deepl/v2",
    billed_chars=5,
    cost=0.0,
    version=T0 * 1000,
    tenant="acme",
    created_at=T0,
    glossary="ui@3",
)


def cache_entry(**overrides: Any) -> CacheEntry:
    return replace(ENTRY, **overrides)


def translation_result(**overrides: Any) -> TranslationResult:
    fields: dict[str, Any] = {
        "request_id": "r1",
        "cache_key": "k1",
        "tenant": "t",
        "user": "u",
        "source_text": "Hello",
        "source_lang": "en",
        "target_lang": "de",
        "format": "text",
        "translated_text": "Hallo",
        "provider": "pseudo",
        "model": "pseudo/1",
        "billed_chars": 5,
        "cost": 0.0,
        "cache_hit": False,
        "coalesced": False,
        "latency_ms": 1,
        "version": 1,
        "created_at": 1,
        "completed_at": 2,
    }
    fields.update(overrides)
    return TranslationResult(**fields)
