"""A worker rides out a peer outage by itself. The broker or Postgres is killed (kill -9, then
started again on the same data and port) or hung (SIGSTOP, then SIGCONT) under load, for longer
than every client timeout. The same worker process must answer /health throughout, say on /ready
why it is not ready while the peer is away, and then turn every request into exactly one correct
row, with no text translated twice. Nothing restarts it.

Each test runs on a peer of its own (a private broker, or a private Postgres), never the shared
ones. ``make faults-long`` (LINGUAFLOW_FAULTS_LONG=1) runs every fault for 60 s and 300 s with the
product's default client timeouts; LINGUAFLOW_OUTAGE_S=40,90 picks other lengths. Every test
prints one FAULT line of the fault table (appended as JSON to $LINGUAFLOW_FAULT_TABLE if set)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from linguaflow.synthetic import unique_count
from testbed.services import Broker, Stack, WorkerProcess, make_stack, scratch_dir, start_broker
from tests.integration.faults import (
    BrokerFault,
    Fault,
    PostgresFault,
    assert_every_request_has_one_correct_row,
    health_status,
    provider_translations_per_key,
    ready_status,
    record_fault,
    start_own_postgres,
    stop_own_postgres,
    stream_requests,
    where_are_missing,
)
from tests.integration.runs import ROWS_FOR

pytestmark = pytest.mark.integration

LONG = os.environ.get("LINGUAFLOW_FAULTS_LONG") == "1"
OUTAGES = [float(s) for s in os.environ.get("LINGUAFLOW_OUTAGE_S", "60,300" if LONG else "40").split(",")]
# CI: client timeouts a 40 s outage outlasts (as it outlasts the sink's 15 s write timeout);
# the long runs use the product's defaults.
CI_TIMEOUTS = {
    "LINGUAFLOW_KAFKA_REQUEST_TIMEOUT_MS": "15000",
    "LINGUAFLOW_KAFKA_SESSION_TIMEOUT_MS": "10000",
}
FAULTS = ["broker-dead", "broker-hung", "postgres-dead", "postgres-hung"]
STREAM, BURST, DUP, RUN = 2400, 600, 0.5, "out"
COUNT = STREAM + BURST
UNIQUE = unique_count(STREAM, DUP) + unique_count(BURST, DUP)  # two seeds: two sets of texts
FAULT_AFTER_S = 4.0  # into the stream (30 chunks, 0.4 s apart: ~15 s of publishing)
RECOVER_TIMEOUT_S = 240.0
PROBE_EVERY_S = 1.0


@pytest.fixture
async def outage(
    request: pytest.FixtureRequest, broker: Broker, admin_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, Fault]]:
    """A stack whose broker (``broker-*``) or Postgres (``postgres-*``) is its own, and the fault."""
    peer, kind = request.param.split("-")
    home = scratch_dir(f"outage-{peer}")
    stack: Stack | None = None
    fault: Fault | None = None
    own_broker: Broker | None = None
    own_pg = None
    try:
        if peer == "broker":
            try:
                started = await asyncio.to_thread(start_broker, home)
            except RuntimeError as exc:
                pytest.fail(str(exc), pytrace=False)
            if started.data_dir is None:
                pytest.fail("LINGUAFLOW_TEST_KAFKA_BOOTSTRAP: an external broker cannot be faulted")
            own_broker = started
            stack = await make_stack(own_broker, admin_db_url, tmp_path)
            fault = BrokerFault(own_broker, kind)
        else:
            try:
                own_pg = await asyncio.to_thread(start_own_postgres, home)
            except Exception as exc:
                pytest.fail(f"the private PostgreSQL did not start: {exc}", pytrace=False)
            stack = await make_stack(broker, own_pg.url, tmp_path)
            fault = PostgresFault(own_pg, kind)
        if not LONG:
            stack.env.update(CI_TIMEOUTS)
        yield stack, fault
    finally:
        if fault is not None:
            fault.release()  # a peer left stopped would hang everything below
        for worker in stack.workers if stack else []:
            worker.kill()  # by its pid
        if own_broker is not None:
            await asyncio.to_thread(own_broker.script, "stop")
        if own_pg is not None:
            await asyncio.to_thread(stop_own_postgres, own_pg)
        shutil.rmtree(home, ignore_errors=True)


def assert_alive(worker: WorkerProcess, when: str) -> None:
    if worker.proc.poll() is not None:
        raise AssertionError(
            f"the worker (pid {worker.proc.pid}) exited with {worker.proc.returncode} {when}: it must"
            f" ride out the outage\n--- worker log ---\n{worker.log_tail(6000)}"
        )


def log_summary(worker: WorkerProcess, top: int = 12) -> str:
    """The worker's log lines above INFO, counted by logger and message start."""
    seen: Counter[str] = Counter()
    for line in worker.log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("level") not in ("INFO", "DEBUG"):
                seen[f"{entry.get('level')} {entry.get('logger')}: {str(entry.get('msg'))[:140]}"] += 1
    return "\n".join(f"  {n:4d} x {text}" for text, n in seen.most_common(top)) or "  (nothing above INFO)"


