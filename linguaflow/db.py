"""Database access for the CLI and the sink: the URL (DATABASE_URL, else the embedded server that
`linguaflow up` starts on 127.0.0.1:PG_PORT) and a connection pool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from linguaflow.settings import Settings


def embedded_url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return embedded_url(settings.pg_port)


async def create_pool(
    settings: Settings, *, max_size: int = 4, init: Callable[[Any], Awaitable[None]] | None = None
) -> Any:
    """``init`` runs once on every new connection (asyncpg's hook for per-connection setup)."""
    return await asyncpg.create_pool(database_url(settings), min_size=1, max_size=max_size, init=init)
