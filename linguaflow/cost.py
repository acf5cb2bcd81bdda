"""``linguaflow cost``: what the providers charged, from ``translation_requests`` (only the miss
that caused a provider call carries billed characters and cost), grouped by provider, tenant
and/or day (UTC). The SQL is assembled from a fixed set of group columns; values are parameters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from linguaflow.db import create_pool
from linguaflow.errors import ConfigError
from linguaflow.settings import Settings

GROUPS = {
    "provider": "provider",
    "tenant": "tenant",
    "day": "(completed_at AT TIME ZONE 'UTC')::date",
}


def cost_sql(by: Sequence[str]) -> str:
    unknown = [g for g in by if g not in GROUPS]
    if unknown or not by:
        raise ConfigError(f"--by takes {', '.join(GROUPS)} (comma-separated), got {','.join(by)!r}")
    columns = ", ".join(f"{GROUPS[g]} AS {g}" for g in by)
    positions = ", ".join(str(i) for i in range(1, len(by) + 1))
    return (
        f"SELECT {columns}, count(*) AS requests, count(*) FILTER (WHERE outcome = 'miss') AS misses,"  # noqa: S608
        " sum(billed_chars)::bigint AS billed_chars, sum(cost) AS cost"
        " FROM translation_requests WHERE completed_at >= $1 AND completed_at < $2"
        f" GROUP BY {positions} ORDER BY {positions}"
    )


async def cost_report(
    settings: Settings, by: Sequence[str], since: date | None, until: date | None
) -> list[dict[str, Any]]:
    start = datetime.combine(since or date.min, time.min, UTC)
    end = datetime.combine(until or date.max, time.max, UTC)
    pool = await create_pool(settings, max_size=1)
    try:
        return [dict(row) for row in await pool.fetch(cost_sql(by), start, end)]
    finally:
        await pool.close()


def format_table(rows: Sequence[dict[str, Any]], by: Sequence[str]) -> str:
    """Rows as aligned text columns, with a total line."""
    headers = [*by, "requests", "misses", "billed_chars", "cost"]
    total: dict[str, Any] = {"requests": 0, "misses": 0, "billed_chars": 0, "cost": Decimal(0)}
    lines = [headers]
    for row in rows:
        for key in total:
            total[key] += row[key] or 0
        lines.append([_cell(row[h]) for h in headers])
    lines.append(["total", *[""] * (len(by) - 1), *(_cell(total[k]) for k in total)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _cell(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:.6f}"
    return "" if value is None else str(value)
