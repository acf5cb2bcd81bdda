"""``up`` and ``down``: the local broker and database, the schema and the topics."""

from __future__ import annotations

import asyncio

from linguaflow.db import create_pool
from linguaflow.kafka import ensure_topics
from linguaflow.local.kafka import kafka_script
from linguaflow.local.postgres import EmbeddedPostgres
from linguaflow.settings import Settings
from linguaflow.sinks.migrate import migrate


async def migrate_db(settings: Settings) -> list[str]:
    pool = await create_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            return [f"{m.version:04d}_{m.name}" for m in await migrate(conn)]
    finally:
        await pool.close()


def up(settings: Settings, *, start_kafka: bool = True) -> None:
    if start_kafka:
        kafka_script(settings, "start")
    if settings.database_url is None:
        EmbeddedPostgres(settings.pg_data_dir, settings.pg_port).start()
    applied = asyncio.run(migrate_db(settings))
    created = asyncio.run(ensure_topics(settings))
    print(
        f"up: kafka {settings.kafka_bootstrap}, postgres ready, migrations applied {applied or 'none'},"
        f" topics created {created or 'none'}"
    )


def down(settings: Settings) -> None:
    kafka_script(settings, "stop")
    if settings.database_url is None:
        EmbeddedPostgres(settings.pg_data_dir, settings.pg_port).stop()
    print("down: broker and embedded postgres stopped")
