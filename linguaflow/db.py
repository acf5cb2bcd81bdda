"""Database access for the CLI and the sink: the URL (DATABASE_URL, else the embedded server that
`linguaflow up` starts on 127.0.0.1:PG_PORT) and a connection pool."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from linguaflow.errors import InfraError
from linguaflow.settings import Settings

log = logging.getLogger("linguaflow")


def embedded_url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


_noticed: set[int] = set()  # the embedded ports already announced


def database_url(settings: Settings) -> str:
    """DATABASE_URL, else the embedded server's address, said once per process: a user who meant
    to set DATABASE_URL learns why the rows are not where they look."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    if settings.pg_port not in _noticed:
        _noticed.add(settings.pg_port)
        log.warning(
            "DATABASE_URL is unset: using the embedded Postgres on 127.0.0.1:%d (LINGUAFLOW_PG_PORT, "
            "started by `linguaflow up`)",
            settings.pg_port,
        )
    return embedded_url(settings.pg_port)


async def create_pool(
    settings: Settings, *, max_size: int = 4, init: Callable[[Any], Awaitable[None]] | None = None
) -> Any:
    """``init`` runs once on every new connection (asyncpg's hook for per-connection setup). A
    database that cannot be reached is an ``InfraError`` naming the host and what to check."""
    url = database_url(settings)
    try:
        return await asyncpg.create_pool(url, min_size=1, max_size=max_size, init=init)
    except (OSError, TimeoutError) as exc:
        where = urlsplit(url)
        source = (
            "DATABASE_URL" if settings.database_url is not None else "the embedded server: `linguaflow up`?"
        )
        raise InfraError(
            f"cannot reach Postgres at {where.hostname}:{where.port or 5432} ({source}): {exc}"
        ) from None
