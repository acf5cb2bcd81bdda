"""The one place linguaflow touches private names of faust-streaming, mode and aiokafka.

Importing this module checks that the installed versions are the ones the tests ran on and
refuses otherwise (``UPSTREAM_VERSIONS``). Each upstream function we replace, wrap or rely on the
behaviour of is listed in ``PINNED`` with a hash of its source; a contract test recomputes them,
so an upgrade that changes one fails in CI, not in production. What we change and why:

- ``Consumer._drain_messages`` (replaced): faust's fetch loop, except that the records of the
  agents' topics come to one batch handler per fetch, straight from the fetch
  (``Consumer._wait_next_records``): faust's per-event dispatch cost most of the worker's CPU per
  request, and its ``getmany`` drops fetched records on a rebalance while the fetch position has
  moved past them. Each fetch also reports, per partition, the offsets between the previous
  position and the new one that the log did not return (transaction markers, aborted records,
  compacted or retention-deleted records): holes the offset watermark may pass. Other topics (the
  changelog during table recovery) take faust's own path (``deliver``).
- ``Consumer._filter_tps_with_pending_acks`` and ``Consumer._new_offset`` (replaced): the offset
  faust commits is the ``OffsetTracker``'s watermark (streams/offsets.py).
- ``Consumer.seek_to_committed`` and ``Consumer.wait_empty`` (wrapped): where reading begins starts
  the tracker's bookkeeping; work in flight settles before faust commits on a rebalance or shutdown.
- ``AIOKafkaConsumerThread._create_worker_consumer`` (wrapped): fetches wait at most
  ``FETCH_MAX_WAIT_MS`` (faust hard-codes 1.5 s, and its offset requests during a rebalance queue
  behind such a fetch), and the consumer reads ``read_committed`` (faust reads uncommitted data
  unless it runs transactions itself: aborted requests would be translated).
- ``AIOKafkaProducer._partition`` (called): the partitioner ``send()`` uses, for keyless records.
- ``MessageAccumulator._batch_ttl`` (set): the worker's producer never expires a batch. With
  idempotence aiokafka retries a drained batch until the broker takes it, but it expires a queued
  one whose partition has no leader after ``request_timeout_ms`` and so leaves a gap in the
  partition's sequence numbers that fails every later batch: a broker outage of minutes must be
  waited out instead.
- ``App._new_consumer`` (extended by ``AgentConsumer``): where the above is installed.
- ``AIOKafkaClient._metadata_update`` (called): ``/ready`` asks the broker for one topic's
  metadata to tell a broker that answers from one that is away or hung (the public
  ``fetch_all_metadata`` asks for every topic of the cluster).
- ``Service._crash`` (called): stop the app after a fatal error, the way faust's own agents do.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Set
from importlib import import_module
from importlib.metadata import version
from typing import Any

from aiokafka.cluster import ClusterMetadata
from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP

from linguaflow.streams.offsets import Hole, OffsetTracker

UPSTREAM_VERSIONS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}
FETCH_MAX_WAIT_MS = 100

# module, qualified name -> sha256 of its source (first 16 hex digits)
PINNED = {
    ("faust.transport.consumer", "Consumer._drain_messages"): "44a2500309e83c63",
    ("faust.transport.consumer", "Consumer._wait_next_records"): "6218e1969a636b3f",
    ("faust.transport.consumer", "Consumer.getmany"): "4b168d84882a70d6",
    ("faust.transport.consumer", "Consumer._filter_tps_with_pending_acks"): "f6f9239774234e7e",
    ("faust.transport.consumer", "Consumer._new_offset"): "1d2c7ea89a7ad4f1",
    ("faust.transport.consumer", "Consumer.seek_to_committed"): "8d52f70fc8826291",
    ("faust.transport.consumer", "Consumer.wait_empty"): "e4662fe24f094819",
    (
        "faust.transport.drivers.aiokafka",
        "AIOKafkaConsumerThread._create_worker_consumer",
    ): "c2701bfc3e6f6cad",
    ("faust.transport.drivers.aiokafka", "Consumer._to_message"): "7c24f6511b2fcef7",
    ("aiokafka.consumer.consumer", "AIOKafkaConsumer.start"): "2f1ba70443327538",
    ("aiokafka.consumer.fetcher", "FetchResult.getall"): "3e717e30de5068d5",
    ("aiokafka.consumer.fetcher", "PartitionRecords._unpack_records"): "b803e6d46480732c",
    ("aiokafka.producer.producer", "AIOKafkaProducer._partition"): "e45fa9c539d431d1",
    ("aiokafka.producer.message_accumulator", "MessageAccumulator._append_batch"): "4762abfc42cbaa15",
    ("aiokafka.producer.message_accumulator", "MessageAccumulator.drain_by_nodes"): "fc995afbfc5718e2",
    ("mode.services", "Service._crash"): "7bc0c709a151d556",
    ("aiokafka.client", "AIOKafkaClient._metadata_update"): "06dc51ed3e0d38b8",
    ("faust.app.base", "App._new_consumer"): "bff6ccd646b71ea9",
}


class UntestedUpstream(RuntimeError):
    pass


def check_versions(installed: Callable[[str], str] = version) -> None:
    """Refuse faust-streaming / aiokafka / mode versions the worker was not tested with."""
    found = {name: installed(name) for name in UPSTREAM_VERSIONS}
    wrong = {name: v for name, v in found.items() if v != UPSTREAM_VERSIONS[name]}
    if wrong:
        raise UntestedUpstream(
            f"linguaflow's worker reaches into faust-streaming, mode and aiokafka internals and was tested"
            f" with {UPSTREAM_VERSIONS}; installed: {found}. Install the versions linguaflow pins"
            f" (pip install 'linguaflow[worker]' in a fresh environment)."
        )


def source_hash(module: str, qualname: str) -> str:
    obj: Any = import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


check_versions()


# --- producer ----------------------------------------------------------------------------------
def partition_with_producer(producer: Any, topic: str, key: bytes | None) -> int:
    """The partition ``producer.send()`` would choose (its partitioner over its metadata)."""
    partition: int = producer._partition(topic, None, None, None, key, None)
    return partition


def never_expire_batches(producer: Any) -> None:
    producer._message_accumulator._batch_ttl = math.inf


async def broker_answers(producer: Any, topic: str, timeout_s: float) -> bool:
    """Did a broker answer a metadata request for ``topic`` within ``timeout_s``?"""
    try:
        return bool(
            await asyncio.wait_for(producer.client._metadata_update(ClusterMetadata(), [topic]), timeout_s)
        )
    except Exception:  # any failure to answer means "unreachable" for readiness
        return False


def crash(app: Any, exc: BaseException) -> None:
    app._crash(exc)


# --- consumer: where reading begins, what is committed ------------------------------------------
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


def read_offset(consumer: Any, tp: Any) -> int | None:
    """The last offset faust's stall watch saw read for ``tp``."""
    offset: int | None = consumer._read_offset.get(tp)
    return offset


