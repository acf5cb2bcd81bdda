"""``linguaflow gc``: old request rows go in batches, cache entries nobody references get tombstones."""

from __future__ import annotations

import time

import pytest

from linguaflow.cache_view import load_cache_view
from linguaflow.gc import DAY_MS, collect_garbage
from testbed.services import Stack
from tests.integration.runs import cli_json, run_synthetic

pytestmark = pytest.mark.integration


async def test_gc_deletes_old_rows_in_batches_and_tombstones_entries_no_row_references(stack: Stack) -> None:
    await run_synthetic(stack, 40, 0.0, seed=29, run_id="gc")  # 40 keys, one request each
    keys = sorted(await stack.fetchval("SELECT array_agg(cache_key) FROM translations"))
    young = keys[:10]
    await stack.fetchval(
        "UPDATE translation_requests SET completed_at = completed_at + interval '20 days'"
        " WHERE cache_key = ANY($1)",
        young,
    )
    later = time.time() * 1000 + 40 * DAY_MS  # 40 days on, 30 days' retention: 30 rows are old

    planned = await collect_garbage(stack.settings, retention_days=30, dry_run=True, now_ms=later)
    assert (planned["request_rows_older"], planned["cache_entries_to_tombstone"]) == (30, 30)
    assert await stack.fetchval("SELECT count(*) FROM translation_requests") == 40
    assert len(await load_cache_view(stack.settings)) == 40

    done = await collect_garbage(stack.settings, retention_days=30, dry_run=False, now_ms=later, batch=7)
    assert (done["request_rows_deleted"], done["cache_entries_tombstoned"]) == (30, 30)
    assert sorted(await stack.fetchval("SELECT array_agg(cache_key) FROM translation_requests")) == young
    assert sorted(await load_cache_view(stack.settings)) == young
    assert await stack.fetchval("SELECT count(*) FROM translations") == 40  # the durable record stays

    today = await cli_json(stack, "gc", "--retention-days", "30")  # the plan
    assert (today["request_rows_older"], today["cache_entries_to_tombstone"]) == (0, 0)
