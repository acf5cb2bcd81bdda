"""Consumer lag per partition (end offset minus the consumer's position) for the agents' faust
consumer and the sink's consumer, published as the ``consumer_lag`` gauge. Only partitions this
worker owns are reported, so summing over workers gives the group's lag."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from linguaflow.telemetry import Telemetry

log = logging.getLogger("linguaflow.lag")

Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class LagSource:
    """What lag needs from a consumer (faust's and aiokafka's both fit through small lambdas)."""

    group: str
    topics: frozenset[str]
    assignment: Callable[[], Iterable[Any]]  # TopicPartition-like: .topic, .partition
    position: Callable[[Any], Awaitable[int | None]]
    end_offsets: Callable[[list[Any]], Awaitable[Mapping[Any, int]]]


def lag_readings(
    group: str, ends: Mapping[Any, int], positions: Mapping[Any, int | None]
) -> list[tuple[Labels, float]]:
    """Pure: one reading per partition with a known position and end offset (never negative)."""
    readings = []
    for tp, position in positions.items():
        end = ends.get(tp)
        if position is None or end is None:
            continue
        labels = {"group": group, "topic": tp.topic, "partition": str(tp.partition)}
        readings.append((labels, float(max(0, end - position))))
    return readings


async def measure(source: LagSource, timeout_s: float) -> list[tuple[Labels, float]]:
    tps = sorted(tp for tp in source.assignment() if tp.topic in source.topics)
    if not tps:
        return []
    ends = await asyncio.wait_for(source.end_offsets(tps), timeout_s)
    positions = {tp: await asyncio.wait_for(source.position(tp), timeout_s) for tp in tps}
    return lag_readings(source.group, ends, positions)


async def report_lag(telemetry: Telemetry, sources: Iterable[LagSource], timeout_s: float = 5) -> None:
    """Measure every source and replace the gauge's readings. A source that cannot answer now
    (not started, rebalancing, broker slow) is left out of this round."""
    readings: list[tuple[Labels, float]] = []
    for source in sources:
        try:
            readings += await measure(source, timeout_s)
        except Exception as exc:  # lag is best effort: it must never disturb the worker
            log.debug("consumer lag of %s not measured: %r", source.group, exc)
    telemetry.gauge("consumer_lag", readings)
