"""fold_cache_records: the cache topic's records in log order -> the live entries; and what an
encoded entry costs in memory."""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from linguaflow.cache_view import CacheRecord, fold_cache_records
from linguaflow.schemas import CacheEntry, encode
from tests.factories import cache_entry


def entry(key: str, version: int) -> CacheEntry:
    return cache_entry(cache_key=key, version=version)


def record(key: str, value: bytes | None, offset: int = 0) -> CacheRecord:
    return CacheRecord(key.encode(), value, 0, offset)


# An operation is (key, version) to write, or (key, None) for a tombstone.
ops = st.lists(st.tuples(st.sampled_from("abcd"), st.one_of(st.none(), st.integers(1, 10**6))))


@given(ops)
def test_the_view_is_the_last_write_of_every_key_and_tombstones_remove(writes: list) -> None:
    records = [
        record(key, None if version is None else encode(entry(key, version)), offset)
        for offset, (key, version) in enumerate(writes)
    ]
    model: dict[str, int] = {}
    for key, version in writes:
        if version is None:
            model.pop(key, None)
        else:
            model[key] = version
    view = fold_cache_records(records)
    assert {k: e.version for k, e in view.items()} == model
    assert view.records == len(writes)
    assert not view.problems


def test_unusable_records_are_reported_and_supersede_the_previous_value() -> None:
    records = [
        record("a", encode(entry("a", 1)), 0),
        record("a", b"{not json", 1),  # the newest write of "a" is garbage: "a" is not served
        CacheRecord(b"\xff", encode(entry("b", 1)), 0, 2),
        CacheRecord(None, encode(entry("c", 1)), 0, 3),
        record("d", encode(entry("other", 1)), 4),
        record("e", b'{"schema_version": 99}', 5),
        record("f", encode(entry("f", 2)), 6),
    ]
    view = fold_cache_records(records)
    assert dict(view) == {"f": entry("f", 2)}
    assert [(p.offset, p.key, p.reason) for p in view.problems] == [
        (1, "a", "schema"),
        (2, None, "bad_key"),
        (3, None, "bad_key"),
        (4, "d", "key_mismatch"),
        (5, "e", "unsupported_schema_version"),
    ]
    assert view.get("a") is None


def test_an_encoded_entry_holds_its_length_in_memory_not_orjsons_4_kib_buffer() -> None:
    entry = cache_entry()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode(entry) for _ in range(200)]
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert len(kept[0]) < 400
    assert per_entry < 600  # ~4,100 bytes when orjson's buffer is kept
