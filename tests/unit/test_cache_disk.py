"""The cache table on disk (streams/cache_disk.py), on real RocksDB files in a temporary folder:
the same log semantics as the memory store, partitions held and dropped, and the checkpoint a
clean stop leaves for the next start."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linguaflow.streams.cache_disk import (
    Checkpoint,
    DiskEntries,
    checkpoint_offsets,
    decode_checkpoint,
    encode_checkpoint,
    retention_s,
    usable_offsets,
)
from tests.unit.test_cache_store import Rec, records, replay


def entries(root: Path) -> DiskEntries:
    return DiskEntries(root, 8, 2, lambda key: key[0] % 2)  # b"a" -> 1, b"b" -> 0, ...


def held(root: Path, partitions: set[int], counts: dict[int, int] | None = None) -> DiskEntries:
    disk = entries(root)
    disk.hold(partitions, set() if counts else partitions, counts or {})
    return disk


@settings(max_examples=40, deadline=None)
@given(records, st.integers(min_value=1, max_value=40))
def test_the_last_write_of_a_key_wins_and_a_tombstone_deletes_it(log: list[Rec], chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        disk = held(Path(tmp), {0, 1})
        log = [Rec(r.key, r.value, r.key[0] % 2) for r in log if r.key is not None]
        for i in range(0, len(log), chunk):  # fetches of any size: a key may repeat within one
            disk.apply(log[i : i + chunk])
        assert dict(disk.items()) == replay(log)
        assert len(disk) == len(replay(log))
        disk.close("cache", {}, now=0.0)


def test_the_mapping_reads_and_writes_the_database_of_the_keys_partition(tmp_path: Path) -> None:
    disk = held(tmp_path, {0, 1})
    disk[b"a"] = b"1"
    disk[b"b"] = b"2"
    disk[b"a"] = b"3"  # an overwrite is not a new entry
    assert (disk[b"a"], disk.get(b"b"), disk.get(b"c"), len(disk)) == (b"3", b"2", None, 2)
    assert b"a" in disk
    assert b"c" not in disk
    del disk[b"a"]
    with pytest.raises(KeyError):
        del disk[b"a"]
    with pytest.raises(KeyError):
        disk[b"a"]
    assert (sorted(disk), len(disk)) == ([b"b"], 1)


def test_memory_reports_the_shared_cache_and_what_each_database_holds_outside_it(tmp_path: Path) -> None:
    assert entries(tmp_path).memory() == {
        "cache_capacity": 8 << 20,
        "cache_usage": 0,
        "cache_pinned": 0,
        "memtables": 0,
        "table_readers": 0,
    }  # no partition held yet
    disk = held(tmp_path, {0, 1})
    empty = disk.memory()
    for i in range(2_000):
        disk[b"%d-key" % i] = b"v" * 200
    full = disk.memory()
    assert full["cache_capacity"] == 8 << 20
    assert full["memtables"] > empty["memtables"] + 2_000 * 200  # both databases' memtables
    assert 0 < full["cache_usage"] <= full["cache_capacity"]  # memtables are charged to the cache


def test_a_key_of_a_partition_not_held_is_absent_and_written_to_the_changelog_only(tmp_path: Path) -> None:
    disk = held(tmp_path, {0})
    disk[b"a"] = b"1"  # partition 1
    assert (disk.get(b"a"), len(disk), sorted(p.name for p in tmp_path.glob("p*"))) == (None, 0, ["p0"])


def test_holding_other_partitions_drops_the_rest_and_empties_those_read_whole(tmp_path: Path) -> None:
    disk = held(tmp_path, {0, 1})
    disk.apply([Rec(b"a", b"1", 1), Rec(b"b", b"2", 0), Rec(b"d", b"4", 0)])
    assert disk.hold({0, 1}, {0}, {}) == 2  # partition 0 is read again from its beginning
    assert dict(disk.items()) == {b"a": b"1"}
    assert disk.hold({0}, set(), {}) == 1  # partition 1 went to another worker
    assert (dict(disk.items()), sorted(p.name for p in tmp_path.glob("p*"))) == ({}, ["p0"])


def test_a_clean_stop_leaves_a_checkpoint_the_next_start_reads_on_from(tmp_path: Path) -> None:
    disk = held(tmp_path, {0, 1})
    disk.apply([Rec(b"a", b"1", 1), Rec(b"b", b"2", 0), Rec(b"d", b"4", 0)])
    disk.close("cache", {0: 17, 1: 5, 3: 9}, now=1000.0)  # 3 is not held: not in the checkpoint

    again = entries(tmp_path)
    checkpoint = again.take_checkpoint()
    assert checkpoint == Checkpoint("cache", 1000.0, {0: 17, 1: 5}, {0: 2, 1: 1})
    assert again.take_checkpoint() is None  # taken: a crash from now on leaves none
    again.hold({0, 1}, set(), checkpoint.counts)
    assert (dict(again.items()), len(again)) == ({b"a": b"1", b"b": b"2", b"d": b"4"}, 3)


def test_a_start_after_a_crash_finds_no_checkpoint_and_reads_every_partition_whole(tmp_path: Path) -> None:
    disk = held(tmp_path, {0, 1})
    disk.apply([Rec(b"a", b"1", 1)])
    assert entries(tmp_path).take_checkpoint() is None


def test_a_checkpoint_is_used_only_for_its_topic_and_within_the_tombstone_retention() -> None:
    checkpoint = Checkpoint("cache", 1000.0, {0: 17}, {0: 2})
    assert usable_offsets(checkpoint, "cache", 1000.0 + 86_400, 86_400) == {0: 17}
    assert usable_offsets(checkpoint, "cache", 1000.0 + 86_401, 86_400) == {}
    assert usable_offsets(checkpoint, "other", 1000.0, 86_400) == {}
    assert usable_offsets(None, "cache", 1000.0, 86_400) == {}
    assert retention_s({}) == 86_400
    assert retention_s({"delete.retention.ms": "100"}) == 0.1


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"[]", b'{"topic": "t"}', b'{"topic":"t","written_at":1,"partitions":{"x":[1,2]}}']
)
def test_an_unreadable_checkpoint_is_no_checkpoint(raw: bytes) -> None:
    assert decode_checkpoint(raw) is None


def test_a_checkpoint_survives_its_encoding() -> None:
    checkpoint = Checkpoint("cache", 12.5, {0: 17, 3: 0}, {0: 2, 3: 0})
    assert decode_checkpoint(encode_checkpoint(checkpoint)) == checkpoint


def test_the_checkpoint_skips_the_workers_own_writes_only_when_nobody_else_wrote_since_the_load() -> None:
    loaded = {0: 10, 1: 10, 2: 10, 3: 10}
    own = {0: 5, 1: 4, 3: 2}
    ends = {0: 15, 1: 15, 2: 10}  # 1: a record of someone else's; 3: no end offset known
    assert checkpoint_offsets(loaded, own, ends) == {0: 15, 1: 10, 2: 10, 3: 10}