# --- consumer: how records arrive ----------------------------------------------------------------
BatchHandler = Callable[[list[Any]], Awaitable[None]]
HoleHandler = Callable[[Any, list[Hole]], None]
Hook = Callable[[], Awaitable[None]]


def _positions(consumer: Any, tps: Set[Any]) -> dict[Any, int]:
    """aiokafka's fetch position of each of ``tps`` (the next offset a fetch asks for)."""
    kafka_consumer = consumer._thread._consumer
    assignment = kafka_consumer._subscription.subscription.assignment if kafka_consumer else None
    if assignment is None:
        return {}
    found = {}
    for tp in tps:
        state = assignment.state_value(tp)
        if state is not None and state.has_valid_position:
            found[tp] = state.position
    return found


class AgentFetchLoop:
    """faust's fetch loop (``Consumer._drain_messages``) for the agents' topics: the records of a
    fetch go to ``handle`` in one list, and ``on_holes`` hears of the offsets the fetch showed are
    not in the log (see the module's docstring). Other topics take faust's own path."""

    def __init__(
        self,
        consumer: Any,
        tracker: OffsetTracker,
        tracked: Set[str],
        handle: BatchHandler,
        on_holes: HoleHandler,
    ) -> None:
        self._consumer = consumer
        self._tracker = tracker
        self._tracked = tracked
        self._handle = handle
        self._on_holes = on_holes

    async def deliver(self, message: Any) -> None:
        """One record of another topic, as faust's loop delivers it."""
        consumer = self._consumer
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

    def find_holes(self, records: dict[Any, list[Any]]) -> None:
        ours = {tp for tp in self._consumer.assignment() if tp.topic in self._tracked}
        for tp, position in _positions(self._consumer, ours).items():
            offsets = [record.offset for record in records.get(tp, ())]
            holes = self._tracker.fetched(tp, offsets, position)
            if holes:
                self._on_holes(tp, holes)

    async def take(self, records: dict[Any, list[Any]]) -> None:
        consumer = self._consumer
        to_message = consumer._to_message
        self.find_holes(records)
        batch: list[Any] = []
        for tp, tp_records in records.items():
            if tp.topic not in self._tracked:
                for record in tp_records:
                    await self.deliver(to_message(tp, record))
            elif tp_records:
                batch.extend(to_message(tp, record) for record in tp_records)
                consumer._read_offset[tp] = tp_records[-1].offset  # the stall watch reads it
        if batch:
            mark_inbound(consumer.app.monitor, batch)
            await self._handle(batch)

    async def drain(self, fetcher: Any) -> None:
        consumer = self._consumer
        should_stop = consumer._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (should_stop() or fetcher_should_stop()):
                consumer.diag.set_flag(CONSUMER_FETCHING)
                records, _active = await consumer._wait_next_records(1.0)
                if consumer.should_stop:
                    await consumer.sleep(0.1)  # stopping: no more work, and no busy loop
                    continue
                await consumer.sleep(0)  # a fetch can return at once, again and again
                if records is not None:  # an empty fetch can still move the position past holes
                    await self.take(records)
                consumer.diag.unset_flag(CONSUMER_FETCHING)
        except (*consumer.consumer_stopped_errors, asyncio.CancelledError):
            if not consumer.transport.app.should_stop:
                raise
        finally:
            consumer.diag.unset_flag(CONSUMER_FETCHING)


