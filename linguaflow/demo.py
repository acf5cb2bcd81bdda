"""The demo: start everything, run a worker, publish synthetic requests with duplicates, wait until
every one is a row in Postgres, and print what happened."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

import orjson

from linguaflow.db import create_pool
from linguaflow.errors import InfraError
from linguaflow.produce import publish
from linguaflow.settings import Settings
from linguaflow.synthetic import synthetic_requests, unique_count


def start_worker(
    log_path: str, env: dict[str, str] | None = None, *, command: str = "worker"
) -> subprocess.Popen[bytes]:
    """``linguaflow worker`` (or ``sink``) as a child process (its settings come from ``env``)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "linguaflow.cli", command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy() if env is None else env,
            start_new_session=True,
        )


def worker_stats(settings: Settings) -> dict[str, Any]:
    url = f"http://{settings.web_host}:{settings.web_port}/stats"
    with urllib.request.urlopen(url, timeout=5) as response:
        stats: dict[str, Any] = orjson.loads(response.read())
        return stats


def wait_ready(settings: Settings, worker: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise InfraError(f"the worker exited with {worker.returncode} before it was ready")
        try:
            if worker_stats(settings)["ready"]:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise InfraError(f"the worker was not ready after {timeout_s:.0f}s")


def stop_worker(worker: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout_s)
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.wait()


async def wait_rows(settings: Settings, prefix: str, expected: int, timeout_s: float) -> dict[str, Any]:
    pool = await create_pool(settings, max_size=1)
    sql = """SELECT count(*) AS rows, count(DISTINCT cache_key) AS keys,
                    count(*) FILTER (WHERE outcome = 'hit') AS hits,
                    count(*) FILTER (WHERE outcome = 'coalesced') AS coalesced,
                    count(*) FILTER (WHERE outcome = 'miss') AS misses
             FROM translation_requests WHERE request_id LIKE $1"""
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            row = dict(await pool.fetchrow(sql, prefix + "%"))
            if row["rows"] >= expected or time.monotonic() > deadline:
                row["translations_total"] = await pool.fetchval("SELECT count(*) FROM translations")
                return row
            await asyncio.sleep(0.25)
    finally:
        await pool.close()


def run_demo(
    settings: Settings, *, count: int, dup_ratio: float, seed: int, timeout_s: float
) -> dict[str, Any]:
    run_id = f"demo{int(time.time())}"
    log_path = str(settings.local_dir / "worker.log")
    worker = start_worker(log_path)
    try:
        wait_ready(settings, worker)
        started = time.monotonic()
        now = int(time.time() * 1000)
        requests = synthetic_requests(count, dup_ratio, seed=seed, now_ms=now, run_id=run_id)
        asyncio.run(publish(settings, requests, total=count, now_ms=now))
        rows = asyncio.run(wait_rows(settings, f"{run_id}-", count, timeout_s))
        elapsed = time.monotonic() - started
        counters = worker_stats(settings)["counters"]
    finally:
        code = stop_worker(worker)
    summary = {
        "requests": count,
        "unique_texts": unique_count(count, dup_ratio),
        "unique_keys": rows["keys"],
        "provider_calls": counters.get("provider_calls", 0),
        "provider_texts": counters.get("provider_texts", 0),
        "cache_hits": rows["hits"],
        "coalesced": rows["coalesced"],
        "misses": rows["misses"],
        "request_rows": rows["rows"],
        "translation_rows_total": rows["translations_total"],
        "dlq": counters.get("dlq", 0),
        # per user and minute, all workers together; a bulk load under one user runs at this rate
        "user_limit_per_min": settings.user_requests_per_min or "off",
        "waited_on_user_limit": counters.get("user_rate_limited.mode.wait", 0),
        "elapsed_s": round(elapsed, 2),
        "requests_per_s": round(count / elapsed, 1) if elapsed else None,
        "worker_exit_code": code,
        "worker_log": log_path,
    }
    if rows["rows"] < count:
        raise InfraError(
            f"only {rows['rows']} of {count} requests reached Postgres in {timeout_s}s: {summary}"
        )
    return summary
