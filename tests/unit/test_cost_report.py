"""The pure half of ``linguaflow cost``: the grouped SQL and the table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from linguaflow.cost import cost_sql, format_table
from linguaflow.errors import ConfigError


def test_sql_groups_by_the_chosen_columns_only() -> None:
    sql = cost_sql(["provider", "day"])
    assert "provider AS provider" in sql
    assert "::date AS day" in sql
    assert "GROUP BY 1, 2 ORDER BY 1, 2" in sql
    for bad in ([], ["provider; DROP TABLE x"], ["cost"]):
        with pytest.raises(ConfigError):
            cost_sql(bad)


def test_table_has_a_total_line() -> None:
    rows = [
        {"provider": "deepl", "requests": 3, "misses": 2, "billed_chars": 40, "cost": Decimal("0.001")},
        {"provider": "google", "requests": 1, "misses": 1, "billed_chars": 10, "cost": Decimal("0.0002")},
    ]
    assert format_table(rows, ["provider"]).splitlines() == [
        "provider  requests  misses  billed_chars  cost",
        "deepl     3         2       40            0.001000",
        "google    1         1       10            0.000200",
        "total     4         3       50            0.001200",
    ]
