"""Which input offset is safe to commit. Pure bookkeeping, one instance per worker.

Our agents finish events out of order on purpose (a cache hit is answered at once while an earlier
miss waits for its provider call), and faust-streaming 0.15's own rule for turning acks into a
commit is unsafe with that: it skips its head-gap check when the committed offset is None or 0,
the check is off by one, and events it *skips* (flow control off during a rebalance or shutdown)
count as acked although no agent saw them, while its fetch position moves past them.

So the worker decides for itself: per partition it commits only the contiguous prefix of offsets
that were received *and* finished (the watermark), starting where reading began: the committed
offset the consumer seeks to after an assignment (``begin``), or, for a partition with no
committed offset yet, the first offset received. Starting at the committed offset matters: records
faust skips before the first one it delivers are a jump like any other, and what was known of a
partition before it moved away and back is stale. A jump in offsets (records faust skipped)
leaves a gap that the watermark cannot pass; ``receive`` reports where the gap starts so the
worker can seek back, and when the skipped records come again they are processed (and only they:
the rest were already received).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

TP = Hashable


class OffsetTracker:
    def __init__(self) -> None:
        self._low: dict[TP, int] = {}  # watermark: everything below is finished
        self._expected: dict[TP, int] = {}  # next offset due from the consumer
        self._done: dict[TP, set[int]] = {}  # finished offsets above the watermark
        self._missing: dict[TP, set[int]] = {}  # skipped offsets not yet received again
        self.gaps = 0  # jumps seen in input offsets (records faust skipped)

    def begin(self, tp: TP, offset: int) -> None:
        """Reading of ``tp`` (re)starts at ``offset`` (the committed offset): whatever was known of
        it before is stale, offsets below are already done, and the next one due is ``offset``."""
        self._low[tp] = offset
        self._expected[tp] = offset
        self._done[tp] = set()
        self._missing[tp] = set()

    def receive(self, tp: TP, offset: int) -> bool:
        """Record an arriving offset; False for a re-delivery of one already received."""
        expected = self._expected.get(tp)
        if expected is None:
            self.begin(tp, offset)  # no committed offset: reading began here
        elif offset < expected:
            missing = self._missing[tp]
            if offset not in missing:
                return False
            missing.discard(offset)  # a skipped record, read again
            return True
        elif offset > expected:
            self.gaps += 1
            self._missing[tp].update(range(expected, offset))
        self._expected[tp] = offset + 1
        return True

    def first_missing(self, tp: TP) -> int | None:
        """Where to read ``tp`` again from, if records were skipped."""
        missing = self._missing.get(tp)
        return min(missing) if missing else None

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

    def partitions(self) -> list[TP]:
        """The partitions being read (those with a commit offset)."""
        return list(self._low)

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions were revoked: after a rebalance they are read again from the committed offset."""
        for tp in tps:
            for table in (self._low, self._expected, self._done, self._missing):
                table.pop(tp, None)
