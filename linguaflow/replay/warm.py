"""Replay mode ``warm``: Postgres ``translations`` -> the compacted cache topic (``CacheEntry``
JSON keyed by cache key; the producer's default partitioner on the raw key bytes, as the worker's
table and the keyed topic use). For a lost or new cache topic, or a new cluster.

Only entries the topic lacks (or holds in an older version) are written, so a run interrupted and
started again continues where it stopped. Workers read the cache topic when their partitions are
assigned: warm before starting them, or restart them afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm

from linguaflow.cache_view import load_cache_view
from linguaflow.db import create_pool
from linguaflow.kafka import Publisher
from linguaflow.replay.plan import Pacer
from linguaflow.schemas import CacheEntry, encode
from linguaflow.settings import Settings

PAGE = 500
# The cost of an entry is on the request row of the miss that paid for it (see sinks/migrations).
PAGE_SQL = """
SELECT t.cache_key, t.tenant, t.source_lang, t.target_lang, t.translated_text, t.provider, t.model,
       t.version, coalesce(m.billed_chars, 0) AS billed_chars, coalesce(m.cost, 0)::float8 AS cost
FROM translations t
LEFT JOIN LATERAL (
    SELECT billed_chars, cost FROM translation_requests r
    WHERE r.cache_key = t.cache_key AND r.outcome = 'miss' ORDER BY r.completed_at LIMIT 1
) m ON true
WHERE t.cache_key > $1
ORDER BY t.cache_key
LIMIT $2
"""


def entry_from_row(row: Mapping[str, Any]) -> CacheEntry:
    """A ``translations`` row as the worker would have cached it (``version`` is microseconds)."""
    return CacheEntry(
        cache_key=row["cache_key"],
        translated_text=row["translated_text"],
        source_lang=row["source_lang"],
        target_lang=row["target_lang"],
        provider=row["provider"],
        model=row["model"],
        billed_chars=row["billed_chars"],
        cost=row["cost"],
        version=row["version"],
        tenant=row["tenant"],
        created_at=row["version"] // 1000,
    )


def needs_write(entry: CacheEntry, current: CacheEntry | None) -> bool:
    """Never replace a newer (or the same) version: the topic's last write is what workers load."""
    return current is None or current.version < entry.version


async def warm_cache(
    settings: Settings, *, dry_run: bool, rate: float | None, progress: bool
) -> dict[str, Any]:
    cached = await load_cache_view(settings)
    pool = await create_pool(settings, max_size=1)
    publisher = None if dry_run else Publisher(settings, linger_ms=20)
    pacer = Pacer(rate, time.time() * 1000)
    rows = written = 0
    try:
        if publisher is not None:
            await publisher.start()
        total = await pool.fetchval("SELECT count(*) FROM translations")
        after = ""
        with tqdm(total=total, desc="warming", unit="entry", disable=not progress, file=sys.stderr) as bar:
            while page := await pool.fetch(PAGE_SQL, after, PAGE):
                after = page[-1]["cache_key"]
                rows += len(page)
                todo = [e for e in map(entry_from_row, page) if needs_write(e, cached.get(e.cache_key))]
                written += len(todo)
                if publisher is not None and todo:
                    await asyncio.sleep(pacer.wait_ms(len(todo), time.time() * 1000) / 1000)
                    sends = [
                        await publisher.send(settings.cache_topic, encode(e), key=e.cache_key.encode())
                        for e in todo
                    ]
                    await asyncio.gather(*sends)
                bar.update(len(page))
    finally:
        if publisher is not None:
            await publisher.stop()
        await pool.close()
    return {
        "mode": "warm",
        "dry_run": dry_run,
        "translation_rows": rows,
        "already_cached": rows - written,
        ("entries_to_write" if dry_run else "entries_written"): written,
        "provider_calls": 0,
        "estimated_cost": 0.0,
        "unusable_cache_records": len(cached.problems),
    }
