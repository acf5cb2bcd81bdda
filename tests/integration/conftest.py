"""Fixtures of the integration tier beyond the session-wide ones in tests/conftest.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

from testbed.services import Stack, make_stack, scratch_dir, start_broker


@pytest.fixture
async def own_broker(admin_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A stack on a broker of its own: these tests stop it."""
    home = scratch_dir("broker")
    broker = start_broker(home)
    stack = await make_stack(broker, admin_db_url, tmp_path_factory.mktemp("own"))
    yield stack
    for worker in stack.workers:
        worker.kill()
    broker.script("stop")
    shutil.rmtree(home, ignore_errors=True)
