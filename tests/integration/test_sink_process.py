"""The sink as a process of its own (``linguaflow sink``), with workers that run no sink
(``LINGUAFLOW_WORKER_SINK=false``): results wait in their topic until a sink runs, every one
becomes a row, and SIGTERM commits what was written."""

from __future__ import annotations

import asyncio
import time

import pytest

from linguaflow.kafka import end_offsets
from linguaflow.synthetic import unique_count
from testbed.services import Stack, free_port
from tests.integration.runs import committed_offsets
from tests.integration.test_pipeline import ROWS_FOR, send_synthetic

pytestmark = pytest.mark.integration


async def _wait_for_results(stack: Stack, expected: int, timeout_s: float = 90) -> int:
    topic = stack.settings.results_topic
    deadline = time.monotonic() + timeout_s
    while True:
        found = (await end_offsets(stack.settings, [topic]))[topic]
        if found >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def test_a_sink_process_writes_what_workers_without_a_sink_produced(stack: Stack) -> None:
    stack.env["LINGUAFLOW_WORKER_SINK"] = "false"
    worker = stack.start_worker().wait_ready()  # ready without a database to reach
    await send_synthetic(stack, 600, 0.5, seed=11, run_id="split")
    assert await _wait_for_results(stack, 600) == 600
    assert await stack.fetchval(ROWS_FOR, "split-%") == 0  # the worker wrote nothing
    assert worker.counter("sink_rows") == 0

    sink = stack.start_sink().wait_ready()
    assert await stack.wait_for(ROWS_FOR, 600, "split-%") == 600, sink.log_tail()
    unique = unique_count(600, 0.5)
    assert await stack.fetchval("SELECT count(*) FROM translations") == unique
    stats = sink.stats()
    assert stats["role"] == "sink"
    assert stats["counters"]["sink_requests_inserted"] == 600
    rows = [s.value for s in sink.metrics() if s.name == "linguaflow_sink_rows_total"]
    assert sum(rows) == 600

    assert sink.stop() == 0, sink.log_tail()
    committed = await committed_offsets(stack, stack.settings.sink_group)
    assert sum(committed.values()) == 600  # every partition committed to its end, on SIGTERM
    assert worker.stop() == 0, worker.log_tail()


async def test_a_sink_process_that_cannot_reach_postgres_exits_non_zero_and_says_why(
    stack: Stack,
) -> None:
    stack.env["DATABASE_URL"] = f"postgresql://linguaflow@127.0.0.1:{free_port()}/absent"
    sink = stack.start_sink()
    code = await asyncio.to_thread(sink.proc.wait, 60)
    assert code == 1
    log = sink.log_path.read_text()
    assert "sink process failed" in log
    assert "Connect call failed" in log or "Connection refused" in log, log
