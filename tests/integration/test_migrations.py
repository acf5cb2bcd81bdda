"""``linguaflow db migrate`` on a real Postgres: idempotent, recorded, and strict about history."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest

from linguaflow.errors import ConfigError
from linguaflow.sinks.migrate import bundled_migrations, migrate
from testbed.services import Stack

pytestmark = pytest.mark.integration


async def test_migrate_twice_via_the_cli_changes_nothing_the_second_time(stack: Stack) -> None:
    # make_stack already migrated this database once.
    proc = await stack.cli("db", "migrate")
    assert proc.returncode == 0, proc.stderr
    assert "none (schema is current)" in proc.stdout
    versions = await stack.fetchval("SELECT array_agg(version ORDER BY version) FROM schema_migrations")
    assert versions == [m.version for m in bundled_migrations()]
    assert await stack.fetchval("SELECT to_regclass('translations') IS NOT NULL") is True


async def test_an_applied_migration_that_was_edited_is_refused(stack: Stack) -> None:
    edited = [replace(m, sql=m.sql + "\n-- edited") for m in bundled_migrations()]
    conn = await asyncpg.connect(stack.db_url)
    try:
        with pytest.raises(ConfigError, match="changed after it was applied"):
            await migrate(conn, edited)
    finally:
        await conn.close()


async def test_a_new_migration_is_applied_once(stack: Stack) -> None:
    extra = [
        *bundled_migrations(),
        replace(bundled_migrations()[0], version=9999, name="extra", sql="SELECT 1"),
    ]
    conn = await asyncpg.connect(stack.db_url)
    try:
        assert [m.version for m in await migrate(conn, extra)] == [9999]
        assert await migrate(conn, extra) == []
    finally:
        await conn.close()
