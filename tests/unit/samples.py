"""Sample events shared by unit tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from schemas import CacheEntry

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


def cache_entry(**fields: Any) -> CacheEntry:
    return replace(ENTRY, **fields)
