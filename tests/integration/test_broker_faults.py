"""The broker goes away: a single node restarted under load, and one node of three killed."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import pytest

from linguaflow.synthetic import unique_count
from testbed.services import Broker, Stack, make_stack, scratch_dir, start_broker
from tests.integration.faults import assert_every_request_has_one_correct_row, stream_requests, supervise

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster(admin_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    home = scratch_dir("cluster")
    broker: Broker = start_broker(home, cluster=True)
    stack = await make_stack(broker, admin_db_url, tmp_path_factory.mktemp("cluster"))
    stack.env["LINGUAFLOW_REPLICATION_FACTOR"] = "3"
    yield stack
    for worker in stack.workers:
        worker.kill()
    broker.script("stop")
    shutil.rmtree(home, ignore_errors=True)


async def test_single_broker_restart_loses_nothing(own_broker: Stack) -> None:
    stack = own_broker
    worker = stack.start_worker("w").wait_ready()
    await stream_requests(stack, 1000, 0.5, seed=61, run_id="brk", chunks=5, pause_s=0.2)
    proc = await asyncio.to_thread(stack.broker.script, "stop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    await asyncio.sleep(10)
    proc = await asyncio.to_thread(stack.broker.script, "start")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    await stream_requests(stack, 1000, 0.5, seed=62, run_id="brk2", chunks=5, pause_s=0.2)
    done = "SELECT count(*) FROM translation_requests"
    worker, restarts = await supervise(stack, worker, done, 2000, timeout_s=240)
    print(f"broker restart: 2000 requests, worker restarts needed: {restarts}")
    await assert_every_request_has_one_correct_row(stack, "brk", 2000, 2 * unique_count(1000, 0.5))


async def test_killing_one_of_three_brokers_under_load_loses_nothing(cluster: Stack) -> None:
    stack = cluster
    worker = stack.start_worker("w").wait_ready()
    load = asyncio.create_task(
        stream_requests(stack, 2000, 0.5, seed=63, run_id="nod", chunks=20, pause_s=0.3)
    )
    await asyncio.sleep(2)
    proc = await asyncio.to_thread(stack.broker.script, "kill", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    await load  # acks=all with min.insync.replicas=2: the two survivors take every write
    await asyncio.sleep(2)
    proc = await asyncio.to_thread(stack.broker.script, "start-node", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    done = "SELECT count(*) FROM translation_requests"
    worker, restarts = await supervise(stack, worker, done, 2000, timeout_s=240)
    print(f"1 of 3 brokers killed: 2000 requests, worker restarts needed: {restarts}")
    await assert_every_request_has_one_correct_row(stack, "nod-", 2000, unique_count(2000, 0.5))
