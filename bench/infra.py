"""The benchmark's own infrastructure: one broker and one embedded Postgres on ephemeral ports in
scratch directories, private stacks (topics, groups, database) on them, and a worker sampler.
Reuses the test harness so the benchmark runs what the tests run. Everything started here is
stopped by ``close()``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.steal import stolen_s
from linguaflow.local.postgres import EmbeddedPostgres
from testbed.services import Broker, Stack, WorkerProcess, free_port, make_stack, scratch_dir, start_broker

# Benchmark-only settings (configuration, not product changes): the per-user limit would pace
# misses at 100/min/user, and the product default compaction applies to the cache topic.
BENCH_ENV = {
    "LINGUAFLOW_USER_REQUESTS_PER_MIN": "0",
    "LINGUAFLOW_CACHE_TOPIC_CONFIG": "{}",
    "LINGUAFLOW_LOG_LEVEL": "WARNING",
}


class Infra:
    def __init__(self, cache_store: str) -> None:
        self.cache_store = cache_store  # the workers' CACHE_STORE
        self.home = scratch_dir("bench")
        self.broker: Broker | None = None
        self.cluster: Broker | None = None  # three nodes, started by the first stack that asks
        self.postgres: EmbeddedPostgres | None = None
        self.workers: list[WorkerProcess] = []

    def start(self) -> None:
        self.broker = start_broker(self.home / "kafka")
        self.postgres = EmbeddedPostgres(self.home / "pg" / "data", free_port())
        self.postgres.start()

    async def stack(self, name: str, *, brokers: int = 1) -> Stack:
        """A private stack on the single node, or with ``brokers=3`` on the three-node cluster
        (its topics replicated 3 times, min.insync.replicas 2)."""
        assert self.broker is not None, "Infra.start() first"
        assert self.postgres is not None, "Infra.start() first"
        assert brokers in (1, 3), "the bench runs one node or a three-node cluster"
        if brokers == 3 and self.cluster is None:
            self.cluster = start_broker(self.home / "cluster", cluster=True)
        tmp = self.home / name
        tmp.mkdir(parents=True, exist_ok=True)
        stack = await make_stack(self.cluster if brokers == 3 else self.broker, self.postgres.url, tmp)
        stack.env.update(BENCH_ENV)
        stack.env["LINGUAFLOW_REPLICATION_FACTOR"] = str(brokers)
        stack.env["LINGUAFLOW_CACHE_STORE"] = self.cache_store
        return stack

    def worker(self, stack: Stack, name: str, *, profile_to: Path | None = None) -> WorkerProcess:
        """A worker with its own web port; with ``profile_to``, run under pyinstrument (which
        writes its session there when the worker exits after SIGTERM)."""
        if profile_to is None:
            worker = stack.start_worker(name, own_port=True)
        else:
            env = {**stack.env, "LINGUAFLOW_WEB_PORT": str(free_port())}
            worker = ProfiledWorker(stack, stack.tmp / f"{name}.log", env, profile_to)
            stack.workers.append(worker)
        self.workers.append(worker)
        return worker

    def sink(self, stack: Stack, name: str) -> WorkerProcess:
        """``linguaflow sink`` with its own web port (for workers with ``WORKER_SINK=false``)."""
        sink = stack.start_sink(name)
        self.workers.append(sink)
        return sink

    def close(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.stop(timeout_s=30)
        if self.postgres is not None:
            self.postgres.stop()
        for broker in (self.broker, self.cluster):
            if broker is not None and broker.data_dir is not None:
                broker.script("stop")
        shutil.rmtree(self.home, ignore_errors=True)


class ProfiledWorker(WorkerProcess):
    """``linguaflow worker`` under ``python -m pyinstrument`` (wall-clock sampling, a session file)."""

    def __init__(self, stack: Stack, log_path: Path, env: dict[str, str], profile_to: Path) -> None:
        self.stack = stack
        self.log_path = log_path
        self.web_port = int(env["LINGUAFLOW_WEB_PORT"])
        self.settings = stack.settings.model_copy(update={"web_port": self.web_port})
        argv = [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(profile_to)]
        argv += ["-m", "linguaflow.cli", "worker"]
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    cpu = psutil.Process(pid).cpu_times()
    return float(cpu.user + cpu.system)


@dataclass
class ProcessSampler:
    """RSS (MiB) and CPU seconds of one process, and the machine's stolen CPU seconds
    (``bench.steal``), sampled every ``interval_s`` in a thread; with ``probe``, also one figure
    read from the process (its ``/stats``) every ``probe_every`` samples, on the same clock, while
    it answers with a number."""

    pid: int
    interval_s: float = 0.5
    probe: Callable[[], float | None] | None = None
    probe_every: int = 10
    # (t, rss_mib, cpu_s, stolen_s)
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    probed: list[tuple[float, float]] = field(default_factory=list)  # (t, the probe's figure)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = field(default_factory=time.monotonic)

    def start(self) -> ProcessSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def sample(self) -> tuple[float, float, float, float]:
        rss = psutil.Process(self.pid).memory_info().rss / 2**20
        return (time.monotonic() - self._t0, rss, cpu_seconds(self.pid), stolen_s())

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                self.samples.append(self.sample())
            except psutil.Error:
                return
            if self.probe is not None and n % self.probe_every == 0:
                figure = self.probe()
                if figure is not None:
                    self.probed.append((self.samples[-1][0], figure))
            n += 1
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


KAFKA_SEGMENT = re.compile(r"\d{20}\.log")  # a broker's data file (records), not a log to keep


def keep_dir(src: Path, dst: Path) -> None:
    """Copy the processes' logs (workers, broker, Postgres) and py-spy samples into the report
    folder before the scratch dir goes. Kafka's segment files end in ``.log`` too and are left out: a full run
    holds gigabytes of them (copying them once filled the disk and lost the run's report)."""
    dst.mkdir(parents=True, exist_ok=True)
    for log in [*src.rglob("*.log"), *src.rglob("*.pyspy")]:
        if not KAFKA_SEGMENT.fullmatch(log.name):
            shutil.copy(log, dst / f"{log.parent.name}-{log.name}")


class Settler:
    """Collects delivery futures and waits for them every ``every`` sends (and at the end), the
    same window `linguaflow produce` uses, so a benchmark's producer never runs unbounded ahead."""

    def __init__(self, every: int = 5_000) -> None:
        self._every = every
        self._pending: list[Any] = []

    async def add(self, future: Any) -> None:
        self._pending.append(future)
        if len(self._pending) >= self._every:
            await self.wait()

    async def wait(self) -> None:
        for fut in self._pending:
            await fut
        self._pending.clear()
