"""End to end: one worker (agents + sink, the `pseudo` provider) and a sequence of runs, each in
its own key space: duplicate ratios, then a warm-cache run (the texts of the 0 % run again, all
hits), then the same warm load paced at half of the measured warm throughput (the latency
target's rate), a quarter of it and three quarters of it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.infra import Infra, ProcessSampler
from bench.load import (
    latency_series,
    publish_requests,
    rows_inserted,
    run_requests,
    sink_rows_per_s,
    wait_rows,
)
from bench.steal import steal_series, stolen_cores
from testbed.services import Stack, WorkerProcess

DUP_RATIOS = (0.0, 0.5, 0.9, 0.99)
# Shares of the warm maximum the all-hit load is paced at, and each run's name; half is the
# latency target's. The others are capped at PACED_EXTRA_REQUESTS: at a fixed rate the fetches
# are as full after 300,000 requests as after a million, and a quarter of the maximum for a
# million requests would add minutes for nothing.
PACED_RUNS = ((0.5, "warm_paced"), (0.25, "warm_paced_25"), (0.75, "warm_paced_75"))
PACED_EXTRA_REQUESTS = 300_000


async def one_run(
    stack: Stack,
    worker: WorkerProcess,
    sampler: ProcessSampler,
    requests: list[dict[str, Any]],
    run_id: str,
    *,
    rate_per_s: float | None = None,
) -> dict[str, Any]:
    before = worker.stats()["counters"]
    first = sampler.sample()
    inserted = rows_inserted([worker])
    started = await publish_requests(stack.settings, requests, rate_per_s=rate_per_s)
    published_s = time.monotonic() - started
    summary = await wait_rows(stack.settings, run_id, len(requests), started, inserted=inserted)
    await asyncio.sleep(0.3)  # let the worker's counters settle after the last row
    after = worker.stats()["counters"]
    last = sampler.sample()
    cpu_s = last[2] - first[2]
    n = len(requests)
    elapsed = summary["last_row_s"] or float("nan")
    calls = int(after.get("provider_calls", 0)) - int(before.get("provider_calls", 0))
    texts = int(after.get("provider_texts", 0)) - int(before.get("provider_texts", 0))
    series = summary.pop("rows_over_time")
    if rate_per_s is not None:  # where in the run the slow ones are (start-up, periodic, or all along)
        summary["latency_over_time"] = await latency_series(stack.settings, run_id)
        window = [first, *(s for s in sampler.samples if first[0] < s[0] < last[0]), last]
        summary["steal_over_time"] = steal_series(window, first[0])
    return {
        "run_id": run_id,
        "requests": n,
        "paced_rate_per_s": rate_per_s,
        "publish_s": published_s,
        "elapsed_s": elapsed,
        "requests_per_s": n / elapsed,
        "provider_calls": calls,
        "provider_texts": texts,
        "provider_calls_per_1000": 1000 * calls / n,
        "provider_texts_per_1000": 1000 * texts / n,
        "unique_keys_per_1000": 1000 * summary["unique_keys"] / n,
        # Rows are followed once publishing is over: a paced run's sink had only its tail left
        # by then, and kept the publisher's pace before; an unpaced run's backlog keeps it busy.
        "sink_rows_per_s": None if rate_per_s else sink_rows_per_s(series),
        "cpu_s": cpu_s,
        "cpu_ms_per_request": 1000 * cpu_s / n,
        "stolen_cores": stolen_cores(first[3], last[3], last[0] - first[0]),
        "window_s": [first[0], last[0]],
        **summary,
    }


async def run_end_to_end(infra: Infra, requests: int, profile_to: Path | None = None) -> dict[str, Any]:
    stack = await infra.stack("e2e")
    launched = time.monotonic()
    worker = infra.worker(stack, "e2e-worker", profile_to=profile_to).wait_ready()
    ready_s = time.monotonic() - launched
    sampler = ProcessSampler(worker.proc.pid, probe=lambda: disk_store_mib(worker, "cache_usage")).start()
    runs: dict[str, Any] = {}
    try:
        for ratio in DUP_RATIOS:
            run_id = f"dup{int(ratio * 100)}"
            print(f"  end-to-end: {requests} requests, {ratio:.0%} duplicates", flush=True)
            load = run_requests(run_id, space=run_id, count=requests, dup_ratio=ratio)
            runs[run_id] = await one_run(stack, worker, sampler, load, run_id)
        print(f"  end-to-end: warm cache ({requests} requests, all hits)", flush=True)
        warm = run_requests("warm", space="dup0", count=requests, dup_ratio=0.0)
        runs["warm"] = await one_run(stack, worker, sampler, warm, "warm")
        warm_max = runs["warm"]["requests_per_s"]
        for share, name in PACED_RUNS:
            count = requests if name == "warm_paced" else min(requests, PACED_EXTRA_REQUESTS)
            rate = warm_max * share
            print(
                f"  end-to-end: warm cache paced at {rate:.0f}/s ({share:.0%} of the warm maximum)",
                flush=True,
            )
            paced = run_requests(name, space="dup0", count=count, dup_ratio=0.0)
            runs[name] = await one_run(stack, worker, sampler, paced, name, rate_per_s=rate)
    finally:
        sampler.stop()
        budget = disk_store_mib(worker, "cache_capacity")
        exit_code = worker.stop()
    return {
        "worker_ready_s": ready_s,
        "worker_exit_code": exit_code,
        "runs": runs,
        "process": [list(s) for s in sampler.samples],
        # CACHE_STORE=disk: RocksDB's use of its memory budget (block cache, index and filter
        # blocks, memtables), beside the RSS; empty with the memory store
        "rocksdb_cache_mib": [list(s) for s in sampler.probed],
        "rocksdb_budget_mib": budget,
    }


def disk_store_mib(worker: WorkerProcess, figure: str) -> float | None:
    """A figure of the disk store's RocksDB memory from the worker's ``/stats`` (``cache_usage``:
    what it uses of its budget now; ``cache_capacity``: the budget), in MiB; None with the memory
    store or when the worker does not answer."""
    try:
        disk = worker.stats().get("cache_disk")
    except OSError:
        return None
    return None if not disk else disk[figure] / 2**20
