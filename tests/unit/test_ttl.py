"""Cache TTL and eviction selection: pure, clock passed in."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from linguaflow.schemas import CacheEntry
from linguaflow.streams.ttl import (
    EvictionFilter,
    TtlPolicy,
    expires_at_ms,
    is_expired,
    select_evictions,
    ttl_s,
)
from tests.factories import ENTRY, T0

POLICY = TtlPolicy(short_max_chars=10, short_s=3600, long_s=86400, tenants={"vip": 0, "trial": 60})


def test_ttl_by_length_and_tenant() -> None:
    assert ttl_s(POLICY, chars=10, tenant="acme") == 3600
    assert ttl_s(POLICY, chars=11, tenant="acme") == 86400
    assert ttl_s(POLICY, chars=5, tenant="vip") == 0  # never
    assert ttl_s(POLICY, chars=5000, tenant="trial") == 60
    assert expires_at_ms(POLICY, ENTRY) == T0 + 3600 * 1000
    assert expires_at_ms(POLICY, replace(ENTRY, tenant="vip")) is None
    assert not TtlPolicy().expires
    assert TtlPolicy(tenants={"t": 5}).expires


@given(
    st.integers(0, 10_000),
    st.sampled_from(["acme", "vip", "trial"]),
    st.integers(-(10**9), 10**11),
    st.integers(0, 10**9),
)
def test_an_entry_expires_once_and_for_good(chars: int, tenant: str, offset_ms: int, later_ms: int) -> None:
    entry = replace(ENTRY, translated_text="x" * chars, tenant=tenant)
    now = T0 + offset_ms
    ttl = ttl_s(POLICY, chars=chars, tenant=tenant)
    assert is_expired(POLICY, entry, now) == (ttl > 0 and offset_ms >= ttl * 1000)
    if is_expired(POLICY, entry, now):
        assert is_expired(POLICY, entry, now + later_ms)  # monotone in time
    assert not is_expired(TtlPolicy(), entry, now + later_ms)  # the default keeps entries forever


entries = st.lists(
    st.builds(
        lambda i, tenant, provider, glossary, age: replace(
            ENTRY, cache_key=f"k{i}", tenant=tenant, provider=provider, glossary=glossary, created_at=T0 - age
        ),
        st.integers(0, 50),
        st.sampled_from(["acme", "vip"]),
        st.sampled_from(["deepl", "google"]),
        st.sampled_from([None, "ui@3", "ui@4"]),
        st.integers(0, 10**8),
    ),
    unique_by=lambda e: e.cache_key,
)
filters = st.builds(
    EvictionFilter,
    keys=st.sets(st.sampled_from([f"k{i}" for i in range(10)])),
    tenant=st.sampled_from([None, "acme"]),
    provider=st.sampled_from([None, "google"]),
    glossary=st.sampled_from([None, "ui@3"]),
    expired=st.booleans(),
)


@given(entries, filters)
def test_eviction_selects_exactly_the_entries_matching_every_criterion(
    cached: list[CacheEntry], selection: EvictionFilter
) -> None:
    chosen = select_evictions(cached, selection, POLICY, T0)
    if selection.empty:
        assert chosen == []
        return
    for entry in cached:
        wanted = (
            (not selection.keys or entry.cache_key in selection.keys)
            and selection.tenant in (None, entry.tenant)
            and selection.provider in (None, entry.provider)
            and selection.glossary in (None, entry.glossary)
            and (not selection.expired or is_expired(POLICY, entry, T0))
        )
        assert (entry.cache_key in chosen) == wanted
    assert chosen == sorted(set(chosen))
