"""Recovery: how fast a worker becomes ready with K entries in the compacted cache topic. The
entries are written straight into the topic (the public contract: key = cache key, value =
CacheEntry JSON); readiness includes "the cache table has recovered". With CACHE_STORE=disk a
second worker then starts on the first one's directory after its clean stop: it finds the
checkpoint and reads nothing of the log (a warm restart); with memory every start reads it whole."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from bench.infra import Infra, Settler
from linguaflow.kafka import Publisher, ensure_topics
from linguaflow.schemas import CacheEntry, encode
from testbed.services import Stack, WorkerProcess


async def fill_cache(infra: Infra, entries: int) -> Any:
    stack = await infra.stack(f"recovery{entries}")
    settings = stack.settings
    await ensure_topics(settings)
    publisher = Publisher(settings, linger_ms=20)
    await publisher.start()
    now = int(time.time() * 1000)
    try:
        settler = Settler()
        for i in range(entries):
            key = f"{i:032x}"
            entry = CacheEntry(
                cache_key=key,
                translated_text=f"[!! cached text number {i} for the recovery benchmark !!]",
                source_lang="en",
                target_lang="de",
                provider="pseudo",
                model="pseudo/1",
                billed_chars=48,
                cost=0.0,
                version=now * 1000 + i,
                tenant="tenant-0",
                created_at=now,
            )
            await settler.add(await publisher.send(settings.cache_topic, encode(entry), key=key.encode()))
        await settler.wait()
    finally:
        await publisher.stop()
    return stack


def wait_ready_fast(worker: WorkerProcess, launched: float, timeout_s: float) -> float:
    """Seconds from launch to the first ``ready`` answer, polled every 50 ms."""
    while time.monotonic() - launched < timeout_s:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"the worker exited early:\n{worker.log_tail()}")
        with contextlib.suppress(OSError):
            if worker.stats()["ready"]:
                return time.monotonic() - launched
        time.sleep(0.05)
    raise RuntimeError(f"the worker was not ready after {timeout_s}s:\n{worker.log_tail()}")


def ready_then_stop(infra: Infra, stack: Stack, name: str) -> tuple[float, int]:
    """Seconds from launch to ready, and the entries the worker held then; it is then stopped
    cleanly (SIGTERM: with CACHE_STORE=disk it writes its checkpoint)."""
    launched = time.monotonic()
    worker = infra.worker(stack, name)
    elapsed = wait_ready_fast(worker, launched, timeout_s=600)
    held = int(worker.stats()["cache_entries"])
    if worker.stop() != 0:
        raise RuntimeError(f"the worker did not stop cleanly:\n{worker.log_tail()}")
    return elapsed, held


async def ready_times(infra: Infra, entries: int) -> dict[str, Any]:
    """The first start's ready time; with CACHE_STORE=disk and entries, a clean restart's too."""
    stack = await fill_cache(infra, entries)
    disk = infra.cache_store == "disk"
    if disk:  # both starts on one directory: the restart finds the first one's checkpoint
        stack.env["LINGUAFLOW_CACHE_DIR"] = str(stack.tmp / "cache")
    first_s, held = ready_then_stop(infra, stack, f"recovery{entries}-worker")
    out: dict[str, Any] = {"ready_s": first_s, "held": held}
    if disk and entries:
        out["restart_s"], out["restart_held"] = ready_then_stop(infra, stack, f"recovery{entries}-restart")
    return out


async def run_recovery(infra: Infra, entries: int) -> dict[str, Any]:
    """Ready time with an empty cache and with ``entries``; the difference is the recovery."""
    print("  recovery: empty cache", flush=True)
    empty_s = (await ready_times(infra, 0))["ready_s"]
    print(f"  recovery: {entries} entries", flush=True)
    full = await ready_times(infra, entries)
    full_s = full["ready_s"]
    net = full_s - empty_s
    return {
        "entries": entries,
        "entries_held": full["held"],
        "ready_empty_s": empty_s,
        "ready_full_s": full_s,
        "recovery_s": net,
        "entries_per_s_net": entries / net if net > 0 else None,
        "entries_per_s_gross": entries / full_s,
        "restart_ready_s": full.get("restart_s"),  # CACHE_STORE=disk only
        "restart_entries_held": full.get("restart_held"),
    }
