"""Scaling: the same 90 % duplicate load on 1 and on 2 worker processes (one consumer group, the
same 4 partitions), and on 1 worker whose sink runs as a process of its own (``linguaflow sink``,
``WORKER_SINK=false``), each on a fresh stack. Throughput is first publish to last row in Postgres."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.e2e import DUP_RATIOS
from bench.infra import Infra
from bench.load import publish_requests, rows_inserted, run_requests, wait_rows

DUP_RATIO = DUP_RATIOS[2]  # 90 %
SHAPES = {"workers_1": (1, 0), "workers_2": (2, 0), "workers_1_sink_1": (1, 1)}  # (workers, sinks)


async def run_workers(infra: Infra, workers: int, requests: int, *, sinks: int = 0) -> dict[str, Any]:
    run_id = f"scale{workers}s{sinks}"
    stack = await infra.stack(run_id)
    if sinks:
        stack.env["LINGUAFLOW_WORKER_SINK"] = "false"
    procs = [infra.worker(stack, f"{run_id}-w{i}") for i in range(workers)]
    procs += [infra.sink(stack, f"{run_id}-s{i}") for i in range(sinks)]
    for proc in procs:
        proc.wait_ready()
    await asyncio.sleep(2)  # the last one to join triggered a rebalance: let it settle
    for proc in procs:
        proc.wait_ready()
    load = run_requests(run_id, space=run_id, count=requests, dup_ratio=DUP_RATIO)
    try:
        inserted = rows_inserted(procs)
        started = await publish_requests(stack.settings, load)
        summary = await wait_rows(stack.settings, run_id, requests, started, inserted=inserted)
    finally:
        exit_codes = [proc.stop() for proc in procs]
    elapsed = summary["last_row_s"] or float("nan")
    return {
        "workers": workers,
        "sinks": sinks,
        "requests": requests,
        "requests_per_s": requests / elapsed,
        "complete": summary["complete"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "exit_codes": exit_codes,
    }


async def run_scaling(infra: Infra, requests: int) -> dict[str, Any]:
    out = {}
    for name, (workers, sinks) in SHAPES.items():
        shape = f"{workers} worker(s) + {sinks} sink process(es)"
        print(f"  scaling: {shape}, {requests} requests, {DUP_RATIO:.0%} duplicates", flush=True)
        out[name] = await run_workers(infra, workers, requests, sinks=sinks)
    return out
