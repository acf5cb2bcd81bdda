"""SinkBatch: pure accumulation of results between flushes. Reduces by key (one request row per
request_id, first wins; one translation row per cache_key, highest version wins) and tracks the
next offset to commit per partition. Time is passed in."""

from __future__ import annotations

from linguaflow.schemas import TranslationResult

TopicPartitionKey = tuple[str, int]


class SinkBatch:
    def __init__(self) -> None:
        self._requests: dict[str, TranslationResult] = {}
        self._translations: dict[str, TranslationResult] = {}
        self._offsets: dict[TopicPartitionKey, int] = {}
        self._origins: dict[str, tuple[TopicPartitionKey, int]] = {}
        self._count = 0
        self._bytes = 0
        self._opened_ms: float | None = None

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        """The records' value bytes, as read."""
        return self._bytes

    @property
    def opened_ms(self) -> float | None:
        """When the oldest record was added (None: empty)."""
        return self._opened_ms

    def append(
        self,
        result: TranslationResult | None,
        tp: TopicPartitionKey,
        offset: int,
        now_ms: float,
        size: int = 0,
    ) -> None:
        """Add one record (``size``: its value's bytes); ``None`` (a record routed elsewhere) still
        advances the offset."""
        if self._opened_ms is None:
            self._opened_ms = now_ms
        self._count += 1
        self._bytes += size
        self._offsets[tp] = max(self._offsets.get(tp, -1), offset + 1)
        if result is None:
            return
        self._requests.setdefault(result.request_id, result)
        self._origins.setdefault(result.request_id, (tp, offset))
        current = self._translations.get(result.cache_key)
        if current is None or result.version > current.version:
            self._translations[result.cache_key] = result

    def should_flush(self, now_ms: float, *, max_rows: int, max_age_ms: float) -> bool:
        if not self._count:
            return False
        assert self._opened_ms is not None
        return self._count >= max_rows or now_ms - self._opened_ms >= max_age_ms

    def requests(self) -> list[TranslationResult]:
        return list(self._requests.values())

    def translations(self) -> list[TranslationResult]:
        return list(self._translations.values())

    def origin(self, request_id: str) -> tuple[TopicPartitionKey, int]:
        """Where the (first) result for ``request_id`` was read: for DLQ records."""
        return self._origins[request_id]

    def offsets(self) -> dict[TopicPartitionKey, int]:
        """Next offset to commit per partition (last offset seen + 1)."""
        return dict(self._offsets)

    def clear(self) -> None:
        self._requests.clear()
        self._translations.clear()
        self._offsets.clear()
        self._origins.clear()
        self._count = 0
        self._bytes = 0
        self._opened_ms = None