async def probe_while_down(stack: Stack, worker: WorkerProcess, until: float) -> list[Any]:
    """GET /ready and /health about once a second until ``until``; [(t, ready, health)]."""
    probes = []
    while time.monotonic() < until:
        assert_alive(worker, "during the outage")
        ready, health = await asyncio.gather(
            asyncio.to_thread(ready_status, stack, 5), asyncio.to_thread(health_status, stack, 5)
        )
        probes.append((round(time.monotonic() - until, 1), ready, health))
        await asyncio.sleep(max(0.0, min(PROBE_EVERY_S, until - time.monotonic())))
    return probes


async def wait_all_rows(stack: Stack, worker: WorkerProcess, timeout_s: float) -> float | None:
    """When (monotonic) the last row arrived, or None if they did not all arrive in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert_alive(worker, "while catching up")
        if await stack.fetchval(ROWS_FOR, f"{RUN}-%") >= COUNT:
            return time.monotonic()
        await asyncio.sleep(0.25)
    return None


@pytest.mark.parametrize(
    "outage_s", [pytest.param(s, id=f"{s:g}s", marks=pytest.mark.timeout(int(s) + 540)) for s in OUTAGES]
)
@pytest.mark.parametrize("outage", FAULTS, indirect=True)
async def test_worker_rides_out_the_outage(outage: tuple[Stack, Fault], outage_s: float) -> None:
    stack, fault = outage
    worker = stack.start_worker("w").wait_ready()
    pid = worker.proc.pid
    # Publishing pauses between chunks while the test holds the gate: for the fault's burst, and
    # while the broker is away (it takes no requests then).
    gate = asyncio.Lock()
    load = asyncio.create_task(
        stream_requests(stack, STREAM, DUP, seed=71, run_id=RUN, chunks=30, pause_s=0.4, gate=gate)
    )
    try:
        await asyncio.sleep(FAULT_AFTER_S)
        assert_alive(worker, "before the fault")
        await gate.acquire()
        held = True
        try:
            # The fault strikes just after a burst was acknowledged: the worker is busy with it, so
            # it has work in flight (requests read, output unacknowledged, rows unwritten).
            await stream_requests(stack, BURST, DUP, seed=72, run_id=RUN, chunks=1, pause_s=0)
            began = time.monotonic()
            await asyncio.to_thread(fault.inject)
            print(f"\n{fault.name}: injected {FAULT_AFTER_S:g} s into the load, for {outage_s:g} s")
            if fault.peer == "postgres":
                gate.release()  # the broker takes the rest of the load meanwhile
                held = False
            probes = await probe_while_down(stack, worker, began + outage_s)
            await asyncio.to_thread(fault.end)
            back = time.monotonic()
        finally:
            fault.release()
            if held:
                gate.release()
        while not load.done():
            assert_alive(worker, "while the rest was published")
            await asyncio.sleep(0.5)
        await load
        published = time.monotonic()
        last_row = await wait_all_rows(stack, worker, RECOVER_TIMEOUT_S)
    finally:
        load.cancel()

    rows = await stack.fetchval(ROWS_FOR, f"{RUN}-%")
    distinct = await stack.fetchval(
        "SELECT count(DISTINCT request_id) FROM translation_requests WHERE request_id LIKE $1", f"{RUN}-%"
    )
    per_key = await provider_translations_per_key(stack)
    record_fault(
        {
            "fault": fault.name,
            "duration_s": back - began,
            "requests": COUNT,
            "rows": rows,
            "lost": COUNT - distinct,
            "duplicate_rows": rows - distinct,
            "provider_texts": sum(per_key.values()),
            "unique_keys": UNIQUE,
            "recover_s": None if last_row is None else last_row - back,
        }
    )
    # One entry per kind of answer ("... for 15 s", "... for 16 s": "... for N s").
    not_ready = [", ".join(r[1]) for _, r, _ in probes if r and r[0] == 503 and r[1]]
    reasons = sorted({re.sub(r"\d+", "N", text) for text in not_ready})
    print(f"/ready while down: {len(probes)} probes, not-ready reasons seen: {reasons or 'none'}")
    print(f"all requests published {max(0.0, published - back):.1f} s after the return")
    print(f"worker log above INFO:\n{log_summary(worker)}")

    assert_alive(worker, "after the outage")
    assert [w.proc.pid for w in stack.workers] == [pid]  # one process throughout, never restarted
    assert last_row is not None, (
        f"not every request became a row {RECOVER_TIMEOUT_S:.0f} s after the {fault.peer} returned: "
        + await where_are_missing(stack, f"{RUN}-")
        + f"\n--- worker log ---\n{worker.log_tail(6000)}"
    )
    await assert_every_request_has_one_correct_row(stack, f"{RUN}-", COUNT, UNIQUE)
    again = {key: n for key, n in per_key.items() if n != 1}
    assert not again, f"{len(again)} keys translated more than once, e.g. {list(again.items())[:5]}"
    assert len(per_key) == UNIQUE, f"{len(per_key)} keys translated by the provider, not {UNIQUE}"
    assert reasons, f"/ready never answered 503 with a reason while the {fault.peer} was away: {probes}"
    unhealthy = [(t, h) for t, _, h in probes if h != 200]
    assert not unhealthy, f"/health did not answer 200 while down ((s before the end, status)): {unhealthy}"
