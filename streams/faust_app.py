"""Our faust.App: start and stop hooks around the agents, and what we change in faust's consumer
(faust-streaming 0.15 internals; pinned <0.16) so that the agents' input offsets are decided by
our ``OffsetTracker`` (see streams/offsets.py):

- **commits**: the offset faust commits for a partition is the tracker's watermark, not faust's
  own reading of its acks;
- **where reading begins**: the committed offsets faust seeks to before its streams resume (or,
  with no commit yet, the earliest offsets) start the tracker's bookkeeping
  (``OffsetTracker.begin``), so records skipped before the first one delivered are seen as a gap.
  faust does skip them: records its fetch loop hands to an agent's queue while the streams are
  still suspended after an assignment are cleared when they resume (``clear_on_resume``), and
  its fetch position has moved past them;
- **no silent drops**: faust drops a fetched record whose offset is below the last one it
  delivered. After our seek back to re-read skipped records, its fetch loop can still be
  delivering the rest of the batch fetched before the seek, which moves that mark past the
  re-read records: they were dropped, and waited for the next restart. For the agents' topics
  nothing is dropped; the tracker tells re-deliveries from records never processed;
- **cache writes reach the changelog before a partition moves**: faust's producer is flushed
  again after the revoke handlers ran (see ``_on_partitions_revoked``);
- **no 1.5 s waits in a rebalance**: faust's consumer long-polls fetches for up to 1.5 s
  (hard-coded), and its offset requests during a rebalance (highwaters, earliest offsets, the
  seek to committed offsets) queue behind such a fetch on the broker connection: ~4.5 s of every
  start and rebalance. Its fetches wait at most ``FETCH_MAX_WAIT_MS`` instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Set
from typing import Any

import faust
from faust.types import TP

from streams.offsets import OffsetTracker

Hook = Callable[[], Awaitable[None]]
FETCH_MAX_WAIT_MS = 100


class _ReadOffsets(defaultdict[Any, int | None]):
    """faust's last-delivered offsets; looked up by its fetch loop (``[]``) as None for the
    agents' topics, so it never drops their records. ``get`` still answers the real value."""

    def __init__(self, tracked: Set[str]) -> None:
        super().__init__(lambda: None)
        self._tracked = tracked

    def __getitem__(self, tp: Any) -> int | None:
        if tp.topic in self._tracked:
            return None
        return super().__getitem__(tp)


def take_over_offsets(consumer: Any, tracker: OffsetTracker, tracked: Set[str]) -> None:
    seek_to_committed = consumer.seek_to_committed

    async def seek_and_begin() -> Any:
        offsets = await seek_to_committed()
        ours = {tp: offset for tp, offset in offsets.items() if tp.topic in tracked}
        # No commit yet (a new group): reading begins where auto_offset_reset=earliest puts it.
        fresh = [tp for tp, offset in ours.items() if offset is None or offset < 0]
        if fresh:
            ours.update(await consumer.earliest_offsets(*fresh))
        for tp, offset in ours.items():
            tracker.begin(TP(tp.topic, tp.partition), offset)
        return offsets

    def new_offset(tp: Any) -> int | None:
        offset = tracker.commit_offset(tp)
        # faust's per-partition ack lists are only trimmed by its own _new_offset: keep them small.
        acked = consumer._acked[tp]
        acked[:] = [o for o in acked if offset is None or o >= offset]
        consumer._acked_index[tp].intersection_update(acked)
        return offset

    consumer.seek_to_committed = seek_and_begin
    consumer._new_offset = new_offset
    consumer._read_offset = _ReadOffsets(tracked)


def shorten_fetch_wait(thread: Any) -> None:
    """The aiokafka consumer that faust's consumer thread creates waits at most
    ``FETCH_MAX_WAIT_MS`` for a fetch (faust passes 1,500 ms; aiokafka 0.14 keeps it here until
    ``start()`` builds its fetcher)."""
    create = thread._create_worker_consumer

    def create_worker_consumer(transport: Any) -> Any:
        kafka_consumer = create(transport)
        kafka_consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return kafka_consumer

    thread._create_worker_consumer = create_worker_consumer


class LinguaflowApp(faust.App):
    """faust.App with start hooks that run before the agents, stop hooks after they drained, and
    commit offsets decided by our OffsetTracker instead of faust's ack bookkeeping (see
    streams/offsets.py for why)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_hooks: list[Hook] = []
        self.stop_hooks: list[Hook] = []
        self.offsets = OffsetTracker()
        self.tracked_topics: set[str] = set()  # the agents' input topics (offsets from our tracker)

    def _new_consumer(self) -> Any:
        consumer: Any = super()._new_consumer()
        take_over_offsets(consumer, self.offsets, self.tracked_topics)
        shorten_fetch_wait(consumer._thread)
        return consumer

    async def _on_partitions_revoked(self, revoked: set[TP]) -> None:
        await super()._on_partitions_revoked(revoked)
        # faust flushes its producer before the revoke signal, whose handlers (the agents' drain)
        # can still write the cache table: flush again so the changelog holds every write before
        # the partitions' next owner reads it.
        if self._producer is not None:
            await self._producer.flush()

    async def on_first_start(self) -> None:
        await super().on_first_start()
        for hook in self.start_hooks:
            await hook()

    async def on_shutdown(self) -> None:
        for hook in reversed(self.stop_hooks):
            await hook()
        await super().on_shutdown()
