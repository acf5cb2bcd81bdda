"""Which input offset is safe to commit. Pure bookkeeping, one instance per worker.

Our agents finish events out of order on purpose (a cache hit is answered at once while an earlier
miss waits for its provider call), and faust-streaming 0.15's own rule for turning acks into a
commit is unsafe with that: it skips its head-gap check when the committed offset is None or 0,
the check is off by one, and events it *skips* (flow control off during a rebalance, shutdown or
table recovery) count as acked although no agent saw them; the fetch position moves past them.

So the worker decides for itself. Per partition it knows where reading began (``begin``), and it
commits only the contiguous prefix of offsets that were received *and* finished: the watermark.
An offset that never arrived blocks the watermark, and ``receive`` asks the caller to seek back to
it, so a skipped record is read again instead of being committed past.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

TP = Hashable


@dataclass(frozen=True, slots=True)
class Verdict:
    process: bool  # False: not now (already seen, or ahead of a gap: it will come again)
    seek_to: int | None = None  # records were skipped: re-read from here


class OffsetTracker:
    def __init__(self) -> None:
        self._low: dict[TP, int] = {}  # watermark: everything below is finished
        self._expected: dict[TP, int] = {}  # next offset due from the consumer
        self._done: dict[TP, set[int]] = {}  # finished offsets above the watermark
        self._seeking: dict[TP, int] = {}  # a seek back was asked for and has not arrived yet

    def started(self, tp: TP) -> bool:
        return tp in self._low

    def begin(self, tp: TP, start: int) -> None:
        """Reading ``tp`` begins at ``start`` (the committed offset, or the earliest one)."""
        self._low[tp] = self._expected[tp] = start
        self._done[tp] = set()
        self._seeking.pop(tp, None)

    def receive(self, tp: TP, offset: int) -> Verdict:
        expected = self._expected[tp]
        if offset == expected:
            self._expected[tp] = offset + 1
            self._seeking.pop(tp, None)
            return Verdict(process=True)
        if offset < expected:
            return Verdict(process=False)  # a re-delivery after a seek back: already handled
        if self._seeking.get(tp) == expected:
            return Verdict(process=False)  # still ahead of the gap; the seek is under way
        self._seeking[tp] = expected
        return Verdict(process=False, seek_to=expected)

    def finished(self, tp: TP, offset: int) -> None:
        done = self._done.get(tp)
        if done is None or offset < self._low[tp]:
            return
        done.add(offset)
        low = self._low[tp]
        while low in done:
            done.remove(low)
            low += 1
        self._low[tp] = low

    def commit_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp`` (Kafka's "next to read"), or None if reading has not begun."""
        return self._low.get(tp)

    def unfinished(self) -> int:
        return sum(self._expected[tp] - self._low[tp] - len(self._done[tp]) for tp in self._low)

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions were revoked: after a rebalance they are read again from the committed offset."""
        for tp in tps:
            for table in (self._low, self._expected, self._done, self._seeking):
                table.pop(tp, None)
