"""The cache table and its in-memory store, loaded from the changelog in bulk.

faust recovers a memory table by feeding every changelog record through its consumer, a queue and
per-event bookkeeping (~13,000 entries/s here). This store loads the assigned changelog partitions
itself when partitions are assigned, with a plain consumer in large fetches straight into the dict,
and reports the end offset it read up to as the persisted offset: faust's recovery then finds
nothing left to read (or only what was written since) and the worker is ready at once.

What the table holds after every rebalance: for each assigned partition, the changelog applied in
log order (the last write of a key wins, a tombstone deletes it); nothing of other partitions.
This worker's own writes (``CacheTable._write``) are delivered first, so they are in the topic
before the read.
A partition that stays assigned is read on from where the last load ended: what the table holds
of it is that prefix plus this worker's writes, which are in the changelog after it and are read
again in log order, so writes by anyone else meanwhile also land in the right order. A partition
read for the first time, or whose log no longer continues from there, is dropped and read whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from aiokafka import TopicPartition
from faust.stores.memory import Store as MemoryStore

from linguaflow.kafka import PartitionReader
from linguaflow.settings import Settings
from linguaflow.streams.batch_send import BatchSender
from linguaflow.streams.cache_disk import DiskEntries, checkpoint_offsets, retention_s, usable_offsets

log = logging.getLogger("linguaflow.streams")


class Record(Protocol):
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def partition(self) -> int: ...


@dataclass(frozen=True)
class Reads:
    starts: dict[int, int]  # partition -> offset to read from (up to its end offset)
    whole: frozenset[int]  # partitions read from their beginning: what the table holds of them goes


def plan_reads(loaded: Mapping[int, int], bounds: Mapping[int, tuple[int, int]]) -> Reads:
    """Where to read each assigned partition (``bounds``: its (beginning, end) offsets) given the
    end offsets of the last load (``loaded``). Read on from there when the log still continues from
    it; else read the whole partition."""
    starts, whole = {}, set()
    for partition, (beginning, end) in bounds.items():
        last_end = loaded.get(partition)
        if last_end is not None and beginning <= last_end <= end:
            starts[partition] = last_end
        else:
            starts[partition] = beginning
            whole.add(partition)
    return Reads(starts, frozenset(whole))


def keep_only(
    data: MutableMapping[bytes, bytes], partition_of: MutableMapping[bytes, int], partitions: set[int]
) -> int:
    """Remove every key not of ``partitions``; returns how many."""
    gone = [key for key, partition in partition_of.items() if partition not in partitions]
    for key in gone:
        data.pop(key, None)
        del partition_of[key]
    return len(gone)


def apply_records(
    data: MutableMapping[bytes, bytes], partition_of: MutableMapping[bytes, int], records: Iterable[Record]
) -> None:
    """Changelog records in log order: the last write of a key wins, a tombstone deletes it."""
    for record in records:
        key = record.key
        if key is None:
            continue
        value = record.value
        if value is None:
            data.pop(key, None)
            partition_of.pop(key, None)
        else:
            data[key] = value
            partition_of[key] = record.partition


class CacheStore(MemoryStore[bytes, bytes]):
    """faust's memory store, loaded in bulk on rebalance (see the module docstring). It knows the
    partition of every key (``CacheTable`` tells it those of this worker's own writes)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._loaded: dict[int, int] = {}  # partition -> end offset the last load read up to

    def persisted_offset(self, tp: Any) -> int | None:
        end = self._loaded.get(tp.partition)
        return None if end is None else end - 1  # faust counts the last offset applied

    def get(self, key: bytes, default: Any = None) -> Any:
        """One lookup (faust's ``get`` goes through ``__getitem__``, which asks ``in`` first, and
        raises and catches a KeyError for a key not held)."""
        return self.data.get(key, default)

    def written(self, key: bytes, partition: int, deleted: bool) -> None:
        if not deleted:
            self._key_partition[key] = partition

    def __delitem__(self, key: bytes) -> None:
        del self.data[key]
        self._key_partition.pop(key, None)

    def _hold(self, keep: set[int], reads: Reads) -> int:
        """Keep what is held of the partitions ``keep`` not read whole; returns how many entries went."""
        return keep_only(self.data, self._key_partition, keep - reads.whole)

    def _apply(self, records: list[Any]) -> None:
        apply_records(self.data, self._key_partition, records)

    async def on_rebalance(
        self, assigned: set[Any], revoked: set[Any], newly_assigned: set[Any], generation_id: int = 0
    ) -> None:
        settings: Settings = (self.options or {})["settings"]
        topic = self.table.changelog_topic.get_topic_name()
        keep = {tp.partition for tp in assigned if tp.topic == topic}
        writes: BatchSender = self.options["writes"]  # type: ignore[index]
        await writes.deliver()  # this worker's own writes are in the topic before the read
        started, count = time.monotonic(), 0
        async with PartitionReader(settings) as reader:
            bounds = await reader.bounds([TopicPartition(topic, p) for p in sorted(keep)])
            reads = plan_reads(self._loaded, {tp.partition: b for tp, b in bounds.items()})
            dropped = self._hold(keep, reads)
            ranges = {tp: (reads.starts[tp.partition], end) for tp, (_, end) in bounds.items()}
            async for records in reader.read(ranges):
                self._apply(records)
                count += len(records)
        self._loaded = {tp.partition: end for tp, (_, end) in bounds.items()}
        log.info(
            "cache loaded from the changelog",
            extra={
                "records": count,
                "keys_dropped": dropped,
                "partitions": sorted(keep),
                "read_whole": sorted(reads.whole),
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    async def on_recovery_completed(self, active_tps: set[Any], standby_tps: set[Any]) -> None:
        """Nothing to do: ``on_rebalance`` already dropped the keys of partitions not assigned
        (faust's memory store scans every key here for that)."""


class DiskCacheStore(CacheStore):
    """A ``CacheStore`` whose entries are in RocksDB (``CACHE_STORE=disk``; streams/cache_disk.py):
    after a clean stop its checkpoint says where each partition's load reads on from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # faust's options are set after __post_init__
        settings: Settings = self.options["settings"]  # type: ignore[index]
        writes: BatchSender = self.options["writes"]  # type: ignore[index]
        topic = settings.cache_topic
        self.entries = DiskEntries(
            settings.cache_path,
            settings.cache_disk_memory_mib,
            settings.partitions,
            lambda key: writes.partition_for(topic, key),
        )
        self.data = self.entries
        checkpoint = self.entries.take_checkpoint()
        max_age_s = retention_s(settings.cache_topic_config)
        self._loaded = usable_offsets(checkpoint, topic, time.time(), max_age_s)
        self._checkpoint_counts = {} if checkpoint is None else checkpoint.counts
        self._own: dict[int, int] = {}  # partition -> this worker's writes since the last load
        log.info("cache on disk", extra={"path": str(settings.cache_path), "checkpoint": self._loaded})

    def __getitem__(self, key: bytes) -> bytes:
        return self.entries[key]  # one lookup (faust's asks ``in`` first)

    def written(self, key: bytes, partition: int, deleted: bool) -> None:
        """Counted (a key's database is found by its partition): the checkpoint may skip this
        worker's own writes since the last load, which its databases hold already."""
        self._own[partition] = self._own.get(partition, 0) + 1

    def __delitem__(self, key: bytes) -> None:
        del self.entries[key]

    def _hold(self, keep: set[int], reads: Reads) -> int:
        dropped = self.entries.hold(keep, set(reads.whole), self._checkpoint_counts)
        self._checkpoint_counts, self._own = {}, {}  # the load reads every write made up to here
        return dropped

    def _apply(self, records: list[Any]) -> None:
        self.entries.apply(records)

    async def close(self) -> None:
        """On a clean stop (after the agents and evictions stopped): flush, checkpoint, close."""
        settings: Settings = self.options["settings"]  # type: ignore[index]
        writes: BatchSender = self.options["writes"]  # type: ignore[index]
        topic, ends = settings.cache_topic, {}
        try:
            await writes.deliver()
            async with PartitionReader(settings) as reader:
                bounds = await reader.bounds([TopicPartition(topic, p) for p in sorted(self._loaded)])
            ends = {tp.partition: end for tp, (_, end) in bounds.items()}
        except Exception:  # the broker is gone: read on from the last load instead
            log.warning("cache checkpoint without end offsets", exc_info=True)
        offsets = checkpoint_offsets(self._loaded, self._own, ends)
        self.entries.close(topic, offsets, time.time())


class CacheTable(faust.Table[bytes, bytes]):
    """A faust Table on a ``CacheStore``; it tells the store the partition of every write."""

    def _new_store_by_url(self, url: Any) -> CacheStore:
        settings: Settings = self.options["settings"]  # type: ignore[index]
        store = DiskCacheStore if settings.cache_store == "disk" else CacheStore
        return store(
            url,
            self.app,
            self,
            table_name=self.name,
            key_type=self.key_type,
            key_serializer=self.key_serializer,
            value_serializer=self.value_serializer,
            value_type=self.value_type,
            loop=self.loop,
            options=self.options,
        )

    def on_key_set(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def on_key_del(self, key: bytes) -> None:
        self._write(key, None)

    def _write(self, key: bytes, value: bytes | None) -> None:
        """The changelog record of a write, through the worker's ``BatchSender``: faust's own path
        is a queue drained one record (and several objects and awaits) at a time, with nothing to
        bound it when the agents do not run through faust's conductor."""
        writes: BatchSender = self.options["writes"]  # type: ignore[index]
        topic = self.changelog_topic.get_topic_name()
        partition = writes.partition_for(topic, key)
        writes.add(topic, value, key=key, partition=partition)
        writes.flush_soon()
        store: CacheStore = self.data  # type: ignore[assignment]
        store.written(key, partition, value is None)


def cache_table(app: faust.App, settings: Settings, changelog: Any, writes: BatchSender) -> CacheTable:
    """The cache table (raw bytes keys and values, the default partitioner on the key, like the
    keyed topic), registered with ``app``; its changelog records go through ``writes``."""
    table = CacheTable(
        app,
        name="cache",
        beacon=app.tables.beacon,
        options={"settings": settings, "writes": writes},
        partitions=settings.partitions,
        changelog_topic=changelog,
        use_partitioner=True,
        schema=faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"),
    )
    app.tables.add(table)
    return table
