"""Pure decisions of a replay: parsing the window, where each partition starts and stops (resuming
from the replay group's committed offsets), what a re-translation would cost, and pacing.
No I/O; time is passed in."""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from linguaflow.errors import ConfigError
from linguaflow.streams.ratelimit import TokenBucket


def parse_when(text: str) -> int:
    """Epoch milliseconds from digits (already ms) or an ISO-8601 time with a timezone."""
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is neither epoch milliseconds nor an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise ConfigError(f"{text!r} needs a timezone (e.g. 'Z' or '+00:00')")
    return int(parsed.timestamp() * 1000)


def parse_offsets(text: str) -> dict[int, int]:
    """``"0:120,3:0"`` -> {partition: offset}."""
    offsets: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        partition, sep, offset = part.partition(":")
        if not sep or not partition.isdigit() or not offset.isdigit():
            raise ConfigError(f"offsets are PARTITION:OFFSET[,...], got {part!r}")
        offsets[int(partition)] = int(offset)
    if not offsets:
        raise ConfigError("no PARTITION:OFFSET given")
    return offsets


def parse_rate(text: str) -> float:
    """``"200"`` or ``"200/s"`` -> 200.0 records per second (must be positive)."""
    number = text.removesuffix("/s")
    try:
        rate = float(number)
    except ValueError:
        raise ConfigError(f"--rate takes N or N/s, got {text!r}") from None
    if not rate > 0 or math.isinf(rate):
        raise ConfigError(f"--rate must be a positive number, got {text!r}")
    return rate


@dataclass(frozen=True, slots=True)
class Window:
    """What to replay: from a time or from explicit offsets (else the beginning), up to a time
    (exclusive; else the end offsets seen when the replay starts)."""

    from_offsets: Mapping[int, int] | None = None
    from_time_offsets: Mapping[int, int | None] | None = None  # offsets_for_times(from); None: none later
    to_time_offsets: Mapping[int, int | None] | None = None  # offsets_for_times(to); None: none later


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    stop: int  # exclusive

    @property
    def size(self) -> int:
        return max(0, self.stop - self.start)


def spans(
    window: Window,
    *,
    beginning: Mapping[int, int],
    end: Mapping[int, int],
    committed: Mapping[int, int | None],
    restart: bool,
) -> dict[int, Span]:
    """Per partition, the offsets to read. A committed offset of the replay group (an earlier,
    interrupted run) moves the start forward unless ``restart``; a partition missing from explicit
    offsets is not read."""
    result: dict[int, Span] = {}
    for p, first in beginning.items():
        last = end[p]
        stop = last
        if window.to_time_offsets is not None:
            at = window.to_time_offsets.get(p)
            stop = last if at is None else at
        if window.from_offsets is not None:
            start = window.from_offsets.get(p, last)
        elif window.from_time_offsets is not None:
            at = window.from_time_offsets.get(p)
            start = last if at is None else at
        else:
            start = first
        done = committed.get(p)
        if done is not None and not restart:
            start = max(start, done)
        start = min(max(start, first), last)
        result[p] = Span(start, max(start, min(stop, last)))
    return result


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One valid request a re-translation would send: its key, its length and the provider that
    would be asked first."""

    cache_key: str
    chars: int
    provider: str


@dataclass(frozen=True, slots=True)
class Estimate:
    requests: int
    cached: int  # requests whose key is in the cache now
    unique_keys: int
    provider_texts: int  # unique keys a provider would translate
    provider_calls: int  # batches of at most batch_max texts, per provider
    cost: float


def estimate(
    items: Iterable[ReplayItem],
    cached: Container[str],
    *,
    refresh: bool,
    batch_max: int,
    price_per_char: Callable[[str], float],
) -> Estimate:
    """What sending ``items`` would cost: each uncached key (every key with ``refresh``) is
    translated once, by the first provider of its chain, at that provider's price."""
    requests = hits = 0
    to_translate: dict[str, ReplayItem] = {}
    seen: set[str] = set()
    for item in items:
        requests += 1
        seen.add(item.cache_key)
        if item.cache_key in cached:
            hits += 1
            if not refresh:
                continue
        to_translate.setdefault(item.cache_key, item)
    per_provider: dict[str, int] = {}
    cost = 0.0
    for item in to_translate.values():
        per_provider[item.provider] = per_provider.get(item.provider, 0) + 1
        cost += item.chars * price_per_char(item.provider)
    calls = sum(math.ceil(n / batch_max) for n in per_provider.values())
    return Estimate(requests, hits, len(seen), len(to_translate), calls, cost)


class Pacer:
    """At most ``per_second`` records per second, a one-second burst: live traffic keeps priority."""

    def __init__(self, per_second: float | None, now_ms: float) -> None:
        self._bucket = TokenBucket.full(per_second, now_ms) if per_second else None

    def wait_ms(self, n: int, now_ms: float) -> float:
        """Take ``n`` records' worth; how long to wait before sending them."""
        if self._bucket is None or n <= 0:
            return 0.0
        self._bucket, wait = self._bucket.reserve(now_ms, n)
        return wait
