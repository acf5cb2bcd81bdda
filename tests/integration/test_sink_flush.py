"""``POST /flush``: with a sink that would otherwise wait ten minutes to write, what is buffered
reaches Postgres (and its offsets are committed) when asked, on a worker that runs the sink and on
a sink process; ``/stats`` shows the buffer before and the flush after."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import orjson
import pytest

from testbed.services import Stack, WorkerProcess
from tests.integration.runs import ROWS_FOR
from tests.integration.test_pipeline import send_synthetic

pytestmark = pytest.mark.integration


def post_flush(process: WorkerProcess) -> dict[str, Any]:
    s = process.settings
    request = urllib.request.Request(f"http://{s.web_host}:{s.web_port}/flush", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        body: dict[str, Any] = orjson.loads(answer.read())
        return body


def buffered(process: WorkerProcess, rows: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        buffer: dict[str, Any] = process.stats()["sink_buffer"]
        if buffer["rows"] >= rows or time.monotonic() > deadline:
            return buffer
        time.sleep(0.2)


@pytest.mark.parametrize("where", ["worker", "sink process"])
async def test_post_flush_writes_and_commits_what_is_buffered(stack: Stack, where: str) -> None:
    stack.env["LINGUAFLOW_SINK_FLUSH_MS"] = "600000"  # left alone, nothing is written for 10 min
    stack.env["LINGUAFLOW_SINK_BATCH_ROWS"] = "100000"
    if where == "sink process":
        stack.env["LINGUAFLOW_WORKER_SINK"] = "false"
    worker = stack.start_worker().wait_ready()
    sink = worker if where == "worker" else stack.start_sink().wait_ready()
    await send_synthetic(stack, 60, 0.5, seed=5, run_id="flush")
    buffer = buffered(sink, 60)
    assert buffer["rows"] == 60
    assert buffer["bytes"] > 60 * 100
    assert buffer["oldest_age_s"] >= 0
    assert buffer["last_flush_at"] is None
    assert await stack.fetchval(ROWS_FOR, "flush-%") == 0

    assert post_flush(sink) == {"rows_written": 60}
    assert await stack.fetchval(ROWS_FOR, "flush-%") == 60  # written before the answer
    after = sink.stats()["sink_buffer"]
    assert (after["rows"], after["last_flush_rows"]) == (0, 60)
    assert post_flush(sink) == {"rows_written": 0}
    for process in {id(p): p for p in (worker, sink)}.values():
        assert process.stop() == 0, process.log_tail()
