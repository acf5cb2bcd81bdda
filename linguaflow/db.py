"""Database access for the CLI and the sink: the URL (DATABASE_URL, else the embedded server) and
a connection pool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from linguaflow.local.postgres import EmbeddedPostgres
from linguaflow.settings import Settings


def embedded(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.pg_data_dir, settings.pg_port)


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return embedded(settings).url


async def create_pool(
    settings: Settings, *, max_size: int = 4, init: Callable[[Any], Awaitable[None]] | None = None
) -> Any:
    """``init`` runs once on every new connection (asyncpg's hook for per-connection setup)."""
    return await asyncpg.create_pool(database_url(settings), min_size=1, max_size=max_size, init=init)
