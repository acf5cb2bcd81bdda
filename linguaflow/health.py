"""Readiness, decided by pure rules over what the worker observes. ``/ready`` says why it is not
ready, so an operator (or a probe log) sees the cause, not just a 503."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BROKER_CHECK_S = 2.0  # how long /ready waits for the broker's answer
CHECK_TTL_MS = 1000  # a check's answer is reused this long (probes poll many times a second)


@dataclass(frozen=True, slots=True)
class Observed:
    stopping: bool
    recovered: bool  # the cache table has caught up with its changelog
    rebalancing: bool
    assigned: int  # partitions assigned to this worker
    database_ok: bool  # the sink's Postgres answered
    stalled: bool
    broker_ok: bool = True  # a broker answered a metadata request just now
    output_waiting_s: float = 0.0  # the oldest output the broker has not acknowledged
    output_wait_limit_s: float = 30.0  # past this, the broker counts as unreachable


def not_ready_reasons(o: Observed) -> list[str]:
    reasons = []
    if o.stopping:
        reasons.append("shutting down")
    if not o.recovered:
        reasons.append("cache table recovering")
    if o.rebalancing:
        reasons.append("rebalancing")
    if not o.assigned:
        reasons.append("no partitions assigned")
    if not o.database_ok:
        reasons.append("database unreachable")
    if o.stalled:
        reasons.append("consumer stalled: input waiting but no offset moved")
    if not o.broker_ok:
        reasons.append(f"broker unreachable: no answer to a metadata request within {BROKER_CHECK_S:.0f} s")
    if o.output_waiting_s > o.output_wait_limit_s:
        reasons.append(f"broker unreachable: output unacknowledged for {o.output_waiting_s:.0f} s")
    return reasons


def read_progress(
    partitions: Iterable[Any],
    read_offset: Callable[[Any], int | None],
    highwater: Callable[[Any], int | None],
) -> tuple[dict[str, int], int]:
    """What ``StallWatch.update`` takes, for a consumer's ``partitions`` (``.topic``,
    ``.partition``): the last offset read per partition, and how many records wait unread. A
    partition is left out until a record is read from it and a fetch has told its highwater."""
    offsets: dict[str, int] = {}
    unread = 0
    for tp in partitions:
        read, high = read_offset(tp), highwater(tp)
        if read is None or high is None:
            continue
        offsets[f"{tp.topic}:{tp.partition}"] = read
        unread += max(0, high - (read + 1))
    return offsets, unread


class StallWatch:
    """A faust consumer can stop fetching without an error. Stalled = there is unread input and
    no read offset has moved for ``after_ms``. Time is passed in."""

    def __init__(self, after_ms: float) -> None:
        self._after_ms = after_ms
        self._offsets: dict[str, int] = {}
        self._since: float | None = None

    def update(self, now_ms: float, read_offsets: Mapping[str, int], unread: int) -> bool:
        if unread <= 0:
            self._since = None  # nothing to read: idle, not stalled
            return False
        if self._since is None or dict(read_offsets) != self._offsets:
            self._offsets = dict(read_offsets)
            self._since = now_ms  # input waits (or progress was made): the window starts now
            return False
        return now_ms - self._since >= self._after_ms


class RecentAnswer:
    """A check's answer, reused for ``ttl_ms``: ``/stats`` and ``/ready`` are polled many times a
    second (the bench 20 times, dashboards, probes), and each poll asked Postgres again. Time is
    passed in."""

    def __init__(self, ttl_ms: float, clock: Callable[[], float]) -> None:
        self._ttl_ms = ttl_ms
        self._clock = clock
        self._answer: tuple[float, bool] | None = None  # (when it was asked, the answer)

    async def get(self, ask: Callable[[], Awaitable[bool]]) -> bool:
        if self._answer is not None and self._clock() - self._answer[0] < self._ttl_ms:
            return self._answer[1]
        answer = await ask()
        self._answer = (self._clock(), answer)
        return answer
