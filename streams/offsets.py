"""Which input offset is safe to commit. Pure bookkeeping, one instance per worker.

Our agents finish events out of order on purpose (a cache hit is answered at once while an earlier
miss waits for its provider call), and faust-streaming 0.15's own rule for turning acks into a
commit is unsafe with that: it skips its head-gap check when the committed offset is None or 0,
the check is off by one, and events it drops during a rebalance or shutdown count as acked
although no agent saw them, while its fetch position moves past them.

So the worker decides for itself: per partition it commits only the contiguous prefix of offsets
that were received *and* finished (the watermark), starting where reading began: the committed
offset the consumer seeks to after an assignment (``begin``), or, for a partition with no
committed offset yet, the first offset received.

Kafka's offsets are not contiguous, and two kinds of jump must be told apart:

- **holes in the log**: offsets no consumer ever receives: transaction markers, records of
  aborted transactions (filtered by ``read_committed``), records removed by compaction, and
  everything below a log start that retention moved past the committed offset. Each fetch says
  where the consumer's position was and where it is now; every offset in between that the fetch
  did not return is a hole (``fetched``). The watermark passes holes.
- **records fetched but not processed**: a batch handler that stops mid-fetch (a rebalance or
  shutdown begins) leaves records the position has already moved past. The next record received
  then jumps over offsets that are not holes: a gap the watermark never passes. ``receive``
  reports it and ``first_missing`` says where to seek back to; when the skipped records come
  again they are processed (and only they: the rest were already received).

So no offset that was fetched but not finished is ever committed past.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

TP = Hashable


@dataclass(frozen=True, slots=True)
class Hole:
    """Offsets ``start`` to ``end - 1`` are not in the log. ``leading``: the run began where the
    fetch began, before any record it returned (where a log start moved by retention shows)."""

    start: int
    end: int
    leading: bool

    @property
    def size(self) -> int:
        return self.end - self.start


class OffsetTracker:
    def __init__(self) -> None:
        self._low: dict[TP, int] = {}  # watermark: everything below is finished (or a hole)
        self._expected: dict[TP, int] = {}  # next offset due to be received
        self._fetched_to: dict[TP, int] = {}  # the consumer's position after the last fetch seen
        self._done: dict[TP, set[int]] = {}  # finished offsets above the watermark
        self._holes: dict[TP, dict[int, int]] = {}  # start -> end of runs not in the log
        self._missing: dict[TP, set[int]] = {}  # fetched, not processed, not yet received again
        self.gaps = 0  # jumps over offsets that were fetched but not processed

    def begin(self, tp: TP, offset: int) -> None:
        """Reading of ``tp`` (re)starts at ``offset`` (the committed offset): whatever was known of
        it before is stale, offsets below are already done, and the next one due is ``offset``."""
        self._low[tp] = offset
        self._expected[tp] = offset
        self._fetched_to[tp] = offset
        self._done[tp] = set()
        self._holes[tp] = {}
        self._missing[tp] = set()

    def seeked(self, tp: TP, offset: int) -> None:
        """The consumer was moved back to ``offset`` (to read skipped records again)."""
        if tp in self._fetched_to:
            self._fetched_to[tp] = min(self._fetched_to[tp], offset)

    def fetched(self, tp: TP, offsets: Sequence[int], position: int) -> list[Hole]:
        """A fetch returned ``offsets`` (ascending) of ``tp`` and left the consumer's position at
        ``position``: every offset between the previous position and this one that the fetch did
        not return is a hole in the log. Returns the new holes."""
        before = self._fetched_to.get(tp)
        if before is None:
            # Reading has not begun (the first record received begins it), or it began at a
            # record, not a seek: where this fetch began is unknown, so nothing is a hole yet.
            if tp in self._low:
                self._fetched_to[tp] = position
            return []
        self._fetched_to[tp] = position
        start = min(before, offsets[0]) if offsets else before
        cursor, holes = start, []
        for offset in (*offsets, position):
            if offset > cursor:
                holes.append(Hole(cursor, offset, leading=cursor == start))
            cursor = max(cursor, offset + 1)
        low, runs = self._low[tp], self._holes[tp]
        found = []
        for hole in holes:
            begin = max(hole.start, low)
            if begin < hole.end and begin not in runs:
                runs[begin] = hole.end
                found.append(hole)
        if found:
            self._advance(tp)
        return found

    def receive(self, tp: TP, offset: int) -> bool:
        """Record an arriving offset; False for a re-delivery of one already received."""
        expected = self._expected.get(tp)
        if expected is None:
            self.begin(tp, offset)  # no committed offset: reading began here
            del self._fetched_to[tp]  # the position is past the fetch this record came in
        else:
            # Below the watermark everything is finished or a hole (missing records stop it).
            expected = max(expected, self._low[tp])
            runs = self._holes[tp]
            while expected in runs and runs[expected] <= offset:
                expected = runs[expected]
            if offset < expected:
                missing = self._missing[tp]
                if offset not in missing:
                    return False
                missing.discard(offset)  # a skipped record, read again
                return True
            if offset > expected:
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
        self._advance(tp)

    def _advance(self, tp: TP) -> None:
        low, done, runs = self._low[tp], self._done[tp], self._holes[tp]
        while True:
            if low in done:
                done.remove(low)
                low += 1
            elif low in runs:
                low = runs.pop(low)
            else:
                break
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
            for table in (
                self._low,
                self._expected,
                self._fetched_to,
                self._done,
                self._holes,
                self._missing,
            ):
                table.pop(tp, None)
