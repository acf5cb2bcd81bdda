"""The cache table on disk: one RocksDB (rocksdict) per assigned changelog partition, in a memory
budget of ``CACHE_DISK_MEMORY_MIB`` (block cache, index and filter blocks and memtables charged to
one LRU cache), so the worker's memory stays flat however many entries the cache holds.

The changelog is the truth; a database holds what was read of it (see streams/cache_store.py) and
writes nothing durable of its own until a clean stop: no write-ahead log, and on stop the
memtables are flushed and a checkpoint records, per partition, the offset up to which its database
holds the log: the end offset when every record since the last load is one of this worker's own
writes (the common case: the partition's owner is its only writer), else where that load ended.
A worker that starts finds the checkpoint (and removes it: after a crash there is none) and reads
each partition on from there; a partition without one is emptied and read whole. A
checkpoint older than the topic's ``delete.retention.ms`` is ignored: tombstones written since may
have been compacted away, and reading on would keep the entries they deleted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch, WriteBufferManager, WriteOptions

if TYPE_CHECKING:
    from linguaflow.streams.cache_store import Record

CHECKPOINT = "checkpoint.json"
KAFKA_DELETE_RETENTION_MS = 86_400_000  # the broker's default delete.retention.ms


@dataclass(frozen=True)
class Checkpoint:
    topic: str
    written_at: float  # wall clock, seconds
    offsets: dict[int, int]  # partition -> end offset its last load read up to
    counts: dict[int, int]  # partition -> entries held


def usable_offsets(checkpoint: Checkpoint | None, topic: str, now: float, max_age_s: float) -> dict[int, int]:
    """The offsets to read on from: none when there is no checkpoint, it is of another topic, or
    older than ``max_age_s`` (the topic's tombstone retention)."""
    if checkpoint is None or checkpoint.topic != topic or now - checkpoint.written_at > max_age_s:
        return {}
    return dict(checkpoint.offsets)


def checkpoint_offsets(
    loaded: Mapping[int, int], own: Mapping[int, int], ends: Mapping[int, int]
) -> dict[int, int]:
    """Where the next start reads each partition on from: its end offset now (``ends``) when every
    record after the last load is one of this worker's own writes (``own``: how many it delivered
    there since), which its database holds already; else where the last load ended."""
    return {
        p: ends[p] if p in ends and ends[p] - offset == own.get(p, 0) else offset
        for p, offset in loaded.items()
    }


def retention_s(topic_config: Mapping[str, str]) -> float:
    return int(topic_config.get("delete.retention.ms", KAFKA_DELETE_RETENTION_MS)) / 1000


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    return orjson.dumps(
        {
            "topic": checkpoint.topic,
            "written_at": checkpoint.written_at,
            "partitions": {str(p): [o, checkpoint.counts.get(p, 0)] for p, o in checkpoint.offsets.items()},
        }
    )


def decode_checkpoint(raw: bytes) -> Checkpoint | None:
    """None for anything unreadable: the partitions are then read whole."""
    try:
        doc = orjson.loads(raw)
        parts = {int(p): (int(o), int(n)) for p, (o, n) in doc["partitions"].items()}
        return Checkpoint(
            str(doc["topic"]),
            float(doc["written_at"]),
            {p: o for p, (o, _) in parts.items()},
            {p: n for p, (_, n) in parts.items()},
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _options(budget: int, partitions: int) -> Options:
    """RocksDB's options for ``budget`` bytes in all, shared by the ``partitions`` databases."""
    cache = Cache(budget)
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    table.set_bloom_filter(10, False)  # a miss (a new text) rarely reads a block
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_block_based_table_factory(table)
    # memtables charged to the same cache: one limit for all of RocksDB's memory
    manager = WriteBufferManager.new_write_buffer_manager_with_cache(budget // 2, False, cache)
    options.set_write_buffer_manager(manager)
    options.set_write_buffer_size(max(1 << 20, budget // 4 // max(partitions, 1)))
    options.set_max_write_buffer_number(2)
    return options  # the cache lives as long as the options that share it


class DiskEntries(MutableMapping[bytes, bytes]):
    """The entries of the assigned partitions, one database each under ``root``; a key is looked up
    in the database of its partition (``partition_of``: the changelog's partitioner)."""

    def __init__(
        self, root: Path, memory_mib: int, partitions: int, partition_of: Callable[[bytes], int]
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._budget = memory_mib << 20
        self._options = _options(self._budget, partitions)
        self._write = WriteOptions()
        self._write.disable_wal = True  # type: ignore[assignment,method-assign]  # durability is the changelog's; see the module docstring
        self._partition_of = partition_of
        self._dbs: dict[int, Rdict] = {}
        self._counts: dict[int, int] = {}

    # --- the mapping (a key of a partition not held is absent) ---------------------------------
    def _db(self, key: bytes) -> Rdict | None:
        return self._dbs.get(self._partition_of(key))

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        db = self._db(key)
        value: bytes | None = None if db is None else db.get(key)
        return default if value is None else value

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.get(key) is not None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        """A write of a partition not held here (a call that finished as its partition moved) is
        in the changelog only, where the partition's owner reads it."""
        partition = self._partition_of(key)
        db = self._dbs.get(partition)
        if db is None:
            return
        if db.get(key) is None:
            self._counts[partition] += 1
        db.put(key, value, self._write)

    def __delitem__(self, key: bytes) -> None:
        partition = self._partition_of(key)
        db = self._dbs.get(partition)
        if db is None or db.get(key) is None:
            raise KeyError(key)
        db.delete(key, self._write)
        self._counts[partition] -= 1

    def __iter__(self) -> Iterator[bytes]:
        for db in list(self._dbs.values()):
            yield from db.keys()

    def __len__(self) -> int:
        return sum(self._counts.values())

    def clear(self) -> None:
        for partition in list(self._dbs):
            self._reset(partition)

    # --- loading and lifecycle -------------------------------------------------------------------
    def _path(self, partition: int) -> Path:
        return self.root / f"p{partition}"

    def _open(self, partition: int, count: int) -> None:
        self._dbs[partition] = Rdict(str(self._path(partition)), self._options)
        self._counts[partition] = count

    def _reset(self, partition: int) -> None:
        """Empty (or create) the database of ``partition``."""
        self._close(partition)
        shutil.rmtree(self._path(partition), ignore_errors=True)
        self._open(partition, 0)

    def _close(self, partition: int) -> int:
        db = self._dbs.pop(partition, None)
        if db is None:
            return 0
        db.close()
        return self._counts.pop(partition, 0)

    def hold(self, keep: set[int], whole: set[int], counts: Mapping[int, int]) -> int:
        """Hold the partitions ``keep``: those read whole start empty, the others keep their data
        (``counts``: entries of those opened from a checkpoint); every other partition's database
        is removed (also those left on disk by an earlier run). Returns how many entries went."""
        dropped = 0
        for partition in set(self._dbs) - keep:
            dropped += self._close(partition)
        kept = {self._path(partition) for partition in keep}
        for path in self.root.glob("p*"):
            if path not in kept:
                shutil.rmtree(path, ignore_errors=True)
        for partition in sorted(keep):
            if partition in whole:
                dropped += self._counts.get(partition, 0)
                self._reset(partition)
            elif partition not in self._dbs:
                self._open(partition, counts.get(partition, 0))
        return dropped

    def apply(self, records: Iterable[Record]) -> None:
        """Changelog records in log order, one write batch per partition: the last write of a key
        wins, a tombstone deletes it."""
        by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for record in records:
            if record.key is not None:
                by_partition.setdefault(record.partition, []).append((record.key, record.value))
        for partition, batch in by_partition.items():
            db = self._dbs[partition]
            keys: list[bytes] = [key for key, _ in batch]
            found: list[bytes | None] = db.get(keys)  # type: ignore[arg-type,assignment]  # one multi-get
            present = dict(zip(keys, (v is not None for v in found), strict=True))
            write, count = WriteBatch(raw_mode=True), 0
            for key, value in batch:
                if value is None:
                    write.delete(key)
                    count -= present[key]
                else:
                    write.put(key, value)
                    count += not present[key]
                present[key] = value is not None
            db.write(write, self._write)
            self._counts[partition] += count

    def memory(self) -> dict[str, int]:
        """Bytes RocksDB holds, for ``/stats``: the one cache every database shares (its capacity is
        ``CACHE_DISK_MEMORY_MIB``; the memtables are charged to it too), and per database summed:
        the memtables and the table readers' memory outside the cache."""
        dbs = list(self._dbs.values())

        def shared(name: str) -> int:  # any database reads the one cache
            return (dbs[0].property_int_value(name) or 0) if dbs else 0

        def summed(name: str) -> int:
            return sum(db.property_int_value(name) or 0 for db in dbs)

        return {
            "cache_capacity": self._budget,
            "cache_usage": shared("rocksdb.block-cache-usage"),
            "cache_pinned": shared("rocksdb.block-cache-pinned-usage"),
            "memtables": summed("rocksdb.size-all-mem-tables"),
            "table_readers": summed("rocksdb.estimate-table-readers-mem"),
        }

    def take_checkpoint(self) -> Checkpoint | None:
        """The checkpoint a clean stop left, removed: a crash from now on leaves none."""
        path = self.root / CHECKPOINT
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        path.unlink()
        return decode_checkpoint(raw)

    def close(self, topic: str, loaded: Mapping[int, int], now: float) -> None:
        """Flush every database and write the checkpoint of what they hold (``loaded``: end
        offsets each partition's last load read up to), then close them."""
        for db in self._dbs.values():
            db.flush()
        held = {p: o for p, o in loaded.items() if p in self._dbs}
        checkpoint = Checkpoint(topic, now, held, {p: self._counts[p] for p in held})
        tmp = self.root / f"{CHECKPOINT}.tmp"
        tmp.write_bytes(encode_checkpoint(checkpoint))
        os.replace(tmp, self.root / CHECKPOINT)
        for partition in list(self._dbs):
            self._close(partition)
