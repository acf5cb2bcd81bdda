"""Our faust.App: start and stop hooks around the agents, and what we change in faust's consumer
(faust-streaming 0.15 internals; pinned <0.16):

- **how the agents' records arrive**: faust's fetch loop hands the records of the agents' topics
  to one batch handler per fetch (``take_over_fetching``) instead of dispatching each through
  its per-event machinery, which cost most of the worker's CPU per request; other topics (the
  changelog during table recovery) still take faust's path; each batch tells faust's monitor
  its partitions are being processed (faust's streams do that per event, and its consumer
  thread logs an error every few seconds for a partition with a backlog and no such mark);
- **commits**: the offset faust commits for a partition is our ``OffsetTracker``'s watermark
  (see streams/offsets.py), not faust's own reading of its acks, and work in flight is settled
  before faust commits on a rebalance or shutdown (its cache writes included, so they reach the
  changelog before the partitions' next owner reads it);
- **where reading begins**: the committed offsets faust seeks to after an assignment (or, with no
  commit yet, the earliest offsets) start the tracker's bookkeeping (``OffsetTracker.begin``), so
  records skipped before the first one handled are seen as a gap and read again;
- **no 1.5 s waits in a rebalance**: faust's consumer long-polls fetches for up to 1.5 s
  (hard-coded), and its offset requests during a rebalance (highwaters, earliest offsets, the
  seek to committed offsets) queue behind such a fetch on the broker connection: ~4.5 s of every
  start and rebalance. Its fetches wait at most ``FETCH_MAX_WAIT_MS`` instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Set
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP

from streams.offsets import OffsetTracker

Hook = Callable[[], Awaitable[None]]
BatchHandler = Callable[[list[Any]], Awaitable[None]]
FETCH_MAX_WAIT_MS = 100


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

    def pending_commits(topics: Any = None) -> Iterator[Any]:
        """The partitions faust considers for a commit: those with acks of its own (none for the
        agents' topics: their records never pass through its acks) and those our tracker reads
        that are still assigned (a commit of another partition would crash faust's consumer)."""
        assigned = consumer.assignment()
        tps = {*consumer._acked, *(tp for tp in tracker.partitions() if tp in assigned)}
        return (tp for tp in tps if topics is None or tp in topics or tp.topic in topics)

    consumer.seek_to_committed = seek_and_begin
    consumer._filter_tps_with_pending_acks = pending_commits
    consumer._new_offset = tracker.commit_offset


def mark_inbound(monitor: Any, batch: list[Any]) -> None:
    """What faust's streams tell its monitor per event, once per partition of a batch: faust's
    consumer thread logs "Stream has not started processing" every few seconds for a partition
    with unread records and no inbound time, once the worker has run 5 minutes with a backlog."""
    now = time.monotonic()
    for tp in {message.tp for message in batch}:
        monitor.stream_inbound_time[tp] = now


def take_over_fetching(consumer: Any, tracked: Set[str], handle: BatchHandler, settle: Hook) -> None:
    """faust's fetch loop (``Consumer._drain_messages``), except that the records of the agents'
    topics are handed to ``handle`` in one list per fetch, not one by one through faust's per-event
    dispatch (two tasks per record in ``wait_first``, the conductor, a queue, the stream's
    iterator and ack bookkeeping: most of the worker's CPU per request). Other topics (the
    changelog read by table recovery) take faust's own path. ``settle`` runs before faust's
    ``wait_empty`` commits on a rebalance or shutdown: work in flight finishes first, so what it
    finished is committed (faust no longer tracks those records itself)."""
    wait_empty = consumer.wait_empty

    async def settle_then_wait_empty() -> None:
        await settle()
        await wait_empty()

    async def deliver(message: Any) -> None:
        """One record of another topic, as faust's loop delivers it."""
        tp, offset = message.tp, message.offset
        read = consumer._read_offset[tp]
        if read is not None and offset < read:
            return  # faust drops a record below the last one it delivered
        if offset - (read or 0) > 1 and read and consumer.app.topics.acks_enabled_for(message.topic):
            await consumer._add_gap(tp, read + 1, offset)
        if consumer._commit_every is not None and consumer._n_acked >= consumer._commit_every:
            consumer._n_acked = 0
            await consumer.commit()
        await consumer.wait_first(consumer.callback(message), consumer.suspend_flow.wait())
        consumer._read_offset[tp] = offset

    async def drain_messages(fetcher: Any) -> None:
        should_stop = consumer._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (should_stop() or fetcher_should_stop()):
                consumer.diag.set_flag(CONSUMER_FETCHING)
                fetched = consumer.getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany can return at once, again and again
                if consumer.should_stop:
                    continue
                batch: list[Any] = []
                async for tp, message in fetched:
                    if tp.topic in tracked:
                        batch.append(message)
                        consumer._read_offset[tp] = message.offset  # the stall watch reads it
                    else:
                        await deliver(message)
                if batch:
                    mark_inbound(consumer.app.monitor, batch)
                    await handle(batch)
                consumer.diag.unset_flag(CONSUMER_FETCHING)
        except consumer.consumer_stopped_errors:
            if not consumer.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not consumer.transport.app.should_stop:
                raise
        finally:
            consumer.diag.unset_flag(CONSUMER_FETCHING)

    consumer.wait_empty = settle_then_wait_empty
    consumer._drain_messages = drain_messages


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
        self.tracked_topics: set[str] = set()  # the agents' input topics (see take_records)
        self._batch_handler: BatchHandler | None = None
        self._settle_hook: Hook | None = None

    def take_records(self, topics: list[Any], handler: BatchHandler, settle: Hook) -> None:
        """Subscribe ``topics`` through faust's conductor (so faust's assignor keeps the tables'
        partitions beside theirs), hand their records to ``handler`` a fetch at a time, commit
        their offsets from our tracker, and run ``settle`` (finish work in flight) before faust
        commits on a rebalance or shutdown."""
        for topic in topics:
            self.topics.add(topic)
            self.tracked_topics.add(topic.get_topic_name())
        self._batch_handler = handler
        self._settle_hook = settle

    def _new_consumer(self) -> Any:
        consumer: Any = super()._new_consumer()
        take_over_offsets(consumer, self.offsets, self.tracked_topics)
        take_over_fetching(consumer, self.tracked_topics, self._handle_batch, self._settle)
        shorten_fetch_wait(consumer._thread)
        return consumer

    async def _handle_batch(self, messages: list[Any]) -> None:
        if self._batch_handler is None:
            raise RuntimeError(f"records of {self.tracked_topics} but no batch handler")
        await self._batch_handler(messages)

    async def _settle(self) -> None:
        if self._settle_hook is not None:
            await self._settle_hook()

    async def on_first_start(self) -> None:
        await super().on_first_start()
        for hook in self.start_hooks:
            await hook()

    async def on_shutdown(self) -> None:
        for hook in reversed(self.stop_hooks):
            await hook()
        await super().on_shutdown()
