"""The per-user limit holds across workers: two workers share the keyed partitions, each enforces
its share of ``USER_REQUESTS_PER_MIN``, so one user's burst is the limit in all, not twice it; the
rest waits its turn (``/ready`` and ``/stats`` say so) and every request still gets its row."""

from __future__ import annotations

import asyncio
import time

import pytest

from linguaflow.produce import publish
from testbed.services import Stack, WorkerProcess
from tests.integration.runs import ROWS_FOR

pytestmark = pytest.mark.integration

LIMIT = 60  # per minute: a burst of 60, then one a second, across the two workers
COUNT = 100  # new texts from one user


def settled_shares(workers: list[WorkerProcess], timeout_s: float = 120) -> list[float | None]:
    """Each worker's share of the limit once the group has settled (half the partitions each)."""
    deadline = time.monotonic() + timeout_s
    while True:
        shares = [w.stats()["user_requests_per_min_here"] for w in workers]
        if shares == [LIMIT / 2, LIMIT / 2] or time.monotonic() > deadline:
            return shares
        time.sleep(0.5)


async def test_one_users_burst_is_the_limit_across_two_workers(stack: Stack) -> None:
    stack.env["LINGUAFLOW_USER_REQUESTS_PER_MIN"] = str(LIMIT)
    stack.env["LINGUAFLOW_LAG_INTERVAL_S"] = "1"
    workers = [stack.start_worker(f"w{i}", own_port=True).wait_ready() for i in range(2)]
    assert settled_shares(workers) == [LIMIT / 2, LIMIT / 2]

    now = int(time.time() * 1000)
    requests = [
        {"request_id": f"bulk-{i}", "text": f"bulk text number {i}", "target_lang": "de", "user": "importer"}
        for i in range(COUNT)
    ]
    started = time.monotonic()
    report = await publish(stack.settings, requests, total=COUNT, now_ms=now, progress=False)
    assert report.sent == COUNT
    await asyncio.sleep(max(0.0, started + 8 - time.monotonic()))
    early = await stack.fetchval(ROWS_FOR, "bulk-%")
    waiting = sum(w.stats()["waiting_on_user_limit"] for w in workers)
    # Per-process limits would have let all 100 through at once; one limit in all lets the burst
    # (60) and about one a second since. A slow machine only makes ``early`` smaller.
    assert early <= LIMIT + 8 + 4, early
    assert waiting > 0
    assert await stack.wait_for(ROWS_FOR, COUNT, "bulk-%", timeout_s=240) == COUNT  # none dead-lettered
    for worker in workers:
        assert worker.stop() == 0, worker.log_tail()
