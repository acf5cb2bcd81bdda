"""A read-only view of the compacted cache topic, the public contract any service may read:
key = cache key (UTF-8), value = ``CacheEntry`` JSON, no value = tombstone (the key is gone).

``fold_cache_records`` is the pure part (records in log order -> live entries: the last write of
a key wins, a tombstone removes it); ``load_cache_view`` reads the topic once, from its start to the
end offsets seen when it starts. A record that is not a valid entry is never dropped silently: it
is listed in ``CacheView.problems`` and its key is not in the view (its last write is unusable).

Usage from another service::

    view = await load_cache_view(Settings())
    entry = view.get(key)            # CacheEntry | None
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from linguaflow.errors import InvalidRequest
from linguaflow.kafka import read_topic
from linguaflow.schemas import CacheEntry, decode_cache_entry
from linguaflow.settings import Settings


@dataclass(frozen=True, slots=True)
class CacheRecord:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Problem:
    """A cache record the view could not use, and why."""

    partition: int
    offset: int
    key: str | None
    reason: str
    message: str


class CacheView(Mapping[str, CacheEntry]):
    """Live entries by cache key (read-only)."""

    def __init__(self, entries: dict[str, CacheEntry], problems: list[Problem], records: int) -> None:
        self._entries = entries
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.records = records  # records read, tombstones and problems included

    def __getitem__(self, key: str) -> CacheEntry:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def fold_cache_records(records: Iterable[CacheRecord]) -> CacheView:
    """Records in log order (per partition) -> the live entries. Pure."""
    entries: dict[str, CacheEntry] = {}
    problems: list[Problem] = []
    count = 0
    for record in records:
        count += 1
        try:
            key = (record.key or b"").decode()
        except UnicodeDecodeError:
            problems.append(Problem(record.partition, record.offset, None, "bad_key", "key is not UTF-8"))
            continue
        if not key:
            problems.append(Problem(record.partition, record.offset, None, "bad_key", "record has no key"))
            continue
        if record.value is None:
            entries.pop(key, None)
            continue
        entries.pop(key, None)  # whatever the outcome below, the previous value is superseded
        try:
            entry = decode_cache_entry(record.value)
        except InvalidRequest as exc:
            problems.append(Problem(record.partition, record.offset, key, exc.reason, str(exc)))
            continue
        if entry.cache_key != key:
            message = f"value names cache_key {entry.cache_key!r}"
            problems.append(Problem(record.partition, record.offset, key, "key_mismatch", message))
            continue
        entries[key] = entry
    return CacheView(entries, problems, count)


async def load_cache_view(settings: Settings) -> CacheView:
    """The live entries of ``settings.cache_topic`` as of now. No consumer group: nothing moves."""
    records = [
        CacheRecord(r.key, r.value, r.partition, r.offset)
        async for r in read_topic(settings, settings.cache_topic, progress="reading the cache topic")
    ]
    return fold_cache_records(records)
