"""Helpers for the replay and cache tests: a pipeline run to build data from, table snapshots,
committed offsets of a group, a fresh database."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import orjson
from aiokafka.admin import AIOKafkaAdminClient

from linguaflow.infra import migrate_db
from linguaflow.produce import publish
from linguaflow.synthetic import synthetic_requests
from testbed.services import Stack, WorkerProcess

ROWS_FOR = "SELECT count(*) FROM translation_requests WHERE request_id LIKE $1"
# Every column but written_at (when the row was written, which a rebuild changes by design).
TRANSLATIONS = (
    "SELECT cache_key, tenant, source_lang, target_lang, format, source_text, translated_text,"
    " provider, model, version, translated_at FROM translations ORDER BY cache_key"
)
REQUESTS = (
    "SELECT request_id, cache_key, tenant, user_id, outcome, provider, billed_chars, cost, latency_ms,"
    " requested_at, completed_at FROM translation_requests ORDER BY request_id"
)


async def run_synthetic(
    stack: Stack, count: int, dup_ratio: float, *, seed: int, run_id: str, worker: WorkerProcess | None = None
) -> None:
    """Publish ``count`` synthetic requests and wait until each is a row (starting a worker and
    stopping it again unless one is given)."""
    running = worker or stack.start_worker().wait_ready()
    now = int(time.time() * 1000)
    items = synthetic_requests(count, dup_ratio, seed=seed, now_ms=now, run_id=run_id)
    report = await publish(stack.settings, items, total=count, now_ms=now, progress=False)
    assert report.sent == count
    assert await stack.wait_for(ROWS_FOR, count, f"{run_id}-%") == count, running.log_tail()
    if worker is None:
        assert running.stop() == 0, running.log_tail()


async def snapshot(stack: Stack) -> tuple[list[Any], list[Any]]:
    conn = await asyncpg.connect(stack.db_url)
    try:
        return [tuple(r) for r in await conn.fetch(TRANSLATIONS)], [
            tuple(r) for r in await conn.fetch(REQUESTS)
        ]
    finally:
        await conn.close()


async def use_fresh_database(stack: Stack, name: str) -> None:
    """Point the stack at a new, migrated, empty database (as after restoring an empty one)."""
    conn = await asyncpg.connect(stack.admin_db_url)
    try:
        database = f"{stack.settings.app_id}_{name}"
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    stack.env["DATABASE_URL"] = stack.admin_db_url.rsplit("/", 1)[0] + f"/{database}"
    await migrate_db(stack.settings)


async def committed_offsets(stack: Stack, group: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {f"{tp.topic}:{tp.partition}": meta.offset for tp, meta in found.items()}


async def cli_json(stack: Stack, *args: str) -> dict[str, Any]:
    """``linguaflow ARGS`` that must succeed and print a JSON report."""
    proc = await stack.cli(*args)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = orjson.loads(proc.stdout)
    return report
