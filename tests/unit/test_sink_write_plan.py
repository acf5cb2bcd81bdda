"""The pure parts of the sink's write: which translations are COPYed, upserted or left alone, rows
as unnest() arrays, and the array types against the schema."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from linguaflow.sinks.migrate import bundled_migrations
from linguaflow.sinks.postgres import ARRAY_TYPES, INSERT_REQUESTS, UPSERT_TRANSLATIONS
from linguaflow.sinks.rows import REQUEST_COLUMNS, TRANSLATION_COLUMNS, as_columns, split_by_stored_version
from tests.factories import translation_result


def test_split_by_stored_version() -> None:
    results = [
        translation_result(cache_key="absent", version=5),
        translation_result(cache_key="older", version=5),
        translation_result(cache_key="same", version=5),
        translation_result(cache_key="newer", version=5),
        translation_result(cache_key="absent-too", version=1),
    ]
    absent, newer = split_by_stored_version(results, {"older": 4, "same": 5, "newer": 6})
    assert [r.cache_key for r in absent] == ["absent", "absent-too"]
    assert [r.cache_key for r in newer] == ["older"]


@given(
    versions=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 5)),
    stored=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 5)),
)
def test_only_what_the_version_guard_would_leave_alone_is_dropped(
    versions: dict[str, int], stored: dict[str, int]
) -> None:
    results = [translation_result(cache_key=k, version=v) for k, v in versions.items()]
    absent, newer = split_by_stored_version(results, stored)
    assert [r.cache_key for r in absent] == [k for k in versions if k not in stored]
    assert [r.cache_key for r in newer] == [k for k, v in versions.items() if k in stored and stored[k] < v]


def test_as_columns_transposes_and_keeps_the_width_when_empty() -> None:
    assert as_columns([(1, "a"), (2, "b"), (3, "c")], 2) == [[1, 2, 3], ["a", "b", "c"]]
    assert as_columns([], 3) == [[], [], []]


def test_unnest_array_types_are_the_declared_column_types() -> None:
    sql = bundled_migrations()[0].sql
    declared: dict[str, str] = {}
    for table in ("translations", "translation_requests"):
        body = sql.split(f"CREATE TABLE {table} (", 1)[1].split(");", 1)[0]
        for line in body.strip().splitlines():
            name, sql_type = line.split()[:2]
            declared[name] = re.sub(r"\(.*", "", sql_type.rstrip(","))
    for statement, columns in (
        (UPSERT_TRANSLATIONS, TRANSLATION_COLUMNS),
        (INSERT_REQUESTS, REQUEST_COLUMNS),
    ):
        arrays = re.findall(r"\$(\d+)::(\w+)\[\]", statement)
        assert [int(n) for n, _ in arrays] == list(range(1, len(columns) + 1))
        assert [t for _, t in arrays] == [declared[c] for c in columns]
    assert set(ARRAY_TYPES) <= set(declared)
