"""A worker that has decided to stop ends within LINGUAFLOW_SHUTDOWN_TIMEOUT_S, whatever its
shutdown meets: a SIGTERM drain that cannot finish (the broker hung) ends with exit code 1, and so
does a fatal error. Both on a broker of their own (``own_broker``)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from linguaflow.kafka import client_config
from linguaflow.produce import publish
from linguaflow.synthetic import synthetic_requests
from testbed.services import Stack, WorkerProcess
from tests.integration.faults import BrokerFault, stream_requests
from tests.integration.runs import ROWS_FOR

pytestmark = pytest.mark.integration

BOUND_S = 8.0
SLACK_S = 6.0  # the deadline thread's own margin and the interpreter's exit


async def wait_exit(worker: WorkerProcess, timeout_s: float) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        code = await asyncio.to_thread(worker.proc.wait, timeout_s)
    except Exception:  # still running: the bound did not hold
        code = None
    return code, time.monotonic() - started


async def test_a_drain_that_cannot_finish_ends_non_zero_within_the_bound(own_broker: Stack) -> None:
    stack = own_broker
    stack.env["LINGUAFLOW_SHUTDOWN_TIMEOUT_S"] = str(BOUND_S)
    worker = stack.start_worker("w").wait_ready()
    await stream_requests(stack, 300, 0.5, seed=71, run_id="drn", chunks=3, pause_s=0.2)
    assert await stack.wait_for(ROWS_FOR, 300, "drn-%", timeout_s=120) == 300
    fault = BrokerFault(stack.broker, "hung")
    try:
        fault.inject()  # connections accepted, nothing answers: no commit can complete
        worker.proc.send_signal(signal.SIGTERM)
        code, elapsed = await wait_exit(worker, BOUND_S + SLACK_S + 60)
    finally:
        fault.release()
    log = worker.log_tail(40_000)
    print(f"SIGTERM with the broker hung: exit {code} after {elapsed:.1f} s (bound {BOUND_S:.0f} s)")
    assert code == 1, log
    assert elapsed <= BOUND_S + SLACK_S, log
    assert "still running after" in log


async def test_a_fatal_error_ends_the_worker_non_zero_within_the_bound(own_broker: Stack) -> None:
    """The broker refuses a result for good: larger than its topic's max.message.bytes."""
    stack = own_broker
    stack.env["LINGUAFLOW_SHUTDOWN_TIMEOUT_S"] = str(BOUND_S)
    settings = stack.settings
    admin = AIOKafkaAdminClient(**client_config(settings))
    await admin.start()
    try:
        limit = {"max.message.bytes": "2000"}
        await admin.create_topics(
            [NewTopic(settings.results_topic, settings.partitions, 1, topic_configs=limit)]
        )
    finally:
        await admin.close()
    worker = stack.start_worker("w").wait_ready()
    [small] = synthetic_requests(1, 0.0, seed=73, now_ms=int(time.time() * 1000), run_id="big")
    big = {**small, "request_id": "too-big", "text": "x" * 5000}
    report = await publish(settings, [big], total=None, now_ms=int(time.time() * 1000), progress=False)
    assert report.sent == 1
    for _ in range(300):
        if "fatal error, stopping the worker" in worker.log_tail(40_000):
            break
        await asyncio.sleep(0.2)
    code, elapsed = await wait_exit(worker, BOUND_S + SLACK_S + 60)
    log = worker.log_tail(40_000)
    print(f"fatal error: exit {code} {elapsed:.1f} s after it was logged (bound {BOUND_S:.0f} s)")
    assert "MessageSizeTooLargeError" in log, log
    assert code == 1, log
    assert elapsed <= BOUND_S + SLACK_S, log
