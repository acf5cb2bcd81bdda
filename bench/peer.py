"""linguaflow against the peer users would pick: a Quix Streams build of the same pipeline
(``bench/quix_pipeline.py``). Per duplicate ratio, one request topic is filled first; then each
system in turn is started on it (its own consumer group, topics and tables, the same broker and
Postgres) and drains it into Postgres. Nothing else runs meanwhile: no load generator.

Per system: requests/s from its start to its last row (start-up included) and at its steady
pace (from 10 % to 90 % of the rows), and CPU per request of its own processes, of the broker, of
Postgres and of the whole machine. Rows are counted with ``count(*)`` every 0.25 s, for both
systems alike."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.infra import Infra
from bench.load import publish_requests, run_requests, sink_rows_per_s
from bench.scaling import cpu_snapshot, cpu_use
from bench.stages import LINGUAFLOW, QUIX, py_spy, split
from bench.steal import StealMeter
from linguaflow.demo import stop_worker
from linguaflow.kafka import ensure_topics
from linguaflow.settings import Settings
from linguaflow.synthetic import unique_count
from testbed.services import Stack, postmaster_pid

PEER_RATIOS = (0.0, 0.9)
POLL_S = 0.25
STALL_S = 120


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, its live descendants and its reaped children."""
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                continue
        return float(total)
    except psutil.Error:
        return 0.0


class QuixProcess:
    """``python -m bench.quix_pipeline`` on a stack's broker, request topic and database."""

    def __init__(self, stack: Stack, name: str) -> None:
        s = stack.settings
        self.log_path = stack.tmp / f"{name}.log"
        argv = [sys.executable, "-m", "bench.quix_pipeline", "--broker", s.kafka_bootstrap]
        argv += ["--requests-topic", s.requests_topic, "--prefix", s.app_id]
        argv += ["--database-url", stack.db_url, "--state-dir", str(stack.tmp / f"{name}-state")]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def stop(self, timeout_s: float = 30) -> int:
        return stop_worker(self.proc, timeout_s)


async def count_rows(db_url: str, table: str, expected: int, started: float) -> list[tuple[float, int]]:
    """(seconds since ``started``, rows) whenever the count changed, until ``expected`` rows or
    no new row for ``STALL_S``. A table not created yet counts as empty."""
    series: list[tuple[float, int]] = []
    conn = await asyncpg.connect(db_url)
    progressed = time.monotonic()
    try:
        while True:
            try:
                rows = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
            except asyncpg.UndefinedTableError:
                rows = 0
            if not series or rows != series[-1][1]:
                series.append((time.monotonic() - started, rows))
                progressed = time.monotonic()
            if rows >= expected or time.monotonic() - progressed > STALL_S:
                return series
            await asyncio.sleep(POLL_S)
    finally:
        await conn.close()


def steady_rate(series: list[tuple[float, int]], expected: int) -> float | None:
    """Rows/s between the first counts at or past 10 % and 90 % of ``expected``."""
    marks = []
    for share in (0.1, 0.9):
        marks.append(next(((t, n) for t, n in series if n >= share * expected), None))
    (t0, n0), last = marks[0] or (0.0, 0), marks[1]
    if marks[0] is None or last is None or last[0] <= t0:
        return None
    return (last[1] - n0) / (last[0] - t0)


async def drain(
    infra: Infra, stack: Stack, system: str, expected: int, *, profile: bool = False
) -> dict[str, Any]:
    """Start ``system`` on the filled topic and measure it until every request is a row; with
    ``profile``, its processes' CPU split by stage (py-spy)."""
    assert infra.broker is not None
    assert infra.postgres is not None
    pids = {"broker": infra.broker.pid(), "postgres": postmaster_pid(infra.postgres)}
    before_peers = {name: tree_cpu_s(pid) for name, pid in pids.items()}
    before_machine, meter = cpu_snapshot([]), StealMeter()
    started = time.monotonic()
    if system == "linguaflow":
        proc: Any = infra.worker(stack, "peer-linguaflow")
        table = "translation_requests"
    else:
        proc = QuixProcess(stack, "peer-quix")
        table = "peer_requests"
    own = proc.proc.pid
    before_own = tree_cpu_s(own)
    samples = stack.tmp / f"{system}.pyspy"
    spy = py_spy(own, samples) if profile else None
    try:
        series = await count_rows(stack.db_url, table, expected, started)
        own_s = tree_cpu_s(own) - before_own
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 60)
        peers_s = {name: tree_cpu_s(pid) - before_peers[name] for name, pid in pids.items()}
        machine = cpu_use(before_machine, cpu_snapshot([]), expected)
        stolen = meter.cores()
    finally:
        exit_code = proc.stop()
    last_s, rows = series[-1] if series else (float("nan"), 0)
    first_s = next((t for t, n in series if n > 0), float("nan"))
    ms = {name: 1000 * s / expected for name, s in peers_s.items()}
    own_ms = 1000 * own_s / expected
    return {
        "rows": rows,
        "complete": rows >= expected,
        "first_row_s": first_s,
        "last_row_s": last_s,
        "requests_per_s": expected / last_s,
        "steady_requests_per_s": steady_rate(series, expected),
        "from_first_row_per_s": sink_rows_per_s(series),  # start-up left out, as in the baselines
        "cpu_ms_per_request": {"own": own_ms, **ms, "total": own_ms + sum(ms.values())},
        "machine_cpu_ms_per_request": machine["machine_cpu_ms_per_request"],
        "machine_busy": machine["machine_busy"],
        "stolen_cores": stolen,
        "exit_code": exit_code,
        "rows_over_time": series,
        "stages": split(samples.read_text(), LINGUAFLOW if system == "linguaflow" else QUIX) if spy else None,
    }


async def fill(settings: Settings, requests: list[dict[str, Any]]) -> None:
    await ensure_topics(settings)
    await publish_requests(settings, requests)


async def run_peer(infra: Infra, requests: int, *, profile: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ratio in PEER_RATIOS:
        name = f"peer{int(ratio * 100)}"
        stack = await infra.stack(name)
        load = run_requests(name, space=name, count=requests, dup_ratio=ratio)
        print(f"  peer: filling {requests} requests, {ratio:.0%} duplicates", flush=True)
        await fill(stack.settings, load)
        runs = {}
        for system in ("linguaflow", "quix"):
            print(f"  peer: {system} drains them", flush=True)
            runs[system] = await drain(infra, stack, system, requests, profile=profile)
        lf, qx = runs["linguaflow"], runs["quix"]
        out[name] = {
            "dup_ratio": ratio,
            "requests": requests,
            "unique_keys": unique_count(requests, ratio),
            "translations": {
                "linguaflow": await stack.fetchval("SELECT count(*) FROM translations"),
                "quix": await stack.fetchval("SELECT count(*) FROM peer_translations"),
            },
            **runs,
            "speedup": lf["requests_per_s"] / qx["requests_per_s"],
            "cpu_ratio": lf["cpu_ms_per_request"]["total"] / qx["cpu_ms_per_request"]["total"],
        }
    return out
