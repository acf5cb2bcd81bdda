"""A worker whose processing stalls silently (no error, no crash: a provider call that never
answers holds every slot, the agents' buffers fill and the consumer stops reading) must say so
on /ready, and come back by itself when the stall ends, losing nothing."""

from __future__ import annotations

import asyncio
import time

import pytest

from testbed.fakes.apis import DEEPL
from testbed.fakes.server import HANG, OK, FakeApi
from testbed.services import Stack
from tests.integration.faults import (
    assert_every_request_has_one_correct_row,
    ready_status,
    slow_deepl_env,
    stream_requests,
)

pytestmark = pytest.mark.integration

STALLED = "consumer stalled: input waiting but no offset moved"


async def wait_for_ready_state(stack: Stack, want: bool, timeout_s: float) -> list[str]:
    """Poll /ready until it is (want=True) or is not ready; the last reasons seen."""
    deadline = time.monotonic() + timeout_s
    reasons: list[str] = []
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(ready_status, stack)
        if status is not None:
            reasons = status[1]
            if (status[0] == 200) == want and (want or STALLED in reasons):
                return reasons
        await asyncio.sleep(0.5)
    raise AssertionError(f"/ready never became {'ready' if want else 'stalled'}: last reasons {reasons}")


async def test_a_stalled_worker_turns_unready_and_recovers_when_the_stall_ends(stack: Stack) -> None:
    provider = FakeApi(DEEPL, HANG).start()
    try:
        stack.env.update(
            {
                **slow_deepl_env(provider),
                "LINGUAFLOW_PROVIDER_MAX_INFLIGHT_BATCHES": "1",
                "LINGUAFLOW_USER_REQUESTS_PER_MIN": "0",
                "LINGUAFLOW_STALL_AFTER_S": "3",
            }
        )
        worker = stack.start_worker("stalling").wait_ready()
        # More unique requests than the agents' buffers hold, so the consumer must stop reading.
        await stream_requests(stack, 12_000, 0.0, seed=53, run_id="stall", chunks=4, pause_s=0.1)
        await wait_for_ready_state(stack, want=False, timeout_s=90)
        assert worker.proc.poll() is None  # silent: the process is alive and /health says ok
        provider.always(OK)
        provider.release()
        await wait_for_ready_state(stack, want=True, timeout_s=180)
        await assert_every_request_has_one_correct_row(stack, "stall-", 12_000, 12_000)
        assert worker.stop() == 0, worker.log_tail()
    finally:
        provider.stop()
