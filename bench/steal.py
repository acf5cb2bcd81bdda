"""CPU the host took from this machine: ``steal`` in /proc/stat, the time its virtual cores were
ready to run while the hypervisor ran another guest.

On this shared 2-core machine steal comes in stretches. A window that overlaps one has less than
two cores, so its rate is lower and its latency tail longer for reasons outside the code. A probe
on 2026-12-03 found the paced runs' slow stretches in the windows with steal. So every measured window
records the cores stolen during it, and the report prints them beside the numbers."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Sequence
from typing import Any

import psutil


def stolen_s() -> float:
    """Seconds stolen from all cores since boot (0.0 where the platform does not report it)."""
    return float(getattr(psutil.cpu_times(), "steal", 0.0))


def stolen_cores(before_s: float, after_s: float, elapsed_s: float) -> float | None:
    """Cores stolen on average over a window (0.5 = half of one core the whole time)."""
    return None if elapsed_s <= 0 else max(0.0, after_s - before_s) / elapsed_s


def steal_series(samples: Sequence[Sequence[float]], start_s: float) -> list[tuple[float, float]]:
    """(seconds since ``start_s``, cores stolen since the sample before) for samples of
    ``(t, ..., stolen_s)``, stolen seconds last, as ``ProcessSampler`` takes them."""
    series = []
    for before, after in itertools.pairwise(samples):
        cores = stolen_cores(before[-1], after[-1], after[0] - before[0])
        if cores is not None:
            series.append((after[0] - start_s, cores))
    return series


class StealMeter:
    """Cores stolen since it was made."""

    def __init__(self) -> None:
        self._t0, self._s0 = time.monotonic(), stolen_s()

    def cores(self) -> float | None:
        return stolen_cores(self._s0, stolen_s(), time.monotonic() - self._t0)


async def metered(work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A baseline's result with ``stolen_cores``: the cores stolen while it ran."""
    meter = StealMeter()
    result = await work
    result["stolen_cores"] = meter.cores()
    return result
