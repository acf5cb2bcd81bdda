"""The worker's input offsets: which records to process (``accept``), when one is finished
(``finisher``), holes in the log (``on_holes``), and reading skipped records again. The decisions
are ``OffsetTracker``'s (streams/offsets.py); this wires them to the faust app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from linguaflow.streams.faust_app import LinguaflowApp
from linguaflow.streams.offsets import Hole
from linguaflow.telemetry import Telemetry

log = logging.getLogger("linguaflow.streams")


class InputOffsets:
    def __init__(self, app: LinguaflowApp, telemetry: Telemetry) -> None:
        self._app = app
        self.telemetry = telemetry
        self._rereads: set[Any] = set()  # partitions with a re-read of skipped records under way

    async def on_revoked(self, sender: Any, revoked: Any, **kwargs: Any) -> None:
        self._app.offsets.forget(revoked)

    def on_holes(self, tp: Any, holes: list[Hole]) -> None:
        """Offsets a fetch showed are not in the log. A run where the fetch began may be records
        retention deleted before they were read: the log start says which."""
        inside = sum(hole.size for hole in holes if not hole.leading)
        if inside:
            self.telemetry.count("input_holes", inside, reason="log")
        for hole in holes:
            if hole.leading:
                asyncio.get_running_loop().create_task(self._classify_leading(tp, hole))

    async def _classify_leading(self, tp: Any, hole: Hole) -> None:
        try:
            earliest = (await self._app.consumer.earliest_offsets(tp)).get(tp, hole.start)
        except Exception as exc:  # only the metric's reason depends on it
            log.warning("could not read the log start of %s: %r", tp, exc)
            earliest = hole.start
        deleted = max(0, min(hole.end, earliest) - hole.start)
        if deleted:
            log.warning(
                "%d offsets of %s (%d to %d) were deleted by retention before they were read",
                deleted,
                tp,
                hole.start,
                hole.start + deleted - 1,
                extra={"topic": tp.topic, "partition": tp.partition, "lost": deleted},
            )
            self.telemetry.count("input_holes", deleted, reason="retention")
        if hole.size - deleted:
            self.telemetry.count("input_holes", hole.size - deleted, reason="log")

    def accept(self, message: Any) -> bool:
        """Should this record be processed? Re-deliveries of offsets already received are not; a
        jump in offsets (records skipped) schedules a re-read (see streams/offsets.py)."""
        tracker, tp, offset = self._app.offsets, message.tp, message.offset
        gaps = tracker.gaps
        if not tracker.receive(tp, offset):
            return False
        if tracker.gaps > gaps:
            log.warning("records skipped on %s before offset %d: reading them again", tp, offset)
            self.telemetry.count("input_gaps")
            if tp not in self._rereads:
                self._rereads.add(tp)
                asyncio.get_running_loop().create_task(self._reread(tp))
        return True

    async def _reread(self, tp: Any) -> None:
        """Seek back to the first skipped offset once no rebalance is running (a seek during one
        can crash faust's fetcher). If the partition moved away, its new owner reads from the
        committed offset, which never passed the gap."""
        try:
            for _ in range(600):
                if not self._app.rebalancing:
                    break
                await asyncio.sleep(0.1)
            start = self._app.offsets.first_missing(tp)
            if start is None:
                return  # read again meanwhile (a rebalance re-read the partition from its commit)
            if tp not in self._app.consumer.assignment():
                log.info("%s moved away before the re-read: its new owner reads from the commit", tp)
                return
            log.info("re-reading %s from offset %d", tp, start)
            await self._app.consumer.seek(tp, start)
            self._app.offsets.seeked(tp, start)
        except Exception as exc:  # the commit never passed the gap: a restart re-reads it anyway
            log.error("could not seek %s back to re-read skipped records: %r", tp, exc)
        finally:
            self._rereads.discard(tp)

    def finisher(self, message: Any) -> Callable[[], None]:
        """Called once the record's output is acknowledged by the broker: the offset may be committed."""
        tp, offset, finished = message.tp, message.offset, self._app.offsets.finished
        return lambda: finished(tp, offset)
