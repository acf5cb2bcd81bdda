"""``linguaflow cache evict``: tombstones for the entries an operator selects (by key, tenant,
provider, glossary version or expiry), written to the compacted cache topic so compaction
reclaims the space; running workers drop the keys at once (``streams.evictions``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from linguaflow.cache_view import load_cache_view
from linguaflow.errors import ConfigError
from linguaflow.kafka import Publisher
from linguaflow.settings import Settings
from linguaflow.streams.evictions import EVICT_HEADER
from linguaflow.streams.ttl import EvictionFilter, policy_from, select_evictions


async def write_tombstones(settings: Settings, keys: Sequence[str], why: str) -> None:
    """One tombstone per key (partitioned like the entry: default partitioner on the raw key)."""
    if not keys:
        return
    publisher = Publisher(settings, linger_ms=20)
    await publisher.start()
    try:
        headers = [(EVICT_HEADER, why.encode())]
        sends = [
            await publisher.send(settings.cache_topic, None, key=k.encode(), headers=headers) for k in keys
        ]
        await asyncio.gather(*sends)
    finally:
        await publisher.stop()


async def evict(settings: Settings, selection: EvictionFilter, *, dry_run: bool) -> dict[str, Any]:
    if selection.empty:
        raise ConfigError("cache evict needs --key, --tenant, --provider, --glossary or --expired")
    view = await load_cache_view(settings)
    keys = select_evictions(view.values(), selection, policy_from(settings), time.time() * 1000)
    if not dry_run:
        await write_tombstones(settings, keys, "evict")
    return {
        "dry_run": dry_run,
        "live_entries": len(view),
        ("selected" if dry_run else "evicted"): len(keys),
        "keys_not_found": sorted(set(selection.keys) - set(view)),
        "keys": keys[:100],
    }