def take_over_fetching(consumer: Any, loop: AgentFetchLoop, settle: Hook) -> None:
    """Replace faust's fetch loop with ``loop``; ``settle`` runs before faust's ``wait_empty``
    commits on a rebalance or shutdown (work in flight finishes first, so what it finished is
    committed: faust no longer tracks those records itself)."""
    wait_empty = consumer.wait_empty

    async def settle_then_wait_empty() -> None:
        await settle()
        await wait_empty()

    consumer.wait_empty = settle_then_wait_empty
    consumer._drain_messages = loop.drain


def mark_inbound(monitor: Any, batch: list[Any]) -> None:
    """What faust's streams tell its monitor per event, once per partition of a batch: faust's
    consumer thread logs "Stream has not started processing" every few seconds for a partition
    with unread records and no inbound time, once the worker has run 5 minutes with a backlog."""
    now = time.monotonic()
    for tp in {message.tp for message in batch}:
        monitor.stream_inbound_time[tp] = now


class AgentConsumer:
    """Mixed into our faust.App: the consumer faust builds gets everything above. The app
    provides ``offsets``, ``tracked_topics`` and the ``_handle_batch``, ``_settle`` and ``_holes``
    hooks."""

    offsets: OffsetTracker
    tracked_topics: set[str]

    def _new_consumer(self) -> Any:
        app: Any = self
        consumer: Any = super()._new_consumer()  # type: ignore[misc]
        take_over_offsets(consumer, app.offsets, app.tracked_topics)
        loop = AgentFetchLoop(consumer, app.offsets, app.tracked_topics, app._handle_batch, app._holes)
        take_over_fetching(consumer, loop, app._settle)
        tune_worker_consumer(consumer._thread)
        return consumer


def tune_worker_consumer(thread: Any) -> None:
    """The aiokafka consumer faust's consumer thread creates: fetches wait at most
    ``FETCH_MAX_WAIT_MS`` and it reads only committed records (aiokafka 0.14 keeps both here
    until ``start()`` builds its fetcher)."""
    create = thread._create_worker_consumer

    def create_worker_consumer(transport: Any) -> Any:
        kafka_consumer = create(transport)
        kafka_consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        kafka_consumer._isolation_level = "read_committed"
        return kafka_consumer

    thread._create_worker_consumer = create_worker_consumer
