"""Who may call the endpoints that act (``POST /flush``): a caller on the same host (loopback:
also ``kubectl port-forward``), or one that shows ``LINGUAFLOW_ADMIN_TOKEN`` as a bearer token.
The read-only pages (``/health``, ``/ready``, ``/stats``, ``/metrics``) stay open."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from linguaflow.settings import Settings


def admin_allowed(remote: str | None, authorization: str | None, token: str | None) -> bool:
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


async def flush_request(
    settings: Settings,
    remote: str | None,
    authorization: str | None,
    flush: Callable[[], Awaitable[int]] | None,
) -> tuple[dict[str, object], int]:
    """``POST /flush`` on a worker or a sink process: who asks, then the flush (``None``: this
    process runs no sink); the answer's body and status."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    allowed = admin_allowed(remote, authorization, token)
    return flush_answer(allowed, await flush() if allowed and flush is not None else None)


def flush_answer(allowed: bool, rows: int | None) -> tuple[dict[str, object], int]:
    """``POST /flush``'s body and status: ``rows`` written and committed, or why not."""
    if not allowed:
        return {"error": "POST /flush is for this host, or needs Authorization: Bearer <ADMIN_TOKEN>"}, 403
    if rows is None:
        return {"error": "this process runs no sink"}, 404
    return {"rows_written": rows}, 200
