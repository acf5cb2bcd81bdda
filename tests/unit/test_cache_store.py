"""The cache store's pure core: changelog records applied in log order, where each partition is
read from after a rebalance, and dropping the keys of partitions given away."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from linguaflow.streams.cache_store import Reads, apply_records, keep_only, plan_reads


@dataclass(frozen=True)
class Rec:
    key: bytes | None
    value: bytes | None
    partition: int


KEYS = [b"a", b"b", b"c", b"d", b"e"]
records = st.lists(
    st.builds(
        lambda key, value: Rec(key, value, KEYS.index(key) % 2),  # a key always sits on one partition
        st.sampled_from(KEYS),
        st.one_of(st.none(), st.binary(min_size=1, max_size=3)),
    ),
    max_size=40,
)


def replay(log: list[Rec]) -> dict[bytes, bytes]:
    """The model: a compacted topic's meaning, key by key."""
    table: dict[bytes, bytes] = {}
    for r in log:
        assert r.key is not None
        if r.value is None:
            table.pop(r.key, None)
        else:
            table[r.key] = r.value
    return table


@given(records)
def test_the_last_write_of_a_key_wins_and_a_tombstone_deletes_it(log: list[Rec]) -> None:
    data: dict[bytes, bytes] = {}
    partition_of: dict[bytes, int] = {}
    apply_records(data, partition_of, log)
    assert data == replay(log)
    assert partition_of == {key: KEYS.index(key) % 2 for key in data}


def test_a_tombstone_for_an_unknown_key_and_a_record_without_key_change_nothing() -> None:
    data, partition_of = {b"a": b"1"}, {b"a": 0}
    apply_records(data, partition_of, [Rec(b"zz", None, 1), Rec(None, b"x", 0)])
    assert (data, partition_of) == ({b"a": b"1"}, {b"a": 0})


@given(records, st.integers(min_value=0, max_value=40), st.data())
def test_reading_on_from_the_last_load_over_own_writes_equals_reading_everything(
    log: list[Rec], cut: int, draw: st.DataObject
) -> None:
    """What a partition that stays assigned relies on: the table holds the log up to the last load
    plus some of this worker's writes, which are in the log after it; reading the rest of the log
    in order then gives the same table as reading the whole log."""
    cut = min(cut, len(log))
    own = [r for r in log[cut:] if draw.draw(st.booleans())]
    data: dict[bytes, bytes] = {}
    partition_of: dict[bytes, int] = {}
    apply_records(data, partition_of, log[:cut])
    apply_records(data, partition_of, own)  # written by this worker, in memory at once
    apply_records(data, partition_of, log[cut:])
    assert data == replay(log)


def test_a_partition_is_read_on_from_the_last_load_when_its_log_continues_from_there() -> None:
    loaded = {0: 100, 1: 50, 2: 10, 3: 7}
    bounds = {0: (0, 120), 1: (0, 50), 2: (0, 5), 3: (9, 30), 4: (0, 40)}
    assert plan_reads(loaded, bounds) == Reads(
        starts={0: 100, 1: 50, 2: 0, 3: 9, 4: 0},
        # 2: the log ends before the last load (topic recreated); 3: it begins after it; 4: new
        whole=frozenset({2, 3, 4}),
    )


def test_nothing_loaded_yet_means_every_partition_is_read_whole() -> None:
    assert plan_reads({}, {0: (0, 0), 1: (3, 9)}) == Reads({0: 0, 1: 3}, frozenset({0, 1}))


def test_keys_of_partitions_not_kept_are_dropped() -> None:
    data = {b"a": b"1", b"b": b"2", b"c": b"3"}
    partition_of = {b"a": 0, b"b": 1, b"c": 2}
    assert keep_only(data, partition_of, {0, 2}) == 1
    assert (data, partition_of) == ({b"a": b"1", b"c": b"3"}, {b"a": 0, b"c": 2})
    assert keep_only(data, partition_of, set()) == 2
    assert (data, partition_of) == ({}, {})
