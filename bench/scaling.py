"""Scaling: the same 90 % duplicate load on 1, 2 and 4 worker processes (one consumer group, 4 or
8 partitions), on 1 worker whose sink runs as a process of its own (``linguaflow sink``,
``WORKER_SINK=false``), and on 1 worker on the standard library's event loop instead of uvloop,
each on a fresh stack. Throughput is first publish to last row in
Postgres. Each run also reports the CPU its linguaflow processes used per request and how busy
the machine's cores were (the broker, Postgres and the load generator share them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import psutil

from bench.e2e import DUP_RATIOS
from bench.infra import Infra, cpu_seconds
from bench.load import publish_requests, rows_inserted, run_requests, wait_rows
from bench.steal import StealMeter
from linguaflow.settings import EventLoop
from testbed.services import WorkerProcess

DUP_RATIO = DUP_RATIOS[2]  # 90 %


@dataclass(frozen=True)
class Shape:
    workers: int
    sinks: int = 0  # `linguaflow sink` processes; with any, the workers run WORKER_SINK=false
    partitions: int = 4
    event_loop: EventLoop = "uvloop"
    brokers: int = 1  # 3: the three-node cluster, topics replicated 3 times


SHAPES = {
    "workers_1": Shape(1),
    "workers_1_asyncio": Shape(1, event_loop="asyncio"),
    "workers_2": Shape(2),
    "workers_2_p8": Shape(2, partitions=8),
    "workers_4_p8": Shape(4, partitions=8),
    "workers_1_sink_1": Shape(1, sinks=1),
}


@dataclass(frozen=True)
class CpuSnapshot:
    processes_s: float  # user + system seconds of the linguaflow processes
    machine_busy_s: float  # every core's non-idle seconds
    machine_total_s: float


def cpu_snapshot(procs: list[WorkerProcess]) -> CpuSnapshot:
    """Counted as psutil's own ``cpu_percent`` counts: on Linux guest time is already in user
    and nice, and iowait is idle."""
    machine = psutil.cpu_times()
    total = sum(machine) - getattr(machine, "guest", 0.0) - getattr(machine, "guest_nice", 0.0)
    idle = machine.idle + getattr(machine, "iowait", 0.0)
    return CpuSnapshot(sum(cpu_seconds(proc.proc.pid) for proc in procs), total - idle, total)


def cpu_use(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> dict[str, float]:
    """CPU ms per request of the processes and of the whole machine (every core, every process:
    the broker, Postgres and the load generator too), and the machine's cores busy over the
    window (0.9 = 90 % of every core)."""
    busy, total = after.machine_busy_s - before.machine_busy_s, after.machine_total_s - before.machine_total_s
    return {
        "cpu_ms_per_request": 1000 * (after.processes_s - before.processes_s) / requests,
        "machine_cpu_ms_per_request": 1000 * busy / requests,
        "machine_busy": busy / total if total else float("nan"),
    }


async def run_shape(infra: Infra, name: str, shape: Shape, requests: int) -> dict[str, Any]:
    stack = await infra.stack(f"scale-{name}", brokers=shape.brokers)
    stack.env["LINGUAFLOW_PARTITIONS"] = str(shape.partitions)
    stack.env["LINGUAFLOW_EVENT_LOOP"] = shape.event_loop
    if shape.sinks:
        stack.env["LINGUAFLOW_WORKER_SINK"] = "false"
    procs = [infra.worker(stack, f"{name}-w{i}") for i in range(shape.workers)]
    procs += [infra.sink(stack, f"{name}-s{i}") for i in range(shape.sinks)]
    for proc in procs:
        proc.wait_ready()
    await asyncio.sleep(2)  # the last one to join triggered a rebalance: let it settle
    for proc in procs:
        proc.wait_ready()
    load = run_requests(name, space=name, count=requests, dup_ratio=DUP_RATIO)
    try:
        inserted = rows_inserted(procs)
        before, meter = cpu_snapshot(procs), StealMeter()
        started = await publish_requests(stack.settings, load)
        summary = await wait_rows(stack.settings, name, requests, started, inserted=inserted)
        cpu = cpu_use(before, cpu_snapshot(procs), requests)
        stolen = meter.cores()
    finally:
        exit_codes = [proc.stop() for proc in procs]
    elapsed = summary["last_row_s"] or float("nan")
    return {
        "workers": shape.workers,
        "sinks": shape.sinks,
        "partitions": shape.partitions,
        "event_loop": shape.event_loop,
        "brokers": shape.brokers,
        "requests": requests,
        "requests_per_s": requests / elapsed,
        "complete": summary["complete"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        **cpu,
        "stolen_cores": stolen,
        "exit_codes": exit_codes,
    }


async def run_scaling(infra: Infra, requests: int) -> dict[str, Any]:
    out = {}
    for name, shape in SHAPES.items():
        print(
            f"  scaling: {shape.workers} worker(s) + {shape.sinks} sink process(es), "
            f"{shape.partitions} partitions, {shape.event_loop}, {requests} requests, "
            f"{DUP_RATIO:.0%} duplicates",
            flush=True,
        )
        out[name] = await run_shape(infra, name, shape, requests)
    return out
