"""``linguaflow gc``: retention for ``translation_requests`` and the cache entries nobody uses.

Rows older than the retention are deleted in small batches (``DELETE ... WHERE ctid IN (SELECT ...
LIMIT n)``, each its own transaction), so no lock is held for long and live sink writes go on.
Then every cache entry older than the cutoff that no remaining request row references gets a
tombstone (compaction reclaims it; running workers drop it). ``translations`` rows are kept: they
are the durable record (``replay warm`` can bring an entry back). Without ``--execute`` (the plan) it
counts both with the same queries and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from linguaflow.cache_admin import write_tombstones
from linguaflow.cache_view import load_cache_view
from linguaflow.db import create_pool
from linguaflow.errors import ConfigError
from linguaflow.schemas import CacheEntry
from linguaflow.settings import Settings
from linguaflow.sinks.rows import ms_to_datetime

DAY_MS = 86_400_000
COUNT_OLD = "SELECT count(*) FROM translation_requests WHERE completed_at < $1"
DELETE_OLD = """
DELETE FROM translation_requests WHERE ctid IN (
    SELECT ctid FROM translation_requests WHERE completed_at < $1 LIMIT $2
)
"""
STILL_REFERENCED = """
SELECT DISTINCT cache_key FROM translation_requests WHERE completed_at >= $1 AND cache_key = ANY($2::text[])
"""


def cutoff_ms(now_ms: float, retention_days: float) -> int:
    if retention_days <= 0:
        raise ConfigError(f"--retention-days must be positive, got {retention_days}")
    return int(now_ms - retention_days * DAY_MS)


def unreferenced(entries: Iterable[CacheEntry], referenced: set[str], cutoff: int) -> list[str]:
    """Entries created before the cutoff that no remaining request row points at. Younger entries
    are kept whatever Postgres says (their rows may not be written yet)."""
    return sorted(e.cache_key for e in entries if e.created_at < cutoff and e.cache_key not in referenced)


async def collect_garbage(
    settings: Settings, *, retention_days: float, dry_run: bool, now_ms: float, batch: int = 5_000
) -> dict[str, Any]:
    cutoff = cutoff_ms(now_ms, retention_days)
    before: datetime = ms_to_datetime(cutoff)
    pool = await create_pool(settings, max_size=1)
    try:
        old_rows = await pool.fetchval(COUNT_OLD, before)
        deleted = 0
        if not dry_run:
            while True:
                status = await pool.execute(DELETE_OLD, before, batch)
                done = int(status.rsplit(" ", 1)[-1])  # "DELETE 5000"
                deleted += done
                if done < batch:
                    break
        view = await load_cache_view(settings)
        candidates = [e for e in view.values() if e.created_at < cutoff]
        keys = [e.cache_key for e in candidates]
        referenced = {r["cache_key"] for r in await pool.fetch(STILL_REFERENCED, before, keys)}
    finally:
        await pool.close()
    victims = unreferenced(candidates, referenced, cutoff)
    if not dry_run:
        await write_tombstones(settings, victims, "gc")
    return {
        "dry_run": dry_run,
        "cutoff": before.isoformat(),
        "request_rows_older": old_rows,
        "request_rows_deleted": deleted,
        "cache_entries": len(view),
        ("cache_entries_to_tombstone" if dry_run else "cache_entries_tombstoned"): len(victims),
    }
