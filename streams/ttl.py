"""Cache lifecycle decisions, pure: how long an entry lives (by tenant, else by text length), whether
it has expired, and which entries an eviction selects. Time is passed in (epoch ms).

Expiry is enforced with tombstones on the compacted cache topic (so compaction reclaims the space):
the worker deletes expired entries from its table when it meets them and in a periodic sweep (a
table delete writes the tombstone), and ``linguaflow cache evict`` writes tombstones for what an
operator selects.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from linguaflow.schemas import CacheEntry
from linguaflow.settings import Settings


@dataclass(frozen=True, slots=True)
class TtlPolicy:
    """Seconds an entry lives; 0 means never expires. A tenant's own TTL wins over the length rule;
    the length is the translated text's (what the cache holds)."""

    short_max_chars: int = 200
    short_s: float = 0
    long_s: float = 0
    tenants: Mapping[str, float] = field(default_factory=dict)

    @property
    def expires(self) -> bool:
        return bool(self.short_s or self.long_s or any(self.tenants.values()))


def policy_from(settings: Settings) -> TtlPolicy:
    return TtlPolicy(
        short_max_chars=settings.cache_ttl_short_max_chars,
        short_s=settings.cache_ttl_short_s,
        long_s=settings.cache_ttl_long_s,
        tenants=dict(settings.cache_ttl_tenants),
    )


def ttl_s(policy: TtlPolicy, *, chars: int, tenant: str) -> float:
    """Seconds an entry of this length and tenant lives (0: forever)."""
    if tenant in policy.tenants:
        return policy.tenants[tenant]
    return policy.short_s if chars <= policy.short_max_chars else policy.long_s


def expires_at_ms(policy: TtlPolicy, entry: CacheEntry) -> float | None:
    ttl = ttl_s(policy, chars=len(entry.translated_text), tenant=entry.tenant)
    return None if ttl <= 0 else entry.created_at + ttl * 1000


def is_expired(policy: TtlPolicy, entry: CacheEntry, now_ms: float) -> bool:
    at = expires_at_ms(policy, entry)
    return at is not None and now_ms >= at


@dataclass(frozen=True, slots=True)
class EvictionFilter:
    """What ``cache evict`` selects; every criterion given must match (at least one is required,
    so an empty filter can never evict the whole cache)."""

    keys: Collection[str] = ()
    tenant: str | None = None
    provider: str | None = None
    glossary: str | None = None  # id@version; entries written before glossaries were recorded lack it
    expired: bool = False

    @property
    def empty(self) -> bool:
        return not (self.keys or self.tenant or self.provider or self.glossary or self.expired)

    def matches(self, entry: CacheEntry, policy: TtlPolicy, now_ms: float) -> bool:
        return (
            (not self.keys or entry.cache_key in self.keys)
            and (self.tenant is None or entry.tenant == self.tenant)
            and (self.provider is None or entry.provider == self.provider)
            and (self.glossary is None or entry.glossary == self.glossary)
            and (not self.expired or is_expired(policy, entry, now_ms))
        )


def select_evictions(
    entries: Iterable[CacheEntry], selection: EvictionFilter, policy: TtlPolicy, now_ms: float
) -> list[str]:
    """Cache keys to tombstone, in a stable order."""
    if selection.empty:
        return []
    return sorted(e.cache_key for e in entries if selection.matches(e, policy, now_ms))
