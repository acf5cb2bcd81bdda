"""Which input offset is safe to commit. Pure bookkeeping, one instance per worker.

Our agents ack out of order on purpose (a cache hit is answered at once while an earlier miss
waits for its provider call), and faust-streaming 0.15's own rule for turning acks into a commit
is unsafe with that: it skips its head-gap check when the committed offset is None or 0, and the
check is off by one (a single unfinished offset at the head is committed past). It also counts
events it *skipped* during a rebalance or shutdown as acked. Any of these commits past a request
that has no result yet, which a crash or restart then loses.

So the worker decides for itself: per partition, the commit offset is the lowest offset received
but not yet finished, or (all finished) the highest received + 1. Offsets the agent never received
are never committed past, because they are above everything received.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

TP = Hashable


class OffsetTracker:
    def __init__(self) -> None:
        self._unfinished: dict[TP, set[int]] = {}
        self._next: dict[TP, int] = {}

    def received(self, tp: TP, offset: int) -> None:
        self._unfinished.setdefault(tp, set()).add(offset)
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def finished(self, tp: TP, offset: int) -> None:
        unfinished = self._unfinished.get(tp)
        if unfinished is not None:
            unfinished.discard(offset)

    def commit_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp`` (Kafka's "next to read"), or None if nothing was received."""
        if tp not in self._next:
            return None
        unfinished = self._unfinished.get(tp)
        return min(unfinished) if unfinished else self._next[tp]

    def unfinished(self) -> int:
        return sum(len(s) for s in self._unfinished.values())

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions were revoked: after a rebalance they are read again from the committed offset."""
        for tp in tps:
            self._unfinished.pop(tp, None)
            self._next.pop(tp, None)
