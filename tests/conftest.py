"""Session-wide real infrastructure for the integration and e2e tiers (never mocked, never skipped)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from linguaflow.local.postgres import EmbeddedPostgres
from testbed.services import Broker, Stack, free_port, make_stack, scratch_dir, start_broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    try:
        started = start_broker(tmp_path_factory.mktemp("kafka"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield started
    if started.data_dir is not None:
        started.script("stop")


@pytest.fixture(scope="session")
def admin_db_url() -> Iterator[str]:
    external = os.environ.get("LINGUAFLOW_TEST_DATABASE_URL")
    if external:
        yield external
        return
    home = scratch_dir("pg")
    server = EmbeddedPostgres(home / "data", free_port())
    try:
        server.start()
    except Exception as exc:
        pytest.fail(f"embedded PostgreSQL did not start (integration tests need it): {exc}", pytrace=False)
    yield server.url
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def stack(broker: Broker, admin_db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """A private slice (topics, groups, database, web port) of the shared broker and Postgres."""
    created = await make_stack(broker, admin_db_url, tmp_path)
    yield created
    for worker in created.workers:
        worker.kill()
